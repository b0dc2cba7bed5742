//! CONSUMER_SEND_MSG_BACK (36): a consumer hands back a message it failed to consume
//! (protocol §7.6). It runs on the shard whose log holds the message (the offset says which);
//! the message goes, as a new message, to `%RETRY%<group>` with a delay level that grows with
//! its reconsume count (level 3 + count when the client lets the broker choose: 10 s, 30 s,
//! 1 min, ...), or to `%DLQ%<group>` once it has been consumed `maxReconsumeTimes` times.

use std::rc::Rc;

use super::send_message::{self, DLQ_GROUP_TOPIC_PREFIX, RECONSUME_TIMES_MAX_DEFAULT, RETRY_GROUP_TOPIC_PREFIX};
use super::{DataShard, Origin};
use crate::protocol::headers::{ConsumerSendMsgBackRequestHeader, SendMessageRequestHeader};
use crate::protocol::message::{property, Properties};
use crate::protocol::{message_id, record, request, response, Command, Header};
use crate::shards::RequestError;

/// Clients below 3.4.9 (ordinal 121) do not send a trustworthy maxReconsumeTimes.
const MAX_RECONSUME_TIMES_HEADER_VERSION: i32 = 121;

pub(super) async fn handle_on_owner(
    shard: &Rc<DataShard>,
    request: &Command,
    origin: Origin,
) -> Result<Option<Command>, RequestError> {
    let header = ConsumerSendMsgBackRequestHeader::decode(&request.ext_fields)?;
    let bytes = shard
        .store
        .read_unsized(header.offset)
        .await
        .map_err(|_| RequestError::System(format!("look message by offset failed, {}", header.offset)))?;
    let decoded = record::decode(&bytes).map_err(|error| RequestError::System(error.to_string()))?;
    let max = match header.max_reconsume_times {
        Some(max) if request.version >= MAX_RECONSUME_TIMES_HEADER_VERSION => max,
        _ => RECONSUME_TIMES_MAX_DEFAULT,
    };
    let mut properties = Properties::parse(decoded.properties);
    if properties.get(property::RETRY_TOPIC).is_none() {
        properties.insert(property::RETRY_TOPIC, decoded.topic);
    }
    if properties.get(property::ORIGIN_MESSAGE_ID).is_none() {
        let origin_id = header
            .origin_msg_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| message_id::encode(decoded.store_host, decoded.physical_offset));
        properties.insert(property::ORIGIN_MESSAGE_ID, &origin_id);
    }
    properties.insert(property::WAIT, "false");
    let dead = decoded.reconsume_times >= max || header.delay_level < 0;
    let topic = if dead {
        properties.remove(property::DELAY);
        format!("{DLQ_GROUP_TOPIC_PREFIX}{}", header.group)
    } else {
        let level = if header.delay_level == 0 { 3 + decoded.reconsume_times } else { header.delay_level };
        properties.insert(property::DELAY, &level.to_string());
        format!("{RETRY_GROUP_TOPIC_PREFIX}{}", header.group)
    };
    send_message::ensure_topic(shard, &topic, 1).await?;
    let mut send = Command::request(request::SEND_MESSAGE, 0);
    SendMessageRequestHeader {
        producer_group: header.group.clone(),
        topic,
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        sys_flag: decoded.sys_flag,
        born_timestamp: decoded.born_timestamp,
        flag: decoded.flag,
        properties: Some(properties.encode()),
        reconsume_times: Some(decoded.reconsume_times + 1),
        unit_mode: Some(false),
        batch: Some(false),
        // The cut-off was applied above: the retry message must not be redirected again.
        max_reconsume_times: Some(i32::MAX),
    }
    .encode(&mut send.ext_fields);
    send.body = bytes::Bytes::copy_from_slice(decoded.body);
    let reply = send_message::route(shard, send, origin, None).await?;
    match reply {
        Some(reply) if reply.code == response::SUCCESS || reply.code == response::FLUSH_DISK_TIMEOUT => {
            Ok(Some(Command::response_to(request, response::SUCCESS)))
        }
        Some(reply) => Err(RequestError::System(format!(
            "send back failed: {}",
            reply.remark.unwrap_or_else(|| response::name(reply.code).to_string())
        ))),
        None => Err(RequestError::System("send back failed: no reply".into())),
    }
}
