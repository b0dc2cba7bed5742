//! Role rules of a master and its slave, through our own client:
//!
//! * a slave whose master has another shard count stops with a message that says what to set;
//! * with `slaveReadEnable`, a master suggests the slave (`suggestWhichBrokerId` = 1) to a
//!   consumer reading further behind than the memory window (`accessMessageInMemoryMaxRatio`,
//!   0 here so that any record is "far behind"), and the master otherwise;
//! * a slave without `slaveReadEnable` answers a pull with PULL_RETRY_IMMEDIATELY pointing at
//!   the master, as Java's does; with it, the slave serves the replicated message.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ringmq::client::BlockingClient;
use ringmq::protocol::headers::SendMessageRequestHeaderV2;
use ringmq::protocol::{request, response, Command as Remoting, Header};

fn send(client: &mut BlockingClient, broker: &str) -> i32 {
    let mut command = Remoting::request(request::SEND_MESSAGE_V2, 0);
    SendMessageRequestHeaderV2 {
        a: "RoleProducer".into(),
        b: "RoleTopic".into(),
        c: "TBW102".into(),
        d: 1,
        e: 0,
        f: 0,
        g: 0,
        h: 0,
        i: None,
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
    }
    .encode(&mut command.ext_fields);
    command.body = b"role".to_vec().into();
    client.invoke(broker, command).map(|reply| reply.code).unwrap_or(-1)
}

fn pull(client: &mut BlockingClient, broker: &str) -> Remoting {
    let command = ringmq::client::pull_request("RoleGroup", "RoleTopic", 0, 0, 32, None);
    client.invoke(broker, command).unwrap()
}

fn suggested(reply: &Remoting) -> &str {
    reply.ext_fields.get("suggestWhichBrokerId").unwrap_or("missing")
}

fn master_and_slave(slave_read_enable: bool) -> (Scratch, Broker, Broker) {
    let scratch = Scratch::new("replication-roles");
    let master = start_broker(
        &scratch,
        "broker-r",
        "shardCount=2\nbrokerIP2=127.0.0.1\nslaveReadEnable=true\naccessMessageInMemoryMaxRatio=0",
    );
    let ha_port = master.address.rsplit_once(':').unwrap().1.parse::<u16>().unwrap() + 1;
    let slave = start_broker(
        &scratch,
        "broker-r-s",
        &format!(
            "shardCount=2\nbrokerName=broker-r\nbrokerId=1\nbrokerRole=SLAVE\n\
             haMasterAddress=127.0.0.1:{ha_port}\nslaveReadEnable={slave_read_enable}"
        ),
    );
    (scratch, master, slave)
}

/// Pulls from the slave until it has the message (replication and its topic sync take a
/// moment); returns the last reply.
fn pull_from_slave(client: &mut BlockingClient, slave: &Broker, done: impl Fn(&Remoting) -> bool) -> Remoting {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = pull(client, &slave.address);
        if done(&reply) || Instant::now() >= deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_master_suggests_its_slave_to_a_consumer_far_behind_and_the_slave_serves_it() {
    let (_scratch, master, slave) = master_and_slave(true);
    let mut client = BlockingClient::new(Duration::from_secs(10));
    assert_eq!(send(&mut client, &master.address), response::SUCCESS);
    let reply = pull(&mut client, &master.address);
    assert_eq!(reply.code, response::SUCCESS, "{:?}", reply.remark);
    assert_eq!(suggested(&reply), "1", "behind the (zero) memory window: read from the slave");

    let reply = pull_from_slave(&mut client, &slave, |reply| reply.code == response::SUCCESS);
    assert_eq!(reply.code, response::SUCCESS, "the slave serves reads: {:?}", reply.remark);
    assert!(reply.body.windows(4).any(|window| window == b"role"), "the replicated body");
    assert_eq!(suggested(&reply), "0");
}

#[test]
fn a_slave_without_slave_read_enable_points_consumers_at_the_master() {
    let (_scratch, master, slave) = master_and_slave(false);
    let mut client = BlockingClient::new(Duration::from_secs(10));
    assert_eq!(send(&mut client, &master.address), response::SUCCESS);
    // Once the topic reached the slave, its pulls are answered, and they say "retry at the master".
    let reply = pull_from_slave(&mut client, &slave, |reply| reply.code == response::PULL_RETRY_IMMEDIATELY);
    assert_eq!(reply.code, response::PULL_RETRY_IMMEDIATELY, "{:?}", reply.remark);
    assert_eq!(suggested(&reply), "0");
    assert!(reply.body.is_empty());
}

#[test]
fn a_slave_refuses_a_master_with_another_shard_count() {
    let scratch = Scratch::new("replication-shard-count");
    let master = start_broker(&scratch, "broker-x", "shardCount=2\nbrokerIP2=127.0.0.1");
    let ha_port = master.address.rsplit_once(':').unwrap().1.parse::<u16>().unwrap() + 1;
    let port = free_broker_port();
    let config = scratch.file(
        "slave.properties",
        &format!(
            "brokerName=broker-x\nbrokerId=1\nbrokerRole=SLAVE\nbrokerIP1=127.0.0.1\nlistenPort={port}\n\
             namesrvListenPort={}\nshardCount=1\nhaMasterAddress=127.0.0.1:{ha_port}\nstorePathRootDir={}\n",
            free_port(),
            scratch.0.join("store-slave").display()
        ),
    );
    let mut child = Command::new(ringmq_binary())
        .args(["broker", "-c", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the slave kept running with a master of another shard count");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("shardCount=1") && stderr.contains("set shardCount=2"), "{stderr}");
}
