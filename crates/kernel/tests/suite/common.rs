//! Helpers every module of the kernel suite uses: presets, the builder, stepping one thread,
//! exploring every interleaving, and the properties found.

use explore::runtime::StepRecord;
use explore::{explore, Bounds, Execution, Model, Options, Outcome, Severity};
use kernel::build::Builder;
use kernel::vocab::ops::{OpCall, ThreadOp};
use kernel::vocab::presets::resolve;
use kernel::{Kernel, KernelModel, World};

pub fn ops(v: Vec<ThreadOp>) -> Vec<OpCall> {
    v.into_iter().map(OpCall::from).collect()
}

pub fn kernel(name: &str) -> Kernel {
    resolve(name).unwrap_or_else(|e| panic!("{e}"))
}

pub fn with(name: &str, sets: &[(&str, &str)]) -> Kernel {
    let mut k = kernel(name);
    for (s, v) in sets {
        k.set(s, v).expect("switch");
    }
    k
}

pub fn model(mut b: Builder, threads: Vec<(&str, Vec<OpCall>)>, k: Kernel) -> KernelModel {
    for (name, ops) in threads {
        b.thread(name, ops).expect("thread builds");
    }
    b.model(k)
}

/// Steps thread `tid` alone until it finishes, blocks or ends the execution.
pub fn run_alone(m: &KernelModel, tid: usize) -> (Vec<StepRecord>, World, bool) {
    let mut ex = Execution::start(m.instance(), true);
    let mut steps = Vec::new();
    for _ in 0..2_000 {
        if ex.finished(tid) || !ex.enabled(tid) {
            break;
        }
        let r = ex.step(tid);
        let fatal = r.findings.iter().any(|f| f.fatal);
        steps.push(r);
        if fatal {
            break;
        }
    }
    let finished = ex.finished(tid);
    (steps, ex.with_world(|w| w.clone()), finished)
}

/// Every interleaving (DPOR), exhaustive within 50,000 executions.
pub fn explore_all(m: &KernelModel) -> Outcome {
    let o = explore(
        m,
        Options {
            bounds: Bounds {
                max_executions: Some(50_000),
                ..Bounds::default()
            },
            ..Options::default()
        },
    );
    assert!(o.exhaustive(), "bounded: {:?}", o.stopped_by);
    o
}

pub fn violated(o: &Outcome) -> Vec<&'static str> {
    o.violations().map(|r| r.property).collect()
}

pub fn observed(o: &Outcome) -> Vec<&'static str> {
    o.reports
        .iter()
        .filter(|r| r.severity == Severity::Observation)
        .map(|r| r.property)
        .collect()
}

pub fn findings(steps: &[StepRecord]) -> Vec<&'static str> {
    steps
        .iter()
        .flat_map(|s| s.findings.iter().map(|f| f.property))
        .collect()
}

/// Runs the threads one after the other, each alone to its end; the steps and the world.
pub fn run_in_order(m: &KernelModel) -> (Vec<StepRecord>, World) {
    let mut ex = Execution::start(m.instance(), true);
    let mut steps = Vec::new();
    for tid in 0..m.threads.len() {
        for _ in 0..4_000 {
            if ex.finished(tid) {
                break;
            }
            assert!(ex.enabled(tid), "thread {tid} blocked alone");
            steps.push(ex.step(tid));
        }
        assert!(ex.finished(tid), "thread {tid} did not finish");
    }
    (steps, ex.with_world(|w| w.clone()))
}

/// The first step named `name`.
pub fn position(steps: &[StepRecord], name: &str) -> Option<usize> {
    steps.iter().position(|s| s.name == name)
}

/// Every interleaving by the stateful search (a visited set over whole states: passes of
/// reclaim or truncation against an import are too many Mazurkiewicz classes for plain DPOR),
/// with the default depth bound only, never a time bound.
pub fn explore_states(m: &KernelModel) -> Outcome {
    let o = explore::search::explore_stateful(
        m,
        Options {
            bounds: Bounds::default(),
            ..Options::default()
        },
    );
    assert!(o.exhaustive(), "bounded: {:?}", o.stopped_by);
    o
}
