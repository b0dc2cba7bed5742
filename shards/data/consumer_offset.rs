//! QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15), SEARCH_OFFSET_BY_TIMESTAMP (29),
//! GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32): protocol §7.4.
//!
//! Consumer offsets live on the shard that owns the queue (the same shard that serves its
//! pulls and commits offsets carried by them), persisted per shard in
//! `config/consumerOffset-<shard>.json` in RocketMQ's format.

use std::path::PathBuf;
use std::rc::Rc;

use super::{DataShard, Origin};
use crate::protocol::headers::{
    GetEarliestMsgStoretimeResponseHeader, OffsetResponseHeader, PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader, QueueRequestHeader, SearchOffsetRequestHeader, TopicRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::{record, request, response, Command, Header};
use crate::shards::control::ConsumerOffsetTable;
use crate::shards::RequestError;

/// The offsets of the queues one shard owns.
pub struct OwnedOffsets {
    pub table: ConsumerOffsetTable,
}

impl OwnedOffsets {
    pub fn load(path: PathBuf) -> Result<Self, String> {
        ConsumerOffsetTable::load(&path).map(|table| Self { table }).map_err(|error| error.to_string())
    }

    pub fn commit(&mut self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.table.commit(group, topic, queue_id, offset);
    }
}

/// Which queue a request is about, to find its owner.
fn queue_of(request: &Command) -> Result<(String, i32), RequestError> {
    let (topic, queue_id) = match request.code {
        request::PULL_MESSAGE => {
            let header = PullMessageRequestHeader::decode(&request.ext_fields)?;
            (header.topic, header.queue_id)
        }
        request::QUERY_CONSUMER_OFFSET => {
            let header = QueryConsumerOffsetRequestHeader::decode(&request.ext_fields)?;
            (header.topic, header.queue_id)
        }
        request::UPDATE_CONSUMER_OFFSET => {
            let header = UpdateConsumerOffsetRequestHeader::decode(&request.ext_fields)?;
            (header.topic, header.queue_id)
        }
        _ => {
            let header = QueueRequestHeader::decode(&request.ext_fields)?;
            (header.topic, header.queue_id)
        }
    };
    Ok((topic, queue_id))
}

/// On the connection's shard: forward to the queue's owner.
pub(super) async fn route(
    shard: &Rc<DataShard>,
    request: Command,
    origin: Origin,
) -> Result<Option<Command>, RequestError> {
    let (topic, queue_id) = queue_of(&request)?;
    let owner = shard.owner(&topic, queue_id);
    Ok(shard.to_owner(owner, request, origin).await)
}

fn with_offset(request: &Command, offset: i64) -> Command {
    let mut reply = Command::response_to(request, response::SUCCESS);
    OffsetResponseHeader { offset }.encode(&mut reply.ext_fields);
    reply
}

pub(super) async fn handle_on_owner(shard: &Rc<DataShard>, request: &Command) -> Result<Option<Command>, RequestError> {
    match request.code {
        request::QUERY_CONSUMER_OFFSET => query(shard, request).map(Some),
        request::UPDATE_CONSUMER_OFFSET => {
            let header = UpdateConsumerOffsetRequestHeader::decode(&request.ext_fields)?;
            if header.commit_offset >= 0 {
                shard.offsets.borrow_mut().commit(
                    &header.consumer_group,
                    &header.topic,
                    header.queue_id,
                    header.commit_offset,
                );
            }
            Ok(Some(Command::response_to(request, response::SUCCESS)))
        }
        request::GET_MAX_OFFSET | request::GET_MIN_OFFSET => {
            let header = QueueRequestHeader::decode(&request.ext_fields)?;
            let offset = shard.store.with_queue(&header.topic, header.queue_id, |queue| match queue {
                Some(queue) if request.code == request::GET_MAX_OFFSET => queue.max_offset(),
                Some(queue) => queue.min_offset(),
                None => 0,
            });
            Ok(Some(with_offset(request, offset)))
        }
        request::GET_EARLIEST_MSG_STORETIME => earliest(shard, request).await.map(Some),
        // One shard's part of GET_ALL_CONSUMER_OFFSET / GET_ALL_DELAY_OFFSET (`gather`).
        request::GET_ALL_CONSUMER_OFFSET => {
            let body = shard.offsets.borrow().table.to_fastjson();
            Ok(Some(Command::response_to(request, response::SUCCESS).with_body(body.into_bytes())))
        }
        request::GET_ALL_DELAY_OFFSET => {
            let body = shard.delay_offsets.borrow().to_fastjson();
            Ok(Some(Command::response_to(request, response::SUCCESS).with_body(body.into_bytes())))
        }
        // Shard 0's DELETE_TOPIC_IN_BROKER, sent to every shard: the topic's consume queues
        // go, its consumer offsets stay (see `control::admin::delete_topic` for why).
        request::DELETE_TOPIC_IN_BROKER => {
            let header = TopicRequestHeader::decode(&request.ext_fields)?;
            shard.store.remove_queues(&header.topic).await.map_err(RequestError::System)?;
            Ok(Some(Command::response_to(request, response::SUCCESS)))
        }
        // Shard 0's DELETE_SUBSCRIPTIONGROUP with removeOffset, sent to every shard.
        request::DELETE_SUBSCRIPTIONGROUP => {
            let header = crate::protocol::headers::DeleteSubscriptionGroupRequestHeader::decode(&request.ext_fields)?;
            shard.offsets.borrow_mut().table.remove_group(&header.group_name);
            Ok(Some(Command::response_to(request, response::SUCCESS)))
        }
        _ => search_by_timestamp(shard, request).map(Some),
    }
}

/// The stored offset, or — for a group new to this queue — 0 when the queue is young (its
/// first message is still in memory), else QUERY_NOT_FOUND so that the client applies its
/// consumeFromWhere (protocol §7.4).
fn query(shard: &DataShard, request: &Command) -> Result<Command, RequestError> {
    let header = QueryConsumerOffsetRequestHeader::decode(&request.ext_fields)?;
    if let Some(offset) = shard.offsets.borrow().table.query(&header.consumer_group, &header.topic, header.queue_id) {
        return Ok(with_offset(request, offset));
    }
    let log_end = shard.store.log().appended();
    let window = shard.store.memory_window_bytes();
    let young = shard.store.with_queue(&header.topic, header.queue_id, |queue| match queue {
        None => true,
        Some(queue) if queue.min_offset() > 0 => false,
        Some(queue) => match queue.get(0) {
            Ok(Some(unit)) => log_end.saturating_sub(crate::store::position_of(unit.commit_log_offset).1) <= window,
            _ => true,
        },
    });
    if young {
        return Ok(with_offset(request, 0));
    }
    Ok(Command::response_to(request, response::QUERY_NOT_FOUND)
        .with_remark("Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first"))
}

async fn earliest(shard: &DataShard, request: &Command) -> Result<Command, RequestError> {
    let header = QueueRequestHeader::decode(&request.ext_fields)?;
    let unit = shard.store.with_queue(&header.topic, header.queue_id, |queue| {
        queue.and_then(|queue| queue.get(queue.min_offset()).ok().flatten())
    });
    let mut timestamp = -1;
    if let Some(unit) = unit {
        if let Ok(bytes) = shard.store.read(unit.commit_log_offset, unit.size_bytes as usize).await {
            if let Ok(decoded) = record::decode(&bytes) {
                timestamp = decoded.store_timestamp;
            }
        }
    }
    let mut reply = Command::response_to(request, response::SUCCESS);
    GetEarliestMsgStoretimeResponseHeader { timestamp }.encode(&mut reply.ext_fields);
    Ok(reply)
}

/// Binary search over store timestamps. Records still in memory are read directly; a record
/// that is not (only old data) counts as older than any timestamp, which is exact for the
/// usual question ("from now on") and approximate for timestamps deep in cold data.
fn search_by_timestamp(shard: &DataShard, request: &Command) -> Result<Command, RequestError> {
    let header = SearchOffsetRequestHeader::decode(&request.ext_fields)?;
    let log = shard.store.log();
    let offset = shard.store.with_queue(&header.topic, header.queue_id, |queue| {
        let Some(queue) = queue else { return 0 };
        queue
            .search_offset_by_timestamp(header.timestamp, |unit| {
                let (_, position) = crate::store::position_of(unit.commit_log_offset);
                let bytes = log.read_hot(position)?;
                record::decode(&bytes).ok().map(|decoded| decoded.store_timestamp)
            })
            .unwrap_or(0)
    });
    Ok(with_offset(request, offset))
}

/// GET_ALL_CONSUMER_OFFSET (43) and GET_ALL_DELAY_OFFSET (45), which a slave's synchronizer
/// calls: every shard keeps the offsets of the queues (and delay levels) it owns, so the reply
/// is the union of every shard's `{"offsetTable":{...}}`, in Java's format.
pub(super) async fn gather(
    shard: &Rc<DataShard>,
    request: &Command,
    origin: Origin,
) -> Result<Option<Command>, RequestError> {
    let mut merged = serde_json::Map::new();
    for owner in 0..shard.shard_count {
        let Some(reply) = shard.to_owner(owner, request.clone(), origin).await else {
            return Err(RequestError::System(format!("shard {owner} did not answer")));
        };
        let part: serde_json::Value =
            crate::protocol::json::from_fastjson(&reply.body).map_err(RequestError::System)?;
        if let Some(table) = part.get("offsetTable").and_then(|table| table.as_object()) {
            for (key, value) in table {
                match (merged.get_mut(key), value) {
                    (Some(serde_json::Value::Object(known)), serde_json::Value::Object(more)) => {
                        known.extend(more.clone());
                    }
                    _ => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
    }
    let body = serde_json::json!({ "offsetTable": merged });
    let text = crate::protocol::json::unquote_integer_keys(&body.to_string());
    Ok(Some(Command::response_to(request, response::SUCCESS).with_body(text.into_bytes())))
}

/// Slave: takes the master's offsets for the queues and delay levels this shard owns.
pub(super) fn adopt_from_master(shard: &DataShard, offsets: &crate::shards::messages::MasterOffsets) {
    let mut owned = shard.offsets.borrow_mut();
    for (topic, group, queue_id, offset) in &offsets.consumer {
        if shard.owner(topic, *queue_id) == shard.shard {
            owned.commit(group, topic, *queue_id, *offset);
        }
    }
    let mut delay = shard.delay_offsets.borrow_mut();
    for (level, offset) in &offsets.delay {
        if shard.owner(crate::store::SCHEDULE_TOPIC, level - 1) == shard.shard && delay.get(*level) != Some(*offset) {
            delay.set(*level, *offset);
        }
    }
}
