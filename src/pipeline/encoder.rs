//! Making a sink's records from events: Coder's bytes as they came (`raw`), or the
//! normalized ECS/OCSF documents.

use chrono::{DateTime, Utc};
use sink_core::{Batch, Record};

use super::Filter;
use crate::coder::{Entry, Event};
use crate::normalize::Normalizer;
use crate::normalize::connection::Moment;

/// How a sink's records are made from events. Two sinks with equal encoders get the same
/// records: a shared reader encodes a group once for both ([`EncodedGroup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoder {
    /// Each entry's bytes exactly as Coder sent them.
    Raw,
    /// ECS or OCSF (one or more records per entry).
    Normalized(Normalizer),
}

impl Encoder {
    /// The batch for `events`, and how many of its records were truncated.
    pub fn encode(&self, events: &[Event]) -> (Batch, u64) {
        match self {
            Encoder::Raw => (
                events
                    .iter()
                    .map(|e| Record {
                        id: e.record_id(),
                        time_micros: e.moment_time().map(|t| t.timestamp_micros()),
                        resource_type: e.resource_type().map(Into::into),
                        action: e.action().map(Into::into),
                        payload: e.raw.clone(),
                    })
                    .collect(),
                0,
            ),
            Encoder::Normalized(n) => {
                // One read time per batch: its records agree on `event.created` /
                // `metadata.processed_time`, and retries resend the same bytes.
                let read_at = Utc::now();
                let mut truncated = 0;
                let mut records = Vec::with_capacity(events.len());
                for e in events {
                    let id = e.key.shared();
                    let resource_type: Option<std::sync::Arc<str>> =
                        e.resource_type().map(Into::into);
                    match &e.entry {
                        Entry::Audit(lazy) => {
                            let entry = lazy.entry();
                            for encoded in n.encode(entry, read_at) {
                                if encoded.truncated {
                                    truncated += 1;
                                    tracing::warn!(
                                        id = %id,
                                        bytes = encoded.payload.len(),
                                        over_limit = encoded.over_limit,
                                        "event not whole: cut to fit max_event_bytes, or its entry was over coder.max_response_bytes"
                                    );
                                }
                                records.push(Record {
                                    id: id.clone(),
                                    time_micros: e.time.map(|t| t.timestamp_micros()),
                                    resource_type: resource_type.clone(),
                                    action: entry.action.as_deref().map(Into::into),
                                    payload: encoded.payload.into(),
                                });
                            }
                        }
                        // Each moment of a session is its own record, with its own id and
                        // time: the disconnect's is when the session ended.
                        Entry::Connection(c) => {
                            for (moment, encoded) in n.encode_connection(c, read_at) {
                                let disconnect = moment == Moment::Disconnect;
                                records.push(Record {
                                    id: e.moment_id(disconnect),
                                    time_micros: e
                                        .time_of(disconnect)
                                        .map(|t| t.timestamp_micros()),
                                    resource_type: resource_type.clone(),
                                    action: Some(moment.action().into()),
                                    payload: encoded.payload.into(),
                                });
                            }
                        }
                    }
                }
                (Batch::new(records), truncated)
            }
        }
    }
}

/// A group of events as one encoding and filter make them, with what a sink counts of it.
#[derive(Debug)]
pub struct EncodedGroup {
    pub batch: Batch,
    /// Records cut to fit `max_event_bytes`.
    pub truncated: u64,
    /// The events the records were made from.
    pub events: u64,
    /// The events the sink's filter left out: handled all the same (the checkpoint moves
    /// past them).
    pub filtered: u64,
    /// The newest event time among all of them, filtered or not.
    pub newest: Option<DateTime<Utc>>,
}

impl EncodedGroup {
    pub fn of(encoder: &Encoder, filter: &Filter, events: &[Event]) -> Self {
        let newest = events.iter().filter_map(|e| e.time).max();
        if filter.is_empty() {
            let (batch, truncated) = encoder.encode(events);
            return EncodedGroup {
                batch,
                truncated,
                events: events.len() as u64,
                filtered: 0,
                newest,
            };
        }
        let admitted: Vec<Event> = events
            .iter()
            .filter(|e| filter.admits(e))
            .cloned()
            .collect();
        let (batch, truncated) = encoder.encode(&admitted);
        EncodedGroup {
            batch,
            truncated,
            events: admitted.len() as u64,
            filtered: (events.len() - admitted.len()) as u64,
            newest,
        }
    }
}

/// A group a shared reader hands to the members of one encoding, encoded by the first of
/// their delivery tasks to need it, once for all of them.
///
/// The shared reader used to encode each group itself before handing it on, so encoding
/// (about 40 % of a normalized event's instructions) ran in turn with fetching and parsing
/// the next page. A sink reading alone overlaps the two: its relay's task encodes while
/// the tailer reads on. Handed unencoded, a shared group's encoding overlaps the same way
/// (BENCHMARKS.md, "The encoding leaves the reader's task").
#[derive(Debug)]
pub struct PendingGroup {
    encoder: Encoder,
    filter: Filter,
    /// Until the group is encoded; dropped then, so a group queued behind a slow sink
    /// holds its records, not its events as well.
    events: std::sync::Mutex<Option<std::sync::Arc<[Event]>>>,
    /// The events' bytes as Coder sent them: what the group weighs in a relay's queue.
    bytes: usize,
    encoded: tokio::sync::OnceCell<EncodedGroup>,
}

impl PendingGroup {
    pub fn new(encoder: &Encoder, filter: &Filter, events: std::sync::Arc<[Event]>) -> Self {
        PendingGroup {
            encoder: encoder.clone(),
            filter: filter.clone(),
            bytes: Event::raw_bytes(&events),
            events: std::sync::Mutex::new(Some(events)),
            encoded: tokio::sync::OnceCell::new(),
        }
    }

    /// The events' bytes as Coder sent them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The group's records: encoded by the first caller while any other waits for it.
    pub async fn encoded(&self) -> &EncodedGroup {
        self.encoded
            .get_or_init(|| async {
                // The events are let go only once encoded (the cell is set in the same
                // poll): an encoding that panicked leaves them for the next caller, never
                // an empty group in their place.
                let events = self.held_events().clone().unwrap_or_default();
                let encoded = EncodedGroup::of(&self.encoder, &self.filter, &events);
                *self.held_events() = None;
                encoded
            })
            .await
    }

    fn held_events(&self) -> std::sync::MutexGuard<'_, Option<std::sync::Arc<[Event]>>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::coder::{Entry, parse_page};
    use crate::normalize::{Enrichment, Target};

    fn events() -> Vec<Event> {
        let body = r#"{"audit_logs":[{"id":"7c9a8f1e-0000-4000-8000-000000000001","time":"2026-01-01T10:00:00Z","resource_type":"workspace","action":"start","user":{"username":"mia"},"diff":{}}],"count":1}"#;
        parse_page(Bytes::from_static(body.as_bytes()))
            .expect("a page")
            .events
    }

    fn whole(events: &[Event]) -> bool {
        events
            .iter()
            .all(|e| matches!(&e.entry, Entry::Audit(a) if a.is_whole()))
    }

    #[test]
    fn raw_records_are_made_from_the_glance_alone() {
        let events = events();
        let (batch, _) = Encoder::Raw.encode(&events);
        let record = &batch.records()[0];
        assert_eq!(&*record.id, "7c9a8f1e-0000-4000-8000-000000000001");
        assert_eq!(record.action.as_deref(), Some("start"));
        assert_eq!(record.resource_type.as_deref(), Some("workspace"));
        assert_eq!(record.payload, events[0].raw);
        assert!(!whole(&events), "raw records never read the whole entry");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pending_group_is_encoded_once_for_every_member_and_then_lets_its_events_go() {
        let events: std::sync::Arc<[Event]> = events().into();
        let ecs = Encoder::Normalized(Normalizer::new(Target::Ecs, Enrichment::default(), None));
        let group = std::sync::Arc::new(PendingGroup::new(&ecs, &Filter::default(), events));
        let members: Vec<_> = (0..3)
            .map(|_| {
                let group = group.clone();
                tokio::spawn(async move {
                    let encoded = group.encoded().await;
                    (encoded as *const EncodedGroup as usize, encoded.batch.len())
                })
            })
            .collect();
        let mut seen = Vec::new();
        for member in members {
            seen.push(member.await.unwrap());
        }
        assert!(seen.iter().all(|s| *s == seen[0]), "one encoding: {seen:?}");
        assert_eq!(seen[0].1, 1);
        assert!(
            group.held_events().is_none(),
            "encoded, the events are let go"
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&group.encoded().await.batch.records()[0].payload).unwrap();
        assert_eq!(doc["user"]["name"], "mia");
    }

    #[test]
    fn normalized_records_read_the_whole_entry_once_for_every_sink_after() {
        let events = events();
        let ecs = Encoder::Normalized(Normalizer::new(Target::Ecs, Enrichment::default(), None));
        let (batch, _) = ecs.encode(&events);
        assert!(whole(&events));
        let doc: serde_json::Value =
            serde_json::from_slice(&batch.records()[0].payload).expect("ECS JSON");
        assert_eq!(doc["user"]["name"], "mia");
        // A second sink sharing the events finds the entry already read.
        let shared = events.clone();
        assert!(whole(&shared));
    }
}
