//! What `validate` warns about before anything is sent: secrets or audit data that would
//! cross the network in clear text, and certificate checks turned off.
//!
//! A warning is not a failure: in-cluster `http://` to coderd can be a deliberate choice
//! (a service mesh encrypts pod traffic, or the network path is trusted). It says what is
//! exposed, so that choice is made knowingly.

use crate::config::Config;

/// The warnings for `config`, each one line.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if sink_core::is_plain_http(&config.coder.url) {
        out.push(format!(
            "coder.url {} is http://: the session token (an Auditor's) and the audit trail cross \
             the network in clear text; use https (coder.tls_ca_file for a private CA), or keep \
             the path to a network you trust",
            config.coder.url
        ));
    }
    if config.checkpoint.store == crate::config::StoreKind::Postgres {
        // The URL is a secret: read it only to look at its sslmode, never to print it.
        let url = match (&config.checkpoint.url, &config.checkpoint.url_file) {
            (Some(u), _) => Some(u.expose().to_owned()),
            (None, Some(f)) => std::fs::read_to_string(f).ok(),
            (None, None) => None,
        };
        let clear = url.is_some_and(|u| {
            matches!(
                crate::checkpoint::postgres_tls::split(u.trim()),
                Ok((_, crate::checkpoint::postgres_tls::PgTls::Disable))
            )
        });
        if clear {
            out.push(
                "checkpoint.url has no sslmode (or sslmode=disable): checkpoints and the leader \
                 lock cross the network in clear text, and anyone on the path can move a cursor \
                 past events; add sslmode=verify-full (and sslrootcert= for a private CA)"
                    .into(),
            );
        }
    }
    for (name, sink) in &config.sinks {
        if let Some(w) = sink.kind.exposure() {
            out.push(format!("sinks.{name}: {w}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(&path).expect("a valid config")
    }

    #[test]
    fn clear_text_and_unchecked_certificates_are_named() {
        let c = config(
            r#"
[coder]
url = "http://coder.coder.svc.cluster.local"
token = "x"
[sinks.f]
type = "file"
path = "/tmp/x.ndjson"
"#,
        );
        let w = warnings(&c);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("clear text"));
        let c = config(
            r#"
[coder]
url = "https://coder.example.com"
token = "x"
[sinks.f]
type = "file"
path = "/tmp/x.ndjson"
"#,
        );
        assert!(warnings(&c).is_empty());
    }
}
