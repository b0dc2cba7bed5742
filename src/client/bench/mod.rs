//! `ringmq bench produce | consume | e2e`: RocketMQ's benchmark tools (producer.sh,
//! consumer.sh) with percentiles. Load comes from client threads, one executor each
//! (thread-per-core, pinned with `--cpus`), with many requests in flight per connection.
//!
//! Latency is measured from the *intended* send time under `--rate` (open loop, coordinated
//! omission corrected) and from the actual send time otherwise (closed loop, as fast as the
//! in-flight window allows). A progress line per second, then a summary table or `--json`.

mod load;
pub mod stats;

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use self::load::{ConnectionPlan, PullPlan, SenderPlan, ThreadPlan, Tick};
use self::stats::{errors_by_name, progress_line, Interval, Percentiles};
use crate::client::{AdminApi, BlockingClient, ClientError};
use crate::protocol::bodies::TopicConfig;
use crate::protocol::codes::perm;
use crate::protocol::headers::{OffsetResponseHeader, QueueRequestHeader};
use crate::protocol::{request, response, Command, Header};
use crate::runtime;

#[derive(Subcommand, Debug, Clone, Serialize)]
pub enum BenchCommand {
    /// Send messages; report msg/s and send latency (as producer.sh, with percentiles).
    Produce(ProduceArgs),
    /// Pull every queue of the topic until caught up, from its start (or from where it stood
    /// before `--preload`); report msg/s and MB/s.
    Consume(ConsumeArgs),
    /// Send and long-poll pull at once; report send→consume latency (the producer stamps its
    /// send time into each body).
    E2e(E2eArgs),
}

#[derive(Args, Debug, Clone, Serialize)]
pub struct TargetArgs {
    /// Name server address: the topic's route comes from it, and a missing topic is created
    /// on every master of the cluster
    #[arg(short = 'n', long = "namesrv")]
    pub namesrv: Option<String>,
    /// Broker address, bypassing the name server; the topic is created (or updated) there
    #[arg(short = 'b', long = "broker")]
    pub broker: Option<String>,
    #[arg(short = 't', long, default_value = "BenchTopic")]
    pub topic: String,
    /// Queues of the topic when it is created
    #[arg(long, default_value_t = 8)]
    pub queues: i32,
    /// Client threads (one executor each); 0 = one per connection, at most one per CPU
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// CPUs to pin the client threads to, e.g. `1` or `0,1` (thread i on the i-th, cycling)
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Client threads busy-poll this long before sleeping (0 = sleep at once): lower latency
    /// for a client that has its own core, a busy core otherwise
    #[arg(long = "spin-us", default_value_t = 0)]
    pub spin_us: u64,
    /// Print the summary as JSON (progress lines go to stderr)
    #[arg(long)]
    pub json: bool,
    /// No progress lines
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone, Serialize)]
pub struct LoadArgs {
    /// Body bytes per message
    #[arg(short = 's', long = "size", default_value_t = 1024)]
    pub size_bytes: usize,
    /// Independent senders (each with its own in-flight window)
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// TCP connections the senders share (default: one per sender)
    #[arg(long)]
    pub connections: Option<usize>,
    /// Requests each sender keeps in flight (1 = sync send)
    #[arg(long = "in-flight", default_value_t = 1)]
    pub in_flight: usize,
    /// Messages per request (> 1 = SEND_BATCH_MESSAGE)
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Messages per second over all senders (open loop); without it, as fast as possible
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of load, warm-up included
    #[arg(short = 'd', long = "duration", default_value_t = 10)]
    pub duration_s: u64,
    /// Seconds at the start that are not counted
    #[arg(short = 'w', long = "warmup", default_value_t = 2)]
    pub warmup_s: u64,
    /// Send oneway (no reply; no latency, msg/s is what left the client)
    #[arg(long)]
    pub oneway: bool,
    /// Stop after this many messages were acknowledged (refused sends do not count; each
    /// sender rounds up to whole batches, and its requests in flight may add a few more)
    #[arg(long)]
    pub messages: Option<u64>,
}

#[derive(Args, Debug, Clone, Serialize)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug, Clone, Serialize)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// TCP connections the queues' pull loops share
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Messages asked for per pull (Java's pullBatchSize is 32)
    #[arg(long = "pull-batch", default_value_t = 32)]
    pub pull_batch: i32,
    /// Send this many messages first (batches of 32, 1 KiB unless --size), then consume them
    #[arg(long)]
    pub preload: Option<u64>,
    /// Body bytes per preloaded message
    #[arg(short = 's', long = "size", default_value_t = 1024)]
    pub size_bytes: usize,
    /// Longest the consume may take, in seconds
    #[arg(short = 'd', long = "duration", default_value_t = 60)]
    pub duration_s: u64,
}

#[derive(Args, Debug, Clone, Serialize)]
pub struct E2eArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// TCP connections for the consumer's long-polling pulls
    #[arg(long = "consumer-connections", default_value_t = 1)]
    pub consumer_connections: usize,
    #[arg(long = "pull-batch", default_value_t = 32)]
    pub pull_batch: i32,
}

/// The summary of one run (what `--json` prints).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub mode: String,
    pub settings: serde_json::Value,
    /// The measured window: duration minus warm-up, or how long a consume took.
    pub seconds: f64,
    pub messages: u64,
    pub messages_per_second: f64,
    pub megabytes_per_second: f64,
    pub send_latency_us: Option<Percentiles>,
    pub e2e_latency_us: Option<Percentiles>,
    pub errors: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    /// Messages the end-to-end consumer received in the measured window.
    pub consumed: u64,
    pub client_threads: usize,
    pub client_cpus: Vec<usize>,
}

/// Runs the command and prints its report.
pub fn run(command: &BenchCommand) -> Result<(), String> {
    let target = match command {
        BenchCommand::Produce(args) => &args.target,
        BenchCommand::Consume(args) => &args.target,
        BenchCommand::E2e(args) => &args.target,
    };
    let (json, quiet) = (target.json, target.quiet);
    let mut progress = |line: &str| match (quiet, json) {
        (true, _) => {}
        (false, true) => eprintln!("{line}"),
        (false, false) => println!("{line}"),
    };
    let report = execute(command, &mut progress)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|error| error.to_string())?);
    } else {
        print!("{}", summary_table(&report));
    }
    if report.messages == 0 && !report.errors.is_empty() {
        return Err(format!("no message got through: {}", report.first_error.unwrap_or_default()));
    }
    Ok(())
}

/// Runs the command; `progress` receives a line per second.
pub fn execute(command: &BenchCommand, progress: &mut dyn FnMut(&str)) -> Result<Report, String> {
    // Client executors register no DMA buffers of note; a low limit only matters if one
    // fails to start, and then the reason is part of the error.
    let memlock = runtime::raise_memlock_limit(64 << 20).err();
    let settings = serde_json::to_value(command).map_err(|error| error.to_string())?;
    match command {
        BenchCommand::Produce(args) => {
            validate_load(&args.load)?;
            let targets = resolve_targets(&args.target)?;
            let plans = produce_plans(&args.load, &targets, &args.target, &[]);
            let outcome =
                drive(plans, &args.target, &args.load, "produce", progress).map_err(|error| with(error, &memlock))?;
            Ok(outcome.report("produce", settings, &args.load))
        }
        BenchCommand::E2e(args) => {
            validate_load(&args.load)?;
            if args.load.size_bytes < 8 {
                return Err("e2e needs bodies of at least 8 bytes for the send stamp".into());
            }
            let targets = resolve_targets(&args.target)?;
            let pulls = pull_plans(&targets, &args.target.topic, args.pull_batch, Some(Duration::from_millis(500)))?;
            let consumers = spread(pulls, &targets, args.consumer_connections.max(1));
            let plans = produce_plans(&args.load, &targets, &args.target, &consumers);
            let outcome =
                drive(plans, &args.target, &args.load, "e2e", progress).map_err(|error| with(error, &memlock))?;
            Ok(outcome.report("e2e", settings, &args.load))
        }
        BenchCommand::Consume(args) => consume(args, settings, progress).map_err(|error| with(error, &memlock)),
    }
}

fn with(error: String, memlock: &Option<String>) -> String {
    match memlock {
        Some(warning) => format!("{error} ({warning})"),
        None => error,
    }
}

fn validate_load(load: &LoadArgs) -> Result<(), String> {
    let checks = [
        (load.senders == 0, "--senders must be at least 1"),
        (load.in_flight == 0, "--in-flight must be at least 1"),
        (load.batch == 0, "--batch must be at least 1"),
        (load.duration_s == 0, "--duration must be at least 1 second"),
        (load.warmup_s >= load.duration_s, "--warmup must be shorter than --duration"),
        (load.rate.is_some_and(|rate| !rate.is_finite() || rate <= 0.0), "--rate must be positive"),
        (load.in_flight > crate::limits::CLIENT_REQUESTS_IN_FLIGHT_MAX, "--in-flight exceeds the client's bound"),
    ];
    match checks.iter().find(|(failed, _)| *failed) {
        Some((_, message)) => Err(message.to_string()),
        None => Ok(()),
    }
}

fn consume(args: &ConsumeArgs, settings: serde_json::Value, progress: &mut dyn FnMut(&str)) -> Result<Report, String> {
    let targets = resolve_targets(&args.target)?;
    let mut pulls = pull_plans(&targets, &args.target.topic, args.pull_batch, None)?;
    if args.preload.is_none() {
        // Everything the topic holds (the broker answers OFFSET_MOVED from below its minimum).
        for (_, pull) in &mut pulls {
            pull.start_offset = 0;
        }
    }
    if let Some(count) = args.preload {
        let load = LoadArgs {
            size_bytes: args.size_bytes,
            senders: args.connections.max(1),
            connections: None,
            in_flight: 8,
            batch: 32,
            rate: None,
            duration_s: 3600,
            warmup_s: 0,
            oneway: false,
            messages: Some(count),
        };
        let plans = produce_plans(&load, &targets, &args.target, &[]);
        let outcome = drive(plans, &args.target, &load, "preload", &mut |_| {})?;
        // Quotas round up to whole batches per sender: at least `count` are stored.
        if outcome.all.messages < count {
            return Err(format!(
                "preload stored {} of {count} messages: {}",
                outcome.all.messages,
                outcome.all.first_error.unwrap_or_default()
            ));
        }
        progress(&format!(
            "preloaded {} messages in {:.1} s",
            outcome.all.messages,
            outcome.finished_after.as_secs_f64()
        ));
    }
    let connections = spread(pulls, &targets, args.connections.max(1));
    let plans = assign(connections, args.target.threads);
    let load = LoadArgs {
        size_bytes: args.size_bytes,
        senders: 0,
        connections: None,
        in_flight: 1,
        batch: 1,
        rate: None,
        duration_s: args.duration_s,
        warmup_s: 0,
        oneway: false,
        messages: None,
    };
    let outcome = drive(plans, &args.target, &load, "consume", progress)?;
    let seconds = outcome.finished_after.as_secs_f64().max(1e-9);
    let mut report = outcome.report("consume", settings, &load);
    report.seconds = seconds;
    report.messages = outcome.all.consumed;
    report.messages_per_second = outcome.all.consumed as f64 / seconds;
    report.megabytes_per_second = outcome.all.consumed_bytes as f64 / seconds / 1e6;
    Ok(report)
}

/// Where the topic's queues are: (broker address, writable queue ids).
#[derive(Clone, Debug)]
struct Target {
    broker: String,
    queue_ids: Vec<i32>,
}

fn admin_error(error: ClientError) -> String {
    error.to_string()
}

fn resolve_targets(args: &TargetArgs) -> Result<Vec<Target>, String> {
    if args.queues < 1 {
        return Err("--queues must be at least 1".into());
    }
    let mut admin = AdminApi::new(BlockingClient::new(Duration::from_millis(crate::limits::CLIENT_REQUEST_TIMEOUT_MS)));
    let config = TopicConfig {
        order: false,
        perm: perm::READ | perm::WRITE,
        read_queue_nums: args.queues,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_name: args.topic.clone(),
        topic_sys_flag: 0,
        write_queue_nums: args.queues,
    };
    let queue_ids = (0..args.queues).collect::<Vec<_>>();
    if let Some(broker) = &args.broker {
        admin.create_topic(broker, &config).map_err(admin_error)?;
        return Ok(vec![Target { broker: broker.clone(), queue_ids }]);
    }
    let namesrv = args.namesrv.clone().unwrap_or_else(|| "127.0.0.1:9876".into());
    if let Some(route) = admin.topic_route(&namesrv, &args.topic).map_err(admin_error)? {
        let targets: Vec<Target> = route
            .queue_datas
            .iter()
            .filter(|queue| queue.perm & perm::WRITE != 0 && queue.write_queue_nums > 0)
            .filter_map(|queue| {
                let broker = route.broker_datas.iter().find(|data| data.broker_name == queue.broker_name)?;
                let master = broker.broker_addrs.get(&0)?;
                Some(Target { broker: master.clone(), queue_ids: (0..queue.write_queue_nums).collect() })
            })
            .collect();
        if !targets.is_empty() {
            return Ok(targets);
        }
    }
    let cluster = admin.cluster_info(&namesrv).map_err(admin_error)?;
    let masters: Vec<String> =
        cluster.broker_addr_table.values().filter_map(|data| data.broker_addrs.get(&0).cloned()).collect();
    if masters.is_empty() {
        return Err(format!("no master broker is registered with the name server <{namesrv}>"));
    }
    for master in &masters {
        admin.create_topic(master, &config).map_err(admin_error)?;
    }
    Ok(masters.into_iter().map(|broker| Target { broker, queue_ids: queue_ids.clone() }).collect())
}

/// GET_MAX_OFFSET of every queue: where a consumer of only new messages starts.
fn pull_plans(
    targets: &[Target],
    topic: &str,
    batch: i32,
    hold: Option<Duration>,
) -> Result<Vec<(usize, PullPlan)>, String> {
    let mut client = BlockingClient::new(Duration::from_millis(crate::limits::CLIENT_REQUEST_TIMEOUT_MS));
    let mut plans = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        for queue_id in &target.queue_ids {
            let mut query = Command::request(request::GET_MAX_OFFSET, 0);
            QueueRequestHeader { topic: topic.into(), queue_id: *queue_id }.encode(&mut query.ext_fields);
            let reply = client.invoke(&target.broker, query).map_err(admin_error)?;
            let reply = crate::client::expect_code(reply, response::SUCCESS).map_err(admin_error)?;
            let offset = OffsetResponseHeader::decode(&reply.ext_fields).map_err(|error| error.to_string())?.offset;
            let plan = PullPlan { topic: topic.into(), queue_id: *queue_id, start_offset: offset, batch, hold };
            plans.push((index, plan));
        }
    }
    Ok(plans)
}

/// Spreads pull loops over `count` connections per target broker, in contiguous blocks of
/// queues as Java's default rebalance (AllocateMessageQueueAveragely) gives consumers theirs.
/// Round-robin would hand one connection every other queue, and consecutive queues alternate
/// between a broker's shards (`shards/routing.rs`): each connection would then read only local
/// or only remote queues, by the parity of the topic's hash, and a pull measurement would
/// change with the topic name.
fn spread(pulls: Vec<(usize, PullPlan)>, targets: &[Target], count: usize) -> Vec<ConnectionPlan> {
    let mut connections: Vec<ConnectionPlan> = (0..count * targets.len())
        .map(|index| ConnectionPlan { address: targets[index % targets.len()].broker.clone(), ..Default::default() })
        .collect();
    let mut totals = vec![0usize; targets.len()];
    pulls.iter().for_each(|(target, _)| totals[*target] += 1);
    let mut next = vec![0usize; targets.len()];
    for (target, pull) in pulls {
        let block = next[target] * count / totals[target];
        next[target] += 1;
        connections[target + targets.len() * block].pulls.push(pull);
    }
    connections
}

/// Connections and senders for a produce load; `extra` connections (pull loops) are added.
fn produce_plans(load: &LoadArgs, targets: &[Target], args: &TargetArgs, extra: &[ConnectionPlan]) -> Vec<ThreadPlan> {
    // Only an end-to-end run reads the send stamp; elsewhere it would cost a clock read.
    let stamp = !extra.is_empty();
    let connection_count = load.connections.unwrap_or(load.senders).clamp(1, load.senders.max(1));
    let mut connections: Vec<ConnectionPlan> = (0..connection_count)
        .map(|index| ConnectionPlan { address: targets[index % targets.len()].broker.clone(), ..Default::default() })
        .collect();
    let requests_per_second = load.rate.map(|rate| rate / load.batch as f64);
    let interval_ns = requests_per_second.map(|per_second| 1e9 * load.senders as f64 / per_second);
    for index in 0..load.senders {
        let connection = index % connection_count;
        let target = &targets[connection % targets.len()];
        connections[connection].senders.push(SenderPlan {
            index,
            topic: args.topic.clone(),
            queue_ids: target.queue_ids.clone(),
            body_bytes: load.size_bytes,
            batch: load.batch,
            lanes: if load.oneway { 1 } else { load.in_flight },
            interval_ns,
            offset_ns: interval_ns.map_or(0.0, |interval| interval * index as f64 / load.senders as f64),
            quota: load.messages.map(|count| count.div_ceil((load.batch * load.senders) as u64)),
            oneway: load.oneway,
            stamp,
        });
    }
    connections.extend(extra.iter().cloned());
    assign(connections, args.threads)
}

/// Connections round-robin over threads: `threads` of them, or one per connection up to the
/// CPU count.
fn assign(connections: Vec<ConnectionPlan>, threads: usize) -> Vec<ThreadPlan> {
    let count = match threads {
        0 => connections.len().min(runtime::cpu_count()).max(1),
        count => count.min(connections.len()).max(1),
    };
    let mut plans: Vec<ThreadPlan> = (0..count).map(|index| ThreadPlan { index, connections: Vec::new() }).collect();
    for (index, connection) in connections.into_iter().enumerate() {
        plans[index % count].connections.push(connection);
    }
    plans
}

struct Outcome {
    /// Ticks after the warm-up and before the end.
    measured: Interval,
    /// Everything, tail included.
    all: Interval,
    finished_after: Duration,
    threads: usize,
    cpus: Vec<usize>,
}

impl Outcome {
    fn report(&self, mode: &str, settings: serde_json::Value, load: &LoadArgs) -> Report {
        let window = self.finished_after.min(Duration::from_secs(load.duration_s));
        let seconds = window.saturating_sub(Duration::from_secs(load.warmup_s)).as_secs_f64().max(1e-9);
        let (latency, e2e) = (&self.measured.latency, &self.measured.e2e_latency);
        Report {
            mode: mode.into(),
            settings,
            seconds,
            messages: self.measured.messages,
            messages_per_second: self.measured.messages as f64 / seconds,
            megabytes_per_second: self.measured.bytes as f64 / seconds / 1e6,
            send_latency_us: Percentiles::of(latency),
            e2e_latency_us: Percentiles::of(e2e),
            errors: errors_by_name(&self.all.errors),
            first_error: self.all.first_error.clone(),
            consumed: self.measured.consumed,
            client_threads: self.threads,
            client_cpus: self.cpus.clone(),
        }
    }
}

/// Starts one executor per plan, prints a line per second, and gathers the counts.
fn drive(
    plans: Vec<ThreadPlan>,
    target: &TargetArgs,
    load: &LoadArgs,
    label: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, String> {
    let cpus = &target.cpus;
    let thread_count = plans.len();
    let duration = Duration::from_secs(load.duration_s);
    let barrier = Arc::new(Barrier::new(thread_count));
    let (sender, receiver) = mpsc::channel::<Tick>();
    let mut handles = Vec::new();
    let mut pinned = Vec::new();
    for plan in plans {
        let cpu = (!cpus.is_empty()).then(|| cpus[plan.index % cpus.len()]);
        pinned.extend(cpu);
        let (barrier, sender) = (barrier.clone(), sender.clone());
        let name = format!("bench-{}", plan.index);
        let main = move || load::run_thread(plan, duration, barrier, sender);
        let handle = match target.spin_us {
            0 => runtime::spawn_executor(&name, cpu, main),
            spin_us => runtime::spawn_executor_spinning(&name, cpu, Duration::from_micros(spin_us), main),
        }
        .map_err(|error| format!("cannot start client thread {name}: {error}"))?;
        handles.push(handle);
    }
    drop(sender);
    let mut outcome = Outcome {
        measured: Interval::default(),
        all: Interval::default(),
        finished_after: Duration::ZERO,
        threads: thread_count,
        cpus: pinned,
    };
    let mut seconds: BTreeMap<u64, (usize, Interval)> = BTreeMap::new();
    let mut finished = vec![false; thread_count];
    let mut reported = vec![None::<u64>; thread_count];
    for tick in receiver {
        outcome.all.add(&tick.interval);
        match tick.second {
            Some(second) => {
                reported[tick.thread] = Some(second);
                let entry = seconds.entry(second).or_default();
                entry.0 += 1;
                entry.1.add(&tick.interval);
                if second >= load.warmup_s && second < load.duration_s {
                    outcome.measured.add(&tick.interval);
                }
            }
            None => {
                finished[tick.thread] = true;
                let finished_after = tick.finished_after.unwrap_or_default();
                outcome.finished_after = outcome.finished_after.max(finished_after);
                if finished_after <= duration {
                    // The thread finished early (a message quota): its last partial second counts.
                    outcome.measured.add(&tick.interval);
                } else {
                    // Replies that arrived after the end are real latencies, but not throughput.
                    outcome.measured.latency.add(&tick.interval.latency).expect("same bounds");
                    outcome.measured.e2e_latency.add(&tick.interval.e2e_latency).expect("same bounds");
                }
            }
        }
        // A second is complete when every thread still running has reported it.
        while let Some((&second, _)) = seconds.first_key_value() {
            let complete = (0..thread_count).all(|thread| finished[thread] || reported[thread] >= Some(second));
            if !complete {
                break;
            }
            let (_, (_, interval)) = seconds.pop_first().expect("not empty");
            progress(&progress_line(second, &interval, label));
        }
    }
    let mut failures = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failures.push(error),
            Err(error) => failures.push(format!("client thread failed: {error}")),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    Ok(outcome)
}

/// The summary as a markdown table.
pub fn summary_table(report: &Report) -> String {
    let mut text = String::new();
    text.push_str(&format!(
        "\n{}: {} messages in {:.1} s: {:.0} msg/s, {:.1} MB/s (client threads {}, cpus {:?})\n\n",
        report.mode,
        report.messages,
        report.seconds,
        report.messages_per_second,
        report.megabytes_per_second,
        report.client_threads,
        report.client_cpus
    ));
    text.push_str("| latency | count | mean µs | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs |\n");
    text.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (name, percentiles) in [("send", &report.send_latency_us), ("send→consume", &report.e2e_latency_us)] {
        if let Some(p) = percentiles {
            text.push_str(&format!(
                "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                p.count, p.mean, p.p50, p.p90, p.p99, p.p999, p.max
            ));
        }
    }
    if !report.errors.is_empty() {
        let errors: Vec<String> = report.errors.iter().map(|(name, count)| format!("{name}×{count}")).collect();
        text.push_str(&format!("\nerrors: {}\n", errors.join(" ")));
        if let Some(first) = &report.first_error {
            text.push_str(&format!("first error: {first}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulls(targets: &[Target]) -> Vec<(usize, PullPlan)> {
        let plan = |queue_id| PullPlan { topic: "T".into(), queue_id, start_offset: 0, batch: 32, hold: None };
        targets
            .iter()
            .enumerate()
            .flat_map(|(index, target)| target.queue_ids.iter().map(move |queue_id| (index, plan(*queue_id))))
            .collect()
    }

    fn queues_of(connection: &ConnectionPlan) -> Vec<i32> {
        connection.pulls.iter().map(|pull| pull.queue_id).collect()
    }

    #[test]
    fn pull_loops_go_to_connections_in_contiguous_blocks_of_queues_per_broker() {
        let one = [Target { broker: "a:1".into(), queue_ids: (0..8).collect() }];
        let connections = spread(pulls(&one), &one, 2);
        assert_eq!(connections.iter().map(queues_of).collect::<Vec<_>>(), [vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);

        // Two brokers, three connections each: connection i goes to broker i mod 2.
        let two = [
            Target { broker: "a:1".into(), queue_ids: (0..4).collect() },
            Target { broker: "b:1".into(), queue_ids: (0..4).collect() },
        ];
        let connections = spread(pulls(&two), &two, 3);
        assert_eq!(connections.len(), 6);
        assert!(connections.iter().enumerate().all(|(index, connection)| connection.address == two[index % 2].broker));
        assert_eq!(queues_of(&connections[0]), [0, 1]);
        assert_eq!(queues_of(&connections[2]), [2]);
        assert_eq!(queues_of(&connections[4]), [3]);
        assert_eq!(connections.iter().map(|connection| connection.pulls.len()).sum::<usize>(), 8);
    }
}
