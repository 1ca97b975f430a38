//! Making a sink's records from events: Coder's bytes as they came (`raw`), or the
//! normalized ECS/OCSF documents.

use chrono::Utc;
use sink_core::{Batch, Record};

use crate::coder::Event;
use crate::normalize::Normalizer;

/// How a sink's records are made from events.
#[derive(Debug, Clone)]
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
                        id: e.key.to_string(),
                        time_micros: e.time.map(|t| t.timestamp_micros()),
                        resource_type: e.entry.resource_type.clone(),
                        action: e.entry.action.clone(),
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
                    let id = e.key.to_string();
                    for encoded in n.encode(&e.entry, read_at) {
                        if encoded.truncated {
                            truncated += 1;
                            tracing::warn!(
                                id = %id,
                                bytes = encoded.payload.len(),
                                over_limit = encoded.over_limit,
                                "event cut to fit max_event_bytes"
                            );
                        }
                        records.push(Record {
                            id: id.clone(),
                            time_micros: e.time.map(|t| t.timestamp_micros()),
                            resource_type: e.entry.resource_type.clone(),
                            action: e.entry.action.clone(),
                            payload: encoded.payload.into(),
                        });
                    }
                }
                (Batch::new(records), truncated)
            }
        }
    }
}
