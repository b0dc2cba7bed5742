//! What the load tasks count (one [`Interval`] per client thread per second) and the report
//! built from it: percentiles from HdrHistogram, errors by response code name.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::protocol::response;

/// Latencies are recorded in nanoseconds and reported in microseconds; 100 s is the ceiling
/// (a longer wait is recorded as 100 s).
const LATENCY_NS_MAX: u64 = 100_000_000_000;

/// A transport failure (connection refused or broken), counted beside the response codes.
pub const CODE_CONNECTION: i32 = -1;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("valid histogram bounds")
}

/// One thread's counts over one tick (or the tail after the run).
pub struct Interval {
    pub latency: Histogram<u64>,
    pub e2e_latency: Histogram<u64>,
    /// Messages acknowledged (or sent, for oneway) and their body bytes.
    pub messages: u64,
    pub bytes: u64,
    /// Messages pulled and their stored bytes.
    pub consumed: u64,
    pub consumed_bytes: u64,
    pub errors: BTreeMap<i32, u64>,
    pub first_error: Option<String>,
}

impl Default for Interval {
    fn default() -> Self {
        Self {
            latency: histogram(),
            e2e_latency: histogram(),
            messages: 0,
            bytes: 0,
            consumed: 0,
            consumed_bytes: 0,
            errors: BTreeMap::new(),
            first_error: None,
        }
    }
}

impl Interval {
    pub fn error(&mut self, code: i32, reason: impl FnOnce() -> String) {
        *self.errors.entry(code).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(reason());
        }
    }

    pub fn add(&mut self, other: &Interval) {
        self.latency.add(&other.latency).expect("same bounds");
        self.e2e_latency.add(&other.e2e_latency).expect("same bounds");
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.consumed += other.consumed;
        self.consumed_bytes += other.consumed_bytes;
        for (code, count) in &other.errors {
            *self.errors.entry(*code).or_default() += count;
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

pub fn code_name(code: i32) -> String {
    match code {
        CODE_CONNECTION => "CONNECTION".to_string(),
        code => match response::name(code) {
            "UNKNOWN" => format!("CODE_{code}"),
            name => name.to_string(),
        },
    }
}

pub fn errors_by_name(errors: &BTreeMap<i32, u64>) -> BTreeMap<String, u64> {
    errors.iter().map(|(code, count)| (code_name(*code), *count)).collect()
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// (percentile, µs) at 1 − 10^(−k/4) for k = 0..=20 and the maximum: the points of an
    /// HdrHistogram percentile plot, even on its logarithmic axis.
    pub curve: Vec<(f64, f64)>,
}

fn micros(nanos: u64) -> f64 {
    (nanos as f64 / 100.0).round() / 10.0
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let at = |quantile: f64| micros(histogram.value_at_quantile(quantile));
        let mut curve: Vec<(f64, f64)> = (0..=20)
            .map(|k| 1.0 - 10f64.powf(-(k as f64) / 4.0))
            .map(|quantile| (quantile * 100.0, at(quantile)))
            .collect();
        curve.push((100.0, micros(histogram.max())));
        Some(Self {
            count: histogram.len(),
            mean: (histogram.mean() / 100.0).round() / 10.0,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: micros(histogram.max()),
            curve,
        })
    }
}

/// A one-line progress report for one second.
pub fn progress_line(second: u64, interval: &Interval, label: &str) -> String {
    let mut line = format!("[{:>4}s] {label}", second + 1);
    if interval.messages > 0 || interval.consumed == 0 {
        line.push_str(&format!(" {:>9} msg/s sent", interval.messages));
    }
    if interval.consumed > 0 {
        line.push_str(&format!(" {:>9} msg/s consumed", interval.consumed));
    }
    let with = |line: &mut String, name: &str, histogram: &Histogram<u64>| {
        if !histogram.is_empty() {
            line.push_str(&format!(
                "  {name} p50 {:.1} µs p99 {:.1} µs",
                micros(histogram.value_at_quantile(0.5)),
                micros(histogram.value_at_quantile(0.99))
            ));
        }
    };
    with(&mut line, "send", &interval.latency);
    with(&mut line, "e2e", &interval.e2e_latency);
    if !interval.errors.is_empty() {
        let errors: Vec<String> =
            interval.errors.iter().map(|(code, count)| format!("{}×{count}", code_name(*code))).collect();
        line.push_str(&format!("  errors: {}", errors.join(" ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_add_up_and_percentiles_are_in_microseconds() {
        let mut total = Interval::default();
        for value_ns in [10_000u64, 20_000, 30_000, 40_000] {
            let mut one = Interval::default();
            one.latency.record(value_ns).unwrap();
            one.messages = 2;
            one.error(response::SYSTEM_BUSY, || "busy".into());
            total.add(&one);
        }
        assert_eq!((total.messages, total.errors[&response::SYSTEM_BUSY]), (8, 4));
        assert_eq!(total.first_error.as_deref(), Some("busy"));
        let percentiles = Percentiles::of(&total.latency).unwrap();
        assert_eq!((percentiles.count, percentiles.p50, percentiles.max), (4, 20.0, 40.0));
        assert_eq!(percentiles.curve.last(), Some(&(100.0, 40.0)));
        assert!(percentiles.curve.windows(2).all(|pair| pair[0].0 <= pair[1].0 && pair[0].1 <= pair[1].1));
        assert!(Percentiles::of(&histogram()).is_none());
        assert_eq!(errors_by_name(&total.errors).get("SYSTEM_BUSY"), Some(&4));
        assert_eq!(code_name(CODE_CONNECTION), "CONNECTION");
        let line = progress_line(0, &total, "produce");
        assert!(line.contains("8 msg/s") && line.contains("SYSTEM_BUSY×4"), "{line}");
    }
}
