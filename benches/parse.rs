//! Reading Coder's answer: one page of 500 entries, as the simulator makes them (logins,
//! builds with diffs, template writes, agent events; users in the v2.13+ shape), split
//! into events with their dedupe key and time. This is the tailer's share of the work per
//! entry, paid once per stream whatever the sinks' formats.
//!
//! `glance` is what a stream whose sinks are all `raw` pays (id, time, resource type and
//! action of each entry); `whole` reads the lenient view of every entry at once, as a
//! stream with a normalizing sink does (see `coder::LazyAudit`). The entries are in
//! Coder's field order (the glance stops once it has its four fields).
//!
//!     cargo bench --bench parse
//!
//! Reported in entries/s (criterion's `Throughput::Elements`).

#[path = "common/pages.rs"]
mod pages;

use std::hint::black_box;

use coder_audit_shipper::coder::{Reading, Stream, parse_page, parse_stream_page_as};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pages::{PAGE, page_body};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_page");
    group.throughput(Throughput::Elements(PAGE as u64));
    for version in ["v2.36.0", "v2.12.0"] {
        let body = page_body(version);
        group.bench_function(format!("glance/{version}"), |b| {
            b.iter(|| black_box(parse_page(black_box(body.clone())).map(|p| p.events.len())))
        });
        group.bench_function(format!("whole/{version}"), |b| {
            b.iter(|| {
                let page =
                    parse_stream_page_as(Stream::Audit, black_box(body.clone()), Reading::Whole);
                black_box(page.map(|p| p.events.len()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
