//! The broker with real third-party clients: ali-ons 3.12.0 (npm) produces and consumes through
//! a two-shard `ringmq broker` with its embedded nameserver.
//!
//! Method: start the broker as a process on free loopback ports with `shardCount=2`, create the
//! topic with `ringmq admin updateTopic` (ali-ons, unlike the Java client, does not fall back to
//! TBW102 for unknown topics), send three messages with ali-ons' producer, then consume them
//! with its push consumer. The verdict comes from the messages counted: every body, tag and key
//! must arrive. The offsetMsgIds carry the commit-log offset, whose top 16 bits are the shard:
//! the sends must have landed on both shards, through the producer's single connection. Finally
//! the broker is stopped with SIGTERM (a clean stop), restarted on the same store, and a new
//! consumer group still reads the three messages.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use ringmq::protocol::message_id;

fn shard_of(message_id: &str) -> u16 {
    let (_, offset) = message_id::decode(message_id).expect("an offsetMsgId");
    (offset as u64 >> 48) as u16
}

fn received(output: &str) -> Vec<String> {
    output.lines().filter(|line| line.starts_with("RECEIVED ")).map(str::to_string).collect()
}

fn create_topic(scratch: &Scratch, broker: &Broker) {
    let created = run_ringmq(
        &[
            "admin",
            "updateTopic",
            "-n",
            &broker.namesrv,
            "-c",
            "DefaultCluster",
            "-t",
            "TestTopic",
            "-r",
            "8",
            "-w",
            "8",
        ],
        &scratch.0,
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).contains(&format!("create topic to {} success.", broker.address)));
    // The route reaches the nameserver with the broker's immediate re-registration.
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn ali_ons_produces_and_consumes_through_two_shards_and_data_survives_a_clean_restart() {
    let scratch = Scratch::new("broker-ali-ons");
    let mut broker = start_broker(&scratch, "broker-a", "shardCount=2\nflushDiskType=SYNC_FLUSH");
    create_topic(&scratch, &broker);

    let produced = run_node("producer.js", &[], &broker.namesrv);
    let results: Vec<serde_json::Value> = produced
        .lines()
        .filter_map(|line| line.strip_prefix("SEND_RESULT "))
        .map(|json| serde_json::from_str(json).unwrap())
        .collect();
    assert_eq!(results.len(), 3, "{produced}");
    let mut shards = BTreeSet::new();
    for result in &results {
        assert_eq!(result["sendStatus"], "SEND_OK");
        shards.insert(shard_of(result["msgId"].as_str().unwrap()));
    }
    assert_eq!(shards, BTreeSet::from([0, 1]), "one connection sent to queues of both shards");

    let consumed = run_node_with("consume_count.js", &broker.namesrv, &[("EXPECT", "3"), ("RUN_SECS", "60")]);
    let lines = received(&consumed);
    assert_eq!(lines.len(), 3, "{consumed}");
    let bodies: BTreeSet<String> = lines.iter().map(|line| line.rsplit("body=").next().unwrap().to_string()).collect();
    assert_eq!(
        bodies,
        BTreeSet::from(["Hello RocketMQ 0".into(), "Hello RocketMQ 1".into(), "Hello RocketMQ 2".into()])
    );
    for line in &lines {
        assert!(line.contains("tags=TagA") && line.contains("keys=k1"), "{line}");
    }
    let consumed_shards: BTreeSet<u16> =
        lines.iter().map(|line| shard_of(line.split("msgId=").nth(1).unwrap().split(' ').next().unwrap())).collect();
    assert_eq!(consumed_shards, BTreeSet::from([0, 1]), "one consumer connection pulled from both shards");

    // A clean stop (SIGTERM), then a restart on the same store.
    let pid = broker.process.child.id() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    broker.process.wait_for_line("shut down cleanly", Duration::from_secs(30));
    let _ = broker.process.child.wait();
    let config = broker.config.to_str().unwrap().to_string();
    let restarted = start_ringmq(&["broker", "-c", &config], &scratch.0);
    restarted.wait_for_line("boot success. serializeType=JSON and name server is", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let again = run_node_with(
        "consume_count.js",
        &broker.namesrv,
        &[("EXPECT", "3"), ("RUN_SECS", "60"), ("GROUP", "AnotherGroup")],
    );
    assert_eq!(received(&again).len(), 3, "a new group reads the stored messages after the restart: {again}");
}

/// A message the consumer fails comes back through `%RETRY%<group>`: ali-ons sends it back
/// (CONSUMER_SEND_MSG_BACK), the broker stores it in the retry topic with delay level
/// 3 + reconsumeTimes (here 1 s: the broker's `messageDelayLevel` is shortened so the test is
/// quick), the scheduler delivers it when due, and the consumer gets it again with
/// reconsumeTimes 1 and its original topic.
#[test]
fn a_failed_message_comes_back_through_the_retry_topic_after_its_delay() {
    let scratch = Scratch::new("broker-retry");
    let broker = start_broker(&scratch, "broker-r", "shardCount=2\nmessageDelayLevel=1s 1s 1s 1s 1s 1s");
    create_topic(&scratch, &broker);
    let produced = run_node("producer.js", &[], &broker.namesrv);
    assert_eq!(produced.lines().filter(|line| line.contains("SEND_OK")).count(), 3);
    let consumed = run_node_with("consume_retry.js", &broker.namesrv, &[("EXPECT", "3"), ("RUN_SECS", "90")]);
    let redelivered: BTreeSet<String> = consumed
        .lines()
        .filter(|line| line.starts_with("RECEIVED reconsumeTimes=1 topic=TestTopic "))
        .map(|line| line.rsplit("body=").next().unwrap().to_string())
        .collect();
    assert_eq!(redelivered.len(), 3, "every failed message came back once: {consumed}");
}
