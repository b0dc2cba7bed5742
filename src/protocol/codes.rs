//! Request, response and language code tables (protocol §2).
//!
//! Codes are kept as plain `i32` constants grouped in modules rather than enums: a broker must
//! carry unknown request codes far enough to answer REQUEST_CODE_NOT_SUPPORTED, and an enum
//! would need a catch-all variant on every match anyway.

/// Request codes (protocol §2.2, 4.9.4 numbering, identical in 4.9.8).
pub mod request {
    pub const SEND_MESSAGE: i32 = 10;
    pub const PULL_MESSAGE: i32 = 11;
    pub const QUERY_MESSAGE: i32 = 12;
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    pub const GET_BROKER_CONFIG: i32 = 26;
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    pub const GET_MAX_OFFSET: i32 = 30;
    pub const GET_MIN_OFFSET: i32 = 31;
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    pub const HEART_BEAT: i32 = 34;
    pub const UNREGISTER_CLIENT: i32 = 35;
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    pub const END_TRANSACTION: i32 = 37;
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    pub const LOCK_BATCH_MQ: i32 = 41;
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    pub const GET_ALL_CONSUMER_OFFSET: i32 = 43;
    pub const GET_ALL_DELAY_OFFSET: i32 = 45;
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    pub const PUT_KV_CONFIG: i32 = 100;
    pub const GET_KV_CONFIG: i32 = 101;
    pub const DELETE_KV_CONFIG: i32 = 102;
    pub const REGISTER_BROKER: i32 = 103;
    pub const UNREGISTER_BROKER: i32 = 104;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    pub const GET_CONSUME_STATS: i32 = 208;
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    pub const SEND_MESSAGE_V2: i32 = 310;
    pub const GET_UNIT_TOPIC_LIST: i32 = 311;
    pub const GET_HAS_UNIT_SUB_TOPIC_LIST: i32 = 312;
    pub const GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: i32 = 313;
    pub const UPDATE_NAMESRV_CONFIG: i32 = 318;
    pub const GET_NAMESRV_CONFIG: i32 = 319;
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    pub const QUERY_DATA_VERSION: i32 = 322;
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;

    /// The Java constant name of a request code, for logs and errors.
    pub fn name(code: i32) -> Option<&'static str> {
        NAMES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
    }

    const NAMES: &[(i32, &str)] = &[
        (SEND_MESSAGE, "SEND_MESSAGE"),
        (PULL_MESSAGE, "PULL_MESSAGE"),
        (QUERY_MESSAGE, "QUERY_MESSAGE"),
        (QUERY_CONSUMER_OFFSET, "QUERY_CONSUMER_OFFSET"),
        (UPDATE_CONSUMER_OFFSET, "UPDATE_CONSUMER_OFFSET"),
        (UPDATE_AND_CREATE_TOPIC, "UPDATE_AND_CREATE_TOPIC"),
        (GET_ALL_TOPIC_CONFIG, "GET_ALL_TOPIC_CONFIG"),
        (UPDATE_BROKER_CONFIG, "UPDATE_BROKER_CONFIG"),
        (GET_BROKER_CONFIG, "GET_BROKER_CONFIG"),
        (GET_BROKER_RUNTIME_INFO, "GET_BROKER_RUNTIME_INFO"),
        (SEARCH_OFFSET_BY_TIMESTAMP, "SEARCH_OFFSET_BY_TIMESTAMP"),
        (GET_MAX_OFFSET, "GET_MAX_OFFSET"),
        (GET_MIN_OFFSET, "GET_MIN_OFFSET"),
        (GET_EARLIEST_MSG_STORETIME, "GET_EARLIEST_MSG_STORETIME"),
        (VIEW_MESSAGE_BY_ID, "VIEW_MESSAGE_BY_ID"),
        (HEART_BEAT, "HEART_BEAT"),
        (UNREGISTER_CLIENT, "UNREGISTER_CLIENT"),
        (CONSUMER_SEND_MSG_BACK, "CONSUMER_SEND_MSG_BACK"),
        (END_TRANSACTION, "END_TRANSACTION"),
        (GET_CONSUMER_LIST_BY_GROUP, "GET_CONSUMER_LIST_BY_GROUP"),
        (CHECK_TRANSACTION_STATE, "CHECK_TRANSACTION_STATE"),
        (NOTIFY_CONSUMER_IDS_CHANGED, "NOTIFY_CONSUMER_IDS_CHANGED"),
        (LOCK_BATCH_MQ, "LOCK_BATCH_MQ"),
        (UNLOCK_BATCH_MQ, "UNLOCK_BATCH_MQ"),
        (GET_ALL_CONSUMER_OFFSET, "GET_ALL_CONSUMER_OFFSET"),
        (GET_ALL_DELAY_OFFSET, "GET_ALL_DELAY_OFFSET"),
        (CHECK_CLIENT_CONFIG, "CHECK_CLIENT_CONFIG"),
        (PUT_KV_CONFIG, "PUT_KV_CONFIG"),
        (GET_KV_CONFIG, "GET_KV_CONFIG"),
        (DELETE_KV_CONFIG, "DELETE_KV_CONFIG"),
        (REGISTER_BROKER, "REGISTER_BROKER"),
        (UNREGISTER_BROKER, "UNREGISTER_BROKER"),
        (GET_ROUTEINFO_BY_TOPIC, "GET_ROUTEINFO_BY_TOPIC"),
        (GET_BROKER_CLUSTER_INFO, "GET_BROKER_CLUSTER_INFO"),
        (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP"),
        (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, "GET_ALL_SUBSCRIPTIONGROUP_CONFIG"),
        (GET_TOPIC_STATS_INFO, "GET_TOPIC_STATS_INFO"),
        (GET_CONSUMER_CONNECTION_LIST, "GET_CONSUMER_CONNECTION_LIST"),
        (GET_PRODUCER_CONNECTION_LIST, "GET_PRODUCER_CONNECTION_LIST"),
        (WIPE_WRITE_PERM_OF_BROKER, "WIPE_WRITE_PERM_OF_BROKER"),
        (GET_ALL_TOPIC_LIST_FROM_NAMESERVER, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER"),
        (DELETE_SUBSCRIPTIONGROUP, "DELETE_SUBSCRIPTIONGROUP"),
        (GET_CONSUME_STATS, "GET_CONSUME_STATS"),
        (DELETE_TOPIC_IN_BROKER, "DELETE_TOPIC_IN_BROKER"),
        (DELETE_TOPIC_IN_NAMESRV, "DELETE_TOPIC_IN_NAMESRV"),
        (GET_KVLIST_BY_NAMESPACE, "GET_KVLIST_BY_NAMESPACE"),
        (GET_TOPICS_BY_CLUSTER, "GET_TOPICS_BY_CLUSTER"),
        (QUERY_TOPIC_CONSUME_BY_WHO, "QUERY_TOPIC_CONSUME_BY_WHO"),
        (GET_SYSTEM_TOPIC_LIST_FROM_NS, "GET_SYSTEM_TOPIC_LIST_FROM_NS"),
        (SEND_MESSAGE_V2, "SEND_MESSAGE_V2"),
        (GET_UNIT_TOPIC_LIST, "GET_UNIT_TOPIC_LIST"),
        (GET_HAS_UNIT_SUB_TOPIC_LIST, "GET_HAS_UNIT_SUB_TOPIC_LIST"),
        (GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST, "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST"),
        (UPDATE_NAMESRV_CONFIG, "UPDATE_NAMESRV_CONFIG"),
        (GET_NAMESRV_CONFIG, "GET_NAMESRV_CONFIG"),
        (SEND_BATCH_MESSAGE, "SEND_BATCH_MESSAGE"),
        (QUERY_DATA_VERSION, "QUERY_DATA_VERSION"),
        (ADD_WRITE_PERM_OF_BROKER, "ADD_WRITE_PERM_OF_BROKER"),
    ];
}

/// Response codes (protocol §2.3). How 4.x clients react to each is protocol §11.
pub mod response {
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const SYSTEM_BUSY: i32 = 2;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    pub const MESSAGE_ILLEGAL: i32 = 13;
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    pub const NO_PERMISSION: i32 = 16;
    pub const TOPIC_NOT_EXIST: i32 = 17;
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    pub const PULL_NOT_FOUND: i32 = 19;
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    pub const PULL_OFFSET_MOVED: i32 = 21;
    pub const QUERY_NOT_FOUND: i32 = 22;
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    pub const CONSUMER_NOT_ONLINE: i32 = 206;

    /// The Java constant name of a response code, for logs and tools.
    pub fn name(code: i32) -> &'static str {
        match code {
            SUCCESS => "SUCCESS",
            SYSTEM_ERROR => "SYSTEM_ERROR",
            SYSTEM_BUSY => "SYSTEM_BUSY",
            REQUEST_CODE_NOT_SUPPORTED => "REQUEST_CODE_NOT_SUPPORTED",
            FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
            SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
            FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
            MESSAGE_ILLEGAL => "MESSAGE_ILLEGAL",
            SERVICE_NOT_AVAILABLE => "SERVICE_NOT_AVAILABLE",
            VERSION_NOT_SUPPORTED => "VERSION_NOT_SUPPORTED",
            NO_PERMISSION => "NO_PERMISSION",
            TOPIC_NOT_EXIST => "TOPIC_NOT_EXIST",
            TOPIC_EXIST_ALREADY => "TOPIC_EXIST_ALREADY",
            PULL_NOT_FOUND => "PULL_NOT_FOUND",
            PULL_RETRY_IMMEDIATELY => "PULL_RETRY_IMMEDIATELY",
            PULL_OFFSET_MOVED => "PULL_OFFSET_MOVED",
            QUERY_NOT_FOUND => "QUERY_NOT_FOUND",
            SUBSCRIPTION_PARSE_FAILED => "SUBSCRIPTION_PARSE_FAILED",
            SUBSCRIPTION_NOT_EXIST => "SUBSCRIPTION_NOT_EXIST",
            SUBSCRIPTION_NOT_LATEST => "SUBSCRIPTION_NOT_LATEST",
            SUBSCRIPTION_GROUP_NOT_EXIST => "SUBSCRIPTION_GROUP_NOT_EXIST",
            CONSUMER_NOT_ONLINE => "CONSUMER_NOT_ONLINE",
            _ => "UNKNOWN",
        }
    }
}

/// `LanguageCode` (protocol §2.1): a number in binary headers, a name in JSON headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
}

const LANGUAGES: [(Language, &str); 13] = [
    (Language::Java, "JAVA"),
    (Language::Cpp, "CPP"),
    (Language::Dotnet, "DOTNET"),
    (Language::Python, "PYTHON"),
    (Language::Delphi, "DELPHI"),
    (Language::Erlang, "ERLANG"),
    (Language::Ruby, "RUBY"),
    (Language::Other, "OTHER"),
    (Language::Http, "HTTP"),
    (Language::Go, "GO"),
    (Language::Php, "PHP"),
    (Language::Oms, "OMS"),
    (Language::Rust, "RUST"),
];

impl Language {
    pub fn code(self) -> u8 {
        LANGUAGES.iter().position(|(l, _)| *l == self).expect("every variant is in the table") as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        LANGUAGES.get(code as usize).map(|(l, _)| *l)
    }

    pub fn name(self) -> &'static str {
        LANGUAGES[self.code() as usize].1
    }

    pub fn from_name(name: &str) -> Option<Self> {
        LANGUAGES.iter().find(|(_, n)| *n == name).map(|(l, _)| *l)
    }
}

/// `MQVersion.Version` ordinals that matter (protocol §1.7).
pub mod version {
    /// What ringmq puts in every response's `version`: 4.9.8, the operations baseline. Clients
    /// store the HEART_BEAT reply's version as the broker version and refuse SQL92 below 232.
    pub const SERVER: i32 = 409;
    /// Requests at or above 4.9.4 get route JSON with quoted integer keys (protocol §6.4).
    pub const V4_9_4: i32 = 401;

    /// The `V4_9_8`-style name of an ordinal, as mqadmin prints versions.
    pub fn name(ordinal: i32) -> String {
        let known: &[(i32, &str)] = &[
            (37, "V3_0_11"),
            (63, "V3_1_8"),
            (121, "V3_4_9"),
            (213, "V4_0_0"),
            (273, "V4_3_0"),
            (313, "V4_5_0"),
            (315, "V4_5_1"),
            (333, "V4_6_0"),
            (353, "V4_7_0"),
            (355, "V4_7_1"),
            (373, "V4_8_0"),
            (393, "V4_9_0"),
            (399, "V4_9_3"),
            (401, "V4_9_4"),
            (407, "V4_9_7"),
            (409, "V4_9_8"),
            (413, "V5_0_0"),
            (433, "V5_1_0"),
            (473, "V5_3_0"),
        ];
        known
            .iter()
            .find(|(o, _)| *o == ordinal)
            .map(|(_, n)| (*n).to_string())
            .unwrap_or_else(|| format!("V{ordinal}"))
    }
}

/// Topic / queue / broker permission bits (PermName, protocol §5.2).
pub mod perm {
    pub const PRIORITY: i32 = 0x8;
    pub const READ: i32 = 0x4;
    pub const WRITE: i32 = 0x2;
    pub const INHERIT: i32 = 0x1;

    /// As Java's `PermName.perm2String`: `RW-` style.
    pub fn describe(perm: i32) -> String {
        let mut text = String::with_capacity(3);
        text.push(if perm & READ != 0 { 'R' } else { '-' });
        text.push(if perm & WRITE != 0 { 'W' } else { '-' });
        text.push(if perm & INHERIT != 0 { 'X' } else { '-' });
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_round_trip_by_number_and_name() {
        for code in 0..13u8 {
            let language = Language::from_code(code).unwrap();
            assert_eq!(language.code(), code);
            assert_eq!(Language::from_name(language.name()), Some(language));
        }
        assert_eq!(Language::from_code(13), None);
        assert_eq!(Language::Rust.code(), 12);
        assert_eq!(Language::from_name("java"), None);
    }
}
