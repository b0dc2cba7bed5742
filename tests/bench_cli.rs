//! `ringmq bench produce | consume | e2e` against a real two-shard broker: every message sent
//! is counted once, consumed once, and the reports say so; bad flags fail clearly.
//!
//! Method: start `ringmq broker` (shardCount=2, embedded nameserver), run the bench subcommands
//! with `--json --quiet` and check the JSON reports: a produce with a message quota stores
//! exactly that many (and the broker's msgPutTotalTodayNow agrees), a consume from the start
//! of the topic reads all of them, a consume with `--preload` reads what it preloaded, and an
//! end-to-end run at a fixed rate receives what it sent with a send→consume latency for each.

mod common;

use common::*;
use serde_json::Value;

fn bench(scratch: &Scratch, args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend(["--json", "--quiet"]);
    let output = run_ringmq(&all, &scratch.0);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    println!("[bench {args:?}]\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "bench {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&stdout).unwrap()
}

fn no_errors(report: &Value) {
    assert!(report["errors"].as_object().unwrap().is_empty(), "errors: {report}");
}

#[test]
fn bench_counts_every_message_once_from_send_to_consume() {
    let scratch = Scratch::new("bench-cli");
    let broker = start_broker(&scratch, "bench", "shardCount=2");
    let (namesrv, address) = (broker.namesrv.as_str(), broker.address.as_str());

    // 2 senders × batches of 5 × 100 requests each (the quota rounds to whole batches).
    let produced = bench(
        &scratch,
        &[
            "produce",
            "-n",
            namesrv,
            "-t",
            "BenchA",
            "--queues",
            "4",
            "--senders",
            "2",
            "--in-flight",
            "4",
            "--batch",
            "5",
            "--messages",
            "1000",
            "--duration",
            "60",
            "--warmup",
            "0",
        ],
    );
    no_errors(&produced);
    assert_eq!(produced["messages"], 1000);
    assert_eq!(produced["send_latency_us"]["count"], 200, "one latency per batch request");
    assert!(produced["send_latency_us"]["p50"].as_f64().unwrap() > 0.0);

    let status = run_ringmq(&["admin", "brokerStatus", "-b", address], &scratch.0);
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    let value_of = |key: &str| -> u64 {
        let line = status.lines().find(|line| line.starts_with(key)).unwrap_or_else(|| panic!("{key} in {status}"));
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    };
    assert_eq!(value_of("msgPutTotalTodayNow"), 1000);
    value_of("commitLogSyncCount");

    let consumed = bench(&scratch, &["consume", "-b", address, "-t", "BenchA", "--queues", "4", "--connections", "2"]);
    no_errors(&consumed);
    assert_eq!(consumed["messages"], 1000, "a consume from the start reads the whole topic");
    assert!(consumed["megabytes_per_second"].as_f64().unwrap() > 0.0);

    let preloaded = bench(
        &scratch,
        &["consume", "-n", namesrv, "-t", "BenchB", "--preload", "640", "--connections", "2", "--size", "100"],
    );
    no_errors(&preloaded);
    assert_eq!(preloaded["messages"], 640, "2 senders × batches of 32 × 10");

    let e2e = bench(
        &scratch,
        &[
            "e2e",
            "-n",
            namesrv,
            "-t",
            "BenchC",
            "--rate",
            "200",
            "--duration",
            "2",
            "--warmup",
            "0",
            "--in-flight",
            "2",
        ],
    );
    no_errors(&e2e);
    let sent = e2e["messages"].as_u64().unwrap();
    // The rate caps what is sent (2 s × 200 msg/s, plus the in-flight window); a slow machine
    // may send fewer, which is not this test's business.
    assert!((1..=420).contains(&sent), "at most about 2 s × 200 msg/s acknowledged: {sent}");
    let stamped = e2e["e2e_latency_us"]["count"].as_u64().unwrap();
    assert!(stamped >= sent * 9 / 10, "the consumer received what was sent: {stamped} of {sent}");
    assert!(e2e["e2e_latency_us"]["p50"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_refuses_bad_flags_with_a_clear_message() {
    let scratch = Scratch::new("bench-flags");
    for (args, needle) in [
        (vec!["bench", "produce", "-b", "127.0.0.1:1", "--in-flight", "0"], "--in-flight must be at least 1"),
        (vec!["bench", "produce", "-b", "127.0.0.1:1", "--warmup", "5", "--duration", "5"], "--warmup must be shorter"),
        (vec!["bench", "produce", "-b", "127.0.0.1:1", "--rate", "0"], "--rate must be positive"),
        (vec!["bench", "produce", "-b", "127.0.0.1:1"], "connect to <127.0.0.1:1> failed"),
    ] {
        let output = run_ringmq(&args, &scratch.0);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_quota_counts_acknowledged_sends_and_a_broker_refusing_for_good_ends_the_run() {
    // A read-only broker (brokerPermission=4) refuses every send: refused sends do not count
    // towards --messages, and after 3 s without a success the sender gives up, long before the
    // 60 s run would end, naming the refusal.
    let scratch = Scratch::new("bench-refused");
    let broker = start_broker(&scratch, "refusing", "brokerPermission=4");
    let started = std::time::Instant::now();
    let args = [
        "bench",
        "produce",
        "-b",
        broker.address.as_str(),
        "-t",
        "BenchRefused",
        "--messages",
        "200",
        "--in-flight",
        "4",
        "--duration",
        "60",
        "--warmup",
        "0",
        "--quiet",
    ];
    let output = run_ringmq(&args, &scratch.0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "nothing got through, yet it succeeded: {stdout}");
    assert!(stderr.contains("no message got through") && stderr.contains("NO_PERMISSION"), "{stderr}");
    assert!(stdout.contains("NO_PERMISSION×"), "the refusals are counted: {stdout}");
    assert!(started.elapsed() < std::time::Duration::from_secs(50), "gave up well before the run's end");
}
