//! Opening a commit log: after a clean stop the checkpoint says where the log ends and nothing
//! is scanned; after a crash every record from the checkpoint on is checked (magic, size, body
//! CRC) and handed to the caller to rebuild consume queues and the index, and the log is cut at
//! the first record that fails (a torn tail). Bytes past the cut are freed so they can never be
//! mistaken for records later.
//!
//! A bad record *below* the position the checkpoint knew to be synced is not a torn tail but
//! corruption of acknowledged data: recovery refuses to start rather than silently drop what
//! follows it, and says where.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use super::commit_log::{segment_name, CommitLog, CommitLogOptions, Position};
use crate::protocol::record::{self, MAGIC_BLANK, MAGIC_MESSAGE};
use crate::runtime::{SegmentFile, Storage};

/// Bytes read per scan step. Large sequential reads keep recovery close to disk bandwidth.
const SCAN_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Where to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryMode {
    /// A clean stop left the log ending exactly at `end`.
    Clean { end: Position },
    /// A crash: scan from `from` (a record boundary) to the end. Records below `synced` were
    /// acknowledged as synced, so a bad one there is corruption, not a torn tail.
    Scan { from: Position, synced: Position },
}

#[derive(Debug)]
pub enum RecoveryError {
    Io {
        segment: String,
        reason: String,
    },
    /// Segment files that do not follow each other.
    Layout(String),
    /// A bad record where the log was known to be synced.
    Corruption {
        segment: String,
        offset_in_segment: u64,
        position: Position,
        reason: String,
    },
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { segment, reason } => write!(f, "cannot read commit log segment {segment}: {reason}"),
            Self::Layout(reason) => write!(f, "commit log layout is broken: {reason}"),
            Self::Corruption { segment, offset_in_segment, position, reason } => write!(
                f,
                "commit log segment {segment} is corrupt at offset {offset_in_segment} (log position \
                 {position}), inside data that was synced: {reason}. Refusing to start rather than \
                 drop the acknowledged records after it; restore the segment from a replica or \
                 backup"
            ),
        }
    }
}

impl std::error::Error for RecoveryError {}

/// A valid record found by the scan: its position and bytes.
pub struct ScannedRecord<'a> {
    pub position: Position,
    pub bytes: &'a [u8],
}

/// Opens the log under `options.directory`, scanning per `mode`; `on_record` sees every valid
/// record from the scan start, in order.
pub async fn open<S: Storage>(
    storage: S,
    options: CommitLogOptions,
    mode: RecoveryMode,
    mut on_record: impl FnMut(ScannedRecord<'_>),
) -> Result<CommitLog<S>, RecoveryError> {
    let starts = list_segments(&storage, &options)?;
    let log = RefCell::new(CommitLog::at(options.clone(), storage, starts.clone(), 0, Vec::new()));
    let end = match mode {
        RecoveryMode::Clean { end } => end,
        RecoveryMode::Scan { from, synced } => scan(&log, &starts, from, synced, &mut on_record).await?,
    };
    let mut log = log.into_inner();
    cut_at(&mut log, end).await?;
    Ok(log)
}

fn list_segments<S: Storage>(storage: &S, options: &CommitLogOptions) -> Result<BTreeSet<Position>, RecoveryError> {
    let names = storage.list(&options.directory).map_err(|error| RecoveryError::Io {
        segment: options.directory.display().to_string(),
        reason: error.to_string(),
    })?;
    let mut starts = BTreeSet::new();
    for name in names {
        let name = name.to_string_lossy().to_string();
        if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue; // checkpoints and other files live beside the segments
        }
        let start: Position = name.parse().map_err(|_| RecoveryError::Layout(format!("bad segment name {name}")))?;
        if start % options.segment_size_bytes != 0 {
            return Err(RecoveryError::Layout(format!(
                "segment {name} does not start at a multiple of the segment size {} (was mappedFileSizeCommitLog changed?)",
                options.segment_size_bytes
            )));
        }
        starts.insert(start);
    }
    let mut expected = None;
    for start in &starts {
        if let Some(expected) = expected {
            if *start != expected {
                return Err(RecoveryError::Layout(format!("segment {} is missing", segment_name(expected))));
            }
        }
        expected = Some(start + options.segment_size_bytes);
    }
    Ok(starts)
}

/// Scans from `from`; returns the position after the last valid record.
async fn scan<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    starts: &BTreeSet<Position>,
    from: Position,
    synced: Position,
    on_record: &mut impl FnMut(ScannedRecord<'_>),
) -> Result<Position, RecoveryError> {
    let segment_size = log.borrow().options.segment_size_bytes;
    let mut position = from;
    loop {
        let segment_start = position - position % segment_size;
        if !starts.contains(&segment_start) {
            return Ok(position); // the log ends at a segment boundary
        }
        let outcome = scan_segment(log, segment_start, position, on_record).await?;
        match outcome {
            SegmentEnd::Blank(next) => position = next,
            SegmentEnd::Invalid { at, reason } if at < synced => {
                return Err(RecoveryError::Corruption {
                    segment: segment_name(segment_start),
                    offset_in_segment: at - segment_start,
                    position: at,
                    reason,
                })
            }
            SegmentEnd::Invalid { at, .. } | SegmentEnd::End(at) => return Ok(at),
        }
    }
}

enum SegmentEnd {
    /// A blank record: the log continues at the next segment.
    Blank(Position),
    /// Zeros: the end of the log.
    End(Position),
    /// A record that fails its checks.
    Invalid { at: Position, reason: String },
}

async fn scan_segment<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    segment_start: Position,
    from: Position,
    on_record: &mut impl FnMut(ScannedRecord<'_>),
) -> Result<SegmentEnd, RecoveryError> {
    let segment_size = log.borrow().options.segment_size_bytes;
    let file = super::flush::open_segment(log, segment_start)
        .await
        .map_err(|error| RecoveryError::Io { segment: segment_name(segment_start), reason: error.to_string() })?;
    let io_error =
        |error: std::io::Error| RecoveryError::Io { segment: segment_name(segment_start), reason: error.to_string() };
    let mut chunk_start = from - segment_start; // offset in segment of chunk[0]
    let mut chunk = file.read_at(chunk_start, SCAN_CHUNK_BYTES).await.map_err(io_error)?;
    let mut at = 0usize; // offset in chunk
    loop {
        let offset = chunk_start + at as u64;
        let position = segment_start + offset;
        let remaining = segment_size - offset;
        if remaining < 8 {
            return Ok(SegmentEnd::End(position));
        }
        if chunk.len() - at < 8 || needs_more(&chunk[at..], remaining) {
            chunk_start = offset;
            let want = SCAN_CHUNK_BYTES.max(peek_size(&chunk[at..]).unwrap_or(0));
            chunk = file.read_at(chunk_start, want.min(remaining as usize)).await.map_err(io_error)?;
            at = 0;
            if chunk.len() < 8 {
                return Ok(SegmentEnd::End(position));
            }
        }
        let (size, magic) = record::peek_size_and_magic(&chunk[at..]).expect("8 bytes are there");
        match magic {
            MAGIC_BLANK if size as u64 == remaining => return Ok(SegmentEnd::Blank(segment_start + segment_size)),
            MAGIC_MESSAGE => {}
            0 if size == 0 => return Ok(SegmentEnd::End(position)),
            _ => return Ok(SegmentEnd::Invalid { at: position, reason: format!("size {size}, magic {magic:#x}") }),
        }
        if size < 8 || size as u64 > remaining || size as usize > chunk.len() - at {
            return Ok(SegmentEnd::Invalid { at: position, reason: format!("record size {size} out of range") });
        }
        let bytes = &chunk[at..at + size as usize];
        if let Err(error) = record::decode(bytes).and_then(|decoded| record::verify_crc(&decoded)) {
            return Ok(SegmentEnd::Invalid { at: position, reason: error.to_string() });
        }
        on_record(ScannedRecord { position, bytes });
        at += size as usize;
    }
}

fn peek_size(bytes: &[u8]) -> Option<usize> {
    record::peek_size_and_magic(bytes).map(|(size, _)| size.max(0) as usize)
}

/// Whether the record starting at `bytes` continues past the chunk (and could fit in the
/// segment), so more must be read before judging it.
fn needs_more(bytes: &[u8], remaining_in_segment: u64) -> bool {
    match record::peek_size_and_magic(bytes) {
        Some((size, MAGIC_MESSAGE)) => size > 0 && (size as u64) <= remaining_in_segment && size as usize > bytes.len(),
        _ => false,
    }
}

/// Positions the log at `end`: loads the partial block, frees everything after `end` in its
/// segment and removes later segments (they can only hold unsynced remains).
async fn cut_at<S: Storage>(log: &mut CommitLog<S>, end: Position) -> Result<(), RecoveryError> {
    let segment_size = log.options.segment_size_bytes;
    let segment_start = end - end % segment_size;
    // Later segments can only hold remains that were never synced (syncs go in order).
    let later: Vec<Position> = log.segment_starts.range(segment_start + 1..).copied().collect();
    for start in later {
        let path = log.segment_path(start);
        log.files.remove(&start);
        log.segment_starts.remove(&start);
        log.storage
            .remove(&path)
            .await
            .map_err(|error| RecoveryError::Io { segment: segment_name(start), reason: error.to_string() })?;
        tracing::warn!("removed commit log segment {} past the end of the log", path.display());
    }
    let block_start = end - end % 4096;
    let mut tail_block = Vec::new();
    if let Some(start) = log.segment_starts.get(&segment_start).copied() {
        let path = log.segment_path(start);
        let io_error =
            |error: std::io::Error| RecoveryError::Io { segment: segment_name(start), reason: error.to_string() };
        let file = log.storage.open(&path, false, log.options.flush_mode.durability()).await.map_err(io_error)?;
        tail_block = file.read_at(block_start - start, (end - block_start) as usize).await.map_err(io_error)?;
        tail_block.resize((end - block_start) as usize, 0);
        let free_from = end.div_ceil(4096) * 4096 - start;
        if free_from < segment_size {
            // The punched range reads as zeros and keeps the file's size (sparse, as new ones).
            file.deallocate(free_from, segment_size - free_from).await.map_err(io_error)?;
        }
    }
    log.appended = end;
    log.written = end;
    log.synced = end;
    log.tail_block = tail_block;
    log.assert_invariants();
    Ok(())
}
