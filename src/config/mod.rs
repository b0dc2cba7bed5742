//! Java `.properties` files, the key schema and the typed configs built from them.
//!
//! ringmq reads the operator's RocketMQ 4.x files unchanged (`shared/DESIGN.md` §6):
//!
//! * [`lexer`] parses exactly like `java.util.Properties.load`, except that trailing whitespace
//!   of a value is trimmed (and reported).
//! * [`schema`] is the one table of every key the 4.9.8 broker and name server read, plus
//!   ringmq's own keys, old spellings and keys 4.x never had.
//! * [`load_broker`] and [`load_namesrv`] apply a file, the command line and the environment,
//!   then the fix-ups `BrokerStartup` applies, and build the [`typed`] configs. Unlike Java,
//!   an unknown key is a warning naming the nearest known key, and a value that does not
//!   parse stops start-up with `FILE:LINE`, the key and what was expected (exit status 2).

pub mod effective;
pub mod host;
pub mod lexer;
mod load;
pub mod report;
pub mod schema;
pub mod typed;
pub mod value;

use std::path::PathBuf;

pub use load::{load_broker, load_namesrv, CONFIG_FILE_BYTES_MAX};
pub use report::{ConfigError, ConfigErrorKind, Origin, Severity, Warning};
pub use typed::{BrokerConfig, BrokerRole, FlushDiskType, NamesrvConfig, NetConfig, StoreConfig, SyncFlushMethod};

use effective::Values;
use schema::Process;

/// Command-line values that override the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `-n`: replaces `namesrvAddr` from the file.
    pub namesrv_addr: Option<String>,
}

/// Everything `ringmq broker` needs from its configuration.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    pub broker: BrokerConfig,
    pub store: StoreConfig,
    pub net: NetConfig,
    /// Every key of the Broker, Store, NettyServer, NettyClient and ringmq sections, then every
    /// unknown key of the file, with its effective value: for `-p` and GET_BROKER_CONFIG.
    pub effective: Vec<(String, String)>,
    /// The `-c` file, where UPDATE_BROKER_CONFIG persists.
    pub source: Option<PathBuf>,
}

impl BrokerSettings {
    /// The nameserver to embed when no name-server address is configured: defaults, on
    /// `namesrvListenPort`. `None` when the broker registers with external nameservers.
    pub fn embedded_namesrv(&self) -> Option<NamesrvSettings> {
        if !self.broker.namesrv_addrs.is_empty() {
            return None;
        }
        let port = self.broker.namesrv_listen_port;
        let mut values = Values::defaults(Process::Namesrv);
        values.set("listenPort", port.to_string(), Origin::Default);
        let net = NetConfig { listen_port: port, channel_idle_seconds: self.net.channel_idle_seconds };
        values.set_text("serverChannelMaxIdleTimeSeconds", net.channel_idle_seconds.to_string());
        Some(NamesrvSettings { namesrv: NamesrvConfig::defaults(), net, effective: values.effective(), source: None })
    }
}

/// Everything `ringmq namesrv` needs from its configuration.
#[derive(Clone, Debug)]
pub struct NamesrvSettings {
    pub namesrv: NamesrvConfig,
    pub net: NetConfig,
    /// Every key of the Namesrv and NettyServer sections, then the file's unknown keys.
    pub effective: Vec<(String, String)>,
    pub source: Option<PathBuf>,
}

/// `-p`: every effective key as a `key=value` line.
pub fn print_all(settings_effective: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in settings_effective {
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// `-m`: the `@ImportantField` keys (and ringmq's important ones) as `key=value` lines.
pub fn print_important(settings: &BrokerSettings) -> String {
    let important: Vec<(String, String)> = settings
        .effective
        .iter()
        .filter(|(key, _)| schema::find(Process::Broker, key).is_some_and(|row| row.important))
        .cloned()
        .collect();
    print_all(&important)
}
