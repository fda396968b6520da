//! The search's workers: the state they share ([`SharedState`]: the visited set, the queue of
//! tasks, the limits), one search with a fixed independence table ([`search_once`]), and what
//! a worker does — take a transition, arrive at a state, go back up, hand work to idle
//! workers.

use super::indep::Seen;
use super::live::{Frame, Live, Saved, Stack};
use super::safe::{check_registered, check_table, park_masks, safe_set, Learned};
use super::symmetry::{canon, groups_of, uncanon, Canon, Perm};
use super::visited::{Handle, Visit, Visited};
use super::{StateKey, StatefulOptions, StatefulOutcome};
use crate::runtime::Tid;
use crate::search::lasso;
use crate::search::limits::{check_limits, RssGauge};
use crate::search::traces::{
    end_of_execution, finalize, offer, offer_found, report_of, violated, Candidate,
};
use crate::search::{Bound, Bounds, Options, Outcome, Progress, PropertyReport, Stats, Strategy};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Work for a worker: arrive at the state reached by `path`, with sleep set `sleep`.
struct Task {
    path: Vec<Tid>,
    sleep: u64,
}

/// What the workers of one search share.
pub(super) struct SharedState<'m, M> {
    model: &'m M,
    /// Groups of interchangeable threads (empty: no symmetry reduction).
    pub(super) groups: Vec<Vec<Tid>>,
    bounds: Bounds,
    sleep_sets: bool,
    jobs: usize,
    visited: Visited,
    queue: Mutex<VecDeque<Task>>,
    cv: Condvar,
    /// Workers waiting for a task.
    idle: AtomicUsize,
    stop: AtomicBool,
    stopped_by: Mutex<Option<Bound>>,
    cut: Mutex<Option<Bound>>,
    /// Executions cut by a model's retry bound ([`crate::RETRY_CUT`]).
    retry_cuts: AtomicU64,
    start: Instant,
    /// Executions of all workers (for the limits; the visited set counts the states).
    executions: AtomicU64,
    /// The learned independence table this search relies on (safe steps), if any.
    pub(super) seen: Option<Seen>,
    /// Steps not in `seen`: the search stops and starts over with them.
    pub(super) learned: Mutex<Vec<Learned>>,
    /// With `seen` (history-keyed models): per thread, the objects whose parking bits the
    /// key holds, `words` words each — the objects the table saw the thread's parked retries
    /// registered on, or any member's of its symmetry group (see "Parking bits of objects
    /// nobody waits on").
    pub(super) park_masks: Option<Vec<u64>>,
    /// With `keep_keys` and `park_masks`: the full keys of the states arrived at.
    full_keys: Mutex<BTreeSet<u128>>,
    keep_keys: bool,
}

/// What a worker found: its counters, the best trace of each property, the final states.
#[derive(Default)]
struct WorkerOut {
    stats: Stats,
    cands: BTreeMap<&'static str, Candidate>,
    final_states: BTreeSet<u64>,
}

/// A worker's progress callback.
type ProgressFn<'r, 'p> = &'r mut (dyn FnMut(&Progress) + 'p);

/// What [`search_once`] hands back: the outcome, the steps the search met that the table did
/// not hold (then the outcome is not to be used), the visited set (for the next search to
/// reuse), and whether a limit stopped it (the depth bound's cuts do not count).
pub(super) type Once = (StatefulOutcome, Vec<Learned>, Visited, bool);

/// One search with a fixed independence table (or none), on `sopts.jobs` workers (the
/// calling thread is the first).
pub(super) fn search_once<M: StateKey + Sync>(
    model: &M,
    opts: &Options<'_>,
    progress: Option<ProgressFn<'_, '_>>,
    sopts: StatefulOptions,
    seen: Option<&Seen>,
    start: Instant,
    visited: Visited,
) -> Once {
    let shared = SharedState::new(model, opts, sopts, seen, start, visited);
    let outs: Vec<WorkerOut> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..shared.jobs)
            .map(|me| {
                let shared = &shared;
                s.spawn(move || worker(shared, me, None))
            })
            .collect();
        let mut outs = vec![worker(&shared, 0, progress)];
        for h in handles {
            outs.push(h.join().expect("worker panicked"));
        }
        outs
    });
    shared.finish(outs)
}

impl<'m, M: StateKey + Sync> SharedState<'m, M> {
    /// The state of a search that starts at the initial state, with the visited set
    /// `visited` (empty).
    fn new(
        model: &'m M,
        opts: &Options<'_>,
        sopts: StatefulOptions,
        seen: Option<&Seen>,
        start: Instant,
        visited: Visited,
    ) -> Self {
        let groups = groups_of(model, sopts);
        SharedState {
            model,
            bounds: opts.bounds.clone(),
            sleep_sets: sopts.sleep_sets,
            jobs: sopts.jobs.max(1),
            visited,
            queue: Mutex::new(VecDeque::from([Task {
                path: Vec::new(),
                sleep: 0,
            }])),
            cv: Condvar::new(),
            idle: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            stopped_by: Mutex::new(None),
            cut: Mutex::new(None),
            retry_cuts: AtomicU64::new(0),
            start,
            executions: AtomicU64::new(0),
            seen: seen.cloned(),
            learned: Mutex::new(Vec::new()),
            park_masks: seen.filter(|_| !sopts.all_parking_bits).map(|seen| {
                let (threads, objects) = seen.shape();
                park_masks(seen, &groups, threads, objects)
            }),
            groups,
            full_keys: Mutex::new(BTreeSet::new()),
            keep_keys: sopts.keep_keys,
        }
    }

    /// The search's outcome from what its workers found.
    fn finish(self, outs: Vec<WorkerOut>) -> Once {
        let (mut stats, cands, final_states) = merge(outs);
        let mut keys = BTreeSet::new();
        if self.keep_keys && self.park_masks.is_none() {
            keys.extend(self.visited.keys());
        }
        if self.keep_keys && self.park_masks.is_some() {
            keys = std::mem::take(&mut *self.full_keys.lock().expect("keys"));
        }
        stats.states = self.visited.len() as u64;
        stats.visited_mib = self.visited.bytes() as f64 / (1024.0 * 1024.0);
        stats.elapsed_secs = self.start.elapsed().as_secs_f64();
        let mut reports: Vec<PropertyReport> = cands
            .into_values()
            .map(|c| finalize(self.model, c))
            .collect();
        reports.sort_by(|a, b| a.property.cmp(b.property));
        let stopped_by = self.stopped_by.lock().expect("lock").clone();
        let mut cut = self.cut.lock().expect("lock").clone();
        if let Some(Bound::Retries(what)) = &mut cut {
            let n = self.retry_cuts.load(Ordering::Relaxed);
            *what = format!("{n} execution(s) cut: {what}");
        }
        let learned = std::mem::take(&mut *self.learned.lock().expect("lock"));
        let limited = stopped_by.is_some();
        let outcome = Outcome {
            strategy: Strategy::Dpor,
            stats,
            reports,
            stopped_by: stopped_by.or(cut),
            final_states,
        };
        (
            StatefulOutcome { outcome, keys },
            learned,
            self.visited,
            limited,
        )
    }
}

/// The workers' counters added up, their best traces merged (per property the best, with
/// every worker's occurrences), and their final states.
fn merge(outs: Vec<WorkerOut>) -> (Stats, BTreeMap<&'static str, Candidate>, BTreeSet<u64>) {
    let mut stats = Stats::default();
    let mut cands: BTreeMap<&'static str, Candidate> = BTreeMap::new();
    let mut final_states = BTreeSet::new();
    for o in outs {
        if std::env::var_os("PVMM_DEBUG_WORKERS").is_some() {
            eprintln!(
                "worker: steps {} transitions {} tasks {}",
                o.stats.steps, o.stats.transitions, o.stats.max_depth_seen
            );
        }
        stats.executions += o.stats.executions;
        stats.pruned += o.stats.pruned;
        stats.steps += o.stats.steps;
        stats.transitions += o.stats.transitions;
        stats.restores += o.stats.restores;
        stats.safe_steps += o.stats.safe_steps;
        stats.max_depth_seen = stats.max_depth_seen.max(o.stats.max_depth_seen);
        final_states.extend(o.final_states);
        for (_, c) in o.cands {
            let occ = c.report.occurrences;
            let prop = c.report.property;
            offer(&mut cands, c.report, c.full, c.at_end);
            // `offer` counted one occurrence; add the rest.
            if let Some(m) = cands.get_mut(prop) {
                m.report.occurrences += occ - 1;
            }
        }
    }
    (stats, cands, final_states)
}

/// Takes a task, or `None` when the search is over (every worker idle, queue empty).
fn next_task<M>(sh: &SharedState<'_, M>) -> Option<Task> {
    let mut q = sh.queue.lock().expect("queue");
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            sh.cv.notify_all();
            return None;
        }
        if let Some(t) = q.pop_front() {
            return Some(t);
        }
        let idle = sh.idle.fetch_add(1, Ordering::SeqCst) + 1;
        if idle == sh.jobs {
            // Nobody is working and nothing is queued: done.
            sh.stop.store(true, Ordering::SeqCst);
            sh.cv.notify_all();
            return None;
        }
        q = sh.cv.wait(q).expect("queue");
        sh.idle.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Worker `me`: takes tasks until the search is over.
fn worker<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    me: usize,
    progress: Option<ProgressFn<'_, '_>>,
) -> WorkerOut {
    let mut out = WorkerOut::default();
    let mut pace = Pace {
        checks: 0,
        rss: RssGauge::default(),
        last_progress: Instant::now(),
        progress,
    };
    let mut stack = Stack::new();
    let mut vis = sh.visited.handle(me);
    while let Some(task) = next_task(sh) {
        run_task(sh, task, &mut vis, &mut stack, &mut pace, &mut out);
    }
    out
}

/// Explores depth-first from the task's state until every state below it is explored (or
/// handed over), or the search stops.
fn run_task<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    task: Task,
    vis: &mut Handle<'_>,
    stack: &mut Stack<M::World>,
    pace: &mut Pace<'_, '_>,
    out: &mut WorkerOut,
) {
    let mut path = task.path;
    // Arrive at the task's state: replay the path to its parent state, then take the
    // task's transition like any other (its findings are reported here, and a fatal one
    // ends the execution: the owner handed it over without taking it).
    let mut live = Live::start(sh.model);
    let mut frames: Vec<Frame> = Vec::new();
    stack.clear();
    let mut at_state = true;
    // The lasso check on this worker's path (see `lasso.rs`): the keys of the path's states.
    // The root state is recorded here only when the task's path leads away from it: a task
    // at the root itself arrives there once, through `closes` below.
    let mut lasso = lasso::Path::default();
    if let Some((_, parent)) = path.split_last() {
        lasso.arrive(sh.model, &live.ex, &[]);
        for (i, &t) in parent.iter().enumerate() {
            live.step(t);
            out.stats.steps += 1;
            lasso.arrive(sh.model, &live.ex, &parent[..=i]);
        }
        if take(sh, &mut live, &path, out) {
            return;
        }
    }
    let only = match closes(sh, &mut lasso, &live, &path, out) {
        Some(only) => only,
        None => return,
    };
    if let Some(f) = arrive(sh, vis, &live, &path, task.sleep, only, stack, out) {
        frames.push(f);
    }
    while let Some(top) = frames.last_mut() {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        if top.next == top.len {
            stack.pop(top, &live);
            frames.pop();
            at_state = false;
            continue;
        }
        let (tid, sleep) = stack.kids[top.kids + top.next];
        top.next += 1;
        let depth = top.depth;
        // Hand work over to idle workers.
        if sh.jobs > 1 && sh.idle.load(Ordering::Relaxed) > 0 {
            share(sh, &mut frames, stack, &path);
        }
        if !at_state {
            let top = frames.last().expect("top frame");
            go_back(sh, &mut live, stack, top, &path[..depth], out);
        }
        path.truncate(depth);
        path.push(tid);
        out.stats.max_depth_seen = out.stats.max_depth_seen.max(path.len());
        at_state = false;
        if take(sh, &mut live, &path, out) {
            continue;
        }
        lasso.truncate(path.len());
        let Some(only) = closes(sh, &mut lasso, &live, &path, out) else {
            continue;
        };
        if let Some(f) = arrive(sh, vis, &live, &path, sleep, only, stack, out) {
            frames.push(f);
            at_state = true;
        }
        if !pace.tick(sh, out, vis, path.len()) {
            break;
        }
    }
}

/// The lasso check at the state the live execution arrived at by `path`: `None` when it
/// closes a weakly fair cycle (a `livelock`, reported; the execution ends), else the threads
/// to explore from it — those a cycle it closes ignored (the cycle proviso, see `lasso.rs`),
/// or all (`Some(None)`).
fn closes<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    lasso: &mut lasso::Path,
    live: &Live<M::World>,
    path: &[Tid],
    out: &mut WorkerOut,
) -> Option<Option<u64>> {
    match lasso.arrive(sh.model, &live.ex, path) {
        lasso::Closed::No => Some(None),
        lasso::Closed::Unfair(ignored) => Some(Some(ignored)),
        lasso::Closed::Fair(f) => {
            out.stats.executions += 1;
            sh.executions.fetch_add(1, Ordering::Relaxed);
            offer(&mut out.cands, report_of(&f, path), path.to_vec(), true);
            None
        }
    }
}

/// Brings the live execution back to the state of the top frame `top` (reached by `path`):
/// from its saved copy if it has one (checking the restored key now and then), else by
/// replaying the path from a fresh instance.
fn go_back<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    live: &mut Live<M::World>,
    stack: &mut Stack<M::World>,
    top: &Frame,
    path: &[Tid],
    out: &mut WorkerOut,
) {
    let model = sh.model;
    let last = top.next == top.len;
    let saved = stack.saved.last_mut().expect("a frame's snapshot slot");
    let restored = match saved {
        Some((Saved::Resume(w), key)) => {
            live.resume_moved(model, w, &stack.words[top.words..]);
            Some(*key)
        }
        // The last child: the snapshot is not needed again, its world is moved in instead
        // of copied.
        Some((Saved::Exec(snap), key)) if last => {
            let old = live.ex.restore_owned(snap, |t| model.thread(t));
            live.recycle(old);
            Some(*key)
        }
        Some((Saved::Exec(snap), key)) => live.copy_world(model, snap.world()).map(|w| {
            let old = live.ex.restore(snap, w, |t| model.thread(t));
            live.recycle(old);
            *key
        }),
        None => None,
    };
    let Some(key) = restored else {
        live.restart(model.instance());
        for &t in path {
            live.step(t);
            out.stats.steps += 1;
        }
        return;
    };
    out.stats.restores += 1;
    // The model's `resume` (or its world copy, for a fast-forward restore) is checked on the
    // first 64 restores and one in 64 after them (and on every one in debug builds, as the
    // tests run): a wrong one shows at once, without a key per restore (a key costs as much
    // as the rest of a resume-point restore). A fast-forwarded thread's own state is checked
    // when it is started again (`Execution::materialize` asserts it reaches the restored
    // operation, attempt and history).
    if out.stats.restores <= 64 || out.stats.restores.is_multiple_of(64) || cfg!(debug_assertions) {
        let again = live.key(
            model,
            &sh.groups,
            sh.park_masks.as_deref(),
            &mut Canon::new(),
        );
        assert_eq!(
            again, key,
            "the restore did not bring back the state it was given \
             (StateKey::resume or StateKey::snapshot_into)"
        );
    }
    if last {
        if let Some((Saved::Resume(w), _)) = saved.take() {
            live.recycle(w);
        }
    }
}

/// When a worker looks at the limits and calls the progress callback: every 256 arrivals.
struct Pace<'r, 'p> {
    checks: u32,
    rss: RssGauge,
    last_progress: Instant,
    progress: Option<ProgressFn<'r, 'p>>,
}

impl Pace<'_, '_> {
    /// Counts an arrival; every 256th looks at the limits (false: one stopped the search)
    /// and, at most every 100 ms, shows the worker's progress (`depth`: its path's length).
    fn tick<M>(
        &mut self,
        sh: &SharedState<'_, M>,
        out: &WorkerOut,
        vis: &Handle<'_>,
        depth: usize,
    ) -> bool {
        if let Some(limit) = sh.visited.refused() {
            stop_with(sh, limit);
            return false;
        }
        self.checks = self.checks.wrapping_add(1);
        if !self.checks.is_multiple_of(256) {
            return true;
        }
        let global = Stats {
            executions: sh.executions.load(Ordering::Relaxed),
            steps: out.stats.steps * sh.jobs as u64,
            ..Stats::default()
        };
        if let Some(limit) = check_limits(&sh.bounds, &global, sh.start, &mut self.rss) {
            stop_with(sh, limit);
            return false;
        }
        if let Some(cb) = self.progress.as_deref_mut() {
            if self.last_progress.elapsed() >= Duration::from_millis(100) {
                self.last_progress = Instant::now();
                let mut shown = out.stats.clone();
                shown.elapsed_secs = sh.start.elapsed().as_secs_f64();
                shown.states = vis.states();
                let found = violated(&out.cands);
                cb(&Progress {
                    stats: &shown,
                    depth,
                    found: &found,
                });
            }
        }
        true
    }
}

/// Takes the transition `path` ends with (the live execution is at the state before it):
/// counts it, checks it against the independence table and reports its findings; true when
/// one of them is fatal, which ends the execution there.
fn take<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    live: &mut Live<M::World>,
    path: &[Tid],
    out: &mut WorkerOut,
) -> bool {
    let WorkerOut {
        stats,
        cands,
        final_states,
    } = out;
    let tid = *path.last().expect("a transition to take");
    let rec = live.step(tid);
    stats.steps += 1;
    stats.transitions += 1;
    check_table(sh, tid, &rec);
    for f in &rec.findings {
        if f.property == crate::RETRY_CUT {
            // A retry loop went round its bound: the execution is cut here (this search
            // runs no lasso check: its keys hold whole histories, so a loop's rounds are
            // different states), the result incomplete.
            sh.retry_cuts.fetch_add(1, Ordering::Relaxed);
            sh.cut
                .lock()
                .expect("lock")
                .get_or_insert(Bound::Retries(f.message.clone()));
        }
        offer_found(cands, f, path, path, false);
    }
    if rec.findings.iter().any(|f| f.fatal) {
        stats.executions += 1;
        sh.executions.fetch_add(1, Ordering::Relaxed);
        final_states.insert(live.ex.with_world(|w| sh.model.state_hash(w)) ^ 0xfa7a1);
        return true;
    }
    false
}

/// Stops the search because limit `b` was reached.
fn stop_with<M>(sh: &SharedState<'_, M>, b: Bound) {
    sh.stopped_by.lock().expect("lock").get_or_insert(b);
    halt(sh);
}

/// Stops every worker (waking those waiting for a task).
pub(super) fn halt<M>(sh: &SharedState<'_, M>) {
    sh.stop.store(true, Ordering::SeqCst);
    let _q = sh.queue.lock().expect("queue");
    sh.cv.notify_all();
}

/// Gives the unexplored children of the shallowest open state with any to the queue.
fn share<M, W>(sh: &SharedState<'_, M>, frames: &mut [Frame], stack: &Stack<W>, path: &[Tid]) {
    let Some(f) = frames.iter_mut().find(|f| f.next < f.len) else {
        return;
    };
    let mut q = sh.queue.lock().expect("queue");
    if !q.is_empty() {
        return;
    }
    for &(t, sleep) in &stack.kids[f.kids + f.next..f.kids + f.len] {
        let mut p = path[..f.depth].to_vec();
        p.push(t);
        q.push_back(Task { path: p, sleep });
    }
    f.next = f.len;
    sh.cv.notify_all();
}

/// The search arrives at the live execution's state with sleep set `sleep`: records it, and
/// returns the frame of transitions to explore from it (if any).
fn arrive<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    vis: &mut Handle<'_>,
    live: &Live<M::World>,
    path: &[Tid],
    sleep: u64,
    only: Option<u64>,
    stack: &mut Stack<M::World>,
    out: &mut WorkerOut,
) -> Option<Frame> {
    let model = sh.model;
    check_registered(sh, live, path.last().copied());
    let mut canon_ = Canon::new();
    let key = live.key(model, &sh.groups, sh.park_masks.as_deref(), &mut canon_);
    if sh.keep_keys && sh.park_masks.is_some() {
        let full = live.key(model, &sh.groups, None, &mut Canon::new());
        sh.full_keys.lock().expect("keys").insert(full);
    }
    let sleep = if sh.sleep_sets { sleep } else { 0 };
    let mut x = visit(vis, live, key, sleep, &canon_, &mut out.stats)?;
    let enabled = x.enabled;
    // Safe steps: a set of threads whose next steps commute with everything the threads
    // outside it were seen doing is persistent (see "Safe steps"). Which one is a function
    // of the state (`safe_set`), so a revisit owes only what that choice left out.
    if let Some(set) = safe_set(sh, live, enabled, &canon_.perm) {
        out.stats.safe_steps += 1;
        x.todo &= set;
    }
    if let Some(ignored) = only {
        // The state closes a cycle that is not weakly fair: the cycle's own threads are
        // explored from its first state (the same state up to the loops' round counts).
        out.stats.pruned += 1;
        x.todo &= ignored;
    }
    if x.todo == 0 && enabled != 0 {
        out.stats.pruned += 1;
        return None;
    }
    if enabled == 0 {
        // Terminal: every thread finished, or deadlock / livelock. Reached once per key.
        out.stats.executions += 1;
        sh.executions.fetch_add(1, Ordering::Relaxed);
        end_of_execution(model, &live.ex, path, &mut out.cands, &mut out.final_states);
        return None;
    }
    if path.len() >= sh.bounds.max_depth {
        sh.cut
            .lock()
            .expect("lock")
            .get_or_insert(Bound::MaxDepth(sh.bounds.max_depth));
        out.stats.executions += 1;
        return None;
    }
    let kids = stack.kids.len();
    let len = push_kids(
        sh,
        live,
        path.last().copied(),
        &x,
        &canon_.tie,
        stack,
        &mut out.stats,
    );
    let words = stack.words.len();
    // A state with one child is never come back to (its frame is popped when the child is
    // done).
    let saved = if len > 1 {
        save(model, live, key, stack)
    } else {
        None
    };
    stack.saved.push(saved);
    Some(Frame {
        depth: path.len(),
        kids,
        len,
        next: 0,
        words,
    })
}

/// How a state is expanded.
struct Expansion {
    /// The threads enabled there.
    enabled: u64,
    /// The threads to explore from it.
    todo: u64,
    /// The sleep set the first child starts from.
    sleep: u64,
}

/// Looks the state up in the visited set (key `key`, reached with sleep set `sleep`),
/// storing it if it is new, and says how to expand it; `None` when it was seen with nothing
/// owed (pruned).
fn visit<W: 'static>(
    vis: &mut Handle<'_>,
    live: &Live<W>,
    key: u128,
    sleep: u64,
    c: &Canon,
    stats: &mut Stats,
) -> Option<Expansion> {
    // The enabled threads are computed only for a state that is new or owed transitions:
    // a revisit's stored sleep set is within the state's enabled threads (it was stored
    // masked by them, and equal keys have equal enabled threads, up to the symmetry's
    // permutation), so masking the sleep set by them first changes nothing there.
    let csleep = canon(sleep, &c.perm);
    let mut new_enabled = 0;
    let mut init = || {
        new_enabled = live.enabled_mask();
        canon(sleep & new_enabled, &c.perm)
    };
    match vis.visit(key, csleep, &mut init) {
        Visit::New => {
            stats.states += 1; // this worker's
            let sleep = sleep & new_enabled;
            Some(Expansion {
                enabled: new_enabled,
                todo: new_enabled & !sleep,
                sleep,
            })
        }
        Visit::Seen(old) => {
            // Stored in canonical positions (the same state may be reached with its
            // symmetric threads permuted).
            let owed = uncanon(old & !csleep, c);
            if owed == 0 {
                stats.pruned += 1;
                return None;
            }
            let enabled = live.enabled_mask();
            debug_assert_eq!(owed & !enabled, 0, "a stored sleep set beyond the enabled");
            Some(Expansion {
                enabled,
                todo: owed,
                sleep: sleep & uncanon(old & csleep, c),
            })
        }
    }
}

/// Pushes the state's children onto the stack: the threads of `x.todo`, the one that just ran
/// (`prev`) first (fewer context switches in reported traces), each with the sleep set it
/// starts from (`x.sleep` and the children before it that its step is independent of). Of
/// threads in identical local states (`ties`: symmetry), one transition is enough: the
/// others lead to the same state up to the swap, reached with a sleep set that is no smaller
/// (it holds what this one's holds, up to the swap), so arriving there would owe nothing.
/// Returns how many children it pushed (the transitions left out count as pruned).
fn push_kids<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    live: &Live<M::World>,
    prev: Option<Tid>,
    x: &Expansion,
    ties: &Perm,
    stack: &mut Stack<M::World>,
    stats: &mut Stats,
) -> usize {
    let (n, todo) = (live.ex.threads(), x.todo);
    let mut acc = x.sleep;
    let kids = stack.kids.len();
    let first = prev.filter(|&p| todo & (1 << p) != 0);
    let order = first
        .into_iter()
        .chain((0..n).filter(|&t| todo & (1 << t) != 0 && Some(t) != prev));
    let mut classes_done = 0u64;
    for t in order {
        let class = ties[t];
        if classes_done & (1 << class) != 0 {
            stats.pruned += 1;
            continue;
        }
        classes_done |= 1 << class;
        let child_sleep = if sh.sleep_sets {
            live.ex.independent_of(t, acc)
        } else {
            0
        };
        stack.kids.push((t, child_sleep));
        acc |= 1 << t;
    }
    stack.kids.len() - kids
}

/// A copy of the state (key `key`) to come back to, the model's way: a snapshot of the
/// execution for a fast-forward restore, else the world, with the "written since" bits and
/// the threads' position stamps pushed onto the stack's words. `None` when the model keeps
/// no copies (the state is then replayed).
fn save<M: StateKey + Sync>(
    model: &M,
    live: &Live<M::World>,
    key: u128,
    stack: &mut Stack<M::World>,
) -> Option<(Saved<M::World>, u128)> {
    live.ex.with_world(|w| live.copy_world(model, w)).map(|w| {
        if model.fast_forward() {
            (Saved::Exec(live.snapshot(w)), key)
        } else {
            stack.words.extend_from_slice(&live.changed);
            stack.words.extend_from_slice(live.ex.marks());
            (Saved::Resume(w), key)
        }
    })
}
