//! Which records go to which object, and what the object is called.
//!
//! Partitions (`year=%Y/month=%m/day=%d/`) come from each record's event time, never the
//! wall clock: a backfill of January lands in January. A batch spanning two partitions
//! becomes two objects. The name is the first record's time, the sink's name, and a digest
//! of the first and last ids and the count, so the same batch sent again (a retry, or a
//! re-run backfill with the same batching) overwrites its object instead of adding a
//! duplicate, and two sinks writing one bucket and prefix (raw and OCSF, say) never
//! overwrite each other's objects: S3 keeps the last write of a key (there is no
//! conditional write in this sink), so a shared key would lose one sink's batch.

use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};
use sink_core::{Batch, Record};

/// Whether `key_prefix` is a strftime template chrono can render (an invalid one would
/// fail every batch).
pub fn valid_key_prefix(key_prefix: &str) -> bool {
    use chrono::format::{Item, StrftimeItems};
    !StrftimeItems::new(key_prefix).any(|i| matches!(i, Item::Error))
}

/// One object's records, in batch order.
#[derive(Debug)]
pub struct Object<'a> {
    pub key: String,
    pub records: Vec<&'a Record>,
}

fn time_of(record: &Record) -> Option<DateTime<Utc>> {
    record
        .time_micros
        .and_then(|m| Utc.timestamp_micros(m).single())
}

/// Split `batch` into objects. A record with no parseable time files with the record
/// before it (or, first in the batch, with the first timed record; failing that, `now`).
pub fn split<'a>(
    batch: &'a Batch,
    key_prefix: &str,
    writer: &str,
    extension: &str,
    now: DateTime<Utc>,
) -> Vec<Object<'a>> {
    let writer = key_safe(writer);
    let fallback = batch.records().iter().find_map(time_of).unwrap_or(now);
    let mut groups: Vec<(String, DateTime<Utc>, Vec<&'a Record>)> = Vec::new();
    let mut last_time = fallback;
    for record in batch.records() {
        let t = time_of(record).unwrap_or(last_time);
        last_time = t;
        let prefix = t.format(key_prefix).to_string();
        match groups.iter_mut().find(|(p, _, _)| *p == prefix) {
            Some((_, first, records)) => {
                *first = (*first).min(t);
                records.push(record);
            }
            None => groups.push((prefix, t, vec![record])),
        }
    }
    groups
        .into_iter()
        .map(|(prefix, first, records)| {
            let mut h = Sha256::new();
            if let (Some(a), Some(b)) = (records.first(), records.last()) {
                h.update(a.id.as_bytes());
                h.update([0]);
                h.update(b.id.as_bytes());
            }
            h.update((records.len() as u64).to_be_bytes());
            let digest = h.finalize();
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            Object {
                key: format!(
                    "{prefix}{}-{writer}-{hex}.{extension}",
                    first.format("%Y%m%dT%H%M%S%.6fZ")
                ),
                records,
            }
        })
        .collect()
}

/// `name` in the characters AWS's object key guidelines call safe everywhere (letters,
/// digits, `-`, `_`, `.`); anything else as `_`.
pub fn key_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, t: Option<&str>) -> Record {
        Record {
            id: id.into(),
            time_micros: t.map(|t| DateTime::parse_from_rfc3339(t).unwrap().timestamp_micros()),
            resource_type: None,
            action: None,
            payload: "{}".into(),
        }
    }

    const PREFIX: &str = "coder/audit/year=%Y/month=%m/day=%d/";

    #[test]
    fn key_prefixes_are_checked() {
        assert!(valid_key_prefix(PREFIX));
        assert!(!valid_key_prefix("audit/%Q/"));
    }

    #[test]
    fn partitions_come_from_event_time_and_names_from_the_batch() {
        let batch = Batch::new(vec![
            rec("a", Some("2026-01-31T23:59:59.5Z")),
            rec("b", None),
            rec("c", Some("2026-02-01T00:00:01Z")),
        ]);
        let now = Utc::now();
        let objects = split(&batch, PREFIX, "archive", "ndjson.gz", now);
        assert_eq!(objects.len(), 2);
        assert!(
            objects[0]
                .key
                .starts_with("coder/audit/year=2026/month=01/day=31/20260131T235959.500000Z-")
        );
        assert_eq!(
            objects[0]
                .records
                .iter()
                .map(|r| &*r.id)
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(
            objects[1]
                .key
                .starts_with("coder/audit/year=2026/month=02/day=01/")
        );
        // The same batch, later: the same names.
        let again = split(
            &batch,
            PREFIX,
            "archive",
            "ndjson.gz",
            now + chrono::TimeDelta::hours(5),
        );
        assert_eq!(
            objects.iter().map(|o| &o.key).collect::<Vec<_>>(),
            again.iter().map(|o| &o.key).collect::<Vec<_>>()
        );
        // A different batch with the same first record: another name.
        let other = Batch::new(vec![
            rec("a", Some("2026-01-31T23:59:59.5Z")),
            rec("z", None),
        ]);
        assert_ne!(
            split(&other, PREFIX, "archive", "ndjson.gz", now)[0].key,
            objects[0].key
        );
        // The same batch from another sink on the same bucket and prefix: another name.
        let theirs = split(&batch, PREFIX, "ocsf-lake", "ndjson.gz", now);
        assert_eq!(theirs.len(), objects.len());
        for (mine, theirs) in objects.iter().zip(&theirs) {
            assert_ne!(mine.key, theirs.key);
            assert!(theirs.key.contains("-ocsf-lake-"), "{}", theirs.key);
        }
        assert!(objects[0].key.contains("Z-archive-"), "{}", objects[0].key);
    }
}
