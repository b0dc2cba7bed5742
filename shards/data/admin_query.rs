//! Admin and query requests: VIEW_MESSAGE_BY_ID (33), QUERY_MESSAGE (12), GET_TOPIC_STATS_INFO
//! (202), GET_CONSUME_STATS (208), GET_BROKER_RUNTIME_INFO (28); protocol §3.5, §7.10, §7.11,
//! operations §4.3.
//!
//! VIEW_MESSAGE_BY_ID goes to the shard whose log holds the offset. The others cover several
//! shards: the connection's shard sends the same request, marked with the internal ext field
//! [`PART`], to every shard (`to_owner`); each answers with its own part (records, or a small
//! JSON body) and the connection's shard merges the parts into the reply.

use std::rc::Rc;

use serde_json::{json, Value};

use super::{DataShard, Origin};
use crate::protocol::headers::{
    GetConsumeStatsRequestHeader, QueryMessageRequestHeader, QueryMessageResponseHeader, TopicRequestHeader,
    ViewMessageRequestHeader,
};
use crate::protocol::mq_table::{self, MessageQueue, OffsetWrapper, TopicOffset};
use crate::protocol::{record, request, response, Command, Header};
use crate::shards::RequestError;

/// Marks a per-shard sub-request; its value says which part (`part`, or `topics` for the
/// consume-stats topic list).
const PART: &str = "ringmqPart";
/// The topics a consume-stats part covers, as a JSON array.
const PART_TOPICS: &str = "ringmqTopics";
/// QUERY_MESSAGE caps: `maxMsgsNumBatch` and `defaultQueryMaxNum`.
const QUERY_MAX_NUM: usize = 64;
const UNIQUE_KEY_QUERY_MAX_NUM: usize = 32;

/// On the connection's shard.
pub(super) async fn route(
    shard: &Rc<DataShard>,
    request: Command,
    origin: Origin,
) -> Result<Option<Command>, RequestError> {
    match request.code {
        request::QUERY_MESSAGE => query_message(shard, &request, origin).await.map(Some),
        request::GET_TOPIC_STATS_INFO => topic_stats(shard, &request, origin).await.map(Some),
        request::GET_CONSUME_STATS => consume_stats(shard, &request, origin).await.map(Some),
        request::GET_BROKER_RUNTIME_INFO => runtime_info(shard, &request, origin).await.map(Some),
        code => Err(RequestError::NotSupported(code)),
    }
}

/// On the owner shard: VIEW_MESSAGE_BY_ID, or one shard's part of the others.
pub(super) async fn on_owner(shard: &Rc<DataShard>, request: &Command) -> Result<Option<Command>, RequestError> {
    let reply = match request.code {
        request::VIEW_MESSAGE_BY_ID => view_message(shard, request).await?,
        request::QUERY_MESSAGE => query_part(shard, request).await?,
        request::GET_TOPIC_STATS_INFO => topic_stats_part(shard, request).await?,
        request::GET_CONSUME_STATS => consume_stats_part(shard, request).await?,
        request::GET_BROKER_RUNTIME_INFO => runtime_part(shard, request).await,
        code => return Err(RequestError::NotSupported(code)),
    };
    Ok(Some(reply))
}

/// Sends `request` marked as a part to every shard; the successful replies, in shard order.
async fn gather(
    shard: &Rc<DataShard>,
    request: &Command,
    origin: Origin,
    part: &str,
    extra: Option<(&str, String)>,
) -> Result<Vec<Command>, RequestError> {
    let mut sub = request.clone();
    sub.ext_fields.insert(PART, part);
    if let Some((key, value)) = extra {
        sub.ext_fields.insert(key, value);
    }
    let mut replies = Vec::with_capacity(shard.shard_count);
    for owner in 0..shard.shard_count {
        match shard.to_owner(owner, sub.clone(), origin).await {
            Some(reply) if reply.code == response::SUCCESS => replies.push(reply),
            Some(reply) => {
                return Err(RequestError::System(format!(
                    "shard {owner}: {}",
                    reply.remark.unwrap_or_else(|| format!("code {}", reply.code))
                )))
            }
            None => return Err(RequestError::System(format!("shard {owner} did not answer"))),
        }
    }
    Ok(replies)
}

fn json_part(request: &Command, value: &Value) -> Command {
    Command::response_to(request, response::SUCCESS).with_body(serde_json::to_vec(value).expect("json"))
}

fn part_json(reply: &Command) -> Value {
    serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
}

// --- Message counters ------------------------------------------------------------------------

thread_local! {
    /// Messages stored and messages pulled since boot, per shard (keyed by shard so that shards
    /// sharing a thread, as in tests, keep separate counts).
    static COUNTERS: std::cell::RefCell<std::collections::HashMap<usize, (i64, i64)>> = Default::default();
}

/// Counts the messages of a finished send (its msgIds) or pull (its records) on the owner.
pub(super) fn count(shard: usize, request: &Command, result: &Result<Option<Command>, RequestError>) {
    let Ok(Some(reply)) = result else { return };
    let (put, get) = match request.code {
        request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
            match reply.ext_fields.get("msgId") {
                Some(ids) if !ids.is_empty() => (ids.split(',').count() as i64, 0),
                _ => return,
            }
        }
        request::PULL_MESSAGE if reply.code == response::SUCCESS => (0, record_count(&reply.body) as i64),
        _ => return,
    };
    COUNTERS.with(|counters| {
        let mut counters = counters.borrow_mut();
        let entry = counters.entry(shard).or_default();
        entry.0 += put;
        entry.1 += get;
    });
}

fn counters(shard: usize) -> (i64, i64) {
    COUNTERS.with(|counters| counters.borrow().get(&shard).copied().unwrap_or_default())
}

fn record_count(mut rest: &[u8]) -> usize {
    let mut count = 0;
    while let Some((size, _)) = record::peek_size_and_magic(rest) {
        let size = size.max(0) as usize;
        if size == 0 || size > rest.len() {
            break;
        }
        rest = &rest[size..];
        count += 1;
    }
    count
}

// --- VIEW_MESSAGE_BY_ID ----------------------------------------------------------------------

async fn view_message(shard: &DataShard, request: &Command) -> Result<Command, RequestError> {
    let header = ViewMessageRequestHeader::decode(&request.ext_fields)?;
    let not_found = || RequestError::System(format!("can not find message by the offset, {}", header.offset));
    let (_, position) = crate::store::position_of(header.offset);
    if header.offset < 0 || position >= shard.store.log().appended() {
        return Err(not_found());
    }
    let bytes = shard.store.read_unsized(header.offset).await.map_err(|_| not_found())?;
    match record::decode(&bytes) {
        Ok(decoded) if decoded.physical_offset == header.offset => {}
        _ => return Err(not_found()),
    }
    Ok(Command::response_to(request, response::SUCCESS).with_body(bytes))
}

// --- QUERY_MESSAGE -----------------------------------------------------------------------------

fn query_max_num(header: &QueryMessageRequestHeader) -> usize {
    if header.unique_key_query == Some(true) {
        return UNIQUE_KEY_QUERY_MAX_NUM;
    }
    (header.max_num.max(1) as usize).min(QUERY_MAX_NUM)
}

async fn query_part(shard: &DataShard, request: &Command) -> Result<Command, RequestError> {
    let header = QueryMessageRequestHeader::decode(&request.ext_fields)?;
    let count_max = query_max_num(&header);
    let records = shard
        .store
        .query_by_key(&header.topic, &header.key, count_max, header.begin_timestamp, header.end_timestamp)
        .await;
    let (timestamp, offset) = shard.store.index().as_ref().map_or((0, 0), |index| index.last_update());
    let mut reply = Command::response_to(request, response::SUCCESS);
    QueryMessageResponseHeader { index_last_update_timestamp: timestamp, index_last_update_phyoffset: offset }
        .encode(&mut reply.ext_fields);
    Ok(reply.with_body(records.concat()))
}

async fn query_message(shard: &Rc<DataShard>, request: &Command, origin: Origin) -> Result<Command, RequestError> {
    let header = QueryMessageRequestHeader::decode(&request.ext_fields)?;
    let count_max = query_max_num(&header);
    let parts = gather(shard, request, origin, "part", None).await?;
    let mut body = Vec::new();
    let mut count = 0usize;
    let (mut timestamp, mut offset) = (0i64, 0i64);
    for part in &parts {
        if let Ok(part_header) = QueryMessageResponseHeader::decode(&part.ext_fields) {
            timestamp = timestamp.max(part_header.index_last_update_timestamp);
            offset = offset.max(part_header.index_last_update_phyoffset);
        }
        let mut rest: &[u8] = &part.body;
        while count < count_max {
            let Some((size, _)) = record::peek_size_and_magic(rest) else { break };
            let size = size.max(0) as usize;
            if size == 0 || size > rest.len() {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size..];
            count += 1;
        }
    }
    if body.is_empty() {
        return Ok(Command::response_to(request, response::QUERY_NOT_FOUND)
            .with_remark("can not find message, maybe time range not correct"));
    }
    let mut reply = Command::response_to(request, response::SUCCESS);
    QueryMessageResponseHeader { index_last_update_timestamp: timestamp, index_last_update_phyoffset: offset }
        .encode(&mut reply.ext_fields);
    Ok(reply.with_body(body))
}

// --- GET_TOPIC_STATS_INFO ----------------------------------------------------------------------

/// The store timestamp of the message at `queue_offset` of a queue this shard owns, 0 if none.
async fn store_time(shard: &DataShard, topic: &str, queue_id: i32, queue_offset: i64) -> i64 {
    if queue_offset < 0 {
        return 0;
    }
    let unit =
        shard.store.with_queue(topic, queue_id, |queue| queue.and_then(|queue| queue.get(queue_offset).ok().flatten()));
    let Some(unit) = unit else { return 0 };
    match shard.store.read(unit.commit_log_offset, unit.size_bytes as usize).await {
        Ok(bytes) => record::decode(&bytes).map(|decoded| decoded.store_timestamp).unwrap_or(0),
        Err(_) => 0,
    }
}

/// This shard's queues of `topic` (ids below the topic's write queue count, as Java).
fn owned_queue_ids(shard: &DataShard, topic: &str) -> Option<Vec<i32>> {
    let config = shard.topic(topic)?;
    Some((0..config.write_queue_nums.max(0)).filter(|queue_id| shard.owner(topic, *queue_id) == shard.shard).collect())
}

fn min_max(shard: &DataShard, topic: &str, queue_id: i32) -> (i64, i64) {
    shard.store.with_queue(topic, queue_id, |queue| {
        queue.map_or((0, 0), |queue| (queue.min_offset().max(0), queue.max_offset().max(0)))
    })
}

async fn topic_stats_part(shard: &DataShard, request: &Command) -> Result<Command, RequestError> {
    let header = TopicRequestHeader::decode(&request.ext_fields)?;
    let queue_ids = owned_queue_ids(shard, &header.topic).unwrap_or_default();
    let mut rows = Vec::new();
    for queue_id in queue_ids {
        let (min, max) = min_max(shard, &header.topic, queue_id);
        let last = if max > 0 { store_time(shard, &header.topic, queue_id, max - 1).await } else { 0 };
        rows.push(json!([queue_id, min, max, last]));
    }
    Ok(json_part(request, &Value::Array(rows)))
}

async fn topic_stats(shard: &Rc<DataShard>, request: &Command, origin: Origin) -> Result<Command, RequestError> {
    let header = TopicRequestHeader::decode(&request.ext_fields)?;
    if shard.topic(&header.topic).is_none() {
        return Err(RequestError::TopicNotExist(format!("topic[{}] not exist", header.topic)));
    }
    let parts = gather(shard, request, origin, "part", None).await?;
    let mut entries = Vec::new();
    for part in &parts {
        for row in part_json(part).as_array().into_iter().flatten() {
            let number = |index: usize| row[index].as_i64().unwrap_or(0);
            let queue = MessageQueue {
                topic: header.topic.clone(),
                broker_name: shard.context.broker_name.clone(),
                queue_id: number(0) as i32,
            };
            entries.push((
                queue,
                TopicOffset { min_offset: number(1), max_offset: number(2), last_update_timestamp: number(3) },
            ));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Command::response_to(request, response::SUCCESS).with_body(mq_table::topic_stats_json(&entries)))
}

// --- GET_CONSUME_STATS -------------------------------------------------------------------------

async fn consume_stats_part(shard: &DataShard, request: &Command) -> Result<Command, RequestError> {
    let header = GetConsumeStatsRequestHeader::decode(&request.ext_fields)?;
    if request.ext_fields.get(PART) == Some("topics") {
        let topics: Vec<String> =
            shard.offsets.borrow().table.topics_of_group(&header.consumer_group).into_iter().collect();
        return Ok(json_part(request, &json!(topics)));
    }
    let topics: Vec<String> =
        request.ext_fields.get(PART_TOPICS).and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let mut rows = Vec::new();
    for topic in topics {
        let Some(queue_ids) = owned_queue_ids(shard, &topic) else { continue };
        for queue_id in queue_ids {
            let (_, broker_offset) = min_max(shard, &topic, queue_id);
            let committed = shard.offsets.borrow().table.query(&header.consumer_group, &topic, queue_id);
            let consumer_offset = committed.unwrap_or(0).max(0);
            let last =
                if consumer_offset > 0 { store_time(shard, &topic, queue_id, consumer_offset - 1).await } else { 0 };
            rows.push(json!([topic, queue_id, broker_offset, consumer_offset, last]));
        }
    }
    Ok(json_part(request, &Value::Array(rows)))
}

async fn consume_stats(shard: &Rc<DataShard>, request: &Command, origin: Origin) -> Result<Command, RequestError> {
    let header = GetConsumeStatsRequestHeader::decode(&request.ext_fields)?;
    let topics: Vec<String> = match header.topic.as_deref().filter(|topic| !topic.is_empty()) {
        Some(topic) => vec![topic.to_string()],
        None => {
            let mut topics = std::collections::BTreeSet::new();
            for part in gather(shard, request, origin, "topics", None).await? {
                for topic in part_json(&part).as_array().into_iter().flatten() {
                    topics.insert(topic.as_str().unwrap_or_default().to_string());
                }
            }
            topics.into_iter().collect()
        }
    };
    let mut entries = Vec::new();
    if !topics.is_empty() {
        let listed = serde_json::to_string(&topics).expect("json");
        for part in gather(shard, request, origin, "part", Some((PART_TOPICS, listed))).await? {
            for row in part_json(&part).as_array().into_iter().flatten() {
                let number = |index: usize| row[index].as_i64().unwrap_or(0);
                let queue = MessageQueue {
                    topic: row[0].as_str().unwrap_or_default().to_string(),
                    broker_name: shard.context.broker_name.clone(),
                    queue_id: number(1) as i32,
                };
                let wrapper =
                    OffsetWrapper { broker_offset: number(2), consumer_offset: number(3), last_timestamp: number(4) };
                entries.push((queue, wrapper));
            }
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Command::response_to(request, response::SUCCESS).with_body(mq_table::consume_stats_json(0.0, &entries)))
}

// --- GET_BROKER_RUNTIME_INFO -------------------------------------------------------------------

async fn runtime_part(shard: &DataShard, request: &Command) -> Command {
    let (min_position, appended, sync_count) = {
        let log = shard.store.log();
        (log.min_position(), log.appended(), log.sync_count())
    };
    let shard_id = shard.shard as u16;
    let min_offset = crate::store::commit_log_offset(shard_id, min_position);
    let max_offset = crate::store::commit_log_offset(shard_id, appended);
    let mut earliest = -1i64;
    if appended > min_position {
        if let Ok(bytes) = shard.store.read_unsized(min_offset).await {
            if let Ok(decoded) = record::decode(&bytes) {
                earliest = decoded.store_timestamp;
            }
        }
    }
    let disk = disk_usage(&shard.store.options.root);
    let (put_total, get_total) = counters(shard.shard);
    json_part(
        request,
        &json!({
            "minOffset": min_offset,
            "maxOffset": max_offset,
            "earliest": earliest,
            "diskTotal": disk.map_or(0, |(total, _)| total),
            "diskFree": disk.map_or(0, |(_, free)| free),
            "putTotal": put_total,
            "getTotal": get_total,
            "syncCount": sync_count,
        }),
    )
}

/// (total bytes, free bytes) of the file system holding `path`.
fn disk_usage(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let text = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(text.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    let block = stats.f_frsize as u64;
    Some((stats.f_blocks as u64 * block, stats.f_bavail as u64 * block))
}

/// `MixAll.humanReadableByteCount(bytes, false)`: binary units, one decimal.
pub fn human_readable_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exponent = ((bytes as f64).ln() / 1024f64.ln()).floor() as i32;
    let unit = ["K", "M", "G", "T", "P", "E"][(exponent - 1).clamp(0, 5) as usize];
    format!("{:.1} {unit}iB", bytes as f64 / 1024f64.powi(exponent))
}

/// When this process started (ms since the epoch), from /proc; now if unknown.
fn boot_timestamp_ms() -> i64 {
    static BOOT: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| process_start_ms().unwrap_or_else(crate::protocol::now_ms))
}

fn process_start_ms() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 22 (starttime, clock ticks after boot); fields after the `)` of the command name.
    let after = &stat[stat.rfind(')')? + 2..];
    let ticks: u64 = after.split(' ').nth(19)?.parse().ok()?;
    let boot_seconds: i64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hertz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hertz <= 0 {
        return None;
    }
    Some(boot_seconds * 1000 + (ticks * 1000 / hertz as u64) as i64)
}

/// `[ D days, H hours, M minutes, S seconds ]`.
pub fn runtime_text(elapsed_ms: i64) -> String {
    let seconds = elapsed_ms.max(0) / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    )
}

async fn runtime_info(shard: &Rc<DataShard>, request: &Command, origin: Origin) -> Result<Command, RequestError> {
    let parts = gather(shard, request, origin, "part", None).await?;
    let (mut min_offset, mut max_offset, mut earliest) = (i64::MAX, 0i64, -1i64);
    let (mut disk_total, mut disk_free) = (0u64, 0u64);
    let (mut put_total, mut get_total, mut sync_count) = (0i64, 0i64, 0u64);
    for part in &parts {
        let value = part_json(part);
        sync_count += value["syncCount"].as_u64().unwrap_or(0);
        put_total += value["putTotal"].as_i64().unwrap_or(0);
        get_total += value["getTotal"].as_i64().unwrap_or(0);
        min_offset = min_offset.min(value["minOffset"].as_i64().unwrap_or(0));
        max_offset = max_offset.max(value["maxOffset"].as_i64().unwrap_or(0));
        let part_earliest = value["earliest"].as_i64().unwrap_or(-1);
        if part_earliest >= 0 && (earliest < 0 || part_earliest < earliest) {
            earliest = part_earliest;
        }
        // All shards usually share one file system: keep the largest (they are equal then).
        disk_total = disk_total.max(value["diskTotal"].as_u64().unwrap_or(0));
        disk_free = disk_free.max(value["diskFree"].as_u64().unwrap_or(0));
    }
    if min_offset == i64::MAX {
        min_offset = 0;
    }
    let table = runtime_table(RuntimeFacts {
        boot_timestamp_ms: boot_timestamp_ms(),
        now_ms: crate::protocol::now_ms(),
        commit_log_min_offset: min_offset,
        commit_log_max_offset: max_offset,
        earliest_message_ms: earliest,
        disk_total_bytes: disk_total,
        disk_free_bytes: disk_free,
        delay_level_count: shard.context.delay_level_count,
        put_total,
        get_total,
        commit_log_sync_count: sync_count,
    });
    let body = crate::protocol::bodies::to_json(&crate::protocol::bodies::KvTable { table });
    Ok(Command::response_to(request, response::SUCCESS).with_body(body))
}

/// What GET_BROKER_RUNTIME_INFO reports from real state; every other key is a fixed default.
pub struct RuntimeFacts {
    pub boot_timestamp_ms: i64,
    pub now_ms: i64,
    pub commit_log_min_offset: i64,
    pub commit_log_max_offset: i64,
    pub earliest_message_ms: i64,
    pub disk_total_bytes: u64,
    pub disk_free_bytes: u64,
    pub delay_level_count: usize,
    /// Messages stored / pulled since boot, summed over the shards.
    pub put_total: i64,
    pub get_total: i64,
    /// Commit-log fdatasync calls since boot, summed over the shards (not a Java key: the
    /// benchmark divides messages by it to show how well group commit batches).
    pub commit_log_sync_count: u64,
}

/// The KVTable of operations §4.3. Real: bootTimestamp, runtime, brokerVersionDesc,
/// brokerVersion, msgPutTotalTodayNow / msgGetTotalTodayNow (since boot), commitLogMinOffset/MaxOffset (shard-tagged offsets: min and max over the
/// shards), earliestMessageTimeStamp, commitLogDiskRatio/consumeQueueDiskRatio and
/// commitLogDirCapacity (the store's file system). Everything else is 0 or Java's idle value.
pub fn runtime_table(facts: RuntimeFacts) -> std::collections::BTreeMap<String, String> {
    let mut table = std::collections::BTreeMap::new();
    let mut put = |key: &str, value: String| {
        table.insert(key.to_string(), value);
    };
    let ratio = if facts.disk_total_bytes == 0 {
        -1.0
    } else {
        (facts.disk_total_bytes - facts.disk_free_bytes.min(facts.disk_total_bytes)) as f64
            / facts.disk_total_bytes as f64
    };
    put("bootTimestamp", facts.boot_timestamp_ms.to_string());
    put("runtime", runtime_text(facts.now_ms - facts.boot_timestamp_ms));
    put("brokerVersionDesc", "V4_9_8".into());
    put("brokerVersion", "409".into());
    put("commitLogMinOffset", facts.commit_log_min_offset.to_string());
    put("commitLogSyncCount", facts.commit_log_sync_count.to_string());
    put("commitLogMaxOffset", facts.commit_log_max_offset.to_string());
    put("earliestMessageTimeStamp", facts.earliest_message_ms.to_string());
    put("commitLogDiskRatio", format!("{ratio:?}"));
    put("consumeQueueDiskRatio", format!("{ratio:?}"));
    put(
        "commitLogDirCapacity",
        format!(
            "Total : {}, Free : {}.",
            human_readable_bytes(facts.disk_total_bytes),
            human_readable_bytes(facts.disk_free_bytes)
        ),
    );
    for key in ["putTps", "getFoundTps", "getMissTps", "getTotalTps", "getTransferedTps"] {
        put(key, "0.0 0.0 0.0".into());
    }
    put("putLatency99", "0.00".into());
    put("putLatency999", "0.00".into());
    put("putMessageEntireTimeMax", "0".into());
    put("putMessageTimesTotal", "1".into());
    put("putMessageFailedTimes", "0".into());
    put("putMessageSizeTotal", "0".into());
    put(
        "putMessageDistributeTime",
        "[<=0ms]:0 [0~10ms]:0 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 ".into(),
    );
    put("putMessageAverageSize", "0.0".into());
    put("dispatchMaxBuffer", "0".into());
    put("getMessageEntireTimeMax", "0".into());
    for level in 1..=facts.delay_level_count {
        put(&format!("scheduleMessageOffset_{level}"), "0,0".into());
    }
    // Counted since boot, not snapshotted at midnight: "today" is "since boot".
    put("msgPutTotalTodayNow", facts.put_total.to_string());
    put("msgGetTotalTodayNow", facts.get_total.to_string());
    for key in [
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "queryThreadPoolQueueSize",
        "EndTransactionQueueSize",
        "dispatchBehindBytes",
        "pageCacheLockTimeMills",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "queryThreadPoolQueueHeadWaitTimeMills",
    ] {
        put(key, "0".into());
    }
    put("sendThreadPoolQueueCapacity", "10000".into());
    put("pullThreadPoolQueueCapacity", "100000".into());
    put("queryThreadPoolQueueCapacity", "20000".into());
    put("EndTransactionThreadPoolQueueCapacity", "100000".into());
    put("startAcceptSendRequestTimeStamp", "0".into());
    put("remainTransientStoreBufferNumbs", "2147483647".into());
    put("remainHowManyDataToFlush", "0 B".into());
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_table_has_the_exporter_key_set_in_java_formats() {
        let table = runtime_table(RuntimeFacts {
            boot_timestamp_ms: 1_000,
            now_ms: 1_000 + 93_784_000,
            commit_log_min_offset: 0,
            commit_log_max_offset: 4096,
            earliest_message_ms: -1,
            disk_total_bytes: 4 << 30,
            disk_free_bytes: 1 << 30,
            delay_level_count: 18,
            put_total: 5,
            get_total: 3,
            commit_log_sync_count: 7,
        });
        assert_eq!(table["msgPutTotalTodayNow"], "5");
        assert_eq!(table["commitLogSyncCount"], "7");
        assert_eq!(table["msgGetTotalTodayNow"], "3");
        assert_eq!(table["runtime"], "[ 1 days, 2 hours, 3 minutes, 4 seconds ]");
        assert_eq!(table["commitLogDiskRatio"], "0.75");
        assert_eq!(table["commitLogDirCapacity"], "Total : 4.0 GiB, Free : 1.0 GiB.");
        assert_eq!(table["putTps"], "0.0 0.0 0.0");
        assert_eq!(table["earliestMessageTimeStamp"], "-1");
        assert_eq!(table["scheduleMessageOffset_18"], "0,0");
        for key in [
            "bootTimestamp",
            "putMessageEntireTimeMax",
            "putMessageTimesTotal",
            "putMessageSizeTotal",
            "putMessageDistributeTime",
            "putMessageAverageSize",
            "dispatchMaxBuffer",
            "getMessageEntireTimeMax",
            "getFoundTps",
            "getMissTps",
            "getTotalTps",
            "getTransferedTps",
            "consumeQueueDiskRatio",
            "commitLogMinOffset",
            "commitLogMaxOffset",
            "brokerVersionDesc",
            "brokerVersion",
            "msgPutTotalYesterdayMorning",
            "msgGetTotalTodayNow",
            "sendThreadPoolQueueCapacity",
            "pullThreadPoolQueueCapacity",
            "queryThreadPoolQueueSize",
            "queryThreadPoolQueueCapacity",
            "dispatchBehindBytes",
            "pageCacheLockTimeMills",
            "queryThreadPoolQueueHeadWaitTimeMills",
            "startAcceptSendRequestTimeStamp",
            "remainTransientStoreBufferNumbs",
            "remainHowManyDataToFlush",
        ] {
            assert!(table.contains_key(key), "{key}");
        }
        assert_eq!(human_readable_bytes(1536), "1.5 KiB");
        assert_eq!(human_readable_bytes(0), "0 B");
    }
}
