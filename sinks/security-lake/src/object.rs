//! Where an object goes and what it is called.
//!
//! AWS's "Collecting data from custom sources in Security Lake" (Security Lake user guide,
//! best practices): objects go under the custom source's prefix, partitioned as
//! `ext/{custom-source-name}/region={region}/accountId={account_id}/eventDay={YYYYMMDD}/`,
//! one OCSF event class per source. A source created with a version has
//! `ext/{name}/{version}/` as its location (the `location` of `CustomLogSourceProvider`,
//! Security Lake API reference), so a source may also be given as that `s3://` location.
//!
//! The name is the first row's time, the sink's name, and a digest of the object's ids:
//! the same batch sent again (a retry) overwrites its object, and two sinks never
//! overwrite each other's.

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

/// The ids of an object's rows, as a digest that does not depend on their order: rows
/// are staged as pages arrive and sorted only when the object is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdDigest {
    /// The sum of each id's SHA-256 (its first 16 bytes), wrapping: a multiset's digest.
    sum: u128,
    count: u64,
}

impl IdDigest {
    pub fn add(&mut self, id: &str) {
        let h = Sha256::digest(id.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&h[..16]);
        self.sum = self.sum.wrapping_add(u128::from_be_bytes(first));
        self.count += 1;
    }

    /// Add another digest's ids.
    pub fn add_all(&mut self, other: &IdDigest) {
        self.sum = self.sum.wrapping_add(other.sum);
        self.count += other.count;
    }
}

/// The object's key in `partition`, from its first (earliest) time and its rows' ids.
pub fn key(partition: &str, writer: &str, first: DateTime<Utc>, ids: &IdDigest) -> String {
    let mut h = Sha256::new();
    h.update(ids.sum.to_be_bytes());
    h.update(ids.count.to_be_bytes());
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

    fn ids(ids: &[&str]) -> IdDigest {
        let mut d = IdDigest::default();
        for id in ids {
            d.add(id);
        }
        d
    }

    #[test]
    fn names_come_from_the_rows_and_the_writer() {
        let t = DateTime::parse_from_rfc3339("2026-03-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = key("p/", "lake", t, &ids(&["a", "b", "c"]));
        assert_eq!(a, key("p/", "lake", t, &ids(&["c", "a", "b"])), "any order");
        assert!(
            a.starts_with("p/20260307T100000.000000Z-lake-") && a.ends_with(".parquet"),
            "{a}"
        );
        assert_ne!(a, key("p/", "lake", t, &ids(&["a", "c"])));
        assert_ne!(a, key("p/", "lake", t, &ids(&["a", "b", "c", "c"])));
        assert_ne!(a, key("p/", "lake", t, &ids(&["a", "x", "c"])));
        assert_ne!(a, key("p/", "other lake", t, &ids(&["a", "b", "c"])));
    }
}
