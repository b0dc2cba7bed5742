//! The runtime seam: executors pinned to CPUs, tasks, timers, TCP, bounded local channels and
//! semaphores, DMA files. Everything else in ringmq uses these names; only
//! `src/runtime/glommio.rs` names glommio, so the runtime can be replaced (or simulated) without
//! touching the broker.

mod glommio;

pub use self::glommio::{
    adopt_listener, adopt_stream, assert_off_run_loop, bind_shard_listeners, channel_bounded, cpu_count, detach_stream,
    ensure_port_free, probing_the_poll_ring, sleep, spawn, spawn_background, spawn_blocking, spawn_executor,
    spawn_executor_spinning, spawn_shard_executor, split_stream, tcp_connect, tcp_listen, watch_stalls,
    BackgroundQueue, ChannelReceiver, ChannelSender, ExecutorHandle, Mesh, MeshEnd, MeshSendError, Semaphore,
    StaticPermit, StreamReader, StreamWriter, Task, TcpListener, TcpStream, SHARD_IO_MEMORY_BYTES,
};

/// Maps every page of `region` now, backed by transparent huge pages where the kernel allows
/// (`madvise` mode), so that first writes into it do not fault page by page. One
/// `MADV_POPULATE_WRITE` (Linux 5.14) instead of a fault per 4 KiB page; on an older kernel
/// the pages are touched one by one.
pub fn populate(region: &mut [std::mem::MaybeUninit<u8>]) {
    const PAGE_BYTES: usize = 4096;
    const HUGE_PAGE_BYTES: usize = 2 << 20;
    let start = region.as_mut_ptr() as usize;
    let end = start + region.len();
    let huge_start = start.next_multiple_of(HUGE_PAGE_BYTES);
    let huge_end = end - end % HUGE_PAGE_BYTES;
    if huge_end > huge_start {
        // SAFETY: the range lies inside memory we own; MADV_HUGEPAGE only changes how it is
        // backed, never its contents. Failure (THP disabled) leaves 4 KiB pages.
        unsafe { libc::madvise(huge_start as *mut libc::c_void, huge_end - huge_start, libc::MADV_HUGEPAGE) };
    }
    let page_start = start.next_multiple_of(PAGE_BYTES);
    let page_end = end - end % PAGE_BYTES;
    // SAFETY: as above; MADV_POPULATE_WRITE maps the pages as a write would, without writing.
    let populated = page_end > page_start
        && unsafe { libc::madvise(page_start as *mut libc::c_void, page_end - page_start, libc::MADV_POPULATE_WRITE) }
            == 0;
    if !populated {
        for page in region.chunks_mut(PAGE_BYTES) {
            page[0].write(0);
        }
        std::hint::black_box(region);
    }
}

/// `populate` for the room a vector has beyond its elements.
pub fn populate_spare_capacity<T>(vector: &mut Vec<T>) {
    let spare = vector.spare_capacity_mut();
    let bytes = std::mem::size_of_val(spare);
    // SAFETY: the same memory viewed as bytes; both views are of uninitialized memory, and
    // `populate` writes nothing the vector would read as an element.
    let region = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast(), bytes) };
    populate(region);
}

/// Raises RLIMIT_MEMLOCK to what glommio needs: each executor registers its I/O buffers with
/// io_uring (`SHARD_IO_MEMORY_BYTES` per shard, 10 MiB per other executor), and that memory is
/// locked. Returns a message that says how to fix it when the limit cannot be raised (not root,
/// or a hard limit below the need).
pub fn raise_memlock_limit(bytes_needed: u64) -> Result<u64, String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own; the resource constant is valid.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Err(format!("getrlimit(RLIMIT_MEMLOCK) failed: {}", std::io::Error::last_os_error()));
    }
    if limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= bytes_needed {
        return Ok(limit.rlim_cur);
    }
    let wanted = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &wanted) } == 0 {
        return Ok(libc::RLIM_INFINITY);
    }
    let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
    // SAFETY: as above.
    if limit.rlim_max >= bytes_needed && unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) } == 0 {
        return Ok(limit.rlim_max);
    }
    Err(format!(
        "locked-memory limit (RLIMIT_MEMLOCK) is {} KiB and cannot be raised to the {} KiB that \
         io_uring buffers may need; if executors fail to start, run `ulimit -l unlimited` (or set \
         LimitMEMLOCK=infinity in the systemd unit, or `* - memlock unlimited` in \
         /etc/security/limits.conf) and start again",
        limit.rlim_cur / 1024,
        bytes_needed / 1024
    ))
}

mod memory;
mod storage;

pub use self::glommio::DmaStorage;
pub use memory::{MemoryFile, MemoryStorage};
pub use storage::{Durability, SegmentFile, Storage};
