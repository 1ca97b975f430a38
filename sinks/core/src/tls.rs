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
}
