//! The reply codes a Java client acts on (protocol §11.1), from a running broker, through our
//! own client: MESSAGE_ILLEGAL above maxMessageSize, TOPIC_NOT_EXIST when a topic cannot be
//! auto-created, NO_PERMISSION for system topics and for a broker without write permission,
//! SUCCESS with every required send-reply field, a batch refused whole (MESSAGE_ILLEGAL for one
//! entry, nothing stored), and REQUEST_CODE_NOT_SUPPORTED for unknown codes. Each send carries
//! MSG_REGION and TRACE_ON, which the Java client reads.

mod common;

use std::time::Duration;

use common::*;
use ringmq::client::BlockingClient;
use ringmq::protocol::batch::{self, BatchEntry};
use ringmq::protocol::headers::SendMessageRequestHeaderV2;
use ringmq::protocol::{request, response, Command, Header};

fn send(client: &mut BlockingClient, broker: &Broker, topic: &str, body: Vec<u8>) -> Command {
    send_with_sys_flag(client, broker, topic, body, 0)
}

fn send_with_sys_flag(
    client: &mut BlockingClient,
    broker: &Broker,
    topic: &str,
    body: Vec<u8>,
    sys_flag: i32,
) -> Command {
    let mut command = Command::request(request::SEND_MESSAGE_V2, 0);
    send_header(topic, -1, sys_flag, false).encode(&mut command.ext_fields);
    command.body = body.into();
    client.invoke(&broker.address, command).unwrap()
}

/// One SEND_BATCH_MESSAGE of `bodies` to `queue_id`.
fn send_batch(client: &mut BlockingClient, broker: &Broker, topic: &str, queue_id: i32, bodies: &[usize]) -> Command {
    let entries: Vec<BatchEntry> = bodies
        .iter()
        .map(|&size| BatchEntry { flag: 0, body: vec![b'x'; size].into(), properties: String::new() })
        .collect();
    let mut encoded = Vec::new();
    batch::encode(&entries, &mut encoded);
    let mut command = Command::request(request::SEND_BATCH_MESSAGE, 0);
    send_header(topic, queue_id, 0, true).encode(&mut command.ext_fields);
    command.body = encoded.into();
    client.invoke(&broker.address, command).unwrap()
}

fn send_header(topic: &str, queue_id: i32, sys_flag: i32, batch: bool) -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        a: "CodesProducer".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: queue_id,
        f: sys_flag,
        g: 0,
        h: 0,
        i: Some("TAGS\u{1}T".into()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(batch),
    }
}

#[test]
fn sends_get_the_codes_java_clients_act_on() {
    let scratch = Scratch::new("reply-codes");
    let broker = start_broker(&scratch, "broker-c", "shardCount=2\nmaxMessageSize=1024\nautoCreateTopicEnable=false");
    let created =
        run_ringmq(&["admin", "updateTopic", "-b", &broker.address, "-t", "Known", "-r", "4", "-w", "4"], &scratch.0);
    assert!(created.status.success());
    let mut client = BlockingClient::new(Duration::from_secs(5));

    let ok = send(&mut client, &broker, "Known", vec![b'x'; 1024]);
    assert_eq!(ok.code, response::SUCCESS, "{:?}", ok.remark);
    for key in ["msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"] {
        assert!(ok.ext_fields.get(key).is_some(), "{key} missing from {:?}", ok.ext_fields);
    }

    let too_large = send(&mut client, &broker, "Known", vec![b'x'; 1025]);
    assert_eq!(too_large.code, response::MESSAGE_ILLEGAL, "{:?}", too_large.remark);
    assert!(too_large.ext_fields.get("MSG_REGION").is_some());

    // A batch with one entry too large is refused whole: nothing of it is stored.
    let stored = send_batch(&mut client, &broker, "Known", 1, &[10, 10]);
    assert_eq!(stored.code, response::SUCCESS, "{:?}", stored.remark);
    let refused = send_batch(&mut client, &broker, "Known", 1, &[10, 10, 1025, 10]);
    assert_eq!(refused.code, response::MESSAGE_ILLEGAL, "{:?}", refused.remark);
    let next = send_batch(&mut client, &broker, "Known", 1, &[10]);
    assert_eq!(next.ext_fields.get("queueOffset"), Some("2"), "the refused batch left no message in queue 1");

    let unknown = send(&mut client, &broker, "NeverCreated", vec![b'x'; 10]);
    assert_eq!(unknown.code, response::TOPIC_NOT_EXIST, "autoCreateTopicEnable=false: {:?}", unknown.remark);

    let system = send(&mut client, &broker, "SCHEDULE_TOPIC_XXXX", vec![b'x'; 10]);
    assert_eq!(system.code, response::NO_PERMISSION, "{:?}", system.remark);

    let bad_name = send(&mut client, &broker, "bad topic!", vec![b'x'; 10]);
    assert_eq!(bad_name.code, response::SYSTEM_ERROR, "{:?}", bad_name.remark);

    let not_supported = client.invoke(&broker.address, Command::request(9999, 0)).unwrap();
    assert_eq!(not_supported.code, response::REQUEST_CODE_NOT_SUPPORTED);

    // A broker whose write permission is taken away refuses sends.
    let updated = run_ringmq(
        &["admin", "updateBrokerConfig", "-b", &broker.address, "-k", "brokerPermission", "-v", "4"],
        &scratch.0,
    );
    assert!(updated.status.success(), "{}", String::from_utf8_lossy(&updated.stderr));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let refused = send(&mut client, &broker, "Known", vec![b'x'; 10]);
        if refused.code == response::NO_PERMISSION {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sends still accepted: {:?}", refused.code);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Transactions a broker cannot take: rejectTransactionMessage answers a half message with
/// NO_PERMISSION; END_TRANSACTION naming an ordinary message, or with the wrong producer group,
/// gets SYSTEM_ERROR and changes nothing.
#[test]
fn transactions_the_broker_refuses_get_their_codes() {
    let scratch = Scratch::new("reply-codes-tx");
    let broker = start_broker(&scratch, "broker-t", "shardCount=1\nrejectTransactionMessage=true");
    let mut client = BlockingClient::new(Duration::from_secs(5));
    let prepared = send_with_sys_flag(&mut client, &broker, "TxRefused", b"half".to_vec(), 0x4);
    assert_eq!(prepared.code, response::NO_PERMISSION, "{:?}", prepared.remark);
    assert!(prepared.remark.unwrap_or_default().contains("transaction"));

    let plain = send(&mut client, &broker, "TxRefused", b"plain".to_vec());
    assert_eq!(plain.code, response::SUCCESS, "{:?}", plain.remark);
    let offset = ringmq::protocol::message_id::decode(plain.ext_fields.get("msgId").unwrap()).unwrap().1;
    let mut end = Command::request(request::END_TRANSACTION, 0);
    ringmq::protocol::headers::EndTransactionRequestHeader {
        producer_group: "CodesProducer".into(),
        tran_state_table_offset: 0,
        commit_log_offset: offset,
        commit_or_rollback: 8,
        from_transaction_check: Some(false),
        msg_id: None,
        transaction_id: None,
    }
    .encode(&mut end.ext_fields);
    let reply = client.invoke(&broker.address, end).unwrap();
    assert_eq!(reply.code, response::SYSTEM_ERROR, "{:?}", reply.remark);
    assert!(reply.remark.unwrap_or_default().contains("not a prepared transaction message"));
}

/// The start of Java's BrokerFastFailure remark for a send that waited too long.
const SEND_QUEUE_TIMEOUT_REMARK: &str =
    "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: ";
/// Java's default send timeout: a SYSTEM_BUSY must reach the client before its send gives up.
const CLIENT_SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// waitTimeMillsInSendQueue of the overload test.
const SEND_QUEUE_WAIT_MS: u64 = 20;
const BUSY_TOPIC: &str = "Busy";
const BUSY_QUEUES: i32 = 8;

/// One send of the overload test: its unique id (the first 8 bytes of its body), its queue, the
/// reply's code and remark, and how long the reply took.
struct SendOutcome {
    id: i64,
    queue_id: i32,
    code: i32,
    remark: Option<String>,
    latency: Duration,
}

/// Sends `count` messages at once on each connection, each with its own id from `next_id`.
async fn send_wave(
    producers: &[ringmq::client::Producer],
    templates: &std::rc::Rc<Vec<ringmq::client::SendTemplate>>,
    next_id: &mut i64,
    count: usize,
) -> Vec<SendOutcome> {
    let mut tasks = Vec::new();
    for producer in producers {
        for _ in 0..count {
            let (producer, templates, id) = (producer.clone(), templates.clone(), *next_id);
            *next_id += 1;
            tasks.push(ringmq::runtime::spawn(async move {
                let queue_id = (id % i64::from(BUSY_QUEUES)) as i32;
                let started = std::time::Instant::now();
                let reply = producer.send(&templates[queue_id as usize], Some(id)).await.expect("the connection holds");
                let latency = started.elapsed();
                let reply = reply.decode().expect("a well-formed reply");
                SendOutcome { id, queue_id, code: reply.code, remark: reply.remark, latency }
            }));
        }
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await);
    }
    outcomes
}

/// Every message id stored in the topic, read back through pulls of every queue.
async fn stored_ids(consumer: &ringmq::client::PullConsumer) -> Vec<i64> {
    let mut ids = Vec::new();
    for queue_id in 0..BUSY_QUEUES {
        let mut offset = 0;
        loop {
            let pulled = consumer.pull(BUSY_TOPIC, queue_id, offset, 32, None).await.expect("pull answers");
            if pulled.code != response::SUCCESS {
                break;
            }
            ids.extend(ringmq::client::records(&pulled.body).map(|stored| ringmq::client::body_stamp(stored).unwrap()));
            offset = pulled.next_begin_offset;
        }
    }
    ids
}

/// Sends one message to every queue in turn, retrying SYSTEM_BUSY as a Java producer does.
async fn send_one_by_one(
    producer: &ringmq::client::Producer,
    templates: &[ringmq::client::SendTemplate],
    first_id: i64,
) -> Vec<i64> {
    let mut stored = Vec::new();
    for (offset, template) in templates.iter().enumerate() {
        let id = first_id + offset as i64;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let code = producer.send(template, Some(id)).await.expect("the connection holds").code();
            if code == response::SUCCESS {
                stored.push(id);
                break;
            }
            assert_eq!(code, response::SYSTEM_BUSY, "an idle broker answers a send with SUCCESS");
            assert!(attempts < 5, "an idle broker still refuses send {id} after {attempts} attempts");
            ringmq::runtime::sleep(Duration::from_millis(100)).await;
        }
    }
    stored
}

/// Overload by queueing time (Java's `waitTimeMillsInSendQueue`): with a one-message inbox
/// between the two shards and a 20 ms limit, waves of sends from four connections to the
/// eight queues of a topic (half of them owned by the shard that did not take the connection)
/// queue up until some wait longer than the limit before their owner starts them. Those must
/// be answered SYSTEM_BUSY with Java's remark before the client's send timeout and must not be
/// stored; every acknowledged send must be stored, exactly once; and once the load stops, a
/// send to every queue succeeds. The waves repeat until a SYSTEM_BUSY is seen (bounded), so a
/// fast machine only needs more of them: the test asserts what happens, never how soon.
#[test]
fn sends_that_wait_too_long_for_their_shard_get_system_busy_and_are_not_stored() {
    let scratch = Scratch::new("reply-codes-busy");
    let settings = format!(
        "shardCount=2\nshardInboxCapacity=1\nbrokerFastFailureEnable=true\nwaitTimeMillsInSendQueue={SEND_QUEUE_WAIT_MS}"
    );
    let broker = start_broker(&scratch, "broker-busy", &settings);
    let queues = BUSY_QUEUES.to_string();
    let created = run_ringmq(
        &["admin", "updateTopic", "-b", &broker.address, "-t", BUSY_TOPIC, "-r", &queues, "-w", &queues],
        &scratch.0,
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let address = broker.address.clone();
    let (outcomes, stored, recovered) = ringmq::runtime::spawn_executor("busy-client", None, move || async move {
        let mut producers = Vec::new();
        for _ in 0..4 {
            let pipeline = ringmq::client::Pipeline::connect(&address, Duration::from_secs(5)).await.unwrap();
            producers.push(ringmq::client::Producer::new(pipeline));
        }
        let templates: Vec<_> = (0..BUSY_QUEUES)
            .map(|queue_id| {
                let target = ringmq::client::SendTarget { producer_group: "BusyProducer", topic: BUSY_TOPIC, queue_id };
                ringmq::client::SendTemplate::single(&target, &[b'x'; 16])
            })
            .collect();
        let templates = std::rc::Rc::new(templates);
        let mut next_id = 0;
        let mut outcomes = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline
            && !outcomes.iter().any(|o: &SendOutcome| o.code == response::SYSTEM_BUSY)
        {
            outcomes.extend(send_wave(&producers, &templates, &mut next_id, 1000).await);
        }
        let recovered = send_one_by_one(&producers[0], &templates, next_id).await;
        let consumer = ringmq::client::PullConsumer::new(producers[0].pipeline().clone(), "BusyChecker");
        (outcomes, stored_ids(&consumer).await, recovered)
    })
    .unwrap()
    .join()
    .unwrap();

    let busy: Vec<&SendOutcome> = outcomes.iter().filter(|outcome| outcome.code == response::SYSTEM_BUSY).collect();
    assert!(!busy.is_empty(), "no send of {} was refused for waiting", outcomes.len());
    for outcome in &busy {
        let remark = outcome.remark.as_deref().unwrap_or_default();
        let rest = remark.strip_prefix(SEND_QUEUE_TIMEOUT_REMARK).unwrap_or_else(|| panic!("remark {remark:?}"));
        let (period, size) = rest.split_once("ms, size of queue: ").unwrap_or_else(|| panic!("remark {remark:?}"));
        let period_ms: u64 = period.parse().unwrap();
        assert!(period_ms >= SEND_QUEUE_WAIT_MS, "refused after {period_ms} ms, below the limit: {remark}");
        size.parse::<usize>().unwrap_or_else(|_| panic!("remark {remark:?}"));
        assert!(
            outcome.latency < CLIENT_SEND_TIMEOUT,
            "SYSTEM_BUSY for send {} came after {:?}",
            outcome.id,
            outcome.latency
        );
    }
    let other: Vec<(i32, &Option<String>)> = outcomes
        .iter()
        .filter(|outcome| outcome.code != response::SUCCESS && outcome.code != response::SYSTEM_BUSY)
        .map(|outcome| (outcome.code, &outcome.remark))
        .collect();
    assert!(other.is_empty(), "unexpected replies: {other:?}");

    let mut acknowledged: Vec<i64> =
        outcomes.iter().filter(|outcome| outcome.code == response::SUCCESS).map(|outcome| outcome.id).collect();
    acknowledged.extend(&recovered);
    acknowledged.sort_unstable();
    let mut stored = stored;
    stored.sort_unstable();
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "stored {} messages, acknowledged {}",
        stored.len(),
        acknowledged.len()
    );
    assert_eq!(stored, acknowledged, "exactly the acknowledged sends are stored, none refused");
    assert_eq!(recovered.len(), BUSY_QUEUES as usize, "after the load every queue takes a send");
    println!(
        "overload: {} sends, {} SYSTEM_BUSY (slowest answer {:?}), {} stored",
        outcomes.len(),
        busy.len(),
        busy.iter().map(|outcome| outcome.latency).max().unwrap(),
        stored.len()
    );
    let queue_ids: std::collections::BTreeSet<i32> = busy.iter().map(|outcome| outcome.queue_id).collect();
    println!("queues refused: {queue_ids:?}");
}
