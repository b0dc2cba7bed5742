//! Consumer groups with a real client (ali-ons 3.12.0): two consumers of one group split the
//! queues and one takes over when the other leaves; two broadcasting consumers each get every
//! message.
//!
//! Method: a two-shard broker, a topic with 8 queues, consumers running as background
//! processes, messages sent with ali-ons' producer. The verdict is the count of messages each
//! consumer printed; waits poll with generous limits, so a slow machine only makes the test
//! slower.

mod common;

use std::time::Duration;

use common::*;

fn create_topic(scratch: &Scratch, broker: &Broker, topic: &str) {
    let created = run_ringmq(
        &["admin", "updateTopic", "-n", &broker.namesrv, "-c", "DefaultCluster", "-t", topic, "-r", "8", "-w", "8"],
        &scratch.0,
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    std::thread::sleep(Duration::from_millis(500));
}

fn produce(broker: &Broker, topic: &str, count: usize, prefix: &str) {
    let count_text = count.to_string();
    let output =
        run_node_with("producer.js", &broker.namesrv, &[("TOPIC", topic), ("COUNT", &count_text), ("PREFIX", prefix)]);
    assert_eq!(output.lines().filter(|line| line.contains("SEND_OK")).count(), count, "{output}");
}

fn received_with(consumer: &NodeProcess, prefix: &str) -> usize {
    consumer.lines.lock().unwrap().iter().filter(|line| line.starts_with("RECEIVED ") && line.contains(prefix)).count()
}

#[test]
fn two_consumers_split_the_queues_and_one_takes_over_when_the_other_leaves() {
    let scratch = Scratch::new("broker-split");
    let broker = start_broker(&scratch, "broker-s", "shardCount=2");
    create_topic(&scratch, &broker, "SplitTopic");
    let environment = [("TOPIC", "SplitTopic"), ("GROUP", "SplitGroup"), ("EXPECT", "100000"), ("RUN_SECS", "240")];
    let first = spawn_node("consume_count.js", &broker.namesrv, &environment);
    let second = spawn_node("consume_count.js", &broker.namesrv, &environment);
    // Both members must be in the group before the messages go out.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    loop {
        round += 1;
        let prefix = format!("Split round {round}");
        produce(&broker, "SplitTopic", 16, &prefix);
        let all = || received_with(&first, &prefix) + received_with(&second, &prefix) >= 16;
        assert!(first.wait_until(Duration::from_secs(90), all), "16 messages consumed by the group");
        if received_with(&first, &prefix) > 0 && received_with(&second, &prefix) > 0 {
            break; // the queues are split between the two
        }
        assert!(std::time::Instant::now() < deadline, "the group never split its queues");
        std::thread::sleep(Duration::from_secs(2));
    }
    let listed = run_ringmq(&["admin", "consumerConnection", "-n", &broker.namesrv, "-g", "SplitGroup"], &scratch.0);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(text.starts_with("#ClientId"), "{text}");
    assert_eq!(text.lines().skip(1).take_while(|line| !line.is_empty()).count(), 2, "two clients online: {text}");
    assert!(text.lines().any(|line| line.starts_with("SplitTopic")), "{text}");
    assert!(text.contains("MessageModel: CLUSTERING"), "{text}");
    drop(second); // SIGKILL: its connection closes; the broker tells the group to rebalance
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        round += 1;
        let prefix = format!("Takeover round {round}");
        produce(&broker, "SplitTopic", 16, &prefix);
        if first.wait_until(Duration::from_secs(10), || received_with(&first, &prefix) >= 16) {
            break; // every queue is the survivor's now
        }
        assert!(std::time::Instant::now() < deadline, "the remaining consumer never took over every queue");
    }
}

#[test]
fn broadcasting_consumers_each_get_every_message() {
    let scratch = Scratch::new("broker-broadcast");
    let broker = start_broker(&scratch, "broker-b", "shardCount=2");
    create_topic(&scratch, &broker, "CastTopic");
    let environment =
        [("TOPIC", "CastTopic"), ("GROUP", "CastGroup"), ("EXPECT", "100000"), ("RUN_SECS", "240"), ("BROADCAST", "1")];
    let first = spawn_node("consume_count.js", &broker.namesrv, &environment);
    let second = spawn_node("consume_count.js", &broker.namesrv, &environment);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut round = 0;
    loop {
        round += 1;
        let prefix = format!("Cast round {round}");
        produce(&broker, "CastTopic", 8, &prefix);
        let both = || received_with(&first, &prefix) >= 8 && received_with(&second, &prefix) >= 8;
        if first.wait_until(Duration::from_secs(15), both) {
            assert_eq!(received_with(&first, &prefix), 8);
            assert_eq!(received_with(&second, &prefix), 8);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "broadcast consumers did not both get every message");
    }
}
