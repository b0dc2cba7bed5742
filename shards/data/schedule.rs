//! Delivery of scheduled (delayed) messages: protocol §7.7.
//!
//! A delayed message waits in `SCHEDULE_TOPIC_XXXX`, queue `level - 1`, whose consume-queue
//! units carry the delivery time instead of a tag hash. The shard that owns a level's queue
//! runs one task per level: it walks the queue from the level's saved offset, and each message
//! that is due is sent again, without its DELAY, to its real topic and queue (to the owner
//! shard of that queue, like any send). Progress per level is persisted per shard in
//! `config/delayOffset-<shard>.json`, so delayed messages survive a restart and are delivered
//! once due.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::{DataShard, Origin};
use crate::protocol::headers::SendMessageRequestHeader;
use crate::protocol::message::{property, Properties};
use crate::protocol::{record, request, response, Command, Header};
use crate::runtime;
use crate::shards::control::DelayOffsetTable;
use crate::store::SCHEDULE_TOPIC;

/// How often an idle level looks for new messages.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Units read per step.
const UNITS_PER_STEP: usize = 32;

/// Starts one delivery task per delay level whose queue this shard owns.
pub fn start(shard: &Rc<DataShard>, offsets: Rc<RefCell<DelayOffsetTable>>, level_count: usize) {
    for level in 1..=level_count as i32 {
        if shard.owner(SCHEDULE_TOPIC, level - 1) == shard.shard {
            runtime::spawn(deliver_level(shard.clone(), offsets.clone(), level)).detach();
        }
    }
}

async fn deliver_level(shard: Rc<DataShard>, offsets: Rc<RefCell<DelayOffsetTable>>, level: i32) {
    loop {
        let offset = offsets.borrow().get(level).unwrap_or(0);
        let units = shard.store.with_queue(SCHEDULE_TOPIC, level - 1, |queue| match queue {
            Some(queue) => queue.read(offset.max(queue.min_offset()), UNITS_PER_STEP).unwrap_or_default(),
            None => Vec::new(),
        });
        let Some(first) = units.first() else {
            runtime::sleep(IDLE_POLL).await;
            continue;
        };
        let now = crate::protocol::now_ms();
        if first.tags_code > now {
            let wait = Duration::from_millis((first.tags_code - now) as u64);
            runtime::sleep(wait.min(IDLE_POLL)).await;
            continue;
        }
        match deliver(&shard, first.commit_log_offset, first.size_bytes as usize).await {
            Ok(()) => offsets.borrow_mut().set(level, offset + 1),
            Err(reason) => {
                tracing::warn!("delivery of a level-{level} message failed, retrying in 1 s: {reason}");
                runtime::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Sends the scheduled record at `offset` to its real topic and queue.
async fn deliver(shard: &Rc<DataShard>, offset: i64, size_bytes: usize) -> Result<(), String> {
    let bytes = shard.store.read(offset, size_bytes).await.map_err(|error| error.to_string())?;
    let decoded = record::decode(&bytes).map_err(|error| error.to_string())?;
    let mut properties = Properties::parse(decoded.properties);
    let topic = properties.get(property::REAL_TOPIC).ok_or("no REAL_TOPIC")?.to_string();
    let queue_id: i32 = properties.get(property::REAL_QID).and_then(|id| id.parse().ok()).ok_or("no REAL_QID")?;
    properties.remove(property::DELAY);
    properties.insert(property::WAIT, "false");
    let mut request = Command::request(request::SEND_MESSAGE, 0);
    SendMessageRequestHeader {
        producer_group: "SCHEDULE_PRODUCER".into(),
        topic: topic.clone(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: decoded.sys_flag,
        born_timestamp: decoded.born_timestamp,
        flag: decoded.flag,
        properties: Some(properties.encode()),
        reconsume_times: Some(decoded.reconsume_times),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
    }
    .encode(&mut request.ext_fields);
    request.body = bytes::Bytes::copy_from_slice(decoded.body);
    let origin =
        Origin { shard: shard.shard, connection_id: 0, peer: decoded.born_host, local: shard.context.advertised };
    let owner = shard.owner(&topic, queue_id);
    match shard.to_owner(owner, request, origin).await {
        Some(reply) if reply.code == response::SUCCESS || reply.code == response::FLUSH_DISK_TIMEOUT => Ok(()),
        Some(reply) => Err(format!("code {}: {}", reply.code, reply.remark.unwrap_or_default())),
        None => Err("no reply".into()),
    }
}
