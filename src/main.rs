//! `ringmq`: broker | namesrv | admin | bench.
//!
//! Flags follow the Java tools: `ringmq broker -c FILE -n ADDR -p -m` as `mqbroker`,
//! `ringmq namesrv -c FILE -p` as `mqnamesrv`, `ringmq admin <command>` as `mqadmin`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use ringmq::client::mqadmin::{self, AdminCommand};
use ringmq::config;

mod launch;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps memory the program frees mapped for its next allocations, as Seastar keeps what it
/// reserved: by default mimalloc gives freed pages back to the kernel after 10 ms
/// (`purge_delay`), and the next allocation faults them in again, zeroed. At 4 senders × 32 in
/// flight that was ~70 page faults/s per broker in steady state, and on a VM one fresh huge page
/// costs a shard 20–40 ms on CPU (run-loop stalls, see tuning.md). RSS stays at its high-water
/// mark instead. `MIMALLOC_PURGE_DELAY` in the environment still decides when it is set.
fn keep_freed_memory_mapped() {
    // `mi_option_purge_delay` in mimalloc v2 and v3 (the -sys crate has no name for it).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "ringmq",
    version,
    about = "A thread-per-core, io_uring broker and nameserver, wire-compatible with Apache RocketMQ 4.x"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a broker (as `mqbroker`). Without a name server address it also runs the
    /// nameserver in the same process: one command, ports 9876 and 10911.
    Broker(BrokerArgs),
    /// Run a nameserver (as `mqnamesrv`).
    Namesrv(NamesrvArgs),
    /// Administer a cluster (as `mqadmin`); command names match case-insensitively.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load a broker and report throughput and latency percentiles (as benchmark/producer.sh
    /// and consumer.sh): `produce`, `consume`, `e2e`.
    Bench {
        #[command(subcommand)]
        command: ringmq::client::bench::BenchCommand,
    },
    /// Durability check of the store on this disk: `write` appends under SYNC_FLUSH and prints
    /// every acknowledged record; after killing it, `verify` recovers and checks them all.
    #[command(name = "store-check", hide = true)]
    StoreCheck(StoreCheckArgs),
}

#[derive(Args, Debug)]
struct StoreCheckArgs {
    /// write | verify
    mode: String,
    /// Store directory
    #[arg(long)]
    dir: PathBuf,
    /// File of ACK lines to verify
    #[arg(long)]
    acks: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    writers: usize,
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    #[arg(long, default_value_t = 1 << 20)]
    segment_bytes: u64,
    /// Stop after this many acknowledged records
    #[arg(long)]
    records: Option<u64>,
    /// How a commit is made durable: WRITE_THROUGH or FDATASYNC (as `syncFlushMethod`)
    #[arg(long, default_value = "WRITE_THROUGH")]
    sync_method: String,
}

#[derive(Args, Debug)]
struct BrokerArgs {
    /// Broker config properties file
    #[arg(short = 'c', long = "configFile")]
    config_file: Option<PathBuf>,
    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876' (overrides the file)
    #[arg(short = 'n', long = "namesrvAddr")]
    namesrv_addr: Option<String>,
    /// Print every effective config item and exit
    #[arg(short = 'p', long = "printConfigItem")]
    print_config: bool,
    /// Print the important config items and exit
    #[arg(short = 'm', long = "printImportantConfig")]
    print_important: bool,
}

#[derive(Args, Debug)]
struct NamesrvArgs {
    /// Name server config properties file
    #[arg(short = 'c', long = "configFile")]
    config_file: Option<PathBuf>,
    /// Print every effective config item and exit
    #[arg(short = 'p', long = "printConfigItem")]
    print_config: bool,
}

/// mqadmin matches command names case-insensitively; clap does not, so the name is
/// canonicalised before parsing.
fn canonical_args() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("admin") {
        if let Some(name) = args.get(2).and_then(|typed| mqadmin::canonical_name(typed)) {
            args[2] = name.to_string();
        }
    }
    args
}

fn main() -> ExitCode {
    keep_freed_memory_mapped();
    let cli = Cli::parse_from(canonical_args());
    match cli.command {
        Command::Admin { command } => {
            let mut stdout = std::io::stdout();
            match mqadmin::run(&command, &mut stdout) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("{error}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Bench { command } => match ringmq::client::bench::run(&command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(1)
            }
        },
        Command::StoreCheck(args) => {
            launch::init_logging();
            let Some(sync_method) = config::SyncFlushMethod::from_text(&args.sync_method) else {
                eprintln!("--sync-method {}: expected WRITE_THROUGH or FDATASYNC", args.sync_method);
                return ExitCode::from(2);
            };
            let options = ringmq::store::check::CheckOptions {
                directory: args.dir,
                writers: args.writers,
                body_size_bytes: args.body_bytes,
                segment_size_bytes: args.segment_bytes,
                records_max: args.records,
                sync_method: sync_method.into(),
            };
            launch::run_store_check(&args.mode, options, args.acks)
        }
        Command::Namesrv(args) => {
            launch::init_logging();
            let (settings, warnings) = match config::load_namesrv(args.config_file.as_deref()) {
                Ok(loaded) => loaded,
                Err(error) => return launch::config_failed(&error),
            };
            launch::print_warnings(&warnings);
            if args.print_config {
                print!("{}", config::print_all(&settings.effective));
                return ExitCode::SUCCESS;
            }
            launch::run_namesrv(settings)
        }
        Command::Broker(args) => {
            launch::init_logging();
            let overrides = config::Overrides { namesrv_addr: args.namesrv_addr.clone() };
            let (settings, warnings) = match config::load_broker(args.config_file.as_deref(), &overrides) {
                Ok(loaded) => loaded,
                Err(error) => return launch::config_failed(&error),
            };
            launch::print_warnings(&warnings);
            if args.print_config {
                print!("{}", config::print_all(&settings.effective));
                return ExitCode::SUCCESS;
            }
            if args.print_important {
                print!("{}", config::print_important(&settings));
                return ExitCode::SUCCESS;
            }
            launch::run_broker(settings)
        }
    }
}
