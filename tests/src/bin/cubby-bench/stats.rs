//! What the workers count and time, and the latency percentiles of a run.

use std::time::Duration;

use reqwest::StatusCode;

/// What one worker saw.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) conflicts: u64,
    pub(crate) errors_5xx: u64,
    pub(crate) errors_other: u64,
}

impl Stats {
    pub(crate) fn status_error(&mut self, status: StatusCode) {
        if status.is_server_error() {
            self.errors_5xx += 1;
        } else {
            self.errors_other += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.conflicts += other.conflicts;
        self.errors_5xx += other.errors_5xx;
        self.errors_other += other.errors_other;
    }
}

/// The `q` quantile (nearest rank) of sorted durations, in ms; 0 when empty.
pub(crate) fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1000.0
}
