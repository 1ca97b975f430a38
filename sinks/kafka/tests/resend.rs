//! What a retry sends, against librdkafka's own mock cluster (`rd_kafka_mock_cluster`,
//! librdkafka's "Mock cluster" in its TESTING docs): the only Kafka peer here that can take
//! one partition's leader down while another's stays up, which is what a batch that partly
//! fails needs. Tansu (the real broker of the workspace tests) has one node.

use std::time::Duration;

use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, Offset, TopicPartitionList};
use sink_core::{Batch, Delivery, Record, Sink};
use sink_kafka::progress::MISSING_TOPIC_ATTEMPTS;
use sink_kafka::{Compression, KafkaSettings, KafkaSink, MessageTime, TopicTemplate};

fn record(n: usize, resource_type: &str) -> Record {
    Record {
        id: format!("{resource_type}-{n}").into(),
        time_micros: Some(1_700_000_000_000_000),
        resource_type: Some(resource_type.into()),
        action: Some("write".into()),
        payload: Bytes::from(format!("{{\"n\":{n}}}")),
    }
}

fn sink(brokers: String) -> KafkaSink {
    sink_with(brokers, &[])
}

fn sink_with(brokers: String, librdkafka: &[(&str, &str)]) -> KafkaSink {
    KafkaSink::new(
        "stream",
        KafkaSettings {
            brokers,
            topic: TopicTemplate::parse("t-{resource_type}").unwrap(),
            compression: Compression::None,
            message_timeout: Duration::from_secs(2),
            timestamp: MessageTime::Now,
            format: "raw".into(),
            schema: "coder".into(),
            librdkafka: librdkafka
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        },
    )
    .unwrap()
}

/// Every message key in `topic`'s partition 0, copies included.
fn keys(brokers: &str, topic: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "resend-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut keys = Vec::new();
    let mut quiet = 0;
    while quiet < 3 {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                quiet = 0;
                keys.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
            }
            Some(Err(e)) => panic!("consuming {topic}: {e}"),
            None => quiet += 1,
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_sends_only_the_records_whose_delivery_failed() {
    let cluster = MockCluster::new(2).unwrap();
    cluster.create_topic("t-a", 1, 1).unwrap();
    cluster.create_topic("t-b", 1, 1).unwrap();
    cluster.partition_leader("t-a", 0, Some(1)).unwrap();
    cluster.partition_leader("t-b", 0, Some(2)).unwrap();
    let brokers = cluster.bootstrap_servers();
    let batch: Batch = (0..5)
        .map(|n| record(n, "a"))
        .chain((0..5).map(|n| record(n, "b")))
        .collect();
    let mut sink = sink(brokers.clone());

    // t-b's leader is down: its records time out, t-a's are written.
    cluster.broker_down(2).unwrap();
    let first = sink.deliver(&batch).await;
    assert!(matches!(first, Delivery::Retry { .. }), "{first:?}");
    cluster.broker_up(2).unwrap();
    let second = sink.deliver(&batch).await;
    assert_eq!(second, Delivery::Delivered);

    let mut a = keys(&brokers, "t-a");
    let mut b = keys(&brokers, "t-b");
    a.sort();
    b.sort();
    let expected = |t: &str| (0..5).map(|n| format!("{t}-{n}")).collect::<Vec<_>>();
    assert_eq!(
        a,
        expected("a"),
        "t-a's records were written once, not again"
    );
    assert_eq!(b, expected("b"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_the_cluster_does_not_have_stops_the_sink_after_a_few_attempts_naming_it() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t-a", 1, 1).unwrap();
    // Metadata for t-new says UNKNOWN_TOPIC_OR_PART, as a cluster with auto-creation off
    // does for a resource type nobody made a topic for. librdkafka (2.12) reports the
    // broker's error for its messages once `topic.metadata.propagation.max.ms` has passed.
    cluster
        .topic_error(
            "t-new",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        )
        .unwrap();
    let brokers = cluster.bootstrap_servers();
    let mut sink = sink_with(
        brokers.clone(),
        &[("topic.metadata.propagation.max.ms", "300")],
    );
    let batch: Batch = [record(0, "a"), record(0, "new")].into_iter().collect();
    let mut outcomes = Vec::new();
    for _ in 0..MISSING_TOPIC_ATTEMPTS + 2 {
        let d = sink.deliver(&batch).await;
        let stop = !matches!(d, Delivery::Retry { .. });
        outcomes.push(d);
        if stop {
            break;
        }
    }
    let last = outcomes.last().unwrap();
    assert_eq!(outcomes.len(), MISSING_TOPIC_ATTEMPTS, "{outcomes:?}");
    assert!(
        matches!(last, Delivery::Reject { reason } if reason.contains("\"t-new\"") && reason.contains("UNKNOWN_TOPIC_OR_PART")),
        "{last:?}"
    );
    // Meanwhile t-a's record was written once, not once per attempt.
    assert_eq!(keys(&brokers, "t-a"), vec!["a-0".to_owned()]);
}
