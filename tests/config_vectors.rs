//! The properties vectors of `tests/data/conf` (real RocketMQ files) give what their README
//! says, and the loader's warnings and errors name file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ringmq::config::lexer;
use ringmq::config::schema::{self, Process};
use ringmq::config::{
    load_broker, load_namesrv, print_all, print_important, BrokerRole, BrokerSettings, ConfigError, ConfigErrorKind,
    FlushDiskType, Overrides, Warning,
};

fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conf")
}

fn vector(name: &str) -> PathBuf {
    conf_dir().join(name)
}

fn expected_java() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(vector("expected-java.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn properties_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            properties_files(&path, into);
        } else if path.extension().is_some_and(|extension| extension == "properties") {
            into.push(path);
        }
    }
}

/// Tests that read or change `NAMESRV_ADDR` or `ROCKETMQ_HOME` take this lock, so the
/// environment they see is the one they set.
static ENVIRONMENT: Mutex<()> = Mutex::new(());

fn environment() -> MutexGuard<'static, ()> {
    ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes `text` to a fresh file under Cargo's temp directory for tests (`target/tmp`, so runs
/// do not litter the system's).
fn temp_properties(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-vectors");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.properties"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads under the environment lock, so a test changing `NAMESRV_ADDR` cannot leak into it.
fn load(path: &Path) -> (BrokerSettings, Vec<Warning>) {
    let _environment = environment();
    load_broker(Some(path), &Overrides::default()).unwrap()
}

fn load_error(path: &Path) -> ConfigError {
    let _environment = environment();
    load_broker(Some(path), &Overrides::default()).unwrap_err()
}

/// For tests that hold the environment lock themselves.
fn load_unlocked(path: &Path) -> Result<(BrokerSettings, Vec<Warning>), ConfigError> {
    load_broker(Some(path), &Overrides::default())
}

fn messages(warnings: &[Warning]) -> Vec<String> {
    warnings.iter().map(ToString::to_string).collect()
}

fn effective(settings: &BrokerSettings, key: &str) -> Option<String> {
    settings.effective.iter().find(|(k, _)| k == key).map(|(_, value)| value.clone())
}

#[test]
fn lexer_gives_what_java_properties_gives_for_every_vector_file() {
    let expected = expected_java();
    let mut files = Vec::new();
    properties_files(&conf_dir(), &mut files);
    assert_eq!(files.len(), expected.len());
    for file in files {
        let relative = file.strip_prefix(conf_dir()).unwrap().to_string_lossy().replace('\\', "/");
        let java = &expected[&relative];
        let lexed = lexer::lex_bytes(&std::fs::read(&file).unwrap()).unwrap();
        let ours: BTreeMap<String, String> =
            lexed.entries.iter().map(|entry| (entry.key.clone(), entry.value.clone())).collect();
        // Our one deliberate difference: trailing whitespace of a value is trimmed.
        let java_trimmed: BTreeMap<String, String> = java
            .iter()
            .map(|(key, value)| (key.clone(), value.trim_end_matches([' ', '\t', '\x0c']).to_owned()))
            .collect();
        assert_eq!(ours, java_trimmed, "{relative}");
        assert!(lexed.trimmed.is_empty(), "{relative}: no vector value has trailing whitespace");
    }
}

#[test]
fn shipped_files_load_their_seven_keys_without_warnings() {
    let expected = expected_java();
    let mut files = Vec::new();
    properties_files(&conf_dir().join("shipped"), &mut files);
    assert_eq!(files.len(), 12);
    for file in files {
        let relative = file.strip_prefix(conf_dir()).unwrap().to_string_lossy().replace('\\', "/");
        let java = &expected[&relative];
        let (settings, warnings) = load(&file);
        assert!(warnings.is_empty(), "{relative}: {:?}", messages(&warnings));
        let broker = &settings.broker;
        assert_eq!(broker.broker_cluster_name, java["brokerClusterName"], "{relative}");
        assert_eq!(broker.broker_name, java["brokerName"], "{relative}");
        assert_eq!(broker.broker_id.to_string(), java["brokerId"], "{relative}");
        assert_eq!(broker.broker_role.as_java(), java["brokerRole"], "{relative}");
        assert_eq!(settings.store.flush_disk_type, FlushDiskType::AsyncFlush);
        assert_eq!(settings.store.delete_when_hours, vec![4]);
        assert_eq!(settings.store.file_reserved_time_hours, 48);
        assert_eq!(settings.net.listen_port, 10911);
        assert_eq!(settings.source.as_deref(), Some(file.as_path()));
        for (key, value) in java {
            assert_eq!(effective(&settings, key).as_deref(), Some(value.as_str()), "{relative} {key}");
        }
    }
}

#[test]
fn seed_full_applies_old_spellings_and_warns_about_ghost_keys() {
    let path = vector("seed-full.properties");
    let (settings, warnings) = load(&path);
    let text = messages(&warnings);
    let with = |needle: &str| text.iter().filter(|message| message.contains(needle)).count();
    assert_eq!(with("`mapedFileSizeCommitLog` is the old spelling of `mappedFileSizeCommitLog`"), 1);
    assert_eq!(with("`mapedFileSizeConsumeQueue` is the old spelling of `mappedFileSizeConsumeQueue`"), 1);
    for ghost in ["storePathConsumeQueue", "storePathIndex", "storeCheckpoint", "abortFile"] {
        assert_eq!(with(&format!("key `{ghost}` is not a RocketMQ 4.x key")), 1, "{ghost}: {text:?}");
    }
    assert!(text.iter().any(|m| m.contains("use `/usr/local/rocketmq/store/consumequeue`")));
    assert_eq!(with("unknown key"), 0, "{text:?}");
    assert!(text[0].starts_with(&format!("{}:", path.display())), "{text:?}");
    let broker = &settings.broker;
    let store = &settings.store;
    assert_eq!(store.max_message_size_bytes, 65536);
    assert_eq!(broker.default_topic_queue_count, 4);
    assert_eq!(store.disk_max_used_space_ratio_percent, 88);
    assert_eq!(store.file_reserved_time_hours, 120);
    assert_eq!(store.segment_size_bytes, 1_073_741_824);
    assert_eq!(store.cq_file_size_bytes, 300_000);
    assert_eq!(store.store_root_path, Path::new("/usr/local/rocketmq/store"));
    assert_eq!(store.commit_log_path, Path::new("/usr/local/rocketmq/store/commitlog"));
    assert_eq!(broker.namesrv_addrs, vec!["rocketmq-nameserver1:9876", "rocketmq-nameserver2:9876"]);
    assert!(broker.auto_create_topic_enable && broker.auto_create_subscription_group);
    // Ghost keys stay in the effective table, as Java keeps them in its all-configs table.
    assert_eq!(effective(&settings, "abortFile").as_deref(), Some("/usr/local/rocketmq/store/abort"));
    assert_eq!(effective(&settings, "mappedFileSizeConsumeQueue").as_deref(), Some("300000"));
}

#[test]
fn seed_a_and_b_s_expand_rocketmq_home_or_fail_when_it_is_unset() {
    let _environment = environment();
    let saved = std::env::var_os("ROCKETMQ_HOME");
    std::env::remove_var("ROCKETMQ_HOME");
    let error = load_unlocked(&vector("seed-a.properties")).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("seed-a.properties:12: bad value for key `storePathRootDir`"), "{text}");
    assert!(text.contains("`ROCKETMQ_HOME` is not set"), "{text}");
    assert_eq!(error.exit_code(), 2);

    std::env::set_var("ROCKETMQ_HOME", "/opt/rocketmq");
    let (settings, warnings) = load_unlocked(&vector("seed-a.properties")).unwrap();
    assert_eq!(settings.store.store_root_path, Path::new("/opt/rocketmq/srote/a"));
    assert_eq!(settings.store.commit_log_path, Path::new("/opt/rocketmq/srote/a/commitlog"));
    assert!(warnings.iter().any(|warning| matches!(warning,
        Warning::Expanded { original, expanded, .. }
            if original == "$ROCKETMQ_HOME/srote/a" && expanded == "/opt/rocketmq/srote/a")));
    assert_eq!(settings.broker.namesrv_addrs, vec!["192.168.1.240:9876", "192.168.1.241:9876"]);
    assert_eq!((settings.net.fast_port(), settings.net.ha_port()), (10909, 10912));
    assert!(settings.broker.auto_create_topic_enable);

    let path = vector("seed-b-s.properties");
    let (settings, warnings) = load_unlocked(&path).unwrap();
    assert_eq!(settings.broker.broker_id, 0);
    assert_eq!(settings.broker.broker_role, BrokerRole::AsyncMaster);
    assert_eq!(effective(&settings, "brokerId").as_deref(), Some("0"));
    let forced = warnings.iter().find(|warning| matches!(warning, Warning::BrokerIdForced { .. }));
    let forced = forced.expect("brokerId forced warning").to_string();
    assert!(forced.starts_with(&format!("{}:5: brokerId=1 overridden to 0", path.display())), "{forced}");
    assert!(forced.contains("A slave needs brokerRole=SLAVE"), "{forced}");
    assert_eq!((settings.net.listen_port, settings.net.fast_port(), settings.net.ha_port()), (10950, 10948, 10951));

    match saved {
        Some(value) => std::env::set_var("ROCKETMQ_HOME", value),
        None => std::env::remove_var("ROCKETMQ_HOME"),
    }
}

#[test]
fn expansion_warns_when_a_java_store_sits_at_the_literal_path() {
    let base = std::env::temp_dir().join(format!("ringmq-config-literal-{}", std::process::id()));
    let literal = base.join("$RINGMQ_TEST_STORE_HOME").join("store");
    std::fs::create_dir_all(&literal).unwrap();
    std::env::set_var("RINGMQ_TEST_STORE_HOME", "srv-rmq");
    let path = temp_properties("literal", &format!("storePathRootDir={}\n", literal.display()));
    let (settings, warnings) = load(&path);
    std::env::remove_var("RINGMQ_TEST_STORE_HOME");
    let expanded = base.join("srv-rmq/store");
    assert_eq!(settings.store.store_root_path, expanded);
    let loud = warnings.iter().find(|warning| matches!(warning, Warning::JavaStoreAtLiteralPath { .. }));
    let loud = loud.expect("literal-path warning").to_string();
    assert!(loud.contains("a Java broker, which does not expand variables, kept its data there"), "{loud}");
    assert_eq!(loud.split(':').nth(1), Some("1"), "{loud}");
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn keys_named_like_variables_are_not_interpolated() {
    let path = temp_properties(
        "interpolation",
        "storePathRootDir=/data/store\nstorePathCommitLog=${storePathRootDir}/commitlog\n",
    );
    let text = load_error(&path).to_string();
    assert!(text.contains(":2: bad value for key `storePathCommitLog`"), "{text}");
    assert!(text.contains("other keys are not interpolated"), "{text}");
}

#[test]
fn seed_oneline_defines_no_keys_and_the_warning_points_at_the_collapsed_comment() {
    let path = vector("seed-oneline.properties");
    let (settings, warnings) = load(&path);
    assert_eq!(warnings.len(), 1, "{:?}", messages(&warnings));
    let text = warnings[0].to_string();
    assert!(text.contains("defines no keys at all"), "{text}");
    assert!(text.contains("Line 1 is a 2305-character comment"), "{text}");
    assert!(text.contains("whole configuration collapsed into one comment line"), "{text}");
    assert_eq!(settings.broker.broker_cluster_name, "DefaultCluster");
    assert_eq!(settings.broker.broker_role, BrokerRole::AsyncMaster);
    assert_eq!(settings.net.listen_port, 10911);
}

#[test]
fn an_empty_file_says_it_defines_no_keys_without_the_collapsed_hint() {
    let path = temp_properties("empty", "# nothing here\n\n");
    let (_, warnings) = load(&path);
    assert_eq!(warnings.len(), 1);
    assert!(!warnings[0].to_string().contains("collapsed"));
}

#[test]
fn seed_sync_slave_is_a_slave_with_id_1_that_serves_reads() {
    let (settings, warnings) = load(&vector("seed-sync-slave.properties"));
    assert!(warnings.is_empty(), "{:?}", messages(&warnings));
    assert_eq!(settings.broker.broker_role, BrokerRole::Slave);
    assert_eq!(settings.broker.broker_id, 1);
    assert!(settings.broker.slave_read_enable);
    assert_eq!(settings.store.flush_disk_type, FlushDiskType::SyncFlush);
}

#[test]
fn seed_sync_master_notes_the_keys_ringmq_does_not_need() {
    let (settings, warnings) = load(&vector("seed-sync-master.properties"));
    assert_eq!(settings.broker.broker_role, BrokerRole::SyncMaster);
    assert_eq!(settings.store.flush_disk_type, FlushDiskType::SyncFlush);
    assert!(!settings.broker.auto_create_topic_enable);
    assert!(!settings.broker.slave_read_enable);
    let noted: Vec<&str> = warnings
        .iter()
        .filter_map(|warning| match warning {
            Warning::NotHonoured { key, .. } => Some(*key),
            _ => None,
        })
        .collect();
    assert_eq!(noted, vec!["useReentrantLockWhenPutMessage", "sendMessageThreadPoolNums"]);
    assert_eq!(warnings.len(), 2);
}

#[test]
fn seed_2m_noslave_a_advertises_its_public_ip() {
    let (settings, warnings) = load(&vector("seed-2m-noslave-a.properties"));
    assert!(warnings.is_empty(), "{:?}", messages(&warnings));
    assert_eq!(settings.broker.broker_ip1, "49.232.21.151");
    assert_eq!(settings.broker.namesrv_addrs, vec!["49.232.21.151:9876", "127.0.0.2:9876"]);
    assert_eq!(settings.net.listen_port, 10911);
}

#[test]
fn a_bad_value_stops_with_file_line_key_value_and_what_was_expected() {
    let path = temp_properties("bad-port", "brokerName=b\nlistenPort=abc\n");
    let error = load_error(&path);
    assert_eq!(
        error.to_string(),
        format!("{}:2: bad value for key `listenPort`: `abc` — expected a port in 1..=65535", path.display())
    );
    assert_eq!(error.exit_code(), 2);
    assert!(matches!(error.kind(), ConfigErrorKind::BadValue { key, .. } if key == "listenPort"));
}

#[test]
fn every_kind_of_bad_value_is_refused() {
    let cases = [
        ("mappedFileSizeCommitLog=1G", "an integer ≥ 1"),
        ("brokerRole=master", "one of ASYNC_MASTER, SYNC_MASTER, SLAVE"),
        ("flushDiskType=async_flush", "write it in upper case: ASYNC_FLUSH"),
        ("autoCreateTopicEnable=yes", "true or false"),
        ("namesrvAddr=a:9876,b:9876", "`,` is not a separator"),
        ("namesrvAddr=a:9876;b", "`b` is not `host:port`"),
        ("namesrvAddr=a:port", "`host:port`"),
        ("messageDelayLevel=1s 5x", "`5x` is not"),
        ("deleteWhen=25", "hours of the day 0..=23"),
        ("deleteWhen=04,16", "hours of the day 0..=23"),
        ("brokerPermission=9", "0..=7"),
        ("listenPort=2", "3..=65534"),
        ("storePathCommitLog=/a,/b", "one directory"),
        ("shardCount=0", "1..=1024"),
        ("brokerId=one", "Java long"),
    ];
    for (index, (line, expected)) in cases.iter().enumerate() {
        let path = temp_properties(&format!("bad-{index}"), &format!("# bad value\n{line}\n"));
        let error = load_error(&path);
        let text = error.to_string();
        let (key, value) = line.split_once('=').unwrap();
        let head = format!("{}:2: bad value for key `{key}`: `{value}` — expected ", path.display());
        assert!(text.starts_with(&head), "{line}: {text}");
        assert!(text.contains(expected), "{line}: {text}");
        assert_eq!(error.exit_code(), 2);
    }
}

#[test]
fn a_bad_dash_n_names_dash_n() {
    let overrides = Overrides { namesrv_addr: Some("a:9876,b:9876".to_owned()) };
    let text = load_broker(None, &overrides).unwrap_err().to_string();
    assert!(text.starts_with("-n: bad value for key `namesrvAddr`: `a:9876,b:9876` — expected"), "{text}");
}

#[test]
fn dash_n_overrides_the_file_and_the_environment_is_the_last_resort() {
    let _environment = environment();
    let saved = std::env::var_os("NAMESRV_ADDR");
    let overrides = Overrides { namesrv_addr: Some("10.0.0.9:9876".to_owned()) };
    let (settings, _) = load_broker(Some(&vector("seed-2m-noslave-a.properties")), &overrides).unwrap();
    assert_eq!(settings.broker.namesrv_addrs, vec!["10.0.0.9:9876"]);
    assert_eq!(effective(&settings, "namesrvAddr").as_deref(), Some("10.0.0.9:9876"));

    std::env::set_var("NAMESRV_ADDR", "10.0.0.7:9876;10.0.0.8:9876");
    let (settings, _) = load_unlocked(&vector("shipped/broker.properties")).unwrap();
    assert_eq!(settings.broker.namesrv_addrs, vec!["10.0.0.7:9876", "10.0.0.8:9876"]);
    assert!(settings.embedded_namesrv().is_none());
    // The file wins over the environment.
    let (settings, _) = load_unlocked(&vector("seed-2m-noslave-a.properties")).unwrap();
    assert_eq!(settings.broker.namesrv_addrs[0], "49.232.21.151:9876");
    std::env::set_var("NAMESRV_ADDR", "bad,addr:1");
    let text = load_unlocked(&vector("shipped/broker.properties")).unwrap_err().to_string();
    assert!(text.starts_with("environment variable NAMESRV_ADDR: bad value"), "{text}");

    std::env::remove_var("NAMESRV_ADDR");
    let (settings, _) = load_unlocked(&vector("shipped/broker.properties")).unwrap();
    assert!(settings.broker.namesrv_addrs.is_empty());
    let embedded = settings.embedded_namesrv().expect("embedded nameserver");
    assert_eq!(embedded.net.listen_port, 9876);
    assert!(embedded.effective.contains(&("listenPort".to_owned(), "9876".to_owned())));

    let path = temp_properties("collide", "listenPort=9878\n");
    let text = load_unlocked(&path).unwrap_err().to_string();
    assert!(text.contains(":1: key `listenPort`: the embedded nameserver's port 9876"), "{text}");
    let path = temp_properties("no-collide", "listenPort=9878\nnamesrvListenPort=19876\n");
    assert_eq!(load_unlocked(&path).unwrap().0.broker.namesrv_listen_port, 19876);

    if let Some(value) = saved {
        std::env::set_var("NAMESRV_ADDR", value);
    }
}

#[test]
fn an_unknown_key_suggests_the_nearest_known_one_and_is_kept() {
    let path = temp_properties("unknown", "brokerName=b\nflushDiskTyp=SYNC_FLUSH\nmyOwnKey=42\n");
    let (settings, warnings) = load(&path);
    let text = messages(&warnings);
    assert_eq!(
        text[0],
        format!("{}:2: unknown key `flushDiskTyp`, ignored (did you mean `flushDiskType`?)", path.display())
    );
    assert_eq!(text[1], format!("{}:3: unknown key `myOwnKey`, ignored", path.display()));
    assert_eq!(settings.store.flush_disk_type, FlushDiskType::AsyncFlush);
    assert_eq!(effective(&settings, "flushDiskTyp").as_deref(), Some("SYNC_FLUSH"));
    assert_eq!(effective(&settings, "myOwnKey").as_deref(), Some("42"));
    assert!(print_all(&settings.effective).ends_with("flushDiskTyp=SYNC_FLUSH\nmyOwnKey=42\n"));
}

#[test]
fn trailing_whitespace_is_trimmed_with_a_warning() {
    let path = temp_properties("trailing", "listenPort=10921 \nbrokerRole=SLAVE\t\nbrokerId=2\n");
    let (settings, warnings) = load(&path);
    assert_eq!(settings.net.listen_port, 10921);
    assert_eq!(settings.broker.broker_role, BrokerRole::Slave);
    let text = messages(&warnings);
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(text[0]
        .starts_with(&format!("{}:1: trailing whitespace removed from the value of `listenPort`", path.display())));
    assert!(text[1].contains(":2: trailing whitespace removed from the value of `brokerRole`"));
}

#[test]
fn continuations_unicode_escapes_and_every_separator_work() {
    let path = temp_properties(
        "syntax",
        concat!(
            "brokerName broker-x\n",
            "brokerClusterName:c1\n",
            "  msgTraceTopicName = \\u0054RACE_\\\n      TOPIC\n",
            "namesrvAddr=a:9876;\\\n    b:9876\n",
            "regionId\t\tEU\\u00e9\n",
        ),
    );
    let (settings, warnings) = load(&path);
    assert!(warnings.is_empty(), "{:?}", messages(&warnings));
    let broker = &settings.broker;
    assert_eq!(broker.broker_name, "broker-x");
    assert_eq!(broker.broker_cluster_name, "c1");
    assert_eq!(broker.msg_trace_topic_name, "TRACE_TOPIC");
    assert_eq!(broker.namesrv_addrs, vec!["a:9876", "b:9876"]);
    assert_eq!(broker.region_id, "EUé");
}

#[test]
fn a_malformed_unicode_escape_is_a_syntax_error_with_its_line() {
    let path = temp_properties("malformed", "brokerName=a\nregionId=\\u00zz\n");
    let error = load_error(&path);
    assert_eq!(error.to_string(), format!("{}:2: malformed \\uXXXX escape", path.display()));
    assert_eq!(error.exit_code(), 2);
}

#[test]
fn a_missing_file_names_the_path_and_the_os_error() {
    let path = vector("does-not-exist.properties");
    let error = load_error(&path);
    let text = error.to_string();
    assert!(text.starts_with(&format!("cannot read config file `{}`: ", path.display())), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
    assert_eq!(error.exit_code(), 2);
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn both_spellings_present_the_new_one_wins_and_the_warning_says_so() {
    let path =
        temp_properties("both-spellings", "mapedFileSizeCommitLog=536870912\nmappedFileSizeCommitLog=268435456\n");
    let (settings, warnings) = load(&path);
    assert_eq!(settings.store.segment_size_bytes, 268_435_456);
    let text = messages(&warnings);
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(text[0].contains(":1: `mapedFileSizeCommitLog` is the old spelling"), "{}", text[0]);
    assert!(text[0].contains("`mappedFileSizeCommitLog` (") && text[0].contains(":2) wins"), "{}", text[0]);
}

#[test]
fn a_slave_needs_a_positive_broker_id() {
    let path = temp_properties("slave-zero", "brokerRole=SLAVE\nbrokerId=0\n");
    let error = load_error(&path);
    assert_eq!(
        error.to_string(),
        format!("{}:2: Slave's brokerId must be > 0 (brokerRole=SLAVE, brokerId=0)", path.display())
    );
    assert_eq!(error.exit_code(), 2);
    let path = temp_properties("slave-default-id", "brokerRole=SLAVE\n");
    assert!(load_error(&path).to_string().contains(":1: Slave's brokerId must be > 0"));
}

#[test]
fn ha_listen_port_is_always_listen_port_plus_one() {
    let path = temp_properties("ha-port", "listenPort=20911\nhaListenPort=30000\n");
    let (settings, warnings) = load(&path);
    assert_eq!(settings.net.ha_port(), 20912);
    assert_eq!(effective(&settings, "haListenPort").as_deref(), Some("20912"));
    let text = messages(&warnings);
    assert!(text.iter().any(|m| m.contains(":2: haListenPort=30000 is ignored") && m.contains("(20912)")), "{text:?}");
    let path = temp_properties("ha-port-same", "listenPort=20911\nhaListenPort=20912\n");
    assert!(load(&path).1.iter().all(|w| !matches!(w, Warning::HaListenPortIgnored { .. })));
}

#[test]
fn the_documented_misspelling_of_file_reserved_time_is_ignored_with_a_hint() {
    let path = temp_properties("reserverd", "fileReserverdTime=120\n");
    let (settings, warnings) = load(&path);
    assert_eq!(settings.store.file_reserved_time_hours, 72);
    let text = messages(&warnings);
    assert_eq!(text.len(), 1);
    assert!(text[0].contains("key `fileReserverdTime` is a misspelling"), "{}", text[0]);
    assert!(text[0].contains("did you mean `fileReservedTime`?"), "{}", text[0]);
}

#[test]
fn features_ringmq_lacks_are_said_loudly_when_switched_on() {
    let path = temp_properties("unsupported", "aclEnable=true\nenableDLegerCommitLog=false\n");
    let (_, warnings) = load(&path);
    let text = messages(&warnings);
    assert!(text[0].contains(":1: `aclEnable`=true: ringmq has no ACL"), "{text:?}");
    assert!(text[1].contains(":2: `enableDLegerCommitLog` is accepted for compatibility"), "{text:?}");
}

#[test]
fn out_of_range_values_are_clamped_like_java_with_a_warning() {
    let path = temp_properties("clamp", "diskMaxUsedSpaceRatio=99\nregisterNameServerPeriod=90000\n");
    let (settings, warnings) = load(&path);
    assert_eq!(settings.store.disk_max_used_space_ratio_percent, 95);
    assert_eq!(settings.broker.register_name_server_period_ms, 60_000);
    assert_eq!(effective(&settings, "diskMaxUsedSpaceRatio").as_deref(), Some("99"));
    assert_eq!(warnings.len(), 2, "{:?}", messages(&warnings));
}

#[test]
fn dash_p_prints_every_key_and_dash_m_the_important_ones() {
    let (settings, _) = load(&vector("shipped/2m-2s-sync/broker-a-s.properties"));
    let all = print_all(&settings.effective);
    for row in schema::rows_for(Process::Broker) {
        assert!(all.contains(&format!("\n{}=", row.key)) || all.starts_with(&format!("{}=", row.key)), "{}", row.key);
    }
    assert!(all.contains("\nbrokerRole=SLAVE\n"));
    assert!(all.contains(&format!("\nshardCount={}\n", settings.broker.shard_count)));
    let important = print_important(&settings);
    assert!(important.contains("brokerName=broker-a\n"));
    assert!(important.contains("brokerId=1\n"));
    assert!(important.contains("deleteWhen=04\n"));
    assert!(!important.contains("listenPort="));
    let important_rows = schema::rows_for(Process::Broker).filter(|row| row.important).count();
    assert_eq!(important.lines().count(), important_rows);
}

#[test]
fn the_nameserver_reads_its_own_keys_and_netty_server_keys_only() {
    let path = temp_properties(
        "namesrv",
        concat!(
            "listenPort=9877\n",
            "orderMessageEnable=true\n",
            "kvConfigPath=/data/kv.json\n",
            "brokerName=x\n",
            "listenPrt=1\n",
        ),
    );
    let (settings, warnings) = load_namesrv(Some(&path)).unwrap();
    assert_eq!(settings.net.listen_port, 9877);
    assert!(settings.namesrv.order_message_enable);
    assert_eq!(settings.namesrv.kv_config_path, Path::new("/data/kv.json"));
    assert_eq!(settings.namesrv.config_store_path, path);
    let text = messages(&warnings);
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(text[0].contains(":4: key `brokerName` is read by the broker, not the nameserver"), "{text:?}");
    assert!(text[1].contains(":5: unknown key `listenPrt`, ignored (did you mean `listenPort`?)"), "{text:?}");

    let (defaults, warnings) = load_namesrv(None).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(defaults.net.listen_port, 9876);
    assert!(defaults.effective.iter().any(|(key, _)| key == "serverWorkerThreads"));
    assert!(!defaults.effective.iter().any(|(key, _)| key == "brokerName"));
}

#[test]
fn namesrv_keys_in_a_broker_file_are_named_as_such() {
    let path = temp_properties("broker-with-namesrv-key", "kvConfigPath=/x\n");
    let (_, warnings) = load(&path);
    assert!(warnings[0].to_string().contains("key `kvConfigPath` is read by the nameserver, not the broker"));
}

#[test]
fn duplicate_keys_keep_the_last_value_with_a_warning() {
    let path = temp_properties("duplicate", "brokerName=first\nbrokerName=second\n");
    let (settings, warnings) = load(&path);
    assert_eq!(settings.broker.broker_name, "second");
    let text = messages(&warnings);
    assert_eq!(text.len(), 1);
    assert!(text[0].contains(":2: key `brokerName` is set again (first at line 1)"), "{}", text[0]);
}

#[test]
fn a_byte_order_mark_is_skipped_with_a_warning() {
    let path = temp_properties("bom", "\u{feff}brokerName=bom\n");
    let (settings, warnings) = load(&path);
    assert_eq!(settings.broker.broker_name, "bom");
    let text = messages(&warnings);
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(text[0].contains(":1: the file starts with a UTF-8 byte-order mark"), "{}", text[0]);
}

/// `conf/README.md` is generated from the schema table; `RINGMQ_BLESS=1` rewrites it.
#[test]
fn conf_readme_lists_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/README.md");
    let generated = schema::reference_markdown();
    if std::env::var_os("RINGMQ_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "conf/README.md is out of date with src/config/schema.rs; regenerate it with \
         `RINGMQ_BLESS=1 cargo test --test config_vectors conf_readme`"
    );
}
