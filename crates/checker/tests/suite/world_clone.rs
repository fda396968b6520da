//! `World::clone_from` (what the stateful search's recycled snapshots are copied with) gives
//! the same world as `clone`: on every built-in and benchmark scenario under every preset,
//! along random executions, a world copied into one taken at an earlier step (of this or of
//! an earlier scenario: other sizes, other contents) prints the same as the world itself.

use checker::load;
use explore::{Execution, Model};
use std::path::Path;

use crate::common;
use common::toml_files;

#[test]
fn clone_from_into_an_older_world_equals_the_world() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0u64;
    // Worlds of earlier steps, of every scenario so far (other mms, files, sizes).
    let mut older: Vec<kernel::World> = Vec::new();
    // The first world of every scenario and preset so far.
    let mut firsts: Vec<kernel::World> = Vec::new();
    for dir in ["scenarios", "bench/scenarios"] {
        for file in toml_files(&root.join(dir)) {
            let Ok(sc) = load(&file) else { continue };
            for name in kernel::config::PRESETS.iter().map(|p| p.name) {
                let Some(k) = kernel::config::preset(name) else {
                    continue;
                };
                let model = sc.model(k);
                firsts.push(model.instance().world);
                let mut rng = 0x9e37_79b9_7f4a_7c15u64;
                for _ in 0..4 {
                    let mut ex = Execution::start(model.instance(), false);
                    for _ in 0..200 {
                        let Some(rec) = ex.step_random(&mut rng) else {
                            break;
                        };
                        ex.with_world(|w| {
                            let picks = [
                                (!older.is_empty()).then(|| (rng as usize / 7) % older.len()),
                                (!firsts.is_empty()).then(|| (rng as usize / 13) % firsts.len()),
                            ];
                            for (pool, pick) in [&older, &firsts].into_iter().zip(picks) {
                                let Some(i) = pick else { continue };
                                let mut into = pool[i].clone();
                                into.clone_from(w);
                                assert_eq!(
                                    format!("{into:?}"),
                                    format!("{w:?}"),
                                    "{}: {name}: after {}",
                                    file.display(),
                                    rec.name
                                );
                                checked += 1;
                            }
                            // And into a copy of this world with every part changed.
                            let mut into = w.clone();
                            perturb(&mut into);
                            assert_ne!(format!("{into:?}"), format!("{w:?}"));
                            into.clone_from(w);
                            assert_eq!(
                                format!("{into:?}"),
                                format!("{w:?}"),
                                "{}: {name}: after {} (into a perturbed copy)",
                                file.display(),
                                rec.name
                            );
                            older.push(w.clone());
                            if older.len() > 16 {
                                older.swap_remove((rng as usize / 11) % 16);
                            }
                        });
                        if rec.findings.iter().any(|f| f.fatal) {
                            break;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} copies checked");
}

/// Changes every field of the world that a step or a scenario can make differ, and the sizes
/// of its vectors.
fn perturb(w: &mut kernel::World) {
    use kernel::world::Pte;
    for pg in &mut w.pages {
        pg.refcount += 1;
        pg.data[0] ^= 0xff;
    }
    for f in &mut w.uv {
        f.exports += 1;
    }
    for m in &mut w.mms {
        m.name.push('x');
        m.protected ^= true;
        m.protected_count += 1;
        if let Some(v) = m.vmas.first().cloned() {
            m.vmas.push(v);
        }
        for (_, pte) in &mut m.ptes {
            pte.present ^= true;
        }
        m.ptes.push((9999, Pte::NONE));
        m.ptl_held.push((9999, 0));
        m.mmap_readers += 1;
        m.mmap_writer ^= true;
    }
    for f in &mut w.files {
        f.name.push('x');
        f.cache.push(None);
    }
    for p in &mut w.pipes {
        p.name.push('x');
        p.bufs.clear();
        p.bufs.push(kernel::world::PipeBuf {
            page: 0,
            page_cache: false,
        });
    }
    w.lru_batch.push(0);
    w.uv_busy += 1;
    for g in &mut w.guest {
        g.written = Some([0xee; kernel::world::PAGE_BYTES]);
    }
    w.held.push(Vec::new());
}
