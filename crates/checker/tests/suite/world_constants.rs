//! The kernel model's state hash (the stateful search's key) leaves out the parts of the
//! world that are set-up constants (`World::set_up_constants`). On every built-in and
//! benchmark scenario under every preset, random executions must never change them: a step
//! that did would make the search merge states that differ.

use checker::load;
use explore::{Execution, Model};
use std::path::Path;

use crate::common;
use common::toml_files;

#[test]
fn what_the_state_hash_leaves_out_never_changes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut steps = 0u64;
    for dir in ["scenarios", "bench/scenarios", "crates/checker/tests/naive"] {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        for file in toml_files(&dir) {
            let Ok(sc) = load(&file) else { continue };
            for name in kernel::config::PRESETS.iter().map(|p| p.name) {
                let Some(k) = kernel::config::preset(name) else {
                    continue;
                };
                let model = sc.model(k);
                let want = model.world.set_up_constants();
                let mut rng = 0x2545_f491_4f6c_dd1du64;
                for _ in 0..20 {
                    let mut ex = Execution::start(model.instance(), false);
                    for _ in 0..400 {
                        let Some(rec) = ex.step_random(&mut rng) else {
                            break;
                        };
                        steps += 1;
                        let now = ex.with_world(|w| w.set_up_constants());
                        assert_eq!(
                            now,
                            want,
                            "{}: {name}: step {} changed a set-up constant",
                            file.display(),
                            rec.name
                        );
                        if rec.findings.iter().any(|f| f.fatal) {
                            break;
                        }
                    }
                }
            }
        }
    }
    assert!(steps > 10_000, "the test took only {steps} steps");
}
