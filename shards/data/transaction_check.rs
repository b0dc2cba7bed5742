//! Transaction check-back (protocol §7.8 step 4): half messages that no END_TRANSACTION
//! resolved are asked about again.
//!
//! Every half message lives in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0, so one shard (that queue's
//! owner) runs the check, every `transactionCheckInterval`. A round reads the op messages
//! (`RMQ_SYS_TRANS_OP_HALF_TOPIC` queue 0, tag `d`, body = a resolved half queue offset), then
//! walks the half queue from where the last round stopped:
//! - resolved (an op message names it): skipped;
//! - younger than `transactionTimeOut` (or its `CHECK_IMMUNITY_TIME_IN_SECONDS`): the round
//!   stops, everything after it is younger still;
//! - checked `transactionCheckMax` times already: moved to `TRANS_CHECK_MAX_TIME_TOPIC`;
//! - otherwise re-appended to the half queue with `TRANSACTION_CHECK_TIMES` + 1 (new offsets),
//!   and CHECK_TRANSACTION_STATE goes oneway to a live producer of its `PGROUP`, naming the new
//!   copy; the producer answers with END_TRANSACTION for it.
//!
//! Progress is kept as the offsets of the internal group `CID_RMQ_SYS_TRANS` in both queues
//! (Java's group name), so a restart resumes where the last round stopped.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use super::send_message::ensure_topic;
use super::transaction::{expect_stored, send_request, with_body, OP_REMOVE_TAG};
use super::{DataShard, Origin};
use crate::protocol::command::FLAG_ONEWAY;
use crate::protocol::headers::{
    CheckTransactionStateRequestHeader, OffsetResponseHeader, PullMessageRequestHeader, PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader, SendMessageRequestHeader, SendMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::message::{property, pull_flag, Properties};
use crate::protocol::{message_id, now_ms, record, request, response, Command, Header};
use crate::shards::control::topics::{
    AUTO_CREATE_TOPIC_KEY_TOPIC, TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC,
};
use crate::shards::messages::ShardMessage;
use crate::shards::RequestError;

/// The internal consumer group whose offsets record the check's progress.
const CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";

/// Messages read per pull of the half or op queue.
const READ_BATCH_COUNT: i32 = 32;

/// Half messages one round handles at most, so a large backlog cannot starve the shard.
const ROUND_HALF_MESSAGES_MAX: usize = 10_000;

/// `transactionTimeOut`, `transactionCheckMax`, `transactionCheckInterval`.
#[derive(Clone, Copy, Debug)]
pub struct CheckSettings {
    pub interval: Duration,
    pub timeout_ms: i64,
    pub check_count_max: u32,
}

/// Starts the check on the shard that owns the half queue (one shard per broker).
pub fn start(shard: &Rc<DataShard>, settings: CheckSettings) {
    // A slave holds copies of the half messages; only the master asks producers.
    if shard.owner(TRANS_HALF_TOPIC, 0) != shard.shard || shard.context.is_slave() {
        return;
    }
    let shard = shard.clone();
    crate::runtime::spawn(async move {
        loop {
            crate::runtime::sleep(settings.interval).await;
            if let Err(error) = check_round(&shard, settings).await {
                tracing::warn!("transaction check-back round failed: {error:?}");
            }
        }
    })
    .detach();
}

/// One pass over the unresolved half messages.
async fn check_round(shard: &Rc<DataShard>, settings: CheckSettings) -> Result<(), RequestError> {
    if shard.topic(TRANS_HALF_TOPIC).is_none() {
        return Ok(()); // no transactional send ever reached this broker
    }
    let round_started_ms = now_ms();
    let half_start = query_offset(shard, TRANS_HALF_TOPIC).await?;
    let op_start = query_offset(shard, TRANS_OP_HALF_TOPIC).await?;
    let ops = if shard.topic(TRANS_OP_HALF_TOPIC).is_some() { read_ops(shard, op_start).await? } else { Vec::new() };
    let resolved: HashSet<i64> = ops.iter().map(|(_, half_offset)| *half_offset).collect();
    let mut half_offset = half_start;
    let mut handled = 0;
    'pages: while handled < ROUND_HALF_MESSAGES_MAX {
        let (records, next) = read_page(shard, TRANS_HALF_TOPIC, half_offset).await?;
        if records.is_empty() {
            break;
        }
        for bytes in &records {
            let half = record::decode(bytes).map_err(|error| RequestError::System(error.to_string()))?;
            if !resolved.contains(&half.queue_offset) {
                if half.store_timestamp >= round_started_ms {
                    break 'pages; // re-appended by this round
                }
                let properties = Properties::parse(half.properties);
                if !old_enough(&half, &properties, settings.timeout_ms) {
                    break 'pages;
                }
                resolve(shard, &half, properties, settings.check_count_max).await?;
            }
            half_offset = half.queue_offset + 1;
            handled += 1;
        }
        half_offset = half_offset.max(next);
    }
    if half_offset != half_start {
        commit_offset(shard, TRANS_HALF_TOPIC, half_offset).await;
    }
    // Op messages are no longer needed once the half messages they name are behind us.
    let op_offset = ops.iter().take_while(|(_, half)| *half < half_offset).last().map_or(op_start, |(op, _)| op + 1);
    if op_offset != op_start {
        commit_offset(shard, TRANS_OP_HALF_TOPIC, op_offset).await;
    }
    Ok(())
}

/// Java's rule: older than `transactionTimeOut`, or than the message's own immunity time.
fn old_enough(half: &record::Record<'_>, properties: &Properties, timeout_ms: i64) -> bool {
    let immunity_ms = properties
        .get(property::CHECK_IMMUNITY_TIME_IN_SECONDS)
        .and_then(|seconds| seconds.parse::<i64>().ok())
        .map_or(timeout_ms, |seconds| seconds * 1000);
    now_ms() - half.born_timestamp >= immunity_ms
}

/// Discards a half message checked too often, or re-appends it and asks its producer.
async fn resolve(
    shard: &Rc<DataShard>,
    half: &record::Record<'_>,
    mut properties: Properties,
    check_count_max: u32,
) -> Result<(), RequestError> {
    let checked: u32 = properties.get(property::TRANSACTION_CHECK_TIMES).and_then(|n| n.parse().ok()).unwrap_or(0);
    if checked >= check_count_max {
        tracing::info!(offset = half.physical_offset, "half message checked {checked} times: discarded");
        ensure_topic(shard, TRANS_CHECK_MAX_TIME_TOPIC, 1).await?;
        store(shard, half, &properties, TRANS_CHECK_MAX_TIME_TOPIC).await?;
        return Ok(());
    }
    properties.insert(property::TRANSACTION_CHECK_TIMES, &(checked + 1).to_string());
    let (commit_log_offset, queue_offset) = store(shard, half, &properties, TRANS_HALF_TOPIC).await?;
    let Some(group) = properties.get(property::PGROUP).map(str::to_string) else {
        return Ok(());
    };
    let check = check_request(shard, half, &properties, commit_log_offset, queue_offset);
    match &shard.control {
        Some(control) => {
            control.clone().push_to_producer(group, check).await;
        }
        None => {
            let message = ShardMessage::PushToProducer { producer_group: group, request: check };
            let _ = shard.mesh.send_to(0, message).await;
        }
    }
    Ok(())
}

/// CHECK_TRANSACTION_STATE for the renewed half message: the body is the message as stored,
/// with its real topic and queue (protocol §7.8).
fn check_request(
    shard: &DataShard,
    half: &record::Record<'_>,
    properties: &Properties,
    commit_log_offset: i64,
    queue_offset: i64,
) -> Command {
    let encoded_properties = properties.encode();
    let real_topic = properties.get(property::REAL_TOPIC).unwrap_or(half.topic).to_string();
    let real_queue_id = properties.get(property::REAL_QID).and_then(|id| id.parse().ok()).unwrap_or(half.queue_id);
    let message = record::Record {
        topic: &real_topic,
        queue_id: real_queue_id,
        queue_offset,
        physical_offset: commit_log_offset,
        properties: &encoded_properties,
        ..*half
    };
    let mut body = bytes::BytesMut::new();
    record::encode(&message, &mut body);
    let unique_key = properties.get(property::UNIQ_KEY).map(str::to_string);
    let mut check = Command::request(request::CHECK_TRANSACTION_STATE, 0);
    check.flag |= FLAG_ONEWAY;
    CheckTransactionStateRequestHeader {
        tran_state_table_offset: queue_offset,
        commit_log_offset,
        msg_id: unique_key.clone(),
        transaction_id: unique_key,
        offset_msg_id: Some(message_id::encode(shard.context.advertised, commit_log_offset)),
    }
    .encode(&mut check.ext_fields);
    check.body = body.freeze();
    check
}

/// Stores a copy of the half message in queue 0 of `topic`; returns its offsets.
async fn store(
    shard: &Rc<DataShard>,
    half: &record::Record<'_>,
    properties: &Properties,
    topic: &str,
) -> Result<(i64, i64), RequestError> {
    let send = send_request(SendMessageRequestHeader {
        producer_group: properties.get(property::PGROUP).unwrap_or(CHECK_GROUP).to_string(),
        topic: topic.to_string(),
        default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.into(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        sys_flag: half.sys_flag,
        born_timestamp: half.born_timestamp,
        flag: half.flag,
        properties: Some(properties.encode()),
        reconsume_times: Some(half.reconsume_times),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    });
    let origin = Origin { shard: shard.shard, connection_id: 0, peer: half.born_host, local: shard.context.advertised };
    let reply = shard.to_owner(shard.owner(topic, 0), with_body(send, half.body), origin).await;
    let stored = expect_stored(reply, "transaction check")?;
    let header = SendMessageResponseHeader::decode(&stored.ext_fields)?;
    let (_, commit_log_offset) = message_id::decode(&header.msg_id)
        .ok_or_else(|| RequestError::System(format!("unreadable message id {}", header.msg_id)))?;
    Ok((commit_log_offset, header.queue_offset))
}

/// Every op message from `start`: (op queue offset, the half queue offset it resolves).
async fn read_ops(shard: &Rc<DataShard>, start: i64) -> Result<Vec<(i64, i64)>, RequestError> {
    let mut ops = Vec::new();
    let mut offset = start;
    loop {
        let (records, next) = read_page(shard, TRANS_OP_HALF_TOPIC, offset).await?;
        if records.is_empty() {
            return Ok(ops);
        }
        for bytes in &records {
            let op = record::decode(bytes).map_err(|error| RequestError::System(error.to_string()))?;
            let is_remove = Properties::parse(op.properties).get(property::TAGS) == Some(OP_REMOVE_TAG);
            let half_offset = std::str::from_utf8(op.body).ok().and_then(|text| text.trim().parse::<i64>().ok());
            if let (true, Some(half_offset)) = (is_remove, half_offset) {
                ops.push((op.queue_offset, half_offset));
            }
        }
        offset = next.max(offset + 1);
    }
}

/// Records of queue 0 of `topic` from `offset`, through the ordinary pull on the queue's
/// owner; also the next offset to read.
async fn read_page(shard: &Rc<DataShard>, topic: &str, offset: i64) -> Result<(Vec<bytes::Bytes>, i64), RequestError> {
    let mut pull = Command::request(request::PULL_MESSAGE, 0);
    PullMessageRequestHeader {
        consumer_group: CHECK_GROUP.into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: READ_BATCH_COUNT,
        sys_flag: pull_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: None,
        max_msg_bytes: None,
    }
    .encode(&mut pull.ext_fields);
    let Some(reply) = shard.to_owner(shard.owner(topic, 0), pull, internal_origin(shard)).await else {
        return Ok((Vec::new(), offset));
    };
    let header = PullMessageResponseHeader::decode(&reply.ext_fields)?;
    if reply.code == response::PULL_OFFSET_MOVED && header.next_begin_offset > offset {
        // Retention removed old entries: continue from the queue's start.
        return Box::pin(read_page(shard, topic, header.next_begin_offset)).await;
    }
    if reply.code != response::SUCCESS {
        return Ok((Vec::new(), offset));
    }
    let mut records = Vec::new();
    let mut rest = reply.body.clone();
    while let Some((size, _)) = record::peek_size_and_magic(&rest) {
        let size = (size as usize).min(rest.len());
        if size == 0 {
            break;
        }
        records.push(rest.split_to(size));
    }
    Ok((records, header.next_begin_offset))
}

/// The check's position in queue 0 of `topic` (0 when it never ran).
async fn query_offset(shard: &Rc<DataShard>, topic: &str) -> Result<i64, RequestError> {
    let mut query = Command::request(request::QUERY_CONSUMER_OFFSET, 0);
    QueryConsumerOffsetRequestHeader { consumer_group: CHECK_GROUP.into(), topic: topic.into(), queue_id: 0 }
        .encode(&mut query.ext_fields);
    match shard.to_owner(shard.owner(topic, 0), query, internal_origin(shard)).await {
        Some(reply) if reply.code == response::SUCCESS => {
            Ok(OffsetResponseHeader::decode(&reply.ext_fields)?.offset.max(0))
        }
        _ => Ok(0),
    }
}

async fn commit_offset(shard: &Rc<DataShard>, topic: &str, offset: i64) {
    let mut update = Command::request(request::UPDATE_CONSUMER_OFFSET, 0);
    UpdateConsumerOffsetRequestHeader {
        consumer_group: CHECK_GROUP.into(),
        topic: topic.into(),
        queue_id: 0,
        commit_offset: offset,
    }
    .encode(&mut update.ext_fields);
    let _ = shard.to_owner(shard.owner(topic, 0), update, internal_origin(shard)).await;
}

fn internal_origin(shard: &DataShard) -> Origin {
    Origin { shard: shard.shard, connection_id: 0, peer: shard.context.advertised, local: shard.context.advertised }
}
