//! Reads of records that left the hot window, through a small cache of log blocks.
//!
//! A consumer catching up reads the log in order, and since the queues of a shard interleave
//! in its log, the records of one pull lie among those that the next pulls (of this queue and
//! of the others) want. Read one by one, each record cost an O_DIRECT device round trip, one
//! after another: a pull of 8 cold records waited for 8, and a backlog of 1M preloaded
//! messages drained at 80k msg/s (issue 6 notes). Here a record is served from a block of
//! `STORE_COLD_READ_BLOCK_BYTES` of the log, read once and kept while it is among the
//! `STORE_COLD_READ_BLOCKS_MAX` most recently used, and a miss reads the next block beside it
//! (one block ahead, as Redpanda's readers do), so that a reader going on finds it cached.
//!
//! Only written bytes are cached (`[.., written)` at the time of the read): they never change,
//! and positions are never reused, so a block stays valid for the life of the process. Records
//! of deleted segments are refused before the cache is asked (`commit_log::read`). The hot
//! window is not touched: cold readers cannot evict what producers and tailing consumers need.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::commit_log::{CommitLog, Position};
use crate::limits::{STORE_COLD_READ_BLOCKS_MAX, STORE_COLD_READ_BLOCK_BYTES};
use crate::runtime::{SegmentFile, Storage};

/// The cached blocks of one shard's log, least recently used first.
#[derive(Default)]
pub(crate) struct ColdBlocks {
    blocks: VecDeque<Block>,
    /// Blocks being read, with the readers waiting for them.
    reading: HashMap<Position, Vec<Waker>>,
    /// Block reads issued so far.
    pub(crate) block_reads_count: u64,
}

struct Block {
    start: Position,
    bytes: Bytes,
}

impl ColdBlocks {
    /// `[position, position + size_bytes)` from a cached block that holds all of it.
    fn get(&mut self, position: Position, size_bytes: usize) -> Option<Bytes> {
        let end = position + size_bytes as u64;
        let index = self
            .blocks
            .iter()
            .rposition(|block| block.start <= position && end <= block.start + block.bytes.len() as u64)?;
        let block = self.blocks.remove(index).expect("found above");
        let offset = (position - block.start) as usize;
        let record = block.bytes.slice(offset..offset + size_bytes);
        self.blocks.push_back(block);
        Some(record)
    }

    /// Whether `span` is cached whole or being read.
    fn has(&self, span: &Span) -> bool {
        self.reading.contains_key(&span.start)
            || self
                .blocks
                .iter()
                .any(|block| block.start == span.start && block.bytes.len() as u64 >= span.end - span.start)
    }

    fn insert(&mut self, start: Position, bytes: Bytes) {
        self.blocks.retain(|block| block.start != start);
        if self.blocks.len() == STORE_COLD_READ_BLOCKS_MAX {
            self.blocks.pop_front();
        }
        self.blocks.push_back(Block { start, bytes });
        assert!(self.blocks.len() <= STORE_COLD_READ_BLOCKS_MAX);
    }
}

/// A block of one segment: `[start, end)`, never past the segment or what is written.
#[derive(Clone, Copy)]
struct Span {
    segment_start: Position,
    start: Position,
    end: Position,
}

fn span_of<S: Storage>(log: &CommitLog<S>, position: Position) -> Span {
    let segment_start = log.segment_start_of(position);
    let start = segment_start + (position - segment_start) / STORE_COLD_READ_BLOCK_BYTES * STORE_COLD_READ_BLOCK_BYTES;
    let segment_end = segment_start + log.options.segment_size_bytes;
    Span { segment_start, start, end: (start + STORE_COLD_READ_BLOCK_BYTES).min(segment_end).min(log.written) }
}

/// The written record `[position, position + size_bytes)` of the segment `file`.
pub(crate) async fn read<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    file: Rc<S::File>,
    position: Position,
    size_bytes: usize,
) -> io::Result<Bytes> {
    let (span, ahead) = {
        let log = log.borrow();
        let span = span_of(&log, position);
        // The next block, when this one is whole and the next is still older than the hot
        // window (newer records are served from memory).
        let next_start = span.start + STORE_COLD_READ_BLOCK_BYTES;
        let ahead = (span.end == next_start && next_start < log.hot_start().min(log.written))
            .then(|| span_of(&log, next_start))
            .filter(|ahead| ahead.segment_start == span.segment_start);
        (span, ahead)
    };
    if position + size_bytes as u64 > span.end {
        // The record spans two blocks (one in a few hundred): read it alone.
        return read_direct(&*file, span.segment_start, position, size_bytes).await;
    }
    loop {
        if let Some(record) = log.borrow_mut().cold.get(position, size_bytes) {
            return Ok(record);
        }
        if log.borrow().cold.reading.contains_key(&span.start) {
            ReadDone { log, start: span.start }.await;
            continue; // cached now, or the read failed and this reader tries itself
        }
        let ahead = ahead.filter(|ahead| !log.borrow().cold.has(ahead));
        let read_ahead = async {
            if let Some(ahead) = ahead {
                // Its failure is the next reader's to see.
                let _ = fill(log, &*file, ahead).await;
            }
        };
        let (block, ()) = futures_lite::future::zip(fill(log, &*file, span), read_ahead).await;
        let block = block?;
        let offset = (position - span.start) as usize;
        return Ok(block.slice(offset..offset + size_bytes));
    }
}

/// Reads `span` into the cache, marked as being read meanwhile.
async fn fill<S: Storage>(log: &RefCell<CommitLog<S>>, file: &S::File, span: Span) -> io::Result<Bytes> {
    let _reading = Reading::start(log, span.start);
    let size_bytes = (span.end - span.start) as usize;
    let bytes = Bytes::from(file.read_at(span.start - span.segment_start, size_bytes).await?);
    if bytes.len() != size_bytes {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read of a log block"));
    }
    log.borrow_mut().cold.insert(span.start, bytes.clone());
    Ok(bytes)
}

async fn read_direct<F: SegmentFile>(
    file: &F,
    segment_start: Position,
    position: Position,
    size_bytes: usize,
) -> io::Result<Bytes> {
    let bytes = file.read_at(position - segment_start, size_bytes).await?;
    if bytes.len() != size_bytes {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read of a record"));
    }
    Ok(Bytes::from(bytes))
}

/// Marks a block as being read; when the read ends (done, failed or abandoned with its pull)
/// the mark goes and the readers waiting for it are woken.
struct Reading<'a, S: Storage> {
    log: &'a RefCell<CommitLog<S>>,
    start: Position,
}

impl<'a, S: Storage> Reading<'a, S> {
    fn start(log: &'a RefCell<CommitLog<S>>, start: Position) -> Self {
        let mut borrowed = log.borrow_mut();
        let previous = borrowed.cold.reading.insert(start, Vec::new());
        assert!(previous.is_none(), "one read per block at a time");
        borrowed.cold.block_reads_count += 1;
        Self { log, start }
    }
}

impl<S: Storage> Drop for Reading<'_, S> {
    fn drop(&mut self) {
        let waiting = self.log.borrow_mut().cold.reading.remove(&self.start).unwrap_or_default();
        waiting.into_iter().for_each(Waker::wake);
    }
}

/// Resolves when the read of the block at `start` has ended.
struct ReadDone<'a, S: Storage> {
    log: &'a RefCell<CommitLog<S>>,
    start: Position,
}

impl<S: Storage> Future for ReadDone<'_, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut log = self.log.borrow_mut();
        match log.cold.reading.get_mut(&self.start) {
            Some(waiting) => {
                if !waiting.iter().any(|waker| waker.will_wake(context.waker())) {
                    waiting.push(context.waker().clone());
                }
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}
