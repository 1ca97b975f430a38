//! The retry rule for S3 answers.
//!
//! Throttling, 5xx, timeouts and connection failures are retried (the object name is
//! deterministic, so a resend overwrites). Access denied, a bad signature, an unknown key id
//! or a missing bucket stop the sink with one clear error: nothing changes until an operator
//! acts, and the checkpoint stays where it is.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use sink_core::Delivery;

/// The outcome of an SDK error.
pub fn classify<E>(error: &SdkError<E, HttpResponse>) -> Delivery
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            by_status(status, e.code(), e.message().unwrap_or_default())
        }
        SdkError::ConstructionFailure(_) => Delivery::reject(format!(
            "building the S3 request failed: {}",
            DisplayErrorContext(error)
        )),
        // Timeouts, dispatch (connect, DNS, credentials not yet loaded) and unreadable
        // responses: transient.
        _ => Delivery::retry(format!("S3: {}", DisplayErrorContext(error))),
    }
}

/// The rule on an HTTP status and S3 error code.
pub fn by_status(status: u16, code: Option<&str>, message: &str) -> Delivery {
    let code_s = code.unwrap_or("unknown");
    match (status, code) {
        (
            _,
            Some(
                "SlowDown"
                | "RequestTimeout"
                | "InternalError"
                | "ServiceUnavailable"
                | "RequestTimeTooSkewed",
            ),
        ) => Delivery::retry(format!("S3 {status} {code_s}: {message}")),
        (
            _,
            Some(
                "AccessDenied"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken",
            ),
        )
        | (401 | 403, _) => Delivery::reject(format!(
            "S3 refused the credentials ({code_s}: {message}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the role, and the bucket policy"
        )),
        // "The specified multipart upload does not exist. The upload ID might be invalid,
        // or the multipart upload might have been aborted or completed" (S3 API Reference,
        // error codes): an SDK retry of a CompleteMultipartUpload that had succeeded, or a
        // lifecycle rule that aborted the upload. Not a missing bucket: the batch is sent
        // again, which starts the object's upload afresh under the same name.
        (_, Some("NoSuchUpload")) => Delivery::retry(format!(
            "S3 {status} NoSuchUpload: the multipart upload is gone (completed by an earlier try, or aborted); uploading the object again: {message}"
        )),
        (_, Some("NoSuchBucket")) | (404, _) => Delivery::reject(format!(
            "S3 bucket not found ({code_s}: {message}); create it or fix `bucket`"
        )),
        (408 | 429, _) | (500..=599, _) => {
            Delivery::retry(format!("S3 {status} {code_s}: {message}"))
        }
        _ => Delivery::reject(format!("S3 {status} {code_s}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_retry(d: &Delivery) -> bool {
        matches!(d, Delivery::Retry { .. })
    }

    #[test]
    fn the_rule() {
        assert!(is_retry(&by_status(503, Some("SlowDown"), "")));
        assert!(is_retry(&by_status(500, Some("InternalError"), "")));
        assert!(is_retry(&by_status(502, None, "")));
        assert!(is_retry(&by_status(429, None, "")));
        assert!(is_retry(&by_status(400, Some("RequestTimeout"), "")));
        for (status, code) in [
            (403, Some("SignatureDoesNotMatch")),
            (403, Some("InvalidAccessKeyId")),
            (403, None),
            (400, Some("ExpiredToken")),
        ] {
            let d = by_status(status, code, "m");
            assert!(
                matches!(&d, Delivery::Reject { reason } if reason.contains("credentials")),
                "{d:?}"
            );
        }
        assert!(matches!(
            by_status(404, Some("NoSuchBucket"), ""),
            Delivery::Reject { .. }
        ));
        // A multipart upload that is gone restarts the object; it is no missing bucket.
        let d = by_status(
            404,
            Some("NoSuchUpload"),
            "The specified upload does not exist",
        );
        assert!(
            matches!(&d, Delivery::Retry { reason, .. } if !reason.contains("bucket not found")),
            "{d:?}"
        );
    }
}
