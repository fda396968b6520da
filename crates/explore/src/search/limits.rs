//! The limits that stop a search (executions, time, memory), and reading the process's
//! resident set.

use super::{Bound, Bounds, Stats};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The limit (of `b`) the search has reached, if any: an interrupt, executions, time (since
/// `start`), memory (resident set, address space).
pub(super) fn check_limits(
    b: &Bounds,
    stats: &Stats,
    start: Instant,
    rss: &mut RssGauge,
) -> Option<Bound> {
    if b.interrupt
        .as_ref()
        .is_some_and(|i| i.load(Ordering::Relaxed))
    {
        return Some(Bound::Interrupted);
    }
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
    if b.max_memory_mib.is_some() || b.max_address_space_mib.is_some() {
        return rss.reached(b);
    }
    None
}

/// Reads this process's memory (`/proc/self/statm`) for the memory limits: on the 16th look,
/// then at most every 10 ms (the time is looked at on every 64th look: the depth-first
/// search looks on every step, the stateful search every 256 arrivals, so its first read
/// comes after 4,096). A read of `/proc` costs tens of microseconds; read every 256 arrivals
/// of a stateful search it took a tenth of the search's time (0.7 s of 7.9 s on F(11,2), all
/// of it system time), and one read on the first look took 5% of a search of a thousand
/// states (60 µs of 1.3 ms on `bench/scenarios/d1-second-mapping-3t.toml`, v5.7, which
/// restarts once: two reads). Ten milliseconds or 4,096 arrivals of search grow the process
/// by a few MiB at most; the one large block a search allocates at once, the stateful
/// search's visited table when it doubles, is checked against the limits before it is
/// allocated (`stateful::visited::Visited::grow`). One gauge per search loop (each worker
/// has its own).
#[derive(Default)]
pub(crate) struct RssGauge {
    last: Option<Instant>,
    looks: u32,
}

impl RssGauge {
    /// Looks before the first read.
    const FIRST: u32 = 16;

    /// The memory bound of `b` the process has reached (as of the last read), if any.
    fn reached(&mut self, b: &Bounds) -> Option<Bound> {
        self.looks = self.looks.wrapping_add(1);
        let now = match self.last {
            None if self.looks < Self::FIRST => return None,
            None => Instant::now(),
            Some(_) if !self.looks.is_multiple_of(64) => return None,
            Some(last) => {
                let now = Instant::now();
                if now.duration_since(last) < Duration::from_millis(10) {
                    return None;
                }
                now
            }
        };
        self.last = Some(now);
        memory_bound(b, 0)
    }
}

/// The memory bound of `b` that the process would pass with `more` bytes allocated on top of
/// what it has now (or has passed already), if any.
pub(crate) fn memory_bound(b: &Bounds, more: u64) -> Option<Bound> {
    let m = memory_mib()?;
    let more = more.div_ceil(1024 * 1024);
    if let Some(limit) = b.max_address_space_mib {
        if m.size + more >= limit {
            return Some(Bound::MaxAddressSpaceMib(limit));
        }
    }
    if let Some(limit) = b.max_memory_mib {
        if m.resident + more >= limit {
            return Some(Bound::MaxMemoryMib(limit));
        }
    }
    None
}

/// This process's memory in MiB (Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryMib {
    /// Address space (`VmSize`): what `RLIMIT_AS` limits.
    pub size: u64,
    /// Resident set (`VmRSS`): what the machine's memory and a cgroup limit.
    pub resident: u64,
}

/// This process's address space and resident set in MiB (Linux), if they can be read.
pub fn memory_mib() -> Option<MemoryMib> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut f = s.split_whitespace().map(|x| x.parse::<u64>().ok());
    let size = f.next()??;
    let resident = f.next()??;
    let mib = |pages: u64| pages * 4096 / (1024 * 1024);
    Some(MemoryMib {
        size: mib(size),
        resident: mib(resident),
    })
}

/// Resident set size of this process in MiB (Linux), if it can be read.
pub fn rss_mib() -> Option<u64> {
    memory_mib().map(|m| m.resident)
}

/// Peak resident set size of this process in MiB (Linux), if it can be read.
pub fn peak_rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
