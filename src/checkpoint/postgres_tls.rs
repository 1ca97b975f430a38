//! How the connection to PostgreSQL is secured: the URL's `sslmode`, in libpq's words.
//!
//! A checkpoint store reachable in clear text lets anyone on the path rewrite checkpoints
//! (moving a cursor forward skips events silently) or meddle with the leader lock. So:
//!
//! | `sslmode` | here |
//! |---|---|
//! | absent, `disable` | no TLS (`validate` warns) |
//! | `require`, `verify-ca`, `verify-full` | TLS, the server's certificate verified against the system's roots and `sslrootcert`, its name checked: stricter than libpq's `require`, which checks nothing |
//! | `prefer`, `allow` | refused: they fall back to clear text without a word |
//!
//! `sslrootcert=/path/ca.pem` names a PEM file of CAs to trust besides the system's.
//! tokio-postgres knows only `disable`, `prefer` and `require`, so both parameters are taken
//! off the URL here and the rest is handed to it unchanged.

use std::path::PathBuf;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The connection's security, as the URL asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    Disable,
    /// TLS with the certificate and host name verified; extra CAs from `sslrootcert`.
    Verify {
        root_cert: Option<PathBuf>,
    },
}

/// `url` without `sslmode` and `sslrootcert`, and what they asked for. Errors never quote
/// the URL (it holds a password).
pub fn split(url: &str) -> Result<(String, PgTls), String> {
    let mut mode: Option<String> = None;
    let mut root: Option<PathBuf> = None;
    let kept = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.to_owned()),
                Some(("sslrootcert", v)) => root = Some(PathBuf::from(percent_decode(v))),
                _ => rest.push(pair),
            }
        }
        if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        }
    } else {
        // `host=... user=... sslmode=...`: whitespace-separated key=value pairs.
        let mut rest = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.to_owned()),
                Some(("sslrootcert", v)) => root = Some(PathBuf::from(v)),
                _ => rest.push(word),
            }
        }
        rest.join(" ")
    };
    let tls = match mode.as_deref() {
        None | Some("disable") => PgTls::Disable,
        Some("require" | "verify-ca" | "verify-full") => PgTls::Verify { root_cert: root },
        Some(m @ ("prefer" | "allow")) => {
            return Err(format!(
                "sslmode={m} falls back to clear text silently: use sslmode=verify-full (or require), or disable"
            ));
        }
        Some(other) => return Err(format!("sslmode={other:?} is none of libpq's")),
    };
    Ok((kept, tls))
}

/// The rustls client configuration for [`PgTls::Verify`].
pub fn client_config(root_cert: Option<&PathBuf>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = root_cert {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "sslrootcert {}: no certificate in the file",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        }
    }
    // The provider the HTTP clients use too (reqwest's rustls is aws-lc-rs), named rather
    // than taken from a process default that may not be installed.
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_and_say_what_to_do() {
        let (url, tls) =
            split("postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=s")
                .unwrap();
        assert_eq!(url, "postgres://u:p@db:5432/x?application_name=s");
        assert_eq!(
            tls,
            PgTls::Verify {
                root_cert: Some("/etc/ca.pem".into())
            }
        );
        assert_eq!(split("postgres://u:p@db/x").unwrap().1, PgTls::Disable);
        let (kv, tls) = split("host=db user=u sslmode=require").unwrap();
        assert_eq!(kv, "host=db user=u");
        assert!(matches!(tls, PgTls::Verify { root_cert: None }));
        let err = split("postgres://u:secretpw@db/x?sslmode=prefer").unwrap_err();
        assert!(err.contains("prefer") && !err.contains("secretpw"), "{err}");
    }
}
