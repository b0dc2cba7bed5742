//! Store benchmark (`cargo bench --bench store [-- --quick] [-- --json]`).
//!
//! On a real file in `target/bench-store/` (the store's disk), 1 KiB records appended through
//! the whole shard store (commit log, consume queue, UNIQ_KEY index), at concurrency 1, 8, 64
//! and 256, under SYNC_FLUSH (each append waits for its fdatasync; group commit batches them)
//! and ASYNC_FLUSH (the append returns at once). In the same run, the raw baseline: a 4 KiB
//! O_DIRECT write plus fdatasync, one at a time. Reports appends/s, MB/s, latency p50/p99/p99.9
//! (durable latency under SYNC_FLUSH, append latency under ASYNC_FLUSH), messages per
//! fdatasync, and the ratio of the SYNC_FLUSH p50 to the raw fdatasync p50. Under `cargo test`
//! (no `--bench` argument) it runs as a short smoke test.

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use ringmq::runtime::{self, DmaStorage, SegmentFile, Storage};
use ringmq::store::commit_log::{FlushMode, SyncMethod};
use ringmq::store::root::StoreRoot;
use ringmq::store::shard_store::{MessageToStore, ShardStore, StoreOptions};

const BODY_BYTES: usize = 1024;
const CONCURRENCIES: [usize; 4] = [1, 8, 64, 256];

struct Settings {
    json: bool,
    duration: Duration,
    directory: PathBuf,
}

#[derive(Debug)]
struct Scenario {
    mode: &'static str,
    concurrency: usize,
    appends: u64,
    seconds: f64,
    syncs: u64,
    busy: u64,
    latency: Histogram<u64>,
}

impl Scenario {
    fn appends_per_second(&self) -> f64 {
        self.appends as f64 / self.seconds
    }
    fn messages_per_sync(&self) -> f64 {
        if self.syncs == 0 {
            0.0
        } else {
            self.appends as f64 / self.syncs as f64
        }
    }
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    // `cargo bench` passes --bench; without it (`cargo test --all-targets`) this is a smoke run
    // that proves the harness works.
    let smoke = !args.iter().any(|arg| arg == "--bench");
    Settings {
        json: args.iter().any(|arg| arg == "--json"),
        duration: Duration::from_millis(if smoke {
            150
        } else if quick {
            1000
        } else {
            3000
        }),
        directory: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-store"),
    }
}

fn store_options(directory: &Path, root: &StoreRoot, flush_mode: FlushMode) -> StoreOptions {
    StoreOptions {
        shard: 0,
        root: directory.to_path_buf(),
        commit_log_directory: root.commit_log_directory(0),
        index_directory: root.index_directory(0),
        checkpoint_path: root.checkpoint_path(0),
        segment_size_bytes: 1 << 30,
        consume_queue_file_size_bytes: 6_000_000,
        flush_mode,
        hot_window_bytes: 64 << 20,
        unwritten_bytes_max: 256 << 20,
        store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
        index_enabled: true,
        index_slot_count: 5_000_000,
        index_entry_count_max: 20_000_000,
        checkpoint_interval: Duration::from_secs(10),
        delay_levels_ms: Vec::new(),
        retention: ringmq::store::retention::RetentionPolicy::default(),
        transfer: Default::default(),
    }
}

/// One 4 KiB O_DIRECT write plus fdatasync at a time, on the same disk.
async fn raw_fdatasync(directory: &Path, duration: Duration) -> Histogram<u64> {
    std::fs::create_dir_all(directory).unwrap();
    let path = directory.join("raw-fdatasync");
    let storage = DmaStorage;
    let file = storage.open(&path, true, ringmq::runtime::Durability::OnSync).await.unwrap();
    file.extend(64 << 20).await.unwrap();
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let started = Instant::now();
    let mut block = 0u64;
    while started.elapsed() < duration {
        let mut buffer = file.alloc_buffer(4096);
        buffer.as_mut().fill(block as u8);
        let begin = Instant::now();
        file.write_at(buffer, (block % 16384) * 4096).await.unwrap();
        file.sync_data().await.unwrap();
        histogram.record(begin.elapsed().as_micros() as u64).unwrap();
        block += 1;
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    histogram
}

async fn run_scenario(settings: &Settings, mode: &'static str, concurrency: usize) -> Scenario {
    let directory = settings.directory.join(format!("{mode}-{concurrency}"));
    let _ = std::fs::remove_dir_all(&directory);
    let root = StoreRoot::open(&directory, 1).unwrap();
    let flush_mode = if mode == "SYNC_FLUSH" {
        FlushMode::Sync(SyncMethod::WriteThrough)
    } else {
        FlushMode::Async { interval_ms: 500, least_pages: 4, thorough_interval_ms: 10_000 }
    };
    let store =
        ShardStore::open(DmaStorage, store_options(&directory, &root, flush_mode), false, |_, _| true).await.unwrap();
    store.start_background_tasks();
    let syncs_before = store.log().sync_count();
    let deadline = Instant::now() + settings.duration;
    let busy = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..concurrency {
        let store = store.clone();
        let busy = busy.clone();
        let sync = mode == "SYNC_FLUSH";
        tasks.push(runtime::spawn(async move { writer_loop(store, writer, deadline, sync, busy).await }));
    }
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut appends = 0;
    for task in tasks {
        let (count, histogram) = task.await;
        appends += count;
        latency.add(histogram).unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let syncs = store.log().sync_count() - syncs_before;
    store.close().await.unwrap();
    root.mark_clean().unwrap();
    drop(root);
    let _ = std::fs::remove_dir_all(&directory);
    Scenario { mode, concurrency, appends, seconds, syncs, busy: busy.get(), latency }
}

async fn writer_loop(
    store: Rc<ShardStore<DmaStorage>>,
    writer: usize,
    deadline: Instant,
    sync: bool,
    busy: Rc<Cell<u64>>,
) -> (u64, Histogram<u64>) {
    let body = vec![b'x'; BODY_BYTES];
    let born_host = SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let mut count = 0u64;
    let queue_id = (writer % 8) as i32;
    while Instant::now() < deadline {
        let key = format!("{writer:08X}{count:016X}");
        let properties = format!("UNIQ_KEY\u{1}{key}\u{2}WAIT\u{1}true");
        let message = MessageToStore {
            topic: "BenchTopic",
            queue_id,
            flag: 0,
            body: &body,
            properties: &properties,
            sys_flag: 0,
            born_timestamp: 0,
            born_host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            tags_code: 0,
            keys: vec![&key],
        };
        let begin = Instant::now();
        let put = match store.put(&message) {
            Ok(put) => put,
            Err(_) => {
                busy.set(busy.get() + 1);
                runtime::sleep(Duration::from_micros(100)).await;
                continue;
            }
        };
        if sync {
            store.durable(put.end).await.unwrap().unwrap();
        } else if count % 64 == 63 {
            futures_lite::future::yield_now().await; // let the flusher run
        }
        histogram.record(begin.elapsed().as_nanos().max(1) as u64).unwrap();
        count += 1;
    }
    (count, histogram)
}

fn micros(histogram: &Histogram<u64>, quantile: f64, unit_nanos: bool) -> f64 {
    let value = histogram.value_at_quantile(quantile) as f64;
    if unit_nanos {
        value / 1000.0
    } else {
        value
    }
}

fn report(settings: &Settings, raw: &Histogram<u64>, scenarios: &[Scenario]) {
    let raw_p50 = micros(raw, 0.5, false);
    let raw_p99 = micros(raw, 0.99, false);
    let system = ringmq_bench_system();
    if settings.json {
        let rows: Vec<serde_json::Value> = scenarios
            .iter()
            .map(|s| {
                serde_json::json!({
                    "mode": s.mode, "concurrency": s.concurrency, "appends_per_second": s.appends_per_second(),
                    "megabytes_per_second": s.appends_per_second() * BODY_BYTES as f64 / 1e6,
                    "latency_us_p50": micros(&s.latency, 0.5, true), "latency_us_p99": micros(&s.latency, 0.99, true),
                    "latency_us_p999": micros(&s.latency, 0.999, true), "messages_per_fdatasync": s.messages_per_sync(),
                    "fdatasyncs": s.syncs, "busy": s.busy,
                    "p50_over_raw_fdatasync_p50": micros(&s.latency, 0.5, true) / raw_p50,
                })
            })
            .collect();
        let document = serde_json::json!({
            "system": system, "record_body_bytes": BODY_BYTES,
            "raw_fdatasync_us": {"p50": raw_p50, "p99": raw_p99, "count": raw.len()},
            "scenarios": rows,
        });
        println!("{}", serde_json::to_string_pretty(&document).unwrap());
        return;
    }
    println!("{system}");
    println!(
        "raw 4 KiB O_DIRECT write + fdatasync: p50 {raw_p50:.0} µs, p99 {raw_p99:.0} µs ({} samples)\n",
        raw.len()
    );
    println!("| mode | concurrency | appends/s | MB/s | p50 µs | p99 µs | p99.9 µs | msgs/fdatasync | p50 / raw p50 |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in scenarios {
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
            s.mode,
            s.concurrency,
            s.appends_per_second(),
            s.appends_per_second() * BODY_BYTES as f64 / 1e6,
            micros(&s.latency, 0.5, true),
            micros(&s.latency, 0.99, true),
            micros(&s.latency, 0.999, true),
            s.messages_per_sync(),
            micros(&s.latency, 0.5, true) / raw_p50
        );
    }
}

fn ringmq_bench_system() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .map(|line| line.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("cpu: {cpu}; cpus: {}; kernel: {}; loadavg: {}", runtime::cpu_count(), kernel.trim(), load.trim())
}

fn main() {
    let settings = settings();
    let _ = runtime::raise_memlock_limit(64 << 20);
    let executor = runtime::spawn_executor("bench-store", Some(0), move || async move {
        let raw = raw_fdatasync(&settings.directory, settings.duration).await;
        let mut scenarios = Vec::new();
        // RINGMQ_BENCH_ONLY=SYNC_FLUSH:8 runs one scenario (for profiling).
        let only = std::env::var("RINGMQ_BENCH_ONLY").ok();
        for mode in ["SYNC_FLUSH", "ASYNC_FLUSH"] {
            for concurrency in CONCURRENCIES {
                if only.as_ref().is_some_and(|only| *only != format!("{mode}:{concurrency}")) {
                    continue;
                }
                let scenario = run_scenario(&settings, mode, concurrency).await;
                if !settings.json {
                    eprintln!(
                        "{} × {}: {:.0} appends/s",
                        scenario.mode,
                        scenario.concurrency,
                        scenario.appends_per_second()
                    );
                }
                scenarios.push(scenario);
            }
        }
        report(&settings, &raw, &scenarios);
    })
    .unwrap();
    executor.join().unwrap();
}
