//! Stateless exploration: dynamic partial-order reduction ([`Strategy::Dpor`]) and naive
//! enumeration ([`Strategy::Naive`]), one depth-first driver.

use super::lasso;
use super::limits::{check_limits, RssGauge};
use super::traces::{
    end_of_execution, finalize, offer, record_findings, report_of, violated, Candidate,
};
use super::{
    sleep_after, Bound, Bounds, Options, Outcome, Progress, PropertyReport, Stats, Strategy,
};
use crate::access::Accesses;
use crate::runtime::{Execution, Model, Tid};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

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
    /// Preemptions on the path to here.
    preemptions: u32,
    /// The state's lasso key (`None`: not keyed; see `lasso.rs`).
    lasso: Option<u128>,
    /// The threads that may be explored from here: all, but at a state that closed a cycle
    /// that is not weakly fair, only the threads the cycle ignored (the cycle's own threads
    /// are explored from its first state, the same state; backtracking points that the race
    /// analysis adds here later for them are left out too).
    only: u64,
}

/// A step on the current path, for the race analysis.
#[derive(Clone)]
struct Event {
    tid: Tid,
    acc: Accesses,
    /// Position of this event among its thread's events, from 1.
    k: u32,
    /// Vector clock: per thread, the last of its events that happens before this one.
    clock: Vec<u32>,
}

/// Explores every interleaving of `model`'s threads (up to the bounds).
pub fn explore<M: Model>(model: &M, mut opts: Options<'_>) -> Outcome {
    let mut progress = opts.progress.take();
    let mut search = Search::new(opts.strategy, &opts.bounds);
    let mut last_progress = Instant::now();
    loop {
        // A fresh run replays the path down to the top node; the top node's choice (new,
        // or set by backtracking) is taken when the path is extended.
        let (mut ex, mut schedule) = search.replay(model);
        if let Some(limit) = search.extend(model, &mut ex, &mut schedule) {
            search.stopped_by = Some(limit);
            break;
        }
        drop(ex);
        if let Some(cb) = progress.as_deref_mut() {
            if last_progress.elapsed() >= Duration::from_millis(100) {
                last_progress = Instant::now();
                search.stats.elapsed_secs = search.start.elapsed().as_secs_f64();
                let found = violated(&search.cands);
                cb(&Progress {
                    stats: &search.stats,
                    depth: search.stack.len(),
                    found: &found,
                });
            }
        }
        if let Some(limit) =
            check_limits(search.bounds, &search.stats, search.start, &mut search.rss)
        {
            search.stopped_by = Some(limit);
            break;
        }
        if !search.backtrack() {
            break;
        }
    }
    search.finish(model, opts.strategy)
}

/// The depth-first search's state between executions.
struct Search<'b> {
    naive: bool,
    bounds: &'b Bounds,
    start: Instant,
    stats: Stats,
    /// The current path: a node per state, from the initial one.
    stack: Vec<Node>,
    /// The limit that stopped the search.
    stopped_by: Option<Bound>,
    /// A bound that cut executions short (the search went on).
    cut: Option<Bound>,
    final_states: BTreeSet<u64>,
    cands: BTreeMap<&'static str, Candidate>,
    rss: RssGauge,
    /// The lasso keys of the path's states, each with the first depth it has on the path.
    lasso_at: HashMap<u128, usize>,
    /// Executions cut by a model's retry bound ([`crate::RETRY_CUT`]).
    retry_cuts: u64,
}

impl<'b> Search<'b> {
    fn new(strategy: Strategy, bounds: &'b Bounds) -> Self {
        Search {
            naive: strategy == Strategy::Naive,
            bounds,
            start: Instant::now(),
            stats: Stats::default(),
            stack: Vec::new(),
            stopped_by: None,
            cut: None,
            final_states: BTreeSet::new(),
            cands: BTreeMap::new(),
            rss: RssGauge::default(),
            lasso_at: HashMap::new(),
            retry_cuts: 0,
        }
    }

    /// A fresh execution brought to the top node's state by replaying the path's choices
    /// (the first time: the initial state, which becomes the path's first node), and the
    /// schedule it took.
    fn replay<M: Model>(&mut self, model: &M) -> (Execution<M::World>, Vec<Tid>) {
        let mut ex = Execution::start(model.instance(), false);
        assert!(ex.threads() <= 64, "at most 64 model threads");
        let mut schedule: Vec<Tid> = Vec::with_capacity(self.stack.len() + 16);
        if self.stack.is_empty() {
            self.stack.push(new_node(&ex, 0, 0));
            self.lasso_at.clear();
            if let Some(k) = lasso::key(model, &ex) {
                self.stack[0].lasso = Some(k);
                self.lasso_at.insert(k, 0);
            }
        }
        for node in self.stack.iter().take(self.stack.len() - 1) {
            let tid = node.event.as_ref().expect("replayed node has an event").tid;
            ex.step(tid);
            self.stats.steps += 1;
            schedule.push(tid);
        }
        (ex, schedule)
    }

    /// Extends the path from the top node until the execution ends; `Some` when a limit
    /// stopped the search on the way.
    fn extend<M: Model>(
        &mut self,
        model: &M,
        ex: &mut Execution<M::World>,
        schedule: &mut Vec<Tid>,
    ) -> Option<Bound> {
        loop {
            let depth = self.stack.len() - 1;
            if self.stack[depth].event.is_none() && !self.choose(model, ex, schedule) {
                return None;
            }
            if depth >= self.bounds.max_depth {
                self.cut
                    .get_or_insert(Bound::MaxDepth(self.bounds.max_depth));
                self.stats.executions += 1;
                return None;
            }
            let prev = schedule.last().copied();
            if !self.take(model, ex, schedule) {
                return None;
            }
            self.enter(ex, prev);
            if self.close_lasso(model, ex, schedule) {
                return None;
            }
            if let Some(limit) = check_limits(self.bounds, &self.stats, self.start, &mut self.rss) {
                return Some(limit);
            }
        }
    }

    /// Chooses the thread the top node (new) steps: one neither asleep nor over the
    /// preemption bound, preferring the one that just ran. False at a terminal state (every
    /// thread finished or blocked, or every enabled one asleep), which is counted, and its
    /// end reported.
    fn choose<M: Model>(&mut self, model: &M, ex: &Execution<M::World>, schedule: &[Tid]) -> bool {
        let prev = schedule.last().copied();
        let top = self.stack.last_mut().expect("a path");
        if self.naive {
            top.backtrack = top.enabled;
        }
        let mut cands = top.enabled & !top.sleep_entry;
        if let Some(maxp) = self.bounds.max_preemptions {
            let within = cands & !over_bound(top, prev, maxp);
            if within != cands {
                self.cut.get_or_insert(Bound::MaxPreemptions(maxp));
            }
            cands = within;
        }
        let Some(tid) = prefer(cands, prev) else {
            if top.enabled & !top.sleep_entry == 0 && top.enabled != 0 {
                self.stats.pruned += 1; // every enabled thread asleep: covered elsewhere
            } else {
                self.stats.executions += 1;
                if top.enabled == 0 {
                    end_of_execution(model, ex, schedule, &mut self.cands, &mut self.final_states);
                }
            }
            return false;
        };
        top.backtrack |= 1 << tid;
        top.done |= 1 << tid;
        set_event(&mut self.stack, tid);
        true
    }

    /// Takes the top node's event and offers its findings; false when one of them is fatal,
    /// which ends the execution.
    fn take<M: Model>(
        &mut self,
        model: &M,
        ex: &mut Execution<M::World>,
        schedule: &mut Vec<Tid>,
    ) -> bool {
        let depth = self.stack.len() - 1;
        let tid = self.stack[depth].event.as_ref().expect("choice made").tid;
        let rec = ex.step(tid);
        self.stats.steps += 1;
        schedule.push(tid);
        self.stats.max_depth_seen = self.stats.max_depth_seen.max(schedule.len());
        if rec.findings.is_empty() {
            return true;
        }
        if let Some(f) = rec.findings.iter().find(|f| f.property == crate::RETRY_CUT) {
            // A retry loop went round its bound without the lasso check seeing a state
            // repeat: the execution is cut here (not a violation), the result incomplete.
            self.retry_cuts += 1;
            self.cut.get_or_insert(Bound::Retries(f.message.clone()));
        }
        let stack = &self.stack;
        record_findings(
            stack.len(),
            |j| {
                let e = stack[j].event.as_ref().expect("path event");
                (e.tid, &e.acc)
            },
            schedule,
            &rec,
            &mut self.cands,
        );
        if !rec.findings.iter().any(|f| f.fatal) {
            return true;
        }
        // A fatal finding ends the execution: it cuts off what every other thread would
        // still do. So the threads enabled here are explored from here too (a thread blocked
        // here is reached through them), and this step never sleeps (a thread is put to
        // sleep only when its step commutes with what runs instead; "another thread, then
        // this step" is no reordering of anything explored here). In those subtrees the step
        // stays pending and, where it ends an execution again, the same holds. Without this,
        // a step that touches nothing (`BUG()`, a retry bound) races with nothing and hides
        // every later step of the other threads.
        //
        // Earlier events of other threads that this step is not ordered after are not
        // reversed with it: an execution ending at this step before them consists of a
        // prefix of this one (up to reordering) and then this step with the same finding (it
        // reads what it read here); only the world it ends in differs. Such truncated
        // executions are classes of their own (`classes::count_classes`), so where steps are
        // fatal this search can explore fewer executions than there are classes.
        let top = &mut self.stack[depth];
        top.fatal |= 1 << tid;
        if !self.naive {
            top.backtrack |= top.enabled;
        }
        self.stats.executions += 1;
        self.final_states
            .insert(ex.with_world(|w| model.state_hash(w)) ^ 0xfa7a1);
        false
    }

    /// Enters the state the top node's event led to (`prev`: the thread that stepped before
    /// it): pushes its node, with the threads still asleep there, and runs the race analysis.
    fn enter<W: 'static>(&mut self, ex: &Execution<W>, prev: Option<Tid>) {
        let parent = self.stack.last().expect("a path");
        let cur = parent.event.as_ref().expect("event just taken");
        let tid = cur.tid;
        let preemptions = parent.preemptions
            + u32::from(matches!(prev, Some(p) if p != tid && parent.enabled & (1 << p) != 0));
        let sleep = if self.naive {
            0
        } else {
            let asleep = parent.sleep_entry | (parent.done & !parent.fatal & !(1 << tid));
            sleep_after(asleep, &parent.next, &cur.acc)
        };
        self.stack.push(new_node(ex, sleep, preemptions));
        if !self.naive {
            race_analysis(&mut self.stack, ex.threads());
        }
    }

    /// The lasso check at the state just entered (see `lasso.rs`): records its key, and
    /// when the key is that of an earlier state of the path, ends the execution — with a
    /// `livelock` when the cycle between the two is weakly fair, else (pruned) with the
    /// threads the cycle ignored to explore from here. True when the execution ended.
    fn close_lasso<M: Model>(
        &mut self,
        model: &M,
        ex: &Execution<M::World>,
        schedule: &[Tid],
    ) -> bool {
        let depth = self.stack.len() - 1;
        let Some(k) = lasso::key(model, ex) else {
            return false;
        };
        self.stack[depth].lasso = Some(k);
        let Some(&from) = self.lasso_at.get(&k) else {
            self.lasso_at.insert(k, depth);
            return false;
        };
        let cycle = &self.stack[from..=depth];
        let stepped = cycle[..cycle.len() - 1]
            .iter()
            .map(|n| n.event.as_ref().expect("path event").tid)
            .fold(0u64, |m, t| m | (1 << t));
        let always = cycle.iter().fold(u64::MAX, |m, n| m & n.enabled);
        match lasso::judge(stepped, always) {
            Ok(()) => {
                self.stats.executions += 1;
                let f = lasso::finding(ex, stepped, depth - from);
                offer(
                    &mut self.cands,
                    report_of(&f, schedule),
                    schedule.to_vec(),
                    true,
                );
            }
            Err(ignored) => {
                self.stats.pruned += 1;
                self.stack[depth].backtrack |= ignored;
                self.stack[depth].only = ignored;
            }
        }
        true
    }

    /// Backtracks to the deepest state with a thread still to explore and sets its event;
    /// false when there is none (the search is over).
    fn backtrack(&mut self) -> bool {
        while let Some(depth) = self.stack.len().checked_sub(1) {
            let prev = depth
                .checked_sub(1)
                .and_then(|d| self.stack[d].event.as_ref().map(|e| e.tid));
            let top = &mut self.stack[depth];
            let mut todo = top.backtrack & top.enabled & top.only & !(top.sleep_entry | top.done);
            if let Some(maxp) = self.bounds.max_preemptions {
                let over = todo & over_bound(top, prev, maxp);
                if over != 0 {
                    self.cut.get_or_insert(Bound::MaxPreemptions(maxp));
                    top.done |= over;
                    todo &= !over;
                }
            }
            if let Some(t) = prefer(todo, None) {
                top.done |= 1 << t;
                set_event(&mut self.stack, t);
                return true;
            }
            if let Some(k) = top.lasso {
                if self.lasso_at.get(&k) == Some(&depth) {
                    self.lasso_at.remove(&k);
                }
            }
            self.stack.pop();
        }
        false
    }

    /// The outcome: the search's figures, and each property's best trace, confirmed.
    fn finish<M: Model>(mut self, model: &M, strategy: Strategy) -> Outcome {
        self.stats.elapsed_secs = self.start.elapsed().as_secs_f64();
        let mut reports: Vec<PropertyReport> = self
            .cands
            .into_values()
            .map(|c| finalize(model, c))
            .collect();
        reports.sort_by(|a, b| a.property.cmp(b.property));
        if let Some(Bound::Retries(what)) = &mut self.cut {
            *what = format!("{} execution(s) cut: {what}", self.retry_cuts);
        }
        Outcome {
            strategy,
            stats: self.stats,
            reports,
            stopped_by: self.stopped_by.or(self.cut),
            final_states: self.final_states,
        }
    }
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
        lasso: None,
        only: u64::MAX,
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
