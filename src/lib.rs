//! ringmq: a message broker and nameserver, wire-compatible with Apache RocketMQ 4.x, built
//! thread-per-core on io_uring.
//!
//! # Architecture in brief (the decisions are in `DESIGN.md` of the steering repository)
//!
//! * A **shard** is one executor pinned to one CPU with everything it owns: its connections, the
//!   queues it owns, its own commit-log segments and flusher. Shard state is never shared; other
//!   shards send it typed messages through bounded inboxes (`shards/messages.rs`).
//! * Queue `(topic, queueId)` belongs to shard `(hash(topic) + queueId) mod N`
//!   (`shards/routing.rs`). Every shard accepts connections on the broker ports (SO_REUSEPORT),
//!   decodes requests and forwards queue work to the owner; replies are matched by `opaque`.
//! * The control plane (topics, groups, client registry, nameserver registration) has one
//!   authority, shard 0, which pushes read-only copies of its tables to the other shards.
//! * The **nameserver** is one more lightweight shard: its own executor for `ringmq namesrv`, or a
//!   low-share task queue on cpu 0 inside `ringmq broker` when no `namesrvAddr` is configured.
//! * Storage is per shard: O_DIRECT commit-log segments written through the runtime's DMA API,
//!   group-commit `fdatasync` for SYNC_FLUSH, consume queues and an index rebuilt on recovery.
//!
//! # Layout
//!
//! `src/` holds mechanisms and never imports `shards/`; `shards/` composes them:
//!
//! | module | what lives there |
//! |---|---|
//! | [`limits`] | every bound in one place |
//! | [`config`] | Java `.properties` lexer, the key schema, typed configs |
//! | [`protocol`] | remoting frames, both header encodings, codes, headers, bodies, message codecs |
//! | [`runtime`] | the runtime seam: the only module that names glommio |
//! | [`net`] | listener and connection loop |
//! | [`replication`] | HA wire, replication pump (master), follower (slave) |
//! | [`client`] | our Rust client, used by admin, bench and tests |
//! | [`shards`] | the shard kinds: data shards, control duties, the nameserver |

pub mod client;
pub mod config;
pub mod limits;
pub mod net;
pub mod protocol;
pub mod replication;
pub mod runtime;
pub mod store;

#[path = "../shards/mod.rs"]
pub mod shards;
