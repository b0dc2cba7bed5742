//! The one module that names glommio. glommio 0.9 is pinned exactly (Cargo.toml): its
//! maintenance is slow, so everything it provides reaches the rest of ringmq through these
//! names, and nothing else may import it (`tests/tidy.rs` checks this).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ::glommio::{
    channels::local_channel, executor, net, timer, LocalExecutorBuilder, Placement, Shares,
    TaskQueueHandle,
};

pub use ::glommio::sync::{Semaphore, StaticPermit};
pub use ::glommio::Task;

pub type TcpListener = net::TcpListener;
pub type TcpStream = net::TcpStream;
pub type ChannelSender<T> = local_channel::LocalSender<T>;
pub type ChannelReceiver<T> = local_channel::LocalReceiver<T>;

/// I/O memory registered per executor. glommio locks it; `raise_memlock_limit` must cover it.
const EXECUTOR_IO_MEMORY_BYTES: usize = 10 << 20;

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
    let placement = match cpu {
        Some(cpu) => Placement::Fixed(cpu),
        None => Placement::Unbound,
    };
    let inner = LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
        .spawn(main)
        .map_err(|error| io::Error::other(error.to_string()))?;
    Ok(ExecutorHandle { inner })
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
        Self(executor().create_task_queue(
            Shares::Static(shares),
            ::glommio::Latency::NotImportant,
            name,
        ))
    }
}

/// Spawns a task into a background queue.
pub fn spawn_background<T: 'static>(
    queue: BackgroundQueue,
    future: impl Future<Output = T> + 'static,
) -> Task<T> {
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
        drop(std::net::TcpListener::bind(address)?);
    }
    net::TcpListener::bind(address).map_err(|error| io::Error::other(error.to_string()))
}

/// Connects with a timeout.
pub async fn tcp_connect(address: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    net::TcpStream::connect_timeout(address, timeout)
        .await
        .map_err(|error| io::Error::other(error.to_string()))
}

/// A bounded single-executor channel.
pub fn channel_bounded<T>(capacity: usize) -> (ChannelSender<T>, ChannelReceiver<T>) {
    local_channel::new_bounded(capacity)
}

/// CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

