//! `[sinks.NAME]`: the table is read in two steps. The shipper takes `type` and the
//! encoding keys every sink shares ([`Encoding`]); what is left is the sink crate's own
//! table, which its config struct reads with `deny_unknown_fields`, so a typo anywhere in
//! the table is still an error naming `sinks.NAME.KEY`.

use sink_core::{Built, KeyError, SinkContext};

use super::encoding::{Body, Encoding, Format};
use crate::coder::Stream;
use crate::normalize::{Class, ClassStrategy, Target};
use crate::pipeline::Filter;
use crate::sinks::{BuildError, SinkKind};

/// One sink as configured.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub encoding: Encoding,
    /// The sink crate's own settings, by `type`.
    pub kind: SinkKind,
    /// `streams`: the logs this sink is sent, when not every stream of `[coder]`.
    pub streams: Option<Vec<Stream>>,
    /// `[sinks.NAME.filter]`: which of their events it is sent.
    pub filter: Filter,
}

impl SinkConfig {
    /// The `type` key's value (the `component_type` label of the sink's metrics).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding.clone()
    }

    /// The logs this sink is sent: its own `streams`, else `all` (`coder.streams`).
    pub fn streams<'a>(&'a self, all: &'a [Stream]) -> &'a [Stream] {
        self.streams.as_deref().unwrap_or(all)
    }

    /// Whether this sink is sent `stream`, of `all` (`coder.streams`).
    pub fn takes(&self, stream: Stream, all: &[Stream]) -> bool {
        self.streams(all).contains(&stream)
    }

    /// Build sink `name`. `origin` is the host the events come from (the Coder URL's), the
    /// default HEC `host` and syslog HOSTNAME; `streams` the logs it is sent, `stream`
    /// the one this instance is sent (`None` when no one log applies: a replay of dead
    /// letters, which do not say theirs).
    pub async fn build(
        &self,
        name: &str,
        origin: &str,
        streams: &[Stream],
        stream: Option<Stream>,
    ) -> Result<Built, BuildError> {
        let schema = self.encoding.schema_name();
        let classes = self.ocsf_classes(streams);
        let ctx = SinkContext {
            name,
            origin,
            format: self.encoding.format_name(),
            schema: &schema,
            classes: &classes,
            stream: stream.map(Stream::name),
        };
        self.kind.build(&ctx).await.map_err(|error| BuildError {
            name: name.to_owned(),
            error,
        })
    }

    /// The OCSF classes this sink's records may be, reading `streams`: under `semantic`
    /// every class of the audit log (agent rows of Coder v2.20–v2.24 are SSH or Network
    /// Activity), under `single` API Activity; the connection log's sessions are SSH or
    /// Network Activity under both.
    pub fn ocsf_classes(&self, streams: &[Stream]) -> Vec<u32> {
        let Some(Target::Ocsf { classes, .. }) = self.encoding.target() else {
            return Vec::new();
        };
        let mut uids = Vec::new();
        if streams.contains(&Stream::Audit) {
            match classes {
                ClassStrategy::Semantic => uids.extend(Class::ALL.iter().map(|c| c.uid())),
                ClassStrategy::Single => uids.push(Class::ApiActivity.uid()),
            }
        }
        if streams.contains(&Stream::Connection) {
            uids.extend([Class::SshActivity.uid(), Class::NetworkActivity.uid()]);
        }
        uids.sort_unstable();
        uids.dedup();
        uids
    }

    /// Read `[sinks.name]` from the config's value of it.
    pub(super) fn parse(name: &str, value: config::Value) -> Result<Self, KeyError> {
        let key = |k: &str| match k {
            "" | "." => format!("sinks.{name}"),
            k => format!("sinks.{name}.{k}"),
        };
        // As JSON: serde's own messages ("unknown variant `x`, expected `a` or `b`"), and
        // values exactly as the file gave them, as a tagged enum of tables read them before.
        let value: serde_json::Value = value
            .try_deserialize()
            .map_err(|e| KeyError::new(key(""), e.to_string()))?;
        let serde_json::Value::Object(mut table) = value else {
            return Err(KeyError::new(key(""), "expected a table"));
        };
        let mut take = |k: &str| table.remove(k);
        fn read<T: serde::de::DeserializeOwned>(
            value: Option<serde_json::Value>,
            key: String,
        ) -> Result<Option<T>, KeyError> {
            value
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| KeyError::new(key, e.to_string()))
        }
        let type_name: String = read(take("type"), key("type"))?.ok_or_else(|| {
            KeyError::new(
                key("type"),
                format!("missing: one of {}", SinkKind::TYPES.join(", ")),
            )
        })?;
        let streams = read(take("streams"), key("streams"))?;
        let filter = read(take("filter"), key("filter"))?.unwrap_or_default();
        let mut encoding = Encoding {
            format: read::<Format>(take("format"), key("format"))?.unwrap_or_default(),
            ocsf_version: read(take("ocsf_version"), key("ocsf_version"))?,
            ocsf_classes: read(take("ocsf_classes"), key("ocsf_classes"))?,
            max_event_bytes: read(take("max_event_bytes"), key("max_event_bytes"))?,
            body: Body::Json,
        };
        // Only a sink that takes `body` has it; elsewhere it stays, an unknown key.
        if SinkKind::takes_body(&type_name) {
            encoding.body = read(take("body"), key("body"))?.unwrap_or_default();
        }
        let rest = serde_json::Value::Object(table);
        let kind = match SinkKind::parse(&type_name, rest) {
            None => {
                return Err(KeyError::new(
                    key("type"),
                    format!(
                        "unknown sink type {type_name:?}, expected one of {}",
                        SinkKind::TYPES.join(", ")
                    ),
                ));
            }
            Some(Err(e)) => {
                let at = e.path().to_string();
                return Err(KeyError::new(key(&at), e.into_inner().to_string()));
            }
            Some(Ok(kind)) => kind,
        };
        Ok(SinkConfig {
            encoding,
            kind,
            streams,
            filter,
        })
    }

    /// What types alone cannot check: its streams (of `coder`, the `[coder]` streams), the
    /// sink's own rules, then the encoding's.
    pub(super) fn check(&self, name: &str, coder: &[Stream]) -> Result<(), KeyError> {
        let key = |k: &str| format!("sinks.{name}.{k}");
        if let Some(streams) = &self.streams {
            if streams.is_empty() {
                return Err(KeyError::new(
                    key("streams"),
                    "name at least one stream, or leave it out for every stream of [coder]",
                ));
            }
            for (i, stream) in streams.iter().enumerate() {
                if streams[..i].contains(stream) {
                    return Err(KeyError::new(key("streams"), "a stream is named twice"));
                }
                if !coder.contains(stream) {
                    return Err(KeyError::new(
                        key("streams"),
                        format!(
                            "{} is not read: add it to coder.streams as well",
                            stream.name()
                        ),
                    ));
                }
            }
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(KeyError::new(
                format!("sinks.{name}"),
                "sink names may use only letters, digits, '_' and '-' (they name checkpoint files)",
            ));
        }
        self.filter
            .check()
            .map_err(|(k, why)| KeyError::new(key(&format!("filter.{k}")), why))?;
        self.kind
            .validate()
            .map_err(|e| KeyError::new(key(&e.key), e.message))?;
        let encoding = &self.encoding;
        if let Some(wanted) = self.kind.schema()
            && encoding.schema_name() != wanted
        {
            let (format, version) = wanted.split_once(' ').unwrap_or((wanted, ""));
            return Err(KeyError::new(
                key("format"),
                format!(
                    "a {} sink takes {wanted} only: set format = \"{format}\" and \
                     {format}_version = \"{version}\"",
                    self.type_name()
                ),
            ));
        }
        if encoding.body != Body::Json {
            for (k, set) in [
                ("format", encoding.format != Format::Raw),
                ("ocsf_version", encoding.ocsf_version.is_some()),
                ("ocsf_classes", encoding.ocsf_classes.is_some()),
                ("max_event_bytes", encoding.max_event_bytes.is_some()),
            ] {
                if set {
                    return Err(KeyError::new(
                        key(k),
                        "a CEF or LEEF body is made from the entry itself: leave it unset",
                    ));
                }
            }
            return Ok(());
        }
        if encoding.format != Format::Ocsf {
            for (k, set) in [
                ("ocsf_version", encoding.ocsf_version.is_some()),
                ("ocsf_classes", encoding.ocsf_classes.is_some()),
            ] {
                if set {
                    return Err(KeyError::new(key(k), "applies only to format = \"ocsf\""));
                }
            }
        }
        match (encoding.format, encoding.max_event_bytes) {
            (Format::Raw, Some(_)) => Err(KeyError::new(
                key("max_event_bytes"),
                "applies only to format = \"ecs\" or \"ocsf\": raw ships Coder's bytes unchanged",
            )),
            (_, Some(n)) if n < 1024 => Err(KeyError::new(
                key("max_event_bytes"),
                format!("must be at least 1024, got {n}"),
            )),
            _ => Ok(()),
        }
    }
}

/// Two sinks of one type writing one place (an S3 bucket and prefix): refused, naming
/// both. Object names carry the sink's name, so they could not overwrite each other; but
/// a copy of a sink under a new name would write everything twice unnoticed, and whoever
/// reads the place (Athena, Security Lake) could not tell the sinks apart.
pub(super) fn check_destinations<'a>(
    sinks: impl Iterator<Item = (&'a String, &'a SinkConfig)> + Clone,
) -> Result<(), KeyError> {
    for (name, sink) in sinks.clone() {
        let Some((k, place)) = sink.kind.destination() else {
            continue;
        };
        let shared = sinks.clone().find(|(other, s)| {
            *other < name
                && s.type_name() == sink.type_name()
                && s.kind.destination().is_some_and(|(_, p)| p == place)
        });
        if let Some((other, _)) = shared {
            return Err(KeyError::new(
                format!("sinks.{name}.{k}"),
                format!(
                    "sinks.{other} writes the same {place}: give each {} sink a place of its own",
                    sink.type_name()
                ),
            ));
        }
    }
    Ok(())
}
