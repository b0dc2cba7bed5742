//! mqadmin's group, broker-config and topic-deletion commands against a two-shard
//! `ringmq broker` with its embedded nameserver.
//!
//! Method: start the broker as a process (its `-c` file carries an operator comment), drive it
//! with `ringmq admin updateSubGroup / deleteSubGroup / getBrokerConfig / updateBrokerConfig /
//! deleteTopic` and check the effect through the wire (GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
//! GET_ROUTEINFO_BY_TOPIC, GET_ALL_TOPIC_LIST_FROM_NAMESERVER, offsets) and on disk (the `-c`
//! file keeps its lines and comment, with the changed key rewritten in place; a deleted
//! topic's consume queues are gone).

mod common;

use std::time::{Duration, Instant};

use common::*;
use ringmq::client::{send_request, AdminApi, BlockingClient, ClientError, SendTarget};
use ringmq::protocol::headers::UpdateConsumerOffsetRequestHeader;
use ringmq::protocol::{request, response, Command, Header};

const OPERATOR_COMMENT: &str = "# operator note: keep this comment";

fn api() -> AdminApi {
    AdminApi::new(BlockingClient::new(Duration::from_secs(5)))
}

fn admin(scratch: &Scratch, args: &[&str]) -> String {
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    let output = run_ringmq(&full, &scratch.0);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "ringmq {full:?} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Polls `check` until it holds or `timeout` passes.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

fn start(scratch: &Scratch, name: &str) -> Broker {
    start_broker(scratch, name, &format!("shardCount=2\n{OPERATOR_COMMENT}\nautoCreateTopicEnable=true"))
}

#[test]
fn update_sub_group_creates_a_group_and_delete_sub_group_removes_it() {
    let scratch = Scratch::new("admin-groups");
    let broker = start(&scratch, "broker-y");
    let created = admin(
        &scratch,
        &["updateSubGroup", "-n", &broker.namesrv, "-b", &broker.address, "-g", "AdminGroup", "-r", "3", "-d", "false"],
    );
    assert!(created.contains(&format!("create subscription group to {} success.", broker.address)), "{created}");
    assert!(created.contains("SubscriptionGroupConfig [groupName=AdminGroup,"), "{created}");
    let all = api().all_subscription_groups(&broker.address).unwrap();
    let group = &all["subscriptionGroupTable"]["AdminGroup"];
    assert_eq!(group["retryMaxTimes"], 3, "{all}");
    assert_eq!(group["consumeBroadcastEnable"], false, "{all}");
    assert!(all["dataVersion"]["counter"].is_i64(), "{all}");

    // With -c the group is created on every master of the cluster.
    let created = admin(&scratch, &["updatesubgroup", "-n", &broker.namesrv, "-c", "DefaultCluster", "-g", "G2"]);
    assert!(created.contains(&format!("create subscription group to {} success.", broker.address)), "{created}");

    let deleted =
        admin(&scratch, &["deleteSubGroup", "-n", &broker.namesrv, "-b", &broker.address, "-g", "AdminGroup"]);
    assert!(
        deleted.contains(&format!("delete subscription group [AdminGroup] from broker [{}] success.", broker.address)),
        "{deleted}"
    );
    let all = api().all_subscription_groups(&broker.address).unwrap();
    assert!(all["subscriptionGroupTable"].get("AdminGroup").is_none(), "{all}");
    assert!(all["subscriptionGroupTable"].get("G2").is_some(), "{all}");
    let deleted = admin(&scratch, &["deleteSubGroup", "-n", &broker.namesrv, "-c", "DefaultCluster", "-g", "G2"]);
    assert!(deleted.contains("delete subscription group [G2] from cluster [DefaultCluster] success."), "{deleted}");
    assert!(deleted.contains("delete topic [%RETRY%G2] from NameServer success."), "{deleted}");
    let all = api().all_subscription_groups(&broker.address).unwrap();
    assert!(all["subscriptionGroupTable"].get("G2").is_none(), "{all}");
}

/// QUERY_CONSUMER_OFFSET, or UPDATE_CONSUMER_OFFSET when `commit` is given: the reply's code
/// and `offset`.
fn offset_call(broker: &Broker, group: &str, queue_id: i32, commit: Option<i64>) -> (i32, Option<String>) {
    use ringmq::protocol::{request, Command};
    let code = if commit.is_some() { request::UPDATE_CONSUMER_OFFSET } else { request::QUERY_CONSUMER_OFFSET };
    let mut command = Command::request(code, 0);
    command.ext_fields.insert("consumerGroup", group);
    command.ext_fields.insert("topic", "OffsetTopic");
    command.ext_fields.insert("queueId", queue_id.to_string());
    if let Some(offset) = commit {
        command.ext_fields.insert("commitOffset", offset.to_string());
    }
    let reply = api().client.invoke(&broker.address, command).unwrap();
    (reply.code, reply.ext_fields.get("offset").map(str::to_string))
}

/// SEND_MESSAGE of one small message to `queue_id` of PermTopic: the reply code.
fn send_code(broker: &Broker, queue_id: i32) -> i32 {
    use ringmq::protocol::{request, Command};
    let mut command = Command::request(request::SEND_MESSAGE, 0);
    for (key, value) in [
        ("producerGroup", "PermProducer".to_string()),
        ("topic", "PermTopic".to_string()),
        ("defaultTopic", "TBW102".to_string()),
        ("defaultTopicQueueNums", "4".to_string()),
        ("queueId", queue_id.to_string()),
        ("sysFlag", "0".to_string()),
        ("bornTimestamp", ringmq::protocol::now_ms().to_string()),
        ("flag", "0".to_string()),
    ] {
        command.ext_fields.insert(key, value);
    }
    api().client.invoke(&broker.address, command.with_body(b"hello".to_vec())).unwrap().code
}

#[test]
fn delete_sub_group_with_remove_offset_drops_the_offsets_on_every_shard() {
    let scratch = Scratch::new("admin-group-offsets");
    let broker = start(&scratch, "broker-y");
    admin(&scratch, &["updateTopic", "-n", &broker.namesrv, "-b", &broker.address, "-t", "OffsetTopic"]);
    admin(&scratch, &["updateSubGroup", "-n", &broker.namesrv, "-b", &broker.address, "-g", "OffsetGroup"]);
    // Eight queues over two shards: both shards hold some of the group's offsets.
    for queue_id in 0..8 {
        assert_eq!(offset_call(&broker, "OffsetGroup", queue_id, Some(5)).0, ringmq::protocol::response::SUCCESS);
        assert_eq!(offset_call(&broker, "OffsetGroup", queue_id, None).1.as_deref(), Some("5"));
    }
    let deleted = admin(
        &scratch,
        &["deleteSubGroup", "-n", &broker.namesrv, "-b", &broker.address, "-g", "OffsetGroup", "-r", "true"],
    );
    assert!(deleted.contains("delete subscription group [OffsetGroup] from broker"), "{deleted}");
    for queue_id in 0..8 {
        let (code, offset) = offset_call(&broker, "OffsetGroup", queue_id, None);
        assert_ne!(offset.as_deref(), Some("5"), "queue {queue_id} kept its offset (code {code})");
    }
}

#[test]
fn broker_config_is_read_updated_live_persisted_in_place_and_black_list_refused() {
    let scratch = Scratch::new("admin-config");
    let broker = start(&scratch, "broker-y");
    let original = std::fs::read_to_string(&broker.config).unwrap();

    let shown = admin(&scratch, &["getBrokerConfig", "-n", &broker.namesrv, "-b", &broker.address]);
    assert!(shown.lines().any(|line| line == format!("{:<50}=  broker-y", "brokerName")), "{shown}");
    assert!(shown.ends_with("\n\n"), "a block ends with an empty line");
    let by_cluster = admin(&scratch, &["getbrokerconfig", "-n", &broker.namesrv, "-c", "DefaultCluster"]);
    assert!(by_cluster.starts_with(&format!("============Master: {}============\n", broker.address)), "{by_cluster}");

    admin(&scratch, &["updateTopic", "-n", &broker.namesrv, "-b", &broker.address, "-t", "PermTopic"]);
    assert_eq!(send_code(&broker, 0), ringmq::protocol::response::SUCCESS);
    let updated = admin(
        &scratch,
        &["updateBrokerConfig", "-n", &broker.namesrv, "-b", &broker.address, "-k", "brokerPermission", "-v", "4"],
    );
    assert!(updated.contains(&format!("update broker config success, {}", broker.address)), "{updated}");
    let perm_is_read_only = eventually(Duration::from_secs(10), || {
        let route = api().topic_route(&broker.namesrv, "PermTopic").ok().flatten();
        route
            .is_some_and(|route| route.queue_datas.iter().all(|queue| queue.perm == 4) && !route.queue_datas.is_empty())
    });
    assert!(
        perm_is_read_only,
        "the nameserver route shows perm 4: {:?}",
        api().topic_route(&broker.namesrv, "PermTopic")
    );

    let shown = admin(&scratch, &["getBrokerConfig", "-n", &broker.namesrv, "-b", &broker.address]);
    assert!(shown.lines().any(|line| line == format!("{:<50}=  4", "brokerPermission")), "{shown}");
    // Every shard now refuses sends (queues 0..8 span both shards).
    for queue_id in 0..8 {
        assert_eq!(send_code(&broker, queue_id), ringmq::protocol::response::NO_PERMISSION, "queue {queue_id}");
    }

    // The -c file: its original lines in order (brokerPermission was not among them), then the
    // new key; the operator's comment is still there; the previous file is kept as .bak.
    let rewritten = std::fs::read_to_string(&broker.config).unwrap();
    assert!(rewritten.starts_with(&original), "original lines kept in order:\n{rewritten}");
    assert!(rewritten.contains(OPERATOR_COMMENT), "{rewritten}");
    assert!(rewritten.lines().any(|line| line == "brokerPermission=4"), "{rewritten}");
    let mut backup = broker.config.clone().into_os_string();
    backup.push(".bak");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);

    // A key already in the file is replaced on its own line.
    admin(
        &scratch,
        &[
            "updateBrokerConfig",
            "-n",
            &broker.namesrv,
            "-c",
            "DefaultCluster",
            "-k",
            "autoCreateTopicEnable",
            "-v",
            "false",
        ],
    );
    let again = std::fs::read_to_string(&broker.config).unwrap();
    let expected = rewritten.replace("autoCreateTopicEnable=true", "autoCreateTopicEnable=false");
    assert_eq!(again, expected);

    // Black-listed keys are refused with NO_PERMISSION and change nothing.
    for key in ["configBlackList", "brokerConfigPath"] {
        let refused = api().update_broker_config(&broker.address, key, "x");
        match refused {
            Err(ClientError::Response { code, remark }) => {
                assert_eq!(code, ringmq::protocol::response::NO_PERMISSION);
                assert_eq!(remark.as_deref(), Some("Can not update config in black list."));
            }
            other => panic!("{key} was not refused: {other:?}"),
        }
    }
    let output = run_ringmq(
        &[
            "admin",
            "updateBrokerConfig",
            "-n",
            &broker.namesrv,
            "-b",
            &broker.address,
            "-k",
            "configBlackList",
            "-v",
            "",
        ],
        &scratch.0,
    );
    assert!(!output.status.success());
    assert_eq!(std::fs::read_to_string(&broker.config).unwrap(), expected);
}

#[test]
fn delete_topic_removes_it_from_the_broker_and_the_nameserver() {
    let scratch = Scratch::new("admin-delete-topic");
    let broker = start(&scratch, "broker-y");
    admin(&scratch, &["updateTopic", "-n", &broker.namesrv, "-c", "DefaultCluster", "-t", "DoomedTopic"]);
    assert!(
        eventually(Duration::from_secs(10), || api().topic_list(&broker.namesrv).unwrap().contains("DoomedTopic")),
        "the topic reaches the nameserver"
    );
    let deleted = admin(&scratch, &["deleteTopic", "-n", &broker.namesrv, "-t", "DoomedTopic", "-c", "DefaultCluster"]);
    assert!(deleted.contains("delete topic [DoomedTopic] from cluster [DefaultCluster] success."), "{deleted}");
    assert!(deleted.contains("delete topic [DoomedTopic] from NameServer success."), "{deleted}");
    assert!(!api().topic_list(&broker.namesrv).unwrap().contains("DoomedTopic"));
    let listed = admin(&scratch, &["topicList", "-n", &broker.namesrv]);
    assert!(!listed.lines().any(|line| line == "DoomedTopic"), "{listed}");
    // The broker forgot it too: a later registration does not bring it back.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!api().topic_list(&broker.namesrv).unwrap().contains("DoomedTopic"));
}

/// One SEND_MESSAGE_V2 to `queue_id` of `topic`; the reply's queue offset.
fn send_to_queue(client: &mut BlockingClient, broker: &Broker, topic: &str, queue_id: i32) -> i64 {
    let target = SendTarget { producer_group: "DeleteProducer", topic, queue_id };
    let request = send_request(&target, "TAGS\u{1}TagA\u{2}WAIT\u{1}true", b"body");
    let reply = client.invoke(&broker.address, request).unwrap();
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    reply.ext_fields.get("queueOffset").unwrap().parse().unwrap()
}

/// QUERY_CONSUMER_OFFSET (14) or GET_MAX_OFFSET (30) of one queue: the `offset` answered, or
/// the code when it is not SUCCESS.
fn queue_offset(
    client: &mut BlockingClient,
    broker: &Broker,
    code: i32,
    fields: &[(&str, String)],
) -> Result<i64, i32> {
    let mut request = Command::request(code, 0);
    for (key, value) in fields {
        request.ext_fields.insert(*key, value.clone());
    }
    let reply = client.invoke(&broker.address, request).unwrap();
    match reply.code {
        response::SUCCESS => Ok(reply.ext_fields.get("offset").unwrap().parse().unwrap()),
        code => Err(code),
    }
}

/// DELETE_TOPIC_IN_BROKER as RocketMQ 4.9.8 does it (AdminBrokerProcessor.deleteTopic +
/// DefaultMessageStore.cleanUnusedTopic): the topic's consume queues are destroyed on every
/// shard (on disk, and its queues answer max offset 0; a topic created again under the name
/// starts at queue offset 0), while the consumer offsets committed on it are kept (4.9.8 never
/// cleans them; 5.1 does). A system topic cannot be deleted. Method: 8 queues over 2 shards,
/// 3 messages each, a group commits offset 2 on every queue, then `ringmq admin deleteTopic`.
#[test]
fn delete_topic_destroys_its_consume_queues_and_keeps_consumer_offsets_as_rocketmq_4_9_8() {
    let scratch = Scratch::new("admin-delete-topic-queues");
    let broker = start(&scratch, "broker-q");
    let (topic, group) = ("EmptiedTopic", "KeptGroup");
    admin(&scratch, &["updateTopic", "-b", &broker.address, "-t", topic, "-r", "8", "-w", "8"]);
    let mut client = BlockingClient::new(Duration::from_secs(5));
    for queue_id in 0..8 {
        for expected in 0..3 {
            assert_eq!(send_to_queue(&mut client, &broker, topic, queue_id), expected);
        }
        let mut commit = Command::request(request::UPDATE_CONSUMER_OFFSET, 0);
        UpdateConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            commit_offset: 2,
        }
        .encode(&mut commit.ext_fields);
        assert_eq!(client.invoke(&broker.address, commit).unwrap().code, response::SUCCESS);
    }
    let queues_directory = scratch.0.join("store-broker-q/consumequeue").join(topic);
    assert_eq!(std::fs::read_dir(&queues_directory).unwrap().count(), 8, "both shards hold queues of the topic");

    let deleted = admin(&scratch, &["deleteTopic", "-n", &broker.namesrv, "-t", topic, "-c", "DefaultCluster"]);
    assert!(deleted.contains(&format!("delete topic [{topic}] from cluster [DefaultCluster] success.")), "{deleted}");
    assert!(!queues_directory.exists(), "the consume queues are destroyed on disk");
    for queue_id in 0..8 {
        let queue = [("topic", topic.to_string()), ("queueId", queue_id.to_string())];
        assert_eq!(queue_offset(&mut client, &broker, request::GET_MAX_OFFSET, &queue), Ok(0));
        let mut kept = queue.to_vec();
        kept.push(("consumerGroup", group.to_string()));
        assert_eq!(queue_offset(&mut client, &broker, request::QUERY_CONSUMER_OFFSET, &kept), Ok(2), "kept offset");
    }
    let all = client.invoke(&broker.address, Command::request(request::GET_ALL_CONSUMER_OFFSET, 0)).unwrap();
    assert!(String::from_utf8_lossy(&all.body).contains(&format!("{topic}@{group}")), "{:?}", all.body);

    // Created again, the topic starts from an empty queue.
    admin(&scratch, &["updateTopic", "-b", &broker.address, "-t", topic, "-r", "8", "-w", "8"]);
    assert!(eventually(Duration::from_secs(10), || api().topic_route(&broker.namesrv, topic).unwrap().is_some()));
    assert_eq!(send_to_queue(&mut client, &broker, topic, 5), 0, "a re-created topic starts at queue offset 0");

    let refused = api().delete_topic_in_broker(&broker.address, "SCHEDULE_TOPIC_XXXX");
    assert!(matches!(refused, Err(ClientError::Response { code: response::SYSTEM_ERROR, .. })), "{refused:?}");
}
