//! mqadmin's broker requests on shard 0's control plane: subscription groups
//! (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP 200, GET_ALL_SUBSCRIPTIONGROUP_CONFIG 201,
//! DELETE_SUBSCRIPTIONGROUP 207), DELETE_TOPIC_IN_BROKER (215) and the broker configuration
//! (GET_BROKER_CONFIG 26, UPDATE_BROKER_CONFIG 25), protocol §3.7, §4.7, §7.11 and operations
//! §1.1.
//!
//! UPDATE_BROKER_CONFIG differs from Java on purpose in how it persists: Java rewrites the whole
//! `-c` file from its all-configs table (comments and order lost, ~190 keys). We rewrite only
//! the logical lines of the changed keys in place and append keys the file did not have
//! ([`rewrite_properties`]), through a temporary file and a rename, keeping a `.bak` of the
//! previous file.

use std::collections::HashSet;
use std::path::PathBuf;

use super::plane::ControlShard;
use super::topics::{check_admin_topic, validate_group_name};
use super::SubscriptionGroupConfig;
use crate::config::BrokerSettings;
use crate::protocol::bodies::DataVersion;
use crate::protocol::headers::{
    DeleteSubscriptionGroupRequestHeader, GetBrokerConfigResponseHeader, TopicRequestHeader,
};
use crate::protocol::{response, Command, Header};
use crate::shards::messages::Origin;
use crate::shards::RequestError;

/// The black list Java uses when `configBlackList` is unset.
const CONFIG_BLACK_LIST_DEFAULT: &str = "configBlackList;brokerConfigPath";

/// The broker's effective configuration as GET/UPDATE_BROKER_CONFIG see it.
#[derive(Clone, Debug)]
pub struct BrokerConfigState {
    /// Every effective key with its value (file order of `BrokerSettings::effective`).
    pub effective: Vec<(String, String)>,
    /// The `-c` file; `None` when the broker started without one (updates stay in memory).
    pub source: Option<PathBuf>,
    pub data_version: DataVersion,
}

impl BrokerConfigState {
    pub fn new(settings: &BrokerSettings) -> Self {
        Self {
            effective: settings.effective.clone(),
            source: settings.source.clone(),
            data_version: DataVersion::now(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.effective.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }

    /// The keys UPDATE_BROKER_CONFIG refuses (`configBlackList`, `;`-separated).
    fn black_list(&self) -> Vec<String> {
        let text = self.get("configBlackList").unwrap_or(CONFIG_BLACK_LIST_DEFAULT);
        text.split(';').map(str::trim).filter(|key| !key.is_empty()).map(str::to_string).collect()
    }

    /// The GET_BROKER_CONFIG body: `key=value` lines.
    pub fn to_properties(&self) -> String {
        crate::config::print_all(&self.effective)
    }

    fn set(&mut self, key: &str, value: &str) {
        match self.effective.iter_mut().find(|(name, _)| name == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.effective.push((key.to_string(), value.to_string())),
        }
    }
}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body = SubscriptionGroupConfig JSON.
pub(super) async fn update_group(plane: &ControlShard, request: &Command) -> Result<Command, RequestError> {
    let config: SubscriptionGroupConfig =
        crate::protocol::json::from_fastjson(&request.body).map_err(RequestError::Body)?;
    validate_group_name(&config.group_name).map_err(|error| RequestError::System(error.to_string()))?;
    plane
        .groups
        .borrow_mut()
        .create_or_update(config.clone())
        .map_err(|error| RequestError::System(error.to_string()))?;
    plane.persist_groups().await;
    tracing::info!("create or update subscription group {:?}", config);
    Ok(Command::response_to(request, response::SUCCESS))
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201).
pub(super) fn all_groups(plane: &ControlShard, request: &Command) -> Result<Command, RequestError> {
    let body = plane.groups.borrow().to_json();
    Ok(Command::response_to(request, response::SUCCESS).with_body(body))
}

/// DELETE_SUBSCRIPTIONGROUP (207). With `removeOffset`, the group's committed offsets go too:
/// they live on the data shard that owns each queue, so the request is sent as queue work to
/// every shard (`consumer_offset.rs` drops the group from its table).
pub(super) async fn delete_group(
    plane: &ControlShard,
    request: &Command,
    origin: Origin,
) -> Result<Command, RequestError> {
    let header = DeleteSubscriptionGroupRequestHeader::decode(&request.ext_fields)?;
    if plane.groups.borrow_mut().delete(&header.group_name).is_some() {
        tracing::info!("delete subscription group {}", header.group_name);
    }
    plane.persist_groups().await;
    if header.remove_offset == Some(true) {
        on_every_shard(plane, request, origin, &format!("removing the offsets of group {}", header.group_name)).await;
    }
    Ok(Command::response_to(request, response::SUCCESS))
}

/// DELETE_TOPIC_IN_BROKER (215), as 4.9.8's `AdminBrokerProcessor.deleteTopic`: a system topic
/// or a bad name is refused (SYSTEM_ERROR), the config goes, and every shard destroys its
/// consume queues of the topic (`cleanUnusedTopic`), so a topic created again under the name
/// starts at queue offset 0.
///
/// Consumer offsets of the topic are kept, as 4.9.8 keeps them: its deleteTopic never touches
/// ConsumerOffsetManager (whose `scanUnsubscribedTopic` nothing calls), so the groups' offsets
/// stay in consumerOffset.json, in GET_ALL_CONSUMER_OFFSET and in QUERY_CONSUMER_OFFSET; a
/// consumer of a re-created topic whose offset lies past the new queue's end is set right by
/// the pull's offset checks. RocketMQ 5.1 added `cleanOffsetByTopic` to deleteTopic; a 4.x
/// broker, which ringmq replaces, does not do it.
pub(super) async fn delete_topic(
    plane: &ControlShard,
    request: &Command,
    origin: Origin,
) -> Result<Command, RequestError> {
    let header = TopicRequestHeader::decode(&request.ext_fields)?;
    check_admin_topic(&header.topic, &plane.identity).map_err(|error| RequestError::System(error.to_string()))?;
    if plane.topics.borrow_mut().delete(&header.topic).is_some() {
        tracing::info!("delete topic {}", header.topic);
    }
    plane.topics_changed().await;
    on_every_shard(plane, request, origin, &format!("removing the consume queues of topic {}", header.topic)).await;
    Ok(Command::response_to(request, response::SUCCESS))
}

/// Sends `request` as queue work to every data shard (this one included) and waits for each;
/// a shard that fails is logged with `what`.
async fn on_every_shard(plane: &ControlShard, request: &Command, origin: Origin, what: &str) {
    let local = plane.local.borrow().upgrade();
    let Some(local) = local else { return };
    for shard in 0..local.shard_count {
        let reply = local.to_owner(shard, request.clone(), origin).await;
        if reply.is_none_or(|reply| reply.code != response::SUCCESS) {
            tracing::warn!("{what} on shard {shard} failed");
        }
    }
}

/// GET_BROKER_CONFIG (26): every effective key, header `version` = DataVersion JSON.
pub(super) fn get_config(plane: &ControlShard, request: &Command) -> Result<Command, RequestError> {
    let state = plane.config.borrow();
    let mut reply = Command::response_to(request, response::SUCCESS).with_body(state.to_properties().into_bytes());
    let version = serde_json::to_string(&state.data_version).expect("a data version serializes");
    GetBrokerConfigResponseHeader { version }.encode(&mut reply.ext_fields);
    Ok(reply)
}

/// UPDATE_BROKER_CONFIG (25): body = properties text.
///
/// Applied live: `brokerPermission` (the next registration, sent at once, caps every topic's
/// perm; the topic data version is bumped so the nameservers take it) and
/// `autoCreateTopicEnable`. The data shards get the new `brokerPermission` with the topic table
/// copy that follows (sends are refused without W). Every other key is recorded in the
/// effective table and the `-c` file but takes effect only at the next restart (ports, paths,
/// thread and shard counts, flush settings, limits, ...).
pub(super) async fn update_config(plane: &ControlShard, request: &Command) -> Result<Command, RequestError> {
    let text = crate::config::lexer::decode(&request.body);
    let lexed = crate::config::lexer::lex(&text).map_err(|error| RequestError::Body(error.to_string()))?;
    if lexed.entries.is_empty() {
        return Ok(Command::response_to(request, response::SUCCESS));
    }
    let black_list = plane.config.borrow().black_list();
    if lexed.entries.iter().any(|entry| black_list.contains(&entry.key)) {
        return Err(RequestError::NoPermission("Can not update config in black list.".into()));
    }
    let updates: Vec<(String, String)> =
        lexed.entries.iter().map(|entry| (entry.key.clone(), entry.value.clone())).collect();
    // Validate the live keys before changing anything.
    let mut permission = None;
    let mut auto_create = None;
    for (key, value) in &updates {
        match key.as_str() {
            "brokerPermission" => match value.trim().parse::<i32>() {
                Ok(parsed) if (0..=7).contains(&parsed) => permission = Some(parsed),
                _ => return Err(RequestError::System(format!("brokerPermission: expected 0..7, got {value:?}"))),
            },
            // Java's Boolean.parseBoolean.
            "autoCreateTopicEnable" => auto_create = Some(value.trim().eq_ignore_ascii_case("true")),
            _ => {}
        }
    }
    let source = {
        let mut state = plane.config.borrow_mut();
        for (key, value) in &updates {
            state.set(key, value);
        }
        state.data_version.next();
        state.source.clone()
    };
    tracing::info!("update broker config: {updates:?}");
    if let Some(enabled) = auto_create {
        plane.topics.borrow_mut().set_auto_create_topic_enable(enabled);
    }
    match &source {
        Some(path) => {
            if let Err(error) = plane.persist_config_file(path, &updates).await {
                tracing::error!("persisting {}: {error}", path.display());
                return Err(RequestError::System(format!(
                    "updated in memory, but writing {}: {error}",
                    path.display()
                )));
            }
        }
        None => tracing::warn!("the broker started without -c: the config update is not persisted"),
    }
    if let Some(permission) = permission {
        plane.broker_permission.set(permission);
        plane.topics.borrow_mut().touch();
        plane.topics_changed().await;
    }
    Ok(Command::response_to(request, response::SUCCESS))
}

/// Rewrites `path` with `updates` applied in place, keeping the previous file as `<path>.bak`.
pub(super) fn persist_config_file(path: &std::path::Path, updates: &[(String, String)]) -> std::io::Result<()> {
    let original = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(error),
    };
    let text = crate::config::lexer::decode(&original);
    let rewritten = rewrite_properties(&text, updates);
    if !original.is_empty() {
        let mut backup = path.as_os_str().to_owned();
        backup.push(".bak");
        crate::store::root::write_durably(std::path::Path::new(&backup), &original)?;
    }
    crate::store::root::write_durably(path, rewritten.as_bytes())
}

/// A natural line without its terminator, and the terminator.
fn split_terminator(line: &str) -> (&str, &str) {
    if let Some(body) = line.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = line.strip_suffix('\n') {
        (body, "\n")
    } else {
        (line, "")
    }
}

/// Whether a natural line continues on the next (an odd number of trailing backslashes).
fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// `original` (a `.properties` text) with each key of `updates` set: every logical line (a
/// `\`-continued value is one logical line) that sets the key is replaced by `key=value` in
/// place; comments, blank lines and the order of the rest are kept; keys the text did not set
/// are appended at the end. A key given twice in `updates` takes its last value.
pub fn rewrite_properties(original: &str, updates: &[(String, String)]) -> String {
    let value_of = |key: &str| updates.iter().rev().find(|(name, _)| name == key).map(|(_, value)| value.as_str());
    let lines: Vec<&str> = original.split_inclusive('\n').collect();
    let mut out = String::with_capacity(original.len() + 64);
    let mut replaced: HashSet<&str> = HashSet::new();
    let mut index = 0;
    while index < lines.len() {
        let (body, _) = split_terminator(lines[index]);
        let content = body.trim_start_matches([' ', '\t', '\x0c']);
        if content.is_empty() || content.starts_with('#') || content.starts_with('!') {
            out.push_str(lines[index]);
            index += 1;
            continue;
        }
        let start = index;
        while continues(split_terminator(lines[index]).0) && index + 1 < lines.len() {
            index += 1;
        }
        let end = index;
        index += 1;
        let logical: String = lines[start..=end].concat();
        let key = crate::config::lexer::lex(&logical).ok().and_then(|lexed| lexed.entries.into_iter().next());
        match key.and_then(|entry| updates.iter().find(|(name, _)| *name == entry.key)) {
            Some((key, _)) => {
                let value = value_of(key).unwrap_or_default();
                let (_, terminator) = split_terminator(lines[end]);
                out.push_str(&escape(key, true));
                out.push('=');
                out.push_str(&escape(value, false));
                out.push_str(if terminator.is_empty() && index < lines.len() { "\n" } else { terminator });
                replaced.insert(key.as_str());
            }
            None => out.push_str(&logical),
        }
    }
    let mut appended: HashSet<&str> = HashSet::new();
    for (key, _) in updates {
        if replaced.contains(key.as_str()) || !appended.insert(key.as_str()) {
            continue;
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&escape(key, true));
        out.push('=');
        out.push_str(&escape(value_of(key).unwrap_or_default(), false));
        out.push('\n');
    }
    out
}

/// `Properties.store`-style escaping, kept minimal for values so operators' files stay readable
/// (`127.0.0.1:9876` is written as is): backslashes, control and non-ASCII characters, a leading
/// blank; in keys also blanks, `=`, `:` and a leading `#`/`!`.
fn escape(text: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for (position, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            ' ' if is_key || position == 0 => out.push_str("\\ "),
            '=' | ':' if is_key => {
                out.push('\\');
                out.push(c);
            }
            '#' | '!' if is_key && position == 0 => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updates(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    #[test]
    fn changed_key_is_replaced_on_its_line_and_comments_and_order_are_kept() {
        let original =
            "# operator comment\nbrokerName=broker-a\n\n! another comment\nbrokerPermission = 6\nlistenPort=10911\n";
        let rewritten = rewrite_properties(original, &updates(&[("brokerPermission", "4")]));
        assert_eq!(
            rewritten,
            "# operator comment\nbrokerName=broker-a\n\n! another comment\nbrokerPermission=4\nlistenPort=10911\n"
        );
    }

    #[test]
    fn new_keys_are_appended_at_the_end() {
        let rewritten = rewrite_properties("# c\nbrokerName=b", &updates(&[("autoCreateTopicEnable", "false")]));
        assert_eq!(rewritten, "# c\nbrokerName=b\nautoCreateTopicEnable=false\n");
        assert_eq!(rewrite_properties("", &updates(&[("k", "v")])), "k=v\n");
    }

    #[test]
    fn a_continued_value_is_replaced_as_one_logical_line() {
        let original = "a=1\nmessageDelayLevel=1s 5s \\\n    10s 30s\\\n  1m\nb=2\n";
        let rewritten = rewrite_properties(original, &updates(&[("messageDelayLevel", "1s 2s")]));
        assert_eq!(rewritten, "a=1\nmessageDelayLevel=1s 2s\nb=2\n");
        // A continued value of another key is left byte for byte.
        let rewritten = rewrite_properties(original, &updates(&[("b", "3")]));
        assert_eq!(rewritten, "a=1\nmessageDelayLevel=1s 5s \\\n    10s 30s\\\n  1m\nb=3\n");
    }

    #[test]
    fn comment_lines_ending_in_a_backslash_do_not_continue_and_crlf_is_kept() {
        let original = "# not continued \\\nk=1\r\nother=2\r\n";
        let rewritten = rewrite_properties(original, &updates(&[("k", "9")]));
        assert_eq!(rewritten, "# not continued \\\nk=9\r\nother=2\r\n");
    }

    #[test]
    fn duplicate_lines_all_take_the_new_value_and_escapes_round_trip() {
        let original = "k=1\nk=2\n";
        assert_eq!(rewrite_properties(original, &updates(&[("k", "3")])), "k=3\nk=3\n");
        let value = " C:\\data\tx é";
        let rewritten = rewrite_properties("", &updates(&[("path key", value)]));
        let lexed = crate::config::lexer::lex(&rewritten).unwrap();
        assert_eq!(lexed.entries[0].key, "path key");
        assert_eq!(lexed.entries[0].value, value);
    }

    #[test]
    fn black_list_defaults_and_splits() {
        let mut state = BrokerConfigState { effective: Vec::new(), source: None, data_version: DataVersion::now() };
        assert_eq!(state.black_list(), vec!["configBlackList".to_string(), "brokerConfigPath".to_string()]);
        state.set("configBlackList", "a; b;");
        assert_eq!(state.black_list(), vec!["a".to_string(), "b".to_string()]);
    }
}
