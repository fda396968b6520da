//! Retry loops: how a loop that saw no progress waits (weak fairness), and how the checker
//! tells a loop that can go round for ever from one that only went round many times.
//!
//! The kernel's retry loops have no bound (`find_get_entry`'s `goto repeat`, the guest's
//! re-fault loop — SIE is re-entered after each fault —, `kvm_s390_pv_unpack`'s -EAGAIN
//! loop, the 0x3d handler's re-executions of the faulting instruction, `__get_user_pages`'
//! `retry:` after `handle_mm_fault`, `filemap_fault`'s `retry_find`, truncate's
//! `find_lock_entries` / `__filemap_get_folio` rounds): each goes round until it succeeds.
//! A model loop enters the runtime's loop frame ([`explore::Ctx::loop_enter`]) and calls
//! [`Retry::head`] at the start of each round with a hash of what the loop carries from
//! round to round. A loop that can go round for ever is then a cycle the explorer's lasso
//! check closes (`livelock`, when the cycle is weakly fair: see `explore::search` "lasso");
//! a loop that went round [`World::retry_bound`] times (`--max-retries`) without the check
//! seeing a state repeat cuts the execution ([`explore::RETRY_CUT`]: the check's result is
//! *incomplete*, never a violation and never verified).
//!
//! [`World::retry_bound`]: crate::world::World::retry_bound

use crate::world::World;
use crate::Cx;
use explore::{Access, Accesses, Op};

impl Cx {
    /// A retry loop that saw no progress waits for a change of what it read (weak fairness).
    pub async fn park(&self, objs: &[explore::ObjId]) {
        let a: Accesses = objs.iter().map(|&o| Access::read(o)).collect();
        self.ctx.step(Op::new("retry", a).parked(), |_| ()).await
    }

    /// Enters the retry loop of kernel function `site` (see the module documentation); the
    /// loop is left when the returned value is dropped.
    pub fn retry_loop(&self, site: &'static str) -> Retry<'_> {
        Retry {
            lp: self.ctx.loop_enter(site),
            cx: self,
            site,
            bound: self.ctx.with_const(|w: &World| w.retry_bound),
        }
    }
}

/// A retry loop a model thread is in ([`Cx::retry_loop`]).
pub struct Retry<'a> {
    lp: explore::Loop<'a, World>,
    cx: &'a Cx,
    site: &'static str,
    bound: u32,
}

impl Retry<'_> {
    /// The head of a round. `carried`: a hash of what the loop carries from one round to the
    /// next besides its round count (partial progress, a position; 0 when it carries
    /// nothing): two rounds that start with the same `carried` in the same state go on alike.
    /// False when the loop went round its bound of times: the execution is cut at a step
    /// `retry-cut` (an observation that ends it), and the caller returns.
    pub async fn head(&self, carried: u64) -> bool {
        let round = self.lp.head(carried);
        if round < self.bound {
            return true;
        }
        let site = self.site;
        self.cx
            .ctx
            .step(Op::new("retry-cut", Accesses::new()), move |e| {
                e.cut_retry(site, round)
            })
            .await;
        false
    }
}

/// The lasso check's view of the world ([`explore::Model::lasso_world`]): the world's `Hash`
/// with each intact exported page written as what the guest gets back from it — its
/// plaintext, the seal's guest and frame, no nonce or tag — and no export counts.
///
/// The abstraction, and why it only merges states with the same future: an export
/// encrypts under a fresh nonce (`uv::export`: the frame's export count), so the
/// ciphertext, the tag and the count grow with every round of a ping-pong of export and
/// import, and no state would ever repeat. What the model's future reads of them is only
/// whether the import's check passes and the plaintext it yields (`uv::import`), and that a
/// host read of the page sees ciphertext, not the plaintext (`confidentiality` compares the
/// bytes read with the guest's plaintext, which a ciphertext matches with probability
/// 2⁻²⁵⁶). Two worlds that differ only in the nonces of intact seals therefore go on alike,
/// up to the nonces. A seal whose page no longer decrypts (the host wrote to it) is hashed
/// as it is, nonce and all: such states are not merged (a missed cycle can only cut an
/// execution, never verify one).
pub fn lasso_world_hash<H: std::hash::Hasher>(w: &World, h: &mut H) {
    use std::hash::Hash;
    let mut v = w.clone();
    for (p, f) in v.uv.iter_mut().enumerate() {
        f.exports = 0;
        let Some(s) = f.sealed.filter(|s| !s.image) else {
            continue;
        };
        if f.state != crate::uv::UvState::NonSecure {
            continue;
        }
        let (mut frame, mut data) = (*f, v.pages[p].data);
        if crate::uv::import(&w.keys, &mut frame, &mut data, s.guest, s.gfn, true)
            == crate::uv::UvRc::Ok
        {
            v.pages[p].data = data;
            f.sealed = Some(crate::uv::Sealed {
                nonce: 0,
                tag: [0; 16],
                ..s
            });
        }
    }
    v.hash(h);
}
