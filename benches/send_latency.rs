//! Sync-send throughput and latency over loopback (`cargo bench --bench send_latency`).
//!
//! Starts `ringmq broker` (release build, ASYNC_FLUSH, embedded nameserver) on free ports,
//! creates a topic with 8 queues, then sends 1 KiB SEND_MESSAGE_V2 requests from plain threads:
//! 1 sender × 1 in flight, and 4 senders × 32 in flight (pipelined on one connection each,
//! replies matched by opaque). Latency is from the write of a request to its reply (closed
//! loop). In the same run: a loopback TCP ping-pong of a 1 KiB frame, the floor for any reply.
//! `--quick` shortens each scenario; `--json` prints a machine-readable summary; `--set key=value`
//! adds a line to the broker's properties (repeatable). Under
//! `cargo test` (no `--bench` argument) it runs as a half-second smoke test.

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

/// `extra`: property lines added to the broker's file (`--set key=value`, for tuning runs).
fn start_broker(directory: &std::path::Path, extra: &[String]) -> (Broker, String, String) {
    let _ = std::fs::remove_dir_all(directory);
    std::fs::create_dir_all(directory).unwrap();
    let port = free_port();
    let namesrv_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = directory.join("broker.properties");
    std::fs::write(
        &config,
        format!(
            "brokerIP1=127.0.0.1\nlistenPort={port}\nnamesrvListenPort={namesrv_port}\nstorePathRootDir={}\nflushDiskType=ASYNC_FLUSH\n{}\n",
            directory.join("store").display(),
            extra.join("\n")
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
    let namesrv = format!("127.0.0.1:{namesrv_port}");
    let status = Command::new(binary())
        .args([
            "admin",
            "updateTopic",
            "-n",
            &namesrv,
            "-c",
            "DefaultCluster",
            "-t",
            "BenchTopic",
            "-r",
            "8",
            "-w",
            "8",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    (Broker(child), format!("127.0.0.1:{port}"), namesrv)
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
    /// Broker CPU time (user + system) per acknowledged message.
    broker_cpu_us_per_message: f64,
}

/// utime + stime of a process, in µs (clock ticks of 10 ms on Linux: coarse, so scenarios run
/// for seconds).
fn cpu_us(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11..13).map(|pair| pair.iter().filter_map(|f| f.parse::<f64>().ok()).sum()).unwrap_or(0.0);
    ticks * 1e6 / 100.0
}

fn scenario(address: &str, broker_pid: u32, senders: usize, in_flight: usize, duration: Duration) -> Outcome {
    let cpu_before_us = cpu_us(broker_pid);
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
        broker_cpu_us_per_message: (cpu_us(broker_pid) - cpu_before_us) / done.max(1) as f64,
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let json = args.iter().any(|arg| arg == "--json");
    // `cargo bench` passes --bench; without it (`cargo test --all-targets`) this is a smoke run
    // that proves the harness works, in a second per scenario.
    let smoke = !args.iter().any(|arg| arg == "--bench");
    let duration = if smoke { Duration::from_millis(500) } else { Duration::from_secs(if quick { 3 } else { 10 }) };
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-send");
    let floor = ping_pong(duration);
    let extra: Vec<String> = args
        .iter()
        .zip(args.iter().skip(1))
        .filter(|(flag, _)| *flag == "--set")
        .map(|(_, line)| line.clone())
        .collect();
    let (broker, address, _namesrv) = start_broker(&directory, &extra);
    let pid = broker.0.id();
    // Warm-up: connections, routes, allocator.
    let _ = scenario(&address, pid, 1, 8, Duration::from_secs(1));
    let outcomes = [scenario(&address, pid, 1, 1, duration), scenario(&address, pid, 4, 32, duration)];
    if json {
        let rows: Vec<_> = outcomes
            .iter()
            .map(|outcome| {
                serde_json::json!({
                    "scenario": outcome.name, "messages_per_second": outcome.per_second, "errors": outcome.errors,
                    "latency_us_p50": outcome.latency.value_at_quantile(0.5), "latency_us_p99": outcome.latency.value_at_quantile(0.99),
                    "latency_us_p999": outcome.latency.value_at_quantile(0.999), "latency_us_max": outcome.latency.max(),
                    "broker_cpu_us_per_message": outcome.broker_cpu_us_per_message,
                })
            })
            .collect();
        let floor = serde_json::json!({"p50": floor.value_at_quantile(0.5), "p99": floor.value_at_quantile(0.99)});
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"loopback_round_trip_us": floor, "scenarios": rows}))
                .unwrap()
        );
        return;
    }
    println!(
        "loopback 1 KiB round trip: p50 {} µs, p99 {} µs\n",
        floor.value_at_quantile(0.5),
        floor.value_at_quantile(0.99)
    );
    println!(
        "| scenario (1 KiB, ASYNC_FLUSH) | msg/s | p50 µs | p99 µs | p99.9 µs | max µs | errors | broker CPU-µs/msg |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for outcome in &outcomes {
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {:.1} |",
            outcome.name,
            outcome.per_second,
            outcome.latency.value_at_quantile(0.5),
            outcome.latency.value_at_quantile(0.99),
            outcome.latency.value_at_quantile(0.999),
            outcome.latency.max(),
            outcome.errors,
            outcome.broker_cpu_us_per_message
        );
    }
}
