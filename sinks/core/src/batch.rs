//! Records and batches: what a sink is asked to deliver.

use std::sync::Arc;

use bytes::Bytes;

/// One audit event, already encoded in the sink's format (one JSON document, no trailing
/// newline), with the few facts a sink may route or key on.
///
/// `id` is Coder's audit id: the only stable key, so every sink that can use an idempotency
/// key (Kafka message key, S3 object name, HEC `fields`) uses this one.
///
/// The strings are shared, not owned: every sink of a shared read keeps its own copy of
/// the records it has pending, and a copy is then three reference counts, not three
/// allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: Arc<str>,
    /// The event's own time as Unix microseconds, when the entry carried a parseable one.
    pub time_micros: Option<i64>,
    /// Coder's `resource_type` (routing: Kafka topic templates).
    pub resource_type: Option<Arc<str>>,
    /// Coder's `action` (the syslog MSGID).
    pub action: Option<Arc<str>>,
    pub payload: Bytes,
}

/// An ordered group of records delivered, and confirmed, as one unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    records: Vec<Record>,
}

impl Batch {
    pub fn new(records: Vec<Record>) -> Self {
        Self { records }
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// A fingerprint of the records, in order (ids and payload lengths).
    ///
    /// A sink that keeps its progress between attempts (which requests HEC already
    /// took, which records Kafka already has) checks it to tell a retry of the same batch
    /// from the next batch: the retry loop hands it the same batch until it is done.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.records.len().hash(&mut h);
        for r in &self.records {
            r.id.hash(&mut h);
            r.payload.len().hash(&mut h);
        }
        h.finish()
    }

    /// Total payload bytes, for metrics and size-based batching.
    pub fn payload_bytes(&self) -> usize {
        self.records.iter().map(|r| r.payload.len()).sum()
    }
}

impl FromIterator<Record> for Batch {
    fn from_iter<I: IntoIterator<Item = Record>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> Record {
        Record {
            id: id.into(),
            time_micros: None,
            resource_type: None,
            action: None,
            payload: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn the_same_records_have_the_same_fingerprint_and_others_another() {
        let a: Batch = [record("a"), record("b")].into_iter().collect();
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        let reordered: Batch = [record("b"), record("a")].into_iter().collect();
        let shorter: Batch = [record("a")].into_iter().collect();
        assert_ne!(a.fingerprint(), reordered.fingerprint());
        assert_ne!(a.fingerprint(), shorter.fingerprint());
    }
}
