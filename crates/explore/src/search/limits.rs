//! The limits that stop a search (executions, time, memory), and reading the process's
//! resident set.

use super::{Bound, Bounds, Stats};
use std::time::{Duration, Instant};

/// The limit (of `b`) the search has reached, if any: executions, time (since `start`),
/// resident memory.
pub(super) fn check_limits(
    b: &Bounds,
    stats: &Stats,
    start: Instant,
    rss: &mut RssGauge,
) -> Option<Bound> {
    if let Some(m) = b.max_executions {
        if stats.executions + stats.pruned >= m {
            return Some(Bound::MaxExecutions(m));
        }
    }
    if let Some(t) = b.max_time {
        if start.elapsed() >= t {
            return Some(Bound::MaxTime(t.as_secs()));
        }
    }
    if let Some(m) = b.max_memory_mib {
        if rss.reached(m) {
            return Some(Bound::MaxMemoryMib(m));
        }
    }
    None
}

/// Reads this process's resident set for a memory limit: on the 16th look, then at most
/// every 10 ms (the time is looked at on every 64th look: the depth-first search looks on
/// every step, the stateful search every 256 arrivals, so its first read comes after 4,096).
/// A read of `/proc` costs tens of microseconds; read every 256 arrivals of a stateful search
/// it took a tenth of the search's time (0.7 s of 7.9 s on F(11,2), all of it system time),
/// and one read on the first look took 5% of a search of a thousand states (60 µs of 1.3 ms
/// on `bench/scenarios/d1-second-mapping-3t.toml`, v5.7, which restarts once: two reads).
/// Ten milliseconds or 4,096 arrivals of search grow the resident set by a few MiB at most.
/// One per search loop (each worker has its own).
#[derive(Default)]
pub(crate) struct RssGauge {
    last: Option<Instant>,
    looks: u32,
}

impl RssGauge {
    /// Looks before the first read.
    const FIRST: u32 = 16;

    /// Whether the resident set has reached `limit` MiB (as of the last read).
    fn reached(&mut self, limit: u64) -> bool {
        self.looks = self.looks.wrapping_add(1);
        let now = match self.last {
            None if self.looks < Self::FIRST => return false,
            None => Instant::now(),
            Some(_) if !self.looks.is_multiple_of(64) => return false,
            Some(last) => {
                let now = Instant::now();
                if now.duration_since(last) < Duration::from_millis(10) {
                    return false;
                }
                now
            }
        };
        self.last = Some(now);
        rss_mib().is_some_and(|r| r >= limit)
    }
}

/// Resident set size of this process in MiB (Linux), if it can be read.
pub fn rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / (1024 * 1024))
}

/// Peak resident set size of this process in MiB (Linux), if it can be read.
pub fn peak_rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
