//! Which partition each record of a page goes to: its class's source and its event's day,
//! in time order. Only `class_uid` and `time` are read here; the whole event is parsed once
//! more, when it is conformed to its row ([`crate::stage`]).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use sink_core::{DeadRecord, Record};

/// A row of an object: its event time and its record's index in the batch.
pub type Row = (DateTime<Utc>, usize);

/// One object to write: a class, a day, and the records' indices sorted by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub class_uid: u32,
    pub day: NaiveDate,
    /// (time, index in the batch), by time; ties keep the batch's order.
    pub rows: Vec<Row>,
}

/// The batch's objects, by (class, day), and the records that have none.
#[derive(Debug, Default)]
pub struct Routes {
    pub objects: Vec<Route>,
    pub dead: Vec<DeadRecord>,
}

#[derive(Deserialize)]
struct Head {
    class_uid: Option<u32>,
    /// OCSF `time`: milliseconds since the epoch.
    time: Option<i64>,
}

/// Route `records`; a class with no source in `mapped` is dead-lettered (the operator chose
/// `unmapped_class = "skip"`: the config was refused otherwise).
pub fn route(records: &[Record], mapped: impl Fn(u32) -> bool) -> Routes {
    let mut by_key: BTreeMap<(u32, NaiveDate), Vec<Row>> = BTreeMap::new();
    let mut dead = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let head: Head = match serde_json::from_slice(&record.payload) {
            Ok(h) => h,
            Err(e) => {
                dead.push(DeadRecord {
                    index,
                    reason: format!("not an OCSF event: {e}"),
                });
                continue;
            }
        };
        let Some(class_uid) = head.class_uid else {
            dead.push(DeadRecord {
                index,
                reason: "no class_uid: not an OCSF event".into(),
            });
            continue;
        };
        if !mapped(class_uid) {
            dead.push(DeadRecord {
                index,
                reason: format!(
                    "OCSF class {class_uid} has no custom source in `sources` (unmapped_class = \"skip\")"
                ),
            });
            continue;
        }
        let time = head
            .time
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .or_else(|| {
                record
                    .time_micros
                    .and_then(|m| Utc.timestamp_micros(m).single())
            });
        let Some(time) = time else {
            dead.push(DeadRecord {
                index,
                reason: "no event time: an object's eventDay cannot be chosen".into(),
            });
            continue;
        };
        by_key
            .entry((class_uid, time.date_naive()))
            .or_default()
            .push((time, index));
    }
    let objects = by_key
        .into_iter()
        .map(|((class_uid, day), mut rows)| {
            rows.sort_by_key(|(t, i)| (*t, *i));
            Route {
                class_uid,
                day,
                rows,
            }
        })
        .collect();
    Routes { objects, dead }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &str) -> Record {
        Record {
            id: "x".into(),
            time_micros: None,
            resource_type: None,
            action: None,
            payload: payload.to_owned().into(),
        }
    }

    const DAY1: i64 = 1_772_841_600_000; // 2026-03-07T00:00:00Z

    #[test]
    fn records_go_by_class_and_day_in_time_order() {
        let records = [
            record(&format!(r#"{{"class_uid":3002,"time":{}}}"#, DAY1 + 5)),
            record(&format!(r#"{{"class_uid":6003,"time":{}}}"#, DAY1 + 1)),
            record(&format!(r#"{{"class_uid":3002,"time":{}}}"#, DAY1 + 2)),
            record(&format!(r#"{{"class_uid":3002,"time":{}}}"#, DAY1 - 1)),
            record(&format!(r#"{{"class_uid":3002,"time":{}}}"#, DAY1 + 2)),
        ];
        let routes = route(&records, |_| true);
        assert!(routes.dead.is_empty());
        let shape: Vec<(u32, String, Vec<usize>)> = routes
            .objects
            .iter()
            .map(|r| {
                (
                    r.class_uid,
                    r.day.to_string(),
                    r.rows.iter().map(|(_, i)| *i).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (3002, "2026-03-06".into(), vec![3]),
                (3002, "2026-03-07".into(), vec![2, 4, 0]),
                (6003, "2026-03-07".into(), vec![1]),
            ]
        );
    }

    #[test]
    fn what_has_no_object_is_dead_lettered_with_its_reason() {
        let records = [
            record("not json"),
            record(r#"{"time":1}"#),
            record(&format!(r#"{{"class_uid":4007,"time":{DAY1}}}"#)),
            record(r#"{"class_uid":3002}"#),
            record(&format!(r#"{{"class_uid":3002,"time":{DAY1}}}"#)),
        ];
        let routes = route(&records, |c| c != 4007);
        let dead: Vec<usize> = routes.dead.iter().map(|d| d.index).collect();
        assert_eq!(dead, [0, 1, 2, 3]);
        assert!(routes.dead[2].reason.contains("4007"), "{:?}", routes.dead);
        assert_eq!(routes.objects.len(), 1);
    }
}
