//! What each durability mode costs (`cargo bench --bench flush_modes [-- --quick] [-- --split]`).
//!
//! Starts `ringmq broker` itself for every mode of [`MODES`] (a mode is a list of broker
//! property sets: one broker, or a master plus a `brokerRole=SLAVE`), and drives it with
//! `ringmq bench` (1 KiB messages): 1 sender × 1 in flight closed loop and at a fixed 1k msg/s
//! (open loop), 4 senders × 32 in flight, batches of 32, and a pull of 8 queues over 2
//! connections after a preload. Modes alternate (A B A B …) over ≥ 3 repetitions; the report
//! gives medians and min–max.
//!
//! Recorded in the same run: a loopback ping-pong of a 1 KiB frame (two threads, blocking
//! sockets, TCP_NODELAY: the floor for any round trip), the client alone against a null broker
//! (a thread that answers every request SUCCESS), a raw 4 KiB O_DIRECT write + fdatasync on the
//! store's disk, CPU model, kernel, load average and the core layout. Per mode and scenario:
//! msg/s, latency percentiles, messages per commit-log sync (the broker's `commitLogSyncCount`:
//! O_DSYNC record writes under `syncFlushMethod=WRITE_THROUGH`, fdatasyncs otherwise), broker
//! CPU-µs per message (utime+stime of /proc/<pid>/stat), broker RSS (VmHWM), and ratios to
//! ASYNC_FLUSH and to the baselines.
//!
//! Output: a markdown table on stdout; JSON and SVG plots under `target/bench-report/`. Under
//! `cargo test` (no `--bench` argument) it runs as a smoke test of a few seconds that checks
//! every step works end to end.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringmq::protocol::Header;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use ringmq::client::{AdminApi, BlockingClient};
use ringmq::runtime;

/// The master/slave rows run (replication is built); `false` would measure single brokers only.
const REPLICATION_AVAILABLE: bool = true;

/// A durability mode: the property sets of its brokers (the first is the master, whose
/// embedded nameserver the others register with).
struct Mode {
    name: &'static str,
    brokers: &'static [&'static str],
    needs_replication: bool,
}

const MODES: &[Mode] = &[
    Mode { name: "ASYNC_FLUSH", brokers: &["flushDiskType=ASYNC_FLUSH"], needs_replication: false },
    Mode { name: "SYNC_FLUSH", brokers: &["flushDiskType=SYNC_FLUSH"], needs_replication: false },
    // Master/slave rows: the slave (same brokerName, brokerId 1) finds its master through the
    // master's embedded nameserver; the HA port is listenPort+1 (`free_port` keeps it free).
    Mode {
        name: "ASYNC_MASTER",
        brokers: &[
            "brokerRole=ASYNC_MASTER\nflushDiskType=ASYNC_FLUSH",
            "brokerRole=SLAVE\nbrokerId=1\nflushDiskType=ASYNC_FLUSH",
        ],
        needs_replication: true,
    },
    Mode {
        name: "SYNC_MASTER",
        brokers: &[
            "brokerRole=SYNC_MASTER\nflushDiskType=ASYNC_FLUSH",
            "brokerRole=SLAVE\nbrokerId=1\nflushDiskType=ASYNC_FLUSH",
        ],
        needs_replication: true,
    },
    Mode {
        name: "SYNC_MASTER+SYNC_FLUSH",
        brokers: &[
            "brokerRole=SYNC_MASTER\nflushDiskType=SYNC_FLUSH",
            "brokerRole=SLAVE\nbrokerId=1\nflushDiskType=SYNC_FLUSH",
        ],
        needs_replication: true,
    },
];

/// A load shape: `ringmq bench` arguments (the harness adds the broker, timing and output).
struct Scenario {
    name: &'static str,
    command: &'static str,
    args: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "1×1", command: "produce", args: &["--senders", "1", "--in-flight", "1"] },
    Scenario {
        name: "1×1 @1k/s", command: "produce", args: &["--senders", "1", "--in-flight", "1", "--rate", "1000"]
    },
    Scenario { name: "4×32", command: "produce", args: &["--senders", "4", "--in-flight", "32"] },
    Scenario { name: "batch 32", command: "produce", args: &["--senders", "2", "--in-flight", "8", "--batch", "32"] },
    Scenario { name: "pull 8q/2c", command: "consume", args: &["--connections", "2", "--pull-batch", "32"] },
];

const QUEUES: &str = "8";

struct Settings {
    smoke: bool,
    repetitions: usize,
    duration_s: u64,
    warmup_s: u64,
    preload: u64,
    baseline: Duration,
    /// Broker and client on separate cores (broker shardCount=1 on CPU 0, client on CPU 1), or
    /// (the default, the layout of issue 6's bar) sharing both: the broker with one shard per
    /// CPU, one client thread per CPU.
    split: bool,
    directory: PathBuf,
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    // `cargo bench` passes --bench; without it (`cargo test`) this is a smoke run.
    let smoke = !has("--bench");
    let quick = has("--quick");
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-report");
    let split = has("--split") && runtime::cpu_count() >= 2;
    match (smoke, quick) {
        (true, _) => Settings {
            smoke,
            repetitions: 1,
            duration_s: 1,
            warmup_s: 0,
            preload: 5_000,
            baseline: Duration::from_millis(200),
            split,
            directory: directory.join("smoke"),
        },
        // Five modes × five scenarios × three repetitions in under 3 minutes.
        (false, true) => Settings {
            smoke,
            repetitions: 3,
            duration_s: 2,
            warmup_s: 1,
            // The pull must last: 100k messages were consumed in ~0.15 s, and identical runs
            // gave 418k and 138k msg/s. 400k with 2 s baselines took 181 s.
            preload: 300_000,
            baseline: Duration::from_secs(1),
            split,
            directory,
        },
        (false, false) => Settings {
            smoke,
            repetitions: 5,
            duration_s: 10,
            warmup_s: 2,
            preload: 1_000_000,
            baseline: Duration::from_secs(5),
            split,
            directory,
        },
    }
}

fn binary() -> &'static str {
    // `cargo bench` builds this in the bench profile (release), `cargo test` in the test one.
    env!("CARGO_BIN_EXE_ringmq")
}

// ---------------------------------------------------------------------------------------------
// Brokers

struct Broker {
    child: Child,
    address: String,
    pid: u32,
    /// Removed with the broker: a run's stores add up to gigabytes.
    directory: PathBuf,
    /// The mode and the broker's place in it, for its log lines.
    label: String,
}

/// Warning and error lines of one broker's log shown after its mode ran: a run with refused
/// sends then says why (the store's SYSTEM_BUSY warning names what the flusher was doing).
const BROKER_LOG_LINES_SHOWN_MAX: usize = 20;

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(self.directory.join("broker.log")).unwrap_or_default();
        for line in log
            .lines()
            .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
            .take(BROKER_LOG_LINES_SHOWN_MAX)
        {
            eprintln!("{} log: {line}", self.label);
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port > 1100
            && [port - 2, port + 1].iter().all(|candidate| TcpListener::bind(("0.0.0.0", *candidate)).is_ok())
        {
            return port;
        }
    }
}

/// Starts the brokers of `mode` on fresh stores; returns them master first.
fn start_mode(settings: &Settings, mode: &Mode) -> Vec<Broker> {
    let namesrv_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut brokers = Vec::new();
    for (index, properties) in mode.brokers.iter().enumerate() {
        let directory = settings.directory.join(format!("broker-{index}"));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let port = free_port();
        let shards = if settings.split { "shardCount=1\n" } else { "" };
        // The smoke run checks the harness, not flow control: on a loaded CI machine a debug
        // broker can keep a send queued past waitTimeMillsInSendQueue (SYSTEM_BUSY, as Java).
        let fast_failure = if settings.smoke { "brokerFastFailureEnable=false\n" } else { "" };
        let naming = match index {
            0 => format!("namesrvListenPort={namesrv_port}\n"),
            _ => format!("namesrvAddr=127.0.0.1:{namesrv_port}\n"),
        };
        let config = directory.join("broker.properties");
        std::fs::write(
            &config,
            format!(
                "brokerClusterName=BenchCluster\nbrokerName=bench\nbrokerIP1=127.0.0.1\nlistenPort={port}\n{naming}{shards}{fast_failure}storePathRootDir={}\n{properties}\n",
                directory.join("store").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(binary())
            .args(["broker", "-c", config.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(directory.join("broker.log")).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = String::new();
        let mut chunk = [0u8; 4096];
        // The embedded nameserver reports "boot success" first; the broker line ends with this.
        while !seen.contains("and name server is") {
            let count = stdout.read(&mut chunk).unwrap();
            assert!(count > 0, "broker {} of {} exited: {seen}", index, mode.name);
            seen.push_str(&String::from_utf8_lossy(&chunk[..count]));
        }
        std::thread::spawn(move || while stdout.read(&mut chunk).map(|count| count > 0).unwrap_or(false) {});
        let pid = child.id();
        let label = format!("{} broker {index}", mode.name);
        brokers.push(Broker { child, address: format!("127.0.0.1:{port}"), pid, directory, label });
    }
    if brokers.len() > 1 {
        wait_until_replicating(&brokers[0].address, mode.name);
    }
    brokers
}

/// A SYNC_MASTER answers SLAVE_NOT_AVAILABLE until its slave has connected and caught up:
/// probe sends until one is acknowledged by the slave too (an ASYNC_MASTER's first probe
/// succeeds; its slave catches up during the warm-up).
fn wait_until_replicating(master: &str, mode: &str) {
    let mut client = BlockingClient::new(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut send = ringmq::protocol::Command::request(ringmq::protocol::request::SEND_MESSAGE_V2, 0);
        ringmq::protocol::headers::SendMessageRequestHeaderV2 {
            a: "BenchProbe".into(),
            b: "BenchProbe".into(),
            c: "TBW102".into(),
            d: 1,
            e: 0,
            f: 0,
            g: 0,
            h: 0,
            i: Some("WAIT\u{1}true".into()),
            j: Some(0),
            k: Some(false),
            l: None,
            m: Some(false),
        }
        .encode(&mut send.ext_fields);
        send.body = bytes::Bytes::from_static(b"probe");
        let code = client.invoke(master, send).map(|reply| reply.code);
        if code.as_ref().is_ok_and(|code| *code == ringmq::protocol::response::SUCCESS) {
            return;
        }
        assert!(Instant::now() < deadline, "{mode}: the master never acknowledged a replicated send: {code:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (utime + stime in µs, VmHWM in KiB) of a process.
fn process_usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map_or("", |at| &stat[at + 2..]);
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hertz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (ticks * 1_000_000 / hertz, hwm_kib)
}

/// (messages stored, messages pulled, commit-log syncs) since the broker booted.
fn broker_counters(address: &str) -> (u64, u64, u64) {
    let mut admin = AdminApi::new(BlockingClient::new(Duration::from_secs(3)));
    let table = admin.broker_runtime_info(address).map(|kv| kv.table).unwrap_or_default();
    let get = |key: &str| table.get(key).and_then(|value| value.parse().ok()).unwrap_or(0);
    (get("msgPutTotalTodayNow"), get("msgGetTotalTodayNow"), get("commitLogSyncCount"))
}

// ---------------------------------------------------------------------------------------------
// Running `ringmq bench`

/// Runs `ringmq bench COMMAND ARGS --json --quiet` pinned as the layout says; the report.
fn ringmq_bench(settings: &Settings, command: &str, args: &[String]) -> Value {
    let mut full = vec!["bench".to_string(), command.to_string()];
    full.extend(args.iter().cloned());
    full.extend(["--json", "--quiet"].map(String::from));
    if settings.split {
        // The client has CPU 1 to itself: a short busy-poll before parking takes the
        // executor's sleep/wake-up out of every round trip (about 20 µs at 1×1; tuning.md).
        full.extend(["--cpus", "1", "--threads", "1", "--spin-us", "50"].map(String::from));
    } else if runtime::cpu_count() >= 2 {
        // One client thread per CPU, in order, the same for every mode. Unpinned, both threads
        // landed on the CPU that takes the disk's interrupts about one run in four, and such a
        // run measured SYNC_FLUSH 4×32 at 96-100k msg/s instead of 138-144k (tuning.md,
        // "benchmark client"): the medians depended on the scheduler's draw.
        let cpus = (0..runtime::cpu_count()).map(|cpu| cpu.to_string()).collect::<Vec<_>>().join(",");
        full.extend(["--cpus".to_string(), cpus]);
    }
    let child = Command::new(binary()).args(&full).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let output = wait_with_timeout(child, Duration::from_secs(settings.duration_s + 120));
    assert!(output.0, "ringmq {} failed: {}", full.join(" "), output.2);
    serde_json::from_str(&output.1).unwrap_or_else(|error| panic!("bad report ({error}): {}", output.1))
}

/// (success, stdout, stderr); kills the child after `timeout`.
fn wait_with_timeout(mut child: Child, timeout: Duration) -> (bool, String, String) {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    (status.is_some_and(|status| status.success()), out, err)
}

/// One scenario on a running mode: the client's report plus the broker's side.
fn run_scenario(settings: &Settings, brokers: &[Broker], scenario: &Scenario, repetition: usize) -> Value {
    let master = &brokers[0];
    let topic = format!("Bench{}{repetition}", scenario.name.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
    let mut args: Vec<String> = ["-b", &master.address, "-t", &topic, "--queues", QUEUES].map(String::from).to_vec();
    args.extend(scenario.args.iter().map(|arg| arg.to_string()));
    if scenario.command == "consume" {
        // Preload in its own run, so the measured window (and the broker's CPU) is the pull alone.
        let mut preload = args[..6].to_vec();
        preload.extend(
            ["--senders", "2", "--in-flight", "8", "--batch", "32", "--duration", "600", "--warmup", "0"]
                .map(String::from),
        );
        preload.extend(["--messages".to_string(), settings.preload.to_string()]);
        ringmq_bench(settings, "produce", &preload);
        args.extend(["--duration".to_string(), (settings.duration_s + 60).to_string()]);
    } else {
        args.extend([
            "--duration".into(),
            settings.duration_s.to_string(),
            "--warmup".into(),
            settings.warmup_s.to_string(),
        ]);
    }
    let (put_before, get_before, syncs_before) = broker_counters(&master.address);
    let (cpu_before, _) = process_usage(master.pid);
    let mut report = ringmq_bench(settings, scenario.command, &args);
    let (cpu_after, hwm_kib) = process_usage(master.pid);
    let (put_after, get_after, syncs_after) = broker_counters(&master.address);
    let handled = if scenario.command == "consume" { get_after - get_before } else { put_after - put_before };
    let syncs = syncs_after - syncs_before;
    report["broker"] = json!({
        "messages": handled,
        "syncs": syncs,
        "messages_per_sync": if syncs == 0 { Value::Null } else { json!(handled as f64 / syncs as f64) },
        "cpu_us_per_message": if handled == 0 { Value::Null } else { json!((cpu_after - cpu_before) as f64 / handled as f64) },
        "rss_hwm_kib": hwm_kib,
    });
    report
}

// ---------------------------------------------------------------------------------------------
// Baselines

/// Round trips of a 1 KiB frame over loopback: two threads, blocking sockets, TCP_NODELAY,
/// the server pinned to `cpus.0` and the client to `cpus.1`. On a VM the two placements
/// differ a lot (waking an idle vCPU is slow), so both are recorded.
fn ping_pong(settings: &Settings, cpus: (usize, usize)) -> Histogram<u64> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        pin_current_thread(cpus.0);
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buffer = [0u8; 1024];
        while stream.read_exact(&mut buffer).is_ok() && stream.write_all(&buffer).is_ok() {}
    });
    let client = std::thread::spawn({
        let duration = settings.baseline;
        move || {
            pin_current_thread(cpus.1);
            let mut stream = TcpStream::connect(address).unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buffer = [7u8; 1024];
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            let deadline = Instant::now() + duration;
            while Instant::now() < deadline {
                let started = Instant::now();
                stream.write_all(&buffer).unwrap();
                stream.read_exact(&mut buffer).unwrap();
                histogram.record(started.elapsed().as_nanos() as u64).unwrap();
            }
            histogram
        }
    });
    let histogram = client.join().unwrap();
    server.join().unwrap();
    histogram
}

fn pin_current_thread(cpu: usize) {
    // SAFETY: the set is a zeroed cpu_set_t we own; CPU_SET stays within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A null broker: answers every request SUCCESS (binary header, same opaque) with no work.
/// Against it, `ringmq bench` measures the client alone.
fn null_broker(split: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if split {
            pin_current_thread(0);
        }
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || null_connection(stream));
        }
    });
    address
}

fn null_connection(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 16];
    let mut replies = Vec::new();
    loop {
        let count = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(count) => count,
        };
        buffer.extend_from_slice(&chunk[..count]);
        let mut at = 0;
        while buffer.len() - at >= 8 {
            let length = u32::from_be_bytes(buffer[at..at + 4].try_into().unwrap()) as usize;
            if buffer.len() - at < 4 + length {
                break;
            }
            let frame = &buffer[at..at + 4 + length];
            let opaque = match frame[4] {
                1 => i32::from_be_bytes(frame[13..17].try_into().unwrap()),
                _ => json_opaque(&frame[8..]),
            };
            let flag = if frame[4] == 1 { i32::from_be_bytes(frame[17..21].try_into().unwrap()) } else { 0 };
            if flag & 2 == 0 {
                // length, type word (binary, 21-byte header), code 0, language 0, version 0,
                // opaque, flag RESPONSE, remark length 0, ext length 0.
                replies.extend_from_slice(&25u32.to_be_bytes());
                replies.extend_from_slice(&((1u32 << 24) | 21).to_be_bytes());
                replies.extend_from_slice(&[0, 0, 0, 0, 0]);
                replies.extend_from_slice(&opaque.to_be_bytes());
                replies.extend_from_slice(&1i32.to_be_bytes());
                replies.extend_from_slice(&[0; 8]);
            }
            at += 4 + length;
        }
        buffer.drain(..at);
        if !replies.is_empty() && stream.write_all(&replies).is_err() {
            return;
        }
        replies.clear();
    }
}

fn json_opaque(header: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(header);
    text.split("\"opaque\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit() && c != '-').find(|part| !part.is_empty()))
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

/// One 4 KiB O_DIRECT write plus fdatasync at a time, on the store's disk: plain blocking
/// system calls from one thread, the disk's own cost with no runtime in the way (glommio on the
/// interrupt-driven ring adds a sleep and a wake-up per operation; on the poll ring it spins).
fn raw_fdatasync(settings: &Settings) -> Histogram<u64> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    const BLOCK_BYTES: usize = 4096;
    const FILE_BYTES: u64 = 16 << 20;
    std::fs::create_dir_all(&settings.directory).unwrap();
    let path = settings.directory.join("raw-fdatasync");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .unwrap();
    // O_DIRECT needs aligned buffers: 4 KiB-aligned slices of larger allocations.
    let zeros = vec![0u8; (1 << 20) + BLOCK_BYTES];
    let skip = zeros.as_ptr().align_offset(BLOCK_BYTES);
    // Written once first, so that the measured writes overwrite written blocks, as record
    // writes land on blocks the flusher zeroed ahead (no unwritten-extent conversion).
    for chunk_start in (0..FILE_BYTES).step_by(1 << 20) {
        file.write_all_at(&zeros[skip..skip + (1 << 20)], chunk_start).unwrap();
    }
    file.sync_all().unwrap();
    let mut memory = vec![0u8; 2 * BLOCK_BYTES];
    let skip = memory.as_ptr().align_offset(BLOCK_BYTES);
    let block = &mut memory[skip..skip + BLOCK_BYTES];
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let started = Instant::now();
    let mut index = 0u64;
    while started.elapsed() < settings.baseline {
        block.fill(index as u8);
        let begin = Instant::now();
        file.write_all_at(block, (index * BLOCK_BYTES as u64) % FILE_BYTES).unwrap();
        file.sync_data().unwrap();
        histogram.record(begin.elapsed().as_nanos() as u64).unwrap();
        index += 1;
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    histogram
}

fn system() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| text.lines().find(|line| line.starts_with("model name")).map(|line| line.to_string()))
        .and_then(|line| line.split(':').nth(1).map(|name| name.trim().to_string()))
        .unwrap_or_default();
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default().trim().to_string();
    json!({
        "cpu": cpu,
        "cpus": runtime::cpu_count(),
        "kernel": read("/proc/sys/kernel/osrelease"),
        "loadavg": read("/proc/loadavg"),
    })
}

fn micros(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    (histogram.value_at_quantile(quantile) as f64 / 100.0).round() / 10.0
}

// ---------------------------------------------------------------------------------------------
// Report

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    match values.len() {
        0 => f64::NAN,
        count if count % 2 == 1 => values[count / 2],
        count => (values[count / 2 - 1] + values[count / 2]) / 2.0,
    }
}

/// Median and range of one number over the repetitions of (mode, scenario).
fn summary(runs: &[&Value], pointer: &str) -> Option<(f64, f64, f64)> {
    let mut values: Vec<f64> = runs.iter().filter_map(|run| run.pointer(pointer).and_then(Value::as_f64)).collect();
    if values.is_empty() {
        return None;
    }
    let (low, high) = values.iter().fold((f64::MAX, f64::MIN), |(low, high), v| (low.min(*v), high.max(*v)));
    Some((median(&mut values), low, high))
}

fn cell(value: Option<(f64, f64, f64)>, digits: usize) -> String {
    match value {
        Some((median, low, high)) if (high - low).abs() > f64::EPSILON => {
            format!("{median:.digits$} ({low:.digits$}–{high:.digits$})")
        }
        Some((median, _, _)) => format!("{median:.digits$}"),
        None => "–".into(),
    }
}

fn main() {
    let settings = settings();
    std::fs::create_dir_all(&settings.directory).unwrap();
    let started = Instant::now();
    let layout = if settings.split {
        "broker shardCount=1 pinned to CPU 0 (by the broker); client (`ringmq bench --cpus 1 --threads 1 --spin-us 50`) pinned to CPU 1; ping-pong floor: server CPU 0, client CPU 1"
    } else {
        "broker with one shard per CPU (pinned by the broker), client threads one per CPU (`ringmq bench --cpus 0,1,…`): client and broker share the cores; ping-pong floor: both threads on CPU 0"
    };
    let system = system();
    eprintln!("system: {system}; layout: {layout}");
    let last_cpu = runtime::cpu_count().saturating_sub(1).min(1);
    let ping_same = ping_pong(&settings, (0, 0));
    let ping_cross = ping_pong(&settings, (0, last_cpu));
    // The floor for the layout: across CPUs when split, on one CPU when shared.
    let ping = if settings.split { &ping_cross } else { &ping_same };
    let fsync = raw_fdatasync(&settings);
    let null = null_broker(settings.split);
    let mut client_alone = BTreeMap::new();
    for (name, args) in
        [("1×1", ["--senders", "1", "--in-flight", "1"]), ("4×32", ["--senders", "4", "--in-flight", "32"])]
    {
        let mut full: Vec<String> =
            ["-b", &null, "--duration", &settings.duration_s.to_string(), "--warmup"].map(String::from).to_vec();
        full.push(settings.warmup_s.to_string());
        full.extend(args.map(String::from));
        client_alone.insert(name, ringmq_bench(&settings, "produce", &full));
    }
    let baselines = json!({
        "loopback_ping_pong_1kib_us": {"p50": micros(ping, 0.5), "p99": micros(ping, 0.99), "count": ping.len()},
        "loopback_ping_pong_1kib_same_cpu_us": {"p50": micros(&ping_same, 0.5), "p99": micros(&ping_same, 0.99)},
        "loopback_ping_pong_1kib_cross_cpu_us": {"p50": micros(&ping_cross, 0.5), "p99": micros(&ping_cross, 0.99)},
        "raw_4kib_odirect_fdatasync_us": {"p50": micros(&fsync, 0.5), "p99": micros(&fsync, 0.99), "count": fsync.len()},
        "client_alone_null_broker": client_alone.iter().map(|(name, report)| (name.to_string(), json!({
            "messages_per_second": report["messages_per_second"],
            "p50_us": report.pointer("/send_latency_us/p50"),
            "p99_us": report.pointer("/send_latency_us/p99"),
        }))).collect::<serde_json::Map<String, Value>>(),
    });
    eprintln!("baselines: {baselines}");
    // The smoke run proves one mode of each kind works end to end, briefly.
    let smoke_modes = ["ASYNC_FLUSH", "SYNC_FLUSH", "SYNC_MASTER"];
    let modes: Vec<&Mode> = MODES
        .iter()
        .filter(|mode| REPLICATION_AVAILABLE || !mode.needs_replication)
        .filter(|mode| !settings.smoke || smoke_modes.contains(&mode.name))
        .collect();
    let mut runs: Vec<Value> = Vec::new();
    for repetition in 0..settings.repetitions {
        for mode in &modes {
            let brokers = start_mode(&settings, mode);
            for scenario in SCENARIOS {
                let mut report = run_scenario(&settings, &brokers, scenario, repetition);
                eprintln!(
                    "rep {repetition} {} {}: {:.0} msg/s p50 {} µs",
                    mode.name,
                    scenario.name,
                    report["messages_per_second"].as_f64().unwrap_or(0.0),
                    report.pointer("/send_latency_us/p50").cloned().unwrap_or(Value::Null)
                );
                report["bench_mode"] = json!(mode.name);
                report["bench_scenario"] = json!(scenario.name);
                report["repetition"] = json!(repetition);
                if settings.smoke {
                    check_smoke(&report);
                }
                runs.push(report);
            }
            // Slaves first: a master stopped before its slave only makes the slave log that it
            // lost it, which would bury the warnings worth reading.
            brokers.into_iter().rev().for_each(drop);
        }
    }
    let table = format!("System: {system}. Layout: {layout}.\n\n{}", markdown(&modes, &runs, &baselines));
    let document = json!({
        "system": system, "layout": layout, "baselines": baselines,
        "settings": {"repetitions": settings.repetitions, "duration_s": settings.duration_s, "warmup_s": settings.warmup_s, "preload": settings.preload, "message_bytes": 1024},
        "runs": runs, "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(settings.directory.join("flush_modes.json"), serde_json::to_string_pretty(&document).unwrap())
        .unwrap();
    std::fs::write(settings.directory.join("flush_modes.md"), &table).unwrap();
    for scenario in ["1×1", "4×32"] {
        let svg = percentile_plot(&modes, &runs, scenario);
        std::fs::write(settings.directory.join(format!("latency-{}.svg", file_name(scenario))), svg).unwrap();
    }
    std::fs::write(settings.directory.join("throughput.svg"), throughput_plot(&modes, &runs)).unwrap();
    println!("{table}");
    println!(
        "\n{} repetition(s), {:.0} s; report in {}",
        settings.repetitions,
        started.elapsed().as_secs_f64(),
        settings.directory.display()
    );
}

fn file_name(scenario: &str) -> String {
    scenario.replace('×', "x").replace(|c: char| !c.is_ascii_alphanumeric(), "-")
}

/// Under `cargo test`: every scenario moved messages without errors (but flow control's
/// SYSTEM_BUSY), and the broker's side was measured.
fn check_smoke(report: &Value) {
    let name = format!("{} {}", report["bench_mode"], report["bench_scenario"]);
    // A send counts as throughput only if its thread reported it before the end; a debug build
    // under SYNC_FLUSH at a fixed 1k/s falls behind and can report every reply after the end
    // (then they count as latencies only, as they should). Either way messages moved.
    let replies = report.pointer("/send_latency_us/count").and_then(Value::as_u64).unwrap_or(0);
    assert!(report["messages"].as_u64().unwrap_or(0) + replies > 0, "{name}: no messages: {report}");
    // A virtual disk that stalls for a second makes the store refuse sends SYSTEM_BUSY once its
    // unwritten bytes reach their bound: flow control doing its job (the remark says why), seen
    // in CI during a debug build's batch scenario. The smoke run checks the harness, not the
    // disk, so only other codes fail it.
    let errors = report["errors"].as_object().expect("the report counts errors by code");
    let unexpected: Vec<&String> = errors.keys().filter(|code| code.as_str() != "SYSTEM_BUSY").collect();
    assert!(unexpected.is_empty(), "{name}: errors: {report}");
    assert!(report.pointer("/broker/messages").and_then(Value::as_u64).unwrap_or(0) > 0, "{name}: {report}");
    assert!(report.pointer("/broker/rss_hwm_kib").and_then(Value::as_u64).unwrap_or(0) > 0, "{name}: {report}");
    if report["bench_mode"] == "SYNC_FLUSH" && report["bench_scenario"] != "pull 8q/2c" {
        assert!(report.pointer("/broker/syncs").and_then(Value::as_u64).unwrap_or(0) > 0, "{name}: no commit-log sync");
    }
}

fn markdown(modes: &[&Mode], runs: &[Value], baselines: &Value) -> String {
    let mut text = String::new();
    let ping_p50 = baselines.pointer("/loopback_ping_pong_1kib_us/p50").and_then(Value::as_f64).unwrap_or(f64::NAN);
    let fsync_p50 = baselines.pointer("/raw_4kib_odirect_fdatasync_us/p50").and_then(Value::as_f64).unwrap_or(f64::NAN);
    text.push_str(&format!(
        "Baselines: loopback 1 KiB ping-pong p50 {ping_p50} µs, p99 {} µs (same CPU p50 {} µs, across CPUs p50 {} µs); raw 4 KiB O_DIRECT write + fdatasync p50 {fsync_p50} µs, p99 {} µs; client alone (null broker) 1×1 p50 {} µs, 4×32 {:.0} msg/s.\n\n",
        baselines.pointer("/loopback_ping_pong_1kib_us/p99").unwrap_or(&Value::Null),
        baselines.pointer("/loopback_ping_pong_1kib_same_cpu_us/p50").unwrap_or(&Value::Null),
        baselines.pointer("/loopback_ping_pong_1kib_cross_cpu_us/p50").unwrap_or(&Value::Null),
        baselines.pointer("/raw_4kib_odirect_fdatasync_us/p99").unwrap_or(&Value::Null),
        baselines.pointer("/client_alone_null_broker/1×1/p50_us").unwrap_or(&Value::Null),
        baselines.pointer("/client_alone_null_broker/4×32/messages_per_second").and_then(Value::as_f64).unwrap_or(0.0),
    ));
    text.push_str("| mode | scenario | msg/s | p50 µs | p99 µs | p99.9 µs | max µs | msg/sync | broker CPU µs/msg | RSS MiB | msg/s ÷ ASYNC | p50 ÷ ASYNC | p50 ÷ ping-pong | p50 ÷ fdatasync |\n");
    text.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let select = |mode: &str, scenario: &str| -> Vec<&Value> {
        runs.iter().filter(|run| run["bench_mode"] == mode && run["bench_scenario"] == scenario).collect()
    };
    for scenario in SCENARIOS {
        let base = select("ASYNC_FLUSH", scenario.name);
        let base_rate = summary(&base, "/messages_per_second").map(|s| s.0);
        let base_p50 = summary(&base, "/send_latency_us/p50").map(|s| s.0);
        for mode in modes {
            let chosen = select(mode.name, scenario.name);
            if chosen.is_empty() {
                continue;
            }
            let rate = summary(&chosen, "/messages_per_second");
            let p50 = summary(&chosen, "/send_latency_us/p50");
            let ratio = |value: Option<(f64, f64, f64)>, base: Option<f64>| match (value, base) {
                (Some((value, _, _)), Some(base)) if base > 0.0 => format!("{:.2}", value / base),
                _ => "–".into(),
            };
            let rss = summary(&chosen, "/broker/rss_hwm_kib").map(|(m, l, h)| (m / 1024.0, l / 1024.0, h / 1024.0));
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                mode.name,
                scenario.name,
                cell(rate, 0),
                cell(p50, 1),
                cell(summary(&chosen, "/send_latency_us/p99"), 1),
                cell(summary(&chosen, "/send_latency_us/p999"), 1),
                cell(summary(&chosen, "/send_latency_us/max"), 0),
                // Under ASYNC_FLUSH the only fdatasyncs are the periodic thorough flushes (every
                // 10 s): messages per sync would count the run's length, not a group commit.
                if mode.brokers[0].contains("flushDiskType=SYNC_FLUSH") {
                    cell(summary(&chosen, "/broker/messages_per_sync"), 1)
                } else {
                    "–".into()
                },
                cell(summary(&chosen, "/broker/cpu_us_per_message"), 2),
                cell(rss, 0),
                ratio(rate, base_rate),
                ratio(p50, base_p50),
                ratio(p50, Some(ping_p50)),
                ratio(p50, Some(fsync_p50)),
            ));
        }
    }
    text.push_str("\nmsg/s and latency: medians over the repetitions (min–max in brackets); latency is per send request (a batch of 32 is one request), from the intended send time under a fixed rate; `pull` rows are consume throughput.\n");
    text
}

// ---------------------------------------------------------------------------------------------
// SVG plots (hand-written: a few lines and rectangles)

const COLORS: [&str; 5] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];

/// Latency by percentile, one line per mode (the median repetition's curve), with the
/// percentile axis logarithmic in 1/(1−p) as HdrHistogram plots draw it.
fn percentile_plot(modes: &[&Mode], runs: &[Value], scenario: &str) -> String {
    let (width, height, left, right, top, bottom) = (720.0, 420.0, 70.0, 160.0, 30.0, 50.0);
    let plot_width = width - left - right;
    let plot_height = height - top - bottom;
    let mut curves = Vec::new();
    for mode in modes {
        let mut chosen: Vec<&Value> =
            runs.iter().filter(|run| run["bench_mode"] == mode.name && run["bench_scenario"] == scenario).collect();
        chosen.sort_by(|a, b| {
            let p = |run: &Value| run.pointer("/send_latency_us/p50").and_then(Value::as_f64).unwrap_or(0.0);
            p(a).partial_cmp(&p(b)).unwrap()
        });
        let Some(run) = chosen.get(chosen.len() / 2) else { continue };
        let points: Vec<(f64, f64)> = run
            .pointer("/send_latency_us/curve")
            .and_then(Value::as_array)
            .map(|curve| curve.iter().filter_map(|point| Some((point[0].as_f64()?, point[1].as_f64()?))).collect())
            .unwrap_or_default();
        curves.push((mode.name, points));
    }
    // x: log10(1 / (1 − p)), capped at 5 nines; y: log10(µs).
    let x_of = |percentile: f64| (1.0 / (1.0 - (percentile / 100.0).min(0.99999))).log10();
    let all_values: Vec<f64> = curves.iter().flat_map(|(_, points)| points.iter().map(|p| p.1.max(1.0))).collect();
    let y_low = all_values.iter().cloned().fold(f64::MAX, f64::min).log10().floor();
    let y_high = all_values.iter().cloned().fold(1.0, f64::max).log10().ceil().max(y_low + 1.0);
    let px = |x: f64| left + x / 5.0 * plot_width;
    let py = |value: f64| top + plot_height - (value.max(1.0).log10() - y_low) / (y_high - y_low) * plot_height;
    let mut svg = svg_open(width, height, &format!("Send latency by percentile, {scenario}, 1 KiB"));
    for (label, x) in [("0%", 0.0), ("90%", 1.0), ("99%", 2.0), ("99.9%", 3.0), ("99.99%", 4.0), ("99.999%", 5.0)] {
        svg.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/><text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{label}</text>\n",
            px(x), top + plot_height, top + plot_height + 18.0
        ));
    }
    let mut decade = y_low;
    while decade <= y_high {
        let value = 10f64.powf(decade);
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/><text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>\n",
            py(value), left + plot_width, left - 6.0, py(value) + 4.0, human_micros(value)
        ));
        decade += 1.0;
    }
    for (index, (name, points)) in curves.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let path: Vec<String> = points.iter().map(|(p, v)| format!("{:.1},{:.1}", px(x_of(*p)), py(*v))).collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            path.join(" ")
        ));
        let legend_y = top + 20.0 + index as f64 * 20.0;
        svg.push_str(&format!(
            "<rect x=\"{0:.1}\" y=\"{1:.1}\" width=\"14\" height=\"4\" fill=\"{color}\"/><text x=\"{2:.1}\" y=\"{3:.1}\">{name}</text>\n",
            left + plot_width + 12.0, legend_y - 4.0, left + plot_width + 32.0, legend_y
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile (log scale)</text>\n",
        left + plot_width / 2.0,
        height - 8.0
    ));
    svg.push_str("</svg>\n");
    svg
}

fn human_micros(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.0} s", v / 1e6),
        v if v >= 1e3 => format!("{:.0} ms", v / 1e3),
        v => format!("{v:.0} µs"),
    }
}

/// Median msg/s per scenario, one bar per mode.
fn throughput_plot(modes: &[&Mode], runs: &[Value]) -> String {
    let scenarios: Vec<&str> = SCENARIOS.iter().map(|scenario| scenario.name).collect();
    let (width, height, left, top, bottom) = (760.0, 400.0, 80.0, 30.0, 60.0);
    let plot_width = width - left - 150.0;
    let plot_height = height - top - bottom;
    let value = |mode: &str, scenario: &str| {
        let chosen: Vec<&Value> =
            runs.iter().filter(|run| run["bench_mode"] == mode && run["bench_scenario"] == scenario).collect();
        summary(&chosen, "/messages_per_second").map_or(0.0, |s| s.0)
    };
    let high = modes
        .iter()
        .flat_map(|mode| scenarios.iter().map(move |scenario| value(mode.name, scenario)))
        .fold(1.0, f64::max);
    // y: log10 msg/s from 100 up, so 1k msg/s and 1M msg/s share a chart.
    let y_high = high.log10().ceil().max(3.0);
    let py = |v: f64| top + plot_height - ((v.max(100.0).log10() - 2.0) / (y_high - 2.0)) * plot_height;
    let mut svg = svg_open(width, height, "Throughput per mode (median msg/s, 1 KiB, log scale)");
    let mut decade = 2.0;
    while decade <= y_high {
        let v = 10f64.powf(decade);
        let label = if v >= 1e6 { format!("{:.0}M", v / 1e6) } else { format!("{:.0}k", v / 1e3) };
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/><text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{label}</text>\n",
            py(v), left + plot_width, left - 6.0, py(v) + 4.0
        ));
        decade += 1.0;
    }
    let group_width = plot_width / scenarios.len() as f64;
    let bar_width = group_width * 0.8 / modes.len().max(1) as f64;
    for (group, scenario) in scenarios.iter().enumerate() {
        let group_left = left + group as f64 * group_width + group_width * 0.1;
        for (index, mode) in modes.iter().enumerate() {
            let v = value(mode.name, scenario);
            let x = group_left + index as f64 * bar_width;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{0:.1}\" width=\"{1:.1}\" height=\"{2:.1}\" fill=\"{3}\"><title>{4} {5}: {v:.0} msg/s</title></rect>\n",
                py(v), bar_width - 2.0, top + plot_height - py(v), COLORS[index % COLORS.len()], mode.name, scenario
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{scenario}</text>\n",
            group_left + group_width * 0.4,
            top + plot_height + 18.0
        ));
    }
    for (index, mode) in modes.iter().enumerate() {
        let legend_y = top + 20.0 + index as f64 * 20.0;
        svg.push_str(&format!(
            "<rect x=\"{0:.1}\" y=\"{1:.1}\" width=\"14\" height=\"10\" fill=\"{2}\"/><text x=\"{3:.1}\" y=\"{4:.1}\">{5}</text>\n",
            left + plot_width + 12.0, legend_y - 9.0, COLORS[index % COLORS.len()], left + plot_width + 32.0, legend_y, mode.name
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

fn svg_open(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{:.1}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{title}</text>\n",
        width / 2.0
    )
}
