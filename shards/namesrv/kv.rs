//! The nameserver's KV config (PUT/GET/DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE), the only
//! state it persists: `kvConfig.json` as `{"configTable":{"namespace":{"key":"value"}}}`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::limits::NAMESRV_KV_ENTRIES_MAX;

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KvFile {
    #[serde(default)]
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

pub struct KvConfig {
    path: Option<PathBuf>,
    table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvConfig {
    /// Loads `path` if it exists. A file that does not parse is reported and left untouched
    /// (the nameserver starts with an empty table rather than refusing to route).
    pub fn load(path: Option<PathBuf>) -> Self {
        let mut table = BTreeMap::new();
        if let Some(file) = &path {
            match std::fs::read(file) {
                Ok(bytes) => match crate::protocol::json::from_fastjson::<KvFile>(&bytes) {
                    Ok(parsed) => {
                        table = parsed.config_table;
                        info!("load KV config table OK from {}", file.display());
                    }
                    Err(error) => warn!("ignoring {}: {error}", file.display()),
                },
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => warn!("cannot read {}: {error}", file.display()),
            }
        }
        Self { path, table }
    }

    pub fn in_memory() -> Self {
        Self { path: None, table: BTreeMap::new() }
    }

    fn entries(&self) -> usize {
        self.table.values().map(BTreeMap::len).sum()
    }

    /// Returns false when the table is full (the entry is not stored).
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> bool {
        let exists = self.table.get(namespace).is_some_and(|n| n.contains_key(key));
        if !exists && self.entries() >= NAMESRV_KV_ENTRIES_MAX {
            return false;
        }
        self.table.entry(namespace.to_string()).or_default().insert(key.to_string(), value.to_string());
        info!("putKVConfig: namespace {namespace} key {key} value {value}");
        self.persist();
        true
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.table.get(namespace)?.get(key).map(String::as_str)
    }

    pub fn delete(&mut self, namespace: &str, key: &str) {
        if let Some(entries) = self.table.get_mut(namespace) {
            if entries.remove(key).is_some() {
                if entries.is_empty() {
                    self.table.remove(namespace);
                }
                info!("deleteKVConfig: namespace {namespace} key {key}");
                self.persist();
            }
        }
    }

    pub fn namespace(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.table.get(namespace)
    }

    /// Writes the table through a temporary file and a rename, so a crash leaves the old or the
    /// new file, never a torn one.
    fn persist(&self) {
        let Some(path) = &self.path else {
            return;
        };
        let file = KvFile { config_table: self.table.clone() };
        let text = serde_json::to_vec_pretty(&file).expect("serializable");
        let temporary = path.with_extension("json.tmp");
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&temporary, &text))
            .and_then(|()| std::fs::rename(&temporary, path));
        if let Err(error) = result {
            warn!("cannot persist the KV config to {}: {error}", path.display());
        }
    }
}

/// PUT_KV_CONFIG (100), GET_KV_CONFIG (101), DELETE_KV_CONFIG (102), GET_KVLIST_BY_NAMESPACE (219).
pub(super) fn handle(
    shard: &super::NamesrvShard,
    request: &crate::protocol::Command,
) -> Result<crate::protocol::Command, super::RequestError> {
    use crate::protocol::bodies::{self, KvTable};
    use crate::protocol::headers::{
        GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, KvConfigKeyRequestHeader,
        PutKvConfigRequestHeader,
    };
    use crate::protocol::{request as code, response, Command, Header};

    let mut kv = shard.kv.borrow_mut();
    match request.code {
        code::PUT_KV_CONFIG => {
            let header = PutKvConfigRequestHeader::decode(&request.ext_fields)?;
            if !kv.put(&header.namespace, &header.key, &header.value) {
                return Err(super::RequestError::System(format!(
                    "the KV config is full ({NAMESRV_KV_ENTRIES_MAX} entries)"
                )));
            }
            Ok(super::success(request))
        }
        code::GET_KV_CONFIG => {
            let header = KvConfigKeyRequestHeader::decode(&request.ext_fields)?;
            match kv.get(&header.namespace, &header.key) {
                Some(value) => {
                    let mut reply = super::success(request);
                    GetKvConfigResponseHeader { value: Some(value.to_string()) }.encode(&mut reply.ext_fields);
                    Ok(reply)
                }
                None => Ok(Command::response_to(request, response::QUERY_NOT_FOUND)
                    .with_remark(format!("No config item, Namespace: {} Key: {}", header.namespace, header.key))),
            }
        }
        code::DELETE_KV_CONFIG => {
            let header = KvConfigKeyRequestHeader::decode(&request.ext_fields)?;
            kv.delete(&header.namespace, &header.key);
            Ok(super::success(request))
        }
        _ => {
            let header = GetKvListByNamespaceRequestHeader::decode(&request.ext_fields)?;
            match kv.namespace(&header.namespace) {
                Some(table) => {
                    Ok(super::success(request).with_body(bodies::to_json(&KvTable { table: table.clone() })))
                }
                None => Ok(Command::response_to(request, response::QUERY_NOT_FOUND)
                    .with_remark(format!("No config item, Namespace: {}", header.namespace))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_entries_persist_and_reload() {
        let directory = std::env::temp_dir().join(format!("ringmq-kv-{}", std::process::id()));
        let path = directory.join("kvConfig.json");
        let mut kv = KvConfig::load(Some(path.clone()));
        assert!(kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4"));
        kv.put("ns", "k", "v");
        kv.delete("ns", "k");
        let reloaded = KvConfig::load(Some(path));
        assert_eq!(reloaded.get("ORDER_TOPIC_CONFIG", "T"), Some("broker-a:4"));
        assert!(reloaded.namespace("ns").is_none());
        std::fs::remove_dir_all(directory).unwrap();
    }
}
