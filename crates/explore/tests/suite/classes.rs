//! Counting Mazurkiewicz classes: the sleep-set count against the naive canonical-form count
//! (they must agree wherever the naive count completes), and the reduction quality of DPOR —
//! executions explored (complete + sleep-set-blocked) ÷ classes — on small cases.

use crate::common;

use common::naive_within;
use common::prog::{random_prog, Ins, Mix, Prog};
use explore::search::classes::{count_classes, count_classes_memo, count_classes_sleep};
use explore::Model;
use family::Family;

/// Both counts of `m`'s classes; they must agree.
fn same_count<M: Model>(m: &M, what: &str) -> u64 {
    let naive = count_classes(m, None);
    let sleep = count_classes_sleep(m, None);
    assert!(naive.complete && sleep.complete);
    assert_eq!(sleep.classes, naive.classes, "{what}");
    assert_eq!(sleep.executions, sleep.classes);
    naive.classes
}

#[test]
fn sleep_set_count_equals_naive_count_on_random_programs() {
    for mix in [Mix::Basic, Mix::Extended] {
        let mut compared = 0;
        for seed in 1..=300 {
            let p = random_prog(seed, 3, 4, mix);
            if naive_within(&p, 20_000).is_none() {
                continue;
            }
            same_count(&p, &format!("{mix:?} seed {seed}: {:?}", p.threads));
            compared += 1;
        }
        assert!(
            compared >= 260,
            "{mix:?}: only {compared} programs compared"
        );
    }
}

#[test]
fn sleep_set_count_equals_naive_count_on_the_family() {
    for (n, k, bug) in [
        (2, 1, false),
        (2, 2, false),
        (2, 3, false),
        (3, 1, false),
        (3, 1, true),
        (3, 2, true),
    ] {
        same_count(&Family { n, k, bug }, &format!("F({n},{k}) bug={bug}"));
    }
}

#[test]
fn fatal_findings_end_executions_and_classes() {
    use Ins::*;
    // T0's assertion fails whenever it runs and ends the execution; T1 writes another
    // variable, then its output. The executions: [a], [w a], [w o a] (and no [w o] — T0 has
    // not finished — and nothing after a): three classes, though a commutes with w and o.
    let p = Prog {
        nvars: 2,
        nlocks: 0,
        threads: vec![vec![Fatal(0, 0)], vec![Write(1, 1)]],
    };
    assert_eq!(same_count(&p, "fatal"), 3);
}

/// The memoised count against the plain sleep-set count.
fn same_memo_count<M: explore::search::StateKey>(m: &M, what: &str) -> u64 {
    let sleep = count_classes_sleep(m, None);
    let memo = count_classes_memo(m, None);
    assert!(sleep.complete && memo.complete);
    assert_eq!(memo.classes, sleep.classes, "{what}");
    sleep.classes
}

#[test]
fn memoised_count_equals_sleep_set_count() {
    for mix in [Mix::Basic, Mix::Extended] {
        for seed in 1..=300 {
            let p = random_prog(seed, 3, 4, mix);
            same_memo_count(&p, &format!("{mix:?} seed {seed}: {:?}", p.threads));
        }
    }
    for (n, k, bug) in [
        (2, 1, false),
        (2, 3, false),
        (3, 1, false),
        (3, 1, true),
        (3, 2, false),
        (3, 2, true),
        (4, 1, true),
    ] {
        same_memo_count(&Family { n, k, bug }, &format!("F({n},{k}) bug={bug}"));
    }
}
