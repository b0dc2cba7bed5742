//! END_TRANSACTION (37): the second half of a transactional send (protocol §7.8).
//!
//! The producer's half message sits in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0 (stored by
//! `send_message.rs`). This runs on the shard whose log holds it (the `commitLogOffset` says
//! which). COMMIT stores a copy in the real topic and queue, with the COMMIT bits; COMMIT and
//! ROLLBACK both write an op message (tag `d`, body = the half message's queue offset) to
//! `RMQ_SYS_TRANS_OP_HALF_TOPIC`, which marks the half message done for a check-back service.
//! UNKNOWN does nothing: the half message stays until the check-back (`transaction_check.rs`)
//! asks its producer again.

use std::rc::Rc;

use super::send_message::{self, ensure_topic};
use super::{DataShard, Origin};
use crate::protocol::headers::{EndTransactionRequestHeader, SendMessageRequestHeader};
use crate::protocol::message::{property, sys_flag, Properties};
use crate::protocol::{record, request, response, Command, Header};
use crate::shards::control::topics::{AUTO_CREATE_TOPIC_KEY_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::shards::RequestError;

/// The op message's tag (`TransactionalMessageUtil.REMOVETAG`).
pub(super) const OP_REMOVE_TAG: &str = "d";

/// On the committed copy's send: the half message's commit-log offset, which the copy stores
/// as its preparedTransactionOffset. Only END_TRANSACTION sets it, and the owner reads it only
/// from a COMMIT-type send (Java clients never send one: committing is the broker's job).
pub(super) const PREPARED_TRANSACTION_OFFSET_FIELD: &str = "ringmqPreparedTransactionOffset";

pub(super) async fn handle_on_owner(
    shard: &Rc<DataShard>,
    request: &Command,
    origin: Origin,
) -> Result<Option<Command>, RequestError> {
    let header = EndTransactionRequestHeader::decode(&request.ext_fields)?;
    let commit = match header.commit_or_rollback {
        sys_flag::TRANSACTION_COMMIT => true,
        sys_flag::TRANSACTION_ROLLBACK => false,
        // UNKNOWN: Java answers nothing and leaves the half message to the check-back.
        _ => return Ok(None),
    };
    let bytes = shard.store.read_unsized(header.commit_log_offset).await.map_err(|_| {
        RequestError::System(format!("Find prepared transaction message failed, offset {}", header.commit_log_offset))
    })?;
    let half = record::decode(&bytes).map_err(|error| RequestError::System(error.to_string()))?;
    let properties = Properties::parse(half.properties);
    verify(&header, &half, &properties)?;
    if commit {
        store_commit(shard, &header, &half, properties, origin).await?;
    }
    store_op(shard, &header, &half, origin).await?;
    Ok(Some(Command::response_to(request, response::SUCCESS)))
}

/// The offsets must name a half message of this producer group (Java's `checkPrepareMessage`).
fn verify(
    header: &EndTransactionRequestHeader,
    half: &record::Record<'_>,
    properties: &Properties,
) -> Result<(), RequestError> {
    if half.topic != TRANS_HALF_TOPIC || half.physical_offset != header.commit_log_offset {
        return Err(RequestError::System(format!(
            "the message at offset {} is not a prepared transaction message",
            header.commit_log_offset
        )));
    }
    if properties.get(property::PGROUP) != Some(header.producer_group.as_str()) {
        return Err(RequestError::System("The producer group wrong".into()));
    }
    if half.queue_offset != header.tran_state_table_offset {
        return Err(RequestError::System("The transaction state table offset wrong".into()));
    }
    Ok(())
}

/// Stores the committed message in its real topic and queue, through the ordinary send path
/// (so it is routed to the queue's owner, waits for the flush and wakes parked pulls).
///
/// The copy is the half message with Java's `endMessageTransaction` changes (4.9.8
/// EndTransactionProcessor): the real topic and queue, the COMMIT type in the sys flag, and
/// preparedTransactionOffset = the half's commit-log offset; body, flag, born timestamp, born
/// host, reconsume times and the properties string (REAL_TOPIC, REAL_QID and TRAN_MSG
/// included: Java clears them from the map after it has built the string it stores) are the
/// half's. Java also copies the half's store timestamp and queue offset, but its CommitLog
/// overwrites both on append (the time in the put lock, the queue's next offset), as ours does.
async fn store_commit(
    shard: &Rc<DataShard>,
    header: &EndTransactionRequestHeader,
    half: &record::Record<'_>,
    properties: Properties,
    origin: Origin,
) -> Result<(), RequestError> {
    let topic = properties.get(property::REAL_TOPIC).unwrap_or_default().to_string();
    let queue_id: i32 = properties.get(property::REAL_QID).and_then(|text| text.parse().ok()).unwrap_or(-1);
    if topic.is_empty() {
        return Err(RequestError::System(format!(
            "the half message at offset {} has no REAL_TOPIC",
            header.commit_log_offset
        )));
    }
    let mut send = send_request(SendMessageRequestHeader {
        producer_group: header.producer_group.clone(),
        topic,
        default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.into(),
        default_topic_queue_nums: 1,
        queue_id,
        sys_flag: (half.sys_flag & !sys_flag::TRANSACTION_MASK) | sys_flag::TRANSACTION_COMMIT,
        born_timestamp: half.born_timestamp,
        flag: half.flag,
        properties: Some(properties.encode()),
        reconsume_times: Some(half.reconsume_times),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    });
    send.ext_fields.insert(PREPARED_TRANSACTION_OFFSET_FIELD, half.physical_offset.to_string());
    let origin = Origin { peer: half.born_host, ..origin };
    let reply = send_message::route(shard, with_body(send, half.body), origin, None).await?;
    expect_stored(reply, "commit").map(drop)
}

/// Marks the half message done: an op message in the op topic's queue 0.
async fn store_op(
    shard: &Rc<DataShard>,
    header: &EndTransactionRequestHeader,
    half: &record::Record<'_>,
    origin: Origin,
) -> Result<(), RequestError> {
    ensure_topic(shard, TRANS_OP_HALF_TOPIC, 1).await?;
    let mut properties = Properties::default();
    properties.insert(property::TAGS, OP_REMOVE_TAG);
    properties.insert(property::WAIT, "false");
    let send = send_request(SendMessageRequestHeader {
        producer_group: header.producer_group.clone(),
        topic: TRANS_OP_HALF_TOPIC.into(),
        default_topic: AUTO_CREATE_TOPIC_KEY_TOPIC.into(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: half.born_timestamp,
        flag: 0,
        properties: Some(properties.encode()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    });
    let body = half.queue_offset.to_string();
    // Straight to the owner: the op topic is closed to clients' sends, so not through `route`.
    let owner = shard.owner(TRANS_OP_HALF_TOPIC, 0);
    let reply = shard.to_owner(owner, with_body(send, body.as_bytes()), origin).await;
    expect_stored(reply, "op").map(drop)
}

pub(super) fn send_request(header: SendMessageRequestHeader) -> Command {
    let mut send = Command::request(request::SEND_MESSAGE, 0);
    header.encode(&mut send.ext_fields);
    send
}

pub(super) fn with_body(mut send: Command, body: &[u8]) -> Command {
    send.body = bytes::Bytes::copy_from_slice(body);
    send
}

/// The send reply, when the message was stored.
pub(super) fn expect_stored(reply: Option<Command>, what: &str) -> Result<Command, RequestError> {
    match reply {
        Some(reply) if reply.code == response::SUCCESS || reply.code == response::FLUSH_DISK_TIMEOUT => Ok(reply),
        Some(reply) => Err(RequestError::System(format!(
            "end transaction: storing the {what} message failed: {}",
            reply.remark.unwrap_or_else(|| response::name(reply.code).to_string())
        ))),
        None => Err(RequestError::System(format!("end transaction: storing the {what} message got no reply"))),
    }
}
