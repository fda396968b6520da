//! `kernel`: the host side of s390 Protected Virtualization as an executable model.
//!
//! Every model function is named after the kernel function it follows and cites the file and
//! versions in its doc comment. Version differences are switches in [`config::Kernel`].
//! The model knows nothing of how interleavings are chosen: it declares, for every visible
//! step, what it touches, and the `explore` crate does the rest.

#![forbid(unsafe_code)]

pub mod actor;
pub mod build;
pub mod config;
pub mod fault;
pub mod filemap;
pub mod folio;
pub mod gmap;
pub mod guest;
pub mod gup;
pub mod gup_callers;
pub mod hook;
pub mod import;
pub mod migrate;
pub mod prim;
pub mod reclaim;
pub mod retry;
pub mod splice;
pub mod swap;
pub mod teardown;
pub mod truncate;
pub mod uv;
pub mod vmm;
pub mod vocab;
pub mod world;
pub mod writeback;
pub mod zap;

pub use config::Kernel;
pub use world::World;

use explore::{Finding, Instance};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use world::Objs;

/// A model thread's handle: the explorer context plus the (immutable) configuration.
pub struct Cx {
    pub ctx: explore::Ctx<World>,
    pub cfg: Arc<Kernel>,
    pub objs: Arc<Objs>,
}

impl Cx {
    pub fn new(ctx: explore::Ctx<World>) -> Self {
        let (cfg, objs) = ctx.with_const(|w| (w.cfg.clone(), w.objs.clone()));
        Cx { ctx, cfg, objs }
    }
}

/// A scenario instance ready to explore: the initial world and the threads' operations.
#[derive(Clone)]
pub struct KernelModel {
    pub world: World,
    pub threads: Vec<(String, Vec<vocab::OpCall>)>,
    /// Threads with the same operations, two or more to a group (see
    /// [`KernelModel::new`]), and all their members as a bit mask.
    groups: Vec<Vec<explore::Tid>>,
    members: u64,
}

impl KernelModel {
    /// The model of `threads` running on `world`. Threads whose operations are equal are
    /// interchangeable: the model's code never reads a thread's id except to find its own
    /// entries (its held references, the page lock and PTE locks it holds: all in the world,
    /// see [`World::hash_member`]), its properties do not name threads, and nothing of the
    /// set-up differs between them. They form a symmetry group for the stateful search
    /// (`explore::search::StateKey::symmetry`), which then keys states up to a permutation
    /// of each group's members.
    pub fn new(world: World, threads: Vec<(String, Vec<vocab::OpCall>)>) -> Self {
        let mut groups: Vec<Vec<explore::Tid>> = Vec::new();
        for (t, (_, ops)) in threads.iter().enumerate() {
            match groups.iter_mut().find(|g| threads[g[0]].1 == *ops) {
                Some(g) => g.push(t),
                None => groups.push(vec![t]),
            }
        }
        // Thread ids in a mask: groups only among the first 64 threads (the explorer's
        // limit anyway).
        groups.retain(|g| g.len() > 1 && g.iter().all(|&t| t < 64));
        let members = groups.iter().flatten().fold(0u64, |m, &t| m | (1 << t));
        KernelModel {
            world,
            threads,
            groups,
            members,
        }
    }

    /// The symmetry groups (see [`KernelModel::new`]).
    pub fn groups(&self) -> &[Vec<explore::Tid>] {
        &self.groups
    }
}

impl explore::Model for KernelModel {
    type World = World;

    fn instance(&self) -> Instance<World> {
        Instance {
            world: self.world.clone(),
            objects: self.world.objs.total,
            threads: self.threads(),
        }
    }

    fn threads(&self) -> Vec<(String, explore::ThreadFn<World>)> {
        (0..self.threads.len())
            .map(|t| (self.threads[t].0.clone(), self.thread(t)))
            .collect()
    }

    fn thread(&self, tid: explore::Tid) -> explore::ThreadFn<World> {
        let ops = self.threads[tid].1.clone();
        Box::new(move |ctx| {
            Box::pin(async move {
                let cx = Cx::new(ctx);
                actor::run(&cx, &ops).await;
            })
        })
    }

    /// Reference balance: every live page's refcount equals what its mappings, cache slot,
    /// private data and holders account for; nothing is left frozen. Import completeness:
    /// [`import_completeness`]. And the observation `secure-page-freed`: a freed frame the UV
    /// still holds secure (an export that failed and was ignored).
    fn at_end(&self, w: &World, out: &mut Vec<Finding>) {
        import_completeness(w, out);
        for (p, pg) in w.pages.iter().enumerate() {
            if pg.free {
                if let uv::UvState::Secure { guest, gfn } = w.uv[p].state {
                    out.push(vocab::properties::finding(
                        vocab::properties::SECURE_PAGE_FREED,
                        format!(
                            "at the end P{p} is free but still secure (guest {guest}, gfn {gfn}): \
                             the host cannot use the frame; its next user faults on it"
                        ),
                    ));
                }
                continue;
            }
            let want = w.accounted_refs(p);
            if pg.refcount != want {
                let what = if pg.refcount == 0 {
                    "left frozen".to_string()
                } else if pg.refcount < want {
                    format!("{} reference(s) lost", want - pg.refcount)
                } else {
                    format!("{} reference(s) leaked", pg.refcount - want)
                };
                out.push(vocab::properties::finding(
                    vocab::properties::REFERENCE_BALANCE,
                    format!(
                        "at the end P{p} has refcount {} but {} are accounted for \
                         (mapcount {}, cache {}, holders {}): {what}",
                        pg.refcount,
                        want,
                        pg.mapcount,
                        u8::from(pg.mapping.is_some()),
                        pg.extra
                    ),
                ));
            }
        }
    }

    /// The lasso check's world: the whole world (not up to symmetry — the check compares
    /// states of one execution), exported pages up to their nonces
    /// ([`retry::lasso_world_hash`]).
    fn lasso_world<H: Hasher>(&self, w: &World, h: &mut H) -> bool {
        retry::lasso_world_hash(w, h);
        true
    }

    /// Up to a permutation of each symmetry group's members (so that the final states of a
    /// search with symmetry reduction compare with those of one without).
    fn state_hash(&self, w: &World) -> u64 {
        // Without groups, `members` is 0 and this is the world's `Hash`.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.hash_except_members(self.members, &mut h);
        for g in &self.groups {
            let mut parts: Vec<u64> = g
                .iter()
                .map(|&t| {
                    let mut p = std::collections::hash_map::DefaultHasher::new();
                    w.hash_member(t, &mut p);
                    p.finish()
                })
                .collect();
            parts.sort_unstable();
            parts.hash(&mut h);
        }
        h.finish()
    }
}

/// Import completeness at the end of an execution: every guest frame the unpack reported in
/// place or the guest touched ([`world::Expect`]) — where the host still maps the page that
/// held it (a different page there means the host discarded the old one, MADV_DONTNEED) —
/// is secure for that frame with the content the guest expects, or exported so that the
/// guest's next access (a Convert-To-Secure: decrypt and check) gives that content.
///
/// Not after the protected VM's teardown ([`world::PvVm`] no longer `Running`: its
/// configuration destroyed, leaked or set aside — `pv-teardown`): there is no next access of
/// that guest; the destroy clears its pages on purpose (Destroy-Secure-Storage,
/// `s390_uv_destroy_range`), so nothing the guest expected is owed any more.
fn import_completeness(w: &World, out: &mut Vec<Finding>) {
    use uv::UvState;
    if w.vm.conf != world::Conf::Running {
        return;
    }
    for g in &w.guest {
        let Some(x) = g.expect else { continue };
        let by = match x.by {
            world::ExpectBy::Unpack => "KVM_PV_UNPACK reported it done",
            world::ExpectBy::Touch => "the guest accessed it",
        };
        // Swapped out (`reclaim-anon`): the content the guest expects is where the swap
        // entry says — the swap cache's folio of its slot, or the slot's block on the device
        // — and the fault back reads and imports that.
        if let Some(world::Swp::Swap { slot }) = w.mms[g.mm].pte(g.vpn).swp {
            let s = &w.swap[slot];
            let (frame, data, at) = match (s.cache, s.block) {
                (Some(q), _) => (w.uv[q], w.pages[q].data, format!("P{q} in the swap cache")),
                (None, Some(b)) => (
                    uv::UvFrame {
                        sealed: b.sealed,
                        ..Default::default()
                    },
                    b.data,
                    format!("swap slot {slot}"),
                ),
                (None, None) => (
                    uv::UvFrame::default(),
                    [0; world::PAGE_BYTES],
                    format!("swap slot {slot} (never written)"),
                ),
            };
            let want = g.written.unwrap_or([0; world::PAGE_BYTES]);
            let (mut frame, mut data) = (frame, data);
            let problem = match frame.state {
                UvState::Secure { .. } | UvState::SharedPinned { .. } => {
                    Some(format!("{at} is secure behind a swap entry"))
                }
                UvState::NonSecure if frame.sealed.is_none_or(|s| s.image) => Some(format!(
                    "{at} holds no exported copy of a guest page: the guest's content is lost"
                )),
                UvState::NonSecure => {
                    match uv::import(&w.keys, &mut frame, &mut data, 0, g.gfn, true) {
                        uv::UvRc::Ok if data == want => None,
                        rc => Some(format!(
                            "{at} does not import to what the guest expects ({rc:?})"
                        )),
                    }
                }
            };
            if let Some(why) = problem {
                out.push(vocab::properties::finding(
                    vocab::properties::IMPORT_COMPLETENESS,
                    format!("at the end, guest frame {} ({by}): {why}", g.gfn),
                ));
            }
            continue;
        }
        let pg = &w.pages[x.page];
        // The page the frame maps now, or the page-cache page its next fault maps.
        let current = w.frame_page(g.mm, g.vpn);
        if current != Some(x.page) || pg.free || pg.generation != x.generation {
            continue;
        }
        let want = g.written.unwrap_or([0; world::PAGE_BYTES]);
        let p = x.page;
        let problem = match w.uv[p].state {
            UvState::Secure { gfn, .. } | UvState::SharedPinned { gfn, .. } if gfn == g.gfn => (pg
                .data
                != want)
                .then(|| format!("P{p} is secure for it but does not hold what the guest expects")),
            UvState::Secure { gfn, .. } | UvState::SharedPinned { gfn, .. } => {
                Some(format!("P{p} is secure for guest frame {gfn}"))
            }
            UvState::NonSecure if w.uv[p].sealed.is_none_or(|s| s.image) => Some(format!(
                "P{p} was never made secure (it holds no exported copy of a guest page): the \
                 guest's next access imports it as a fresh page"
            )),
            UvState::NonSecure => {
                let mut frame = w.uv[p];
                let mut data = pg.data;
                let rc = uv::import(&w.keys, &mut frame, &mut data, 0, g.gfn, true);
                match rc {
                    uv::UvRc::Ok if data == want => None,
                    uv::UvRc::Ok => Some(format!(
                        "P{p} is not secure and its next import does not give what the guest \
                         expects"
                    )),
                    rc => Some(format!(
                        "P{p} is not secure and its next import fails ({rc:?}): the guest's \
                         content is lost"
                    )),
                }
            }
        };
        if let Some(why) = problem {
            out.push(vocab::properties::finding(
                vocab::properties::IMPORT_COMPLETENESS,
                format!("at the end, guest frame {} ({by}): {why}", g.gfn),
            ));
        }
    }
}

/// The stateful search's key for the kernel model (`explore::search::explore_stateful`).
///
/// The model's threads keep their state in `async` locals (what a kernel function has read,
/// loop counters, the pages an actor holds), so the key includes each thread's history: the
/// hash chain of its operations and of what their bodies returned. That is sound because
/// every step body hands information to its thread only through its return value (every
/// body here is a `move` closure over copied arguments that returns what the code reads),
/// and code outside steps reads only set-up constants (`Ctx::with_const`: the
/// configuration, object ids, frame count, VMAs, guest-frame translations and the protected
/// flags and counts of mms, none of which a step writes). The world's `Hash` covers all of
/// it that steps change (pages, UV frames, mms, files, pipes, the LRU batch, the UV's busy
/// count, the guest's view and each thread's held references); `cfg`, `objs` and `keys` are
/// the same in every state of one model.
impl explore::search::StateKey for KernelModel {
    fn hash_state<H: Hasher>(&self, world: &World, h: &mut H) {
        world.hash(h);
    }

    fn key_includes_history(&self) -> bool {
        true
    }

    fn snapshot(&self, world: &World) -> Option<World> {
        Some(world.clone())
    }

    /// Into the allocations of a recycled snapshot (`World::clone_from`, tested in
    /// crates/checker/tests/suite/world_clone.rs).
    fn snapshot_into(&self, world: &World, into: &mut World) -> bool {
        into.clone_from(world);
        true
    }

    /// Step results are plain values (`Clone`), and a step body hands its thread nothing
    /// else (see above): a fresh thread fed its recorded results reaches the same point.
    fn fast_forward(&self) -> bool {
        true
    }

    /// Threads with equal operations ([`KernelModel::new`]).
    fn symmetry(&self) -> Vec<Vec<explore::Tid>> {
        self.groups.clone()
    }

    fn hash_shared<H: Hasher>(&self, world: &World, h: &mut H) {
        world.hash_except_members(self.members, h);
    }

    fn hash_thread<H: Hasher>(&self, world: &World, tid: explore::Tid, h: &mut H) {
        world.hash_member(tid, h);
    }
}
