//! `validate`: load the config as `run` would and say what it found.

use std::path::Path;

use crate::config::{Config, SinkConfig};
use crate::normalize::Target;

pub async fn validate(config_path: &Path, offline: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let token = match config.token_source()? {
        crate::coder::TokenSource::Static(_) => "inline or CODER_SESSION_TOKEN".to_owned(),
        crate::coder::TokenSource::File(p) => {
            std::fs::metadata(&p).map_err(|e| {
                anyhow::anyhow!(
                    "{}: key `coder.token_file`: cannot read {}: {e}",
                    config_path.display(),
                    p.display()
                )
            })?;
            format!("file {}", p.display())
        }
    };
    println!("{}: OK", config_path.display());
    println!(
        "  coder: {} (token from {token}), page_size {}, poll every {:?}, overlap {:?}",
        config.coder.url, config.coder.page_size, config.coder.poll_interval, config.coder.overlap
    );
    println!(
        "  checkpoints: {:?} store in {}",
        config.checkpoint.store,
        config.checkpoint.dir.display()
    );
    for (name, sink) in &config.sinks {
        let what = match sink {
            SinkConfig::File(f) => format!("file {}", f.path.display()),
            SinkConfig::Stdout(_) => "stdout".to_owned(),
            #[cfg(feature = "kafka")]
            SinkConfig::Kafka(k) => format!("kafka {} topic {}", k.brokers, k.topic),
            #[cfg(feature = "s3")]
            SinkConfig::S3(c) => format!(
                "s3 bucket {} ({}) prefix {}",
                c.bucket, c.region, c.key_prefix
            ),
            #[cfg(feature = "splunk")]
            SinkConfig::SplunkHec(c) => format!(
                "splunk_hec {}{}",
                c.endpoint,
                if c.ack {
                    " with indexer acknowledgement"
                } else {
                    ""
                }
            ),
            #[cfg(feature = "syslog")]
            SinkConfig::Syslog(c) => format!(
                "syslog {:?} {}{}",
                c.transport,
                c.address,
                if c.transport == sink_syslog::Transport::Udp {
                    String::new()
                } else {
                    format!(" ({:?} framing)", c.framing)
                }
            ),
        };
        let encoding = sink.encoding();
        let schema = crate::sinks::schema_name(&encoding);
        let format = match encoding.target() {
            Some(Target::Ocsf { classes, .. }) => format!("{schema} ({classes:?} classes)"),
            None => "raw (Coder's JSON)".to_owned(),
            Some(Target::Ecs | Target::Cef | Target::Leef) => schema,
        };
        let limit = encoding
            .max_event_bytes
            .map(|n| format!(", events cut above {n} bytes"))
            .unwrap_or_default();
        println!("  sink {name}: {what}, format {format}{limit}");
    }
    if offline {
        return Ok(());
    }
    let mut failed = Vec::new();
    for (name, sink) in &config.sinks {
        let result = match crate::sinks::build(name, sink, &config.origin_host()).await {
            Ok(mut built) => built.sink.check().await,
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => println!("  sink {name}: reachable"),
            Err(e) => {
                println!("  sink {name}: NOT reachable: {e}");
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{}: sink(s) not reachable: {} (use --offline to check the file only)",
            config_path.display(),
            failed.join(", ")
        )
    }
}
