//! Records and batches: what a sink is asked to deliver.

use bytes::Bytes;

/// One audit event, already encoded in the sink's format (one JSON document, no trailing
/// newline), with the few facts a sink may route or key on.
///
/// `id` is Coder's audit id: the only stable key, so every sink that can use an idempotency
/// key (Kafka message key, S3 object name, HEC `fields`) uses this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    /// The event's own time as Unix microseconds, when the entry carried a parseable one.
    pub time_micros: Option<i64>,
    /// Coder's `resource_type` (routing: Kafka topic templates).
    pub resource_type: Option<String>,
    /// Coder's `action` (the syslog MSGID).
    pub action: Option<String>,
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
