//! PULL_MESSAGE (11), on the queue's owner: protocol §7.3, with long polling.
//!
//! A pull that finds nothing new and may wait (sysFlag SUSPEND) is parked on the owner shard,
//! keyed by its queue; the next message stored in that queue, or the hold time
//! (`suspendTimeoutMillis`, or `shortPollingTimeMills` without long polling), re-runs it once
//! without suspension and it is answered then. Parked pulls are bounded per shard: past the
//! bound a pull is answered PULL_NOT_FOUND at once and the client simply pulls again.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_channel::oneshot;

use super::DataShard;
use crate::protocol::codes::perm;
use crate::protocol::headers::{PullMessageRequestHeader, PullMessageResponseHeader};
use crate::protocol::message::{java_string_hash, pull_flag};
use crate::protocol::{response, Command, Header};
use crate::shards::RequestError;
use crate::store::consume_queue::Unit;
use crate::store::shard_store::ReadStatus;

/// Pulls one shard keeps parked at most.
const PARKED_PULLS_MAX: usize = 64 * 1024;

/// The client's own timeout for a suspended pull is 30 s; never hold longer than this.
const HOLD_MAX: Duration = Duration::from_secs(25);

/// Pulls waiting for messages, by queue.
#[derive(Default)]
pub struct ParkedPulls {
    waiting: HashMap<(String, i32), Vec<oneshot::Sender<()>>>,
    count: usize,
}

impl ParkedPulls {
    fn park(&mut self, topic: &str, queue_id: i32) -> Option<oneshot::Receiver<()>> {
        if self.count >= PARKED_PULLS_MAX {
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        self.waiting.entry((topic.to_string(), queue_id)).or_default().push(sender);
        self.count += 1;
        Some(receiver)
    }

    /// A message was stored in the queue: wake its parked pulls.
    pub fn notify(&mut self, topic: &str, queue_id: i32) {
        if self.waiting.is_empty() {
            return;
        }
        if let Some(waiters) = self.waiting.remove(&(topic.to_string(), queue_id)) {
            self.count -= waiters.len();
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
    }

    /// Forgets waiters whose pull already ended by timeout.
    fn prune(&mut self, topic: &str, queue_id: i32) {
        if let Some(waiters) = self.waiting.get_mut(&(topic.to_string(), queue_id)) {
            let before = waiters.len();
            waiters.retain(|waiter| !waiter.is_canceled());
            self.count -= before - waiters.len();
            if waiters.is_empty() {
                self.waiting.remove(&(topic.to_string(), queue_id));
            }
        }
    }
}

/// The tag filter of a pull: `None` matches everything.
fn tag_codes(expression: &str) -> Option<Vec<i64>> {
    let expression = expression.trim();
    if expression.is_empty() || expression == "*" {
        return None;
    }
    Some(
        expression
            .split("||")
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(|tag| i64::from(java_string_hash(tag)))
            .collect(),
    )
}

/// The subscription that filters this pull: from the request when it carries one, else what
/// the group's heartbeat registered.
fn filter_of(shard: &DataShard, header: &PullMessageRequestHeader) -> Result<Option<Vec<i64>>, RequestError> {
    let expression_type = header.expression_type.as_deref().unwrap_or("TAG");
    if !expression_type.eq_ignore_ascii_case("TAG") {
        return Err(RequestError::SubscriptionParseFailed(format!(
            "expression type {expression_type} is not supported"
        )));
    }
    if header.sys_flag & pull_flag::SUBSCRIPTION != 0 {
        return Ok(tag_codes(header.subscription.as_deref().unwrap_or("*")));
    }
    let copy = shard.subscriptions.borrow();
    match copy.subscriptions.get(&(header.consumer_group.clone(), header.topic.clone())) {
        Some(entry) => Ok(tag_codes(&entry.expression)),
        None => Err(RequestError::SubscriptionNotExist(format!(
            "the consumer's subscription not exist, group: {}",
            header.consumer_group
        ))),
    }
}

pub(super) async fn pull_on_owner(shard: &Rc<DataShard>, request: &Command) -> Result<Option<Command>, RequestError> {
    let header = PullMessageRequestHeader::decode(&request.ext_fields)?;
    let Some(topic) = shard.topic(&header.topic) else {
        return Err(RequestError::TopicNotExist(format!("topic[{}] not exist, apply first please!", header.topic)));
    };
    if topic.perm & perm::READ == 0 {
        return Err(RequestError::NoPermission(format!("the topic[{}] pulling message is forbidden", header.topic)));
    }
    if header.queue_id < 0 || header.queue_id >= topic.read_queue_nums {
        return Err(RequestError::System(format!("queueId[{}] is illegal, topic:[{}]", header.queue_id, header.topic)));
    }
    let filter = filter_of(shard, &header)?;
    // A slave does not take offsets from pulls (Java: only a master stores them).
    let master = !shard.context.is_slave();
    if master && header.sys_flag & pull_flag::COMMIT_OFFSET != 0 && header.commit_offset >= 0 {
        shard.offsets.borrow_mut().commit(&header.consumer_group, &header.topic, header.queue_id, header.commit_offset);
    }
    let suspend = header.sys_flag & pull_flag::SUSPEND != 0;
    let reply = pull_once(shard, request, &header, filter.as_deref()).await;
    if reply.code != response::PULL_NOT_FOUND || !suspend {
        return Ok(Some(reply));
    }
    let hold = if shard.context.long_polling_enable {
        Duration::from_millis(header.suspend_timeout_millis.max(0) as u64).min(HOLD_MAX)
    } else {
        shard.context.short_polling_time
    };
    let parked = shard.parked.borrow_mut().park(&header.topic, header.queue_id);
    let Some(woken) = parked else {
        return Ok(Some(reply));
    };
    futures_lite::future::or(async { woken.await.is_ok() }, async {
        crate::runtime::sleep(hold).await;
        false
    })
    .await;
    shard.parked.borrow_mut().prune(&header.topic, header.queue_id);
    Ok(Some(pull_once(shard, request, &header, filter.as_deref()).await))
}

/// One read of the queue and its reply.
async fn pull_once(
    shard: &Rc<DataShard>,
    request: &Command,
    header: &PullMessageRequestHeader,
    filter: Option<&[i64]>,
) -> Command {
    let matches = |unit: &Unit| filter.is_none_or(|codes| codes.contains(&unit.tags_code));
    let count_max = header.max_msg_nums.clamp(1, 1024) as usize;
    let read = shard.store.read_queue(&header.topic, header.queue_id, header.queue_offset, count_max, matches).await;
    let code = match read.status {
        ReadStatus::Found => response::SUCCESS,
        ReadStatus::NoMatchedMessage | ReadStatus::MessageWasRemoving => response::PULL_RETRY_IMMEDIATELY,
        ReadStatus::NoMatchedLogicQueue | ReadStatus::NoMessageInQueue if header.queue_offset != 0 => {
            response::PULL_OFFSET_MOVED
        }
        ReadStatus::NoMatchedLogicQueue | ReadStatus::NoMessageInQueue => response::PULL_NOT_FOUND,
        ReadStatus::OffsetTooSmall | ReadStatus::OffsetOverflowBadly => response::PULL_OFFSET_MOVED,
        ReadStatus::OffsetOverflowOne | ReadStatus::OffsetFoundNull => response::PULL_NOT_FOUND,
    };
    let (code, suggest_which_broker_id) = suggest(shard, code, &read.records);
    let mut reply = Command::response_to(request, code).with_remark(read.status.name());
    PullMessageResponseHeader {
        suggest_which_broker_id,
        next_begin_offset: read.next_begin_offset,
        min_offset: read.min_offset,
        max_offset: read.max_offset,
    }
    .encode(&mut reply.ext_fields);
    if code == response::SUCCESS && !read.records.is_empty() {
        let size: usize = read.records.iter().map(|record| record.len()).sum();
        let mut body = BytesMut::with_capacity(size);
        for record in &read.records {
            body.extend_from_slice(record);
        }
        reply.body = body.freeze();
    }
    reply
}

/// The subscription group's `whichBrokerWhenConsumeSlowly` default: the first slave.
const SLOW_CONSUMER_BROKER_ID: i64 = 1;

/// Which broker the consumer should pull from next (Java's PullMessageProcessor): with
/// `slaveReadEnable`, a master sends a consumer reading further behind the log end than the
/// memory window (`accessMessageInMemoryMaxRatio` of RAM) to its slave. A slave without
/// `slaveReadEnable` answers PULL_RETRY_IMMEDIATELY and points at the master.
fn suggest(shard: &DataShard, code: i32, records: &[bytes::Bytes]) -> (i32, i64) {
    if shard.context.is_slave() {
        if !shard.context.slave_read_enable {
            return (response::PULL_RETRY_IMMEDIATELY, 0);
        }
        return (code, 0);
    }
    if !shard.context.slave_read_enable {
        return (code, 0);
    }
    let pulled = records.last().and_then(|record| crate::protocol::record::decode(record).ok());
    let Some(pulled) = pulled else { return (code, 0) };
    let (_, position) = crate::store::position_of(pulled.physical_offset);
    let behind_bytes = shard.store.log().appended().saturating_sub(position);
    let broker = if behind_bytes > shard.store.memory_window_bytes() { SLOW_CONSUMER_BROKER_ID } else { 0 };
    (code, broker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions_become_hash_sets_and_star_matches_all() {
        assert_eq!(tag_codes("*"), None);
        assert_eq!(tag_codes(""), None);
        assert_eq!(tag_codes("TagA || TagB "), Some(vec![2_598_919, i64::from(java_string_hash("TagB"))]));
    }
}
