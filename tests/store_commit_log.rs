//! The commit log against a fault-injecting in-memory disk.
//!
//! Method: drive `CommitLog` directly (append, flush, read) on `MemoryStorage`, which keeps
//! what was synced apart from what was only written and can simulate a power cut that tears
//! unsynced writes, a failing fdatasync, and bit rot. After each fault, reopen with
//! `recovery::open` and check: every record that was synced is there byte for byte, nothing
//! after a torn record survives, corruption of synced data is refused rather than truncated,
//! and a second recovery gives the same state as the first.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use futures_lite::future::block_on;

use ringmq::limits::STORE_COLD_READ_BLOCK_BYTES;
use ringmq::protocol::message::crc32;
use ringmq::protocol::record::{self, Record};
use ringmq::runtime::MemoryStorage;
use ringmq::store::commit_log::{
    self, AppendError, CommitLog, CommitLogOptions, DurabilityError, FlushMode, FlusherStep, Position, SyncMethod,
};
use ringmq::store::flush;
use ringmq::store::recovery::{self, RecoveryError, RecoveryMode};

const SEGMENT_BYTES: u64 = 64 * 1024;

fn options() -> CommitLogOptions {
    CommitLogOptions {
        directory: PathBuf::from("/store/commitlog/shard-0"),
        segment_size_bytes: SEGMENT_BYTES,
        hot_window_bytes: 16 * 1024,
        unwritten_bytes_max: 1 << 20,
        flush_mode: FlushMode::Sync(SyncMethod::Fdatasync),
    }
}

fn encode(body: &[u8], position: Position) -> Bytes {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let record = Record {
        body_crc: crc32(body),
        queue_id: 0,
        flag: 0,
        queue_offset: 0,
        physical_offset: position as i64,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: host,
        store_timestamp: 2,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body,
        topic: "T",
        properties: "",
    };
    let mut bytes = BytesMut::with_capacity(record.size_bytes());
    record::encode(&record, &mut bytes);
    bytes.freeze()
}

fn size_of(body: &[u8]) -> usize {
    record::encoded_size(&"127.0.0.1:1".parse().unwrap(), &"127.0.0.1:1".parse().unwrap(), body.len(), 1, 0)
}

fn append(log: &RefCell<CommitLog<MemoryStorage>>, body: &[u8]) -> Position {
    log.borrow_mut()
        .append(size_of(body), |position, buffer| buffer.extend_from_slice(&encode(body, position)))
        .unwrap()
}

/// The reopened log and every record the scan handed over.
type Reopened = (RefCell<CommitLog<MemoryStorage>>, Vec<(Position, Vec<u8>)>);

fn open(storage: &MemoryStorage, mode: RecoveryMode) -> Result<Reopened, RecoveryError> {
    let mut seen = Vec::new();
    let log = block_on(recovery::open(storage.clone(), options(), mode, |record| {
        seen.push((record.position, record.bytes.to_vec()));
    }))?;
    Ok((RefCell::new(log), seen))
}

fn fresh(storage: &MemoryStorage) -> RefCell<CommitLog<MemoryStorage>> {
    open(storage, RecoveryMode::Scan { from: 0, synced: 0 }).unwrap().0
}

/// An empty log with other options than `options()`.
fn fresh_with(storage: &MemoryStorage, options: CommitLogOptions) -> RefCell<CommitLog<MemoryStorage>> {
    let log = block_on(recovery::open(storage.clone(), options, RecoveryMode::Scan { from: 0, synced: 0 }, |_| {}));
    RefCell::new(log.unwrap())
}

fn body(index: usize, length: usize) -> Vec<u8> {
    (0..length).map(|byte| (index * 31 + byte) as u8).collect()
}

#[test]
fn one_fdatasync_covers_every_record_appended_before_it() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    let receivers: Vec<_> = (0..50)
        .map(|index| {
            let position = append(&log, &body(index, 100));
            let end = log.borrow().appended();
            assert!(position < end);
            log.borrow_mut().durable(end)
        })
        .collect();
    block_on(flush::flush(&log, true)).unwrap();
    assert_eq!(storage.sync_count(), 1, "one group commit for 50 appends");
    for mut receiver in receivers {
        assert_eq!(receiver.try_recv().unwrap(), Some(Ok(())));
    }
    let log = log.borrow();
    assert_eq!((log.synced(), log.written()), (log.appended(), log.appended()));
}

#[test]
fn the_partial_last_block_is_rewritten_so_the_file_holds_every_record_in_order() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    let mut expected = Vec::new();
    for index in 0..20 {
        let record_body = body(index, 37 + index * 13);
        append(&log, &record_body);
        expected.extend_from_slice(&encode(&record_body, expected.len() as u64));
        block_on(flush::flush(&log, index % 3 == 0)).unwrap();
    }
    let file = storage.contents(&options().directory.join(commit_log::segment_name(0))).unwrap();
    assert_eq!(&file[..expected.len()], &expected[..]);
}

#[test]
fn a_segment_roll_writes_a_blank_record_and_recovery_follows_it() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    let mut positions = Vec::new();
    for index in 0..30 {
        positions.push(append(&log, &body(index, 5000)));
    }
    block_on(flush::flush(&log, true)).unwrap();
    assert!(positions.iter().any(|position| *position >= 2 * SEGMENT_BYTES), "three segments used");
    for position in &positions {
        assert_eq!(
            position / SEGMENT_BYTES,
            (position + size_of(&body(0, 5000)) as u64 - 1) / SEGMENT_BYTES,
            "no record spans segments"
        );
    }
    let end = log.borrow().appended();
    drop(log);
    let (reopened, seen) = open(&storage, RecoveryMode::Scan { from: 0, synced: 0 }).unwrap();
    assert_eq!(seen.iter().map(|(position, _)| *position).collect::<Vec<_>>(), positions);
    assert_eq!(reopened.borrow().appended(), end);
}

#[test]
fn recovery_truncates_a_torn_tail_after_a_crash_mid_write() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    for index in 0..10 {
        append(&log, &body(index, 300));
    }
    block_on(flush::flush(&log, true)).unwrap();
    let synced = log.borrow().synced();
    for index in 10..20 {
        append(&log, &body(index, 300));
    }
    block_on(flush::flush(&log, false)).unwrap();
    // The power cut keeps only part of the unsynced write.
    storage.crash(|_, length| length / 3 + 100);
    drop(log);
    let (reopened, seen) = open(&storage, RecoveryMode::Scan { from: 0, synced }).unwrap();
    let end = reopened.borrow().appended();
    assert!(end >= synced, "nothing synced is lost");
    assert!(seen.len() >= 10 && seen.len() < 20, "the torn record and what follows are gone: {}", seen.len());
    // New appends continue at the cut, and a second recovery sees exactly the same log.
    append(&reopened, &body(99, 300));
    block_on(flush::flush(&reopened, true)).unwrap();
    let after = reopened.borrow().appended();
    drop(reopened);
    let (first, first_seen) = open(&storage, RecoveryMode::Scan { from: 0, synced: after }).unwrap();
    let (second, second_seen) = open(&storage, RecoveryMode::Scan { from: 0, synced: after }).unwrap();
    assert_eq!(first.borrow().appended(), after);
    assert_eq!(second.borrow().appended(), after);
    assert_eq!(first_seen, second_seen);
    assert_eq!(first_seen.last().unwrap().1, encode(&body(99, 300), end).to_vec());
}

#[test]
fn a_crash_between_write_and_sync_loses_only_unsynced_records() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    for index in 0..5 {
        append(&log, &body(index, 1000));
    }
    block_on(flush::flush(&log, true)).unwrap();
    let synced = log.borrow().synced();
    for index in 5..9 {
        append(&log, &body(index, 1000));
    }
    block_on(flush::flush(&log, false)).unwrap();
    storage.crash(|_, _| 0);
    drop(log);
    let (reopened, seen) = open(&storage, RecoveryMode::Scan { from: 0, synced }).unwrap();
    assert_eq!(reopened.borrow().appended(), synced);
    assert_eq!(seen.len(), 5);
}

#[test]
fn a_corrupted_record_inside_synced_data_refuses_to_start() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    let positions: Vec<_> = (0..10).map(|index| append(&log, &body(index, 200))).collect();
    block_on(flush::flush(&log, true)).unwrap();
    let synced = log.borrow().synced();
    drop(log);
    let segment = options().directory.join(commit_log::segment_name(0));
    storage.corrupt(&segment, positions[4] + 100);
    match open(&storage, RecoveryMode::Scan { from: 0, synced }) {
        Err(RecoveryError::Corruption { position, .. }) => assert_eq!(position, positions[4]),
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("expected corruption, recovery succeeded"),
    }
    // Without the knowledge that it was synced, it is treated as a torn tail.
    let (reopened, seen) = open(&storage, RecoveryMode::Scan { from: 0, synced: 0 }).unwrap();
    assert_eq!(seen.len(), 4);
    assert_eq!(reopened.borrow().appended(), positions[4]);
}

/// SYNC_FLUSH deadlines are swept, not timed one by one: a wait past its deadline fails as
/// timed out (FLUSH_DISK_TIMEOUT), the others stay until the sync releases them.
#[test]
fn a_durable_wait_past_its_deadline_times_out_and_the_others_still_complete() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    append(&log, &body(0, 100));
    let end = log.borrow().appended();
    let now = std::time::Instant::now();
    let mut late = log.borrow_mut().durable_by(end, Some(now));
    let mut patient = log.borrow_mut().durable_by(end, Some(now + std::time::Duration::from_secs(60)));
    let mut unbounded = log.borrow_mut().durable(end);
    assert_eq!(log.borrow().next_deadline(), Some(now));
    log.borrow_mut().expire_waiters(now);
    assert_eq!(late.try_recv().unwrap(), Some(Err(DurabilityError::TimedOut)));
    assert_eq!(patient.try_recv().unwrap(), None);
    assert_eq!(log.borrow().next_deadline(), Some(now + std::time::Duration::from_secs(60)));
    block_on(flush::flush(&log, true)).unwrap();
    assert_eq!(patient.try_recv().unwrap(), Some(Ok(())));
    assert_eq!(unbounded.try_recv().unwrap(), Some(Ok(())));
    assert_eq!(log.borrow().next_deadline(), None);
}

#[test]
fn a_failed_fdatasync_fails_waiters_and_refuses_every_later_append() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    append(&log, &body(0, 100));
    let end = log.borrow().appended();
    let mut waiter = log.borrow_mut().durable(end);
    storage.fail_next_sync();
    assert!(block_on(flush::flush(&log, true)).is_err());
    assert!(matches!(waiter.try_recv(), Ok(Some(Err(_)))));
    let refused =
        log.borrow_mut().append(size_of(b"x"), |position, buffer| buffer.extend_from_slice(&encode(b"x", position)));
    assert!(matches!(refused, Err(AppendError::Failed(_))));
    // A later sync that would succeed must not make it look healthy again.
    assert!(block_on(flush::flush(&log, true)).is_err());
    assert!(log.borrow().failure().is_some());
}

#[test]
fn cold_reads_come_from_disk_and_do_not_disturb_the_hot_window() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    let positions: Vec<_> = (0..40).map(|index| append(&log, &body(index, 900))).collect();
    block_on(flush::flush(&log, true)).unwrap();
    let hot_start = log.borrow().hot_start();
    assert!(hot_start > positions[0], "the hot window is bounded");
    let size = size_of(&body(0, 900));
    let cold = block_on(commit_log::read(&log, positions[0], size)).unwrap();
    assert_eq!(cold, encode(&body(0, 900), positions[0]));
    assert_eq!(log.borrow().hot_start(), hot_start);
    let hot = block_on(commit_log::read(&log, positions[39], size)).unwrap();
    assert_eq!(hot, encode(&body(39, 900), positions[39]));
}

/// ~6 MiB of records (900–1,150 bytes, some straddling block boundaries) over 4 MiB segments,
/// written, with a hot window of 16 KiB: almost all of it is read from the segment files.
fn cold_log(storage: &MemoryStorage) -> (RefCell<CommitLog<MemoryStorage>>, Vec<(Position, Bytes)>) {
    let log = fresh_with(storage, CommitLogOptions { segment_size_bytes: 4 << 20, ..options() });
    let mut records = Vec::new();
    for index in 0..6000 {
        let record_body = body(index, 900 + index % 251);
        let position = append(&log, &record_body);
        records.push((position, encode(&record_body, position)));
        if index % 256 == 255 {
            block_on(flush::flush(&log, true)).unwrap();
        }
    }
    block_on(flush::flush(&log, true)).unwrap();
    assert!(log.borrow().hot_start() > records[5900].0, "the records are cold");
    (log, records)
}

#[test]
fn a_reader_going_on_in_order_reads_each_log_block_once_not_each_record() {
    let storage = MemoryStorage::new();
    let (log, records) = cold_log(&storage);
    for (position, expected) in &records {
        assert_eq!(&block_on(commit_log::read(&log, *position, expected.len())).unwrap(), expected);
    }
    // Each block once (a segment's last one is cut short by the segment end), and none past
    // the cold records. One read per record would be 6000.
    let block_reads = log.borrow().cold_block_reads_count();
    let log_bytes = records.last().map(|(position, bytes)| position + bytes.len() as u64).unwrap();
    let blocks = log_bytes.div_ceil(STORE_COLD_READ_BLOCK_BYTES) + 1;
    assert!((2..=blocks).contains(&block_reads), "{block_reads} block reads for {log_bytes} bytes");
}

#[test]
fn cold_reads_in_any_order_return_every_record_byte_for_byte() {
    // Eight readers a few records apart (queues interleaved in one log), then a random order
    // that keeps evicting the 32 cached blocks.
    let storage = MemoryStorage::new();
    let (log, records) = cold_log(&storage);
    let (count, stride) = (records.len(), records.len() / 8);
    let interleaved = (0..stride).flat_map(|step| (0..8).map(move |reader| reader * stride + step));
    let mut state = 7u64;
    let random = (0..6000).map(|_| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize % count
    });
    for index in interleaved.chain(random) {
        let (position, expected) = &records[index];
        assert_eq!(&block_on(commit_log::read(&log, *position, expected.len())).unwrap(), expected, "record {index}");
    }
}

#[test]
fn appends_are_refused_as_busy_when_the_disk_falls_behind_and_say_what_the_flusher_does() {
    let storage = MemoryStorage::new();
    let mut options = options();
    options.unwritten_bytes_max = 4096;
    let log = fresh_with(&storage, options);
    let record_body = body(0, 1000);
    let try_append = || {
        log.borrow_mut()
            .append(size_of(&record_body), |position, buffer| buffer.extend_from_slice(&encode(&record_body, position)))
    };
    let busy = (0..10).find_map(|_| try_append().err()).expect("refused once 4 KiB wait");
    let AppendError::Busy { unwritten_bytes, flusher } = busy.clone() else { panic!("{busy}") };
    assert_eq!(flusher.step, FlusherStep::Idle, "no flush started yet: {busy}");
    // A flush whose record write is in flight (the memory disk completes a write one poll
    // later): the refusal names the write and its size.
    let mut flushing = Box::pin(flush::flush(&log, true));
    assert!(block_on(futures_lite::future::poll_once(&mut flushing)).is_none(), "the write is in flight");
    let busy = try_append().unwrap_err();
    let AppendError::Busy { flusher, .. } = busy.clone() else { panic!("{busy}") };
    assert_eq!((flusher.step, flusher.bytes), (FlusherStep::Writing, unwritten_bytes as u64), "{busy}");
    assert!(
        busy.to_string().contains(&format!("the flusher has been writing records ({unwritten_bytes} bytes) for")),
        "{busy}"
    );
    block_on(flushing).unwrap();
    try_append().expect("taken once the disk caught up");
}

/// `append` and `check_room` refuse by the same rules, the blank that ends a segment included:
/// with nothing written, the limit is set one byte short of a roll's end, so the record that
/// rolls is the first refused (until session 12 `append` left the blank out and took
/// it while `check_room` refused it, so a batch and a single send disagreed at a segment's end).
#[test]
fn append_and_check_room_refuse_the_same_record_with_a_segments_blank_counted() {
    let storage = MemoryStorage::new();
    let record_body = body(0, 1000);
    let size_bytes = size_of(&record_body);
    let mut options = options();
    options.unwritten_bytes_max = SEGMENT_BYTES as usize + size_bytes - 1;
    let log = fresh_with(&storage, options);
    let mut taken_count = 0;
    loop {
        let room = log.borrow().check_room([size_bytes]);
        let taken = log
            .borrow_mut()
            .append(size_bytes, |position, buffer| buffer.extend_from_slice(&encode(&record_body, position)));
        assert_eq!(room.is_ok(), taken.is_ok(), "record {taken_count}: check_room {room:?}, append {taken:?}");
        match taken {
            Ok(_) => taken_count += 1,
            Err(AppendError::Busy { .. }) => break,
            Err(error) => panic!("{error}"),
        }
    }
    let appended = log.borrow().appended();
    assert!(appended < SEGMENT_BYTES, "refused inside the first segment, at {appended}");
    assert!(SEGMENT_BYTES - appended < (size_bytes + 8) as u64, "refused at the record that would roll ({appended})");
}

#[test]
fn a_flush_larger_than_one_write_is_cut_into_pieces_that_hold_every_byte_in_order() {
    // Segments of 4 MiB, so that one flush of ~3 MiB spans several 1 MiB write pieces; a small
    // flush first leaves a partial block to carry into the first piece.
    let storage = MemoryStorage::new();
    let options = CommitLogOptions {
        segment_size_bytes: 4 << 20,
        hot_window_bytes: 8 << 20,
        unwritten_bytes_max: 8 << 20,
        ..options()
    };
    let log = fresh_with(&storage, options.clone());
    let mut expected = Vec::new();
    let mut add = |index: usize, length: usize| {
        let record_body = body(index, length);
        let position = log
            .borrow_mut()
            .append(size_of(&record_body), |position, buffer| buffer.extend_from_slice(&encode(&record_body, position)))
            .unwrap();
        assert_eq!(position, expected.len() as u64);
        expected.extend_from_slice(&encode(&record_body, position));
    };
    add(0, 777);
    block_on(flush::flush(&log, true)).unwrap();
    for index in 1..500 {
        add(index, 7000 + index);
    }
    block_on(flush::flush(&log, true)).unwrap();
    add(500, 333);
    block_on(flush::flush(&log, true)).unwrap();
    assert!(expected.len() > 3 << 20);
    let file = storage.contents(&options.directory.join(commit_log::segment_name(0))).unwrap();
    assert_eq!(&file[..expected.len()], &expected[..]);
    assert!(
        file[expected.len()..expected.len().next_multiple_of(4096)].iter().all(|byte| *byte == 0),
        "padding is zeros"
    );
}

/// A lag larger than one plan (16 MiB) is written in several plans, each ending at a record
/// boundary, across segment rolls: recovery finds every record byte for byte.
#[test]
fn a_flush_of_a_lag_larger_than_one_plan_writes_every_record_across_segment_rolls() {
    let storage = MemoryStorage::new();
    let options = CommitLogOptions {
        segment_size_bytes: 12 << 20,
        hot_window_bytes: 64 << 20,
        unwritten_bytes_max: 64 << 20,
        ..options()
    };
    let reopen = |seen: &mut Vec<(Position, Vec<u8>)>| {
        block_on(recovery::open(
            storage.clone(),
            options.clone(),
            RecoveryMode::Scan { from: 0, synced: 0 },
            |record| seen.push((record.position, record.bytes.to_vec())),
        ))
        .unwrap()
    };
    let log = RefCell::new(reopen(&mut Vec::new()));
    let mut expected = Vec::new();
    for index in 0..4500 {
        let record_body = body(index, 5000 + (index * 7919) % 9000);
        let position = append(&log, &record_body);
        expected.push((position, encode(&record_body, position).to_vec()));
    }
    let appended = log.borrow().appended();
    assert!(appended > 40 << 20, "{appended} bytes: more than two plans and three segments");
    block_on(flush::flush(&log, true)).unwrap();
    assert_eq!(log.borrow().written(), appended);
    drop(log);
    let mut seen = Vec::new();
    reopen(&mut seen);
    assert_eq!(seen.len(), expected.len());
    for ((position, bytes), (expected_position, expected_bytes)) in seen.iter().zip(&expected) {
        assert_eq!(position, expected_position);
        assert!(bytes == expected_bytes, "record at {position} differs");
    }
}

/// The flusher zeroes ahead of the log while idle. A zero write it abandoned in flight would
/// still land (io_uring cannot cancel a write the device has) and, landing after the next
/// record write, erase records: the memory disk lands abandoned writes in exactly that order.
/// Records appended while the flusher is zeroing must all be on disk.
#[test]
fn records_appended_while_the_flusher_zeroes_ahead_are_never_overwritten() {
    let (file, expected) = ringmq::runtime::spawn_executor("zeroing-race", None, || async {
        let storage = MemoryStorage::new();
        let log = std::rc::Rc::new(fresh(&storage));
        let stop = std::rc::Rc::new(std::cell::Cell::new(false));
        let flusher = ringmq::runtime::spawn(flush::run(log.clone(), stop.clone()));
        let mut expected = Vec::new();
        for index in 0..150 {
            let record_body = body(index, 200 + index % 50);
            let position = append(&log, &record_body);
            expected.extend_from_slice(&encode(&record_body, position));
            let end = log.borrow().appended();
            let durable = log.borrow_mut().durable(end);
            durable.await.unwrap().unwrap();
            // Acknowledged: the disk must hold every record so far, now (a crash here keeps
            // exactly this), not only after later rewrites of the partial block.
            let file = storage.contents(&options().directory.join(commit_log::segment_name(0))).unwrap();
            assert!(file[..expected.len()] == expected[..], "record {index} acknowledged but not on disk");
            // Let the idle flusher get some zero writes in flight before the next append.
            for _ in 0..index % 4 {
                futures_lite::future::yield_now().await;
            }
        }
        stop.set(true);
        log.borrow_mut().wake_flusher();
        flusher.await;
        (storage.contents(&options().directory.join(commit_log::segment_name(0))).unwrap(), expected)
    })
    .unwrap()
    .join()
    .unwrap();
    assert!(expected.len() < SEGMENT_BYTES as usize, "one segment, no blank record in between");
    assert_eq!(&file[..expected.len()], &expected[..]);
}

/// ASYNC_FLUSH under steady load never idles: each write refills the zeros ahead (before, only
/// idle time and the 10 s thorough syncs did, and the writes ran into holes, which ext4
/// allocates and io_uring hands to a worker thread). The zeros never touch a record.
#[test]
fn unsynced_flushes_keep_the_log_zeroed_ahead_and_never_erase_a_record() {
    let storage = MemoryStorage::new();
    let log = fresh(&storage);
    let mut expected = Vec::new();
    for burst in 0..12 {
        for index in 0..40 {
            let record_body = body(burst * 40 + index, 300 + index % 70);
            let position = append(&log, &record_body);
            expected.push((position, encode(&record_body, position)));
        }
        block_on(flush::flush(&log, false)).unwrap();
        let written = log.borrow().written();
        let next_segment = (written / SEGMENT_BYTES + 1) * SEGMENT_BYTES;
        let ahead = options().directory.join(commit_log::segment_name(next_segment));
        assert!(storage.paths().contains(&ahead), "burst {burst}: no zeroed segment after position {written}");
        for (position, bytes) in &expected {
            let path = options().directory.join(commit_log::segment_name(position - position % SEGMENT_BYTES));
            let file = storage.contents(&path).unwrap();
            let at = (position % SEGMENT_BYTES) as usize;
            assert!(file[at..at + bytes.len()] == bytes[..], "burst {burst}: the record at {position} was erased");
        }
    }
    assert_eq!(storage.sync_count(), 0, "no fdatasync was asked for");
}

/// Under SYNC_FLUSH the flusher writes the records that arrive while an fdatasync is in
/// flight, and the memory disk's fdatasync does not cover a write that completes while it is in
/// flight. Many senders with sends in flight, across segment rolls: at the moment a record is
/// acknowledged, the synced image of its segment (what a power cut keeps) must hold it.
#[test]
fn a_record_written_during_an_fdatasync_is_acknowledged_only_by_a_sync_that_covers_it() {
    let (acknowledged, commits, fdatasyncs) = acknowledge_under_load(SyncMethod::Fdatasync);
    assert_eq!(acknowledged, 8 * 60);
    // Group commit: far fewer fdatasyncs than records, across several segments.
    assert!(commits < 8 * 60, "{commits} fdatasyncs for {acknowledged} records");
    assert!(commits <= fdatasyncs, "{commits} commits, {fdatasyncs} fdatasyncs (one per segment synced)");
}

/// The same load through O_DSYNC handles: a record is acknowledged once the write holding it
/// completed, and that write alone put it in the synced image, with no fdatasync at all; the
/// zeros written beside the writes (without O_DSYNC) never erase a record.
#[test]
fn a_write_through_commit_acknowledges_only_records_its_completed_write_made_durable() {
    let (acknowledged, commits, fdatasyncs) = acknowledge_under_load(SyncMethod::WriteThrough);
    assert_eq!(acknowledged, 8 * 60);
    assert!(commits < 8 * 60, "{commits} commits for {acknowledged} records");
    assert_eq!(fdatasyncs, 0, "durable through the writes themselves");
}

/// The first append wakes the write-through flusher; sends woken after it in the same turn
/// still ride its commit: one O_DSYNC write for all ten records (without the flusher's yield
/// the first commit held one record and a second one the other nine).
#[test]
fn records_appended_by_tasks_woken_after_the_flusher_ride_its_commit() {
    let commits = ringmq::runtime::spawn_executor("commit-turn", None, || async {
        let storage = MemoryStorage::new();
        let log = std::rc::Rc::new(fresh_with(
            &storage,
            CommitLogOptions { flush_mode: FlushMode::Sync(SyncMethod::WriteThrough), ..options() },
        ));
        let stop = std::rc::Rc::new(std::cell::Cell::new(false));
        let flusher = ringmq::runtime::spawn(flush::run(log.clone(), stop.clone()));
        ringmq::runtime::sleep(std::time::Duration::from_millis(10)).await; // the flusher waits for appends
        let commits_before = log.borrow().sync_count();
        let append_and_wait = |log: std::rc::Rc<std::cell::RefCell<CommitLog<MemoryStorage>>>, index: usize| async move {
            append(&log, &body(index, 500));
            let end = log.borrow().appended();
            let durable = log.borrow_mut().durable(end);
            durable.await.unwrap().unwrap();
        };
        let (starts, senders): (Vec<_>, Vec<_>) = (1..10)
            .map(|index| {
                let (start, wait) = futures_channel::oneshot::channel::<()>();
                let send = append_and_wait(log.clone(), index);
                (start, ringmq::runtime::spawn(async move {
                    let _ = wait.await;
                    send.await;
                }))
            })
            .unzip();
        let first = ringmq::runtime::spawn(append_and_wait(log.clone(), 0)); // wakes the flusher
        starts.into_iter().for_each(|start| start.send(()).unwrap()); // wakes the others after it
        first.await;
        for sender in senders {
            sender.await;
        }
        let commits = log.borrow().sync_count() - commits_before;
        stop.set(true);
        log.borrow_mut().wake_flusher();
        flusher.await;
        commits
    })
    .unwrap()
    .join()
    .unwrap();
    assert_eq!(commits, 1, "one commit for the ten records");
}

/// Eight senders append and wait for durability under the real flusher task; at the moment a
/// record is acknowledged, the synced image of its segment (what a power cut keeps) must hold
/// it. Returns the records acknowledged, the log's commits and the disk's fdatasyncs.
fn acknowledge_under_load(method: SyncMethod) -> (usize, u64, u64) {
    ringmq::runtime::spawn_executor("pipelined-sync", None, move || async move {
        let storage = MemoryStorage::new();
        let log = std::rc::Rc::new(fresh_with(
            &storage,
            CommitLogOptions { flush_mode: FlushMode::Sync(method), ..options() },
        ));
        let stop = std::rc::Rc::new(std::cell::Cell::new(false));
        let flusher = ringmq::runtime::spawn(flush::run(log.clone(), stop.clone()));
        let senders: Vec<_> = (0..8)
            .map(|sender| {
                let (log, storage) = (log.clone(), storage.clone());
                ringmq::runtime::spawn(async move {
                    let mut acknowledged = 0;
                    for index in 0..60 {
                        // Appends at different moments of the flusher's cycle: some land while a
                        // write or an fdatasync is in flight.
                        for _ in 0..(sender + index) % 5 {
                            futures_lite::future::yield_now().await;
                        }
                        let record_body = body(sender * 1000 + index, 300 + (sender * 97 + index * 13) % 900);
                        let position = append(&log, &record_body);
                        let end = log.borrow().appended();
                        let durable = log.borrow_mut().durable(end);
                        durable.await.unwrap().unwrap();
                        let start = position - position % SEGMENT_BYTES;
                        let path = options().directory.join(commit_log::segment_name(start));
                        let synced = storage.synced_contents(&path).unwrap();
                        let at = (position - start) as usize;
                        let expected = encode(&record_body, position);
                        assert!(
                            synced.len() >= at + expected.len() && synced[at..at + expected.len()] == expected[..],
                            "record of sender {sender} at {position} acknowledged but not synced"
                        );
                        acknowledged += 1;
                    }
                    acknowledged
                })
            })
            .collect();
        let mut acknowledged = 0;
        for sender in senders {
            acknowledged += sender.await;
        }
        stop.set(true);
        log.borrow_mut().wake_flusher();
        flusher.await;
        let commits = log.borrow().sync_count();
        (acknowledged, commits, storage.sync_count())
    })
    .unwrap()
    .join()
    .unwrap()
}

/// A power cut after write-through commits keeps every acknowledged record, even though the
/// zeros written ahead of them never reached stable storage.
#[test]
fn a_power_cut_after_write_through_commits_keeps_every_acknowledged_record() {
    let write_through = CommitLogOptions { flush_mode: FlushMode::Sync(SyncMethod::WriteThrough), ..options() };
    ringmq::runtime::spawn_executor("write-through-crash", None, move || async move {
        let storage = MemoryStorage::new();
        let log = std::rc::Rc::new(fresh_with(&storage, write_through));
        let stop = std::rc::Rc::new(std::cell::Cell::new(false));
        let flusher = ringmq::runtime::spawn(flush::run(log.clone(), stop.clone()));
        let mut count = 0;
        for burst in 0..40 {
            let mut waits = Vec::new();
            for index in 0..(burst % 7 + 1) {
                append(&log, &body(count + index, 200 + burst * 37 % 1500));
                let end = log.borrow().appended();
                waits.push(log.borrow_mut().durable(end));
            }
            count += waits.len();
            for wait in waits {
                wait.await.unwrap().unwrap();
            }
        }
        let acknowledged_end = log.borrow().appended();
        stop.set(true);
        log.borrow_mut().wake_flusher();
        flusher.await;
        drop(log);
        assert!(acknowledged_end > 2 * SEGMENT_BYTES, "the load crossed segment rolls");
        assert_eq!(storage.sync_count(), 0, "durable through the writes themselves");
        storage.crash(|_, _| 0);
        let (reopened, seen) = open(&storage, RecoveryMode::Scan { from: 0, synced: acknowledged_end }).unwrap();
        assert_eq!(reopened.borrow().appended(), acknowledged_end);
        let is_message =
            |bytes: &[u8]| record::peek_size_and_magic(bytes).is_some_and(|(_, magic)| magic == record::MAGIC_MESSAGE);
        assert_eq!(seen.iter().filter(|(_, bytes)| is_message(bytes)).count(), count);
    })
    .unwrap()
    .join()
    .unwrap();
}
