//! The subcommands. Each returns `anyhow::Result`: this is the binary's edge, where errors
//! become one clear message and an exit code.

mod backfill;
mod checkpoint;
#[cfg(feature = "demo")]
mod demo;
mod exit;
mod exposure;
mod replay;
mod run;
mod tap;
mod test_event;
mod validate;

use std::sync::Arc;

use anyhow::Context;

pub use backfill::backfill;
pub use checkpoint::show_checkpoints;
#[cfg(feature = "demo")]
pub use demo::demo;
pub use exit::{LostLeadership, StreamsFailed, exit_code};
pub use replay::replay_dead_letters;
pub use run::{run, run_config};
pub use tap::tap;
pub use validate::validate;

use chrono::{DateTime, TimeDelta, Utc};

use crate::checkpoint::{CheckpointKey, CheckpointStore, FileStore, PostgresStore};
use crate::coder::lookup::Lookups;
use crate::coder::{ClientOptions, CoderClient, Cursor, Stream, Tailer, TailerOptions};
use crate::config::{Config, StoreKind};
use crate::dead_letter::DeadLetters;
use crate::normalize::{Enrichment, Normalizer};
use crate::pipeline::{Encoder, SinkOutlet, StreamStats};

/// What every stream of one command shares; builds each sink's tailer and outlet the
/// same way for `run` and `backfill`.
pub(crate) struct Streams<'a> {
    pub config: &'a Config,
    pub client: Arc<CoderClient>,
    pub store: Arc<dyn CheckpointStore>,
    overlap: TimeDelta,
    session_horizon: TimeDelta,
    enrichment: Enrichment,
    lookups: Option<Arc<Lookups>>,
}

impl<'a> Streams<'a> {
    pub fn new(
        config: &'a Config,
        connected: Connected,
        store: Arc<dyn CheckpointStore>,
    ) -> anyhow::Result<Self> {
        let lookups = config
            .enrich
            .coder
            .options(config.coder.max_requests_per_minute)
            .map(|options| Lookups::new(connected.client.clone(), &options));
        Ok(Self {
            config,
            lookups,
            client: connected.client,
            enrichment: config.enrichment(Some(connected.coder_version))?,
            store,
            overlap: TimeDelta::from_std(config.coder.overlap)
                .context("coder.overlap is too large")?,
            session_horizon: TimeDelta::from_std(config.coder.session_horizon)
                .context("coder.session_horizon is too large")?,
        })
    }

    /// The tailer of `stream` and the outlet of sink `name`, starting from `cursor`; `end`
    /// for a backfill.
    pub async fn build(
        &self,
        name: &str,
        stream: Stream,
        key: CheckpointKey,
        cursor: Cursor,
        end: Option<DateTime<Utc>>,
        stats: Arc<StreamStats>,
    ) -> anyhow::Result<(Tailer, SinkOutlet)> {
        let sink_config = self
            .config
            .sinks
            .get(name)
            .with_context(|| format!("no sink {name:?} in the config"))?;
        let tailer = self.tailer(stream, cursor, end);
        let built = sink_config
            .build(
                name,
                &self.config.origin_host(),
                self.config.streams_of(name),
                Some(stream),
            )
            .await?;
        let outlet = SinkOutlet::new(
            built.sink,
            self.encoder(name)?,
            self.store.clone(),
            key,
            stats,
            DeadLetters::new(&self.config.dead_letter_dir(), name),
        )
        .with_batching(built.batching)
        .with_filter(sink_config.filter.clone())
        .with_save_interval(self.config.checkpoint.save_interval);
        Ok((tailer, outlet))
    }

    /// A tailer of `stream` from `cursor`; `end` for a backfill.
    pub fn tailer(&self, stream: Stream, cursor: Cursor, end: Option<DateTime<Utc>>) -> Tailer {
        Tailer::new(
            self.client.clone(),
            self.tailer_options(stream, end),
            cursor,
        )
    }

    /// How a tailer of `stream` reads; `end` for a backfill.
    pub fn tailer_options(&self, stream: Stream, end: Option<DateTime<Utc>>) -> TailerOptions {
        TailerOptions {
            page_size: self.config.coder.page_size,
            overlap: self.overlap,
            end,
            stream,
            session_horizon: self.session_horizon,
            session_poll_interval: self.config.coder.session_poll_interval,
            late_horizon: TimeDelta::from_std(self.config.coder.late_horizon)
                .unwrap_or(TimeDelta::days(1)),
            late_sweep_interval: self.config.coder.late_sweep_interval,
            overlap_reread_interval: self
                .config
                .coder
                .overlap_reread_interval
                .min(self.overlap.to_std().unwrap_or_default()),
            // The answers become fields of ECS, OCSF, CEF and LEEF; `raw` ships Coder's
            // bytes, so a stream whose sinks are all raw asks Coder nothing more.
            lookups: self
                .lookups
                .clone()
                .filter(|_| self.config.normalizes(stream)),
        }
    }

    /// How a sink that reads `stream` alone beside a shared reader gets its tailer.
    pub fn solo_tailer(
        &self,
        stream: Stream,
        end: Option<DateTime<Utc>>,
    ) -> crate::pipeline::SoloTailer {
        let (client, options) = (self.client.clone(), self.tailer_options(stream, end));
        std::sync::Arc::new(move |c| Tailer::new(client.clone(), options.clone(), c))
    }

    /// The configured streams that some sink is sent and this Coder serves. The connection
    /// log needs v2.25 and a Premium license; without them it is left out with one warning
    /// line (and `coder_connection_log_available` at 0), and the audit stream runs on its own.
    pub async fn available_streams(&self) -> anyhow::Result<Vec<Stream>> {
        let mut streams = Vec::new();
        for &stream in &self.config.coder.streams {
            if self.config.sinks_of(stream).next().is_none() {
                tracing::info!(%stream, "no sink takes the {stream} stream; it is not read");
                continue;
            }
            if stream == Stream::Connection {
                match self.client.connection_log_available().await? {
                    Ok(()) => crate::ops::metrics::connection_log_available(true),
                    Err(why) => {
                        crate::ops::metrics::connection_log_available(false);
                        tracing::warn!(
                            "the connection stream is off: {why}; the other streams run on"
                        );
                        continue;
                    }
                }
            }
            streams.push(stream);
        }
        Ok(streams)
    }

    /// How sink `name` encodes events.
    pub fn encoder(&self, name: &str) -> anyhow::Result<Encoder> {
        encoder(self.config, &self.enrichment, name)
    }
}

/// How sink `name` of `config` makes its records, with `enrichment` added.
pub(crate) fn encoder(
    config: &Config,
    enrichment: &Enrichment,
    name: &str,
) -> anyhow::Result<Encoder> {
    let encoding = config
        .sinks
        .get(name)
        .with_context(|| format!("no sink {name:?} in the config"))?
        .encoding();
    Ok(match encoding.target() {
        None => Encoder::Raw,
        Some(target) => Encoder::Normalized(Normalizer::new(
            target,
            enrichment.clone(),
            encoding
                .max_event_bytes
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        )),
    })
}

/// The checkpoint store of the config, without the leader lock (`run` takes the lock
/// itself when the store is postgres).
pub(crate) async fn store(config: &Config) -> anyhow::Result<Arc<dyn CheckpointStore>> {
    Ok(match config.checkpoint.store {
        StoreKind::File => Arc::new(FileStore::new(&config.checkpoint.dir)),
        StoreKind::Postgres => {
            Arc::new(PostgresStore::open(&config.postgres_url()?, &config.checkpoint.schema).await?)
        }
    })
}

/// A client of a Coder server whose version is known.
pub(crate) struct Connected {
    pub client: Arc<CoderClient>,
    pub coder_version: String,
}

/// The client, after reading (and logging) the server's version from `/api/v2/buildinfo`.
pub(crate) async fn connect(config: &Config) -> anyhow::Result<Connected> {
    let token = config.token_source()?;
    let client = CoderClient::new(
        &config.coder.url,
        token,
        ClientOptions {
            request_timeout: config.coder.request_timeout,
            max_response_bytes: config.coder.max_response_bytes,
            tls_ca_file: config.coder.tls_ca_file.clone(),
            max_requests_per_minute: Some(config.coder.max_requests_per_minute).filter(|n| *n > 0),
            audit_reading: config.reading(Stream::Audit),
            ..ClientOptions::default()
        },
    )?;
    let info = client.buildinfo().await.with_context(|| {
        format!(
            "reading {}/api/v2/buildinfo",
            config.coder.url.trim_end_matches('/')
        )
    })?;
    tracing::info!(coder_version = %info.version, url = %config.coder.url, "connected to Coder");
    if let Some(warning) = token_expiry_warning(&client).await {
        tracing::warn!("{warning}");
    }
    Ok(Connected {
        client: Arc::new(client),
        coder_version: info.version,
    })
}

/// Warn this long before the session token expires.
pub(crate) const TOKEN_EXPIRY_WARNING: chrono::TimeDelta = chrono::TimeDelta::days(14);

/// A warning when Coder says the token expires within [`TOKEN_EXPIRY_WARNING`]; nothing
/// when it expires later or Coder does not say (a failed look is only logged at debug).
pub(crate) async fn token_expiry_warning(client: &CoderClient) -> Option<String> {
    let expires = match client.token_expiry().await {
        Ok(e) => e?,
        Err(e) => {
            tracing::debug!("reading the token's expiry: {e}");
            return None;
        }
    };
    let left = expires - Utc::now();
    (left < TOKEN_EXPIRY_WARNING).then(|| {
        format!(
            "the Coder session token expires at {expires} (in {} h): Coder does not extend it \
             with use; create one with `coder tokens create --lifetime 8760h` and replace \
             coder.token_file (re-read on the next 401)",
            left.num_hours()
        )
    })
}

/// Resolves when SIGTERM or Ctrl-C arrives.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
