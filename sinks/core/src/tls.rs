//! The one TLS failure every sink treats the same way.

use std::error::Error;

/// Whether `error` (or anything in its source chain, an `io::Error`'s inner error
/// included) is a peer certificate that failed verification. That is permanent until an
/// operator changes the trusted CAs or the peer's certificate, so sinks stop with it
/// instead of retrying.
pub fn untrusted_certificate(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if matches!(
            tls,
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        // Some connectors hand the error on boxed where no downcast reaches it (reqwest
        // 0.13 through hyper-util): rustls's own words for the same two errors.
        let text = e.to_string();
        if text.starts_with("invalid peer certificate")
            || text.contains("peer sent no certificates")
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error() {
        let bad = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(untrusted_certificate(&bad));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!untrusted_certificate(&other));
        assert!(!untrusted_certificate(&std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::DecryptError
        )));
    }

    /// A wrapper whose source is another error, boxed, as hyper-util's connect error is.
    #[derive(Debug)]
    struct Wrapped(Box<rustls::Error>);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_certificate_error_behind_a_box_is_found_too() {
        let boxed = Wrapped(Box::new(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        )));
        assert!(untrusted_certificate(&boxed));
        assert!(!untrusted_certificate(&Wrapped(Box::new(
            rustls::Error::DecryptError
        ))));
    }
}
