//! `[sinks.NAME]` with `type = "security_lake"`: which custom source each OCSF class goes
//! to, where the lake is, and how objects are batched. The bucket, endpoint and encryption
//! keys are the S3 sink's, and credentials come from the same standard AWS chain: in
//! production, the role Security Lake created for the custom source.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::size::byte_size;
use sink_core::{Batching, BuildError, Built, DeliveryGuarantee, KeyError, SinkContext, SinkSpec};
use sink_s3::{ServerSideEncryption, Target};

use crate::object::SourcePrefix;
use crate::schema::Catalog;
use crate::sink::LakeSink;

/// The Parquet codec: Security Lake prefers zstd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
}

/// What happens to an event whose class has no source in `sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmappedClass {
    /// The config is refused (`validate`, and `run` at start) while a class the sink may
    /// receive has no source.
    #[default]
    Error,
    /// Such events are not written to the lake: they go to the dead-letter file with the
    /// reason, counted, and can be replayed once a source exists.
    Skip,
}

/// Security Lake's floor on how often a partition gets an object (user guide, custom
/// sources: "between 5 minutes and 1 event day").
pub const MIN_AGE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityLakeSinkConfig {
    /// The lake's bucket (`aws-security-data-lake-{region}-…`).
    pub bucket: String,
    /// The lake's region: the client's and the `region=` partition.
    pub region: String,
    /// The `accountId=` partition: the AWS account id or the external id the custom
    /// sources were created with.
    pub account_id: String,
    /// OCSF class name (`authentication`) → custom source name, or its `s3://` location.
    pub sources: BTreeMap<String, String>,
    #[serde(default)]
    pub unmapped_class: UnmappedClass,
    /// An object is written once the batch is this old...
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// ... or holds this much OCSF JSON (the memory a batch may take).
    #[serde(default = "default_max_bytes", deserialize_with = "byte_size")]
    pub max_bytes: u64,
    /// For tests and demos only: allow `max_age` under Security Lake's 5 minutes.
    #[serde(default)]
    pub allow_short_max_age: bool,
    #[serde(default)]
    pub compression: Compression,
    /// A custom endpoint (MinIO, s3s-fs); `None` is AWS.
    pub endpoint: Option<String>,
    #[serde(default)]
    pub force_path_style: bool,
    pub server_side_encryption: Option<ServerSideEncryption>,
    pub ssekms_key_id: Option<String>,
    /// Files larger than this go up as a multipart upload, in parts of this size.
    #[serde(
        default = "default_multipart_threshold",
        deserialize_with = "byte_size"
    )]
    pub multipart_threshold: u64,
}

fn default_max_age() -> Duration {
    MIN_AGE
}

/// 8 MiB of OCSF JSON: a 1M-event backfill stays near the S3 sink's memory
/// (BENCHMARKS.md); live traffic closes batches by `max_age` long before.
fn default_max_bytes() -> u64 {
    8 << 20
}

fn default_multipart_threshold() -> u64 {
    16 << 20
}

impl SecurityLakeSinkConfig {
    pub(crate) fn target(&self) -> Target {
        Target {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            force_path_style: self.force_path_style,
            server_side_encryption: self.server_side_encryption.clone(),
            ssekms_key_id: self.ssekms_key_id.clone(),
            part_size: usize::try_from(self.multipart_threshold).unwrap_or(usize::MAX),
        }
    }

    /// Each mapped class's uid and prefix.
    pub(crate) fn prefixes(&self) -> Result<BTreeMap<u32, SourcePrefix>, KeyError> {
        let catalog = Catalog::get();
        self.sources
            .iter()
            .map(|(class, source)| {
                let key = format!("sources.{class}");
                let Some(schema) = catalog.by_name(class) else {
                    let known: Vec<&str> = catalog.classes().map(|c| c.name.as_str()).collect();
                    return Err(KeyError::new(
                        key,
                        format!(
                            "not an OCSF class the shipper emits; one of {}",
                            known.join(", ")
                        ),
                    ));
                };
                let prefix = SourcePrefix::parse(source, &self.bucket)
                    .map_err(|m| KeyError::new(&key, m))?;
                Ok((schema.uid, prefix))
            })
            .collect()
    }

    /// The classes the sink may receive that have no source, as OCSF names.
    pub fn unmapped(&self, classes: &[u32]) -> Vec<String> {
        let catalog = Catalog::get();
        classes
            .iter()
            .filter_map(|uid| catalog.class(*uid))
            .filter(|c| !self.sources.contains_key(&c.name))
            .map(|c| format!("{} ({})", c.name, c.uid))
            .collect()
    }
}

#[async_trait]
impl SinkSpec for SecurityLakeSinkConfig {
    const TYPE: &'static str = "security_lake";

    fn schema(&self) -> Option<&'static str> {
        Some("ocsf 1.1.0")
    }

    fn validate(&self) -> Result<(), KeyError> {
        if self.sources.is_empty() {
            return Err(KeyError::new(
                "sources",
                "map at least one OCSF class to a custom source, e.g. \
                 authentication = \"coder-authentication\"",
            ));
        }
        self.prefixes()?;
        let account = &self.account_id;
        if account.is_empty() || account.contains('/') || account.chars().any(|c| c.is_whitespace())
        {
            return Err(KeyError::new(
                "account_id",
                "the AWS account id or external id of the custom sources (no '/' or spaces)",
            ));
        }
        if self.max_age < MIN_AGE && !self.allow_short_max_age {
            return Err(KeyError::new(
                "max_age",
                "Security Lake wants each partition written no more often than every 5 minutes; \
                 set allow_short_max_age = true only for a test",
            ));
        }
        self.target().validate()
    }

    fn describe(&self) -> String {
        format!(
            "security lake bucket {} ({}) account {}: {}",
            self.bucket,
            self.region,
            self.account_id,
            self.sources
                .iter()
                .map(|(class, source)| format!("{class} → {source}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Stored
    }

    /// Object names carry the sink's name, but two sinks writing the same sources would
    /// put every event in the lake twice.
    fn destination(&self) -> Option<(&'static str, String)> {
        Some((
            "sources",
            format!(
                "bucket {:?}, account {:?} and sources {:?}",
                self.bucket,
                self.account_id,
                self.sources.values().collect::<Vec<_>>()
            ),
        ))
    }

    fn exposure(&self) -> Option<String> {
        self.target().exposure()
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        let prefixes = self
            .prefixes()
            .map_err(|e| BuildError::new(e.to_string()))?;
        let unmapped = self.unmapped(ctx.classes);
        if self.unmapped_class == UnmappedClass::Error && !unmapped.is_empty() {
            return Err(BuildError::new(format!(
                "no custom source for {} (events of these classes would have nowhere to go): \
                 add them to `sources`, or set unmapped_class = \"skip\" to dead-letter them",
                unmapped.join(", ")
            )));
        }
        Ok(Built {
            sink: Box::new(LakeSink::new(ctx.name, self.clone(), prefixes).await),
            batching: Batching::by_size_and_age(self.max_bytes, self.max_age),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<SecurityLakeSinkConfig, String> {
        let text = format!(
            "bucket = \"lake\"\nregion = \"us-east-1\"\naccount_id = \"123456789012\"\n{extra}"
        );
        toml::from_str(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn sources_name_classes_the_shipper_emits_and_valid_sources() {
        let c = config("[sources]\nauthentication = \"coder-auth\"").unwrap();
        assert!(c.validate().is_ok());
        let c = config("[sources]\nfile_activity = \"x\"").unwrap();
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "sources.file_activity");
        assert!(e.message.contains("authentication"), "{e}");
        let c = config("[sources]\nauthentication = \"has space\"").unwrap();
        assert_eq!(c.validate().unwrap_err().key, "sources.authentication");
        let c = config("").unwrap_err();
        assert!(c.contains("sources"), "{c}");
    }

    #[test]
    fn max_age_stays_at_five_minutes_or_more_unless_a_test_says_so() {
        let c = config("max_age = \"1m\"\n[sources]\nauthentication = \"a\"").unwrap();
        assert_eq!(c.validate().unwrap_err().key, "max_age");
        let c = config(
            "max_age = \"1s\"\nallow_short_max_age = true\n[sources]\nauthentication = \"a\"",
        )
        .unwrap();
        assert!(c.validate().is_ok());
        let c = config("[sources]\nauthentication = \"a\"").unwrap();
        assert_eq!(c.max_age, MIN_AGE);
    }

    #[test]
    fn unmapped_classes_are_named() {
        let c = config("[sources]\nauthentication = \"a\"\napi_activity = \"b\"").unwrap();
        assert_eq!(
            c.unmapped(&[3002, 6003, 4007]),
            vec!["ssh_activity (4007)".to_owned()]
        );
        assert!(c.unmapped(&[6003]).is_empty());
    }
}
