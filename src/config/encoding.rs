//! The encoding keys every sink table shares: what the records are (`format`, `ocsf_*`,
//! `body`) and how large an event may grow (`max_event_bytes`).

use serde::Deserialize;

use crate::normalize::{ClassStrategy, OcsfVersion, Target};

/// What a sink receives: `format`, its OCSF options, the event size limit and (syslog) the
/// message body. The shipper reads these keys from every sink table before the rest of the
/// table goes to the sink's crate (see [`super::sink`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    pub format: Format,
    pub ocsf_version: Option<OcsfVersion>,
    pub ocsf_classes: Option<ClassStrategy>,
    /// Cut normalized events above this size (bytes) by leaving out diff fields.
    pub max_event_bytes: Option<u64>,
    /// The syslog message body: the format's JSON, or a CEF / LEEF line.
    pub body: Body,
}

/// What a syslog message carries after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// The sink's `format` (raw, ECS or OCSF JSON).
    #[default]
    Json,
    /// ArcSight Common Event Format (ArcSight, Microsoft Sentinel).
    Cef,
    /// IBM QRadar's Log Event Extended Format 2.0.
    Leef,
}

impl Encoding {
    /// The `coder-audit-format` a consumer can dispatch on.
    pub fn format_name(&self) -> &'static str {
        match self.body {
            Body::Json => {}
            Body::Cef => return "cef",
            Body::Leef => return "leef",
        }
        match self.format {
            Format::Raw => "raw",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
        }
    }

    /// The schema and version of the records: `ecs 9.4.0`, `ocsf 1.8.0`, or `coder` (raw).
    pub fn schema_name(&self) -> String {
        match self.target() {
            None => "coder".to_owned(),
            Some(Target::Ecs) => format!("ecs {}", crate::normalize::ecs::ECS_VERSION),
            Some(Target::Ocsf { version, .. }) => format!("ocsf {}", version.as_str()),
            Some(Target::Cef) => "cef 0".to_owned(),
            Some(Target::Leef) => "leef 2.0".to_owned(),
        }
    }

    /// The normalization target, `None` for `raw`.
    pub fn target(&self) -> Option<Target> {
        match self.body {
            Body::Json => {}
            Body::Cef => return Some(Target::Cef),
            Body::Leef => return Some(Target::Leef),
        }
        match self.format {
            Format::Raw => None,
            Format::Ecs => Some(Target::Ecs),
            Format::Ocsf => Some(Target::Ocsf {
                version: self.ocsf_version.unwrap_or_default(),
                classes: self.ocsf_classes.unwrap_or_default(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Coder's JSON, byte for byte.
    #[default]
    Raw,
    Ecs,
    Ocsf,
}
