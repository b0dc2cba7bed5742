//! How the replication pump should send: plain `send` against io_uring's `IORING_OP_SEND` and
//! zero-copy `IORING_OP_SEND_ZC` (`cargo bench --bench replication_send`).
//!
//! A sender streams frames of 32 KiB (`haTransferBatchSize`, what a catching-up pump sends) and
//! of 1 KiB (one record, what a SYNC_MASTER pump sends per send) over loopback TCP to a thread
//! that reads and discards them; 8 sends in flight on the ring. SEND_ZC keeps each buffer until
//! its notification completion says the kernel no longer needs it. Reports MB/s per method.
//! Under `cargo test` (no `--bench` argument) it runs as a short smoke test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, types, IoUring};

const IN_FLIGHT: usize = 8;

/// A connected pair: the sender's stream and the thread that drains the other end.
fn connection() -> (TcpStream, std::thread::JoinHandle<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let drain = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return total,
                Ok(count) => total += count as u64,
            }
        }
    });
    let stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    (stream, drain)
}

fn plain(frame_bytes: usize, duration: Duration) -> f64 {
    let (mut stream, drain) = connection();
    let frame = vec![7u8; frame_bytes];
    let started = Instant::now();
    while started.elapsed() < duration {
        stream.write_all(&frame).unwrap();
    }
    drop(stream);
    drain.join().unwrap() as f64 / started.elapsed().as_secs_f64() / 1e6
}

/// Frames sent through an io_uring, `zero_copy` choosing SEND_ZC over SEND. Each slot's buffer
/// is reused only after its send completed (and, for SEND_ZC, after its notification).
fn ring(frame_bytes: usize, duration: Duration, zero_copy: bool) -> std::io::Result<f64> {
    let (stream, drain) = connection();
    let fd = types::Fd(stream.as_raw_fd());
    let mut ring = IoUring::new(64)?;
    let buffers: Vec<Vec<u8>> = (0..IN_FLIGHT).map(|_| vec![7u8; frame_bytes]).collect();
    // Per slot: bytes of the frame already sent, and whether a notification is still due.
    let mut sent = [0usize; IN_FLIGHT];
    let mut busy = [false; IN_FLIGHT];
    let mut notification_due = [false; IN_FLIGHT];
    let submit = |ring: &mut IoUring, slot: usize, from: usize| -> std::io::Result<()> {
        let pointer = buffers[slot][from..].as_ptr();
        let length = (frame_bytes - from) as u32;
        let entry = if zero_copy {
            opcode::SendZc::new(fd, pointer, length).build()
        } else {
            opcode::Send::new(fd, pointer, length).build()
        };
        // SAFETY: the buffer outlives the operation: a slot is resubmitted only after its
        // completion (and notification) arrived, and `buffers` lives until the loop ends.
        unsafe { ring.submission().push(&entry.user_data(slot as u64)) }.map_err(std::io::Error::other)?;
        Ok(())
    };
    let started = Instant::now();
    for slot in 0..IN_FLIGHT {
        submit(&mut ring, slot, 0)?;
        busy[slot] = true;
        notification_due[slot] = zero_copy;
    }
    loop {
        ring.submit_and_wait(1)?;
        let completions: Vec<(usize, i32, u32)> =
            ring.completion().map(|entry| (entry.user_data() as usize, entry.result(), entry.flags())).collect();
        for (slot, result, flags) in completions {
            if cqueue::notif(flags) {
                notification_due[slot] = false;
            } else {
                if result < 0 {
                    return Err(std::io::Error::from_raw_os_error(-result));
                }
                sent[slot] += result as usize;
                busy[slot] = false;
                if !cqueue::more(flags) {
                    notification_due[slot] = false;
                }
            }
        }
        let running = started.elapsed() < duration;
        for slot in 0..IN_FLIGHT {
            if busy[slot] || notification_due[slot] {
                continue;
            }
            let partial = sent[slot] % frame_bytes != 0;
            if partial || running {
                submit(&mut ring, slot, sent[slot] % frame_bytes)?;
                busy[slot] = true;
                notification_due[slot] = zero_copy;
            }
        }
        if !running && busy.iter().chain(&notification_due).all(|pending| !pending) {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(stream);
    Ok(drain.join().unwrap() as f64 / elapsed / 1e6)
}

fn main() {
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let duration = if smoke { Duration::from_millis(200) } else { Duration::from_secs(3) };
    println!("| frame | plain send MB/s | io_uring SEND MB/s | io_uring SEND_ZC MB/s |");
    println!("|---:|---:|---:|---:|");
    for frame_bytes in [1024, 32 * 1024] {
        let plain = plain(frame_bytes, duration);
        let send =
            ring(frame_bytes, duration, false).map_or_else(|error| error.to_string(), |rate| format!("{rate:.0}"));
        let zero_copy =
            ring(frame_bytes, duration, true).map_or_else(|error| error.to_string(), |rate| format!("{rate:.0}"));
        println!("| {frame_bytes} B | {plain:.0} | {send} | {zero_copy} |");
    }
}
