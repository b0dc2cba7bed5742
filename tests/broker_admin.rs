//! The read-side admin commands against a two-shard broker: brokerStatus
//! (GET_BROKER_RUNTIME_INFO), topicStatus (GET_TOPIC_STATS_INFO), queryMsgByKey (QUERY_MESSAGE),
//! queryMsgById (VIEW_MESSAGE_BY_ID), consumerProgress (GET_CONSUME_STATS).
//!
//! Method: start `ringmq broker` with `shardCount=2`, create a topic of 8 queues with
//! `ringmq admin updateTopic`, send one message to each queue with our own client
//! (SEND_MESSAGE_V2 with KEYS and UNIQ_KEY), so both shards hold data, then run each admin
//! command and check its output against operations §2.3.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use ringmq::client::{send_request, BlockingClient, SendTarget};
use ringmq::protocol::headers::UpdateConsumerOffsetRequestHeader;
use ringmq::protocol::{message_id, request, response, Command, Header};

const TOPIC: &str = "AdminTopic";
const QUEUES: i32 = 8;

fn admin(scratch: &Scratch, args: &[&str]) -> String {
    let mut all = vec!["admin"];
    all.extend_from_slice(args);
    let output = run_ringmq(&all, &scratch.0);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    println!("[admin {args:?}]\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "admin {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Sends one message to `queue_id`; returns the offsetMsgId.
fn send(client: &mut BlockingClient, broker: &str, queue_id: i32, key: &str, unique: &str, body: &str) -> String {
    let target = SendTarget { producer_group: "AdminProducer", topic: TOPIC, queue_id };
    let properties = format!("KEYS\u{1}{key}\u{2}UNIQ_KEY\u{1}{unique}\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true");
    let reply = client.invoke(broker, send_request(&target, &properties, body.as_bytes())).expect("send");
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    reply.ext_fields.get("msgId").expect("msgId").to_string()
}

fn commit(client: &mut BlockingClient, broker: &str, group: &str, queue_id: i32, offset: i64) {
    let mut request = Command::request(request::UPDATE_CONSUMER_OFFSET, 0);
    UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: TOPIC.into(),
        queue_id,
        commit_offset: offset,
    }
    .encode(&mut request.ext_fields);
    let reply = client.invoke(broker, request).expect("commit");
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
}

#[test]
fn admin_status_and_query_commands_read_both_shards() {
    let scratch = Scratch::new("broker-admin");
    let broker = start_broker(&scratch, "broker-x", "shardCount=2");
    let ns = broker.namesrv.as_str();
    admin(&scratch, &["updateTopic", "-n", ns, "-c", "DefaultCluster", "-t", TOPIC, "-r", "8", "-w", "8"]);
    std::thread::sleep(Duration::from_millis(500));

    let mut client = BlockingClient::new(Duration::from_secs(5));
    let mut ids = Vec::new();
    for queue_id in 0..QUEUES {
        let id = send(
            &mut client,
            &broker.address,
            queue_id,
            &format!("key-{queue_id}"),
            &format!("UNIQ{queue_id:028}"),
            &format!("body {queue_id}"),
        );
        ids.push(id);
    }
    // A second message in queue 0.
    ids.push(send(&mut client, &broker.address, 0, "key-0b", "UNIQ-second", "body second"));
    let shards: BTreeSet<u64> =
        ids.iter().map(|id| (message_id::decode(id).expect("offsetMsgId").1 as u64) >> 48).collect();
    assert_eq!(shards, BTreeSet::from([0, 1]), "the messages landed on both shards");

    // brokerStatus: every key of operations §4.3, sorted, "%-32s: %s".
    let status = admin(&scratch, &["brokerStatus", "-n", ns, "-b", &broker.address]);
    for key in
        ["bootTimestamp", "brokerVersionDesc", "commitLogDiskRatio", "putTps", "runtime", "earliestMessageTimeStamp"]
    {
        assert!(status.lines().any(|line| line.starts_with(&format!("{key:<32}: "))), "{key} missing");
    }
    assert!(status.contains(&format!("{:<32}: V4_9_8", "brokerVersionDesc")));
    assert!(status.contains(&format!("{:<32}: 409", "brokerVersion")));
    assert!(status.contains(&format!("{:<32}: {}", "msgPutTotalTodayNow", ids.len())), "sends are counted");
    let earliest: i64 = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{:<32}: ", "earliestMessageTimeStamp")))
        .unwrap()
        .parse()
        .unwrap();
    assert!(earliest > 0, "a message exists, so the earliest store time is known");
    let keys: Vec<&str> = status.lines().map(|line| line.split(" :").next().unwrap().trim_end()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    // topicStatus: 8 rows, max offsets summing to the sent count.
    let stats = admin(&scratch, &["topicStatus", "-n", ns, "-t", TOPIC]);
    let mut lines = stats.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "{:<32}  {:<4}  {:<20}  {:<20}    {}",
            "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), QUEUES as usize);
    let total: i64 = rows.iter().map(|row| row[3].parse::<i64>().unwrap()).sum();
    assert_eq!(total, ids.len() as i64);
    assert_eq!(rows[0][..4], ["broker-x", "0", "0", "2"]);
    assert!(rows.iter().all(|row| row.len() == 6), "every queue has a last-updated time");

    // queryMsgByKey finds the message (UNIQ_KEY as its id).
    let found = admin(&scratch, &["queryMsgByKey", "-n", ns, "-t", TOPIC, "-k", "key-5"]);
    assert!(found.lines().next().unwrap().starts_with("#Message ID"));
    let hit = found.lines().nth(1).expect("one hit");
    let cells: Vec<&str> = hit.split_whitespace().collect();
    assert_eq!(cells, [format!("UNIQ{:028}", 5).as_str(), "5", "0"]);
    assert_eq!(found.lines().count(), 2);
    let missing = admin(&scratch, &["queryMsgByKey", "-n", ns, "-t", TOPIC, "-k", "no-such-key"]);
    assert_eq!(missing.lines().count(), 1);

    // queryMsgById prints the label lines and writes the body to a file.
    let shown = admin(&scratch, &["queryMsgById", "-n", ns, "-i", &ids[3]]);
    assert!(shown.contains(&format!("{:<20} {}", "OffsetID:", ids[3])), "{shown}");
    assert!(shown.contains(&format!("{:<20} {TOPIC}", "Topic:")));
    assert!(shown.contains(&format!("{:<20} [key-3]", "Keys:")));
    assert!(shown.contains(&format!("{:<20} 3", "Queue ID:")));
    let path = shown.lines().find_map(|line| line.strip_prefix(&format!("{:<20} ", "Message Body Path:"))).unwrap();
    assert_eq!(std::fs::read_to_string(path).unwrap(), "body 3");

    // consumerProgress after committed offsets: queue 0 at 1 of 2, queue 1 at 1 of 1.
    commit(&mut client, &broker.address, "AdminGroup", 0, 1);
    commit(&mut client, &broker.address, "AdminGroup", 1, 1);
    let progress = admin(&scratch, &["consumerProgress", "-n", ns, "-g", "AdminGroup"]);
    let mut lines = progress.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  {}",
            "#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime"
        )
    );
    let rows: Vec<Vec<&str>> = progress
        .lines()
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), QUEUES as usize, "{progress}");
    assert_eq!(rows[0][..6], [TOPIC, "broker-x", "0", "2", "1", "1"]);
    assert_eq!(rows[1][..6], [TOPIC, "broker-x", "1", "1", "1", "0"]);
    assert_eq!(rows[2][..6], [TOPIC, "broker-x", "2", "1", "0", "1"]);
    assert_eq!(rows[2][6], "N/A");
    assert!(progress.contains("Consume TPS: 0.00"));
    assert!(progress.contains("Diff Total: 7"), "{progress}");
}

#[test]
fn admin_requests_answer_java_error_codes_and_unique_key_queries() {
    let scratch = Scratch::new("broker-admin-errors");
    let broker = start_broker(&scratch, "broker-y", "shardCount=2");
    let ns = broker.namesrv.as_str();
    admin(&scratch, &["updateTopic", "-n", ns, "-c", "DefaultCluster", "-t", TOPIC, "-r", "8", "-w", "8"]);
    std::thread::sleep(Duration::from_millis(500));
    let mut client = BlockingClient::new(Duration::from_secs(5));
    let unique = "AC110001000000000000000000000042";
    let id = send(&mut client, &broker.address, 1, "k", unique, "payload");
    let (_, offset) = message_id::decode(&id).unwrap();

    // VIEW_MESSAGE_BY_ID: the record, or SYSTEM_ERROR with Java's remark.
    let view = |client: &mut BlockingClient, offset: i64| {
        let mut request = Command::request(request::VIEW_MESSAGE_BY_ID, 0);
        request.ext_fields.insert("offset", offset.to_string());
        client.invoke(&broker.address, request).unwrap()
    };
    let found = view(&mut client, offset);
    assert_eq!(found.code, response::SUCCESS);
    let record = ringmq::protocol::record::decode(&found.body).unwrap();
    assert_eq!((record.topic, record.body), (TOPIC, b"payload".as_slice()));
    let missing = view(&mut client, offset + (1 << 20));
    assert_eq!(missing.code, response::SYSTEM_ERROR);
    assert_eq!(
        missing.remark.as_deref(),
        Some(format!("can not find message by the offset, {}", offset + (1 << 20)).as_str())
    );

    // QUERY_MESSAGE: a unique-key query finds the message; an unknown key is QUERY_NOT_FOUND.
    let query = |client: &mut BlockingClient, key: &str, unique_query: bool| {
        let mut request = Command::request(request::QUERY_MESSAGE, 0);
        ringmq::protocol::headers::QueryMessageRequestHeader {
            topic: TOPIC.into(),
            key: key.into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: Some(unique_query),
        }
        .encode(&mut request.ext_fields);
        client.invoke(&broker.address, request).unwrap()
    };
    let hit = query(&mut client, unique, true);
    assert_eq!(hit.code, response::SUCCESS);
    assert_eq!(ringmq::protocol::record::decode(&hit.body).unwrap().body, b"payload");
    assert!(hit.ext_fields.get("indexLastUpdateTimestamp").unwrap().parse::<i64>().unwrap() > 0);
    assert!(hit.ext_fields.get("indexLastUpdatePhyoffset").is_some());
    let none = query(&mut client, "nothing", false);
    assert_eq!(none.code, response::QUERY_NOT_FOUND);
    assert_eq!(none.remark.as_deref(), Some("can not find message, maybe time range not correct"));

    // GET_TOPIC_STATS_INFO of an unknown topic: TOPIC_NOT_EXIST; of ours: object keys.
    let stats = |client: &mut BlockingClient, topic: &str| {
        let mut request = Command::request(request::GET_TOPIC_STATS_INFO, 0);
        request.ext_fields.insert("topic", topic);
        client.invoke(&broker.address, request).unwrap()
    };
    assert_eq!(stats(&mut client, "NoSuchTopic").code, response::TOPIC_NOT_EXIST);
    let table = stats(&mut client, TOPIC);
    assert_eq!(table.code, response::SUCCESS);
    let text = String::from_utf8(table.body.to_vec()).unwrap();
    assert!(
        text.starts_with(&format!(
            "{{\"offsetTable\":{{{{\"brokerName\":\"broker-y\",\"queueId\":0,\"topic\":\"{TOPIC}\"}}:{{\"lastUpdateTimestamp\":0,\"maxOffset\":0,\"minOffset\":0}}"
        )),
        "{text}"
    );

    // GET_CONSUME_STATS for one topic, before any commit: consumer offsets 0.
    let mut request = Command::request(request::GET_CONSUME_STATS, 0);
    request.ext_fields.insert("consumerGroup", "NoOffsetsGroup");
    request.ext_fields.insert("topic", TOPIC);
    let reply = client.invoke(&broker.address, request).unwrap();
    assert_eq!(reply.code, response::SUCCESS);
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    assert!(text.starts_with("{\"consumeTps\":0.0,\"offsetTable\":{{"), "{text}");
    let rows = ringmq::protocol::mq_table::parse_offset_table(&text).unwrap();
    assert_eq!(rows.len(), QUEUES as usize);
    assert_eq!(rows[1].1["brokerOffset"], 1);
    assert_eq!(rows[1].1["consumerOffset"], 0);

    // A pull of the one message is counted in msgGetTotalTodayNow.
    let pull = ringmq::client::pull_request("CounterGroup", TOPIC, 1, 0, 32, None);
    let pulled = client.invoke(&broker.address, pull).unwrap();
    assert_eq!(pulled.code, response::SUCCESS, "{:?}", pulled.remark);
    let status = admin(&scratch, &["brokerStatus", "-n", ns, "-b", &broker.address]);
    assert!(status.contains(&format!("{:<32}: 1\n", "msgGetTotalTodayNow")), "{status}");
    assert!(status.contains(&format!("{:<32}: 1\n", "msgPutTotalTodayNow")), "{status}");
}

/// A consumer's first heartbeat creates its group's `%RETRY%` topic; the heartbeat is answered
/// only once the nameserver routes that topic (Java's `registerBrokerAll` is synchronous), so a
/// client or an admin command that asks the nameserver next finds it. Ten new groups, each
/// checked the moment its heartbeat is answered: with a registration that runs later (a
/// periodic check), the route is missing.
#[test]
fn a_heartbeat_is_answered_after_the_nameserver_routes_its_retry_topic() {
    let scratch = Scratch::new("broker-retry-route");
    let broker = start_broker(&scratch, "broker-r", "shardCount=2");
    let mut api = ringmq::client::AdminApi::new(BlockingClient::new(Duration::from_secs(5)));
    let mut client = BlockingClient::new(Duration::from_secs(5));
    for index in 0..10 {
        let group = format!("RouteGroup{index}");
        let retry = format!("%RETRY%{group}");
        assert!(api.topic_route(&broker.namesrv, &retry).expect("route query").is_none(), "{retry} before");
        let body = format!(
            r#"{{"clientID":"127.0.0.1@route{index}","consumerDataSet":[{{"groupName":"{group}","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[],"unitMode":false}}],"producerDataSet":[]}}"#
        );
        let mut heartbeat = Command::request(request::HEART_BEAT, 0);
        heartbeat.body = body.into_bytes().into();
        let reply = client.invoke(&broker.address, heartbeat).expect("heartbeat");
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
        let route = api.topic_route(&broker.namesrv, &retry).expect("route query");
        let route = route.unwrap_or_else(|| panic!("{retry} is not routed when its heartbeat is answered"));
        assert_eq!(route.broker_datas[0].broker_name, "broker-r");
    }
}
