//! Reading Coder's answer: one page of 500 entries, as the simulator makes them (logins,
//! builds with diffs, template writes, agent events; users in the v2.13+ shape), split
//! into events with their lenient parsed view, dedupe key and time. This is the tailer's
//! share of the work per entry, paid once per stream whatever the sinks' formats.
//!
//!     cargo bench --bench parse
//!
//! Reported in entries/s (criterion's `Throughput::Elements`).

#[path = "common/pages.rs"]
mod pages;

use std::hint::black_box;

use coder_audit_shipper::coder::parse_page;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pages::{PAGE, page_body};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_page");
    group.throughput(Throughput::Elements(PAGE as u64));
    for version in ["v2.36.0", "v2.12.0"] {
        let body = page_body(version);
        group.bench_function(version, |b| {
            b.iter(|| black_box(parse_page(black_box(body.clone())).map(|p| p.events.len())))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
