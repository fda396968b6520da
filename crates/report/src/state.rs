//! The page's state along a trace: the schedule is replayed step by step on a fresh instance
//! of the model and the world is read after every step (refcount, PG_locked, PG_writeback,
//! PG_arch_1, the Ultravisor's state). From the same run: lock hand-overs (a lock released by
//! one thread and then taken by another) and refcount freezes (the frozen interval and the
//! other threads' steps that touched the refcount meanwhile).

use explore::{Execution, Model, Replay, Tid};
use kernel::uv::UvState;
use kernel::world::{PagePart, World};
use kernel::KernelModel;
use serde::Serialize;

/// One page after one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageSnap {
    pub refcount: i32,
    pub mapcount: i32,
    /// Refcount 0 on a page that was not freed: `page_ref_freeze` holds it.
    pub frozen: bool,
    pub free: bool,
    /// `PG_locked`, by thread index.
    pub locked_by: Option<Tid>,
    pub writeback: bool,
    pub arch1: bool,
    /// `non-secure`, `secure` or `shared-pinned`.
    pub uv: &'static str,
}

impl PageSnap {
    fn of(w: &World, p: usize) -> PageSnap {
        let pg = &w.pages[p];
        PageSnap {
            refcount: pg.refcount,
            mapcount: pg.mapcount,
            frozen: pg.refcount == 0 && !pg.free,
            free: pg.free,
            locked_by: pg.locked_by,
            writeback: pg.writeback,
            arch1: pg.arch1,
            uv: match w.uv[p].state {
                UvState::NonSecure => "non-secure",
                UvState::Secure { .. } => "secure",
                UvState::SharedPinned { .. } => "shared-pinned",
            },
        }
    }

    /// Flags as short text: `L:T0 WB A1`.
    pub fn flags(&self) -> String {
        let mut v = Vec::new();
        if let Some(t) = self.locked_by {
            v.push(format!("L:T{t}"));
        }
        if self.writeback {
            v.push("WB".to_string());
        }
        if self.arch1 {
            v.push("A1".to_string());
        }
        if self.free {
            v.push("free".to_string());
        }
        v.join(" ")
    }
}

/// A lock released by one thread and then acquired by another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Handover {
    pub lock: String,
    pub from_step: usize,
    pub from_tid: Tid,
    pub to_step: usize,
    pub to_tid: Tid,
}

/// A refcount frozen by `page_ref_freeze` from `from_step` until `to_step` (None: still
/// frozen at the end of the trace).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Freeze {
    pub page: usize,
    pub tid: Tid,
    pub from_step: usize,
    pub to_step: Option<usize>,
    /// Steps of other threads that touched the frozen refcount, with their thread.
    pub touched_by: Vec<(usize, Tid)>,
}

/// Per-step state of a trace.
#[derive(Clone, Debug, Serialize)]
pub struct StateTrack {
    /// The pages shown: every page that is allocated at some point or changes.
    pub pages: Vec<usize>,
    /// `states[i][k]`: page `pages[k]` after step `i` (`states[0]`: the initial state).
    pub states: Vec<Vec<PageSnap>>,
    pub handovers: Vec<Handover>,
    pub freezes: Vec<Freeze>,
}

impl StateTrack {
    /// The state of shown page `k` after step `i` (0: initial).
    pub fn at(&self, i: usize, k: usize) -> &PageSnap {
        &self.states[i.min(self.states.len() - 1)][k]
    }
}

fn locks(w: &World) -> Vec<(String, Tid)> {
    let mut v = Vec::new();
    for (p, pg) in w.pages.iter().enumerate() {
        if let Some(t) = pg.locked_by {
            v.push((format!("PG_locked P{p}"), t));
        }
    }
    for mm in &w.mms {
        for &(table, holder) in &mm.ptl_held {
            let name = if table == 0 {
                format!("{} PTE lock", mm.name)
            } else {
                format!("{} PTE lock #{table}", mm.name)
            };
            v.push((name, holder));
        }
    }
    v
}

/// Replays the steps of `replay` (same schedule, same model) and records the page state
/// after each one.
pub fn track(model: &KernelModel, replay: &Replay) -> StateTrack {
    let mut ex = Execution::start(model.instance(), false);
    let npages = ex.with_world(|w| w.pages.len());
    let snap_all = |ex: &Execution<World>| {
        ex.with_world(|w| (0..npages).map(|p| PageSnap::of(w, p)).collect::<Vec<_>>())
    };
    let ref_objs: Vec<explore::ObjId> =
        ex.with_world(|w| (0..npages).map(|p| w.objs.page(p, PagePart::Ref)).collect());
    let mut all = vec![snap_all(&ex)];
    let mut held = ex.with_world(locks);
    let mut last_release: Vec<(String, usize, Tid)> = Vec::new();
    let mut handovers = Vec::new();
    let mut freezes: Vec<Freeze> = Vec::new();
    for s in &replay.steps {
        let t = s.tid;
        if t >= ex.threads() || !ex.enabled(t) {
            break;
        }
        let rec = ex.step(t);
        let now = ex.with_world(locks);
        // Releases, then acquisitions.
        for (name, h) in &held {
            if !now.iter().any(|(n, x)| n == name && x == h) {
                last_release.retain(|r| &r.0 != name);
                last_release.push((name.clone(), s.index, *h));
            }
        }
        for (name, h) in &now {
            if !held.iter().any(|(n, x)| n == name && x == h) {
                if let Some(r) = last_release.iter().find(|r| &r.0 == name) {
                    if r.2 != *h {
                        handovers.push(Handover {
                            lock: name.clone(),
                            from_step: r.1,
                            from_tid: r.2,
                            to_step: s.index,
                            to_tid: *h,
                        });
                    }
                }
            }
        }
        held = now;
        let snaps = snap_all(&ex);
        let prev = all.last().expect("initial state");
        for p in 0..npages {
            let (a, b) = (&prev[p], &snaps[p]);
            if !a.frozen && b.frozen {
                freezes.push(Freeze {
                    page: p,
                    tid: t,
                    from_step: s.index,
                    to_step: None,
                    touched_by: Vec::new(),
                });
            } else if let Some(f) = freezes
                .iter_mut()
                .rev()
                .find(|f| f.page == p && f.to_step.is_none())
            {
                let touches = rec.accesses.as_slice().iter().any(|a| a.obj == ref_objs[p]);
                if a.frozen && !b.frozen {
                    f.to_step = Some(s.index);
                    if t != f.tid && touches {
                        f.touched_by.push((s.index, t));
                    }
                } else if t != f.tid && touches {
                    f.touched_by.push((s.index, t));
                }
            }
        }
        all.push(snaps);
        if rec.findings.iter().any(|f| f.fatal) {
            break;
        }
    }
    // Pages worth a strip: allocated at some point, or changed along the trace.
    let pages: Vec<usize> = (0..npages)
        .filter(|&p| {
            let first = &all[0][p];
            all.iter().any(|s| !s[p].free) || all.iter().any(|s| &s[p] != first)
        })
        .collect();
    let states = all
        .iter()
        .map(|s| pages.iter().map(|&p| s[p].clone()).collect())
        .collect();
    StateTrack {
        pages,
        states,
        handovers,
        freezes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn d3_sendfile_v57_strip_shows_the_freeze_and_the_secure_page() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/d3-sendfile.toml");
        let sc = checker::load(&path).expect("scenario");
        let model = sc.model(sc.kernel("v5.7", &[]).expect("preset"));
        let sched = explore::parse_schedule("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.1.1.1.1.1.1.1")
            .expect("schedule");
        let r = explore::replay(&model, &sched);
        let st = track(&model, &r);
        assert_eq!(st.states.len(), r.steps.len() + 1);
        assert!(st.pages.contains(&0));
        let k = st.pages.iter().position(|&p| p == 0).expect("P0 shown");
        assert_eq!(st.at(0, k).uv, "non-secure");
        assert_eq!(st.at(r.steps.len(), k).uv, "secure");
        assert!(st.freezes.iter().any(|f| f.page == 0 && f.tid == 0));
        assert!(st.states.iter().any(|s| s[k].locked_by == Some(0)));
    }

    /// Runs thread 0 to its end, then thread 1: the page lock goes from one to the other.
    #[test]
    fn a_page_lock_taken_after_another_thread_released_it_is_a_handover() {
        let text = r#"
presets = ["v5.7"]
[[file]]
name = "f"
pages = 1
[[mm]]
name = "qemu"
protected = true
[[map]]
mm = "qemu"
vpn = 0
file = "f"
index = 0
[[guest]]
gfn = 0
mm = "qemu"
vpn = 0
[[thread]]
name = "writeback"
ops = [{ op = "writeback", file = "f", index = 0 }]
[[thread]]
name = "vcpu"
ops = [{ op = "guest-access", gfn = 0, write = 0x5a }]
"#;
        let sc = checker::parse(Path::new("handover.toml"), text).expect("scenario");
        let model = sc.model(sc.kernel("v5.7", &[]).expect("preset"));
        let mut ex = Execution::start(model.instance(), false);
        let mut sched = Vec::new();
        for t in 0..2 {
            while !ex.finished(t) && ex.enabled(t) {
                ex.step(t);
                sched.push(t);
            }
        }
        let r = explore::replay(&model, &sched);
        let st = track(&model, &r);
        let h = st
            .handovers
            .iter()
            .find(|h| h.lock == "PG_locked P0")
            .unwrap_or_else(|| panic!("no page-lock hand-over in {:?}", st.handovers));
        assert_eq!((h.from_tid, h.to_tid), (0, 1));
        assert!(h.from_step < h.to_step);
        let svg = crate::svg::Diagram {
            title: "handover".into(),
            replay: &r,
            track: &st,
            mark: None,
            standalone: true,
        }
        .render();
        assert!(svg.contains("class=\"arrow handover\""));
    }
}
