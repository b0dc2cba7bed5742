//! Memory for the hot window's records: large chunks, each faulted in once and reused, instead
//! of one allocation per record.
//!
//! Measured (4 senders × 32 in flight, 1 KiB): with one allocation per record, ~15% of a
//! shard's CPU went to page faults zeroing fresh memory and another ~10% to malloc/free, because
//! the hot window keeps hundreds of MiB of records alive and the allocator keeps asking the
//! kernel for more. A record here is a `Bytes` slice of its chunk; a chunk is reused once every
//! slice of it is gone (evicted from the window and no longer held by a reply in flight).
//!
//! The window's chunks are also faulted in when the arena is made, on the shard's own thread:
//! until the window had filled once, every new chunk cost page faults that zero fresh memory
//! (in a VM, twice: the guest's and the host's). Measured at 4 senders × 32 in flight on a
//! fresh broker, `clear_page_erms` under `record::encode` was 17.7% of the broker's CPU for the
//! first seconds (256 MiB per shard fill in ~5 s at 100 MB/s). Mapping the window up front, in
//! huge pages where the kernel allows, costs boot time instead (see `runtime::populate`).
//! Redpanda (Seastar) reserves its memory at start for the same reason.
//!
//! Chunks are never given back while the arena holds fewer than the most that can be pinned at
//! once (the window plus the records not yet on disk): a chunk made while all were pinned is
//! reused later, so steady state allocates nothing.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

pub(crate) struct RecordArena {
    chunk_bytes: usize,
    /// The chunk records are written into; its remaining capacity is free space.
    current: BytesMut,
    /// Faulted-in chunks no record was written into yet.
    fresh: Vec<BytesMut>,
    /// Chunks records were written into, oldest first. A chunk is reused once no slice of it is
    /// alive; past `retained_chunk_count_max` the oldest are let go (their memory is freed when
    /// their last slice is).
    retired: VecDeque<BytesMut>,
    retained_chunk_count_max: usize,
    /// Chunks allocated so far (reuse keeps this near the window's chunk count).
    allocated_chunk_count: u64,
}

impl RecordArena {
    /// An arena for a window of about `window_bytes` of records, with the window's chunks
    /// faulted in, that keeps up to `pinned_bytes_max` of chunks for reuse: what the window,
    /// the records not yet written (they stay past the window until the disk has them) and
    /// replies in flight can pin at once.
    pub(crate) fn new(chunk_bytes: usize, window_bytes: usize, pinned_bytes_max: usize) -> Self {
        assert!(chunk_bytes >= 64 * 1024);
        assert!(pinned_bytes_max >= window_bytes);
        // A full window's records straddle one more chunk than they fill, and the chunk being
        // written is not part of the window yet.
        let window_chunk_count = window_bytes.div_ceil(chunk_bytes) + 2;
        let fresh = (0..window_chunk_count).map(|_| faulted_in(chunk_bytes)).collect();
        Self {
            chunk_bytes,
            current: BytesMut::new(),
            fresh,
            retired: VecDeque::new(),
            retained_chunk_count_max: pinned_bytes_max.div_ceil(chunk_bytes) + 2,
            allocated_chunk_count: window_chunk_count as u64,
        }
    }

    /// The bytes of one record: `encode` appends exactly `size_bytes` to the buffer it is given.
    pub(crate) fn record(&mut self, size_bytes: usize, encode: impl FnOnce(&mut BytesMut)) -> Bytes {
        if size_bytes > self.chunk_bytes / 4 {
            // Large records get their own allocation rather than wasting most of a chunk.
            let mut bytes = BytesMut::with_capacity(size_bytes);
            encode(&mut bytes);
            assert_eq!(bytes.len(), size_bytes, "encode wrote a record of another size");
            return bytes.freeze();
        }
        if self.current.capacity() < size_bytes {
            self.next_chunk();
        }
        debug_assert!(self.current.is_empty());
        let capacity_before = self.current.capacity();
        encode(&mut self.current);
        assert_eq!(self.current.len(), size_bytes, "encode wrote a record of another size");
        // Writing within capacity never reallocates: the record stays in the chunk.
        debug_assert_eq!(self.current.capacity(), capacity_before);
        self.current.split_to(size_bytes).freeze()
    }

    fn next_chunk(&mut self) {
        let full = std::mem::take(&mut self.current);
        if full.capacity() > 0 || !full.is_empty() {
            self.retired.push_back(full);
        }
        if let Some(chunk) = self.fresh.pop() {
            self.current = chunk;
            return;
        }
        // Oldest first: it is the likeliest to have no live slices. A chunk pinned by a slow
        // reader does not hold back the ones behind it. Runs once per chunk, not per record.
        let chunk_bytes = self.chunk_bytes;
        if let Some(index) = self.retired.iter_mut().position(|chunk| chunk.try_reclaim(chunk_bytes)) {
            self.current = self.retired.remove(index).expect("found above");
            return;
        }
        // Every chunk is pinned (the disk fell behind, or readers hold old records): a new one,
        // kept for reuse afterwards. Letting chunks go here and allocating again later made
        // the shard fault in fresh memory in steady state, a huge page at a time, each a stall
        // of tens of ms on a VM (see the issue-6 notes).
        if self.retired.len() + 1 >= self.retained_chunk_count_max {
            self.retired.pop_front();
        }
        self.current = BytesMut::with_capacity(self.chunk_bytes);
        self.allocated_chunk_count += 1;
    }

    /// Chunks allocated so far, the faulted-in ones included.
    #[cfg(test)]
    pub(crate) fn allocated_chunk_count(&self) -> u64 {
        self.allocated_chunk_count
    }
}

/// An empty chunk of `chunk_bytes` capacity whose pages are already mapped.
fn faulted_in(chunk_bytes: usize) -> BytesMut {
    let mut chunk = BytesMut::with_capacity(chunk_bytes);
    crate::runtime::populate(chunk.spare_capacity_mut());
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(arena: &mut RecordArena, size_bytes: usize, byte: u8) -> Bytes {
        arena.record(size_bytes, |buffer| buffer.extend_from_slice(&vec![byte; size_bytes]))
    }

    #[test]
    fn records_are_slices_that_keep_their_bytes_while_chunks_are_reused() {
        let chunk = 64 * 1024;
        let mut arena = RecordArena::new(chunk, 4 * chunk, 8 * chunk);
        let kept = fill(&mut arena, 1000, 7);
        let mut window = VecDeque::new();
        for round in 0..1000u32 {
            window.push_back(fill(&mut arena, 1000, round as u8));
            if window.len() > 100 {
                window.pop_front();
            }
        }
        // ~1000 KiB went through 64 KiB chunks while ~100 KiB stayed live (plus the one pinned
        // record): the faulted-in chunks were reused rather than new ones allocated.
        assert!(arena.allocated_chunk_count() <= 6, "{} chunks allocated", arena.allocated_chunk_count());
        assert!(kept.iter().all(|byte| *byte == 7), "a pinned record was overwritten");
        for (index, record) in window.iter().enumerate() {
            let round = (1000 - window.len() + index) as u8;
            assert!(record.iter().all(|byte| *byte == round));
        }
    }

    #[test]
    fn large_records_get_their_own_memory() {
        let mut arena = RecordArena::new(64 * 1024, 1 << 20, 2 << 20);
        let big = fill(&mut arena, 40 * 1024, 3);
        assert_eq!(big.len(), 40 * 1024);
        assert_eq!(arena.allocated_chunk_count(), 18, "only the window's faulted-in chunks");
        assert_eq!(arena.fresh.len(), 18, "none of them was taken");
    }

    #[test]
    fn the_window_fills_its_faulted_in_chunks_before_allocating() {
        let chunk = 64 * 1024;
        let mut arena = RecordArena::new(chunk, 4 * chunk, 8 * chunk);
        assert_eq!(arena.fresh.len(), 6, "the window's four chunks and two for its ends");
        // Six chunks of 65 records, all kept alive (the disk behind, nothing evicted yet).
        let window: Vec<Bytes> = (0..6 * 65).map(|round| fill(&mut arena, 1000, round as u8)).collect();
        assert_eq!(arena.allocated_chunk_count(), 6, "no chunk beyond the faulted-in ones");
        assert!(arena.fresh.is_empty());
        let more = fill(&mut arena, 1000, 9);
        assert_eq!(arena.allocated_chunk_count(), 7, "a seventh chunk once they are all pinned");
        assert!(window.iter().enumerate().all(|(round, record)| record.iter().all(|byte| *byte == round as u8)));
        assert!(more.iter().all(|byte| *byte == 9));
    }

    #[test]
    fn chunks_made_while_more_than_the_window_was_pinned_are_reused_afterwards() {
        let chunk = 64 * 1024;
        let mut arena = RecordArena::new(chunk, 4 * chunk, 16 * chunk);
        // Twelve chunks' worth of records stay live (a window of four plus the disk's lag),
        // while ~300 chunks' worth go through.
        let mut live = VecDeque::new();
        for round in 0..20_000u32 {
            live.push_back(fill(&mut arena, 1000, round as u8));
            if live.len() > 12 * 65 {
                live.pop_front();
            }
        }
        // Letting the extra chunks go once pinned and allocating anew made this ~290.
        assert!(arena.allocated_chunk_count() <= 14, "{} chunks allocated", arena.allocated_chunk_count());
        let first = 20_000 - live.len() as u32;
        assert!(live.iter().zip(first..).all(|(record, round)| record.iter().all(|byte| *byte == round as u8)));
    }

    #[test]
    fn pinned_chunks_past_the_bound_are_let_go() {
        let chunk = 64 * 1024;
        let mut arena = RecordArena::new(chunk, 4 * chunk, 8 * chunk);
        let pinned: Vec<Bytes> = (0..20 * 65).map(|round| fill(&mut arena, 1000, round as u8)).collect();
        assert!(arena.retired.len() < arena.retained_chunk_count_max, "{} retained", arena.retired.len());
        assert!(pinned.iter().enumerate().all(|(round, record)| record.iter().all(|byte| *byte == round as u8)));
    }

    #[test]
    #[should_panic(expected = "another size")]
    fn a_wrong_size_is_caught() {
        let mut arena = RecordArena::new(64 * 1024, 1 << 20, 2 << 20);
        arena.record(100, |buffer| buffer.extend_from_slice(&[0; 99]));
    }
}
