//! The shipped deployment files boot as they are: `conf/2m-noslave/`, `conf/2m-2s-async/` and
//! `conf/2m-2s-sync/`, with a nameserver given by `-n` as in RocketMQ's quick start.
//!
//! Method: each file is used with two substitutions only, so that the test runs beside anything
//! else on the machine: `${HOME}` points into a scratch directory, and every `listenPort` moves
//! to a free port (keeping each master's slave on the master's brokerName). With slaves, a send
//! to each master through our client proves that the slave follows: under SYNC_MASTER the reply
//! is SUCCESS only once the slave acknowledged the message; under ASYNC_MASTER the slave's logs
//! then catch up with the master's.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use ringmq::client::BlockingClient;
use ringmq::protocol::headers::SendMessageRequestHeaderV2;
use ringmq::protocol::{request, response, Command, Header};

fn conf(deployment: &str, file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf").join(deployment).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Writes the shipped file with its store under `scratch` and its ports moved; returns the
/// file and the broker's address.
fn localized(scratch: &Scratch, deployment: &str, file: &str) -> (PathBuf, String, PathBuf) {
    let port = free_broker_port();
    let home = scratch.0.join("home");
    let text: String = conf(deployment, file)
        .lines()
        .map(|line| if line.starts_with("listenPort=") { format!("listenPort={port}") } else { line.to_string() })
        .map(|line| line.replace("${HOME}", &home.display().to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    let store = text
        .lines()
        .find_map(|line| line.strip_prefix("storePathRootDir="))
        .map(PathBuf::from)
        .expect("every shipped file names its store");
    let text = format!("{text}\nbrokerIP1=127.0.0.1\nbrokerIP2=127.0.0.1\n");
    let path = scratch.file(&format!("{deployment}-{file}"), &text);
    (path, format!("127.0.0.1:{port}"), store)
}

fn boot(scratch: &Scratch, config: &Path, namesrv: &str) -> Process {
    let process = start_ringmq(&["broker", "-c", config.to_str().unwrap(), "-n", namesrv], &scratch.0);
    process.wait_for_line("boot success. serializeType=JSON", Duration::from_secs(60));
    process
}

fn send(client: &mut BlockingClient, broker: &str) -> i32 {
    let mut command = Command::request(request::SEND_MESSAGE_V2, 0);
    SendMessageRequestHeaderV2 {
        a: "ConfProducer".into(),
        b: "ConfTopic".into(),
        c: "TBW102".into(),
        d: 4,
        e: -1,
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
    command.body = b"conf".to_vec().into();
    client.invoke(broker, command).map(|reply| reply.code).unwrap_or(-1)
}

/// Sends until one succeeds (the topic is auto-created, the slave connects); returns false
/// after 60 s.
fn send_until_success(client: &mut BlockingClient, broker: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if send(client, broker) == response::SUCCESS {
            return true;
        }
        client.disconnect(broker);
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn log_bytes(store: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    let Ok(shards) = std::fs::read_dir(store.join("commitlog")) else { return bytes };
    let mut shards: Vec<PathBuf> = shards.map(|entry| entry.unwrap().path()).collect();
    shards.sort();
    for shard in shards {
        let mut files: Vec<PathBuf> = std::fs::read_dir(shard).unwrap().map(|entry| entry.unwrap().path()).collect();
        files.sort();
        // The default segments are 1 GiB; the few records of this test sit at their start.
        for file in files {
            let mut head = vec![0u8; 1 << 20];
            let read = std::io::Read::read(&mut std::fs::File::open(file).unwrap(), &mut head).unwrap();
            bytes.extend(&head[..read]);
        }
    }
    bytes
}

fn deployment_boots(deployment: &str, with_slaves: bool) {
    let scratch = Scratch::new(&format!("conf-{deployment}"));
    let namesrv_port = free_port();
    let namesrv_config = scratch.file("namesrv.properties", &format!("listenPort={namesrv_port}\n"));
    let namesrv_process = start_ringmq(&["namesrv", "-c", namesrv_config.to_str().unwrap()], &scratch.0);
    namesrv_process.wait_for_line("The Name Server boot success", Duration::from_secs(30));
    let namesrv = format!("127.0.0.1:{namesrv_port}");
    let mut client = BlockingClient::new(Duration::from_secs(10));
    let mut processes = Vec::new();
    for name in ["broker-a", "broker-b"] {
        let (config, address, store) = localized(&scratch, deployment, &format!("{name}.properties"));
        processes.push(boot(&scratch, &config, &namesrv));
        let slave_store = if with_slaves {
            let (config, _, slave_store) = localized(&scratch, deployment, &format!("{name}-s.properties"));
            processes.push(boot(&scratch, &config, &namesrv));
            Some(slave_store)
        } else {
            None
        };
        assert!(send_until_success(&mut client, &address), "{deployment}/{name}: no send succeeded");
        if let Some(slave_store) = slave_store {
            let deadline = Instant::now() + Duration::from_secs(30);
            // Equal and holding records (the master's flusher writes within 500 ms).
            while log_bytes(&slave_store) != log_bytes(&store) || log_bytes(&store).iter().all(|byte| *byte == 0) {
                assert!(Instant::now() < deadline, "{deployment}/{name}: the slave's logs never matched");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn the_2m_noslave_files_boot() {
    deployment_boots("2m-noslave", false);
}

#[test]
fn the_2m_2s_async_files_boot_and_the_slaves_follow() {
    deployment_boots("2m-2s-async", true);
}

#[test]
fn the_2m_2s_sync_files_boot_and_the_slaves_acknowledge() {
    deployment_boots("2m-2s-sync", true);
}
