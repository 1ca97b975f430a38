//! Normalization throughput on the sample mix: entries per second on one core, per target.
//!
//! The mix is every entry of the sample pages plus one generated entry per action ×
//! resource pair (see `tests/common/entries.rs`), parsed once up front: what is measured is
//! normalization and serialization, the work a sink's encoder adds to the tailer's. A second
//! group includes parsing the entry, for the whole cost per entry.
//!
//!     cargo bench --bench normalize
//!
//! Criterion prints time per iteration and, with `Throughput::Elements`, entries/s.

#[path = "../tests/common/entries.rs"]
mod entries;

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use coder_audit_shipper::coder::AuditEntry;
use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn mix() -> Vec<String> {
    let mut raw: Vec<String> = entries::sample_entries()
        .into_iter()
        .map(|(_, e)| e.to_string())
        .collect();
    raw.extend(
        entries::action_resource_pairs()
            .into_iter()
            .enumerate()
            .map(|(i, (rt, a))| entries::generated(rt, a, i).to_string()),
    );
    raw
}

fn targets() -> [(&'static str, Target); 3] {
    [
        ("ecs", Target::Ecs),
        (
            "ocsf-1.8.0",
            Target::Ocsf {
                version: OcsfVersion::V1_8_0,
                classes: ClassStrategy::Semantic,
            },
        ),
        (
            "ocsf-1.1.0",
            Target::Ocsf {
                version: OcsfVersion::V1_1_0,
                classes: ClassStrategy::Semantic,
            },
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let raw = mix();
    let parsed: Vec<AuditEntry> = raw.iter().map(|r| AuditEntry::parse(r)).collect();
    let read_at = Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap();

    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Elements(parsed.len() as u64));
    for (name, target) in targets() {
        let n = Normalizer::new(target, entries::enrichment(), Some(256 * 1024));
        group.bench_function(name, |b| {
            b.iter(|| {
                for e in &parsed {
                    black_box(n.encode(black_box(e), read_at));
                }
            })
        });
    }
    // With `[enrich.geoip]` (the test databases: every public address of the mix placed,
    // with the AS): what a look-up and its fields add per entry.
    for (name, target) in [
        ("ecs+geoip", Target::Ecs),
        ("ocsf-1.8.0+geoip", targets()[1].1),
    ] {
        let n = Normalizer::new(target, entries::enrichment_with_geoip(), Some(256 * 1024));
        group.bench_function(name, |b| {
            b.iter(|| {
                for e in &parsed {
                    black_box(n.encode(black_box(e), read_at));
                }
            })
        });
    }
    // With `[enrich.coder]`'s answers attached to every entry (workspace, template,
    // organization, user, owner): what the looked-up fields add per entry. The look-ups
    // themselves happen once per id, in the tailer, not here.
    let with_context: Vec<AuditEntry> = raw
        .iter()
        .map(|r| entries::with_context(&serde_json::from_str(r).expect("JSON")))
        .collect();
    for (name, target) in [
        ("ecs+coder", Target::Ecs),
        ("ocsf-1.8.0+coder", targets()[1].1),
    ] {
        let n = Normalizer::new(target, entries::enrichment(), Some(256 * 1024));
        group.bench_function(name, |b| {
            b.iter(|| {
                for e in &with_context {
                    black_box(n.encode(black_box(e), read_at));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parse+normalize");
    group.throughput(Throughput::Elements(raw.len() as u64));
    for (name, target) in targets() {
        let n = Normalizer::new(target, entries::enrichment(), Some(256 * 1024));
        group.bench_function(name, |b| {
            b.iter(|| {
                for r in &raw {
                    black_box(n.encode(&AuditEntry::parse(black_box(r)), read_at));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
