//! The shard kinds that compose ringmq's mechanisms: the nameserver shard today; the data
//! shards and shard 0's control-plane duties as the broker grows.
//!
//! Errors of request handling are typed ([`RequestError`]) and become RocketMQ response codes in
//! one place, [`RequestError::reply_to`].

pub mod control;
pub mod data;
pub mod messages;
pub mod namesrv;
pub mod routing;

use crate::protocol::{request, response, Command, HeaderError};

/// Why a request failed, as a handler sees it. Mapped to a response code in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// A header field is missing or malformed. Java's broker answers SYSTEM_ERROR after the
    /// NPE such a request causes; we answer the same code with a readable remark.
    Header(HeaderError),
    /// The body does not decode.
    Body(String),
    /// The request code is not served here.
    NotSupported(i32),
    /// Anything else that Java reports as SYSTEM_ERROR.
    System(String),
    /// The message breaks a limit (size, properties, topic length, batch misuse).
    MessageIllegal(String),
    TopicNotExist(String),
    NoPermission(String),
    /// Overload: answered at once instead of queueing without bound.
    Busy(String),
    /// A client's send waited `waitTimeMillsInSendQueue` before its owner shard started it
    /// (`sends_queued`: the sends still waiting on the shard that gave up). Not stored.
    SendQueueTimeout {
        waited_ms: u64,
        sends_queued: usize,
    },
    /// The store refuses writes (disk full, failed fdatasync) or the broker cannot serve.
    ServiceNotAvailable(String),
    SubscriptionNotExist(String),
    SubscriptionParseFailed(String),
    /// A slave refuses what only a master may do (END_TRANSACTION).
    SlaveNotAvailable(String),
}

impl From<crate::store::shard_store::PutError> for RequestError {
    fn from(error: crate::store::shard_store::PutError) -> Self {
        use crate::store::commit_log::AppendError;
        use crate::store::shard_store::PutError;
        match error {
            PutError::Append(AppendError::TooLarge { .. }) | PutError::Illegal(_) => {
                Self::MessageIllegal(error.to_string())
            }
            PutError::Append(AppendError::Busy { .. }) => {
                Self::Busy(format!("[REJECTREQUEST]system busy, start flow control for a while: {error}"))
            }
            PutError::Append(AppendError::Failed(_)) | PutError::DiskFull { .. } => {
                Self::ServiceNotAvailable(format!("service not available now: {error}"))
            }
            // Java's remark for a put on a slave (its store's SERVICE_NOT_AVAILABLE status).
            PutError::Slave => Self::ServiceNotAvailable(
                "service not available now. It may be caused by one of the following reasons: the broker's \
                 disk is full, messages are put to the slave, message store has been shut down, etc."
                    .to_string(),
            ),
            PutError::ConsumeQueue(_) => Self::System(error.to_string()),
        }
    }
}

impl From<HeaderError> for RequestError {
    fn from(error: HeaderError) -> Self {
        Self::Header(error)
    }
}

impl RequestError {
    pub fn response_code(&self) -> i32 {
        match self {
            Self::Header(_) | Self::Body(_) | Self::System(_) => response::SYSTEM_ERROR,
            Self::NotSupported(_) => response::REQUEST_CODE_NOT_SUPPORTED,
            Self::MessageIllegal(_) => response::MESSAGE_ILLEGAL,
            Self::TopicNotExist(_) => response::TOPIC_NOT_EXIST,
            Self::NoPermission(_) => response::NO_PERMISSION,
            Self::Busy(_) | Self::SendQueueTimeout { .. } => response::SYSTEM_BUSY,
            Self::ServiceNotAvailable(_) => response::SERVICE_NOT_AVAILABLE,
            Self::SubscriptionNotExist(_) => response::SUBSCRIPTION_NOT_EXIST,
            Self::SubscriptionParseFailed(_) => response::SUBSCRIPTION_PARSE_FAILED,
            Self::SlaveNotAvailable(_) => response::SLAVE_NOT_AVAILABLE,
        }
    }

    pub fn remark(&self) -> String {
        match self {
            Self::Header(error) => error.to_string(),
            Self::Body(reason)
            | Self::System(reason)
            | Self::MessageIllegal(reason)
            | Self::TopicNotExist(reason)
            | Self::NoPermission(reason)
            | Self::Busy(reason)
            | Self::ServiceNotAvailable(reason)
            | Self::SubscriptionNotExist(reason)
            | Self::SubscriptionParseFailed(reason)
            | Self::SlaveNotAvailable(reason) => reason.clone(),
            // Java's BrokerFastFailure remark, word for word: operators grep for it.
            Self::SendQueueTimeout { waited_ms, sends_queued } => format!(
                "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: {waited_ms}ms, \
                 size of queue: {sends_queued}"
            ),
            Self::NotSupported(code) => match request::name(*code) {
                Some(name) => format!(" request type {code} ({name}) not supported"),
                None => format!(" request type {code} not supported"),
            },
        }
    }

    /// The single place where a handler error becomes a reply.
    pub fn reply_to(&self, request: &Command) -> Command {
        self.reply_as(Command::response_to(request, 0))
    }

    /// The reply, given an empty response to the request (for a handler that gave the request
    /// away: keeping a copy of it for a possible error cost an allocation per field per send).
    pub fn reply_as(&self, response: Command) -> Command {
        Command { code: self.response_code(), ..response }.with_remark(self.remark())
    }
}
