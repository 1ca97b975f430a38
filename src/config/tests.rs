//! Loading config files: defaults, checks, and errors that name their key.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::normalize::{ClassStrategy, OcsfVersion, Target};
use crate::sinks::SinkKind;

#[test]
fn a_parse_error_names_the_line_but_does_not_quote_it() {
    let err =
        load("[coder]\nurl = \"https://c.example.com\"\ntoken = \"Sup3rSecretValue-123\" x\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("line 3"), "{err}");
    assert!(!err.contains("Sup3rSecret"), "{err}");
}

fn load(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipper.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path)
}

const MINIMAL: &str = r#"
[coder]
url = "https://coder.example.com"
token = "abc"
[checkpoint]
dir = "/tmp/x"
[sinks.archive]
type = "file"
path = "/tmp/audit.ndjson"
"#;

#[test]
fn the_postgres_store_needs_a_url_and_a_plain_schema_and_hides_the_url() {
    let pg = |lines: &str| {
        load(&MINIMAL.replace(
            "dir = \"/tmp/x\"",
            &format!("dir = \"/tmp/x\"\nstore = \"postgres\"\n{lines}"),
        ))
    };
    let err = pg("").unwrap_err().to_string();
    assert!(err.contains("checkpoint.url"), "{err}");
    let err = pg("url = \"postgres://u:pw@h/db\"\nschema = \"Bad-Name\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("checkpoint.schema"), "{err}");
    let c = pg("url = \"postgres://u:hunter2@h/db\"").unwrap();
    assert_eq!(c.checkpoint.schema, "coder_audit_shipper");
    assert_eq!(c.checkpoint.takeover_interval, Duration::from_secs(2));
    assert_eq!(
        c.postgres_url().unwrap().expose(),
        "postgres://u:hunter2@h/db"
    );
    assert!(
        !format!("{c:?}").contains("hunter2"),
        "the URL's password is a secret"
    );
}

#[test]
fn minimal_config_gets_the_documented_defaults() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.coder.poll_interval, Duration::from_secs(2));
    assert_eq!(c.coder.page_size, 100);
    assert_eq!(c.coder.overlap, Duration::from_secs(300));
    assert_eq!(c.coder.start_at, StartAt::Now);
    assert_eq!(c.coder.streams, [crate::coder::Stream::Audit]);
    assert_eq!(c.coder.session_horizon, Duration::from_secs(7 * 86_400));
    assert_eq!(c.coder.session_poll_interval, Duration::from_secs(10));
    assert!(matches!(c.sinks["archive"].kind, SinkKind::File(_)));
    assert_eq!(c.sinks["archive"].encoding.format, Format::Raw);
}

#[test]
fn the_session_horizon_is_bounded() {
    let with = |h: &str| {
        load(&MINIMAL.replace(
            "[coder]\n",
            &format!("[coder]\nsession_horizon = \"{h}\"\n"),
        ))
    };
    assert!(with("30d").is_ok());
    for bad in ["1m", "400000y"] {
        let e = with(bad).unwrap_err().to_string();
        assert!(e.contains("coder.session_horizon"), "{bad}: {e}");
    }
}

#[test]
fn streams_are_named_once_each_and_typos_are_refused() {
    let with = |streams: &str| {
        load(&MINIMAL.replace("[coder]\n", &format!("[coder]\nstreams = {streams}\n")))
    };
    let c = with(r#"["audit", "connection"]"#).unwrap();
    assert_eq!(
        c.coder.streams,
        [
            crate::coder::Stream::Audit,
            crate::coder::Stream::Connection
        ]
    );
    for bad in [r#"["audit", "audit"]"#, "[]", r#"["connections"]"#] {
        let e = with(bad).unwrap_err().to_string();
        assert!(e.contains("streams"), "{bad}: {e}");
    }
}

/// `[sinks.NAME] streams`: a subset of `coder.streams`, named once each; without it a
/// sink is sent every stream.
#[test]
fn a_sink_may_take_some_of_the_streams() {
    use crate::coder::Stream::{Audit, Connection};
    let with = |streams: &str| {
        let text = MINIMAL.replace(
            "[coder]\n",
            "[coder]\nstreams = [\"audit\", \"connection\"]\n",
        );
        load(&format!(
            "{text}streams = {streams}\n[sinks.lake]\ntype = \"file\"\npath = \"/tmp/l.ndjson\"\n"
        ))
    };
    let c = with(r#"["audit"]"#).unwrap();
    assert_eq!(c.streams_of("archive"), [Audit]);
    assert_eq!(c.streams_of("lake"), [Audit, Connection]);
    assert_eq!(c.sinks_of(Audit).collect::<Vec<_>>(), ["archive", "lake"]);
    assert_eq!(c.sinks_of(Connection).collect::<Vec<_>>(), ["lake"]);
    for (bad, says) in [
        (r#"["audit", "audit"]"#, "named twice"),
        ("[]", "at least one"),
        (r#"["connections"]"#, "connections"),
    ] {
        let e = with(bad).unwrap_err().to_string();
        assert!(
            e.contains("sinks.archive.streams") && e.contains(says),
            "{bad}: {e}"
        );
    }
    // A stream the config does not read cannot be a sink's.
    let e = load(&format!("{MINIMAL}streams = [\"connection\"]\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("add it to coder.streams"), "{e}");
}

/// `[sinks.NAME.filter]`: read into the sink's filter; a rule naming nothing, an unknown
/// key or outcome is an error naming the key.
#[test]
fn a_sinks_filter_is_read_and_its_mistakes_named() {
    let with = |filter: &str| load(&format!("{MINIMAL}[sinks.archive.filter]\n{filter}\n"));
    let c = with(r#"include = [{ outcome = ["failure"] }]"#).unwrap();
    assert_eq!(c.sinks["archive"].filter.include.len(), 1);
    assert!(load(MINIMAL).unwrap().sinks["archive"].filter.is_empty());
    for (bad, says) in [
        (r#"include = [{}]"#, "sinks.archive.filter.include"),
        (r#"exclude = [{ users = ["x"] }]"#, "users"),
        (r#"include = [{ outcome = ["ok"] }]"#, "ok"),
        (r#"inclde = [{ outcome = ["failure"] }]"#, "inclde"),
    ] {
        let e = with(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

/// Entries are read whole at once only where some sink of the stream reads them whole: a
/// normalizing format, or a filter on their fields.
#[test]
fn a_stream_is_read_whole_only_for_a_sink_that_normalizes_or_filters() {
    use crate::coder::{Reading, Stream};
    let raw = load(MINIMAL).unwrap();
    assert!(!raw.normalizes(Stream::Audit) && raw.reading(Stream::Audit) == Reading::Glance);
    let filtered = load(&format!(
        "{MINIMAL}[sinks.archive.filter]\ninclude = [{{ outcome = [\"failure\"] }}]\n"
    ))
    .unwrap();
    assert!(
        !filtered.normalizes(Stream::Audit) && filtered.reading(Stream::Audit) == Reading::Whole
    );
    let ecs = with_sink_keys("format = \"ecs\"").unwrap();
    assert!(ecs.normalizes(Stream::Audit) && ecs.reading(Stream::Audit) == Reading::Whole);
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let err = load(&MINIMAL.replace("token = \"abc\"", "token = \"abc\"\npage_sise = 5"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("page_sise") && err.contains("coder"), "{err}");
    let err = load(&format!("{MINIMAL}\ncolour = \"x\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
    let err = load(&MINIMAL.replace("path = ", "paht = \"x\"\npath = "))
        .unwrap_err()
        .to_string();
    assert!(err.contains("paht"), "{err}");
}

#[test]
fn wrong_types_name_the_key_and_the_file() {
    let err = load(&MINIMAL.replace(
        "token = \"abc\"",
        "token = \"abc\"\npoll_interval = \"soon\"",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("coder.poll_interval") && err.contains("shipper.toml"),
        "{err}"
    );
}

#[test]
fn start_at_forms() {
    let c = load(&MINIMAL.replace(
        "token = \"abc\"",
        "token = \"abc\"\nstart_at = \"2026-01-01T00:00:00+01:00\"",
    ))
    .unwrap();
    assert_eq!(
        c.coder.start_at,
        StartAt::At(
            DateTime::parse_from_rfc3339("2025-12-31T23:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
        )
    );
    let err = load(&MINIMAL.replace(
        "token = \"abc\"",
        "token = \"abc\"\nstart_at = \"yesterday\"",
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("coder.start_at"), "{err}");
}

fn with_sink_keys(keys: &str) -> Result<Config, ConfigError> {
    load(&MINIMAL.replace(
        "path = \"/tmp/audit.ndjson\"",
        &format!("path = \"/x\"\n{keys}"),
    ))
}

#[test]
fn encodings_and_their_options() {
    let c =
        with_sink_keys("format = \"ocsf\"\nocsf_version = \"1.1.0\"\nocsf_classes = \"single\"")
            .unwrap();
    assert_eq!(
        c.sinks["archive"].encoding().target(),
        Some(Target::Ocsf {
            version: OcsfVersion::V1_1_0,
            classes: ClassStrategy::Single
        })
    );
    let c = with_sink_keys("format = \"ocsf\"").unwrap();
    assert_eq!(
        c.sinks["archive"].encoding().target(),
        Some(Target::Ocsf {
            version: OcsfVersion::V1_8_0,
            classes: ClassStrategy::Semantic
        })
    );
    let c = with_sink_keys("format = \"ecs\"\nmax_event_bytes = 65536").unwrap();
    assert_eq!(c.sinks["archive"].encoding().max_event_bytes, Some(65536));
    for (keys, key) in [
        (
            "format = \"ecs\"\nocsf_version = \"1.1.0\"",
            "sinks.archive.ocsf_version",
        ),
        (
            "format = \"ocsf\"\nocsf_version = \"1.5.0\"",
            "`1.5.0`, expected `1.8.0` or `1.1.0`",
        ),
        (
            "format = \"ocsf\"\nocsf_classes = \"many\"",
            "`many`, expected `semantic` or `single`",
        ),
        ("max_event_bytes = 4096", "sinks.archive.max_event_bytes"),
        (
            "format = \"ecs\"\nmax_event_bytes = 10",
            "sinks.archive.max_event_bytes",
        ),
        (
            "format = \"cef\"",
            "`cef`, expected one of `raw`, `ecs`, `ocsf`",
        ),
    ] {
        let err = with_sink_keys(keys).unwrap_err().to_string();
        assert!(err.contains(key), "{keys}: {err}");
    }
}

#[test]
fn enrichment_defaults_its_access_url_to_the_coder_url() {
    let c = load(&format!(
        "{MINIMAL}\n[enrich]\ndeployment = \"prod-eu\"\ntags = [\"pci\"]\nlabels = {{ team = \"sec\" }}\n"
    ))
    .unwrap();
    let e = c.enrichment(Some("v2.24.1".into())).unwrap();
    assert_eq!(e.deployment.as_deref(), Some("prod-eu"));
    assert_eq!(e.access_url.as_deref(), Some("https://coder.example.com"));
    assert_eq!(e.labels["team"], "sec");
    assert_eq!(e.tags, vec!["pci".to_owned()]);
    let err = load(&format!(
        "{MINIMAL}\n[enrich]\nlabels = {{ \"Team.X\" = \"a\" }}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("enrich.labels"), "{err}");
}

#[test]
fn coder_lookups_are_on_by_default_and_their_limits_are_checked() {
    let c = load(MINIMAL).unwrap();
    let o = c
        .enrich
        .coder
        .options(c.coder.max_requests_per_minute)
        .expect("on by default");
    assert_eq!(o.timeout, std::time::Duration::from_secs(2));
    assert_eq!(o.max_per_minute, Some(75), "a quarter of the default 300");
    assert_eq!(c.enrich.coder.options(0).unwrap().max_per_minute, None);
    assert_eq!(o.ttl, std::time::Duration::from_secs(600));
    assert_eq!((o.max_entries.get(), o.max_bytes), (10_000, 8 << 20));
    let c = load(&format!("{MINIMAL}\n[enrich.coder]\nenabled = false\n")).unwrap();
    assert_eq!(c.enrich.coder.options(300), None);
    let c = load(&format!(
        "{MINIMAL}\n[enrich.coder]\nlookup_timeout = \"500ms\"\nttl = \"1h\"\nmax_bytes = \"2MiB\"\n"
    ))
    .unwrap();
    let o = c.enrich.coder.options(300).unwrap();
    assert_eq!(o.timeout, std::time::Duration::from_millis(500));
    assert_eq!(o.max_bytes, 2 << 20);
    for (keys, key) in [
        ("lookup_timeout = \"0s\"", "enrich.coder.lookup_timeout"),
        ("lookup_timeout = \"2m\"", "enrich.coder.lookup_timeout"),
        ("max_entries = 0", "enrich.coder.max_entries"),
        ("ttl = \"0s\"", "enrich.coder.ttl"),
        ("cache = 1", "enrich.coder.cache"),
    ] {
        let err = load(&format!("{MINIMAL}\n[enrich.coder]\n{keys}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{keys}: {err}");
    }
}

#[cfg(feature = "s3")]
#[test]
fn two_s3_sinks_on_one_bucket_and_prefix_are_refused_naming_both() {
    let s3 = |name: &str, prefix: &str| {
        format!(
            "[sinks.{name}]\ntype = \"s3\"\nbucket = \"audit\"\nregion = \"us-east-1\"\n{prefix}\n"
        )
    };
    let both = format!(
        "{MINIMAL}{}{}",
        s3("lake", ""),
        s3("raw", "format = \"raw\"")
    );
    let err = load(&both).unwrap_err().to_string();
    assert!(
        err.contains("sinks.raw.key_prefix") && err.contains("sinks.lake"),
        "{err}"
    );
    let apart = format!(
        "{MINIMAL}{}{}",
        s3("lake", ""),
        s3("raw", "key_prefix = \"raw/%Y/\"")
    );
    assert!(load(&apart).is_ok());
}

#[cfg(feature = "kafka")]
#[test]
fn the_kafka_message_time_is_the_produce_time_unless_asked() {
    let kafka = |extra: &str| {
        load(&format!(
            "{MINIMAL}[sinks.bus]\ntype = \"kafka\"\nbrokers = \"k:9092\"\ntopic = \"t\"\n{extra}\n"
        ))
    };
    let time = |c: Config| match &c.sinks["bus"].kind {
        SinkKind::Kafka(k) => k.timestamp,
        _ => unreachable!("the bus sink is a kafka sink"),
    };
    assert_eq!(time(kafka("").unwrap()), sink_kafka::MessageTime::Now);
    assert_eq!(
        time(kafka("timestamp = \"event\"").unwrap()),
        sink_kafka::MessageTime::Event
    );
    let err = kafka("timestamp = \"create\"").unwrap_err().to_string();
    assert!(
        err.contains("sinks.bus") && err.contains("`now` or `event`"),
        "{err}"
    );
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let c = load(&MINIMAL.replace("\"abc\"", "\"tok-very-secret\"")).unwrap();
    assert!(!format!("{c:?}").contains("very-secret"));
}

#[cfg(feature = "syslog")]
#[test]
fn syslog_misuse_names_the_key() {
    let with = |sink: &str| {
        load(&format!(
            "{MINIMAL}\n[sinks.siem]\ntype = \"syslog\"\naddress = \"siem:6514\"\n{sink}\n"
        ))
    };
    let c = with("body = \"leef\"").unwrap();
    assert_eq!(c.sinks["siem"].encoding().target(), Some(Target::Leef));
    for (sink, key) in [
        ("body = \"cef\"\nformat = \"ocsf\"", "sinks.siem.format"),
        ("tls_ca_file = \"/ca.pem\"", "sinks.siem.tls_ca_file"),
        (
            "transport = \"tls\"\ntls_cert_file = \"/c.pem\"",
            "sinks.siem.tls_cert_file",
        ),
        ("max_message_bytes = 100", "sinks.siem.max_message_bytes"),
        // serde's tagged enums lose the field's name; the value and the choices stay.
        (
            "framing = \"newline\"",
            "unknown variant `newline`, expected `octet-counting` or `lf`",
        ),
    ] {
        let err = with(sink).unwrap_err().to_string();
        assert!(err.contains(key), "{sink}: {err}");
    }
    let err = load(&format!(
        "{MINIMAL}\n[sinks.siem]\ntype = \"syslog\"\naddress = \"siem\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("sinks.siem.address"), "{err}");
}

#[cfg(feature = "splunk")]
#[test]
fn hec_needs_one_token_and_never_shows_it() {
    let hec = |extra: &str| {
        load(&format!(
            "{MINIMAL}\n[sinks.splunk]\ntype = \"splunk_hec\"\nendpoint = \"https://splunk:8088\"\n{extra}\n"
        ))
    };
    let c = hec("token = \"hec-very-secret\"\nack = true").unwrap();
    assert!(!format!("{c:?}").contains("very-secret"));
    // With acks a confirmed batch is indexed; without, only accepted.
    assert_eq!(
        c.sinks["splunk"].kind.guarantee(),
        sink_core::DeliveryGuarantee::Indexed
    );
    let c = hec("token = \"t\"").unwrap();
    assert_eq!(
        c.sinks["splunk"].kind.guarantee(),
        sink_core::DeliveryGuarantee::Accepted
    );
    for (extra, key) in [
        ("", "sinks.splunk.token"),
        ("token = \"a\"\ntoken_file = \"/t\"", "sinks.splunk.token"),
        (
            "token = \"a\"\nmax_pending_acks = 0",
            "sinks.splunk.ack_poll_interval",
        ),
    ] {
        let err = hec(extra).unwrap_err().to_string();
        assert!(err.contains(key), "{extra}: {err}");
    }
}
