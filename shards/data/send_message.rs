//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320): protocol §7.2.
//!
//! On the connection's shard: the topic is resolved (from the local copy of the topic table, or
//! created from its template by shard 0), a queue is chosen when the client let the broker
//! pick, and the request goes to the queue's owner. On the owner: the message (or each message
//! of a batch, at consecutive queue offsets, all or none) is stored, and the reply waits for
//! fdatasync under SYNC_FLUSH when the message asks to wait. Every reply carries MSG_REGION and
//! TRACE_ON, which the Java client reads after a successful send.
//!
//! V2 headers use one-letter keys; `SendMessageRequestHeader::decode_for` maps them. The C++
//! clients send batches as 310 with `m=1` and as 10 with `batch=1`.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::{DataShard, Origin};
use crate::protocol::batch;
use crate::protocol::codes::perm;
use crate::protocol::headers::{SendMessageRequestHeader, SendMessageResponseHeader};
use crate::protocol::message::{property, sys_flag, tags_code, Properties};
use crate::protocol::{message_id, request, response, Command, Header};
use crate::shards::RequestError;
use crate::store::commit_log::DurabilityError;
use crate::store::shard_store::{MessageToStore, PutResult};

/// `%RETRY%<group>`: where a consumer group's failed messages wait to be consumed again.
pub(super) const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// `%DLQ%<group>`: where messages consumed too often end.
pub(super) const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// Java's `retryMaxTimes` default (subscription group) and client default.
pub(super) const RECONSUME_TIMES_MAX_DEFAULT: i32 = 16;
use crate::store::SCHEDULE_TOPIC;

/// Messages one batch may hold: a bound on the work one request causes.
const BATCH_MESSAGES_MAX: usize = 4096;

use crate::shards::control::topics::{SEND_FORBIDDEN_TOPICS, TRANS_HALF_TOPIC};

fn validate_topic(topic: &str) -> Result<(), RequestError> {
    let valid = !topic.trim().is_empty()
        && topic.len() <= crate::limits::TOPIC_NAME_BYTES_MAX
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'%' || b == b'|' || b == b'_' || b == b'-');
    if !valid {
        return Err(RequestError::System(format!(
            "the specified topic[{topic}] contains illegal characters or is too long"
        )));
    }
    if SEND_FORBIDDEN_TOPICS.contains(&topic) {
        return Err(RequestError::NoPermission(format!("Sending message to topic[{topic}] is forbidden.")));
    }
    Ok(())
}

/// Every send reply carries these (the Java client reads them after a successful send).
fn with_trace_fields(shard: &DataShard, mut reply: Command) -> Command {
    reply.ext_fields.insert(property::MSG_REGION, shard.context.region_id.clone());
    reply.ext_fields.insert(property::TRACE_ON, shard.context.trace_on.to_string());
    reply
}

/// On the connection's shard: resolve the topic and queue, forward to the owner. A client's
/// send may wait `wait_time_max` for the owner to start it (`DataShard::send_to_owner`); the
/// broker's own sends (a commit, a send-back) pass `None` and wait.
pub(super) async fn route(
    shard: &Rc<DataShard>,
    mut request: Command,
    origin: Origin,
    wait_time_max: Option<Duration>,
) -> Result<Option<Command>, RequestError> {
    let header = SendMessageRequestHeader::decode_for(request.code, &request.ext_fields)?;
    if shard.context.is_slave() {
        // Java's store refuses puts on a slave with this status and remark.
        let error = RequestError::from(crate::store::shard_store::PutError::Slave);
        return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
    }
    if let Err(error) = validate_topic(&header.topic) {
        return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
    }
    let broker_permission = shard.topics.borrow().broker_permission.unwrap_or(shard.context.broker_permission);
    if broker_permission & perm::WRITE == 0 {
        let error = RequestError::NoPermission(format!(
            "the broker[{}] sending message is forbidden",
            shard.context.broker_name
        ));
        return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
    }
    let prepared = is_prepared(&header);
    if prepared && shard.context.reject_transaction_message {
        let error = RequestError::NoPermission(format!(
            "the broker[{}] sending transaction message is forbidden",
            shard.context.broker_name
        ));
        return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
    }
    let topic = match shard.topic(&header.topic) {
        Some(topic) => topic,
        // Boxed, as rare: this future is every send's (see `DataShard::queue_work`).
        None => match Box::pin(create_topic(shard, &header)).await {
            Some(topic) => topic,
            None => {
                let error = RequestError::TopicNotExist(format!(
                    "topic[{}] not exist, apply first please! http://rocketmq.apache.org/docs/faq/",
                    header.topic
                ));
                return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
            }
        },
    };
    let queue_limit = topic.write_queue_nums.max(topic.read_queue_nums);
    if header.queue_id >= queue_limit {
        let error = RequestError::System(format!(
            "request queueId[{}] is illegal, {topic:?} Producer: {}",
            header.queue_id, origin.peer
        ));
        return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
    }
    let queue_id = if header.queue_id < 0 { random_queue(topic.write_queue_nums) } else { header.queue_id };
    if queue_id != header.queue_id {
        request.ext_fields.insert(field(request.code, "queueId", "e"), queue_id.to_string());
    }
    if let Some(dlq) = dead_letter_target(&header) {
        if let Err(error) = Box::pin(redirect_to_dead_letters(shard, &mut request, &header, &dlq)).await {
            return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
        }
        return shard.send_to_owner(shard.owner(&dlq, 0), request, origin, wait_time_max).await;
    }
    let owner = if prepared {
        if let Err(error) = ensure_topic(shard, TRANS_HALF_TOPIC, 1).await {
            return Ok(Some(with_trace_fields(shard, error.reply_to(&request))));
        }
        shard.owner(TRANS_HALF_TOPIC, 0)
    } else {
        match delay_level(shard, &header) {
            Some(level) => shard.owner(SCHEDULE_TOPIC, level - 1),
            None => shard.owner(&header.topic, queue_id),
        }
    };
    shard.send_to_owner(owner, request, origin, wait_time_max).await
}

/// The ext key of a send header field: long name for SEND_MESSAGE, one letter for V2 / batch.
fn field(code: i32, long: &'static str, letter: &'static str) -> &'static str {
    if code == request::SEND_MESSAGE {
        long
    } else {
        letter
    }
}

/// A message sent to `%RETRY%<group>` that has been consumed too often goes to `%DLQ%<group>`
/// instead (protocol §7.2 step 7): the Java client takes this path when its send-back fails
/// and for orderly consumption.
fn dead_letter_target(header: &SendMessageRequestHeader) -> Option<String> {
    let group = header.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX)?;
    let max = header.max_reconsume_times.unwrap_or(RECONSUME_TIMES_MAX_DEFAULT);
    (header.reconsume_times.unwrap_or(0) >= max).then(|| format!("{DLQ_GROUP_TOPIC_PREFIX}{group}"))
}

async fn redirect_to_dead_letters(
    shard: &Rc<DataShard>,
    request: &mut Command,
    header: &SendMessageRequestHeader,
    dlq: &str,
) -> Result<(), RequestError> {
    ensure_topic(shard, dlq, 1).await?;
    request.ext_fields.insert(field(request.code, "topic", "b"), dlq);
    request.ext_fields.insert(field(request.code, "queueId", "e"), "0");
    let mut properties = Properties::parse(header.properties.as_deref().unwrap_or(""));
    properties.remove(property::DELAY);
    request.ext_fields.insert(field(request.code, "properties", "i"), properties.encode());
    Ok(())
}

/// Creates `topic` with `queue_count` queues if it does not exist (retry and dead-letter
/// topics), through the control plane.
pub(super) async fn ensure_topic(shard: &Rc<DataShard>, topic: &str, queue_count: i32) -> Result<(), RequestError> {
    if shard.topic(topic).is_some() {
        return Ok(());
    }
    let mut request = Command::request(request::UPDATE_AND_CREATE_TOPIC, 0);
    request.ext_fields.insert("topic", topic);
    request.ext_fields.insert("ringmqEnsureQueueNums", queue_count.to_string());
    let origin = Origin {
        shard: shard.shard,
        connection_id: 0,
        peer: shard.context.advertised,
        local: shard.context.advertised,
    };
    match shard.to_control_plane(request, origin).await {
        Some(reply) if reply.code == response::SUCCESS => {
            if let Ok(config) =
                crate::protocol::json::from_fastjson::<crate::protocol::bodies::TopicConfig>(&reply.body)
            {
                // Use it at once; the table copy from shard 0 follows.
                let mut copy = (**shard.topics.borrow()).clone();
                copy.topics.insert(config.topic_name.clone(), config);
                *shard.topics.borrow_mut() = std::sync::Arc::new(copy);
            }
            Ok(())
        }
        _ => Err(RequestError::System(format!("cannot create topic {topic}"))),
    }
}

/// The first half of a transactional message: stored out of sight until END_TRANSACTION.
fn is_prepared(header: &SendMessageRequestHeader) -> bool {
    header.sys_flag & sys_flag::TRANSACTION_MASK == sys_flag::TRANSACTION_PREPARED
}

/// The delay level a message asks for (its DELAY property), clamped to the configured levels;
/// `None` for no delay, and for transactional messages, which ignore it.
fn delay_level(shard: &DataShard, header: &SendMessageRequestHeader) -> Option<i32> {
    let properties = header.properties.as_deref()?;
    if !properties.contains("DELAY\u{1}") {
        return None;
    }
    let level: i32 = Properties::parse(properties).get(property::DELAY)?.trim().parse().ok()?;
    let transaction = header.sys_flag & sys_flag::TRANSACTION_MASK;
    if level <= 0 || (transaction != sys_flag::TRANSACTION_NOT_TYPE && transaction != sys_flag::TRANSACTION_COMMIT) {
        return None;
    }
    Some(level.min(shard.context.delay_level_count.max(1) as i32))
}

async fn create_topic(
    shard: &Rc<DataShard>,
    header: &SendMessageRequestHeader,
) -> Option<crate::protocol::bodies::TopicConfig> {
    match &shard.control {
        Some(control) => {
            control
                .clone()
                .create_topic_for_send(
                    header.topic.clone(),
                    header.default_topic.clone(),
                    header.default_topic_queue_nums,
                )
                .await
        }
        None => {
            // Ask shard 0 through the control plane with the send's own header: it creates the
            // topic and broadcasts the new table; the reply carries the config.
            let mut request = Command::request(crate::protocol::request::UPDATE_AND_CREATE_TOPIC, 0);
            request.ext_fields.insert("topic", header.topic.clone());
            request.ext_fields.insert("defaultTopic", header.default_topic.clone());
            request.ext_fields.insert("ringmqAutoCreateQueueNums", header.default_topic_queue_nums.to_string());
            let origin = super::Origin {
                shard: shard.shard,
                connection_id: 0,
                peer: shard.context.advertised,
                local: shard.context.advertised,
            };
            let reply = shard.to_control_plane(request, origin).await?;
            if reply.code != response::SUCCESS {
                return None;
            }
            crate::protocol::json::from_fastjson(&reply.body).ok()
        }
    }
}

fn random_queue(write_queue_nums: i32) -> i32 {
    use std::sync::atomic::{AtomicU64, Ordering};
    // A round robin is as good as random for spreading, and needs no generator.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    (NEXT.fetch_add(1, Ordering::Relaxed) % write_queue_nums.max(1) as u64) as i32
}

/// On the owner: store and reply.
pub(super) async fn store_on_owner(
    shard: &Rc<DataShard>,
    request: &Command,
    origin: Origin,
) -> Result<Option<Command>, RequestError> {
    let header = SendMessageRequestHeader::decode_for(request.code, &request.ext_fields)?;
    let is_batch = request.code == request::SEND_BATCH_MESSAGE || header.batch == Some(true);
    let stored = if is_batch {
        store_batch(shard, &header, &request.body, origin)
    } else {
        store_one(shard, &header, &request.body, committed_half_offset(request, &header), origin)
    };
    let (results, wait) = match stored {
        Ok(stored) => stored,
        Err(error) => return Ok(Some(with_trace_fields(shard, error.reply_to(request)))),
    };
    let code = if wait { wait_for_copies(shard, &results).await } else { response::SUCCESS };
    let mut reply = Command::response_to(request, code);
    let message_ids: Vec<String> =
        results.iter().map(|result| message_id::encode(shard.context.advertised, result.commit_log_offset)).collect();
    SendMessageResponseHeader {
        msg_id: message_ids.join(","),
        queue_id: header.queue_id,
        queue_offset: results.first().map_or(0, |result| result.queue_offset),
        transaction_id: None,
    }
    .encode(&mut reply.ext_fields);
    Ok(Some(with_trace_fields(shard, reply)))
}

/// The preparedTransactionOffset of a committed transactional message: END_TRANSACTION names
/// the half message in `PREPARED_TRANSACTION_OFFSET_FIELD`; any other send stores 0.
fn committed_half_offset(request: &Command, header: &SendMessageRequestHeader) -> i64 {
    if header.sys_flag & sys_flag::TRANSACTION_MASK != sys_flag::TRANSACTION_COMMIT {
        return 0;
    }
    let field = request.ext_fields.get(super::transaction::PREPARED_TRANSACTION_OFFSET_FIELD);
    field.and_then(|text| text.parse().ok()).unwrap_or(0)
}

/// Waits for what the configuration promises before a reply: the local fdatasync under
/// SYNC_FLUSH and the slave's acknowledgement under SYNC_MASTER, both at once (protocol §9.3).
/// When both fail the replica's status is the reply's code, as with Java.
async fn wait_for_copies(shard: &DataShard, results: &[PutResult]) -> i32 {
    let sync_master = shard.context.broker_role == crate::config::BrokerRole::SyncMaster;
    let flush = async {
        if shard.context.sync_flush {
            wait_durable(shard, results).await
        } else {
            response::SUCCESS
        }
    };
    let replica = async {
        match results.last() {
            Some(last) if sync_master => wait_replicated(shard, last.end).await,
            _ => response::SUCCESS,
        }
    };
    let (flushed, replicated) = futures_lite::future::zip(flush, replica).await;
    if replicated != response::SUCCESS {
        replicated
    } else {
        flushed
    }
}

/// SYNC_MASTER: waits until a slave acknowledged everything before `end`. No slave (or one
/// lagging by `haSlaveFallbehindMax`) is SLAVE_NOT_AVAILABLE at once; no acknowledgement in
/// `slaveTimeout` is FLUSH_SLAVE_TIMEOUT. The message is stored either way, and the client
/// gets a send result with that status, not an exception.
async fn wait_replicated(shard: &DataShard, end: crate::store::commit_log::Position) -> i32 {
    let context = &shard.context;
    let Ok(acknowledged) = shard.replicas.wait(end, context.slave_fallbehind_bytes_max, context.slave_timeout) else {
        return response::SLAVE_NOT_AVAILABLE;
    };
    match acknowledged.await {
        Ok(true) => response::SUCCESS,
        _ => response::FLUSH_SLAVE_TIMEOUT,
    }
}

/// Waits for fdatasync of the last record; a timeout is FLUSH_DISK_TIMEOUT (the message is
/// stored, the client treats the code as a soft status), a failed store SERVICE_NOT_AVAILABLE.
async fn wait_durable(shard: &DataShard, results: &[PutResult]) -> i32 {
    let Some(last) = results.last() else { return response::SUCCESS };
    match shard.store.durable_within(last.end, shard.context.sync_flush_timeout).await {
        Ok(Ok(())) => response::SUCCESS,
        Ok(Err(DurabilityError::TimedOut)) => response::FLUSH_DISK_TIMEOUT,
        Ok(Err(DurabilityError::Failed(_))) | Err(_) => response::SERVICE_NOT_AVAILABLE,
    }
}

/// Adds the broker's properties: CLUSTER, and drops WAIT (Java strips it from non-batch
/// messages). Returns the string to store and whether the sender waits.
fn stored_properties(shard: &DataShard, properties: &str) -> (Properties, bool) {
    let mut parsed = Properties::parse(properties);
    let wait = parsed.remove(property::WAIT).is_none_or(|value| !value.eq_ignore_ascii_case("false"));
    parsed.insert(property::CLUSTER, &shard.context.cluster_name);
    (parsed, wait)
}

fn check_size(shard: &DataShard, body: &[u8]) -> Result<(), RequestError> {
    if body.len() > shard.context.max_message_size_bytes {
        return Err(RequestError::MessageIllegal(format!(
            "the message body size {} exceeds maxMessageSize {}",
            body.len(),
            shard.context.max_message_size_bytes
        )));
    }
    Ok(())
}

fn store_one(
    shard: &DataShard,
    header: &SendMessageRequestHeader,
    body: &Bytes,
    prepared_transaction_offset: i64,
    origin: Origin,
) -> Result<(Vec<PutResult>, bool), RequestError> {
    check_size(shard, body)?;
    let (mut properties, wait) = stored_properties(shard, header.properties.as_deref().unwrap_or(""));
    let target = if is_prepared(header) {
        // A half message waits in RMQ_SYS_TRANS_HALF_TOPIC queue 0, remembers where it goes,
        // and is stored as an ordinary message (protocol §7.8): END_TRANSACTION commits a copy.
        properties.insert(property::REAL_TOPIC, &header.topic);
        properties.insert(property::REAL_QID, &header.queue_id.to_string());
        let sys_flag = header.sys_flag & !sys_flag::TRANSACTION_MASK;
        Target { topic: TRANS_HALF_TOPIC, queue_id: 0, sys_flag }
    } else {
        match delay_level(shard, header) {
            // A delayed message waits in SCHEDULE_TOPIC_XXXX, queue level - 1, and remembers where
            // it goes (protocol §7.7); the scheduler delivers it when due.
            Some(level) => {
                properties.insert(property::REAL_TOPIC, &header.topic);
                properties.insert(property::REAL_QID, &header.queue_id.to_string());
                properties.insert(property::DELAY, &level.to_string());
                Target { topic: SCHEDULE_TOPIC, queue_id: level - 1, sys_flag: header.sys_flag }
            }
            None => Target { topic: &header.topic, queue_id: header.queue_id, sys_flag: header.sys_flag },
        }
    };
    let fields = MessageFields { flag: header.flag, body, properties: &properties, prepared_transaction_offset };
    let result = put(shard, header, target, fields, origin)?;
    Ok((vec![result], wait))
}

fn store_batch(
    shard: &DataShard,
    header: &SendMessageRequestHeader,
    body: &Bytes,
    origin: Origin,
) -> Result<(Vec<PutResult>, bool), RequestError> {
    let entries =
        batch::decode(body, BATCH_MESSAGES_MAX).map_err(|error| RequestError::MessageIllegal(error.to_string()))?;
    if is_prepared(header) {
        return Err(RequestError::MessageIllegal("batch messages cannot be transactional".into()));
    }
    let (batch_properties, wait) = stored_properties(shard, header.properties.as_deref().unwrap_or(""));
    // Every entry is checked before any is stored: a batch is stored whole or refused whole.
    let mut properties = Vec::with_capacity(entries.len());
    for entry in &entries {
        check_size(shard, &entry.body)?;
        let mut entry_properties = Properties::parse(&entry.properties);
        if entry_properties.get(property::DELAY).is_some() {
            return Err(RequestError::MessageIllegal("batch messages cannot carry a delay level".into()));
        }
        entry_properties.remove(property::WAIT);
        for (name, value) in batch_properties.iter() {
            entry_properties.insert(name, value);
        }
        properties.push(entry_properties);
    }
    let encoded: Vec<String> = properties.iter().map(Properties::encode).collect();
    let target = Target { topic: &header.topic, queue_id: header.queue_id, sys_flag: header.sys_flag };
    let messages: Vec<MessageToStore<'_>> = entries
        .iter()
        .zip(&properties)
        .zip(&encoded)
        .map(|((entry, properties), encoded)| {
            let fields =
                MessageFields { flag: entry.flag, body: &entry.body, properties, prepared_transaction_offset: 0 };
            message_to_store(header, target, &fields, encoded, origin)
        })
        .collect();
    let results = shard.store.put_batch(&messages)?;
    shard.parked.borrow_mut().notify(target.topic, target.queue_id);
    Ok((results, wait))
}

/// Where and how a message is stored (differs from the header for delayed and half messages).
#[derive(Clone, Copy)]
struct Target<'a> {
    topic: &'a str,
    queue_id: i32,
    sys_flag: i32,
}

/// A message's own fields: the request's, or a batch entry's.
struct MessageFields<'a> {
    flag: i32,
    body: &'a [u8],
    properties: &'a Properties,
    /// The half message's commit-log offset on a committed transactional message, else 0.
    prepared_transaction_offset: i64,
}

fn put(
    shard: &DataShard,
    header: &SendMessageRequestHeader,
    target: Target<'_>,
    fields: MessageFields<'_>,
    origin: Origin,
) -> Result<PutResult, RequestError> {
    let encoded = fields.properties.encode();
    let result = shard.store.put(&message_to_store(header, target, &fields, &encoded, origin))?;
    shard.parked.borrow_mut().notify(target.topic, target.queue_id);
    Ok(result)
}

/// What the store is given for one message: `encoded` is `fields.properties` encoded.
fn message_to_store<'a>(
    header: &SendMessageRequestHeader,
    target: Target<'a>,
    fields: &MessageFields<'a>,
    encoded: &'a str,
    origin: Origin,
) -> MessageToStore<'a> {
    let tags = fields.properties.get(property::TAGS);
    let mut keys: Vec<&str> = fields.properties.keys().collect();
    if let Some(unique) = fields.properties.get(property::UNIQ_KEY) {
        keys.push(unique);
    }
    MessageToStore {
        topic: target.topic,
        queue_id: target.queue_id,
        flag: fields.flag,
        body: fields.body,
        properties: encoded,
        sys_flag: target.sys_flag,
        born_timestamp: header.born_timestamp,
        born_host: origin.peer,
        reconsume_times: header.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: fields.prepared_transaction_offset,
        tags_code: tags_code(tags),
        keys,
    }
}
