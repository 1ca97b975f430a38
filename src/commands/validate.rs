//! `validate`: load the config as `run` would and say what it found.

use std::path::Path;

use std::time::Duration;

use crate::config::{Config, StoreKind};
use crate::normalize::Target;

/// How long `validate` waits for each peer.
const REACH: Duration = Duration::from_secs(15);

/// Coder's default limit of requests a minute per user and API path (`CODER_API_RATE_LIMIT`).
const CODER_RATE_LIMIT: u32 = 512;

/// The request budget, and what idle polling alone asks of it: one read of each stream
/// per `poll_interval`, shared by its sinks; a sink reading alone (after its outage, until
/// it rejoins) adds its own.
fn request_budget(config: &Config) {
    let budget = config.coder.max_requests_per_minute;
    // A stream no sink takes is not read.
    let streams = config
        .coder
        .streams
        .iter()
        .filter(|s| config.sinks_of(**s).next().is_some())
        .count();
    let per_minute = 60.0 / config.coder.poll_interval.as_secs_f64().max(0.001);
    let polls = streams as f64 * per_minute;
    let sink_streams: usize = config
        .sinks
        .keys()
        .map(|n| config.streams_of(n).len())
        .sum();
    let alone = sink_streams as f64 * per_minute;
    let worst = if config.sinks.len() > 1 {
        format!(" (up to {alone:.0} while every sink reads alone, as after an outage)")
    } else {
        String::new()
    };
    if budget == 0 {
        println!(
            "  requests to Coder: no budget of our own (coder.max_requests_per_minute = 0); \
             idle polling asks about {polls:.0} a minute{worst} of Coder's {CODER_RATE_LIMIT} \
             per user and path"
        );
        return;
    }
    println!(
        "  requests to Coder: at most {budget} a minute, live tailing first; idle polling asks \
         about {polls:.0}{worst}"
    );
    if budget > CODER_RATE_LIMIT {
        println!(
            "  WARNING: coder.max_requests_per_minute = {budget} is above Coder's default limit \
             of {CODER_RATE_LIMIT} a minute per user and path (CODER_API_RATE_LIMIT): expect 429s unless \
             it was raised"
        );
    }
    if polls > 0.9 * f64::from(budget) {
        println!(
            "  WARNING: {streams} streams polling every {:?} ask for about {polls:.0} requests a \
             minute, more than coder.max_requests_per_minute leaves them: polls will wait for \
             each other; raise coder.poll_interval or the budget",
            config.coder.poll_interval
        );
    }
}

/// `test_event`: `Some` to send a test event to every sink (`Some(None)`) or to one.
pub async fn validate(
    config_path: &Path,
    offline: bool,
    test_event: Option<Option<&str>>,
) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    if let Some(Some(name)) = test_event
        && !config.sinks.contains_key(name)
    {
        anyhow::bail!(
            "no sink {name:?} in {}; it has: {}",
            config_path.display(),
            config.sinks.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let token = match config.token_source()? {
        crate::coder::TokenSource::Static(_) => "inline or CODER_SESSION_TOKEN".to_owned(),
        crate::coder::TokenSource::File(p) => match std::fs::metadata(&p) {
            Ok(_) => format!("file {}", p.display()),
            // Offline checks the file, not the machine it will run on (a Kubernetes secret
            // is mounted only there).
            Err(e) if offline => format!("file {} (not readable here: {e})", p.display()),
            Err(e) => anyhow::bail!(
                "{}: key `coder.token_file`: cannot read {}: {e}; create it with the token of a \
                 user with the Auditor role, or set {} (or coder.token) instead",
                config_path.display(),
                p.display(),
                crate::config::TOKEN_ENV
            ),
        },
    };
    println!("{}: OK", config_path.display());
    println!(
        "  coder: {} (token from {token}), page_size {}, poll every {:?}, overlap {:?}",
        config.coder.url, config.coder.page_size, config.coder.poll_interval, config.coder.overlap
    );
    for warning in super::exposure::warnings(&config) {
        println!("  WARNING: {warning}");
    }
    request_budget(&config);
    let streams: Vec<&str> = config.coder.streams.iter().map(|s| s.name()).collect();
    println!(
        "  streams: {}{}",
        streams.join(", "),
        if config
            .coder
            .streams
            .contains(&crate::coder::Stream::Connection)
        {
            format!(
                " (open sessions followed for {})",
                humantime::format_duration(config.coder.session_horizon)
            )
        } else {
            String::new()
        }
    );
    match config.checkpoint.store {
        StoreKind::File => println!(
            "  checkpoints: file store in {}",
            config.checkpoint.dir.display()
        ),
        StoreKind::Postgres => {
            config.postgres_url()?;
            let from = match &config.checkpoint.url_file {
                Some(f) => format!("URL from file {}", f.display()),
                None => "URL inline".to_owned(),
            };
            println!(
                "  checkpoints: postgres store, schema {} ({from}), leader lock, takeover within {:?}",
                config.checkpoint.schema, config.checkpoint.takeover_interval
            );
        }
    }
    if let Some(listen) = config.server.listen {
        println!("  server: /metrics, /healthz and /readyz on {listen}");
    }
    for (name, sink) in &config.sinks {
        let what = sink.kind.describe();
        let encoding = sink.encoding();
        let schema = encoding.schema_name();
        let format = match encoding.target() {
            Some(Target::Ocsf { classes, .. }) => format!("{schema} ({classes:?} classes)"),
            None => "raw (Coder's JSON)".to_owned(),
            Some(Target::Ecs | Target::Cef | Target::Leef) => schema,
        };
        let limit = encoding
            .max_event_bytes
            .map(|n| format!(", events cut above {n} bytes"))
            .unwrap_or_default();
        let only = match &sink.streams {
            Some(streams) => {
                let names: Vec<&str> = streams.iter().map(|s| s.name()).collect();
                format!(", streams {}", names.join(", "))
            }
            None => String::new(),
        };
        println!("  sink {name}: {what}, format {format}{limit}{only}");
        if !sink.filter.is_empty() {
            println!(
                "    filter: {} include and {} exclude rules (events left out still move                  its checkpoint)",
                sink.filter.include.len(),
                sink.filter.exclude.len()
            );
        }
        if let Some(advice) = sink.kind.advice() {
            println!("    warning: {advice}");
        }
        let guarantee = sink.kind.guarantee();
        println!(
            "    delivery guarantee: {} ({})",
            guarantee.as_str(),
            guarantee.explain()
        );
    }
    if offline {
        return Ok(());
    }
    let mut failed = Vec::new();
    // Coder: reachable, and the token may read the audit log. Bounded: the client itself
    // retries transient faults for as long as it takes.
    let coder = tokio::time::timeout(REACH, async {
        let connected = super::connect(&config)
            .await
            .map_err(|e| format!("{e:#}"))?;
        match connected
            .client
            .audit_page(crate::coder::budget::Purpose::Control, "", 0, 1)
            .await
        {
            // The newest entry alone is over the cap: the token reads the log, and the
            // stream will ship that entry without its oversized fields.
            Ok(_) | Err(crate::coder::CoderError::TooLarge { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
        // The connection log is optional: a Coder without it runs the audit stream alone.
        let connections = if config
            .coder
            .streams
            .contains(&crate::coder::Stream::Connection)
        {
            match connected.client.connection_log_available().await {
                // A 200 proves nothing: Coder answers a reader without the permission
                // with an empty log. Ask the authorization check instead.
                Ok(Ok(())) => match connected.client.may_read_connection_log().await {
                    Ok(true) => Some("the token reads the connection log".to_owned()),
                    Ok(false) => Some(
                        "the token's user may NOT read the connection log (Coder would \
                         answer an empty list): the connection stream will wait until it \
                         may; give the user the Auditor role or a connection_log:read token"
                            .to_owned(),
                    ),
                    Err(e) => return Err(e.to_string()),
                },
                Ok(Err(why)) => Some(format!("the connection stream will be off: {why}")),
                Err(e) => return Err(e.to_string()),
            }
        } else {
            None
        };
        let expiry = super::token_expiry_warning(&connected.client).await;
        Ok::<_, String>((connected.coder_version, connections, expiry))
    })
    .await
    .unwrap_or_else(|_| Err(format!("no answer within {REACH:?}")));
    match coder {
        Ok((version, connections, expiry)) => {
            println!("  coder: reachable ({version}), the token reads the audit log");
            if let Some(c) = connections {
                println!("  coder: {c}");
            }
            if let Some(warning) = expiry {
                println!("  coder: WARNING: {warning}");
            }
        }
        Err(e) => {
            println!("  coder: NOT reachable: {e}");
            failed.push("coder".to_owned());
        }
    }
    if config.checkpoint.store == StoreKind::Postgres {
        let url = config.postgres_url()?;
        let opened = tokio::time::timeout(
            REACH,
            crate::checkpoint::PostgresStore::open(&url, &config.checkpoint.schema),
        )
        .await;
        match opened {
            Ok(Ok(_)) => println!("  checkpoints: PostgreSQL reachable, tables in place"),
            Ok(Err(e)) => {
                println!("  checkpoints: PostgreSQL NOT reachable: {e}");
                failed.push("checkpoint store".to_owned());
            }
            Err(_) => {
                println!("  checkpoints: PostgreSQL: no answer within {REACH:?}");
                failed.push("checkpoint store".to_owned());
            }
        }
    }
    for (name, sink) in &config.sinks {
        let result = match sink
            .build(
                name,
                &config.origin_host(),
                config.streams_of(name),
                // Checked as it writes its first log (an Elasticsearch sink: its index).
                config.streams_of(name).first().copied(),
            )
            .await
        {
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
    if !failed.is_empty() {
        anyhow::bail!(
            "{}: not reachable: {} (use --offline to check the file only)",
            config_path.display(),
            failed.join(", ")
        )
    }
    match test_event {
        Some(only) => send_test_events(&config, config_path, only).await,
        None => Ok(()),
    }
}

/// One test event to each sink (or to `only`), each reported accepted or not.
async fn send_test_events(
    config: &Config,
    config_path: &Path,
    only: Option<&str>,
) -> anyhow::Result<()> {
    let enrichment = config.enrichment(None)?;
    let event = super::test_event::event()?;
    println!(
        "  test event: id {} (resource_type {})",
        event.key,
        super::test_event::RESOURCE_TYPE
    );
    let mut refused = Vec::new();
    for name in config.sinks.keys().filter(|n| only.is_none_or(|o| o == *n)) {
        let encoder = super::encoder(config, &enrichment, name)?;
        match super::test_event::send(config, name, &encoder, &event).await {
            Ok(()) => println!("  sink {name}: test event accepted"),
            Err(e) => {
                println!("  sink {name}: test event NOT accepted: {e}");
                refused.push(name.clone());
            }
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{}: the test event was not accepted by: {}",
            config_path.display(),
            refused.join(", ")
        )
    }
}
