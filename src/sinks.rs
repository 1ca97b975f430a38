//! The registry of sinks: one line per sink crate, each naming the config struct that
//! implements [`SinkSpec`]. Nothing else in the shipper knows one sink from another: the
//! crate owns its table, its checks, its description and how it is built; the pipeline
//! only ever sees `Box<dyn Sink>` and its [`Batching`](sink_core::Batching).
//!
//! Adding a sink: a crate under `sinks/` with a `config.rs` implementing [`SinkSpec`], a
//! cargo feature, and one line below (ARCHITECTURE.md, "Adding a sink").

use sink_core::{Built, DeliveryGuarantee, KeyError, SinkContext, SinkSpec};

/// `SinkKind`, one variant per registered sink, and its [`SinkSpec`] calls dispatched to
/// the variant's crate.
macro_rules! registry {
    ($($(#[$cfg:meta])* $variant:ident($spec:ty),)*) => {
        /// A sink's own settings, by `type`.
        #[derive(Debug, Clone)]
        pub enum SinkKind {
            $($(#[$cfg])* $variant($spec),)*
        }

        impl SinkKind {
            /// Every `type` this build knows.
            pub const TYPES: &'static [&'static str] =
                &[$($(#[$cfg])* <$spec as SinkSpec>::TYPE,)*];

            /// The sink table of a `type_name` sink, or `None` for a type this build does
            /// not know.
            pub fn parse(
                type_name: &str,
                table: serde_json::Value,
            ) -> Option<Result<Self, serde_path_to_error::Error<serde_json::Error>>> {
                $(
                    $(#[$cfg])*
                    if type_name == <$spec as SinkSpec>::TYPE {
                        return Some(serde_path_to_error::deserialize(table).map(Self::$variant));
                    }
                )*
                None
            }

            /// Whether a `type_name` table takes `body`.
            pub fn takes_body(type_name: &str) -> bool {
                $(
                    $(#[$cfg])*
                    if type_name == <$spec as SinkSpec>::TYPE {
                        return <$spec as SinkSpec>::TAKES_BODY;
                    }
                )*
                false
            }

            pub fn type_name(&self) -> &'static str {
                match self { $($(#[$cfg])* Self::$variant(_) => <$spec as SinkSpec>::TYPE,)* }
            }

            pub fn schema(&self) -> Option<&'static str> {
                match self { $($(#[$cfg])* Self::$variant(s) => s.schema(),)* }
            }

            pub fn validate(&self) -> Result<(), KeyError> {
                match self { $($(#[$cfg])* Self::$variant(s) => s.validate(),)* }
            }

            pub fn describe(&self) -> String {
                match self { $($(#[$cfg])* Self::$variant(s) => s.describe(),)* }
            }

            pub fn guarantee(&self) -> DeliveryGuarantee {
                match self { $($(#[$cfg])* Self::$variant(s) => s.guarantee(),)* }
            }

            pub fn destination(&self) -> Option<(&'static str, String)> {
                match self { $($(#[$cfg])* Self::$variant(s) => s.destination(),)* }
            }

            pub fn exposure(&self) -> Option<String> {
                match self { $($(#[$cfg])* Self::$variant(s) => s.exposure(),)* }
            }

            pub fn advice(&self) -> Option<String> {
                match self { $($(#[$cfg])* Self::$variant(s) => s.advice(),)* }
            }

            pub async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, sink_core::BuildError> {
                match self { $($(#[$cfg])* Self::$variant(s) => s.build(ctx).await,)* }
            }
        }
    };
}
// The registry: one line per sink.
registry! {
    File(sink_file::FileSinkConfig),
    Stdout(sink_file::StdoutSinkConfig),
    #[cfg(feature = "elasticsearch")]
    Elasticsearch(sink_elasticsearch::ElasticsearchSinkConfig),
    #[cfg(feature = "http")]
    Http(sink_http::HttpSinkConfig),
    #[cfg(feature = "kafka")]
    Kafka(sink_kafka::KafkaSinkConfig),
    #[cfg(feature = "s3")]
    S3(sink_s3::S3SinkConfig),
    #[cfg(feature = "security_lake")]
    SecurityLake(sink_security_lake::SecurityLakeSinkConfig),
    #[cfg(feature = "splunk")]
    SplunkHec(sink_splunk::HecSinkConfig),
    #[cfg(feature = "syslog")]
    Syslog(sink_syslog::SyslogSinkConfig),
}

/// A sink that could not be built, named.
#[derive(Debug, thiserror::Error)]
#[error("sink {name}: {error}")]
pub struct BuildError {
    pub name: String,
    pub error: sink_core::BuildError,
}
