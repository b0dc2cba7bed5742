//! SYNC_MASTER against ASYNC_MASTER over loopback (`cargo bench --bench replication`).
//!
//! For each role: a master and its slave (`ringmq broker`, release build, ASYNC_FLUSH, two
//! shards each, the slave following through `haMasterAddress`), a topic with 8 queues, then
//! 1 KiB SEND_MESSAGE_V2 requests from plain threads: 1 sender × 1 in flight and 4 senders × 32
//! in flight (pipelined, replies matched by opaque). Under SYNC_MASTER a reply waits until the
//! slave acknowledged the record. In the same run: a loopback 1 KiB round trip, the floor of
//! what SYNC_MASTER adds. Reports the throughput ratio (bar: ≥ 0.95) and the added p50 at 1 × 1
//! (bar: ≤ one round trip + 100 µs). `--quick` shortens each scenario; under `cargo test` (no
//! `--bench` argument) it runs as a short smoke test. `SHARDS=n` sets both brokers' shardCount.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;

use ringmq::protocol::headers::SendMessageRequestHeaderV2;
use ringmq::protocol::{frame, request, response, Command as Remoting, Header};

const BODY_BYTES: usize = 1024;

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if [port - 2, port + 1].iter().all(|candidate| TcpListener::bind(("0.0.0.0", *candidate)).is_ok()) {
            return port;
        }
    }
}

fn binary() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status =
        Command::new("cargo").args(["build", "--release", "--bin", "ringmq"]).current_dir(root).status().unwrap();
    assert!(status.success());
    root.join("target/release/ringmq")
}

/// Starts `ringmq broker` with `properties` (plus ports and store) in `directory`; waits for
/// its boot line.
fn start_broker(directory: &std::path::Path, port: u16, properties: &str) -> Broker {
    std::fs::create_dir_all(directory).unwrap();
    let namesrv_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = directory.join("broker.properties");
    std::fs::write(
        &config,
        format!(
            "brokerIP1=127.0.0.1\nbrokerIP2=127.0.0.1\nlistenPort={port}\nnamesrvListenPort={namesrv_port}\n\
             storePathRootDir={}\nflushDiskType=ASYNC_FLUSH\n{}\n{properties}\n",
            directory.join("store").display(),
            // SHARDS=n sets shardCount on both brokers (default: the usable CPUs).
            std::env::var("SHARDS").map(|count| format!("shardCount={count}")).unwrap_or_default()
        ),
    )
    .unwrap();
    let mut child = Command::new(binary())
        .args(["broker", "-c", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut chunk = [0u8; 4096];
    while !seen.contains("and name server is") {
        let count = stdout.read(&mut chunk).unwrap();
        assert!(count > 0, "the broker exited: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..count]));
    }
    std::thread::spawn(move || while stdout.read(&mut chunk).map(|count| count > 0).unwrap_or(false) {});
    let status = Command::new(binary())
        .args(["admin", "updateTopic", "-b", &format!("127.0.0.1:{port}"), "-t", "BenchTopic", "-r", "8", "-w", "8"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    Broker(child)
}

fn send_request(queue_id: i32, opaque: i32, body: &bytes::Bytes) -> bytes::Bytes {
    let mut command = Remoting::request(request::SEND_MESSAGE_V2, opaque);
    SendMessageRequestHeaderV2 {
        a: "BenchProducer".into(),
        b: "BenchTopic".into(),
        c: "TBW102".into(),
        d: 8,
        e: queue_id,
        f: 0,
        g: 0,
        h: 0,
        i: Some("WAIT\u{1}true".into()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
    }
    .encode(&mut command.ext_fields);
    command.body = body.clone();
    frame::encode_to_bytes(&command)
}

/// One sender: keeps `in_flight` requests outstanding on one connection for `duration`.
fn sender(address: String, sender_index: usize, in_flight: usize, duration: Duration) -> (u64, u64, Histogram<u64>) {
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_nodelay(true).unwrap();
    let body = bytes::Bytes::from(vec![b'x'; BODY_BYTES]);
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let mut pending: HashMap<i32, Instant> = HashMap::new();
    let mut buffer = BytesMut::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 16];
    let (mut next, mut done, mut errors) = (0i32, 0u64, 0u64);
    let deadline = Instant::now() + duration;
    loop {
        let sending = Instant::now() < deadline;
        while sending && pending.len() < in_flight {
            let opaque = next;
            next += 1;
            let queue = ((sender_index as i32) + opaque) % 8;
            stream.write_all(&send_request(queue, opaque, &body)).unwrap();
            pending.insert(opaque, Instant::now());
        }
        if pending.is_empty() {
            break;
        }
        let count = stream.read(&mut chunk).unwrap();
        assert!(count > 0, "the broker closed the connection");
        buffer.extend_from_slice(&chunk[..count]);
        while let Some(reply) = frame::decode(&mut buffer).unwrap() {
            if let Some(started) = pending.remove(&reply.opaque) {
                histogram.record(started.elapsed().as_micros().max(1) as u64).unwrap();
                if reply.code == response::SUCCESS {
                    done += 1;
                } else {
                    errors += 1;
                }
            }
        }
    }
    (done, errors, histogram)
}

struct Outcome {
    name: String,
    per_second: f64,
    errors: u64,
    latency: Histogram<u64>,
}

fn scenario(address: &str, senders: usize, in_flight: usize, duration: Duration) -> Outcome {
    let started = Instant::now();
    let threads: Vec<_> = (0..senders)
        .map(|index| {
            let address = address.to_string();
            std::thread::spawn(move || sender(address, index, in_flight, duration))
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let (mut done, mut errors) = (0, 0);
    for thread in threads {
        let (count, failed, histogram) = thread.join().unwrap();
        done += count;
        errors += failed;
        latency.add(histogram).unwrap();
    }
    Outcome {
        name: format!("{senders} sender(s) × {in_flight} in flight"),
        per_second: done as f64 / started.elapsed().as_secs_f64(),
        errors,
        latency,
    }
}

/// Round trips of a 1 KiB frame over loopback with a trivial echo server: the floor.
fn ping_pong(duration: Duration) -> Histogram<u64> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buffer = vec![0u8; BODY_BYTES];
        while stream.read_exact(&mut buffer).is_ok() {
            if stream.write_all(&buffer).is_err() {
                break;
            }
        }
    });
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buffer = vec![7u8; BODY_BYTES];
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        let started = Instant::now();
        stream.write_all(&buffer).unwrap();
        stream.read_exact(&mut buffer).unwrap();
        histogram.record(started.elapsed().as_micros().max(1) as u64).unwrap();
    }
    histogram
}

/// A master of `role` with a slave; waits until a send succeeds (under SYNC_MASTER: until the
/// slave follows).
fn start_pair(directory: &std::path::Path, role: &str) -> (Broker, Broker, String) {
    let _ = std::fs::remove_dir_all(directory);
    let port = free_port();
    let master = start_broker(&directory.join("master"), port, &format!("brokerRole={role}"));
    let slave_port = free_port();
    let slave = start_broker(
        &directory.join("slave"),
        slave_port,
        &format!("brokerRole=SLAVE\nbrokerId=1\nhaMasterAddress=127.0.0.1:{}", port + 1),
    );
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while scenario(&address, 1, 1, Duration::from_millis(200)).errors > 0 {
        assert!(Instant::now() < deadline, "the {role} never got its slave");
    }
    (master, slave, address)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let smoke = !args.iter().any(|arg| arg == "--bench");
    let duration = if smoke { Duration::from_millis(500) } else { Duration::from_secs(if quick { 3 } else { 10 }) };
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-replication");
    let floor = ping_pong(duration);
    let mut rows = Vec::new();
    for role in ["ASYNC_MASTER", "SYNC_MASTER"] {
        let (_master, _slave, address) = start_pair(&directory.join(role), role);
        let _ = scenario(&address, 1, 8, Duration::from_secs(1)); // warm-up
        let single = scenario(&address, 1, 1, duration);
        let many = scenario(&address, 4, 32, duration);
        rows.push((role, single, many));
    }
    println!(
        "loopback 1 KiB round trip: p50 {} µs, p99 {} µs\n",
        floor.value_at_quantile(0.5),
        floor.value_at_quantile(0.99)
    );
    println!("| role | scenario | msg/s | p50 µs | p99 µs | errors |");
    println!("|---|---|---:|---:|---:|---:|");
    for (role, single, many) in &rows {
        for outcome in [single, many] {
            println!(
                "| {role} | {} | {:.0} | {} | {} | {} |",
                outcome.name,
                outcome.per_second,
                outcome.latency.value_at_quantile(0.5),
                outcome.latency.value_at_quantile(0.99),
                outcome.errors
            );
        }
    }
    let (_, async_single, async_many) = &rows[0];
    let (_, sync_single, sync_many) = &rows[1];
    let ratio = sync_many.per_second / async_many.per_second;
    let added_us =
        sync_single.latency.value_at_quantile(0.5) as i64 - async_single.latency.value_at_quantile(0.5) as i64;
    let bar_us = floor.value_at_quantile(0.5) as i64 + 100;
    println!(
        "\nSYNC/ASYNC throughput at 4 × 32: {ratio:.3} (bar ≥ 0.95: {}); added p50 at 1 × 1: {added_us} µs (bar ≤ {bar_us} µs: {})",
        if ratio >= 0.95 { "met" } else { "missed" },
        if added_us <= bar_us { "met" } else { "missed" }
    );
}
