//! What a sink's confirmation of a batch means, as the sink is configured: the one word
//! `validate` prints, `/metrics` exposes (`component_delivery_guarantee_info`) and
//! RELIABILITY.md tables. A stream's checkpoint moves on exactly this, so an operator
//! should know which it is (HEC without `ack` is only "accepted").

/// What a sink's confirmation of a batch means (each sink says which, by its settings:
/// [`crate::SinkSpec::guarantee`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryGuarantee {
    /// `write` then `fdatasync` returned: on the local disk.
    Synced,
    /// Written to standard output: as safe as whatever reads it.
    Written,
    /// Kafka `acks=all`: on every in-sync replica.
    Replicated,
    /// S3 answered the PUT (or CompleteMultipartUpload) with 200: stored durably.
    Stored,
    /// HEC indexer acknowledgement said `true`: indexed and replicated per the index's
    /// settings ("About HTTP Event Collector Indexer Acknowledgment").
    Indexed,
    /// HEC answered 200 without acknowledgement, which "only means that the event data
    /// appears to be valid" (Splunk, "About HTTP Event Collector Indexer
    /// Acknowledgment"): an outage before indexing can still lose it. Turn on `ack` where
    /// the token allows it (Splunk Cloud offers it only for Kinesis Firehose).
    Accepted,
    /// Elasticsearch's bulk item said `created` (or 409: already there): the primary
    /// shard has it in its translog, fsynced before the answer under the default
    /// `index.translog.durability: request` ("Translog" settings).
    Created,
    /// An HTTP intake answered 2xx. What it promises by that is its own (Datadog's 202
    /// "accepted for processing"); none of the ones we configure acknowledges indexing.
    Answered,
    /// Syslog over TCP, TLS or UDP: handed to the kernel; no application acknowledgement
    /// (RFC 5425/6587 define none), so a receiver that dies may lose the last bytes.
    Sent,
}

impl DeliveryGuarantee {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryGuarantee::Synced => "synced",
            DeliveryGuarantee::Written => "written",
            DeliveryGuarantee::Replicated => "replicated",
            DeliveryGuarantee::Stored => "stored",
            DeliveryGuarantee::Indexed => "indexed",
            DeliveryGuarantee::Accepted => "accepted",
            DeliveryGuarantee::Created => "created",
            DeliveryGuarantee::Answered => "answered",
            DeliveryGuarantee::Sent => "sent",
        }
    }

    /// One line for `validate`.
    pub fn explain(self) -> &'static str {
        match self {
            DeliveryGuarantee::Synced => "a batch counts once written and fsynced",
            DeliveryGuarantee::Written => "a batch counts once written to stdout",
            DeliveryGuarantee::Replicated => {
                "a batch counts once every in-sync replica has it (acks=all)"
            }
            DeliveryGuarantee::Stored => "a batch counts once S3 stored its object",
            DeliveryGuarantee::Indexed => {
                "a batch counts once Splunk's indexer acknowledgement says it is indexed"
            }
            DeliveryGuarantee::Accepted => {
                "a batch counts once HEC accepted it (200), not once indexed: an indexer failure can still lose it; set ack = true where the token allows"
            }
            DeliveryGuarantee::Created => {
                "a batch counts once Elasticsearch created (or already had) every document: in the primary shard's translog"
            }
            DeliveryGuarantee::Answered => {
                "a batch counts once the intake answered 2xx: what it does with it after is its own"
            }
            DeliveryGuarantee::Sent => {
                "a batch counts once the kernel took it: syslog has no acknowledgement"
            }
        }
    }
}
