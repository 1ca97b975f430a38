//! Normalization: each Coder audit entry as the schema a sink's SIEM searches by — Elastic
//! Common Schema 9.4 ([`ecs`]) or OCSF 1.8.0 / 1.1.0 ([`ocsf`]) — or as the CEF ([`cef`])
//! and LEEF ([`leef`]) lines syslog-fed SIEMs parse.
//!
//! Pure functions of the lenient entry, the operator's [`Enrichment`] and the read time: no
//! I/O, so the same entry encodes the same way in `run`, `backfill` and `tap`, and the
//! conformance tests exercise exactly what ships. The mapping is `schemas/NOTES.md` §5;
//! [`classify`] holds its action × resource table, [`facts`] the per-field rules both
//! schemas share, [`diff`] the secret redaction and list changes.
//!
//! An event larger than a sink's `max_event_bytes` is cut down by leaving out diff fields
//! (largest first) and then `additional_fields`, and marked truncated; it is never dropped.

pub mod agent_session;
pub mod cef;
pub mod classify;
pub mod connection;
pub mod diff;
pub mod ecs;
mod enrich;
pub mod facts;
pub mod geoip;
pub(crate) mod json;
pub mod leef;
pub mod looked_up;
pub mod ocsf;
pub mod ocsf_types;
pub mod outcome;
pub mod text;
mod time;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use classify::{Class, ClassStrategy};
pub use enrich::Enrichment;
pub use facts::Facts;
pub use ocsf::OcsfVersion;

use crate::coder::{AuditEntry, ConnectionEvent};
use connection::{ConnectionFacts, Moment};
use diff::Keep;

/// The schema a sink receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Ecs,
    Ocsf {
        version: OcsfVersion,
        classes: ClassStrategy,
    },
    /// A CEF line (syslog bodies for ArcSight, Sentinel).
    Cef,
    /// A LEEF 2.0 line (syslog bodies for QRadar).
    Leef,
}

/// How an event was cut to fit `max_event_bytes`, or read without the fields of an entry
/// larger than `coder.max_response_bytes`; emitted in the event so a reader knows it is
/// not the whole record (`coder.audit.truncation`, `unmapped.coder.truncation`, beside
/// `coder.truncated` / `unmapped.coder.truncated`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Truncation {
    /// The event's size before it was cut; for an oversized entry, the entry's size as
    /// Coder sent it.
    pub original_bytes: usize,
    pub diff_fields_omitted: usize,
    pub additional_fields_omitted: bool,
    /// Fields of the Coder entry itself that were never read: it was larger than
    /// `coder.max_response_bytes` (see `coder::skim`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry_fields_omitted: Vec<String>,
}

impl Truncation {
    /// What an oversized entry was read without, before any cut of the event.
    fn of_entry(entry: &AuditEntry) -> Option<Self> {
        entry.oversized.as_ref().map(|o| Truncation {
            original_bytes: usize::try_from(o.original_bytes).unwrap_or(usize::MAX),
            diff_fields_omitted: 0,
            additional_fields_omitted: false,
            entry_fields_omitted: o.fields_omitted.clone(),
        })
    }
}

/// What an encoding leaves out (nothing, unless the event was too large).
#[derive(Debug, Clone, Default)]
pub struct Trim {
    pub keep: Keep,
    pub drop_additional: bool,
    pub truncation: Option<Truncation>,
}

/// One encoded event.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub payload: Vec<u8>,
    /// Cut down to fit `max_event_bytes`.
    pub truncated: bool,
    /// Still larger than `max_event_bytes` with every diff field and `additional_fields`
    /// left out (a huge description or user agent); shipped as is for the sink to judge.
    pub over_limit: bool,
}

impl Encoded {
    fn whole(payload: Vec<u8>) -> Self {
        Encoded {
            payload,
            truncated: false,
            over_limit: false,
        }
    }
}

/// OCSF `severity_id`, mirrored in ECS `event.severity` (a policy choice, §5.3): a refused
/// login or registration is Medium, any other refused or failed request Low, everything
/// else Informational (a session whose process exited non-zero included).
pub fn severity(facts: &Facts<'_>) -> u32 {
    use outcome::{Outcome, Status};
    match (facts.outcome, facts.status, facts.action) {
        (Outcome::Failure, Status::Http(401 | 403), "login" | "register") => 3,
        (Outcome::Failure, Status::Http(_), _) => 2,
        _ => 1,
    }
}

/// [`severity`] on the 0–10 scale of CEF and LEEF: Informational 1, Low 3, Medium 6.
pub fn severity_0_to_10(facts: &Facts<'_>) -> u32 {
    match severity(facts) {
        1 => 1,
        2 => 3,
        _ => 6,
    }
}

/// Encodes entries for one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalizer {
    pub target: Target,
    pub enrich: Enrichment,
    pub max_event_bytes: Option<usize>,
}

impl Normalizer {
    pub fn new(target: Target, enrich: Enrichment, max_event_bytes: Option<usize>) -> Self {
        Self {
            target,
            enrich,
            max_event_bytes,
        }
    }

    /// The events of one entry, serialized (one for ECS; one or more for OCSF).
    pub fn encode(&self, entry: &AuditEntry, read_at: DateTime<Utc>) -> Vec<Encoded> {
        let facts = Facts::of(entry);
        match self.target {
            // Key fields only, no diff: a line stays small whatever the entry holds.
            Target::Cef => vec![Encoded::whole(cef::line(&facts, &self.enrich).into_bytes())],
            Target::Leef => vec![Encoded::whole(
                leef::line(&facts, &self.enrich).into_bytes(),
            )],
            Target::Ecs => vec![self.fit(&facts, |trim| {
                to_vec(&ecs::document(&facts, &self.enrich, read_at, trim))
            })],
            Target::Ocsf { version, classes } => {
                let ctx = ocsf::Context {
                    version,
                    enrich: &self.enrich,
                    read_at,
                };
                let activities = ocsf::activities(&facts, classes, version);
                let count = activities.len();
                activities
                    .iter()
                    .enumerate()
                    .map(|(index, activity)| {
                        let nth = ocsf::Nth { index, count };
                        self.fit(&facts, |trim| match activity.class {
                            Class::SshActivity | Class::NetworkActivity => to_vec(
                                &agent_session::ocsf_event(&facts, activity, nth, &ctx, trim),
                            ),
                            _ => to_vec(&ocsf::event(&facts, activity, nth, &ctx, trim)),
                        })
                    })
                    .collect()
            }
        }
    }

    /// The events of one connection-log event, each with the moment it reports: one, or
    /// two for a session first seen after it ended. They are small and never cut down; one
    /// over `max_event_bytes` is marked so, for the sink to judge.
    pub fn encode_connection(
        &self,
        event: &ConnectionEvent,
        read_at: DateTime<Utc>,
    ) -> Vec<(Moment, Encoded)> {
        Moment::of(event.phase)
            .iter()
            .map(|&moment| {
                let f = ConnectionFacts::of(event, moment);
                let payload = match self.target {
                    Target::Ecs => to_vec(&connection::ecs_document(&f, &self.enrich, read_at)),
                    Target::Ocsf { version, .. } => {
                        to_vec(&connection::ocsf_event(&f, version, &self.enrich, read_at))
                    }
                    Target::Cef => connection::cef_line(&f, &self.enrich).into_bytes(),
                    Target::Leef => connection::leef_line(&f, &self.enrich).into_bytes(),
                };
                let over_limit = self.max_event_bytes.is_some_and(|max| payload.len() > max);
                (
                    moment,
                    Encoded {
                        payload,
                        truncated: false,
                        over_limit,
                    },
                )
            })
            .collect()
    }

    /// The events of one entry as JSON values (for tests and tools that inspect them).
    pub fn to_values(&self, entry: &AuditEntry, read_at: DateTime<Utc>) -> Vec<Value> {
        self.encode(entry, read_at)
            .into_iter()
            .map(|e| serde_json::from_slice(&e.payload).unwrap_or(Value::Null))
            .collect()
    }

    /// Serialize with `build`, leaving out diff fields and then `additional_fields` until
    /// the event fits `max_event_bytes`. Small fields are kept first: a 300 KB template
    /// diff goes, the `status` change beside it stays.
    fn fit(&self, facts: &Facts<'_>, build: impl Fn(&Trim) -> Vec<u8>) -> Encoded {
        let oversized = Truncation::of_entry(facts.entry);
        let full = build(&Trim {
            truncation: oversized.clone(),
            ..Trim::default()
        });
        let Some(max) = self.max_event_bytes.filter(|max| full.len() > *max) else {
            return Encoded {
                payload: full,
                truncated: oversized.is_some(),
                over_limit: false,
            };
        };
        let original_bytes = oversized.as_ref().map_or(full.len(), |o| o.original_bytes);
        let entry_fields_omitted = oversized
            .map(|o| o.entry_fields_omitted)
            .unwrap_or_default();
        let mut sizes = facts
            .entry
            .diff
            .as_ref()
            .map(diff::field_sizes)
            .unwrap_or_default();
        sizes.sort_by_key(|(_, size)| *size);
        let mut last = full;
        let has_additional = facts.additional_fields().is_some();
        for drop_additional in [false, true] {
            if drop_additional && !has_additional {
                break;
            }
            let trim_with = |kept: &[(&str, usize)]| Trim {
                keep: Keep::Only(kept.iter().map(|(f, _)| (*f).to_owned()).collect()),
                drop_additional,
                truncation: Some(Truncation {
                    original_bytes,
                    diff_fields_omitted: sizes.len() - kept.len(),
                    additional_fields_omitted: drop_additional,
                    entry_fields_omitted: entry_fields_omitted.clone(),
                }),
            };
            let base = build(&trim_with(&[])).len();
            let mut budget = max.saturating_sub(base);
            let mut kept: Vec<(&str, usize)> = Vec::new();
            for (field, size) in &sizes {
                if *size <= budget {
                    budget -= size;
                    kept.push((field, *size));
                }
            }
            loop {
                last = build(&trim_with(&kept));
                if last.len() <= max {
                    return Encoded {
                        payload: last,
                        truncated: true,
                        over_limit: false,
                    };
                }
                // The estimate was off by a few bytes: give up the largest kept field.
                if kept.pop().is_none() {
                    break;
                }
            }
        }
        Encoded {
            payload: last,
            truncated: true,
            over_limit: true,
        }
    }
}

/// Room for a typical document (ECS and OCSF events of the sample pages are 1.5 to 3 KiB).
const DOCUMENT_CAPACITY: usize = 4096;

thread_local! {
    /// Where each document is written before it is copied out at its size: growing a new
    /// vector from empty re-allocated and copied each document five or six times, and
    /// shrinking one made at `DOCUMENT_CAPACITY` re-allocated and copied it once more
    /// (4 % of an ECS backfill's instructions; BENCHMARKS.md, "Writing the documents").
    static SCRATCH: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(DOCUMENT_CAPACITY));
}

fn to_vec(value: &impl Serialize) -> Vec<u8> {
    // Our documents have string keys only and borrow valid JSON values, so serializing to
    // a Vec cannot fail; should that ever change, say so loudly rather than panic.
    let written = SCRATCH.with(|scratch| {
        // A document that serializes another one inside itself (none does) finds the
        // scratch taken, and writes into a vector of its own.
        let mut own = Vec::new();
        let mut borrowed = scratch.try_borrow_mut();
        let out = match borrowed.as_mut() {
            Ok(scratch) => &mut **scratch,
            Err(_) => &mut own,
        };
        out.clear();
        let written = json::to_writer(out, value).map(|()| out.to_vec());
        // A huge document must not pin its buffer for the life of the thread.
        if out.capacity() > 16 * DOCUMENT_CAPACITY {
            *out = Vec::with_capacity(DOCUMENT_CAPACITY);
        }
        written
    });
    match written {
        Ok(bytes) => bytes,
        Err(e) => error_document(&e.to_string()),
    }
}

/// What a sink ships in place of a document that could not be written: still valid JSON,
/// whatever the serializer's message holds.
fn error_document(reason: &str) -> Vec<u8> {
    let message = format!("cannot serialize a normalized event: {reason}");
    tracing::error!("{message}");
    let mut out = br#"{"error":"#.to_vec();
    json::write_str(&mut out, &message);
    out.push(b'}');
    out
}

#[cfg(test)]
#[test]
fn a_document_that_cannot_be_written_becomes_a_valid_error_document() {
    // A tuple key is refused by the writer (JSON keys are strings); its message, and any
    // message with quotes, backslashes or controls, must still make valid JSON.
    let refused = std::collections::BTreeMap::from([((1, "\"\u{1}"), 2)]);
    let doc: serde_json::Value = serde_json::from_slice(&to_vec(&refused)).expect("valid JSON");
    let reason = doc["error"].as_str().expect("an error message");
    assert!(
        reason.starts_with("cannot serialize a normalized event: "),
        "{reason}"
    );
    let quoted: serde_json::Value =
        serde_json::from_slice(&error_document("a \"quoted\" \\ reason\n")).expect("valid JSON");
    assert_eq!(
        quoted["error"],
        "cannot serialize a normalized event: a \"quoted\" \\ reason\n"
    );
}

/// Leave out nulls, and objects and arrays left empty: every field is optional, and an
/// absent value must not reach a schema as `null` or `{}`.
pub(crate) fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => {
            m.retain(|_, v| prune(v));
            !m.is_empty()
        }
        Value::Array(a) => {
            a.retain_mut(prune);
            !a.is_empty()
        }
        _ => true,
    }
}
