//! The accessibility hook and the UV calls behind it: how the kernel issues a UVC
//! (`uv_call`, `uv_call_sched`, `__uv_call`: arch/s390/include/asm/uv.h), what the firmware
//! environment answers (`uv-busy`, `uv-fail`), and the bounded-waiting check of a busy-wait
//! that holds a spinlock or a frozen refcount.

use crate::prim::{acc, holds_ref, live, Env};
use crate::uv::{self, Answer, Failure, UvCall, UvRc};
use crate::vocab::properties::{self as prop, report};
use crate::world::{PageId, PagePart as PP, World};
use crate::Cx;
use explore::{Access, Accesses, Op};

/// How a caller issues a UVC (arch/s390/include/asm/uv.h, v5.7 … 6.12.118).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Issue {
    /// `uv_call`: `__uv_call` repeated while the condition code is 2 or 3, with no
    /// reschedule point — a spin in whatever context the caller holds.
    Spin,
    /// `uv_call_sched`: the same loop with `cond_resched()` after every attempt.
    Sched,
}

/// What the firmware does to the page when it performs the call.
pub type UvOp = fn(&mut World, PageId) -> UvRc;

/// The thread's atomic context for the bounded-waiting check: the PTE locks it holds (a
/// spinlock each) and the refcount it froze, as text. Thread-private: only the thread itself
/// takes or drops its own entries.
fn atomic_holds(w: &World, tid: usize, frozen: Option<PageId>) -> Vec<String> {
    let mut out: Vec<String> = w
        .mms
        .iter()
        .filter(|m| m.ptl_held.iter().any(|&(_, t)| t == tid))
        .map(|m| format!("the PTE lock of {}", m.name))
        .collect();
    if let Some(p) = frozen {
        out.push(format!("P{p}'s refcount frozen at 0"));
    }
    out
}

/// After the `spins`-th busy answer in a row to one `uv_call` (or `uv_call_sched`): checks
/// bounded waiting and says whether the loop waits for the busy period to end before it
/// tries again.
///
/// Bounded waiting (the soft-lockup class): a `uv_call` spins without a reschedule point; if
/// it holds a spinlock (a PTE lock) or a refcount it froze, every CPU that wants that lock or
/// speculatively gets that page spins with it. Past [`World::spin_bound`] busy answers in a
/// row that is reported. A busy period lasts any number of answers, so the loop unrolls its
/// spins only as far as the report and then waits for the period's end (weak fairness: the
/// retries in between would answer the same). `uv_call_sched` reschedules between attempts:
/// no report, it waits at once.
pub fn spin_check(
    e: &mut Env,
    call: UvCall,
    spins: u32,
    frozen: Option<PageId>,
    issue: Issue,
) -> bool {
    let period = e.world.uv_env.in_period(call);
    if issue == Issue::Sched {
        return period;
    }
    let holds = atomic_holds(e.world, e.tid, frozen);
    let bound = e.world.spin_bound;
    if spins == bound + 1 && !holds.is_empty() {
        let length = if period {
            "and the UV may stay busy for as long as its busy period lasts"
        } else {
            "in a row"
        };
        report(
            e,
            prop::BOUNDED_WAITING,
            format!(
                "uv_call({}) spun through {spins} busy answers (bound {bound}) {length}, \
                 holding {}: the soft-lockup class — every CPU that takes that lock or \
                 speculatively gets that page spins as long (f0a1a0615a6f: \"we don't want to \
                 loop for long, or we might get stall notifications\")",
                call.name(),
                holds.join(" and ")
            ),
        );
    }
    period && (holds.is_empty() || spins > bound)
}

/// The firmware's answer to `call`, for a UVC step's body: consumes a scripted answer.
pub fn uv_answer(e: &mut Env, call: UvCall) -> Answer {
    e.world.uv_env.answer(call)
}

/// What a busy answer looks like in a trace.
pub fn busy_note(call: UvCall, cc: u8, period: bool, issue: Option<Issue>) -> String {
    let why = if period { "busy period" } else { "scripted" };
    let then = match issue {
        None => "__uv_call returns it",
        Some(Issue::Spin) => "uv_call repeats the call",
        Some(Issue::Sched) => "uv_call_sched reschedules and repeats",
    };
    format!(
        "UVC {}: cc {cc} ({}, {why}): {then}",
        call.name(),
        if cc == 3 { "partial" } else { "busy" }
    )
}

/// errno values the model passes around (negated, as in the kernel).
pub const EINVAL: i32 = -22;
pub const EAGAIN: i32 = -11;
pub const EBUSY: i32 = -16;
pub const ENXIO: i32 = -6;
pub const EFAULT: i32 = -14;
pub const ENOMEM: i32 = -12;
pub const EIO: i32 = -5;
/// `-E2BIG`: the import met a large folio (eef88fe45ac9).
pub const E2BIG: i32 = -7;
pub const EOPNOTSUPP: i32 = -95;

impl Cx {
    /// `arch_make_page_accessible` (arch/s390/kernel/uv.c, v5.7 f28d43636d6f … v6.11;
    /// `arch_make_folio_accessible` later):
    /// 1. PG_arch_1 clear → 0 (fast path);
    /// 2. `uv_pin_shared` succeeds → clear PG_arch_1, 0;
    /// 3. `uv_convert_from_secure` (export) succeeds → clear PG_arch_1, 0;
    /// 4. else `-EINVAL`.
    ///
    /// Precondition (its kernel comment): the caller holds the page lock or an extra
    /// reference; a call without either is reported as `hook-precondition`.
    pub async fn arch_make_page_accessible(&self, p: PageId) -> i32 {
        self.ctx
            .call("arch_make_page_accessible", async move {
                let _f = self.ctx.enter("arch_make_page_accessible");
                let a = acc(&[
                    Access::read(self.objs.page(p, PP::Arch1)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                let set = self
                    .ctx
                    .step(Op::new("test_bit(PG_arch_1)", a), move |e| {
                        live(e, p, "arch_make_page_accessible");
                        let w = &*e.world;
                        let tid = e.tid;
                        if w.pages[p].locked_by != Some(tid) && !holds_ref(w, tid, p) {
                            report(
                                e,
                                prop::HOOK_PRECONDITION,
                                format!(
                                    "arch_make_page_accessible(P{p}) called \
                         without the page lock and without a reference"
                                ),
                            );
                        }
                        let set = e.world.pages[p].arch1;
                        e.note(|| {
                            let what = if set { "set" } else { "clear: fast path" };
                            format!("P{p} PG_arch_1 {what}")
                        });
                        set
                    })
                    .await;
                if !set {
                    return 0;
                }
                if self.uv_pin_shared(p).await == UvRc::Ok {
                    self.set_arch1(p, false).await;
                    return 0;
                }
                if self.uv_convert_from_secure(p).await == UvRc::Ok {
                    self.set_arch1(p, false).await;
                    return 0;
                }
                EINVAL
            })
            .await
    }

    /// One UVC on page `p` as the kernel issues it (`issue`): each attempt is a step in
    /// which the firmware environment answers (busy, an error) or the UV performs `op`; a
    /// busy answer repeats it ([`spin_check`]). `frozen` is a refcount the caller holds
    /// frozen across the call.
    pub async fn uv_call_page(
        &self,
        call: UvCall,
        p: PageId,
        name: &'static str,
        op: UvOp,
        issue: Issue,
        frozen: Option<PageId>,
    ) -> UvRc {
        self.ctx
            .call(name, async move {
                let mut a = acc(&[
                    Access::write(self.objs.page(p, PP::Uv)),
                    Access::read(self.objs.page(p, PP::Arch1)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                if self.scripted(call) {
                    a.push(Access::write(self.objs.uv_env(call)));
                }
                let mut spins = 0u32;
                loop {
                    let (rc, park) = self
                        .ctx
                        .step(Op::new(name, a), move |e| {
                            live(e, p, name);
                            match uv_answer(e, call) {
                                Answer::Busy { cc, period } => {
                                    let park = spin_check(e, call, spins + 1, frozen, issue);
                                    e.note(|| busy_note(call, cc, period, Some(issue)));
                                    (UvRc::Busy, park)
                                }
                                Answer::Error { rc, rrc } => {
                                    e.note(|| {
                                        format!(
                                            "UVC {} P{p}: cc 1 rc {rc:#x} rrc {rrc:#x}",
                                            call.name()
                                        )
                                    });
                                    (UvRc::Error { rc, rrc }, false)
                                }
                                Answer::Proceed => {
                                    let was = e.world.uv[p].state;
                                    let rc = op(e.world, p);
                                    let now = e.world.uv[p].state;
                                    e.note(|| {
                                        format!(
                                            "UVC {} P{p}: {was:?} -> {now:?}: {rc:?}",
                                            call.name()
                                        )
                                    });
                                    (rc, false)
                                }
                            }
                        })
                        .await;
                    if rc != UvRc::Busy {
                        return rc;
                    }
                    spins += 1;
                    if park {
                        self.uv_wait_period_end(call).await;
                    }
                }
            })
            .await
    }

    /// Whether a firmware op of the scenario scripts `call` (then its UVC steps declare the
    /// environment's object; otherwise nothing ever changes it).
    pub(crate) fn scripted(&self, call: UvCall) -> bool {
        self.ctx.with_const(|w| w.uv_scripted & call.bit() != 0)
    }

    /// A `uv_call` loop that would only repeat busy answers waits for the busy period of
    /// `call` to end (weak fairness: the firmware's thread ends it; a period that never ends
    /// leaves the caller waiting for ever, a `livelock`).
    pub async fn uv_wait_period_end(&self, call: UvCall) {
        fn not_busy(w: &World, call: u64) -> bool {
            !w.uv_env.in_period(UvCall::ALL[call as usize])
        }
        let a = acc(&[Access::read(self.objs.uv_env(call))]);
        self.ctx
            .step(
                Op::new("uv_call: busy until the period ends", a).retry_when(not_busy, call as u64),
                |_| (),
            )
            .await
    }

    /// `uv_pin_shared` (arch/s390/kernel/uv.c): UVC Pin-Page-Shared through `uv_call`;
    /// cc ≠ 0 → `-EINVAL` (the caller only tests for 0).
    pub async fn uv_pin_shared(&self, p: PageId) -> UvRc {
        fn op(w: &mut World, p: PageId) -> UvRc {
            uv::pin_shared(&mut w.uv[p])
        }
        self.uv_call_page(UvCall::PinShared, p, "uv_pin_shared", op, Issue::Spin, None)
            .await
    }

    /// `uv_convert_from_secure` (export): UVC Convert-From-Secure through `uv_call`; the UV
    /// encrypts the page. Does not touch PG_arch_1 (v5.7); the `_owned_` variant clears it
    /// (v5.16+).
    pub async fn uv_convert_from_secure(&self, p: PageId) -> UvRc {
        fn op(w: &mut World, p: PageId) -> UvRc {
            let World {
                keys, uv, pages, ..
            } = w;
            uv::export(keys, &mut uv[p], &mut pages[p].data)
        }
        self.uv_call_page(
            UvCall::Export,
            p,
            "uv_convert_from_secure",
            op,
            Issue::Spin,
            None,
        )
        .await
    }

    /// `uv_destroy_page` (arch/s390/kernel/uv.c, 1a80b54d1ce1; `uv_destroy` in 6.12.118):
    /// UVC Destroy-Secure-Storage through `uv_call`; rc 0x107 with rrc 0xd ("older firmware
    /// uses 107/d as an indication of a non secure page") is success, any other failure
    /// `-EINVAL`.
    pub async fn uv_destroy_page(&self, p: PageId) -> i32 {
        fn op(w: &mut World, p: PageId) -> UvRc {
            let World { uv, pages, .. } = w;
            uv::destroy(&mut uv[p], &mut pages[p].data)
        }
        let rc = self
            .uv_call_page(UvCall::Destroy, p, "uv_destroy_page", op, Issue::Spin, None)
            .await;
        match rc {
            UvRc::Ok
            | UvRc::Error {
                rc: 0x107,
                rrc: 0xd,
            } => 0,
            _ => EINVAL,
        }
    }

    /// `uv_destroy_owned_page` (v5.16, 380d97bd02fc; `uv_destroy_folio` in 6.12.118):
    /// `get_page`, destroy, PG_arch_1 cleared on success, `put_page`.
    pub async fn uv_destroy_owned_page(&self, p: PageId) -> i32 {
        self.ctx
            .call("uv_destroy_owned_page", async move {
                let _f = self.ctx.enter("uv_destroy_owned_page");
                self.get_page(p).await;
                let rc = self.uv_destroy_page(p).await;
                if rc == 0 {
                    self.set_arch1(p, false).await;
                }
                self.put_page(p).await;
                rc
            })
            .await
    }

    /// A firmware thread's `uv-busy`: the calls `calls` answer busy (cc 3 with `partial`) —
    /// the next `count` of them, or without a count for a busy period that ends at the
    /// thread's next step (never with `forever`).
    pub async fn uv_busy(&self, calls: u32, count: Option<u32>, partial: bool, forever: bool) {
        let a: Accesses = UvCall::in_set(calls)
            .map(|c| Access::write(self.objs.uv_env(c)))
            .collect();
        let cc = if partial { 3 } else { 2 };
        match count {
            Some(n) => {
                self.ctx
                    .step(Op::new("ultravisor busy", a), move |e| {
                        for c in UvCall::in_set(calls) {
                            e.world.uv_env.busy[c as usize] += n;
                        }
                        if partial {
                            e.world.uv_env.partial |= calls;
                        }
                        e.note(|| format!("the UV answers the next {n} call(s) with cc {cc}"));
                    })
                    .await
            }
            None => {
                self.ctx
                    .step(Op::new("ultravisor busy period begins", a), move |e| {
                        e.world.uv_env.period |= calls;
                        if partial {
                            e.world.uv_env.partial |= calls;
                        }
                        e.note(|| format!("the UV answers cc {cc} until the period ends"));
                    })
                    .await;
                if forever {
                    return;
                }
                self.ctx
                    .step(Op::new("ultravisor busy period ends", a), move |e| {
                        e.world.uv_env.period &= !calls;
                        e.world.uv_env.partial &= !calls;
                        e.note(|| "the UV is no longer busy".into());
                    })
                    .await
            }
        }
    }

    /// A firmware thread's `uv-fail`: the next `count` calls of each of `calls` answer
    /// condition code 1 with `rc`/`rrc`.
    pub async fn uv_fail(&self, calls: u32, rc: u16, rrc: u16, count: u32) {
        let a: Accesses = UvCall::in_set(calls)
            .map(|c| Access::write(self.objs.uv_env(c)))
            .collect();
        self.ctx
            .step(Op::new("ultravisor fails", a), move |e| {
                for c in UvCall::in_set(calls) {
                    e.world.uv_env.fail[c as usize] = Some(Failure { count, rc, rrc });
                }
                e.note(|| {
                    format!(
                        "the UV answers the next {count} call(s) with cc 1 rc {rc:#x} rrc {rrc:#x}"
                    )
                });
            })
            .await
    }
}
