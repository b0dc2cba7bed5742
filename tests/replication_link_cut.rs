//! The master–slave link cut: masters in one network namespace, slaves in another, joined by a
//! veth pair that the test makes and removes (root and `ip`/`tc` needed; skipped with a message
//! otherwise).
//!
//! Method: a SYNC_MASTER and an ASYNC_MASTER (each with a slave) replicate over the veth. The
//! link is cut with a zero-length `pfifo` qdisc on both ends (every packet is dropped; this
//! kernel has no netem and no classifiers, and a drop rule is what the issue allows), so the TCP
//! streams stay open but carry nothing. SYNC_MASTER sends must then answer FLUSH_SLAVE_TIMEOUT or
//! SLAVE_NOT_AVAILABLE (after `slaveTimeout`, set short here), while ASYNC_MASTER sends keep
//! succeeding. After the link heals, both slaves catch up byte for byte and a SYNC_MASTER send
//! succeeds again. The test's client runs on a thread that joined the masters' namespace.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ringmq::client::BlockingClient;
use ringmq::protocol::headers::SendMessageRequestHeaderV2;
use ringmq::protocol::{request, response, Command as Remoting, Header};

const SLAVE_TIMEOUT_MS: u64 = 1000;

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program).args(args).output().map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr)))
    }
}

/// Two namespaces joined by a veth pair; removed when dropped.
struct Link {
    masters: String,
    slaves: String,
    master_device: String,
    slave_device: String,
    master_ip: String,
    slave_ip: String,
}

impl Link {
    fn create() -> Result<Self, String> {
        let id = std::process::id() % 100_000;
        let subnet = 20 + id % 200;
        let link = Self {
            masters: format!("ringmq-m-{id}"),
            slaves: format!("ringmq-s-{id}"),
            master_device: format!("rmqm{id}"),
            slave_device: format!("rmqs{id}"),
            master_ip: format!("10.{subnet}.77.1"),
            slave_ip: format!("10.{subnet}.77.2"),
        };
        run("ip", &["netns", "add", &link.masters])?;
        run("ip", &["netns", "add", &link.slaves])?;
        run("ip", &["link", "add", &link.master_device, "type", "veth", "peer", "name", &link.slave_device])?;
        run("ip", &["link", "set", &link.master_device, "netns", &link.masters])?;
        run("ip", &["link", "set", &link.slave_device, "netns", &link.slaves])?;
        for (namespace, device, ip) in
            [(&link.masters, &link.master_device, &link.master_ip), (&link.slaves, &link.slave_device, &link.slave_ip)]
        {
            run("ip", &["-n", namespace, "addr", "add", &format!("{ip}/24"), "dev", device])?;
            run("ip", &["-n", namespace, "link", "set", device, "up"])?;
            run("ip", &["-n", namespace, "link", "set", "lo", "up"])?;
        }
        Ok(link)
    }

    /// Every packet leaving either end is dropped by a qdisc that holds none.
    fn cut(&self) {
        for (namespace, device) in [(&self.masters, &self.master_device), (&self.slaves, &self.slave_device)] {
            run(
                "ip",
                &["netns", "exec", namespace, "tc", "qdisc", "add", "dev", device, "root", "pfifo", "limit", "0"],
            )
            .unwrap();
        }
    }

    fn heal(&self) {
        for (namespace, device) in [(&self.masters, &self.master_device), (&self.slaves, &self.slave_device)] {
            run("ip", &["netns", "exec", namespace, "tc", "qdisc", "del", "dev", device, "root"]).unwrap();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.masters]);
        let _ = run("ip", &["netns", "del", &self.slaves]); // the veth pair goes with them
    }
}

/// Why the test cannot run here, if it cannot.
fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces need CAP_NET_ADMIN".into());
    }
    for tool in ["ip", "tc"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// A broker running inside a namespace, killed when dropped.
struct Member {
    child: Child,
    store: PathBuf,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_in(namespace: &str, scratch: &Scratch, name: &str, properties: &str) -> Member {
    let store = scratch.0.join(format!("store-{name}"));
    let text = format!("{properties}\nstorePathRootDir={}\n", store.display());
    let config = scratch.file(&format!("{name}.properties"), &text);
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace, ringmq_binary(), "broker", "-c", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ringmq starts");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let label = name.to_string();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[{label}] {line}");
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = receiver.recv_timeout(Duration::from_millis(200));
        if line.is_ok_and(|line| line.contains("boot success. serializeType=JSON")) {
            break;
        }
        assert!(Instant::now() < deadline, "{name} did not boot");
    }
    Member { child, store }
}

fn broker(name: &str, role: &str, port: u16, namesrv_port: u16, ip: &str, extra: &str) -> String {
    let id = if role == "SLAVE" { 1 } else { 0 };
    format!(
        "brokerClusterName=DefaultCluster\nbrokerName={name}\nbrokerId={id}\nbrokerRole={role}\nbrokerIP1={ip}\n\
         brokerIP2={ip}\nlistenPort={port}\nnamesrvListenPort={namesrv_port}\nshardCount=2\n\
         mappedFileSizeCommitLog=65536\nslaveTimeout={SLAVE_TIMEOUT_MS}\nsyncFlushTimeout={SLAVE_TIMEOUT_MS}\n{extra}\n"
    )
}

/// Runs `work` on a thread that joined `namespace` (sockets it opens live there).
fn in_namespace<T: Send + 'static>(namespace: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{namespace}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns moves only this thread into the namespace the open file names.
        let joined = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(joined, 0, "setns {path}: {}", std::io::Error::last_os_error());
        work()
    })
    .join()
    .unwrap()
}

fn send(client: &mut BlockingClient, broker: &str) -> Result<i32, String> {
    let mut command = Remoting::request(request::SEND_MESSAGE_V2, 0);
    SendMessageRequestHeaderV2 {
        a: "CutProducer".into(),
        b: "CutTopic".into(),
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
    command.body = vec![b'c'; 512].into();
    client.invoke(broker, command).map(|reply| reply.code).map_err(|error| error.to_string())
}

fn send_until_success(client: &mut BlockingClient, broker: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match send(client, broker) {
            Ok(response::SUCCESS) => return,
            Ok(_) => {}
            Err(_) => client.disconnect(broker),
        }
        assert!(Instant::now() < deadline, "no send to {broker} succeeded");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_files(store: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for shard in 0..2 {
        let directory = store.join("commitlog").join(format!("shard-{shard}"));
        let Ok(entries) = std::fs::read_dir(&directory) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            files.push((
                format!("{shard}/{}", path.file_name().unwrap().to_string_lossy()),
                std::fs::read(path).unwrap(),
            ));
        }
    }
    files.sort();
    files
}

/// Waits until every slave segment equals the master's segment of the same name (or is zeros).
fn wait_identical(master: &Member, slave: &Member) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ours = log_files(&master.store);
        let theirs = log_files(&slave.store);
        // A segment the master has not created yet (each flusher zeroes ahead at its own pace)
        // must hold only zeros on the slave.
        let same = !theirs.is_empty()
            && theirs.iter().all(|(name, bytes)| match ours.iter().find(|(other, _)| other == name) {
                Some((_, mine)) => mine == bytes,
                None => bytes.iter().all(|byte| *byte == 0),
            });
        let holds_records = theirs.iter().any(|(_, bytes)| bytes.iter().any(|byte| *byte != 0));
        if same && holds_records {
            return;
        }
        assert!(Instant::now() < deadline, "the slave of {} never caught up byte for byte", master.store.display());
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_cut_link_fails_sync_master_sends_in_time_async_keeps_going_and_the_slave_catches_up() {
    if let Some(reason) = unsupported() {
        eprintln!("SKIPPED replication link cut: {reason}");
        return;
    }
    let link = Link::create().expect("network namespaces and a veth pair");
    let scratch = Scratch::new("replication-link-cut");
    let ip = link.master_ip.clone();
    let slave_ip = link.slave_ip.clone();
    let sync_master = start_in(&link.masters, &scratch, "sync", &broker("sync", "SYNC_MASTER", 10911, 9876, &ip, ""));
    let async_master =
        start_in(&link.masters, &scratch, "async", &broker("async", "ASYNC_MASTER", 10921, 9877, &ip, ""));
    let follow = |port: u16| format!("haMasterAddress={ip}:{}", port + 1);
    let sync_slave =
        start_in(&link.slaves, &scratch, "sync-s", &broker("sync", "SLAVE", 10941, 9878, &slave_ip, &follow(10911)));
    let async_slave =
        start_in(&link.slaves, &scratch, "async-s", &broker("async", "SLAVE", 10951, 9879, &slave_ip, &follow(10921)));

    let masters = link.masters.clone();
    in_namespace(&masters, || {
        let mut client = BlockingClient::new(Duration::from_secs(30));
        send_until_success(&mut client, "127.0.0.1:10911");
        send_until_success(&mut client, "127.0.0.1:10921");
        for _ in 0..20 {
            assert_eq!(send(&mut client, "127.0.0.1:10911"), Ok(response::SUCCESS));
        }
    });
    wait_identical(&sync_master, &sync_slave);

    link.cut();
    let codes = in_namespace(&masters, || {
        let mut client = BlockingClient::new(Duration::from_secs(30));
        let mut codes = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let code = send(&mut client, "127.0.0.1:10911").unwrap();
            // Bounded by slaveTimeout; the margin only catches a send that hangs.
            assert!(started.elapsed() < Duration::from_millis(SLAVE_TIMEOUT_MS) + Duration::from_secs(10));
            codes.push(code);
        }
        for _ in 0..20 {
            assert_eq!(send(&mut client, "127.0.0.1:10921"), Ok(response::SUCCESS), "ASYNC_MASTER keeps going");
        }
        codes
    });
    assert!(
        codes.iter().all(|code| [response::FLUSH_SLAVE_TIMEOUT, response::SLAVE_NOT_AVAILABLE].contains(code)),
        "SYNC_MASTER sends while the link is cut: {codes:?}"
    );

    link.heal();
    in_namespace(&masters, || {
        let mut client = BlockingClient::new(Duration::from_secs(30));
        send_until_success(&mut client, "127.0.0.1:10911");
    });
    wait_identical(&sync_master, &sync_slave);
    wait_identical(&async_master, &async_slave);
}
