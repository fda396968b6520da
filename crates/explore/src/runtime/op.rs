//! What a thread asks to do next ([`Op`]: a name, the objects it touches and when it is
//! enabled), the environment its body runs in ([`StepEnv`]), and what a step reports
//! ([`Finding`]).

use super::Tid;
use crate::access::Accesses;

/// How bad a finding is.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth showing, not a property violation (e.g. a GUP that returned -ENOMEM).
    Observation,
    /// A property is violated.
    Violation,
}

/// Something a step (or the end-of-execution check) reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable property name (e.g. `io-on-secure-page`): one report per property.
    pub property: &'static str,
    /// Whether it violates the property or is only worth showing.
    pub severity: Severity,
    /// What happened, in kernel terms.
    pub message: String,
    /// Whether the execution cannot go on (BUG(), an oops): it ends at this step.
    pub fatal: bool,
}

/// When a registered operation may run.
pub enum Guard<W> {
    /// Always enabled.
    Always,
    /// Enabled while `f(world, arg)` is true (a blocking lock, a wait on a flag).
    When(fn(&W, u64) -> bool, u64),
    /// A retry loop that saw no progress: enabled once another thread wrote one of the
    /// objects this step reads since the current attempt first read or wrote it (see
    /// [`super::Ctx::attempt_begin`]), or since this thread's previous parked step.
    /// This is how the model states weak fairness: a loop that would spin on unchanged
    /// state is parked instead of unrolled. (Sound under partial-order reduction: every
    /// write it waits for is dependent with the parked step, which reads the object.)
    Changed,
}

impl<W> Clone for Guard<W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W> Copy for Guard<W> {}

/// What a thread asks to do next.
pub struct Op<W> {
    /// The operation's name, as traces show it (the kernel function or primitive it models).
    pub name: &'static str,
    /// What it touches: how the explorer tells which operations commute.
    pub accesses: Accesses,
    /// When it may run.
    pub guard: Guard<W>,
    /// The step waits for a retry loop's condition (a thread blocked here forever is a
    /// livelock of that loop, not a deadlock).
    pub retry: bool,
}

impl<W> Op<W> {
    /// An operation that is always enabled.
    pub fn new(name: &'static str, accesses: Accesses) -> Self {
        Op {
            name,
            accesses,
            guard: Guard::Always,
            retry: false,
        }
    }
    /// The operation, enabled only while `f(world, arg)` holds ([`Guard::When`]: a blocking
    /// lock, a wait on a flag).
    pub fn when(mut self, f: fn(&W, u64) -> bool, arg: u64) -> Self {
        self.guard = Guard::When(f, arg);
        self
    }
    /// The operation as a parked retry ([`Guard::Changed`]): enabled once another thread
    /// wrote something it reads since the attempt's baseline.
    pub fn parked(mut self) -> Self {
        self.guard = Guard::Changed;
        self.retry = true;
        self
    }
    /// A retry loop that waits until `f(world, arg)` holds: the retries in between would
    /// fail without changing anything (weak fairness).
    pub fn retry_when(mut self, f: fn(&W, u64) -> bool, arg: u64) -> Self {
        self.guard = Guard::When(f, arg);
        self.retry = true;
        self
    }
}

impl<W> Clone for Pending<W> {
    fn clone(&self) -> Self {
        Pending {
            name: self.name,
            accesses: self.accesses,
            guard: self.guard,
            retry: self.retry,
            frames: self.frames.clone(),
        }
    }
}

pub(crate) struct Pending<W> {
    pub name: &'static str,
    pub accesses: Accesses,
    pub guard: Guard<W>,
    pub retry: bool,
    /// The model call stack at the time of registration (only while tracing).
    pub frames: Vec<&'static str>,
}

/// The environment an operation's body runs in.
pub struct StepEnv<'a, W> {
    /// The shared world, for the body to read and change.
    pub world: &'a mut W,
    /// The thread whose operation runs.
    pub tid: Tid,
    pub(super) findings: &'a mut Vec<Finding>,
    pub(super) note: Option<&'a mut String>,
}

impl<W> StepEnv<'_, W> {
    /// Reports a finding at this step.
    pub fn report(&mut self, property: &'static str, severity: Severity, message: String) {
        self.findings.push(Finding {
            property,
            severity,
            message,
            fatal: false,
        });
    }
    /// Reports a finding after which the execution cannot continue (BUG, oops).
    pub fn report_fatal(&mut self, property: &'static str, message: String) {
        self.findings.push(Finding {
            property,
            severity: Severity::Violation,
            message,
            fatal: true,
        });
    }
    /// A retry loop at `site` went round `rounds` times, its bound, without the lasso check
    /// seeing a state repeat ([`super::Ctx::loop_enter`]): the execution is cut here — not a
    /// violation ([`crate::RETRY_CUT`]); the search's result becomes incomplete
    /// ([`crate::search::Bound::Retries`]).
    pub fn cut_retry(&mut self, site: &str, rounds: u32) {
        self.findings.push(Finding {
            property: crate::RETRY_CUT,
            severity: Severity::Observation,
            message: format!(
                "retry loop at {site} went round {rounds} times without repeating a state"
            ),
            fatal: true,
        });
    }
    /// Whether a trace is being recorded (notes are only built then).
    pub fn tracing(&self) -> bool {
        self.note.is_some()
    }
    /// Describes what the step did, for the trace ("refcount 2 -> 0"). The closure only
    /// runs while tracing.
    pub fn note(&mut self, f: impl FnOnce() -> String) {
        if let Some(n) = self.note.as_deref_mut() {
            if !n.is_empty() {
                n.push_str("; ");
            }
            n.push_str(&f());
        }
    }
}
