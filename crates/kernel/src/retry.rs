//! Retry loops: their bounds, how a loop that saw no progress waits (weak fairness), and
//! how a loop that went round its bound is reported. Every model loop that retries reads
//! these (`find_get_entry`, the guest's re-fault loop, `kvm_s390_pv_unpack`, the 0x3d
//! handler's re-executions, `__get_user_pages`).

use crate::vocab::properties::{self as prop, report_fatal};
use crate::Cx;
use explore::{Access, Accesses, Op};

/// How many times a retry loop may go round (each round having seen a change) before it is
/// reported as a possible livelock (`retry-bound`); `__get_user_pages`' fault-and-retry
/// loop gives up with -EFAULT after as many rounds.
pub const MAX_RETRIES: usize = 8;

/// Re-executions of a host instruction that keeps hitting 0x3d (the handler exported the page
/// and the guest imported it again before the retry): past this the ping-pong is reported as
/// a possible livelock (`retry-bound`).
pub const MAX_FAULT_RETRIES: usize = 3;

impl Cx {
    /// A retry loop that saw no progress waits for a change of what it read (weak fairness).
    pub async fn park(&self, objs: &[explore::ObjId]) {
        let a: Accesses = objs.iter().map(|&o| Access::read(o)).collect();
        self.ctx.step(Op::new("retry", a).parked(), |_| ()).await
    }

    /// A retry loop went round its bound of times, each after a change: reported as a
    /// possible livelock. The loop would go on; the execution ends here.
    pub async fn retry_bound(&self, site: &'static str) {
        self.ctx
            .step(Op::new("retry-bound", Accesses::new()), move |e| {
                report_fatal(
                    e,
                    prop::RETRY_BOUND,
                    format!(
                        "{site}: retried its bound of times without success (possible livelock)"
                    ),
                );
            })
            .await
    }
}
