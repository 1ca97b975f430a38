//! Where an object goes and what it is called.
//!
//! AWS's "Collecting data from custom sources in Security Lake" (Security Lake user guide,
//! best practices): objects go under the custom source's prefix, partitioned as
//! `ext/{custom-source-name}/region={region}/accountId={account_id}/eventDay={YYYYMMDD}/`,
//! one OCSF event class per source. A source created with a version has
//! `ext/{name}/{version}/` as its location (the `location` of `CustomLogSourceProvider`,
//! Security Lake API reference), so a source may also be given as that `s3://` location.
//!
//! The name is the first row's time, the sink's name, and a digest of the object's first
//! and last ids and count: the same batch sent again (a retry) overwrites its object, and
//! two sinks never overwrite each other's.

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

/// A custom source's place in the bucket: `ext/{name}/` or the location it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePrefix(String);

impl SourcePrefix {
    /// `value` as a source name (`coder-authentication`) or the source's `s3://` location
    /// in `bucket` (`s3://aws-security-data-lake-…/ext/coder-authentication/1.0/`).
    pub fn parse(value: &str, bucket: &str) -> Result<Self, String> {
        if let Some(rest) = value.strip_prefix("s3://") {
            let (in_bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
            if in_bucket != bucket {
                return Err(format!(
                    "{value:?} is in bucket {in_bucket:?}, not the sink's bucket {bucket:?}"
                ));
            }
            let path = path.trim_matches('/');
            if !path.starts_with("ext/") || path.split('/').any(str::is_empty) {
                return Err(format!(
                    "{value:?} is not a custom source's location (s3://BUCKET/ext/NAME/...)"
                ));
            }
            return Ok(SourcePrefix(format!("{path}/")));
        }
        // CreateCustomLogSource's sourceName: 1 to 64 of `[\w\-\_\:\.]` (Security Lake API
        // reference, CustomLogSourceResource).
        let valid = (1..=64).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'));
        if !valid {
            return Err(format!(
                "{value:?} is not a custom source name (1 to 64 letters, digits, '_', '-', \
                 ':', '.') or its s3:// location"
            ));
        }
        Ok(SourcePrefix(format!("ext/{value}/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The partition of one source's objects for one region, account and day.
pub fn partition(source: &SourcePrefix, region: &str, account_id: &str, day: NaiveDate) -> String {
    format!(
        "{}region={region}/accountId={account_id}/eventDay={}/",
        source.as_str(),
        day.format("%Y%m%d")
    )
}

/// The object's key in `partition`, from its rows' (sorted) ids and first time.
pub fn key(partition: &str, writer: &str, first: DateTime<Utc>, ids: &[&str]) -> String {
    let mut h = Sha256::new();
    if let (Some(a), Some(b)) = (ids.first(), ids.last()) {
        h.update(a.as_bytes());
        h.update([0]);
        h.update(b.as_bytes());
    }
    h.update((ids.len() as u64).to_be_bytes());
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{partition}{}-{}-{hex}.parquet",
        first.format("%Y%m%dT%H%M%S%.6fZ"),
        sink_s3::object::key_safe(writer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: &str = "aws-security-data-lake-us-east-1-abc";

    #[test]
    fn a_source_is_a_name_or_its_location_in_the_bucket() {
        assert_eq!(
            SourcePrefix::parse("coder-auth", BUCKET).unwrap().as_str(),
            "ext/coder-auth/"
        );
        assert_eq!(
            SourcePrefix::parse(&format!("s3://{BUCKET}/ext/coder-auth/1.0/"), BUCKET)
                .unwrap()
                .as_str(),
            "ext/coder-auth/1.0/"
        );
        for bad in [
            "",
            "has space",
            "a/b",
            &"x".repeat(65),
            "s3://other-bucket/ext/coder-auth/",
            &format!("s3://{BUCKET}/coder-auth/"),
            &format!("s3://{BUCKET}/ext//x/"),
        ] {
            assert!(SourcePrefix::parse(bad, BUCKET).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_partition_is_the_documented_layout() {
        let source = SourcePrefix::parse("coder-auth", BUCKET).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        assert_eq!(
            partition(&source, "us-east-1", "123456789012", day),
            "ext/coder-auth/region=us-east-1/accountId=123456789012/eventDay=20260307/"
        );
    }

    #[test]
    fn names_come_from_the_rows_and_the_writer() {
        let t = DateTime::parse_from_rfc3339("2026-03-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = key("p/", "lake", t, &["a", "b", "c"]);
        assert_eq!(a, key("p/", "lake", t, &["a", "b", "c"]));
        assert!(
            a.starts_with("p/20260307T100000.000000Z-lake-") && a.ends_with(".parquet"),
            "{a}"
        );
        assert_ne!(a, key("p/", "lake", t, &["a", "c"]));
        assert_ne!(a, key("p/", "lake", t, &["a", "x", "d"]));
        assert_ne!(a, key("p/", "other lake", t, &["a", "b", "c"]));
    }
}
