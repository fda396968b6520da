//! Exhaustive exploration of a model's interleavings.
//!
//! Two strategies share one driver:
//! * [`Strategy::Dpor`]: dynamic partial-order reduction after Flanagan and Godefroid
//!   (POPL 2005) with sleep sets, vector-clock happens-before, and the source-set choice of
//!   one thread per race (Abdulla et al., JACM 2017). The race analysis runs at every state
//!   for every thread that has a next operation, enabled or not — that is what keeps the
//!   search sound with blocking operations (locks, waits, parked retry loops).
//! * [`Strategy::Naive`]: every interleaving, no reduction. Used by the tests to check the
//!   reduction, and available from the command line.
//!
//! Exploration is stateless: each execution re-runs the model from a fresh instance and
//! replays the prefix it shares with the previous one.

#[path = "classes.rs"]
pub mod classes;
#[path = "stateful.rs"]
pub mod stateful;

pub use stateful::{
    explore_stateful, explore_stateful_parallel, explore_stateful_with, StateKey, StatefulOptions,
    StatefulOutcome,
};

use crate::access::Accesses;
use crate::runtime::{Execution, Finding, Model, Severity, StepRecord, Tid};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to explore.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Dpor,
    Naive,
}

/// Limits of a search. A limit that stops the search makes the result *incomplete*.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bounds {
    /// Steps in one execution; an execution that reaches it is cut.
    pub max_depth: usize,
    pub max_executions: Option<u64>,
    pub max_time: Option<Duration>,
    /// Resident memory of the process, in MiB.
    pub max_memory_mib: Option<u64>,
    /// Address space (virtual size) of the process, in MiB: what `RLIMIT_AS` limits. Past
    /// that limit an allocation fails and the process aborts, so a search must stop before.
    pub max_address_space_mib: Option<u64>,
    /// Preemptions (switches away from a thread that could go on) in one execution.
    pub max_preemptions: Option<u32>,
    /// Set from outside (e.g. by a SIGINT handler) to stop the search at its next step
    /// boundary; the outcome is then stopped by [`Bound::Interrupted`].
    #[serde(skip)]
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_depth: 2000,
            max_executions: None,
            max_time: None,
            max_memory_mib: None,
            max_address_space_mib: None,
            max_preemptions: None,
            interrupt: None,
        }
    }
}

/// Which bound stopped (or cut) the search.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    MaxDepth(usize),
    MaxExecutions(u64),
    MaxTime(u64),
    MaxMemoryMib(u64),
    /// The address space limit (MiB), or, where none was set, the address space at which
    /// the allocator refused a block the search needed.
    MaxAddressSpaceMib(u64),
    MaxPreemptions(u32),
    /// [`Bounds::interrupt`] was set (SIGINT, SIGTERM).
    Interrupted,
}

impl Bound {
    /// The kind of bound, one word: `depth`, `executions`, `time`, `memory`, `preemptions`
    /// or `interrupted` (as in `incomplete (memory)`).
    pub fn kind(&self) -> &'static str {
        match self {
            Bound::MaxDepth(_) => "depth",
            Bound::MaxExecutions(_) => "executions",
            Bound::MaxTime(_) => "time",
            Bound::MaxMemoryMib(_) | Bound::MaxAddressSpaceMib(_) => "memory",
            Bound::MaxPreemptions(_) => "preemptions",
            Bound::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::MaxDepth(n) => write!(f, "max-depth={n} steps per execution"),
            Bound::MaxExecutions(n) => write!(f, "max-executions={n}"),
            Bound::MaxTime(s) => write!(f, "max-time={s}s"),
            Bound::MaxMemoryMib(m) => write!(f, "max-memory={m}MiB (resident)"),
            Bound::MaxAddressSpaceMib(m) => write!(f, "max-memory={m}MiB (address space)"),
            Bound::MaxPreemptions(p) => write!(f, "max-preemptions={p}"),
            Bound::Interrupted => f.write_str("interrupted (SIGINT/SIGTERM)"),
        }
    }
}

/// Search statistics.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Executions that reached an end (all finished, deadlock, fatal finding, or a cut).
    pub executions: u64,
    /// Executions ended because every enabled thread was asleep (redundant, pruned).
    pub pruned: u64,
    /// Steps executed, replays of shared prefixes included.
    pub steps: u64,
    pub max_depth_seen: usize,
    pub elapsed_secs: f64,
    /// Stateful search only: distinct states stored in the visited set.
    pub states: u64,
    /// Stateful search only: transitions taken (replays excluded).
    pub transitions: u64,
    /// Stateful search only: memory of the visited set, in MiB.
    pub visited_mib: f64,
    /// Stateful search only: states restored from a snapshot (`StateKey::resume`) instead
    /// of replayed.
    pub restores: u64,
    /// Stateful search only: states expanded by a persistent set smaller than their enabled
    /// threads (one safe step alone, or a closure of threads: see `stateful`, "Safe steps").
    pub safe_steps: u64,
    /// Stateful search only: searches started over because a step was not in the learned
    /// independence table (the figures above are those of the last one).
    pub reruns: u64,
    /// Stateful search only: entries of the learned independence table.
    pub table_entries: u64,
}

impl Stats {
    pub fn executions_per_sec(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            (self.executions + self.pruned) as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }
}

/// One violated (or observed) property with its shortest known trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PropertyReport {
    pub property: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Thread choices from the initial state; the finding happens at the last step (or at
    /// the end, for end-of-execution findings).
    pub schedule: Vec<Tid>,
    pub steps: usize,
    pub preemptions: usize,
    /// Executions in which this property was seen.
    pub occurrences: u64,
}

/// Result of a search.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    pub strategy: Strategy,
    pub stats: Stats,
    /// Properties seen, sorted by name.
    pub reports: Vec<PropertyReport>,
    /// The bound that stopped or cut the search; `None` means exhaustive.
    pub stopped_by: Option<Bound>,
    /// Hashes of final states (of complete executions, deadlocks and fatal ends).
    #[serde(skip)]
    pub final_states: BTreeSet<u64>,
}

impl Outcome {
    pub fn exhaustive(&self) -> bool {
        self.stopped_by.is_none()
    }
    pub fn violations(&self) -> impl Iterator<Item = &PropertyReport> {
        self.reports
            .iter()
            .filter(|r| r.severity == Severity::Violation)
    }
}

/// Progress information handed to a callback during long searches.
pub struct Progress<'a> {
    pub stats: &'a Stats,
    pub depth: usize,
    /// The violated properties found so far, sorted (by the stateful search's first worker
    /// alone when it runs several).
    pub found: &'a [&'static str],
}

/// Search options.
pub struct Options<'a> {
    pub strategy: Strategy,
    pub bounds: Bounds,
    /// Called about every 100 ms of search.
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            strategy: Strategy::Dpor,
            bounds: Bounds::default(),
            progress: None,
        }
    }
}

/// A state on the current path.
struct Node {
    /// Threads enabled here.
    enabled: u64,
    /// The sleep set this state was entered with.
    sleep_entry: u64,
    /// Threads to explore from here.
    backtrack: u64,
    /// Threads explored (or being explored) from here.
    done: u64,
    /// Threads explored from here whose step ended the execution (a fatal finding).
    fatal: u64,
    /// Next operation of each thread here (None: finished).
    next: Vec<Option<Accesses>>,
    /// The event taken from here (valid for every node but a terminal top).
    event: Option<Event>,
    preemptions: u32,
}

#[derive(Clone)]
struct Event {
    tid: Tid,
    acc: Accesses,
    /// Position of this event among its thread's events, from 1.
    k: u32,
    clock: Vec<u32>,
}

struct Candidate {
    report: PropertyReport,
    full: Vec<Tid>,
    at_end: bool,
}

/// Explores every interleaving of `model`'s threads (up to the bounds).
pub fn explore<M: Model>(model: &M, mut opts: Options<'_>) -> Outcome {
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut stack: Vec<Node> = Vec::new();
    let mut stopped_by: Option<Bound> = None;
    let mut cut: Option<Bound> = None;
    let mut final_states = BTreeSet::new();
    let mut cands_map: BTreeMap<&'static str, Candidate> = BTreeMap::new();
    let mut last_progress = Instant::now();
    let mut rss = RssGauge::default();
    let naive = opts.strategy == Strategy::Naive;

    'executions: loop {
        // A fresh run replays the path down to the top node; the top node's choice (new,
        // or set by backtracking) is taken in the extension loop below.
        let mut ex = Execution::start(model.instance(), false);
        let nthreads = ex.threads();
        assert!(nthreads <= 64, "at most 64 model threads");
        let mut schedule: Vec<Tid> = Vec::with_capacity(stack.len() + 16);
        if stack.is_empty() {
            stack.push(new_node(&ex, 0, 0));
        }
        for node in stack.iter().take(stack.len() - 1) {
            let tid = node.event.as_ref().expect("replayed node has an event").tid;
            ex.step(tid);
            stats.steps += 1;
            schedule.push(tid);
        }
        // Extend the path from the top node until the execution ends.
        loop {
            let depth = stack.len() - 1;
            let prev = schedule.last().copied();
            if stack[depth].event.is_none() {
                let top = &mut stack[depth];
                if naive {
                    top.backtrack = top.enabled;
                }
                let mut cands = top.enabled & !top.sleep_entry;
                if let Some(maxp) = opts.bounds.max_preemptions {
                    let within = cands & !over_bound(top, prev, maxp);
                    if within != cands {
                        cut.get_or_insert(Bound::MaxPreemptions(maxp));
                    }
                    cands = within;
                }
                let Some(tid) = prefer(cands, prev) else {
                    // Terminal state.
                    if top.enabled & !top.sleep_entry == 0 && top.enabled != 0 {
                        stats.pruned += 1; // every enabled thread asleep: covered elsewhere
                    } else {
                        stats.executions += 1;
                        if top.enabled == 0 {
                            end_of_execution(
                                model,
                                &ex,
                                &schedule,
                                &mut cands_map,
                                &mut final_states,
                            );
                        }
                    }
                    break;
                };
                top.backtrack |= 1 << tid;
                top.done |= 1 << tid;
                set_event(&mut stack, tid);
            }
            if depth >= opts.bounds.max_depth {
                cut.get_or_insert(Bound::MaxDepth(opts.bounds.max_depth));
                stats.executions += 1;
                break;
            }
            let tid = stack[depth].event.as_ref().expect("choice made").tid;
            let rec = ex.step(tid);
            stats.steps += 1;
            schedule.push(tid);
            stats.max_depth_seen = stats.max_depth_seen.max(schedule.len());
            if !rec.findings.is_empty() {
                record_findings(&stack, &schedule, &rec, &mut cands_map);
                if rec.findings.iter().any(|f| f.fatal) {
                    // A fatal finding ends the execution: it cuts off what every other thread
                    // would still do. So the threads enabled here are explored from here too
                    // (a thread blocked here is reached through them), and this step never
                    // sleeps (a thread is put to sleep only when its step commutes with what
                    // runs instead; "another thread, then this step" is no reordering of
                    // anything explored here). In those subtrees the step stays pending and,
                    // where it ends an execution again, the same holds. Without this, a step
                    // that touches nothing (`BUG()`, a retry bound) races with nothing and
                    // hides every later step of the other threads.
                    //
                    // Earlier events of other threads that this step is not ordered after are
                    // not reversed with it: an execution ending at this step before them
                    // consists of a prefix of this one (up to reordering) and then this step
                    // with the same finding (it reads what it read here); only the world it
                    // ends in differs. Such truncated executions are classes of their own
                    // (`classes::count_classes`), so where steps are fatal this search can
                    // explore fewer executions than there are classes.
                    let top = &mut stack[depth];
                    top.fatal |= 1 << tid;
                    if !naive {
                        top.backtrack |= top.enabled;
                    }
                    stats.executions += 1;
                    final_states.insert(ex.with_world(|w| model.state_hash(w)) ^ 0xfa7a1);
                    break;
                }
            }
            // Enter the next state.
            let parent = &stack[depth];
            let preemptions = parent.preemptions
                + u32::from(matches!(prev, Some(p) if p != tid && parent.enabled & (1 << p) != 0));
            let sleep = if naive {
                0
            } else {
                let cur = parent.event.as_ref().expect("event just taken");
                let asleep = parent.sleep_entry | (parent.done & !parent.fatal & !(1 << tid));
                bits(asleep)
                    .filter(|&q| matches!(&parent.next[q], Some(a) if !a.dependent(&cur.acc)))
                    .fold(0u64, |s, q| s | (1 << q))
            };
            stack.push(new_node(&ex, sleep, preemptions));
            if !naive {
                race_analysis(&mut stack, nthreads);
            }
            if let Some(limit) = check_limits(&opts.bounds, &stats, start, &mut rss) {
                stopped_by = Some(limit);
                break 'executions;
            }
        }
        drop(ex);
        if let Some(cb) = opts.progress.as_deref_mut() {
            if last_progress.elapsed() >= Duration::from_millis(100) {
                last_progress = Instant::now();
                stats.elapsed_secs = start.elapsed().as_secs_f64();
                let found = violated(&cands_map);
                cb(&Progress {
                    stats: &stats,
                    depth: stack.len(),
                    found: &found,
                });
            }
        }
        if let Some(limit) = check_limits(&opts.bounds, &stats, start, &mut rss) {
            stopped_by = Some(limit);
            break;
        }
        // Backtrack to the deepest state with a thread still to explore.
        loop {
            if stack.is_empty() {
                break 'executions;
            }
            let depth = stack.len() - 1;
            let prev = depth
                .checked_sub(1)
                .and_then(|d| stack[d].event.as_ref().map(|e| e.tid));
            let top = &mut stack[depth];
            let mut todo = top.backtrack & top.enabled & !(top.sleep_entry | top.done);
            if let Some(maxp) = opts.bounds.max_preemptions {
                let over = todo & over_bound(top, prev, maxp);
                if over != 0 {
                    cut.get_or_insert(Bound::MaxPreemptions(maxp));
                    top.done |= over;
                    todo &= !over;
                }
            }
            if let Some(t) = prefer(todo, None) {
                top.done |= 1 << t;
                set_event(&mut stack, t);
                continue 'executions;
            }
            stack.pop();
        }
    }
    stats.elapsed_secs = start.elapsed().as_secs_f64();
    let mut reports: Vec<PropertyReport> = cands_map
        .into_values()
        .map(|c| finalize(model, c))
        .collect();
    reports.sort_by(|a, b| a.property.cmp(b.property));
    Outcome {
        strategy: opts.strategy,
        stats,
        reports,
        stopped_by: stopped_by.or(cut),
        final_states,
    }
}

/// The violated properties among the candidates, sorted (for progress).
fn violated(cands: &BTreeMap<&'static str, Candidate>) -> Vec<&'static str> {
    cands
        .values()
        .filter(|c| c.report.severity == Severity::Violation)
        .map(|c| c.report.property)
        .collect()
}

fn bits(mask: u64) -> impl Iterator<Item = usize> {
    (0..64).filter(move |i| mask & (1 << i) != 0)
}

/// Picks a thread from `mask`, preferring `prev` (no preemption), then the lowest id.
fn prefer(mask: u64, prev: Option<Tid>) -> Option<Tid> {
    if mask == 0 {
        return None;
    }
    if let Some(p) = prev {
        if mask & (1 << p) != 0 {
            return Some(p);
        }
    }
    Some(mask.trailing_zeros() as Tid)
}

/// Threads whose choice at `node` would exceed the preemption bound.
fn over_bound(node: &Node, prev: Option<Tid>, maxp: u32) -> u64 {
    match prev {
        Some(p) if node.enabled & (1 << p) != 0 && node.preemptions >= maxp => {
            node.enabled & !(1 << p)
        }
        _ => 0,
    }
}

/// Sets the top node's event: thread `tid` takes its next operation there.
fn set_event(stack: &mut [Node], tid: Tid) {
    let depth = stack.len() - 1;
    let k = 1 + stack[..depth]
        .iter()
        .filter_map(|n| n.event.as_ref())
        .filter(|e| e.tid == tid)
        .count() as u32;
    let acc = stack[depth].next[tid].expect("chosen thread has an operation");
    let nthreads = stack[depth].next.len();
    let clock = clock_for(stack, tid, &acc, k, nthreads);
    stack[depth].event = Some(Event { tid, acc, k, clock });
}

fn new_node<W: 'static>(ex: &Execution<W>, sleep: u64, preemptions: u32) -> Node {
    let n = ex.threads();
    Node {
        enabled: ex.enabled_mask(),
        sleep_entry: sleep,
        backtrack: 0,
        done: 0,
        fatal: 0,
        next: (0..n).map(|t| ex.next_accesses(t)).collect(),
        event: None,
        preemptions,
    }
}

/// Vector clock of a new event of `tid` with accesses `acc`, appended after the events of
/// `stack` (the top node's event excluded).
fn clock_for(stack: &[Node], tid: Tid, acc: &Accesses, k: u32, n: usize) -> Vec<u32> {
    let mut clock = vec![0u32; n];
    let depth = stack.len() - 1;
    for node in stack[..depth].iter().rev() {
        let e = node.event.as_ref().expect("path event");
        if e.tid == tid || e.acc.dependent(acc) {
            for (c, o) in clock.iter_mut().zip(&e.clock) {
                *c = (*c).max(*o);
            }
        }
    }
    clock[tid] = k;
    clock
}

/// Flanagan–Godefroid backtracking at the newest state, for every thread with a next
/// operation (enabled or not).
fn race_analysis(stack: &mut [Node], nthreads: usize) {
    let n = stack.len() - 1; // events are at nodes 0..n
    let zero = vec![0u32; nthreads];
    for p in 0..nthreads {
        let Some(next) = stack[n].next[p] else {
            continue;
        };
        // Clock of p: that of its last event.
        let vcp: Vec<u32> = stack[..n]
            .iter()
            .rev()
            .filter_map(|nd| nd.event.as_ref())
            .find(|e| e.tid == p)
            .map(|e| e.clock.clone())
            .unwrap_or_else(|| zero.clone());
        let hb_p = |e: &Event| e.tid == p || vcp[e.tid] >= e.k;
        // Every earlier event that races with p's next operation: dependent and not
        // ordered before p. (Looking only at the last such event, as the original
        // algorithm does, misses races once reads commute with reads and adds with adds:
        // two racing events need not be ordered with each other.)
        for i in (0..n).rev() {
            let e = stack[i].event.as_ref().expect("path event");
            if hb_p(e) || !e.acc.dependent(&next) {
                continue;
            }
            // The threads that can start the reversed race: the initials of
            // notdep(e_i)·next(p), i.e. of the events after e_i that do not depend on it,
            // followed by p's next operation (source sets, Abdulla et al. 2014).
            let (ti, ki) = (e.tid, e.k);
            let mut v: Vec<(Tid, Accesses)> = Vec::new();
            for nd in &stack[i + 1..n] {
                let ej = nd.event.as_ref().expect("path event");
                if ej.clock[ti] < ki {
                    v.push((ej.tid, ej.acc));
                }
            }
            let enabled_i = stack[i].enabled;
            let mut e_set = 0u64;
            for (j, (tj, aj)) in v.iter().enumerate() {
                let blocked = v[..j].iter().any(|(tq, aq)| tq == tj || aq.dependent(aj));
                if !blocked {
                    e_set |= 1 << tj;
                }
            }
            if !v.iter().any(|(tq, aq)| *tq == p || aq.dependent(&next)) {
                e_set |= 1 << p;
            }
            e_set &= enabled_i;
            let node = &mut stack[i];
            if e_set & node.backtrack != 0 {
                continue;
            }
            if e_set != 0 {
                let q = prefer(e_set, Some(p)).expect("non-empty");
                node.backtrack |= 1 << q;
            } else {
                node.backtrack |= node.enabled;
            }
        }
    }
}

fn check_limits(b: &Bounds, stats: &Stats, start: Instant, rss: &mut RssGauge) -> Option<Bound> {
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
/// allocated (`visited::Visited::grow`). One gauge per search loop (each worker has its own).
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

fn better(a: &PropertyReport, b: &PropertyReport) -> bool {
    (a.steps, a.preemptions) < (b.steps, b.preemptions)
}

/// Counts switches away from a thread that still has steps later in the schedule: a cheap
/// stand-in for preemptions until a candidate is replayed.
fn switch_count(s: &[Tid]) -> usize {
    let mut n = 0;
    for i in 1..s.len() {
        if s[i] != s[i - 1] && s[i..].contains(&s[i - 1]) {
            n += 1;
        }
    }
    n
}

fn record_findings(
    stack: &[Node],
    schedule: &[Tid],
    rec: &StepRecord,
    cands: &mut BTreeMap<&'static str, Candidate>,
) {
    // The causal past of the step: the events it depends on, transitively (a release
    // orders a later acquire here). Running only those reaches the same step.
    let n = schedule.len() - 1;
    let events: Vec<(Tid, Accesses)> = stack
        .iter()
        .take(n + 1)
        .map(|nd| {
            let e = nd.event.as_ref().expect("path event");
            (e.tid, e.acc)
        })
        .collect();
    let mut keep = vec![false; n + 1];
    keep[n] = true;
    for j in (0..n).rev() {
        keep[j] = (j + 1..=n).any(|k| {
            keep[k] && (events[k].0 == events[j].0 || events[j].1.causally_before(&events[k].1))
        });
    }
    let closure = linearize(&events, &keep);
    for f in &rec.findings {
        offer(cands, report_of(f, &closure), schedule.to_vec(), false);
    }
}

/// Orders the kept events respecting program order and causal order, staying on one thread
/// as long as it can (fewer preemptions).
fn linearize(events: &[(Tid, Accesses)], keep: &[bool]) -> Vec<Tid> {
    let idx: Vec<usize> = (0..events.len()).filter(|&i| keep[i]).collect();
    let mut placed = vec![false; idx.len()];
    let mut out = Vec::with_capacity(idx.len());
    let ready = |a: usize, placed: &[bool]| {
        (0..a).all(|b| {
            placed[b]
                || !(events[idx[b]].0 == events[idx[a]].0
                    || events[idx[b]].1.causally_before(&events[idx[a]].1))
        })
    };
    let mut cur: Option<Tid> = None;
    while out.len() < idx.len() {
        let pick = (0..idx.len())
            .filter(|&a| !placed[a] && ready(a, &placed))
            .min_by_key(|&a| (Some(events[idx[a]].0) != cur, a))
            .expect("a causal order always has a ready event");
        placed[pick] = true;
        cur = Some(events[idx[pick]].0);
        out.push(events[idx[pick]].0);
    }
    out
}

fn offer(
    cands: &mut BTreeMap<&'static str, Candidate>,
    report: PropertyReport,
    full: Vec<Tid>,
    at_end: bool,
) {
    match cands.get_mut(report.property) {
        Some(c) => {
            c.report.occurrences += 1;
            if better(&report, &c.report) {
                let occ = c.report.occurrences;
                c.report = report;
                c.report.occurrences = occ;
                c.full = full;
                c.at_end = at_end;
            }
        }
        None => {
            cands.insert(
                report.property,
                Candidate {
                    report,
                    full,
                    at_end,
                },
            );
        }
    }
}

fn end_of_execution<M: Model>(
    model: &M,
    ex: &Execution<M::World>,
    schedule: &[Tid],
    cands: &mut BTreeMap<&'static str, Candidate>,
    final_states: &mut BTreeSet<u64>,
) {
    let mut out = Vec::new();
    let h = ex.with_world(|w| model.state_hash(w));
    if ex.all_finished() {
        ex.with_world(|w| model.at_end(w, &mut out));
        final_states.insert(h);
    } else {
        final_states.insert(h ^ 0xdead);
        out.push(blocked_finding(ex));
    }
    for f in &out {
        offer(cands, report_of(f, schedule), schedule.to_vec(), true);
    }
}

/// The report of finding `f` met on `schedule` (one occurrence).
fn report_of(f: &Finding, schedule: &[Tid]) -> PropertyReport {
    PropertyReport {
        property: f.property,
        severity: f.severity,
        message: f.message.clone(),
        steps: schedule.len(),
        preemptions: switch_count(schedule),
        schedule: schedule.to_vec(),
        occurrences: 1,
    }
}

/// The finding for an execution that ended with unfinished threads, none enabled.
pub(crate) fn blocked_finding<W: 'static>(ex: &Execution<W>) -> Finding {
    let mut parts = Vec::new();
    let mut all_parked = true;
    for t in 0..ex.threads() {
        if ex.finished(t) {
            continue;
        }
        let parked = ex.is_parked(t);
        all_parked &= parked;
        let what = ex.next_op(t).map(|(n, _)| n).unwrap_or("?");
        parts.push(format!(
            "{} {} `{}`",
            ex.names[t],
            if parked {
                "retries with nothing left to change in"
            } else {
                "blocked in"
            },
            what
        ));
    }
    if all_parked {
        Finding {
            property: "livelock",
            severity: Severity::Violation,
            message: format!(
                "retry loop can never make progress (weak fairness assumed: a retry waits for a change to what it read): {}",
                parts.join("; ")
            ),
            fatal: false,
        }
    } else {
        Finding {
            property: "deadlock",
            severity: Severity::Violation,
            message: format!("every unfinished thread is blocked: {}", parts.join("; ")),
            fatal: false,
        }
    }
}

/// Confirms a candidate's (reordered) schedule by replaying it; falls back to the full
/// schedule of the execution it came from when the reordering does not reproduce it.
fn finalize<M: Model>(model: &M, c: Candidate) -> PropertyReport {
    let mut r = c.report;
    if !c.at_end {
        if let Some(pre) = reproduces(model, &r.schedule, r.property) {
            r.preemptions = pre;
            return r;
        }
        let n = c.full.len();
        r.schedule = c.full;
        r.steps = n;
    }
    if let Some(pre) = crate::replay::preemptions(model, &r.schedule) {
        r.preemptions = pre;
    }
    r
}

/// Replays `schedule`; returns its preemption count if its last step reports `property`.
fn reproduces<M: Model>(model: &M, schedule: &[Tid], property: &str) -> Option<usize> {
    let mut ex = Execution::start(model.instance(), false);
    let mut pre = 0;
    for (i, &t) in schedule.iter().enumerate() {
        if t >= ex.threads() || !ex.enabled(t) {
            return None;
        }
        if i > 0 {
            let p = schedule[i - 1];
            if p != t && ex.enabled(p) {
                pre += 1;
            }
        }
        let rec = ex.step(t);
        if i + 1 == schedule.len() {
            return rec
                .findings
                .iter()
                .any(|f| f.property == property)
                .then_some(pre);
        }
        if rec.findings.iter().any(|f| f.fatal) {
            return None;
        }
    }
    None
}
