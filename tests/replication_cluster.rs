//! A 2m-2s-sync cluster on loopback: two nameservers, two SYNC_MASTER brokers with two shards
//! each, and a slave for each (DESIGN §4).
//!
//! Method: a real third-party client (ali-ons 3.12.0) sends to both masters and the test keeps
//! the sends that were acknowledged (SEND_OK: under SYNC_MASTER the slave has them). Once the
//! slaves caught up, each slave's shard logs must be byte-identical to its master's. Then master
//! A is killed (SIGKILL) and ali-ons consumes: it finds slave A through the nameserver route and
//! every acknowledged body must arrive. A slave refuses sends (SERVICE_NOT_AVAILABLE, as Java's)
//! and END_TRANSACTION (SLAVE_NOT_AVAILABLE), and follows the master's consumer offsets. Master A is restarted on its store and its slave
//! resumes (a SYNC_MASTER send succeeds only once the slave acknowledged it); slave B is killed
//! and restarted and resumes from its recovered log. After each step the logs are compared
//! byte for byte.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use ringmq::client::BlockingClient;
use ringmq::protocol::headers::{SendMessageRequestHeaderV2, UpdateConsumerOffsetRequestHeader};
use ringmq::protocol::{request, response, Command, Header};

const SHARDS: usize = 2;

/// One broker of the cluster.
struct Member {
    process: Option<Process>,
    config: PathBuf,
    store: PathBuf,
    address: String,
    scratch_dir: PathBuf,
}

impl Member {
    fn start(scratch: &Scratch, file: &str, properties: &str, port: u16) -> Self {
        let store = scratch.0.join(format!("store-{file}"));
        let text = format!("{properties}\nlistenPort={port}\nstorePathRootDir={}\n", store.display());
        let config = scratch.file(&format!("{file}.properties"), &text);
        let mut member =
            Self { process: None, config, store, address: format!("127.0.0.1:{port}"), scratch_dir: scratch.0.clone() };
        member.restart();
        member
    }

    fn restart(&mut self) {
        self.process = None;
        let process = start_ringmq(&["broker", "-c", self.config.to_str().unwrap()], &self.scratch_dir);
        process.wait_for_line("boot success. serializeType=JSON", Duration::from_secs(60));
        self.process = Some(process);
    }

    fn kill(&mut self) {
        self.process = None; // SIGKILL on drop
    }
}

fn start_namesrv(scratch: &Scratch, port: u16) -> Process {
    let config = scratch.file(&format!("namesrv-{port}.properties"), &format!("listenPort={port}\n"));
    let process = start_ringmq(&["namesrv", "-c", config.to_str().unwrap()], &scratch.0);
    process.wait_for_line("The Name Server boot success", Duration::from_secs(30));
    process
}

fn properties(broker_name: &str, id: u8, namesrvs: &str) -> String {
    let role = if id == 0 { "SYNC_MASTER" } else { "SLAVE" };
    format!(
        "brokerClusterName=DefaultCluster\nbrokerName={broker_name}\nbrokerId={id}\nbrokerRole={role}\n\
         brokerIP1=127.0.0.1\nbrokerIP2=127.0.0.1\nnamesrvAddr={namesrvs}\nshardCount={SHARDS}\n\
         mappedFileSizeCommitLog=65536\nslaveReadEnable=true\nflushDiskType=ASYNC_FLUSH\n\
         flushIntervalCommitLog=50\n"
    )
}

fn send(client: &mut BlockingClient, broker: &str, topic: &str, body: Vec<u8>) -> Command {
    try_send(client, broker, topic, body).unwrap()
}

fn try_send(
    client: &mut BlockingClient,
    broker: &str,
    topic: &str,
    body: Vec<u8>,
) -> Result<Command, ringmq::client::ClientError> {
    let mut command = Command::request(request::SEND_MESSAGE_V2, 0);
    SendMessageRequestHeaderV2 {
        a: "ReplicationProducer".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: -1,
        f: 0,
        g: 0,
        h: 0,
        i: Some("TAGS\u{1}Rust\u{2}WAIT\u{1}true".into()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
    }
    .encode(&mut command.ext_fields);
    command.body = body.into();
    client.invoke(broker, command)
}

/// Sends to a SYNC_MASTER until a send succeeds, which needs a connected slave that
/// acknowledged it; returns the codes seen before.
fn wait_until_replicated(client: &mut BlockingClient, master: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut codes = Vec::new();
    while Instant::now() < deadline {
        match try_send(client, master, "TestTopic", b"probe".to_vec()) {
            Ok(reply) if reply.code == response::SUCCESS => return codes,
            Ok(reply) => codes.push(reply.code),
            Err(_) => client.disconnect(master), // a restarted broker: connect again
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no SYNC_MASTER send to {master} succeeded within 60 s; codes {codes:?}");
}

fn create_topic(scratch: &Scratch, namesrv: &str) {
    let created = run_ringmq(
        &["admin", "updateTopic", "-n", namesrv, "-c", "DefaultCluster", "-t", "TestTopic", "-r", "8", "-w", "8"],
        &scratch.0,
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
}

/// Waits until the slave copied the master's topic (its SlaveSynchronize runs every 10 s).
fn wait_for_topic(client: &mut BlockingClient, slave: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let reply = client.invoke(slave, Command::request(request::GET_ALL_TOPIC_CONFIG, 0)).unwrap();
        if String::from_utf8_lossy(&reply.body).contains("\"TestTopic\"") {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("the slave {slave} never copied TestTopic from its master");
}

/// The segment files of one shard, by name.
fn segments(store: &Path, shard: usize) -> Vec<PathBuf> {
    let directory = store.join("commitlog").join(format!("shard-{shard}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.file_name().unwrap().to_string_lossy().len() == 20);
    files.sort();
    files
}

/// Where the two logs of one shard first differ, if they do: every segment the slave has must
/// equal the master's segment of the same name (or, not created on the master yet, hold only
/// zeros).
fn first_difference(master: &Path, slave: &Path, shard: usize) -> Option<String> {
    let slave_files = segments(slave, shard);
    if slave_files.is_empty() {
        return Some(format!("the slave has no segments for shard {shard}"));
    }
    for slave_file in slave_files {
        let name = slave_file.file_name().unwrap();
        let master_file = master.join("commitlog").join(format!("shard-{shard}")).join(name);
        let theirs = std::fs::read(&slave_file).unwrap();
        let Ok(ours) = std::fs::read(&master_file) else {
            // Each flusher zeroes segments ahead of its own write position, as far as its own
            // timing took it: a segment the master has not created yet holds no records.
            if theirs.iter().all(|byte| *byte == 0) {
                continue;
            }
            return Some(format!("shard {shard}: the master has no segment {name:?}"));
        };
        if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
            return Some(format!("shard {shard} segment {name:?} differs at byte {at}"));
        }
        if ours.len() != theirs.len() {
            return Some(format!("shard {shard} segment {name:?}: {} vs {} bytes", ours.len(), theirs.len()));
        }
    }
    None
}

/// The slave's logs are a byte-identical copy of the master's (waiting for the flushers).
fn assert_logs_identical(master: &Member, slave: &Member) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let differences: Vec<String> =
            (0..SHARDS).filter_map(|shard| first_difference(&master.store, &slave.store, shard)).collect();
        if differences.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{} vs {}: {differences:?}", master.address, slave.address);
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn data_bytes(store: &Path) -> usize {
    (0..SHARDS)
        .flat_map(|shard| segments(store, shard))
        .map(|file| std::fs::read(file).unwrap().iter().filter(|byte| **byte != 0).count())
        .sum()
}

#[test]
fn a_2m_2s_sync_cluster_loses_no_acknowledged_message_when_a_master_dies() {
    let scratch = Scratch::new("replication-cluster");
    let namesrv_ports = [free_port(), free_port()];
    let _namesrvs: Vec<Process> = namesrv_ports.iter().map(|port| start_namesrv(&scratch, *port)).collect();
    let namesrvs = format!("127.0.0.1:{};127.0.0.1:{}", namesrv_ports[0], namesrv_ports[1]);
    let mut master_a = Member::start(&scratch, "broker-a", &properties("broker-a", 0, &namesrvs), free_broker_port());
    let master_b = Member::start(&scratch, "broker-b", &properties("broker-b", 0, &namesrvs), free_broker_port());
    let slave_a = Member::start(&scratch, "broker-a-s", &properties("broker-a", 1, &namesrvs), free_broker_port());
    let mut slave_b = Member::start(&scratch, "broker-b-s", &properties("broker-b", 1, &namesrvs), free_broker_port());
    create_topic(&scratch, &format!("127.0.0.1:{}", namesrv_ports[0]));
    let mut client = BlockingClient::new(Duration::from_secs(10));
    wait_until_replicated(&mut client, &master_a.address);
    wait_until_replicated(&mut client, &master_b.address);
    wait_for_topic(&mut client, &slave_a.address);
    wait_for_topic(&mut client, &slave_b.address);

    // Larger bodies through our client first, so the 64 KiB segments roll (blank records are
    // replicated too).
    for index in 0..120 {
        let master = if index % 2 == 0 { &master_a.address } else { &master_b.address };
        let reply = send(&mut client, master, "TestTopic", format!("big {index} {}", "x".repeat(2000)).into_bytes());
        assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    }

    let produced = run_node_with("producer.js", &namesrvs, &[("COUNT", "200"), ("PREFIX", "replicated")]);
    let mut acknowledged = BTreeSet::new();
    let mut brokers = BTreeSet::new();
    for (index, line) in produced.lines().filter_map(|line| line.strip_prefix("SEND_RESULT ")).enumerate() {
        let result: serde_json::Value = serde_json::from_str(line).unwrap();
        if result["sendStatus"] == "SEND_OK" {
            acknowledged.insert(format!("replicated {index}"));
            brokers.insert(result["messageQueue"]["brokerName"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(acknowledged.len(), 200, "every send had a slave: {produced}");
    assert_eq!(brokers, BTreeSet::from(["broker-a".to_string(), "broker-b".to_string()]));
    assert_logs_identical(&master_a, &slave_a);
    assert_logs_identical(&master_b, &slave_b);
    assert!(data_bytes(&slave_a.store) > 100 * 1024, "the slave holds the records, not only zeros");
    assert!(segments(&slave_a.store, 0).len() > 1 && segments(&slave_a.store, 1).len() > 1);

    // A slave refuses what only a master may do, with Java's codes.
    let refused = send(&mut client, &slave_a.address, "TestTopic", b"to a slave".to_vec());
    assert_eq!(refused.code, response::SERVICE_NOT_AVAILABLE, "{:?}", refused.remark);
    assert!(refused.remark.as_deref().unwrap_or("").contains("slave"), "{:?}", refused.remark);
    let mut end = Command::request(request::END_TRANSACTION, 0);
    end.ext_fields.insert("commitLogOffset", "0");
    let refused = client.invoke(&slave_a.address, end).unwrap();
    assert_eq!(refused.code, response::SLAVE_NOT_AVAILABLE, "{:?}", refused.remark);

    // The slave follows the master's consumer offsets (its synchronizer runs every 10 s),
    // gathered from every shard of the master.
    for queue_id in 0..8 {
        let mut update = Command::request(request::UPDATE_CONSUMER_OFFSET, 0);
        UpdateConsumerOffsetRequestHeader {
            consumer_group: "SyncedGroup".into(),
            topic: "TestTopic".into(),
            queue_id,
            commit_offset: 5 + i64::from(queue_id),
        }
        .encode(&mut update.ext_fields);
        assert_eq!(client.invoke(&master_a.address, update).unwrap().code, response::SUCCESS);
    }
    let expected = "\"TestTopic@SyncedGroup\":{0:5,1:6,2:7,3:8,4:9,5:10,6:11,7:12}";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = client.invoke(&slave_a.address, Command::request(request::GET_ALL_CONSUMER_OFFSET, 0)).unwrap();
        let body = String::from_utf8_lossy(&reply.body).to_string();
        if body.contains(expected) {
            break;
        }
        assert!(Instant::now() < deadline, "the slave's offsets never followed the master's: {body}");
        std::thread::sleep(Duration::from_millis(250));
    }

    master_a.kill();
    let consumed =
        run_node_with("consume_count.js", &namesrvs, &[("EXPECT", "200"), ("RUN_SECS", "90"), ("TAGS", "TagA")]);
    let bodies: BTreeSet<String> = consumed
        .lines()
        .filter(|line| line.starts_with("RECEIVED "))
        .map(|line| line.rsplit("body=").next().unwrap().to_string())
        .filter(|body| body.starts_with("replicated "))
        .collect();
    let missing: Vec<&String> = acknowledged.difference(&bodies).collect();
    assert!(missing.is_empty(), "acknowledged but not consumed (with master A dead): {missing:?}");

    // A restarted master serves its slave again: a SYNC_MASTER send succeeds only when the
    // slave acknowledged it.
    master_a.restart();
    wait_until_replicated(&mut client, &master_a.address);
    assert_logs_identical(&master_a, &slave_a);

    // A restarted slave resumes from its recovered log.
    slave_b.kill();
    let reply = send(&mut client, &master_b.address, "TestTopic", b"while the slave is down".to_vec());
    assert!(
        [response::SLAVE_NOT_AVAILABLE, response::FLUSH_SLAVE_TIMEOUT].contains(&reply.code),
        "no slave: {} {:?}",
        reply.code,
        reply.remark
    );
    slave_b.restart();
    wait_until_replicated(&mut client, &master_b.address);
    assert_logs_identical(&master_b, &slave_b);
}
