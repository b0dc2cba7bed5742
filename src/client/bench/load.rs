//! The executor side of `ringmq bench`: one client thread's connections, send lanes and pull
//! loops, and its once-a-second report to the main thread.
//!
//! A sender with `in_flight` N runs N lanes on its connection. Every lane takes the sender's
//! next request number k. Closed loop: it sends at once. Open loop (`--rate`): request k is
//! *intended* at `start + offset + k × interval`; the lane sleeps until then if it is early,
//! and latency is measured from the intended time, so a broker stall that delays later sends
//! shows in their latency instead of vanishing (coordinated omission is corrected). When every
//! lane is busy, the next request simply leaves late and carries that lateness.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::stats::{Interval, CODE_CONNECTION};
use crate::client::{body_stamp, records, Pipeline, Producer, PullConsumer, SendTarget, SendTemplate};
use crate::protocol::response;
use crate::runtime;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// After the run ends, how long outstanding replies may take before the thread gives up on
/// them (a stuck broker must not hang the benchmark).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long end-to-end pulls continue after the senders stop.
const LONG_POLL_GRACE: Duration = Duration::from_millis(200);

/// Producer group and consumer group the benchmark uses.
pub const PRODUCER_GROUP: &str = "ringmq-bench-producer";
pub const CONSUMER_GROUP: &str = "ringmq-bench-consumer";

/// One sender: its requests, where they go, and how fast.
#[derive(Clone, Debug)]
pub struct SenderPlan {
    pub index: usize,
    pub topic: String,
    pub queue_ids: Vec<i32>,
    pub body_bytes: usize,
    pub batch: usize,
    pub lanes: usize,
    /// Open loop: nanoseconds between this sender's requests; `None` is closed loop.
    pub interval_ns: Option<f64>,
    pub offset_ns: f64,
    /// Acknowledged requests after which this sender stops (its lanes in flight then finish).
    pub quota: Option<u64>,
    pub oneway: bool,
    /// Stamp the send time into each body (end-to-end latency).
    pub stamp: bool,
}

/// One queue's pull loop.
#[derive(Clone, Debug)]
pub struct PullPlan {
    pub topic: String,
    pub queue_id: i32,
    pub start_offset: i64,
    pub batch: i32,
    /// Long polling (end to end); `None` stops at the end of the queue (catch-up consume).
    pub hold: Option<Duration>,
}

#[derive(Clone, Debug, Default)]
pub struct ConnectionPlan {
    pub address: String,
    pub senders: Vec<SenderPlan>,
    pub pulls: Vec<PullPlan>,
}

/// Everything one client thread does.
#[derive(Clone, Debug, Default)]
pub struct ThreadPlan {
    pub index: usize,
    pub connections: Vec<ConnectionPlan>,
}

/// A thread's counts for tick `second` (seconds since its start), or the tail after the run.
pub struct Tick {
    pub thread: usize,
    pub second: Option<u64>,
    pub interval: Interval,
    /// Set on the last report: how long the thread's work took.
    pub finished_after: Option<Duration>,
}

#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    end: Instant,
}

/// Runs one thread's plan on the current executor.
pub async fn run_thread(
    plan: ThreadPlan,
    duration: Duration,
    barrier: Arc<Barrier>,
    ticks: mpsc::Sender<Tick>,
) -> Result<(), String> {
    let connected = connect_all(&plan).await;
    // Every thread waits here, connected or not, so that a failure cannot leave others
    // waiting; the load starts at the same moment everywhere.
    barrier.wait();
    let pipelines = connected?;
    let start = Instant::now();
    let clock = Clock { start, end: start + duration };
    let stats = Rc::new(RefCell::new(Interval::default()));
    let running = Rc::new(Cell::new(true));
    let ticker = runtime::spawn(tick_loop(plan.index, clock, stats.clone(), running.clone(), ticks.clone()));
    let mut senders = Vec::new();
    let mut pulls = Vec::new();
    for (connection, pipeline) in plan.connections.iter().zip(pipelines) {
        for sender in &connection.senders {
            senders.extend(spawn_sender(sender, &pipeline, clock, &stats));
        }
        let consumer = PullConsumer::new(pipeline.clone(), CONSUMER_GROUP);
        for pull in &connection.pulls {
            pulls.push(runtime::spawn(pull_loop(consumer.clone(), pull.clone(), clock, stats.clone())));
        }
    }
    let work = async move {
        for task in senders.into_iter().chain(pulls) {
            task.await;
        }
    };
    let timed_out = futures_lite::future::or(
        async {
            work.await;
            false
        },
        async {
            runtime::sleep(duration + DRAIN_TIMEOUT).await;
            true
        },
    )
    .await;
    // When the work ended, not when the tail is sent: cancelling the ticker takes a moment, and
    // a run whose last reply came just before the end was reported as all after it (CI: a
    // SYNC_FLUSH sender at 1k/s, 1,000 replies, 0 messages counted).
    let finished_after = start.elapsed();
    if Instant::now() < clock.end {
        // Finished early (a quota, or every queue caught up): the partial second is the tail.
        running.set(false);
        ticker.cancel().await;
    } else {
        // The ticker reports every whole second up to the end; what came later is the tail.
        ticker.await;
    }
    let mut tail = std::mem::take(&mut *stats.borrow_mut());
    if timed_out {
        tail.error(CODE_CONNECTION, || format!("replies still outstanding {DRAIN_TIMEOUT:?} after the end"));
    }
    let _ = ticks.send(Tick { thread: plan.index, second: None, interval: tail, finished_after: Some(finished_after) });
    Ok(())
}

async fn connect_all(plan: &ThreadPlan) -> Result<Vec<Pipeline>, String> {
    let mut pipelines = Vec::new();
    for connection in &plan.connections {
        pipelines
            .push(Pipeline::connect(&connection.address, CONNECT_TIMEOUT).await.map_err(|error| error.to_string())?);
    }
    Ok(pipelines)
}

/// Sends this thread's counts every second, on the second since its start.
async fn tick_loop(
    thread: usize,
    clock: Clock,
    stats: Rc<RefCell<Interval>>,
    running: Rc<Cell<bool>>,
    ticks: mpsc::Sender<Tick>,
) {
    let mut second = 0u64;
    while running.get() && clock.start + Duration::from_secs(second) < clock.end {
        let due = clock.start + Duration::from_secs(second + 1);
        let now = Instant::now();
        if due > now {
            runtime::sleep(due - now).await;
        }
        let interval = std::mem::take(&mut *stats.borrow_mut());
        if ticks.send(Tick { thread, second: Some(second), interval, finished_after: None }).is_err() {
            return;
        }
        second += 1;
    }
}

struct SenderState {
    plan: SenderPlan,
    templates: Vec<SendTemplate>,
    next: Cell<u64>,
    /// Requests answered SUCCESS (or oneway requests sent): what the quota counts, so that a
    /// preload refused in part (SYSTEM_BUSY while the disk catches up) still stores its count.
    acknowledged: Cell<u64>,
    /// Requests sent and not answered yet.
    pending: Cell<u64>,
    /// When a request last succeeded (or the sender started). A lane of a sender with a
    /// quota whose request is refused gives up after `QUOTA_GIVE_UP_AFTER` without a success,
    /// so that a send refused for good (no permission, a slave) ends the run instead of
    /// retrying until its end; a preload refused in bursts (SYSTEM_BUSY while the disk catches
    /// up: 31,264 refusals in 1.6 s, measured) goes on.
    succeeded_at: Cell<Instant>,
}

/// How long a sender with a quota keeps retrying without a single success.
const QUOTA_GIVE_UP_AFTER: Duration = Duration::from_secs(3);

fn spawn_sender(
    plan: &SenderPlan,
    pipeline: &Pipeline,
    clock: Clock,
    stats: &Rc<RefCell<Interval>>,
) -> Vec<runtime::Task<()>> {
    let body = vec![b'x'; plan.body_bytes];
    let templates = plan
        .queue_ids
        .iter()
        .map(|queue_id| {
            let target = SendTarget { producer_group: PRODUCER_GROUP, topic: &plan.topic, queue_id: *queue_id };
            let template = match plan.batch {
                1 => SendTemplate::single(&target, &body),
                count => SendTemplate::batch(&target, &body, count),
            };
            if plan.oneway {
                template.oneway()
            } else {
                template
            }
        })
        .collect();
    let state = Rc::new(SenderState {
        plan: plan.clone(),
        templates,
        next: Cell::new(0),
        acknowledged: Cell::new(0),
        pending: Cell::new(0),
        succeeded_at: Cell::new(Instant::now()),
    });
    let producer = Producer::new(pipeline.clone());
    (0..plan.lanes.max(1))
        .map(|_| runtime::spawn(send_lane(producer.clone(), state.clone(), clock, stats.clone())))
        .collect()
}

/// CLOCK_REALTIME in nanoseconds: comparable between the producer and consumer threads.
pub fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as i64)
        .unwrap_or(0)
}

async fn send_lane(producer: Producer, sender: Rc<SenderState>, clock: Clock, stats: Rc<RefCell<Interval>>) {
    let plan = &sender.plan;
    loop {
        let k = sender.next.get();
        // A lane stops once the quota is acknowledged or in flight; the lane of a request
        // that fails goes on and sends again.
        if plan.quota.is_some_and(|quota| sender.acknowledged.get() + sender.pending.get() >= quota) {
            return;
        }
        sender.next.set(k + 1);
        let intended = match plan.interval_ns {
            Some(interval_ns) => clock.start + Duration::from_nanos((plan.offset_ns + k as f64 * interval_ns) as u64),
            None => Instant::now(),
        };
        if intended >= clock.end {
            return;
        }
        let now = Instant::now();
        if intended > now {
            runtime::sleep(intended - now).await;
        }
        let template = &sender.templates[(plan.index + k as usize) % sender.templates.len()];
        let stamp = plan.stamp.then(|| wall_clock_ns() - intended.elapsed().as_nanos() as i64);
        if plan.oneway {
            let sent = producer.send_oneway(template, stamp).await;
            let mut stats = stats.borrow_mut();
            match sent {
                Ok(()) => {
                    sender.acknowledged.set(sender.acknowledged.get() + 1);
                    sender.succeeded_at.set(Instant::now());
                    stats.messages += u64::from(template.messages());
                    stats.bytes += template.body_bytes_total() as u64;
                }
                Err(error) => return stats.error(CODE_CONNECTION, || error.to_string()),
            }
            continue;
        }
        sender.pending.set(sender.pending.get() + 1);
        let result = producer.send(template, stamp).await;
        sender.pending.set(sender.pending.get() - 1);
        let latency_ns = intended.elapsed().as_nanos() as u64;
        let mut stats = stats.borrow_mut();
        match result {
            Ok(reply) => match reply.code() {
                response::SUCCESS => {
                    sender.acknowledged.set(sender.acknowledged.get() + 1);
                    sender.succeeded_at.set(Instant::now());
                    stats.latency.saturating_record(latency_ns);
                    stats.messages += u64::from(template.messages());
                    stats.bytes += template.body_bytes_total() as u64;
                }
                code => {
                    stats.error(code, || {
                        let remark = reply.decode().ok().and_then(|command| command.remark).unwrap_or_default();
                        format!("{}: {remark}", super::stats::code_name(code))
                    });
                    if plan.quota.is_some() && sender.succeeded_at.get().elapsed() >= QUOTA_GIVE_UP_AFTER {
                        return;
                    }
                }
            },
            Err(error) => return stats.error(CODE_CONNECTION, || error.to_string()),
        }
    }
}

async fn pull_loop(consumer: PullConsumer, plan: PullPlan, clock: Clock, stats: Rc<RefCell<Interval>>) {
    let mut offset = plan.start_offset;
    // A catch-up loop stops at the end of its queue or of the run; a long-polling loop keeps
    // pulling a moment after the run so the last messages sent still arrive.
    let stop = match plan.hold {
        Some(_) => clock.end + LONG_POLL_GRACE,
        None => clock.end,
    };
    while Instant::now() < stop {
        let pulled = consumer.pull(&plan.topic, plan.queue_id, offset, plan.batch, plan.hold).await;
        let next = count_pulled(pulled, &plan, offset, &mut stats.borrow_mut());
        match next {
            PullNext::At(next) => offset = next,
            PullNext::Stop => return,
            PullNext::Backoff => runtime::sleep(Duration::from_millis(100)).await,
        }
    }
}

enum PullNext {
    At(i64),
    Stop,
    /// An error reply: try the same offset again a little later.
    Backoff,
}

/// Counts one pull's messages (and their send→consume latency) and says where to go next.
fn count_pulled(
    pulled: Result<crate::client::Pulled, crate::client::PipelineError>,
    plan: &PullPlan,
    offset: i64,
    stats: &mut Interval,
) -> PullNext {
    let now_ns = wall_clock_ns();
    let pulled = match pulled {
        Ok(pulled) => pulled,
        Err(error) => {
            stats.error(CODE_CONNECTION, || error.to_string());
            return PullNext::Stop;
        }
    };
    match pulled.code {
        response::SUCCESS => {
            for stored in records(&pulled.body) {
                stats.consumed += 1;
                stats.consumed_bytes += stored.len() as u64;
                if plan.hold.is_some() {
                    if let Some(stamp) = body_stamp(stored) {
                        stats.e2e_latency.saturating_record((now_ns - stamp).max(1) as u64);
                    }
                }
            }
            PullNext::At(pulled.next_begin_offset)
        }
        response::PULL_NOT_FOUND if plan.hold.is_none() => PullNext::Stop,
        response::PULL_NOT_FOUND | response::PULL_RETRY_IMMEDIATELY => {
            PullNext::At(pulled.next_begin_offset.max(offset))
        }
        // The offset is outside the queue: the broker says where the queue really is.
        response::PULL_OFFSET_MOVED => PullNext::At(pulled.next_begin_offset),
        code => {
            stats.error(code, || format!("pull of queue {} answered {}", plan.queue_id, response::name(code)));
            PullNext::Backoff
        }
    }
}
