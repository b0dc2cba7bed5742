//! The broker with the Python bindings of rocketmq-client-cpp: 1.0.1 (pip `rocketmq==0.4.4`,
//! SEND_MESSAGE with long header names, ordinal enums in heartbeats) and 2.1.0 (pip
//! `rocketmq-python-cvs==2.1.0.3`, SEND_MESSAGE_V2 with "0"/"1" booleans; pip
//! `rocketmq-client-python==2.0.0` over the same library for transactions and sharding keys).
//! Orderly consumption is run with both library versions (`cpp_orderly_…`, `cpp_2_1_0_orderly_…`).
//!
//! Method: one two-shard broker with its embedded nameserver. For each client, on its own
//! topic that does not exist yet (the C++ producer falls back to TBW102 and the broker creates
//! the topic, as Java's does): three synchronous sends, three oneway sends (sent by the C++
//! clients with flag 0), then a push consumer that must receive all six with their tags, keys
//! and bodies. The verdict comes from the messages counted, never from the consumer's exit
//! status: the cpp 2.1.0 consumer is known to crash inside `shutdown()` after its work is done.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use ringmq::client::BlockingClient;
use ringmq::protocol::headers::PullMessageResponseHeader;
use ringmq::protocol::message::{property, sys_flag, Properties};
use ringmq::protocol::{record, request, response, Command, Header};

fn check_client(broker: &Broker, venv: &str) {
    let topic = format!("PyTopic{venv}");
    let group = format!("PyGroup{venv}");
    let (sent, status) = run_python(venv, "producer.py", &broker.namesrv, &[("TOPIC", &topic)]);
    assert_eq!(status, Some(0));
    let ok =
        sent.lines().filter(|line| line.starts_with("SEND_RESULT ") && line.split(' ').nth(2) == Some("0")).count();
    assert_eq!(ok, 3, "three SEND_OK from {venv}: {sent}");
    let (oneway, status) = run_python(venv, "producer.py", &broker.namesrv, &[("TOPIC", &topic), ("MODE", "oneway")]);
    assert_eq!(status, Some(0));
    assert_eq!(oneway.lines().filter(|line| line.starts_with("ONEWAY ")).count(), 3);

    let (consumed, _status) = run_python(
        venv,
        "consumer.py",
        &broker.namesrv,
        &[("TOPIC", &topic), ("GROUP", &group), ("EXPECT", "6"), ("RUN_SECS", "60")],
    );
    let mut bodies: BTreeMap<String, usize> = BTreeMap::new();
    for line in consumed.lines().filter(|line| line.starts_with("RECEIVED|")) {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields[1], topic, "{line}");
        assert_eq!(fields[2], "TagA", "{line}");
        let index = fields[4].rsplit(' ').next().unwrap();
        assert_eq!(fields.len(), 8, "{line}");
        assert_eq!(fields[3], format!("k{index}"), "{line}");
        *bodies.entry(fields[4].to_string()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = (0..3).map(|index| (format!("Hello RocketMQ {index}"), 2)).collect();
    assert_eq!(bodies, expected, "{venv}: every sync and oneway message consumed once");
}

#[test]
fn cpp_1_0_1_and_2_1_0_clients_send_and_consume_through_two_shards() {
    let scratch = Scratch::new("broker-python");
    let broker = start_broker(&scratch, "broker-py", "shardCount=2");
    check_client(&broker, "v044");
    check_client(&broker, "vcvs");
}

/// Delay levels and batches from the C++ 1.0.1 client: delayed messages (level 1, 1 s by
/// default) must not arrive before their delay; a batch (sent as SEND_MESSAGE with batch=1)
/// arrives whole.
#[test]
fn cpp_delayed_messages_wait_their_level_and_batches_arrive_whole() {
    let scratch = Scratch::new("broker-python-delay");
    let broker = start_broker(&scratch, "broker-pd", "shardCount=2");
    let (sent, _) =
        run_python("v044", "producer.py", &broker.namesrv, &[("TOPIC", "DelayTopic"), ("DELAY_LEVEL", "1")]);
    let mut sent_at = std::collections::HashMap::new();
    for line in sent.lines().filter(|line| line.starts_with("SEND_RESULT ")) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[2], "0", "{line}");
        sent_at.insert(format!("Hello RocketMQ {}", fields[1]), fields[5].parse::<f64>().unwrap());
    }
    assert_eq!(sent_at.len(), 3);
    let (consumed, _) = run_python(
        "v044",
        "consumer.py",
        &broker.namesrv,
        &[("TOPIC", "DelayTopic"), ("GROUP", "DelayGroup"), ("RUN_SECS", "60")],
    );
    let mut arrived = 0;
    for line in consumed.lines().filter(|line| line.starts_with("RECEIVED|")) {
        let fields: Vec<&str> = line.split('|').collect();
        let waited = fields[5].parse::<f64>().unwrap() - sent_at[fields[4]];
        // A lower bound only: a slow machine delivers later, never earlier.
        assert!(waited >= 0.9, "{} arrived {waited:.3} s after it was sent, before its 1 s level", fields[4]);
        arrived += 1;
    }
    assert_eq!(arrived, 3, "{consumed}");

    let (batch, status) =
        run_python("v044", "producer.py", &broker.namesrv, &[("TOPIC", "BatchTopic"), ("MODE", "batch")]);
    assert_eq!(status, Some(0));
    assert!(batch.lines().any(|line| line.starts_with("BATCH_RESULT 0 ")), "{batch}");
    let (consumed, _) = run_python(
        "v044",
        "consumer.py",
        &broker.namesrv,
        &[("TOPIC", "BatchTopic"), ("GROUP", "BatchGroup"), ("RUN_SECS", "60")],
    );
    assert_eq!(consumed.lines().filter(|line| line.starts_with("RECEIVED|")).count(), 3, "{consumed}");
}

/// Orderly consumption with the C++ 1.0.1 client: messages sent to one queue in order are
/// consumed in that order by an orderly consumer, which locks the queue on the broker first
/// (LOCK_BATCH_MQ): without the lock it would consume nothing.
#[test]
fn cpp_orderly_consumer_locks_its_queue_and_consumes_in_order() {
    let scratch = Scratch::new("broker-python-orderly");
    let broker = start_broker(&scratch, "broker-po", "shardCount=2");
    let (sent, _) = run_python(
        "v044",
        "producer.py",
        &broker.namesrv,
        &[("TOPIC", "OrderTopic"), ("MODE", "orderly"), ("COUNT", "10")],
    );
    assert_eq!(sent.lines().filter(|line| line.starts_with("SEND_RESULT ")).count(), 10, "{sent}");
    let (consumed, _) = run_python(
        "v044",
        "consumer.py",
        &broker.namesrv,
        &[("TOPIC", "OrderTopic"), ("GROUP", "OrderGroup"), ("ORDERLY", "1"), ("EXPECT", "10"), ("RUN_SECS", "60")],
    );
    let bodies: Vec<String> = consumed
        .lines()
        .filter(|line| line.starts_with("RECEIVED|"))
        .map(|line| line.split('|').nth(4).unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..10).map(|index| format!("Hello RocketMQ {index}")).collect();
    assert_eq!(bodies, expected, "consumed in send order");
}

/// Orderly consumption with the C++ 2.1.0 library, through both of its Python bindings
/// (rocketmq-client-python 2.0.0 and rocketmq-python-cvs 2.1.0.3, `PushConsumer(orderly=True)`,
/// which registers an orderly listener and locks each queue with LOCK_BATCH_MQ). 30 messages go
/// out with three interleaved sharding keys (rocketmq-client-python's
/// `send_orderly_with_sharding_key`: one queue per key); each binding consumes them all in its
/// own group. From the messages counted: every message exactly once, the queue offsets of each
/// queue in increasing order, each key's messages in send order and all in one queue. The
/// verdict never depends on the consumer's exit status: the 2.1.0 push consumer may crash in
/// `shutdown()` after its RECEIVED lines are written.
#[test]
fn cpp_2_1_0_orderly_consumers_keep_each_queue_and_sharding_key_in_order() {
    let scratch = Scratch::new("broker-python-orderly-21");
    let broker = start_broker(&scratch, "broker-po21", "shardCount=2");
    let created = run_ringmq(
        &["admin", "updateTopic", "-b", &broker.address, "-t", "OrderTopic21", "-r", "8", "-w", "8"],
        &scratch.0,
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    // The producer must find the topic's 8 queues at the nameserver (the broker registers
    // them after the update), or its first sends fail for want of a route.
    let mut api = ringmq::client::AdminApi::new(BlockingClient::new(Duration::from_secs(5)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.topic_route(&broker.namesrv, "OrderTopic21").unwrap().is_none() {
        assert!(Instant::now() < deadline, "the topic never reached the nameserver");
        std::thread::sleep(Duration::from_millis(100));
    }
    let library = cpp_library_dir();
    let (sent, status) = run_python(
        "vtx",
        "producer.py",
        &broker.namesrv,
        &[
            ("TOPIC", "OrderTopic21"),
            ("MODE", "orderly"),
            ("COUNT", "30"),
            ("SHARDING_KEYS", "3"),
            ("LD_LIBRARY_PATH", &library),
        ],
    );
    assert_eq!(status, Some(0), "{sent}");
    let ok = sent.lines().filter(|line| line.starts_with("SEND_RESULT ") && line.split(' ').nth(2) == Some("0"));
    assert_eq!(ok.count(), 30, "30 SEND_OK: {sent}");
    for (venv, group) in [("vtx", "OrderGroup21Official"), ("vcvs", "OrderGroup21Cvs")] {
        let (consumed, _status) = run_python(
            venv,
            "consumer.py",
            &broker.namesrv,
            &[
                ("TOPIC", "OrderTopic21"),
                ("GROUP", group),
                ("ORDERLY", "1"),
                ("EXPECT", "30"),
                ("RUN_SECS", "60"),
                ("LD_LIBRARY_PATH", &library),
            ],
        );
        check_orderly_consumption(venv, &consumed, 30, 3);
    }
}

/// The verdict on an orderly consumer's RECEIVED lines (in callback order): `count` messages
/// "Hello RocketMQ <i>", each once; per queue, offsets increasing; per sharding key
/// (`i % keys`), send order and one queue.
fn check_orderly_consumption(venv: &str, consumed: &str, count: usize, keys: usize) {
    let mut seen = std::collections::BTreeSet::new();
    let mut last_offset_of_queue: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last_of_key: BTreeMap<usize, (usize, i32)> = BTreeMap::new();
    for line in consumed.lines().filter(|line| line.starts_with("RECEIVED|")) {
        let fields: Vec<&str> = line.split('|').collect();
        let index: usize = fields[4].strip_prefix("Hello RocketMQ ").unwrap().parse().unwrap();
        let (queue_id, queue_offset): (i32, i64) = (fields[6].parse().unwrap(), fields[7].parse().unwrap());
        assert!(seen.insert(index), "{venv}: message {index} consumed twice");
        if let Some(previous) = last_offset_of_queue.insert(queue_id, queue_offset) {
            assert!(queue_offset > previous, "{venv}: queue {queue_id} went from offset {previous} to {queue_offset}");
        }
        if let Some((previous, previous_queue)) = last_of_key.insert(index % keys, (index, queue_id)) {
            assert!(index > previous, "{venv}: message {index} consumed after {previous} of the same key");
            assert_eq!(queue_id, previous_queue, "{venv}: one sharding key, one queue");
        }
    }
    assert_eq!(seen.len(), count, "{venv}: every message consumed: {consumed}");
    assert_eq!(last_of_key.len(), keys);
}

/// The directory of the cpp 2.1.0 librocketmq.so (in the vcvs venv), which the
/// rocketmq-client-python 2.0.0 binding loads.
fn cpp_library_dir() -> String {
    let lib = clients_dir().join("python/vcvs/lib");
    let python = std::fs::read_dir(&lib)
        .expect("the vcvs venv exists: run scripts/test.sh")
        .filter_map(|entry| entry.ok())
        .find(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
        .expect("a python3.x directory in the vcvs venv");
    python.path().join("site-packages/rocketmq").display().to_string()
}

/// The max offset of each queue of `topic`, summed: how many messages the topic holds.
fn stored_count(client: &mut BlockingClient, broker: &Broker, topic: &str, queue_count: i32) -> i64 {
    (0..queue_count)
        .map(|queue_id| {
            let mut request = Command::request(request::GET_MAX_OFFSET, 0);
            request.ext_fields.insert("topic", topic);
            request.ext_fields.insert("queueId", queue_id.to_string());
            let reply = client.invoke(&broker.address, request).expect("GET_MAX_OFFSET answers");
            match reply.code {
                response::SUCCESS => reply.ext_fields.get("offset").and_then(|text| text.parse().ok()).unwrap_or(0),
                _ => 0,
            }
        })
        .sum()
}

/// Runs the transactional producer driver (rocketmq-client-python 2.0.0 over the cpp 2.1.0
/// library) against `broker` with `settings` as environment; its stdout, after a clean exit.
fn run_transactions(broker: &Broker, topic: &str, settings: &[(&str, &str)]) -> String {
    let library = cpp_library_dir();
    let mut environment = vec![("TOPIC", topic), ("LD_LIBRARY_PATH", library.as_str())];
    environment.extend_from_slice(settings);
    let (sent, status) = run_python("vtx", "transaction.py", &broker.namesrv, &environment);
    assert_eq!(status, Some(0), "{sent}");
    sent
}

/// As [`run_transactions`] for a test that counts check-backs: the broker counts a check made
/// before the producer's first heartbeat registered its group, though it reaches nobody (as
/// Java does; under CI load the first check came first and the producer saw none of four). The
/// driver opens with one rolled-back transaction and waits; the transactions under test are
/// sent once the broker lists a connection of the group. The opening half stays in
/// RMQ_SYS_TRANS_HALF_TOPIC.
fn run_checked_transactions(broker: &Broker, scratch: &Scratch, topic: &str, settings: &[(&str, &str)]) -> String {
    let gate = scratch.0.join("transactions-gate");
    let gate_text = gate.display().to_string();
    let library = cpp_library_dir();
    let mut environment = vec![("TOPIC", topic), ("LD_LIBRARY_PATH", library.as_str()), ("GATE_FILE", &gate_text)];
    environment.extend_from_slice(settings);
    let namesrv = broker.namesrv.as_str();
    std::thread::scope(|scope| {
        let driver = scope.spawn(|| run_python("vtx", "transaction.py", namesrv, &environment));
        let mut client = BlockingClient::new(Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !producer_group_online(&mut client, broker, "TxProducerGroup") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::write(&gate, b"").unwrap();
        let (sent, status) = driver.join().unwrap();
        assert_eq!(status, Some(0), "{sent}");
        sent
    })
}

/// Whether the broker lists a connection of `group` (GET_PRODUCER_CONNECTION_LIST).
fn producer_group_online(client: &mut BlockingClient, broker: &Broker, group: &str) -> bool {
    let mut request = Command::request(request::GET_PRODUCER_CONNECTION_LIST, 0);
    request.ext_fields.insert("producerGroup", group);
    client.invoke(&broker.address, request).is_ok_and(|reply| reply.code == response::SUCCESS)
}

/// Waits (bounded) until `topic` holds at least `count` messages: the broker's writes after a
/// oneway END_TRANSACTION or a check-back happen after the producer is told nothing.
fn wait_stored(client: &mut BlockingClient, broker: &Broker, topic: &str, queue_count: i32, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored_count(client, broker, topic, queue_count) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bodies a push consumer (cpp 2.1.0) of a new `group` receives from `topic`, sorted.
fn consumed_bodies(broker: &Broker, topic: &str, group: &str, expect: usize) -> Vec<String> {
    let expect = expect.to_string();
    let (consumed, _status) = run_python(
        "vcvs",
        "consumer.py",
        &broker.namesrv,
        &[("TOPIC", topic), ("GROUP", group), ("EXPECT", &expect), ("RUN_SECS", "60")],
    );
    let mut bodies: Vec<String> = consumed
        .lines()
        .filter(|line| line.starts_with("RECEIVED|"))
        .map(|line| line.split('|').nth(4).unwrap().to_string())
        .collect();
    bodies.sort();
    bodies
}

#[test]
fn cpp_transactional_producer_commits_rolls_back_and_leaves_unknown_pending() {
    let scratch = Scratch::new("py-transaction");
    let broker = start_broker(&scratch, "py-transaction", "");
    let topic = "PyTxTopic";
    let sent = run_transactions(&broker, topic, &[("COUNT", "6")]);
    let results: Vec<&str> = sent.lines().filter(|line| line.starts_with("TX_RESULT ")).collect();
    assert_eq!(results.len(), 6, "six transactional sends: {sent}");

    // END_TRANSACTION is oneway: wait (bounded) until the broker has written every op message,
    // then count exactly. Half topic: every send; op topic: commits and rollbacks; the real
    // topic: the commits only (indices 0 and 3).
    let mut client = BlockingClient::new(Duration::from_secs(5));
    wait_stored(&mut client, &broker, "RMQ_SYS_TRANS_OP_HALF_TOPIC", 1, 4);
    assert_eq!(stored_count(&mut client, &broker, "RMQ_SYS_TRANS_HALF_TOPIC", 1), 6);
    assert_eq!(stored_count(&mut client, &broker, "RMQ_SYS_TRANS_OP_HALF_TOPIC", 1), 4);
    assert_eq!(stored_count(&mut client, &broker, topic, 8), 2, "only the committed messages reach the topic");
    check_committed_copies(&mut client, &broker, topic, 8);
    let bodies = consumed_bodies(&broker, topic, "PyTxConsumers", 2);
    assert_eq!(bodies, ["Tx 0", "Tx 3"], "the committed messages are consumed");
}

/// Every record of one queue, read back with PULL_MESSAGE from offset 0 and decoded here.
fn stored_records(client: &mut BlockingClient, broker: &Broker, topic: &str, queue_id: i32) -> Vec<Vec<u8>> {
    let mut stored = Vec::new();
    let mut offset = 0;
    loop {
        let pull = ringmq::client::pull_request("RecordReader", topic, queue_id, offset, 32, None);
        let reply = client.invoke(&broker.address, pull).expect("PULL_MESSAGE answers");
        if reply.code != response::SUCCESS {
            return stored;
        }
        stored.extend(ringmq::client::records(&reply.body).map(<[u8]>::to_vec));
        offset = PullMessageResponseHeader::decode(&reply.ext_fields).unwrap().next_begin_offset;
    }
}

/// The committed copies in `topic` are their half messages as Java's EndTransactionProcessor
/// stores them: preparedTransactionOffset = the half's commit-log offset, the COMMIT type in
/// the sys flag, the half's body, born host and born timestamp, the half's properties (its
/// REAL_TOPIC and TRAN_MSG included), the real queue's next offset and a store time not
/// before the half's.
fn check_committed_copies(client: &mut BlockingClient, broker: &Broker, topic: &str, queue_count: i32) {
    let halves = stored_records(client, broker, "RMQ_SYS_TRANS_HALF_TOPIC", 0);
    let half_of = |unique_key: &str| {
        let found = halves
            .iter()
            .map(|bytes| record::decode(bytes).unwrap())
            .find(|half| Properties::parse(half.properties).get(property::UNIQ_KEY) == Some(unique_key));
        found.unwrap_or_else(|| panic!("no half message with UNIQ_KEY {unique_key}"))
    };
    let mut committed = 0;
    for queue_id in 0..queue_count {
        for (queue_offset, bytes) in stored_records(client, broker, topic, queue_id).iter().enumerate() {
            let copy = record::decode(bytes).unwrap();
            let properties = Properties::parse(copy.properties);
            let half = half_of(properties.get(property::UNIQ_KEY).expect("a UNIQ_KEY"));
            assert_eq!(copy.prepared_transaction_offset, half.physical_offset, "preparedTransactionOffset");
            assert_eq!(copy.sys_flag & sys_flag::TRANSACTION_MASK, sys_flag::TRANSACTION_COMMIT);
            assert_eq!(
                (copy.body, copy.born_host, copy.born_timestamp),
                (half.body, half.born_host, half.born_timestamp)
            );
            assert_eq!((copy.queue_id, copy.queue_offset), (queue_id, queue_offset as i64));
            assert!(copy.store_timestamp >= half.store_timestamp);
            assert_eq!(properties.get(property::REAL_TOPIC), Some(topic));
            assert_eq!(properties.get(property::TRAN_MSG), Some("true"));
            committed += 1;
        }
    }
    assert_eq!(committed, 2, "both committed copies were read back");
}

/// Transaction check-back: every local transaction answers UNKNOWN; the broker asks the
/// producer again (CHECK_TRANSACTION_STATE) once a half message is older than
/// transactionTimeOut, and the producer's check listener commits. Verdict from counts: every
/// message checked, committed into the real topic and consumed once.
#[test]
fn cpp_transactional_producer_is_checked_back_and_its_commit_delivers_the_messages() {
    let scratch = Scratch::new("py-transaction-check");
    let broker = start_broker(
        &scratch,
        "py-transaction-check",
        "transactionTimeOut=1000\ntransactionCheckInterval=500\ntransactionCheckMax=15",
    );
    let topic = "PyTxCheckTopic";
    let settings =
        [("COUNT", "3"), ("LOCAL", "UNKNOWN"), ("CHECK", "COMMIT"), ("CHECKS_EXPECTED", "3"), ("STAY_SECS", "60")];
    let sent = run_checked_transactions(&broker, &scratch, topic, &settings);
    let mut checked: Vec<&str> = sent.lines().filter_map(|line| line.strip_prefix("CHECKED ")).collect();
    checked.sort();
    checked.dedup();
    assert_eq!(checked, ["0", "1", "2"], "every half message was checked back: {sent}");

    let mut client = BlockingClient::new(Duration::from_secs(5));
    wait_stored(&mut client, &broker, topic, 8, 3);
    assert_eq!(stored_count(&mut client, &broker, topic, 8), 3, "the checked commits reach the topic");
    let bodies = consumed_bodies(&broker, topic, "PyTxCheckConsumers", 3);
    assert_eq!(bodies, ["Tx 0", "Tx 1", "Tx 2"], "each committed message is consumed once");
}

/// A producer that never decides: after transactionCheckMax checks the half message is moved
/// to TRANS_CHECK_MAX_TIME_TOPIC and nothing reaches the real topic.
#[test]
fn a_half_message_checked_transaction_check_max_times_is_discarded() {
    let scratch = Scratch::new("py-transaction-discard");
    let broker = start_broker(
        &scratch,
        "py-transaction-discard",
        "transactionTimeOut=1000\ntransactionCheckInterval=300\ntransactionCheckMax=2",
    );
    let topic = "PyTxDiscardTopic";
    let settings =
        [("COUNT", "2"), ("LOCAL", "UNKNOWN"), ("CHECK", "UNKNOWN"), ("CHECKS_EXPECTED", "4"), ("STAY_SECS", "60")];
    let sent = run_checked_transactions(&broker, &scratch, topic, &settings);
    let checks = sent.lines().filter(|line| line.starts_with("CHECKED ")).count();
    assert_eq!(checks, 4, "two checks per half message: {sent}");

    let mut client = BlockingClient::new(Duration::from_secs(5));
    wait_stored(&mut client, &broker, "TRANS_CHECK_MAX_TIME_TOPIC", 1, 2);
    assert_eq!(stored_count(&mut client, &broker, "TRANS_CHECK_MAX_TIME_TOPIC", 1), 2);
    // The opening half, two original halves, then one renewed copy per check.
    assert_eq!(stored_count(&mut client, &broker, "RMQ_SYS_TRANS_HALF_TOPIC", 1), 1 + 2 + 4);
    assert_eq!(stored_count(&mut client, &broker, topic, 8), 0, "nothing was committed");
}
