//! One shard's store: O_DIRECT commit-log segments with group-commit sync flush, consume queues,
//! the key index, checkpoint, recovery and retention. One instance per data shard; nothing in
//! it is shared between shards.

pub mod consume_queue;
pub mod index;
pub mod commit_log;
pub mod flush;
pub mod recovery;
pub mod root;
pub mod checkpoint;
