//! Start-up of the server commands: logging, locked memory, executors, the boot lines
//! operators grep for.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use ringmq::config::{BrokerSettings, ConfigError, NamesrvSettings, Warning};
use ringmq::runtime;
use ringmq::shards::data::boot;
use ringmq::shards::namesrv::{self, NamesrvOptions};

/// What io_uring registers: a shard executor per CPU at most, and the nameserver's (smaller)
/// as slack.
fn memlock_bytes_needed() -> u64 {
    (runtime::cpu_count() as u64 + 1) * runtime::SHARD_IO_MEMORY_BYTES as u64
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use tracing_subscriber::prelude::*;
    // The storage provokes a failing glommio probe on purpose (runtime::glommio,
    // keep_off_the_poll_ring); glommio logs it as an error, which here is the expected outcome.
    let not_the_provoked_probe = tracing_subscriber::filter::filter_fn(|metadata| {
        !(metadata.target().starts_with("glommio") && runtime::probing_the_poll_ring())
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a terminal: a log redirected to a file stays greppable.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(not_the_provoked_probe),
        )
        .init();
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
    match runtime::raise_memlock_limit(memlock_bytes_needed()) {
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

/// `ringmq broker`: one data shard per CPU (`shardCount`), shard 0 with the control plane
/// and, when no nameserver address is configured, the embedded nameserver.
pub fn run_broker(settings: BrokerSettings) -> ExitCode {
    let memlock_hint = raise_memlock();
    let shard_count = settings.broker.shard_count.max(1);
    let advertised = match advertised_address(&settings) {
        Ok(address) => address,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = probe_ports(&settings) {
        eprintln!("error: {message}");
        return ExitCode::from(1);
    }
    let root = match boot::open_root(&settings.store.store_root_path, shard_count) {
        Ok(root) => root,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
    };
    install_stop_signals();
    let pin = shard_count <= runtime::cpu_count();
    let mut listeners = match bind_client_ports(&settings, shard_count, pin) {
        Ok(listeners) => listeners,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
    };
    let spec = boot::BootSpec {
        settings: std::sync::Arc::new(settings),
        store_root: root.path.clone(),
        unclean: root.was_unclean,
        advertised,
    };
    let mesh = runtime::Mesh::new(shard_count, spec.settings.broker.shard_inbox_capacity);
    let mut executors = Vec::new();
    for index in 0..shard_count {
        let spec = spec.clone();
        let mesh = mesh.clone();
        let cpu = pin.then_some(index);
        let spin = spec.settings.broker.shard_spin_before_park;
        let listeners = std::mem::take(&mut listeners[index]);
        match runtime::spawn_shard_executor(&format!("shard-{index}"), cpu, spin, move || {
            boot::run(spec, mesh, listeners)
        }) {
            Ok(executor) => executors.push(executor),
            Err(error) => {
                eprintln!("error: cannot start shard {index}: {error}");
                if let Some(hint) = &memlock_hint {
                    eprintln!("hint: {hint}");
                }
                return ExitCode::from(1);
            }
        }
    }
    let mut clean = true;
    for (index, executor) in executors.into_iter().enumerate() {
        match executor.join() {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                eprintln!("error: shard {index}: {message}");
                clean = false;
            }
            Err(error) => {
                eprintln!("error: shard {index}: {error}");
                clean = false;
            }
        }
    }
    if !clean {
        return ExitCode::from(1);
    }
    match root.mark_clean() {
        Ok(()) => {
            // Not println!: the operator's terminal (or a test harness) may be gone by now.
            let _ = writeln!(std::io::stdout(), "The broker shut down cleanly.");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// `brokerIP1:listenPort`: what clients are told, and what offsetMsgIds carry.
fn advertised_address(settings: &BrokerSettings) -> Result<SocketAddr, String> {
    let ip: std::net::IpAddr = settings
        .broker
        .broker_ip1
        .parse()
        .map_err(|_| format!("brokerIP1 {:?} is not an IP address", settings.broker.broker_ip1))?;
    Ok(SocketAddr::new(ip, settings.net.listen_port))
}

/// The shards bind their ports with SO_REUSEPORT, which would let a second broker share them
/// silently; an ordinary bind first makes a busy port an error, as with Java.
fn probe_ports(settings: &BrokerSettings) -> Result<(), String> {
    let mut ports = boot::client_ports(settings).to_vec();
    if settings.broker.broker_role.is_master() {
        ports.push(settings.net.ha_port());
    }
    if let Some(namesrv) = settings.embedded_namesrv() {
        ports.push(namesrv.net.listen_port);
    }
    for port in ports {
        let address = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        if let Err(error) = runtime::ensure_port_free(address) {
            return Err(format!(
                "cannot listen on {address}: {error} (java.net.BindException: Address already in use)"
            ));
        }
    }
    Ok(())
}

/// Each shard's listeners of the client ports (`boot::client_ports`), bound here in shard
/// order so that the kernel's numbering of each SO_REUSEPORT group is the shards' numbering;
/// with pinned shards (shard i on CPU i) each connection is steered to the shard of its CPU.
fn bind_client_ports(
    settings: &BrokerSettings,
    shard_count: usize,
    pinned: bool,
) -> Result<Vec<Vec<std::os::fd::OwnedFd>>, String> {
    let mut per_shard: Vec<Vec<std::os::fd::OwnedFd>> = (0..shard_count).map(|_| Vec::new()).collect();
    for port in boot::client_ports(settings) {
        let address = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let listeners = runtime::bind_shard_listeners(address, shard_count, pinned)
            .map_err(|error| format!("cannot listen on {address}: {error}"))?;
        for (shard, listener) in listeners.into_iter().enumerate() {
            per_shard[shard].push(listener);
        }
    }
    Ok(per_shard)
}

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    boot::request_stop();
}

/// SIGTERM and SIGINT stop the broker cleanly (as `mqshutdown`): it unregisters from the
/// nameservers and closes every store, so the next start needs no recovery.
fn install_stop_signals() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only performs an atomic store; sigaction reads the struct we own.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
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
