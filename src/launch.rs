//! Start-up of the server commands: logging, locked memory, executors, the boot lines
//! operators grep for.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use ringmq::config::{BrokerSettings, ConfigError, NamesrvSettings, Warning};
use ringmq::runtime;
use ringmq::shards::namesrv::{self, NamesrvOptions};

/// io_uring registers 10 MiB per executor; a few executors plus slack.
const MEMLOCK_BYTES_NEEDED: u64 = 64 << 20;

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

pub fn print_warnings(warnings: &[Warning]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

/// A bad configuration stops start-up with exit status 2 and a message naming file, line, key,
/// value and what was expected.
pub fn config_failed(error: &ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(error.exit_code())
}

/// Raises RLIMIT_MEMLOCK when it can. A limit it cannot raise is not fatal by itself: with
/// CAP_IPC_LOCK, or on kernels that account io_uring memory to the cgroup, glommio starts
/// anyway. If an executor then fails to start, the hint is printed with the error.
fn raise_memlock() -> Option<String> {
    match runtime::raise_memlock_limit(MEMLOCK_BYTES_NEEDED) {
        Ok(_) => None,
        Err(message) => {
            tracing::info!("{message}");
            Some(message)
        }
    }
}

fn namesrv_options(settings: &NamesrvSettings, port: u16) -> NamesrvOptions {
    NamesrvOptions {
        listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        kv_config_path: Some(settings.namesrv.kv_config_path.clone()),
        order_message_enable: settings.namesrv.order_message_enable,
        idle_timeout: Duration::from_secs(settings.net.channel_idle_seconds),
        effective: settings.effective.clone(),
        config_black_list: settings.namesrv.config_black_list.clone(),
    }
}

/// `ringmq namesrv`: the nameserver shard on its own executor.
pub fn run_namesrv(settings: NamesrvSettings) -> ExitCode {
    let memlock_hint = raise_memlock();
    let options = namesrv_options(&settings, settings.net.listen_port);
    serve_namesrv_until_exit(options, memlock_hint)
}

fn serve_namesrv_until_exit(options: NamesrvOptions, memlock_hint: Option<String>) -> ExitCode {
    let listen = options.listen;
    let executor = runtime::spawn_executor("namesrv", None, move || async move {
        let _shard = namesrv::start(options, None)?;
        std::future::pending::<()>().await;
        Ok::<(), std::io::Error>(())
    });
    let executor = match executor {
        Ok(executor) => executor,
        Err(error) => {
            eprintln!("error: cannot start the nameserver executor: {error}");
            if let Some(hint) = memlock_hint {
                eprintln!("hint: {hint}");
            }
            return ExitCode::from(1);
        }
    };
    let result = executor.join().and_then(|inner| inner);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the nameserver cannot serve on {listen}: {error}");
            ExitCode::from(1)
        }
    }
}

/// `ringmq broker`. This build serves the nameserver shard; the data shards (ports
/// listenPort and listenPort-2) are not part of it yet, and the command says so rather than
/// pretending.
pub fn run_broker(settings: BrokerSettings) -> ExitCode {
    if !settings.broker.namesrv_addrs.is_empty() {
        eprintln!(
            "error: namesrvAddr is set ({}), but this build has no broker data plane yet: it can only \
             run the embedded nameserver. Start it without namesrvAddr (and without -n).",
            settings.broker.namesrv_addrs.join(";")
        );
        return ExitCode::from(1);
    }
    let memlock_hint = raise_memlock();
    eprintln!(
        "note: this build runs the embedded nameserver on port {}; the broker data plane (port {}) is not built yet",
        settings.broker.namesrv_listen_port, settings.net.listen_port
    );
    let Some(namesrv_settings) = settings.embedded_namesrv() else {
        return ExitCode::from(1);
    };
    let options = namesrv_options(&namesrv_settings, namesrv_settings.net.listen_port);
    serve_namesrv_until_exit(options, memlock_hint)
}

/// `ringmq store-check write|verify` on one executor.
pub fn run_store_check(
    mode: &str,
    options: ringmq::store::check::CheckOptions,
    acks: Option<std::path::PathBuf>,
) -> ExitCode {
    let _ = raise_memlock();
    let mode = mode.to_string();
    let executor = runtime::spawn_executor("store-check", None, move || async move {
        match (mode.as_str(), acks) {
            ("write", _) => ringmq::store::check::write(options).await,
            ("verify", Some(acks)) => ringmq::store::check::verify(options, &acks).await.map(|_| ()),
            _ => Err("usage: store-check write|verify --dir DIR [--acks FILE]".to_string()),
        }
    });
    match executor.and_then(|handle| handle.join()) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}
