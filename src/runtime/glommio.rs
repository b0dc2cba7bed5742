//! The one module that names glommio. glommio 0.9 is pinned exactly (Cargo.toml): its
//! maintenance is slow, so everything it provides reaches the rest of ringmq through these
//! names, and nothing else may import it (`tests/tidy.rs` checks this).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::glommio::{
    channels::local_channel, executor, net, timer, LocalExecutorBuilder, Placement, Shares, TaskQueueHandle,
};

pub use ::glommio::sync::{Semaphore, StaticPermit};
pub use ::glommio::Task;

pub type TcpListener = net::TcpListener;
pub type TcpStream = net::TcpStream;
pub type ChannelSender<T> = local_channel::LocalSender<T>;
pub type ChannelReceiver<T> = local_channel::LocalReceiver<T>;

/// I/O memory registered per executor. glommio locks it; `raise_memlock_limit` must cover it.
const EXECUTOR_IO_MEMORY_BYTES: usize = 10 << 20;

/// I/O memory registered per shard executor. DMA buffers (record writes, the flusher's zeros)
/// come from it while it lasts and from the heap after: with 10 MiB the heap's fresh pages
/// were faulted in at the data rate, and zeroing fresh huge pages stalled shards. Same
/// sitting, fresh broker, 4 × 32 sends for 10 s, 3 pairs: page faults per run 3.6k/15.5k/4.3k
/// → 2.0k/3.0k/2.5k, run-loop stalls 1/4/2 (worst 40/39/514 ms) → 1/1/0 (worst 34/29 ms),
/// msg/s 117/92/85k → 120/107/115k.
pub const SHARD_IO_MEMORY_BYTES: usize = 64 << 20;

/// A running executor thread.
pub struct ExecutorHandle<T: Send + 'static> {
    inner: ::glommio::ExecutorJoinHandle<T>,
}

impl<T: Send + 'static> ExecutorHandle<T> {
    /// Waits for the executor's main future to finish.
    pub fn join(self) -> io::Result<T> {
        self.inner.join().map_err(|error| io::Error::other(error.to_string()))
    }
}

/// Starts an executor on its own thread, pinned to `cpu` when given, running `main`.
pub fn spawn_executor<G, F, T>(name: &str, cpu: Option<usize>, main: G) -> io::Result<ExecutorHandle<T>>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    build_executor(name, cpu, Duration::ZERO, EXECUTOR_IO_MEMORY_BYTES, main)
}

/// As [`spawn_executor`], polling for `spin_before_park` before the executor sleeps when idle:
/// on a VM each sleep/wake pair costs tens of µs of request latency.
pub fn spawn_executor_spinning<G, F, T>(
    name: &str,
    cpu: Option<usize>,
    spin_before_park: Duration,
    main: G,
) -> io::Result<ExecutorHandle<T>>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    build_executor(name, cpu, spin_before_park, EXECUTOR_IO_MEMORY_BYTES, main)
}

fn build_executor<G, F, T>(
    name: &str,
    cpu: Option<usize>,
    spin_before_park: Duration,
    io_memory_bytes: usize,
    main: G,
) -> io::Result<ExecutorHandle<T>>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let placement = match cpu {
        Some(cpu) => Placement::Fixed(cpu),
        None => Placement::Unbound,
    };
    let inner = LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(io_memory_bytes)
        .spin_before_park(spin_before_park)
        .spawn(move || {
            ON_RUN_LOOP.set(true);
            main()
        })
        .map_err(|error| io::Error::other(error.to_string()))?;
    Ok(ExecutorHandle { inner })
}

thread_local! {
    /// Set on every executor's thread (not on its blocking-work thread).
    static ON_RUN_LOOP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics on an executor's thread. For blocking calls whose duration the disk decides
/// (fdatasync): on a run loop they stall every send and pull of the shard for that long, so
/// they belong in [`spawn_blocking`].
pub fn assert_off_run_loop(what: &str) {
    assert!(!ON_RUN_LOOP.get(), "{what} would block an executor's run loop: run it through spawn_blocking");
}

/// How long glommio itself polls before it parks an executor whose spinner is running: long
/// enough that the spinner's 1 µs timer fires inside glommio's polling loop (which processes
/// timers) rather than through a park, which costs an `io_uring_enter` and a process-wide
/// `membarrier` each time.
const SPINNER_POLL_BEFORE_PARK: Duration = Duration::from_micros(20);

/// How long the spinner sleeps between two turns: glommio polls its rings meanwhile.
const SPINNER_TURN: Duration = Duration::from_micros(1);

/// As [`spawn_executor`], for a shard: after any network read or message from another shard
/// the executor keeps polling its rings for `spin_window` before it sleeps, but hands its CPU to
/// any other runnable thread on it at every turn (`sched_yield`).
///
/// glommio's own spin (`spin_before_park`) never yields: on cores shared with clients (or a
/// slave) an idle shard held the CPU they needed for up to the whole spin. Measured against
/// it (tuning.md): ASYNC_FLUSH 1 × 1 p99 672–689 → 184–210 µs, pulls 0.79–0.80M → 0.89–1.00M
/// msg/s. `spin_window` zero: no spinner, the executor sleeps at once.
pub fn spawn_shard_executor<G, F, T>(
    name: &str,
    cpu: Option<usize>,
    spin_window: Duration,
    main: G,
) -> io::Result<ExecutorHandle<T>>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    if spin_window.is_zero() {
        return build_executor(name, cpu, Duration::ZERO, SHARD_IO_MEMORY_BYTES, main);
    }
    build_executor(name, cpu, SPINNER_POLL_BEFORE_PARK, SHARD_IO_MEMORY_BYTES, move || async move {
        spinner::start(spin_window);
        main().await
    })
}

/// The yielding spin of [`spawn_shard_executor`]: one task per executor that, while the
/// executor was busy within the window, gives up the CPU (`sched_yield` returns at once when
/// nothing else wants it, so a shard with a core of its own keeps polling) and sleeps one
/// turn on glommio's timer, during which glommio polls the rings. Past the window it waits
/// for the next activity, and the executor parks.
mod spinner {
    use std::cell::{Cell, RefCell};
    use std::task::{Poll, Waker};
    use std::time::{Duration, Instant};

    use super::{timer, SPINNER_TURN};

    /// This thread's spinner state. Threads without a spinner (the bench client, the
    /// nameserver) only ever set `active`, which nobody reads there.
    struct State {
        /// Set by every network read and shard message since the spinner's last turn.
        active: Cell<bool>,
        /// The spinner, while it waits for activity.
        dormant: RefCell<Option<Waker>>,
    }

    thread_local! {
        static STATE: State = const { State { active: Cell::new(false), dormant: RefCell::new(None) } };
    }

    pub(super) fn start(window: Duration) {
        // Timer sleeps of a few µs would otherwise be stretched by the default 50 µs slack.
        // SAFETY: PR_SET_TIMERSLACK takes a value and changes only this thread's slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        super::spawn(spin(window)).detach();
    }

    /// The executor has work: its spinner spins for the window from now.
    pub(super) fn note_activity() {
        STATE.with(|state| {
            state.active.set(true);
            if let Some(waker) = state.dormant.take() {
                waker.wake();
            }
        });
    }

    async fn spin(window: Duration) {
        let mut idle_since = Instant::now();
        loop {
            if STATE.with(|state| state.active.replace(false)) {
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= window {
                std::future::poll_fn(|context| {
                    STATE.with(|state| {
                        if state.active.get() {
                            return Poll::Ready(());
                        }
                        state.dormant.replace(Some(context.waker().clone()));
                        Poll::Pending
                    })
                })
                .await;
                idle_since = Instant::now();
                continue;
            }
            // SAFETY: no arguments; it only gives up the rest of this thread's time slice.
            unsafe { libc::sched_yield() };
            timer::sleep(SPINNER_TURN).await;
        }
    }
}

/// Watches the current executor's run loop for stalls (see `limits::SHARD_STALL_REPORT_AFTER`)
/// and logs them, at most once per `SHARD_STALL_LOG_INTERVAL`, as Seastar's reactor-stall
/// reports. A stall delays every request of the shard and every message other shards send it.
/// Returns the count of stalls seen so far.
pub fn watch_stalls(name: String) -> Rc<std::cell::Cell<u64>> {
    use crate::limits::{SHARD_STALL_LOG_INTERVAL, SHARD_STALL_REPORT_AFTER, SHARD_STALL_TICK};
    let total = Rc::new(std::cell::Cell::new(0u64));
    let counted = total.clone();
    spawn(async move {
        let (mut logged_total, mut worst, mut logged_at) = (0u64, Duration::ZERO, Instant::now());
        loop {
            let tick_started = Instant::now();
            sleep(SHARD_STALL_TICK).await;
            let late = tick_started.elapsed().saturating_sub(SHARD_STALL_TICK);
            if late >= SHARD_STALL_REPORT_AFTER {
                worst = worst.max(late);
                counted.set(counted.get() + 1);
            }
            let stalls = counted.get() - logged_total;
            if stalls > 0 && logged_at.elapsed() >= SHARD_STALL_LOG_INTERVAL {
                tracing::warn!(
                    "{name}: run loop stalled {stalls} time(s) in the last {} s, worst {} ms (tasks ran that \
                     long without a break, or the thread got no CPU)",
                    logged_at.elapsed().as_secs(),
                    worst.as_millis()
                );
                (logged_total, worst, logged_at) = (counted.get(), Duration::ZERO, Instant::now());
            }
        }
    })
    .detach();
    total
}

/// Spawns a task on the current executor; the task runs until it ends even if the returned
/// handle is dropped only when `.detach()` is called on it.
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> Task<T> {
    ::glommio::spawn_local(future)
}

/// A low-share task queue for background work on the current executor (the embedded
/// nameserver, housekeeping): it yields to the latency-sensitive default queue.
#[derive(Clone, Copy)]
pub struct BackgroundQueue(TaskQueueHandle);

impl BackgroundQueue {
    /// Creates the queue with `shares` (the default queue has 1000).
    pub fn new(name: &str, shares: usize) -> Self {
        Self(executor().create_task_queue(Shares::Static(shares), ::glommio::Latency::NotImportant, name))
    }
}

/// Spawns a task into a background queue.
pub fn spawn_background<T: 'static>(queue: BackgroundQueue, future: impl Future<Output = T> + 'static) -> Task<T> {
    ::glommio::spawn_local_into(future, queue.0).expect("the queue was created on this executor")
}

/// Sleeps on the executor's timer wheel.
pub async fn sleep(duration: Duration) {
    timer::sleep(duration).await;
}

/// Binds a listener on every shard of the same port (SO_REUSEPORT). Because SO_REUSEPORT
/// would also let a *second process* share the port silently, `exclusive_check` first probes
/// the port with an ordinary bind, so a second broker on the same port fails with "Address
/// already in use" as a Java broker does.
pub fn tcp_listen(address: SocketAddr, exclusive_check: bool) -> io::Result<TcpListener> {
    if exclusive_check {
        ensure_port_free(address)?;
    }
    net::TcpListener::bind(address).map_err(|error| io::Error::other(error.to_string()))
}

/// Binds `shard_count` listeners of one SO_REUSEPORT port, in shard order, for the launcher
/// to hand to the shards (`adopt_listener`). With `steered` (shard i runs pinned on CPU i),
/// the port carries a program that hands each new connection to the listener of the CPU
/// processing its packets (the client's CPU on loopback; the receive queue's CPU from a NIC):
/// the kernel numbers a reuseport group in bind order, so listener i is shard i's. A request
/// then wakes a thread on its own CPU instead of sending an inter-processor interrupt, which a
/// VM pays dearly (cross-CPU loopback round trip 93 µs against 16 µs on one CPU, measured on
/// the 2-CPU test VM). Without it the kernel hashes the addresses.
pub fn bind_shard_listeners(
    address: SocketAddr,
    shard_count: usize,
    steered: bool,
) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    let listeners = (0..shard_count).map(|_| reuseport_listener(address)).collect::<io::Result<Vec<_>>>()?;
    if steered {
        attach_cpu_steering(listeners.last().expect("at least one shard"), shard_count)?;
    }
    Ok(listeners)
}

/// A listener bound by [`bind_shard_listeners`], on the calling shard's executor.
pub fn adopt_listener(listener: std::os::fd::OwnedFd) -> TcpListener {
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the descriptor is a bound, listening TCP socket that we own and hand over.
    unsafe { net::TcpListener::from_raw_fd(listener.into_raw_fd()) }
}

/// A listening socket with SO_REUSEPORT, as glommio's `TcpListener::bind` makes it.
fn reuseport_listener(address: SocketAddr) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let (storage, length) = socket_address(address);
    let domain = if address.is_ipv6() { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain socket calls on a descriptor this function owns from creation on.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, libc::IPPROTO_TCP);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = std::os::fd::OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let option = (&one as *const libc::c_int).cast();
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, option, size) != 0
            || libc::bind(socket.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), length) != 0
            || libc::listen(fd, 1024) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }
}

fn socket_address(address: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage; the casts below stay inside it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let length = match address {
        SocketAddr::V4(v4) => {
            let sin = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: v6.ip().octets() };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, length as libc::socklen_t)
}

/// Attaches to `listener`'s reuseport group the classic BPF program "socket number = CPU
/// processing the packet modulo `shard_count`".
fn attach_cpu_steering(listener: &std::os::fd::OwnedFd, shard_count: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    /// SO_ATTACH_REUSEPORT_CBPF (asm-generic/socket.h); not exported by libc for every target.
    const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;
    let instruction = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let mut program = [
        instruction(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32),
        instruction(libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K, shard_count as u32),
        instruction(libc::BPF_RET | libc::BPF_A, 0),
    ];
    let filter = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: the program outlives the call; the kernel copies it.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&filter as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Fails with "Address already in use" when something listens on `address`. A plain bind is
/// the test, but connections that a previous run accepted and closed linger in TIME_WAIT
/// without SO_REUSEADDR (glommio's listeners set only SO_REUSEPORT) and make that bind fail
/// too; a refused connection then shows the port is free after all.
pub fn ensure_port_free(address: SocketAddr) -> io::Result<()> {
    let Err(error) = std::net::TcpListener::bind(address) else {
        return Ok(());
    };
    let probe = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port());
    match std::net::TcpStream::connect_timeout(&probe, Duration::from_millis(500)) {
        Err(refused) if refused.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(other) => Err(io::Error::new(error.kind(), format!("{error}; probe: {other}"))),
        Ok(stream) => Err(io::Error::new(
            error.kind(),
            format!("{error}; something accepts connections there ({:?})", stream.local_addr()),
        )),
    }
}

/// Connects with a timeout.
pub async fn tcp_connect(address: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    net::TcpStream::connect_timeout(address, timeout).await.map_err(|error| io::Error::other(error.to_string()))
}

/// Detaches a connection from this executor so that another one can adopt it: returns a
/// duplicate of its socket; the original descriptor closes with `stream`. Nothing buffered is
/// lost: these streams do not read ahead.
pub fn detach_stream(stream: TcpStream) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: dup returns a new descriptor (or -1) that we own from here on.
    let fd = unsafe { libc::dup(stream.as_raw_fd()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(stream);
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Adopts a connection detached on another executor (`detach_stream`).
pub fn adopt_stream(fd: std::os::fd::OwnedFd) -> TcpStream {
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the descriptor is a connected TCP socket handed over whole.
    unsafe { net::TcpStream::from_raw_fd(fd.into_raw_fd()) }
}

/// Splits a connection into a read half and a write half for tasks of this executor that read
/// and write it at once. Unlike `futures_lite::io::split`, whose write half forwards only
/// single-buffer writes, the write half sends many buffers with one `sendmsg`: a replication
/// frame is a header plus the log's own record slices, and a send per slice cost a system call
/// and a loopback segment each (28 sends over ~1 ms for one 32 KiB frame, measured).
pub fn split_stream(stream: TcpStream) -> (StreamReader, StreamWriter) {
    let stream = Rc::new(RefCell::new(stream));
    (StreamReader(stream.clone()), StreamWriter(stream))
}

/// The read half of [`split_stream`].
pub struct StreamReader(Rc<RefCell<TcpStream>>);

/// The write half of [`split_stream`].
pub struct StreamWriter(Rc<RefCell<TcpStream>>);

impl futures_lite::AsyncRead for StreamReader {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut [u8]) -> Poll<io::Result<usize>> {
        let read = Pin::new(&mut *self.0.borrow_mut()).poll_read(context, buffer);
        if matches!(read, Poll::Ready(Ok(count)) if count > 0) {
            spinner::note_activity();
        }
        read
    }
}

impl futures_lite::AsyncWrite for StreamWriter {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_write(context, buffer)
    }

    /// One non-blocking `sendmsg` of all the buffers (at most `UIO_MAXIOV`); when the socket is
    /// full, the ordinary write of the first buffer waits for room (and may send it).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let mut stream = self.0.borrow_mut();
        // SAFETY: an all-zero msghdr is valid (no address, no control data).
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix; sendmsg only reads the buffers.
        message.msg_iov = buffers.as_ptr() as *mut libc::iovec;
        message.msg_iovlen = buffers.len().min(libc::UIO_MAXIOV as usize) as _;
        // SAFETY: the socket is ours, the iovecs point into `buffers`, alive for the call.
        let sent = unsafe { libc::sendmsg(stream.as_raw_fd(), &message, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Poll::Ready(Ok(sent as usize));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::WouldBlock {
            return Poll::Ready(Err(error));
        }
        let first = buffers.iter().find(|buffer| !buffer.is_empty()).map_or(&[][..], |buffer| &buffer[..]);
        Pin::new(&mut *stream).poll_write(context, first)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_flush(context)
    }

    fn poll_close(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_close(context)
    }
}

/// A bounded single-executor channel.
pub fn channel_bounded<T>(capacity: usize) -> (ChannelSender<T>, ChannelReceiver<T>) {
    local_channel::new_bounded(capacity)
}

/// CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

// ---------------------------------------------------------------------------------------------
// Storage: O_DIRECT files on io_uring.

use std::path::{Path, PathBuf};

use super::storage::{Durability, SegmentFile, Storage};

/// Production storage: glommio's `DmaFile` (O_DIRECT, io_uring). No page cache, no mmap.
#[derive(Clone, Copy, Default)]
pub struct DmaStorage;

/// An open O_DIRECT file.
pub struct DmaFile {
    file: ::glommio::io::DmaFile,
    /// A second handle without O_DSYNC, for `write_unsynced_at` on a `Durability::OnWrite` file.
    unsynced: Option<::glommio::io::DmaFile>,
}

/// DMA-aligned memory from the executor's registered pool.
pub struct DmaBuffer(::glommio::io::DmaBuffer);

impl AsMut<[u8]> for DmaBuffer {
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_bytes_mut()
    }
}

fn glommio_error(error: ::glommio::GlommioError<()>) -> io::Error {
    match error {
        ::glommio::GlommioError::IoError(error) => error,
        other => io::Error::other(other.to_string()),
    }
}

impl Storage for DmaStorage {
    type File = DmaFile;

    async fn open(&self, path: &Path, create: bool, durability: Durability) -> io::Result<DmaFile> {
        if let Some(directory) = path.parent() {
            keep_off_the_poll_ring(directory).await;
        }
        let mut options = ::glommio::io::OpenOptions::new();
        options.read(true).write(true).create(create);
        if durability == Durability::OnWrite {
            options.custom_flags(libc::O_DSYNC);
        }
        let file = options.dma_open(path).await.map_err(glommio_error)?;
        let unsynced = match durability {
            Durability::OnSync => None,
            Durability::OnWrite => Some(
                ::glommio::io::OpenOptions::new().read(true).write(true).dma_open(path).await.map_err(glommio_error)?,
            ),
        };
        Ok(DmaFile { file, unsynced })
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn list(&self, directory: &Path) -> io::Result<Vec<PathBuf>> {
        match std::fs::read_dir(directory) {
            Ok(entries) => entries.map(|entry| entry.map(|entry| PathBuf::from(entry.file_name()))).collect(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    fn create_directory(&self, directory: &Path) -> io::Result<()> {
        std::fs::create_dir_all(directory)
    }

    fn modified_ms(&self, path: &Path) -> io::Result<i64> {
        let modified = std::fs::metadata(path)?.modified()?;
        Ok(modified.duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0))
    }

    fn used_ratio(&self, path: &Path) -> io::Result<f64> {
        use std::os::unix::ffi::OsStrExt;
        let text = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(text.as_ptr(), &mut stats) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let total = stats.f_blocks as f64;
        if total == 0.0 {
            return Ok(0.0);
        }
        Ok((stats.f_blocks - stats.f_bfree) as f64 / total)
    }
}

thread_local! {
    /// Devices (`st_dev`) whose poll-ring decision this executor thread has already made.
    static DEVICES_PROBED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// Set while [`keep_off_the_poll_ring`] opens its probe file on this thread.
    static PROBING_THE_POLL_RING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keeps this executor's O_DIRECT I/O on `directory`'s device off glommio's poll ring when the
/// device does not poll.
///
/// glommio 0.9.0 decides per device and per executor thread, on the first file it opens there,
/// by issuing an IOPOLL read: that read succeeds on ext4 over a disk without poll queues
/// (`queue/io_poll` 0: virtio, NVMe without poll queues), whose completions then come by
/// interrupt, and an executor may not sleep while its poll ring has requests in flight: every
/// shard busy-polled through every flusher write and fdatasync. Opening a write-only file first
/// makes that probe read fail (EBADF), which glommio records as "this device does not poll".
/// glommio logs the failure at error level; `launch` drops glommio's log events while this runs.
async fn keep_off_the_poll_ring(directory: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::metadata(directory) else {
        return; // the open that follows reports the missing directory
    };
    let device = metadata.dev();
    let first = DEVICES_PROBED.with(|probed| {
        let mut probed = probed.borrow_mut();
        let first = !probed.contains(&device);
        if first {
            probed.push(device);
        }
        first
    });
    if !first || device_queue_polls(device) != Some(false) {
        return; // decided already, or a polling device (or not a block device): glommio decides
    }
    let probe = directory.join(format!(".ringmq-iopoll-probe-{}", std::process::id()));
    PROBING_THE_POLL_RING.set(true);
    let opened = ::glommio::io::OpenOptions::new().write(true).create(true).truncate(true).dma_open(&probe).await;
    PROBING_THE_POLL_RING.set(false);
    let _ = std::fs::remove_file(&probe);
    match opened {
        Ok(file) => {
            let _ = file.close().await;
        }
        Err(error) => {
            tracing::warn!(?directory, %error, "could not probe the disk's poll support; glommio may busy-poll its writes")
        }
    }
}

/// Whether the disk holding `device` (a partition: its disk) completes I/O by polling, per
/// sysfs `queue/io_poll`; `None` when sysfs does not say (tmpfs, overlay without a block device).
fn device_queue_polls(device: u64) -> Option<bool> {
    let (major, minor) = (libc::major(device), libc::minor(device));
    let device = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    let disk = if device.join("partition").exists() { device.parent()?.to_path_buf() } else { device };
    Some(std::fs::read_to_string(disk.join("queue/io_poll")).ok()?.trim() != "0")
}

/// Whether this thread is opening the probe file of [`keep_off_the_poll_ring`]: glommio's error
/// log about the failed probe read is then the expected outcome, not an error.
pub fn probing_the_poll_ring() -> bool {
    PROBING_THE_POLL_RING.get()
}

async fn write_whole(file: &::glommio::io::DmaFile, buffer: DmaBuffer, position: u64) -> io::Result<()> {
    let length = buffer.0.len();
    let written = file.write_at(buffer.0, position).await.map_err(glommio_error)?;
    if written != length {
        return Err(io::Error::new(io::ErrorKind::WriteZero, format!("short write: {written} of {length}")));
    }
    Ok(())
}

impl SegmentFile for DmaFile {
    type Buffer = DmaBuffer;

    fn alignment(&self) -> u64 {
        // O_DIRECT needs the logical block size; 4 KiB covers every device we run on and keeps
        // the partial-block rewrite logic independent of the device.
        self.file.alignment().max(4096)
    }

    fn alloc_buffer_unzeroed(&self, size_bytes: usize) -> DmaBuffer {
        DmaBuffer(self.file.alloc_dma_buffer(size_bytes))
    }

    async fn write_at(&self, buffer: DmaBuffer, position: u64) -> io::Result<()> {
        write_whole(&self.file, buffer, position).await
    }

    async fn write_unsynced_at(&self, buffer: DmaBuffer, position: u64) -> io::Result<()> {
        write_whole(self.unsynced.as_ref().unwrap_or(&self.file), buffer, position).await
    }

    async fn read_at(&self, position: u64, size_bytes: usize) -> io::Result<Vec<u8>> {
        let result = self.file.read_at(position, size_bytes).await.map_err(glommio_error)?;
        Ok(result.to_vec())
    }

    async fn sync_data(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(glommio_error)
    }

    async fn extend(&self, size_bytes: u64) -> io::Result<()> {
        if self.file.file_size().await.map_err(glommio_error)? >= size_bytes {
            return Ok(());
        }
        self.file.truncate(size_bytes).await.map_err(glommio_error)
    }

    async fn deallocate(&self, offset: u64, size_bytes: u64) -> io::Result<()> {
        self.file.deallocate(offset, size_bytes).await.map_err(glommio_error)
    }

    async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(glommio_error)
    }
}

/// Runs blocking work (small std::fs calls with an fsync, such as checkpoints and config
/// files) on the executor's blocking-work thread, so the shard's run loop never stalls on it.
/// Off any executor (a tool, a test driving a store with `block_on`) there is no run loop to
/// protect, and the work runs in place.
pub async fn spawn_blocking<F, R>(work: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if !ON_RUN_LOOP.get() {
        return work();
    }
    executor().spawn_blocking(work).await
}

// ---------------------------------------------------------------------------------------------
// The mesh of bounded channels between shards.

/// A full mesh of bounded channels between `shard_count` executors. Cloned into every
/// executor before it starts; each joins once.
pub struct Mesh<T: Send + 'static>(
    ::glommio::channels::channel_mesh::MeshBuilder<T, ::glommio::channels::channel_mesh::Full>,
);

impl<T: Send + 'static> Clone for Mesh<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Send + 'static> Mesh<T> {
    /// `capacity` bounds each directed channel: a full channel makes the sender wait
    /// (backpressure), never grow.
    pub fn new(shard_count: usize, capacity: usize) -> Self {
        Self(::glommio::channels::channel_mesh::MeshBuilder::full(shard_count, capacity))
    }

    /// Joins from the current executor. The shard id is the join order's peer id, 0..N.
    pub async fn join(self) -> io::Result<MeshEnd<T>> {
        let (senders, receivers) =
            self.0.join().await.map_err(|error| io::Error::other(format!("cannot join the shard mesh: {error}")))?;
        Ok(MeshEnd { senders, receivers })
    }
}

/// Why [`MeshEnd::send_to_within`] did not deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeshSendError {
    /// The other shard's executor ended.
    Gone(String),
    /// Its inbox from us stayed full for the whole wait; the message was dropped.
    Full,
}

/// Why a send to another shard was not pushed at once.
enum Refused<T> {
    /// The inbox from us is full: the message comes back.
    Full(T),
    Gone(String),
}

/// One shard's end of the mesh.
pub struct MeshEnd<T: Send + 'static> {
    senders: ::glommio::channels::channel_mesh::Senders<T>,
    receivers: ::glommio::channels::channel_mesh::Receivers<T>,
}

impl<T: Send + 'static> MeshEnd<T> {
    pub fn shard(&self) -> usize {
        self.senders.peer_id()
    }

    pub fn shard_count(&self) -> usize {
        self.senders.nr_consumers()
    }

    /// Sends to another shard, waiting while its inbox from us is full.
    pub async fn send_to(&self, shard: usize, message: T) -> Result<(), String> {
        match self.try_send_to(shard, message) {
            Ok(()) => Ok(()),
            Err(Refused::Full(message)) => Box::pin(self.wait_and_send_to(shard, message)).await,
            Err(Refused::Gone(reason)) => Err(reason),
        }
    }

    /// A send that finds room is pushed at once, without a future. The waiting sends are boxed
    /// futures of their own: glommio's send future is ~800 bytes, and every task that may send
    /// to another shard (each request's, ~150k per second per shard) carried it inline, so that
    /// spawning the task copied and allocated it (memmove was 7 % of a shard's samples at 4 × 32).
    fn try_send_to(&self, shard: usize, message: T) -> Result<(), Refused<T>> {
        assert_ne!(shard, self.shard(), "a shard handles its own work directly");
        match self.senders.try_send_to(shard, message) {
            Ok(()) => Ok(()),
            Err(::glommio::GlommioError::WouldBlock(::glommio::ResourceType::Channel(message))) => {
                Err(Refused::Full(message))
            }
            Err(error) => Err(Refused::Gone(format!("shard {shard} is gone: {error:?}"))),
        }
    }

    async fn wait_and_send_to(&self, shard: usize, message: T) -> Result<(), String> {
        self.senders.send_to(shard, message).await.map_err(|error| format!("shard {shard} is gone: {error:?}"))
    }

    /// As [`MeshEnd::send_to`], but gives up when the inbox stays full for `wait_max`: the
    /// message is then dropped unsent ([`MeshSendError::Full`]).
    ///
    /// Cancel-safe, which is what makes the race with a timer sound. glommio 0.9.0's
    /// `ConnectedSender::send` keeps the message inside its future until `wait_for_room` sees
    /// room, then pushes it with `try_send` in that same poll: a dropped future has either
    /// pushed the message (it had completed) or still owns it and drops it. The waker it left
    /// in the reactor's list may later take a wake-up meant for another sender of ours, but the
    /// reactor sweeps the channels again before the executor sleeps (`sys::uring::wait`), so
    /// that sender is woken on the next loop, not stranded. `send_to_within_gives_up_…` below
    /// checks both.
    pub async fn send_to_within(&self, shard: usize, message: T, wait_max: Duration) -> Result<(), MeshSendError> {
        match self.try_send_to(shard, message) {
            Ok(()) => Ok(()),
            Err(Refused::Full(message)) => Box::pin(self.wait_and_send_to_within(shard, message, wait_max)).await,
            Err(Refused::Gone(reason)) => Err(MeshSendError::Gone(reason)),
        }
    }

    async fn wait_and_send_to_within(&self, shard: usize, message: T, wait_max: Duration) -> Result<(), MeshSendError> {
        let sent = async { Some(self.wait_and_send_to(shard, message).await) };
        let expired = async {
            sleep(wait_max).await;
            None
        };
        match futures_lite::future::or(sent, expired).await {
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(MeshSendError::Gone(reason)),
            None => Err(MeshSendError::Full),
        }
    }

    /// Receives the next message from `shard`; `None` when that shard is gone.
    pub async fn recv_from(&self, shard: usize) -> Option<T> {
        let message = self.receivers.recv_from(shard).await.ok().flatten();
        spinner::note_activity();
        message
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::sync::mpsc;

    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    /// A task that holds the executor (a blocking call inside it) is seen as a stall (a slow
    /// machine may add its own, so the count is a lower bound).
    #[test]
    fn the_stall_watch_counts_a_task_that_holds_the_run_loop() {
        let handle = spawn_executor("stall-watch", None, || async {
            let stalls = watch_stalls("test".into());
            sleep(Duration::from_millis(50)).await;
            let before = stalls.get();
            std::thread::sleep(Duration::from_millis(80)); // holds the run loop
            sleep(Duration::from_millis(30)).await;
            (before, stalls.get())
        })
        .unwrap();
        let (before, after) = handle.join().unwrap();
        assert!(after > before, "the 80 ms hold was not seen: {before} -> {after}");
    }

    /// Two pinned shards share a port: a connection made from a thread on CPU c is accepted by
    /// shard c (loopback processes a packet on the sender's CPU).
    #[test]
    fn a_steered_port_hands_each_connection_to_the_shard_on_the_clients_cpu() {
        use std::io::Read;
        const SHARDS: usize = 2;
        if cpu_count() < SHARDS {
            return; // one CPU: nothing to steer between
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let shards: Vec<_> = bind_shard_listeners(address, SHARDS, true)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(shard, listener)| {
                spawn_executor(&format!("steer-{shard}"), Some(shard), move || async move {
                    let listener = adopt_listener(listener);
                    // Answer each connection with this shard's number until none came for 2 s.
                    while let Some(Ok(mut stream)) =
                        futures_lite::future::or(async { Some(listener.accept().await) }, async {
                            sleep(Duration::from_secs(2)).await;
                            None
                        })
                        .await
                    {
                        stream.write_all(&[shard as u8]).await.unwrap();
                    }
                })
                .unwrap()
            })
            .collect();
        for cpu in 0..SHARDS {
            let answers = std::thread::spawn(move || {
                // SAFETY: a zeroed cpu_set_t with one CPU set, for the calling thread.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0);
                }
                (0..8)
                    .map(|_| {
                        let mut stream = std::net::TcpStream::connect(address).unwrap();
                        let mut shard = [0u8];
                        stream.read_exact(&mut shard).unwrap();
                        shard[0] as usize
                    })
                    .collect::<Vec<_>>()
            })
            .join()
            .unwrap();
            assert_eq!(answers, vec![cpu; 8], "connections from CPU {cpu}");
        }
        for shard in shards {
            shard.join().unwrap();
        }
    }

    /// On the poll ring an executor may not sleep while a request is in the kernel, and a device
    /// that does not poll completes by interrupt: the executor busy-polled through every write.
    #[test]
    fn dma_writes_go_to_the_poll_ring_only_on_a_device_that_polls() {
        use std::os::unix::fs::MetadataExt;
        // Under the build directory, not /tmp: /tmp is tmpfs on many machines, where glommio
        // never polls and the test would prove nothing.
        let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("ringmq-poll-ring-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("segment");
        let (poll_ring_writes, all_writes) = spawn_executor("poll-ring", None, {
            let path = path.clone();
            move || async move {
                let file = DmaStorage.open(&path, true, Durability::OnSync).await.unwrap();
                let mut buffer = file.alloc_buffer(4096);
                buffer.as_mut().fill(7);
                file.write_at(buffer, 0).await.unwrap();
                file.sync_data().await.unwrap();
                let stats = ::glommio::executor().io_stats();
                (stats.poll_ring.file_writes().0, stats.all_rings().file_writes().0)
            }
        })
        .unwrap()
        .join()
        .unwrap();
        let polls = device_queue_polls(std::fs::metadata(&directory).unwrap().dev());
        let left = std::fs::read_dir(&directory).unwrap().count();
        std::fs::remove_dir_all(&directory).unwrap();
        assert_eq!(all_writes, 1);
        assert_eq!(left, 1, "only the segment: the probe file is removed");
        match polls {
            Some(false) => assert_eq!(poll_ring_writes, 0, "a device without poll queues: interrupt-driven ring"),
            Some(true) => assert_eq!(poll_ring_writes, 1, "a polling device keeps the poll ring"),
            None => {} // not a block device sysfs knows: glommio decides by itself
        }
    }

    /// A segment is created at its full size but sparse: disk use follows what was written
    /// (four brokers of the 2m-2s files fallocated 8 GiB at boot and filled a CI disk).
    #[test]
    fn an_extended_segment_has_its_size_but_takes_only_the_blocks_written() {
        use std::os::unix::fs::MetadataExt;
        const SEGMENT_BYTES: u64 = 1 << 30;
        let directory =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(format!("ringmq-sparse-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("segment");
        spawn_executor("sparse", None, {
            let path = path.clone();
            move || async move {
                let file = DmaStorage.open(&path, true, Durability::OnSync).await.unwrap();
                file.extend(SEGMENT_BYTES).await.unwrap();
                let mut buffer = file.alloc_buffer(1 << 20);
                buffer.as_mut().fill(7);
                file.write_at(buffer, 0).await.unwrap();
                file.sync_data().await.unwrap();
                file.extend(SEGMENT_BYTES).await.unwrap(); // again: no change
            }
        })
        .unwrap()
        .join()
        .unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        std::fs::remove_dir_all(&directory).unwrap();
        assert_eq!(metadata.len(), SEGMENT_BYTES);
        let allocated_bytes = metadata.blocks() * 512;
        assert!(allocated_bytes < 64 << 20, "1 MiB written, {allocated_bytes} bytes allocated");
    }

    /// Method: a mesh of two executors whose inboxes hold one message. Shard 0 fills shard 1's
    /// inbox while shard 1 reads nothing (its thread is blocked on a std channel), so a
    /// `send_to_within` must give up. Shard 0 then starts a second bounded send, which waits
    /// behind the abandoned sender's waker in glommio's list, and only then lets shard 1 read.
    /// Shard 1 must see the first message and the later ones, never the abandoned one, and the
    /// waiting sender must be woken (it gives up after 10 s otherwise, failing the test).
    #[test]
    fn send_to_within_gives_up_on_a_full_inbox_without_sending_and_strands_no_later_sender() {
        let mesh = Mesh::<u32>::new(2, 1);
        let (go, wait_for_go) = mpsc::channel::<()>();
        let sender_mesh = mesh.clone();
        let sender = spawn_executor("mesh-test-0", None, move || async move {
            let end = Rc::new(sender_mesh.join().await.unwrap());
            end.send_to(1, 1).await.unwrap();
            let abandoning = end.clone();
            let gave_up = spawn(async move { abandoning.send_to_within(1, 2, Duration::from_millis(50)).await }).await;
            assert_eq!(gave_up, Err(MeshSendError::Full));
            let waiting = end.clone();
            let later = spawn(async move { waiting.send_to_within(1, 3, Duration::from_secs(10)).await });
            super::sleep(Duration::from_millis(20)).await; // `later` is now parked on the full inbox.
            go.send(()).unwrap();
            assert_eq!(later.await, Ok(()), "a sender queued behind an abandoned one was stranded");
            end.send_to_within(1, 4, Duration::from_secs(10)).await
        })
        .unwrap();
        let receiver = spawn_executor("mesh-test-1", None, move || async move {
            let end = mesh.join().await.unwrap();
            wait_for_go.recv().unwrap();
            let mut seen = Vec::new();
            for _ in 0..3 {
                seen.push(end.recv_from(0).await.unwrap());
            }
            seen
        })
        .unwrap();
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(receiver.join().unwrap(), vec![1, 3, 4]);
    }

    /// 16 MiB in 2048 slices: more slices than one sendmsg takes (UIO_MAXIOV) and more bytes than
    /// a loopback socket buffers, so the writer meets a full socket and waits for room.
    #[test]
    fn a_vectored_write_delivers_every_slice_in_order_through_a_full_socket() {
        let received = spawn_executor("split-stream", None, || async {
            let listener = tcp_listen(SocketAddr::from(([127, 0, 0, 1], 0)), false).unwrap();
            let address = listener.local_addr().unwrap();
            let reader = spawn(async move {
                let mut stream = listener.accept().await.unwrap();
                let mut received = Vec::new();
                stream.read_to_end(&mut received).await.unwrap();
                received
            });
            let (_, mut writer) = split_stream(tcp_connect(address, Duration::from_secs(5)).await.unwrap());
            let chunks: Vec<Vec<u8>> =
                (0..2048u32).map(|index| index.to_be_bytes().repeat(1 + index as usize % 4096)).collect();
            let mut slices: Vec<io::IoSlice<'_>> = chunks.iter().map(|chunk| io::IoSlice::new(chunk)).collect();
            let mut remaining = &mut slices[..];
            let mut calls = 0;
            while !remaining.is_empty() {
                let written = writer.write_vectored(remaining).await.unwrap();
                io::IoSlice::advance_slices(&mut remaining, written);
                calls += 1;
            }
            writer.close().await.unwrap();
            assert!(calls < chunks.len() / 4, "{calls} writes for {} slices", chunks.len());
            (reader.await, chunks.concat())
        })
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(received.0.len(), received.1.len());
        assert!(received.0 == received.1, "the bytes arrive as written");
    }
}
