//! Durability under SIGKILL: nothing acknowledged under SYNC_FLUSH is ever lost.
//!
//! Method: `ringmq store-check write` appends 1 KiB records from 8 concurrent writers to a real
//! O_DIRECT store and prints a line for each record only after its commit completed (rounds
//! alternate the two `syncFlushMethod`s: an O_DSYNC write, or a write then fdatasync). The
//! test kills it with SIGKILL at a random moment, keeps every complete ACK line, and runs
//! `ringmq store-check verify`, which recovers the store (scanning from the checkpoint, checking
//! magic and CRC, cutting any torn tail, rebuilding consume queues and index) and checks every
//! acknowledged record byte for byte and through its consume queue. Rounds repeat on the same
//! store, so recovery also runs over stores that were recovered before. The seed is printed so
//! a failing schedule can be replayed with RINGMQ_CRASH_SEED.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Rounds in CI (the issue asks for at least 20); RINGMQ_CRASH_ROUNDS raises it locally.
const ROUNDS_DEFAULT: u32 = 20;

struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        // xorshift64*: enough to spread kill times; the seed makes a run repeatable.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Complete lines only: a line cut by the kill has no newline and was never a full ACK.
fn complete_ack_lines(output: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(output);
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    complete.lines().filter(|line| line.starts_with("ACK ")).map(str::to_string).collect()
}

fn kill_writer_at_random(store: &str, sync_method: &str, random: &mut Random) -> Vec<String> {
    let mut child = Command::new(ringmq_binary())
        .args([
            "store-check",
            "write",
            "--dir",
            store,
            "--writers",
            "8",
            "--body-bytes",
            "1024",
            "--segment-bytes",
            "1048576",
            "--sync-method",
            sync_method,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut output = Vec::new();
        let _ = stdout.read_to_end(&mut output);
        output
    });
    let delay = Duration::from_millis(100 + random.next() % 700);
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    complete_ack_lines(&reader.join().unwrap())
}

#[test]
fn every_record_acknowledged_under_sync_flush_survives_sigkill() {
    let scratch = Scratch::new("store-crash");
    let store = scratch.0.join("store");
    let store = store.to_str().unwrap();
    let acks_path = scratch.0.join("acks.txt");
    let seed = std::env::var("RINGMQ_CRASH_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        (nanos ^ u64::from(std::process::id())) | 1
    });
    let rounds = std::env::var("RINGMQ_CRASH_ROUNDS").ok().and_then(|text| text.parse().ok()).unwrap_or(ROUNDS_DEFAULT);
    println!("seed {seed}, {rounds} rounds");
    let mut random = Random(seed);
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..rounds {
        // Both commit methods, alternating on the same store (each recovers the other's log).
        let sync_method = if round % 2 == 0 { "WRITE_THROUGH" } else { "FDATASYNC" };
        let acks = kill_writer_at_random(store, sync_method, &mut random);
        acknowledged.extend(acks.iter().cloned());
        std::fs::write(&acks_path, acknowledged.join("\n") + "\n").unwrap();
        let verify = Command::new(ringmq_binary())
            .args(["store-check", "verify", "--dir", store, "--acks", acks_path.to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&verify.stdout);
        let stderr = String::from_utf8_lossy(&verify.stderr);
        assert!(verify.status.success(), "round {round} (seed {seed}): recovery lost data:\n{stdout}\n{stderr}");
        let verified = stdout.lines().find(|line| line.starts_with("VERIFIED ")).expect("a VERIFIED line");
        println!("round {round} ({sync_method}): {} new acks; {verified}", acks.len());
        assert!(verified.starts_with(&format!("VERIFIED {} ", acknowledged.len())), "{verified}");
    }
    assert!(!acknowledged.is_empty(), "the writer acknowledged nothing in {rounds} rounds");
}
