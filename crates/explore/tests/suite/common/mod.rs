//! Models shared by the explorer's tests: small random programs ([`prog`]). (The benchmark
//! family F(n, k) is the `family` crate, which `bench/family` runs.)

#![allow(dead_code)]

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
