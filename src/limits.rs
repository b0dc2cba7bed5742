//! Every bound in one place.
//!
//! Each limit says why it has the value it has. A limit that protects memory is enforced before
//! the bytes are buffered, never after.

/// Largest remoting frame accepted (the 4-byte length prefix excluded), as Java's
/// `com.rocketmq.remoting.frameMaxLength` default. A larger length closes the connection before
/// any of the frame is buffered.
pub const FRAME_SIZE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The header length is a 24-bit field of the frame's second word.
pub const HEADER_SIZE_BYTES_MAX: usize = (1 << 24) - 1;

/// Ext fields one header may carry. Real clients send at most ~20; the bound keeps a hostile
/// header from turning into millions of tiny allocations.
pub const HEADER_EXT_FIELDS_MAX: usize = 1024;

/// Bytes one connection buffers for reading before a whole frame is available. A frame is
/// bounded by `FRAME_SIZE_BYTES_MAX`, so this is that plus the length prefix.
pub const CONNECTION_READ_BUFFER_BYTES_MAX: usize = FRAME_SIZE_BYTES_MAX + 4;

/// Requests one connection may have in flight; beyond this the connection stops reading its
/// socket until replies drain (backpressure, never growth).
pub const CONNECTION_REQUESTS_IN_FLIGHT_MAX: usize = 1024;

/// Connections one nameserver accepts at once. Java has no limit; a bound keeps file
/// descriptors and memory in check when a client misbehaves.
pub const NAMESRV_CONNECTIONS_MAX: usize = 16 * 1024;

/// Topics the nameserver's route table holds. A broker registering more is refused whole (the
/// registration is answered SYSTEM_ERROR and nothing is applied), so memory stays bounded.
pub const NAMESRV_TOPICS_MAX: usize = 1_000_000;

/// Brokers (addresses) the nameserver tracks.
pub const NAMESRV_BROKERS_MAX: usize = 4096;

/// Size of an inflated (zlib) compressed REGISTER_BROKER body. Inflating is stopped past it so
/// a small hostile body cannot expand without bound.
pub const REGISTER_BODY_INFLATED_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Nameserver KV entries across all namespaces.
pub const NAMESRV_KV_ENTRIES_MAX: usize = 100_000;

/// Topic name length: the stored record keeps it in a signed byte (protocol §5.3).
pub const TOPIC_NAME_BYTES_MAX: usize = 127;

/// Properties string length: the stored record keeps it in an i16 (protocol §5.3).
pub const PROPERTIES_BYTES_MAX: usize = 32767;

/// Timeout of one request our client makes (admin, registration), as Java's 3 s default.
pub const CLIENT_REQUEST_TIMEOUT_MS: u64 = 3000;

/// Timeout of REGISTER_BROKER calls, as Java's `registerBrokerTimeoutMills` default.
pub const REGISTER_BROKER_TIMEOUT_MS: u64 = 6000;

/// Largest string a JSON body may hold before decoding gives up (bodies are frames, so this is
/// the frame bound).
pub const JSON_BODY_BYTES_MAX: usize = FRAME_SIZE_BYTES_MAX;

const _: () = assert!(FRAME_SIZE_BYTES_MAX <= HEADER_SIZE_BYTES_MAX + 1);
const _: () = assert!(CONNECTION_READ_BUFFER_BYTES_MAX > FRAME_SIZE_BYTES_MAX);

/// Encoded frames one connection may have queued for its writer (replies plus
/// broker-initiated requests). Senders wait when it is full.
pub const CONNECTION_WRITE_QUEUE_FRAMES_MAX: usize = 4096;

/// Bytes of recent records each shard keeps in memory for reads (its hot window). Tailing
/// consumers and the replication pump read from here without I/O.
/// It is faulted in at boot (see `store/record_arena.rs`); on a machine with less than four
/// times every shard's window of memory, each window shrinks to its share of a quarter of it.
pub const STORE_HOT_WINDOW_BYTES: usize = 256 << 20;

/// Record size the hot window's index is sized for at boot (`store/commit_log.rs`): a full
/// window of larger records needs no more room; smaller ones grow the index once.
pub const STORE_HOT_RECORD_BYTES_TYPICAL: usize = 1024;

/// The smallest hot window a shard gets however little memory the machine has.
pub const STORE_HOT_WINDOW_BYTES_MIN: usize = 16 << 20;

/// Size of the chunks the hot window's records are written into (`store/record_arena.rs`);
/// records above a quarter of it get their own allocation.
pub const STORE_RECORD_CHUNK_BYTES: usize = 4 << 20;

/// Bytes of the log read at once for records older than the hot window
/// (`store/cold_read.rs`): a consumer catching up goes on reading in order, and the queues of a
/// shard interleave in its log, so one block serves the next pulls of every queue.
pub const STORE_COLD_READ_BLOCK_BYTES: u64 = 1 << 20;

/// Cold blocks a shard keeps, least recently used out first: 8 MiB per shard, beside a pull
/// reply's own records (which keep their block alive until written).
pub const STORE_COLD_READ_BLOCKS_MAX: usize = 8;

/// Bytes a shard may have appended but not yet written before sends are refused as busy: the
/// bound on memory when the disk falls behind.
pub const STORE_UNWRITTEN_BYTES_MAX: usize = 128 << 20;

/// Pages (4 KiB, as `flushCommitLogLeastPages` counts them) of replicated records an ASYNC_FLUSH
/// slave lets wait before it writes them, besides its `flushIntervalCommitLog`: at least these
/// 1 MiB, whatever `flushCommitLogLeastPages` says. Java's slave appends to its page cache
/// without waking its flush service, which then writes on its interval only; a slave writing
/// every 16 KiB paid a device request each (a VM exit on this VM: 9 % of a slave shard's
/// samples). Nobody waits for a slave's writes (SYNC_MASTER waits for its acknowledgement of the
/// append), and a slave that dies before writing fetches the records again from the master.
/// Well under `STORE_UNWRITTEN_BYTES_MAX`.
pub const SLAVE_FLUSH_LEAST_PAGES: u64 = 256;

/// How often a SYNC_FLUSH slave writes and fdatasyncs what it replicated (Java's slave: every
/// 10 ms, its group commit service's wait when no send waits for it). Syncing per replicated
/// frame, as a SYNC_FLUSH master does per group, it spent CPU and device time that the master
/// beside it, whose sends wait for their syncs, needed: SYNC_MASTER+SYNC_FLUSH 4 × 32 on shared
/// cores 54k msg/s against 82k with the interval (tuning.md).
pub const SLAVE_SYNC_INTERVAL_MS: u64 = 10;

/// Longest sleep of a shard's sweeper of durability deadlines (`ShardStore`): a SYNC_FLUSH send
/// not synced within `syncFlushTimeout` is answered FLUSH_DISK_TIMEOUT at most this much late.
/// One sweeper per shard instead of a timer per send: arming and removing a timer per send
/// cost ~0.1 CPU-µs per message at 4 × 32 (glommio's `insert_timer`, its btree, clock reads).
pub const DURABLE_SWEEP_INTERVAL_MS: u64 = 100;

/// Messages a shard's inbox from one other shard holds by default (`shardInboxCapacity`); a
/// full inbox makes the sender wait, and a client's send that waits `waitTimeMillsInSendQueue`
/// is answered SYSTEM_BUSY. As many as one connection may have in flight, so one busy
/// connection alone does not make its shard wait.
pub const SHARD_INBOX_CAPACITY: usize = 1024;

/// Largest `shardInboxCapacity`. An inbox holds messages, not bytes (their bodies are bounded
/// by the connections' in-flight limits); past this a full inbox is a backlog of seconds, not a
/// buffer against bursts.
pub const SHARD_INBOX_CAPACITY_MAX: usize = 64 * 1024;

const _: () = assert!(SHARD_INBOX_CAPACITY >= CONNECTION_REQUESTS_IN_FLIGHT_MAX);
const _: () = assert!(SHARD_INBOX_CAPACITY <= SHARD_INBOX_CAPACITY_MAX);

/// Requests one pipelined client connection may have awaiting replies: the size of its slot
/// table (the opaque is the slot). Java's async semaphore allows 65,536 per client; the
/// benchmark runs at most a few hundred per connection, and a bound keeps a runaway caller
/// from growing the table.
pub const CLIENT_REQUESTS_IN_FLIGHT_MAX: usize = 4096;

/// Bytes of oneway requests a pipelined connection queues before the sender waits for its
/// writer: enough for several large writes, small enough that a stalled broker costs little.
pub const CLIENT_OUTBOX_BYTES_MAX: usize = 1 << 20;

/// Bytes a pipelined connection reads per syscall: many small replies arrive in one read.
pub const CLIENT_READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest replication frame a slave accepts: a frame holds whole records, and one record
/// holds at most one request frame's body plus its stored header.
pub const REPLICATION_FRAME_BYTES_MAX: usize = FRAME_SIZE_BYTES_MAX + 64 * 1024;

/// How long a request that created or changed a topic (a heartbeat's `%RETRY%` topic,
/// updateTopic) waits for the registration that carries it to the nameservers before it is
/// answered. Java registers synchronously; a dead nameserver must not make heartbeats time out
/// at the client (3 s), so the wait is shorter than that.
pub const REGISTER_AFTER_TOPIC_CHANGE_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// A shard's run loop is checked every `SHARD_STALL_TICK` (a timer); a tick that fires this
/// late counts as a stall (tasks ran that long without the loop getting back to its timers,
/// its inbox from other shards or its rings, or the thread got no CPU). Seastar reports
/// reactor stalls from 25 ms by default; so does ringmq.
pub const SHARD_STALL_REPORT_AFTER: std::time::Duration = std::time::Duration::from_millis(25);

/// How often the stall watch ticks: short enough to see a stall of `SHARD_STALL_REPORT_AFTER`,
/// long enough that an idle shard wakes only 100 times a second for it.
pub const SHARD_STALL_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Stalls are logged at most this often per shard (with their count and the worst), so that a
/// broker stalling under overload does not flood its log.
pub const SHARD_STALL_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
