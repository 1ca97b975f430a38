//! Every example under `config/` is accepted by `validate --offline` (their peers are
//! examples), so what users copy parses and passes every check.

use std::process::Command;

#[test]
fn every_example_config_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // token_file must exist for validate; point it at a temp file.
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), "abc").unwrap();
        let mut run = Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"));
        run.args(["validate", "--offline", "--config"])
            .arg(&path)
            .env("CODER_AUDIT_SHIPPER__CODER__TOKEN_FILE", token.path());
        // So must the postgres store's url_file.
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("url_file") {
            run.env("CODER_AUDIT_SHIPPER__CHECKPOINT__URL_FILE", token.path());
        }
        let out = run.output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 2);
}

/// What `validate --offline` says of each sink: its delivery guarantee, and a warning for
/// line framing over TLS (RFC 5425 defines octet counting only); a bad SD-ID names its key.
#[cfg(all(feature = "syslog", feature = "splunk"))]
#[test]
fn validate_says_each_sink_s_guarantee_and_warns_of_line_framing_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let write = |syslog_extra: &str| {
        let path = dir.path().join("shipper.toml");
        std::fs::write(
            &path,
            format!(
                r#"[coder]
url = "https://coder.example.com"
token = "abc"
[checkpoint]
dir = "{state}"
[sinks.siem]
type = "splunk_hec"
endpoint = "https://splunk.example.com:8088"
token = "t"
[sinks.relay]
type = "syslog"
address = "syslog.example.com:6514"
transport = "tls"
{syslog_extra}
"#,
                state = dir.path().join("state").display()
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args(["validate", "--offline", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = write("framing = \"lf\"\nsd_id = \"audit@55555\"");
    assert!(ok, "{text}");
    assert!(text.contains("delivery guarantee: accepted"), "{text}");
    assert!(text.contains("delivery guarantee: sent"), "{text}");
    assert!(
        text.contains("RFC 5425 defines only octet counting"),
        "{text}"
    );
    let (ok, text) = write("");
    assert!(ok && !text.contains("RFC 5425"), "{text}");
    let (ok, text) = write("sd_id = \"coder\"");
    assert!(!ok && text.contains("sinks.relay.sd_id"), "{text}");
}
