//! Reduction quality of the stateless DPOR on the kernel model: executions explored (complete
//! ones and sleep-set-blocked ones) ÷ Mazurkiewicz classes of the scenario's interleavings,
//! counted exactly (`count_classes_memo`, checked against naive enumeration by
//! `crates/explore/tests/classes.rs`). Optimal DPOR explores one execution per class; this
//! keeps the ratio on the small kernel cases from regressing (a ratio, not a time).

use checker::load;
use explore::search::classes::count_classes_memo;
use explore::{explore, Bounds, Options, Strategy};
use std::path::Path;

/// Most executions explored per class (the benchmark's figures: 1.000 to 1.020).
const BOUND: f64 = 1.05;

#[test]
fn dpor_explores_about_one_execution_per_class_on_small_kernel_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cases = [
        ("scenarios/d1-second-mapping-foll-get.toml", "v5.7"),
        ("scenarios/d1-second-mapping-foll-get.toml", "v5.15"),
        ("scenarios/d3-sendfile.toml", "v5.7"),
        ("scenarios/d3-sendfile.toml", "v5.7+splice-patch"),
        ("bench/scenarios/d1-second-mapping-3t.toml", "v5.7"),
        ("bench/scenarios/d1-second-mapping-3t.toml", "v5.15"),
    ];
    for (file, preset) in cases {
        let sc = load(&root.join(file)).unwrap_or_else(|e| panic!("{e}"));
        let model = sc.model(sc.kernel(preset, &[]).expect("preset"));
        let classes = count_classes_memo(&model, None);
        assert!(classes.complete && classes.classes > 0, "{file} [{preset}]");
        let o = explore(
            &model,
            Options {
                strategy: Strategy::Dpor,
                bounds: Bounds {
                    max_executions: Some(1_000_000),
                    ..Bounds::default()
                },
                progress: None,
            },
        );
        assert!(o.exhaustive(), "{file} [{preset}]: DPOR within its bound");
        let explored = o.stats.executions + o.stats.pruned;
        let ratio = explored as f64 / classes.classes as f64;
        assert!(
            ratio <= BOUND,
            "{file} [{preset}]: {explored} executions explored for {} classes ({ratio:.3})",
            classes.classes
        );
        // Every class has an execution: a DPOR that explored fewer would have missed some.
        assert!(
            o.stats.executions >= classes.classes,
            "{file} [{preset}]: {} complete executions for {} classes",
            o.stats.executions,
            classes.classes
        );
    }
}
