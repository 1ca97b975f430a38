//! What each sink adds per entry after the tailer has parsed it: making the records in the
//! sink's format (`raw` is a slice of Coder's bytes; ECS, OCSF, CEF and LEEF are
//! normalized), then each sink's encoding of a batch of them: HEC envelopes gzipped into
//! requests, RFC 5424 syslog messages with octet-counting framing, gzip NDJSON S3 objects,
//! and NDJSON lines for the file sink.
//!
//!     cargo bench --bench encode
//!
//! Every group works on one page of 500 simulator entries and reports entries/s
//! (criterion's `Throughput::Elements`) on one core.

#[path = "common/pages.rs"]
mod pages;

#[path = "../tests/common/entries.rs"]
mod entries;

use std::hint::black_box;
use std::time::Duration;

use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
use coder_audit_shipper::pipeline::Encoder;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pages::PAGE;
use sink_core::{Batch, Record};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn normalized(target: Target) -> Encoder {
    Encoder::Normalized(Normalizer::new(
        target,
        entries::enrichment(),
        Some(256 * 1024),
    ))
}

fn ocsf(version: OcsfVersion) -> Target {
    Target::Ocsf {
        version,
        classes: ClassStrategy::Semantic,
    }
}

fn encoders() -> Vec<(&'static str, Encoder)> {
    vec![
        ("raw", Encoder::Raw),
        ("ecs", normalized(Target::Ecs)),
        ("ocsf-1.8.0", normalized(ocsf(OcsfVersion::V1_8_0))),
        ("ocsf-1.1.0", normalized(ocsf(OcsfVersion::V1_1_0))),
        ("cef", normalized(Target::Cef)),
        ("leef", normalized(Target::Leef)),
    ]
}

fn records(batch: &Batch) -> Vec<&Record> {
    batch.records().iter().collect()
}

fn bench(c: &mut Criterion) {
    let events = pages::events();
    assert_eq!(events.len(), PAGE);

    let mut group = c.benchmark_group("records");
    group.throughput(Throughput::Elements(PAGE as u64));
    for (name, encoder) in encoders() {
        group.bench_function(name, |b| {
            b.iter(|| black_box(encoder.encode(black_box(&events))))
        });
    }
    group.finish();

    let raw = Encoder::Raw.encode(&events).0;
    let ecs = normalized(Target::Ecs).encode(&events).0;
    let cef = normalized(Target::Cef).encode(&events).0;

    let mut group = c.benchmark_group("hec_requests_gzip");
    group.throughput(Throughput::Elements(PAGE as u64));
    let hec = sink_splunk::HecConfig {
        endpoint: "https://splunk.example.com:8088".into(),
        token: sink_splunk::Token::new("bench"),
        index: Some("coder".into()),
        sourcetype: "coder:audit".into(),
        source: "coder-audit-shipper".into(),
        host: Some("coder.example.com".into()),
        compression: sink_splunk::HecCompression::Gzip,
        ack: None,
        tls_ca_file: None,
        max_request_bytes: 1 << 20,
        request_timeout: Duration::from_secs(30),
    };
    let envelope = sink_splunk::envelope::Envelope::new(&hec);
    for (name, batch) in [("raw", &raw), ("ecs", &ecs)] {
        let all: Vec<usize> = (0..batch.len()).collect();
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(sink_splunk::envelope::requests(
                    &envelope,
                    batch.records(),
                    &all,
                    hec.max_request_bytes,
                    hec.compression,
                ))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("syslog_5424_octet_counting");
    group.throughput(Throughput::Elements(PAGE as u64));
    let header = sink_syslog::message::Header::new(
        sink_syslog::Facility::default(),
        sink_syslog::Severity::default(),
        "shipper-0",
        "coder-audit",
    );
    for (name, batch) in [("raw", &raw), ("cef", &cef)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::new();
                for record in batch.records() {
                    let (message, _) = header.message(record, None);
                    sink_syslog::framing::frame(
                        sink_syslog::Framing::OctetCounting,
                        &message,
                        &mut out,
                    );
                }
                black_box(out)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("s3_object_gzip_ndjson");
    group.throughput(Throughput::Elements(PAGE as u64));
    for (name, batch) in [("raw", &raw), ("ecs", &ecs)] {
        let refs = records(batch);
        group.bench_function(name, |b| {
            b.iter(|| black_box(sink_s3::body::encode(&refs, sink_s3::S3Compression::Gzip)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
