//! Every typed header of protocol §3, by request family. Field names are Java's, exactly; the
//! mapping from Java names to Rust fields lives here and nowhere else.

use super::command::ExtFields;
use super::header::{header, Header, HeaderError};

// ---------------------------------------------------------------------------------------------
// Send (§3.1)

header! {
    /// SEND_MESSAGE (10) with long names; also what SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE
    /// (320) decode to (see [`SendMessageRequestHeaderV2`]).
    pub struct SendMessageRequestHeader {
        producer_group: String => "producerGroup",
        topic: String => "topic",
        default_topic: String => "defaultTopic",
        default_topic_queue_nums: i32 => "defaultTopicQueueNums",
        /// Negative: the broker picks a queue.
        queue_id: i32 => "queueId",
        sys_flag: i32 => "sysFlag",
        born_timestamp: i64 => "bornTimestamp",
        flag: i32 => "flag",
        properties: Option<String> => "properties",
        reconsume_times: Option<i32> => "reconsumeTimes",
        unit_mode: Option<bool> => "unitMode",
        /// The C++ 1.0.1 client sends batches as code 10 with `batch=1`.
        batch: Option<bool> => "batch",
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
    }
}

header! {
    /// SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320): the same fields under one-letter keys.
    pub struct SendMessageRequestHeaderV2 {
        a: String => "a",
        b: String => "b",
        c: String => "c",
        d: i32 => "d",
        e: i32 => "e",
        f: i32 => "f",
        g: i64 => "g",
        h: i32 => "h",
        i: Option<String> => "i",
        j: Option<i32> => "j",
        k: Option<bool> => "k",
        l: Option<i32> => "l",
        m: Option<bool> => "m",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        Self {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        Self {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
        }
    }
}

impl SendMessageRequestHeader {
    /// Decodes the header of any send code: long names for 10, one-letter keys for 310 and 320.
    pub fn decode_for(code: i32, ext: &ExtFields) -> Result<Self, HeaderError> {
        use super::codes::request;
        match code {
            request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
                SendMessageRequestHeaderV2::decode(ext).map(Self::from)
            }
            _ => Self::decode(ext),
        }
    }
}

header! {
    /// Response to the send codes, for SUCCESS and the three "stored" codes 10/11/12.
    pub struct SendMessageResponseHeader {
        /// offsetMsgId; comma-joined for a batch.
        msg_id: String => "msgId",
        queue_id: i32 => "queueId",
        queue_offset: i64 => "queueOffset",
        transaction_id: Option<String> => "transactionId",
    }
}

// ---------------------------------------------------------------------------------------------
// Pull (§3.2)

header! {
    pub struct PullMessageRequestHeader {
        consumer_group: String => "consumerGroup",
        topic: String => "topic",
        queue_id: i32 => "queueId",
        queue_offset: i64 => "queueOffset",
        max_msg_nums: i32 => "maxMsgNums",
        sys_flag: i32 => "sysFlag",
        commit_offset: i64 => "commitOffset",
        suspend_timeout_millis: i64 => "suspendTimeoutMillis",
        subscription: Option<String> => "subscription",
        sub_version: i64 => "subVersion",
        expression_type: Option<String> => "expressionType",
        /// 5.x-era clients (rocketmq-client-rust) cap the reply size.
        max_msg_bytes: Option<i32> => "maxMsgBytes",
    }
}

header! {
    /// Required for SUCCESS, PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY and PULL_OFFSET_MOVED.
    pub struct PullMessageResponseHeader {
        suggest_which_broker_id: i64 => "suggestWhichBrokerId",
        next_begin_offset: i64 => "nextBeginOffset",
        min_offset: i64 => "minOffset",
        max_offset: i64 => "maxOffset",
    }
}

// ---------------------------------------------------------------------------------------------
// Offsets (§3.3)

header! {
    pub struct QueryConsumerOffsetRequestHeader {
        consumer_group: String => "consumerGroup",
        topic: String => "topic",
        queue_id: i32 => "queueId",
    }
}

header! {
    pub struct UpdateConsumerOffsetRequestHeader {
        consumer_group: String => "consumerGroup",
        topic: String => "topic",
        queue_id: i32 => "queueId",
        commit_offset: i64 => "commitOffset",
    }
}

header! {
    /// GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).
    pub struct QueueRequestHeader {
        topic: String => "topic",
        queue_id: i32 => "queueId",
    }
}

header! {
    pub struct SearchOffsetRequestHeader {
        topic: String => "topic",
        queue_id: i32 => "queueId",
        timestamp: i64 => "timestamp",
    }
}

header! {
    /// Response of QUERY_CONSUMER_OFFSET, GET_MAX_OFFSET, GET_MIN_OFFSET, SEARCH_OFFSET.
    pub struct OffsetResponseHeader {
        offset: i64 => "offset",
    }
}

header! {
    pub struct GetEarliestMsgStoretimeResponseHeader {
        timestamp: i64 => "timestamp",
    }
}

// ---------------------------------------------------------------------------------------------
// Client management (§3.4)

header! {
    pub struct UnregisterClientRequestHeader {
        client_id: String => "clientID",
        producer_group: Option<String> => "producerGroup",
        consumer_group: Option<String> => "consumerGroup",
    }
}

header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38) and NOTIFY_CONSUMER_IDS_CHANGED (40).
    pub struct ConsumerGroupRequestHeader {
        consumer_group: String => "consumerGroup",
    }
}

// ---------------------------------------------------------------------------------------------
// Retry, transaction, query (§3.5)

header! {
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the consumed message.
        offset: i64 => "offset",
        group: String => "group",
        delay_level: i32 => "delayLevel",
        origin_msg_id: Option<String> => "originMsgId",
        origin_topic: Option<String> => "originTopic",
        unit_mode: Option<bool> => "unitMode",
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
    }
}

header! {
    pub struct EndTransactionRequestHeader {
        producer_group: String => "producerGroup",
        tran_state_table_offset: i64 => "tranStateTableOffset",
        commit_log_offset: i64 => "commitLogOffset",
        commit_or_rollback: i32 => "commitOrRollback",
        from_transaction_check: Option<bool> => "fromTransactionCheck",
        msg_id: Option<String> => "msgId",
        transaction_id: Option<String> => "transactionId",
    }
}

header! {
    pub struct CheckTransactionStateRequestHeader {
        tran_state_table_offset: i64 => "tranStateTableOffset",
        commit_log_offset: i64 => "commitLogOffset",
        msg_id: Option<String> => "msgId",
        transaction_id: Option<String> => "transactionId",
        offset_msg_id: Option<String> => "offsetMsgId",
    }
}

header! {
    pub struct ViewMessageRequestHeader {
        offset: i64 => "offset",
    }
}

header! {
    pub struct QueryMessageRequestHeader {
        topic: String => "topic",
        key: String => "key",
        max_num: i32 => "maxNum",
        begin_timestamp: i64 => "beginTimestamp",
        end_timestamp: i64 => "endTimestamp",
        /// The extra ext field `_UNIQUE_KEY_QUERY`.
        unique_key_query: Option<bool> => "_UNIQUE_KEY_QUERY",
    }
}

header! {
    pub struct QueryMessageResponseHeader {
        index_last_update_timestamp: i64 => "indexLastUpdateTimestamp",
        index_last_update_phyoffset: i64 => "indexLastUpdatePhyoffset",
    }
}

// ---------------------------------------------------------------------------------------------
// Nameserver (§3.6)

header! {
    pub struct RegisterBrokerRequestHeader {
        broker_name: String => "brokerName",
        broker_addr: String => "brokerAddr",
        cluster_name: String => "clusterName",
        ha_server_addr: String => "haServerAddr",
        broker_id: i64 => "brokerId",
        compressed: Option<bool> => "compressed",
        body_crc32: Option<i32> => "bodyCrc32",
    }
}

header! {
    pub struct RegisterBrokerResponseHeader {
        ha_server_addr: Option<String> => "haServerAddr",
        master_addr: Option<String> => "masterAddr",
    }
}

header! {
    /// UNREGISTER_BROKER (104) and QUERY_DATA_VERSION (322).
    pub struct BrokerIdentityRequestHeader {
        broker_name: String => "brokerName",
        broker_addr: String => "brokerAddr",
        cluster_name: String => "clusterName",
        broker_id: i64 => "brokerId",
    }
}

header! {
    pub struct QueryDataVersionResponseHeader {
        changed: bool => "changed",
    }
}

header! {
    pub struct GetRouteInfoRequestHeader {
        topic: String => "topic",
        accept_standard_json_only: Option<bool> => "acceptStandardJsonOnly",
    }
}

header! {
    pub struct GetTopicsByClusterRequestHeader {
        cluster: String => "cluster",
    }
}

header! {
    pub struct DeleteTopicInNamesrvRequestHeader {
        topic: String => "topic",
        cluster_name: Option<String> => "clusterName",
    }
}

header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205) and ADD_WRITE_PERM_OF_BROKER (327).
    pub struct BrokerNameRequestHeader {
        broker_name: String => "brokerName",
    }
}

header! {
    pub struct WipeWritePermResponseHeader {
        wipe_topic_count: i32 => "wipeTopicCount",
    }
}

header! {
    pub struct AddWritePermResponseHeader {
        add_topic_count: i32 => "addTopicCount",
    }
}

header! {
    pub struct PutKvConfigRequestHeader {
        namespace: String => "namespace",
        key: String => "key",
        value: String => "value",
    }
}

header! {
    /// GET_KV_CONFIG (101) and DELETE_KV_CONFIG (102).
    pub struct KvConfigKeyRequestHeader {
        namespace: String => "namespace",
        key: String => "key",
    }
}

header! {
    pub struct GetKvConfigResponseHeader {
        value: Option<String> => "value",
    }
}

header! {
    pub struct GetKvListByNamespaceRequestHeader {
        namespace: String => "namespace",
    }
}

// ---------------------------------------------------------------------------------------------
// Broker admin (§3.7)

header! {
    pub struct CreateTopicRequestHeader {
        topic: String => "topic",
        default_topic: String => "defaultTopic",
        read_queue_nums: i32 => "readQueueNums",
        write_queue_nums: i32 => "writeQueueNums",
        perm: i32 => "perm",
        topic_filter_type: String => "topicFilterType",
        topic_sys_flag: Option<i32> => "topicSysFlag",
        order: bool => "order",
    }
}

header! {
    /// DELETE_TOPIC_IN_BROKER (215), GET_TOPIC_STATS_INFO (202), QUERY_TOPIC_CONSUME_BY_WHO (300).
    pub struct TopicRequestHeader {
        topic: String => "topic",
    }
}

header! {
    pub struct DeleteSubscriptionGroupRequestHeader {
        group_name: String => "groupName",
        remove_offset: Option<bool> => "removeOffset",
    }
}

header! {
    pub struct GetConsumeStatsRequestHeader {
        consumer_group: String => "consumerGroup",
        topic: Option<String> => "topic",
    }
}

header! {
    pub struct GetProducerConnectionListRequestHeader {
        producer_group: String => "producerGroup",
    }
}

header! {
    pub struct GetBrokerConfigResponseHeader {
        /// DataVersion JSON.
        version: String => "version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codes::request;

    #[test]
    fn v2_send_header_decodes_to_long_names() {
        let mut ext = ExtFields::new();
        for (key, value) in [
            ("a", "pg"),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "2"),
            ("f", "0"),
            ("g", "1650000000000"),
            ("h", "0"),
            ("i", "TAGS\u{1}TagA"),
            ("j", "0"),
            ("k", "false"),
            ("m", "1"),
            ("n", "broker-a"),
        ] {
            ext.insert(key, value);
        }
        let header = SendMessageRequestHeader::decode_for(request::SEND_MESSAGE_V2, &ext).unwrap();
        assert_eq!(header.producer_group, "pg");
        assert_eq!(header.queue_id, 2);
        assert_eq!(header.born_timestamp, 1_650_000_000_000);
        assert_eq!(header.batch, Some(true));
        assert_eq!(header.max_reconsume_times, None);
        let mut round = ExtFields::new();
        SendMessageRequestHeaderV2::from(header.clone()).encode(&mut round);
        assert_eq!(SendMessageRequestHeader::decode_for(320, &round).unwrap(), header);
    }
}
