//! The nameserver, driven by a real third-party client.
//!
//! Method: start `ringmq namesrv` as a process on a free loopback port, then ask it for routes
//! through ali-ons 3.12.0 (a pure-JavaScript RocketMQ 4.x client installed from npm by
//! `scripts/test.sh`), using the same client API its producer and consumer use. An unknown
//! topic must come back as TOPIC_NOT_EXIST (17), not as a client timeout; after a broker
//! registers through our own client, ali-ons must parse the route (it sends version 121, so it
//! gets fastjson's unquoted integer keys, as from a Java 4.9.4 nameserver) and
//! `ringmq admin clusterList` must list the broker. Closing the broker's connection must remove
//! its routes again.

mod common;

use std::time::Duration;

use common::*;
use ringmq::client::{AdminApi, BlockingClient, BrokerRegistration};
use ringmq::protocol::bodies::{DataVersion, TopicConfig};

fn start_namesrv(scratch: &Scratch) -> (Process, String) {
    let port = free_port();
    let config = scratch.file(
        "namesrv.properties",
        &format!("listenPort={port}\nkvConfigPath={}/kvConfig.json\n", scratch.0.display()),
    );
    let process = start_ringmq(&["namesrv", "-c", config.to_str().unwrap()], &scratch.0);
    process.wait_for_line("The Name Server boot success. serializeType=JSON", Duration::from_secs(30));
    let address = format!("127.0.0.1:{port}");
    wait_for_port(address.parse().unwrap(), Duration::from_secs(10));
    (process, address)
}

fn registration(broker_port: u16, topics: &[&str]) -> BrokerRegistration {
    BrokerRegistration {
        cluster_name: "DefaultCluster".into(),
        broker_name: "broker-a".into(),
        broker_addr: format!("127.0.0.1:{broker_port}"),
        ha_server_addr: format!("127.0.0.1:{}", broker_port + 1),
        broker_id: 0,
        data_version: DataVersion { counter: 1, timestamp: 1 },
        topics: topics.iter().map(|topic| TopicConfig::new(topic, 4, 6)).collect(),
        compressed: false,
    }
}

#[test]
fn ali_ons_gets_topic_not_exist_then_the_route_after_a_broker_registers() {
    let scratch = Scratch::new("namesrv-ali-ons");
    let (_namesrv, address) = start_namesrv(&scratch);

    let unknown = run_node("route.js", &["TestTopic"], &address);
    assert!(unknown.contains("ERROR 17 No topic route info in name server for the topic: TestTopic"), "{unknown}");

    let mut api = AdminApi::new(BlockingClient::new(Duration::from_secs(3)));
    let broker = registration(10911, &["TestTopic", "TBW102"]);
    api.register_broker(&address, &broker).unwrap();

    let known = run_node("route.js", &["TestTopic"], &address);
    let json = known.lines().find_map(|line| line.strip_prefix("ROUTE ")).expect("a route line");
    let route: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(route["brokerDatas"][0]["brokerName"], "broker-a");
    assert_eq!(route["brokerDatas"][0]["brokerAddrs"]["0"], "127.0.0.1:10911");
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 4);
    assert_eq!(route["queueDatas"][0]["perm"], 6);

    let listed = run_ringmq(&["admin", "clusterList", "-n", &address], &scratch.0);
    let text = String::from_utf8_lossy(&listed.stdout);
    println!("{text}");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(text.starts_with("#Cluster Name"), "{text}");
    let row = text.lines().find(|line| line.contains("broker-a")).expect("a broker-a row");
    assert!(row.starts_with("DefaultCluster"), "{row}");
    assert!(row.contains("127.0.0.1:10911"), "{row}");

    // The broker's connection closing removes its routes at once (onChannelDestroy).
    api.client.disconnect(&address);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = run_node("route.js", &["TestTopic"], &address);
        if again.contains("ERROR 17") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the route outlived the broker's connection");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn admin_topic_commands_and_unknown_codes_are_answered() {
    let scratch = Scratch::new("namesrv-admin");
    let (_namesrv, address) = start_namesrv(&scratch);
    let mut api = AdminApi::new(BlockingClient::new(Duration::from_secs(3)));
    let mut broker = registration(20911, &["Orders"]);
    broker.compressed = true;
    api.register_broker(&address, &broker).unwrap();

    let listed = run_ringmq(&["admin", "topiclist", "-n", &address], &scratch.0);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().collect::<Vec<_>>(), vec!["Orders"]);

    let route = run_ringmq(&["admin", "topicRoute", "-n", &address, "-t", "Orders"], &scratch.0);
    let text = String::from_utf8_lossy(&route.stdout);
    let compact: String = text.split_whitespace().collect();
    assert!(compact.contains("\"brokerAddrs\":{0:\"127.0.0.1:20911\"}"), "mqadmin prints unquoted broker ids: {text}");

    let missing = run_ringmq(&["admin", "topicRoute", "-n", &address, "-t", "Nope"], &scratch.0);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("CODE: 17"));

    // Java's nameserver never answers a code it does not know; ringmq answers at once.
    let reply = api.client.invoke(&address, ringmq::protocol::Command::request(9999, 0)).unwrap();
    assert_eq!(reply.code, ringmq::protocol::response::REQUEST_CODE_NOT_SUPPORTED);
}
