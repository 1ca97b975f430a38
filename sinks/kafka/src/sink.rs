//! Producing a batch: enqueue every record, then wait for every delivery report. Only when
//! all are in does the batch count as delivered (and the checkpoint move). A retry
//! enqueues only the records whose report failed (see [`crate::progress`]).

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sink_core::{Batch, DeadRecord, Delivery, Sink};

use crate::config::{ConfigError, KafkaSettings, MessageTime};

/// The header holding the event's time, epoch milliseconds, whatever the message
/// timestamp is (see [`MessageTime`]).
pub const EVENT_TIME_HEADER: &str = "coder-audit-event-time";
use crate::context::QuietContext;
use crate::outcome::{Outcome, classify};
use crate::progress::Progress;

pub struct KafkaSink {
    name: String,
    config: KafkaSettings,
    producer: FutureProducer<QuietContext>,
    headers: OwnedHeaders,
    /// The last batch failed transiently: start the next attempt with a new producer.
    rebuild: bool,
    /// The batch that failed transiently, with the records the brokers already have.
    progress: Option<Progress>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("creating the Kafka producer: {0}")]
    Producer(#[from] KafkaError),
}

impl KafkaSink {
    pub fn new(name: &str, config: KafkaSettings) -> Result<Self, BuildError> {
        let producer = Self::producer(&config)?;
        let headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            })
            .insert(Header {
                key: "coder-audit-format",
                value: Some(config.format.as_str()),
            })
            .insert(Header {
                key: "coder-audit-schema",
                value: Some(config.schema.as_str()),
            });
        Ok(Self {
            name: name.to_owned(),
            config,
            producer,
            headers,
            rebuild: false,
            progress: None,
        })
    }

    fn producer(config: &KafkaSettings) -> Result<FutureProducer<QuietContext>, BuildError> {
        let config = config.client_config()?;
        config
            .create_with_context(QuietContext::default())
            .map_err(|e| match e {
                // librdkafka's message repeats the value, which may be a password: keep the
                // key and the reason only.
                KafkaError::ClientConfig(_, reason, key, _) => {
                    BuildError::Config(ConfigError::Invalid {
                        key,
                        message: reason,
                    })
                }
                other => BuildError::Producer(other),
            })
    }

    /// A producer that saw a batch time out may hold state the cluster no longer shares
    /// (a broker restarted with fresh storage keeps rejecting the old producer id and
    /// sequence numbers). The resend goes through a new producer; the old one is dropped
    /// off the async threads, since dropping waits for its queue.
    fn renew_producer(&mut self) -> Result<(), BuildError> {
        let fresh = Self::producer(&self.config)?;
        let old = std::mem::replace(&mut self.producer, fresh);
        tokio::task::spawn_blocking(move || drop(old));
        Ok(())
    }
}

/// The worst outcome of an attempt so far: a fatal error beats a transient one, which
/// beats dead letters (which still let the batch count as handled).
#[derive(Default)]
struct Worst {
    fatal: Option<String>,
    transient: Option<String>,
    /// A topic the brokers answered `UNKNOWN_TOPIC_OR_PART` for.
    unknown_topic: Option<String>,
    dead: Vec<DeadRecord>,
}

impl Worst {
    fn record(&mut self, index: usize, topic: &str, error: &KafkaError) {
        match classify(error) {
            Outcome::Fatal
                if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopic) =>
            {
                self.fatal.get_or_insert_with(|| {
                    format!(
                        "Kafka has no topic {topic:?} and does not create it ({error}): create it (every topic the `topic` template names), or allow auto-creation"
                    )
                });
            }
            Outcome::Fatal => {
                self.fatal.get_or_insert_with(|| error.to_string());
            }
            Outcome::Transient => {
                if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) {
                    self.unknown_topic.get_or_insert_with(|| topic.to_owned());
                }
                self.transient.get_or_insert_with(|| error.to_string());
            }
            Outcome::DeadLetter => self.dead.push(DeadRecord {
                index,
                reason: format!("Kafka refused the message for topic {topic:?}: {error}"),
            }),
        }
    }

    /// The attempt's outcome; the records it confirmed or dead-lettered are in `progress`.
    fn into_delivery(self, progress: &mut Progress) -> Delivery {
        for d in &self.dead {
            if let Some(done) = progress.done.get_mut(d.index) {
                *done = true;
            }
        }
        progress.dead.extend(self.dead);
        if let Some(reason) = self.fatal {
            return Delivery::reject(reason);
        }
        if let Some(reason) = self.transient {
            if let Some((topic, attempts)) = progress.failed(self.unknown_topic) {
                return Delivery::reject(format!(
                    "the brokers answered UNKNOWN_TOPIC_OR_PART for topic {topic:?} on \
                     {attempts} attempts in a row ({reason}): create it (every topic the \
                     `topic` template names), or fix `topic`"
                ));
            }
            return Delivery::retry(reason);
        }
        match std::mem::take(&mut progress.dead) {
            dead if dead.is_empty() => Delivery::Delivered,
            dead => Delivery::PartlyDelivered { dead },
        }
    }
}

#[async_trait]
impl Sink for KafkaSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        if std::mem::take(&mut self.rebuild) {
            if let Err(e) = self.renew_producer() {
                self.rebuild = true;
                return Delivery::retry(e.to_string());
            }
        }
        let mut progress = match self.progress.take() {
            Some(p) if p.is_for(batch) => p,
            _ => Progress::new(batch),
        };
        let mut worst = Worst::default();
        let mut reports = Vec::with_capacity(batch.len());
        for (index, r) in batch.records().iter().enumerate() {
            if progress.done[index] {
                continue;
            }
            let topic = self.config.topic.render(r.resource_type.as_deref());
            // The event's time, in milliseconds like a Kafka timestamp; one before 1970
            // (Go's zero time from a broken row) would be refused by the broker.
            let event_millis = r.time_micros.filter(|m| *m >= 0).map(|m| m / 1000);
            let event_time = event_millis.map(|ms| ms.to_string());
            let headers = match &event_time {
                Some(ms) => self.headers.clone().insert(Header {
                    key: EVENT_TIME_HEADER,
                    value: Some(ms.as_str()),
                }),
                None => self.headers.clone(),
            };
            let mut record = FutureRecord::to(&topic)
                .key(r.id.as_bytes())
                .payload(&r.payload[..])
                .headers(headers);
            if let Some(ms) = event_millis.filter(|_| self.config.timestamp == MessageTime::Event) {
                record = record.timestamp(ms);
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(report) => {
                        reports.push((index, topic.clone(), report));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's queue is full: let it drain, then enqueue again.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err((e, _)) => {
                        worst.record(index, &topic, &e);
                        break;
                    }
                }
            }
            if worst.fatal.is_some() || worst.transient.is_some() {
                break;
            }
        }
        for (index, topic, report) in reports {
            match report.await {
                Ok(Ok(_)) => progress.done[index] = true,
                Ok(Err((e, _))) => worst.record(index, &topic, &e),
                Err(_) => {
                    worst
                        .transient
                        .get_or_insert_with(|| "the producer dropped a delivery report".into());
                }
            }
        }
        let delivery = worst.into_delivery(&mut progress);
        self.rebuild = matches!(delivery, Delivery::Retry { .. });
        if self.rebuild {
            self.progress = Some(progress);
        }
        delivery
    }

    /// The brokers answer a metadata request (TLS and SASL included).
    async fn check(&mut self) -> Result<(), String> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(10))
                .map(|_| ())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("Kafka brokers {} did not answer: {e}", self.config.brokers))
    }

    async fn close(&mut self) -> Result<(), String> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("flushing the Kafka producer: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TopicTemplate;
    use crate::config::Compression;

    #[test]
    fn a_rejected_setting_is_named_without_its_value() {
        let config = KafkaSettings {
            brokers: "127.0.0.1:1".into(),
            topic: TopicTemplate::parse("t").unwrap(),
            compression: Compression::Zstd,
            message_timeout: Duration::from_secs(5),
            timestamp: MessageTime::Now,
            format: "raw".into(),
            schema: "coder".into(),
            librdkafka: [("sasl.pasword".to_owned(), "Hunter2-secret".to_owned())].into(),
        };
        let err = KafkaSink::new("stream", config).err().unwrap().to_string();
        assert!(err.contains("sasl.pasword"), "{err}");
        assert!(!err.contains("Hunter2"), "{err}");
    }
}
