//! Models shared by the explorer's tests: small random programs ([`prog`]) and the benchmark
//! family F(n, k) ([`family`], the same model as `bench/family`).

#![allow(dead_code)]

/// The benchmark's own model file (its crate is outside the workspace), so that the tests
/// measure exactly what the benchmark measures.
#[path = "../../../../../bench/family/src/lib.rs"]
pub mod family;
pub mod prog;

use explore::{explore, Bounds, Model, Options, Outcome, Strategy};

/// Naive enumeration of `model`, or `None` if it has more than `budget` interleavings (a
/// deterministic bound: which cases a test compares does not depend on the machine).
pub fn naive_within<M: Model>(model: &M, budget: u64) -> Option<Outcome> {
    let n = explore(
        model,
        Options {
            strategy: Strategy::Naive,
            bounds: Bounds {
                max_executions: Some(budget),
                ..Bounds::default()
            },
            ..Options::default()
        },
    );
    n.exhaustive().then_some(n)
}
