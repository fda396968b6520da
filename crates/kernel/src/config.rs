//! Kernel versions as named sets of switches: every version difference the model knows is a
//! field of [`Kernel`], set in one place ([`preset`]), never an `if version > …` in model code.
//!
//! Sources: `shared/docs/kernel-protocol.md` and `docs/kernel-notes.md` (what was read in
//! which tree). Where a switch rests on an unconfirmed fact, its doc says so.

use std::fmt;

/// How GUP's slow path takes its reference (`mm/gup.c: try_grab_page`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SlowGrab {
    /// v5.7–v5.14 and again from the revert c36c04c2e132 (v5.17) through 6.12: read the
    /// count, `WARN_ON_ONCE` and fail if it is ≤ 0, then add in a *separate* atomic step.
    CheckThenAdd,
    /// v5.15–v5.16 (54d516b1d62f): `try_grab_compound_head` → `page_ref_add_unless(…, 0)`,
    /// one atomic, silent failure on a frozen count.
    AddUnlessZero,
}

/// How GUP's fast path pins (`mm/gup.c: try_grab_compound_head` / `try_grab_folio`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FastPinGrab {
    /// v5.7: one add-unless-zero of `GUP_PIN_COUNTING_BIAS`.
    OneAddUnlessZero,
    /// v5.15 on: add-unless-zero of 1, then a plain add of the rest of the bias.
    AddUnlessZeroThenAdd,
}

/// The shape of the import driver (`arch/s390/kernel/uv.c: gmap_make_secure`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImportFlow {
    /// v5.7–v6.3 (214d9bbcd3a6): `follow_page(FOLL_WRITE)` without a reference, `lock_page`,
    /// then `get_locked_pte`, `make_secure_pte`; `-EAGAIN` waits on writeback without a
    /// reference.
    FollowPageLockPage,
}

/// What the host kernel's 0x3d handler does in kernel mode (`arch/s390/mm/fault.c:
/// do_secure_storage_access`, KERNEL_FAULT branch).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KernelFault {
    /// v5.7–6.12 (until the 2024 folio conversion): `try_get_page` (WARN on a frozen count),
    /// the hook, `put_page`; hook failure → `BUG()`.
    TryGetPage,
}

/// Every switch of one kernel version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub name: String,
    /// `mm/gup.c: follow_page_pte` takes its reference with this.
    pub slow_grab: SlowGrab,
    pub fast_pin_grab: FastPinGrab,
    /// `follow_page_pte` and `gup_pte_range` call the hook for FOLL_PIN (f28d43636d6f, v5.7
    /// on). Turning it off is a seeded defect.
    pub hook_on_foll_pin: bool,
    /// The proposed, never merged hook in `fs/splice.c: page_cache_pipe_buf_confirm`
    /// ("fs/splice: add missing callback for inaccessible pages", v2, 2020-04-30).
    pub splice_confirm_hook: bool,
    pub import_flow: ImportFlow,
    /// `gmap_make_secure` holds the KVM mm's PTE lock across freeze and UVC. Turning it off
    /// is a seeded defect.
    pub import_holds_ptl: bool,
    /// `make_secure_pte` freezes the refcount at its expected value. Turning it off is a
    /// seeded defect.
    pub import_freezes: bool,
    /// From v5.16 (f0a1a0615a6f) the import issues one `__uv_call`; busy or partial →
    /// `-EAGAIN`. Before, `uv_call` loops while the UV is busy.
    pub import_single_uv_call: bool,
    /// v6.0 (72b1daff2671): export before import when the mm runs more than one protected
    /// VM (`should_export_before_import`).
    pub export_before_import: bool,
    pub kernel_fault: KernelFault,
    /// From v5.16 (380d97bd02fc) the PTE-clear helpers use `uv_convert_owned_from_secure`,
    /// which clears PG_arch_1 after a successful export; v5.7 keeps the bit.
    pub pte_clear_export_clears_arch1: bool,
    /// `end_page_writeback` takes a temporary reference around the clear and wake-up
    /// (Hugh Dickins' fix, "Cc: stable # v5.8+"); v5.7 takes none.
    pub end_writeback_takes_ref: bool,
    /// CONFIG_DEBUG_VM: `VM_BUG_ON*` are live (e.g. `page_ref_unfreeze` on a non-zero count,
    /// the writeback hook's failure). Off in distribution kernels.
    pub debug_vm: bool,
}

/// The switches that can be set from a scenario or the command line.
pub const SWITCHES: &[(&str, &str)] = &[
    ("slow_grab", "check-then-add | add-unless-zero"),
    (
        "fast_pin_grab",
        "one-add-unless-zero | add-unless-zero-then-add",
    ),
    ("hook_on_foll_pin", "bool"),
    ("splice_confirm_hook", "bool"),
    ("import_holds_ptl", "bool"),
    ("import_freezes", "bool"),
    ("import_single_uv_call", "bool"),
    ("export_before_import", "bool"),
    ("pte_clear_export_clears_arch1", "bool"),
    ("end_writeback_takes_ref", "bool"),
    ("debug_vm", "bool"),
];

/// The named presets, oldest first.
pub const PRESETS: &[(&str, &str)] = &[
    ("v5.7", "f28d43636d6f hooks, 214d9bbcd3a6 import; try_get_page WARNs, two-step grab"),
    (
        "v5.7+splice-patch",
        "v5.7 with the proposed hook in page_cache_pipe_buf_confirm (never merged)",
    ),
    (
        "v5.15",
        "54d516b1d62f: slow-path grab is one add-unless-zero, silent on a frozen count",
    ),
    (
        "v6.1",
        "mainline v6.1: grab WARNs again (revert c36c04c2e132), single __uv_call, export before import",
    ),
];

/// Looks up a preset by name.
pub fn preset(name: &str) -> Option<Kernel> {
    let v57 = Kernel {
        name: name.to_string(),
        slow_grab: SlowGrab::CheckThenAdd,
        fast_pin_grab: FastPinGrab::OneAddUnlessZero,
        hook_on_foll_pin: true,
        splice_confirm_hook: false,
        import_flow: ImportFlow::FollowPageLockPage,
        import_holds_ptl: true,
        import_freezes: true,
        import_single_uv_call: false,
        export_before_import: false,
        kernel_fault: KernelFault::TryGetPage,
        pte_clear_export_clears_arch1: false,
        end_writeback_takes_ref: false,
        debug_vm: false,
    };
    Some(match name {
        "v5.7" => v57,
        "v5.7+splice-patch" => Kernel {
            splice_confirm_hook: true,
            ..v57
        },
        "v5.15" => Kernel {
            slow_grab: SlowGrab::AddUnlessZero,
            fast_pin_grab: FastPinGrab::AddUnlessZeroThenAdd,
            end_writeback_takes_ref: true,
            ..v57
        },
        "v6.1" => Kernel {
            slow_grab: SlowGrab::CheckThenAdd,
            fast_pin_grab: FastPinGrab::AddUnlessZeroThenAdd,
            import_single_uv_call: true,
            export_before_import: true,
            pte_clear_export_clears_arch1: true,
            end_writeback_takes_ref: true,
            ..v57
        },
        _ => return None,
    })
}

/// An error setting a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchError {
    Unknown(String),
    BadValue {
        switch: String,
        value: String,
        expected: &'static str,
    },
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::Unknown(s) => write!(
                f,
                "unknown switch `{s}` (known: {})",
                SWITCHES.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
            ),
            SwitchError::BadValue {
                switch,
                value,
                expected,
            } => write!(f, "switch `{switch}` takes {expected}, not `{value}`"),
        }
    }
}

impl Kernel {
    /// Sets one switch from its textual value.
    pub fn set(&mut self, switch: &str, value: &str) -> Result<(), SwitchError> {
        let expected = SWITCHES
            .iter()
            .find(|s| s.0 == switch)
            .map(|s| s.1)
            .ok_or_else(|| SwitchError::Unknown(switch.to_string()))?;
        let bad = || SwitchError::BadValue {
            switch: switch.to_string(),
            value: value.to_string(),
            expected,
        };
        let b = || match value {
            "true" | "on" | "1" => Ok(true),
            "false" | "off" | "0" => Ok(false),
            _ => Err(bad()),
        };
        match switch {
            "slow_grab" => {
                self.slow_grab = match value {
                    "check-then-add" => SlowGrab::CheckThenAdd,
                    "add-unless-zero" => SlowGrab::AddUnlessZero,
                    _ => return Err(bad()),
                }
            }
            "fast_pin_grab" => {
                self.fast_pin_grab = match value {
                    "one-add-unless-zero" => FastPinGrab::OneAddUnlessZero,
                    "add-unless-zero-then-add" => FastPinGrab::AddUnlessZeroThenAdd,
                    _ => return Err(bad()),
                }
            }
            "hook_on_foll_pin" => self.hook_on_foll_pin = b()?,
            "splice_confirm_hook" => self.splice_confirm_hook = b()?,
            "import_holds_ptl" => self.import_holds_ptl = b()?,
            "import_freezes" => self.import_freezes = b()?,
            "import_single_uv_call" => self.import_single_uv_call = b()?,
            "export_before_import" => self.export_before_import = b()?,
            "pte_clear_export_clears_arch1" => self.pte_clear_export_clears_arch1 = b()?,
            "end_writeback_takes_ref" => self.end_writeback_takes_ref = b()?,
            "debug_vm" => self.debug_vm = b()?,
            _ => return Err(SwitchError::Unknown(switch.to_string())),
        }
        Ok(())
    }

    /// The switches that differ from `base`, as `name=value` (for reports).
    pub fn describe(&self) -> String {
        format!(
            "slow_grab={:?} fast_pin_grab={:?} hook_on_foll_pin={} splice_confirm_hook={} import_holds_ptl={} import_freezes={} import_single_uv_call={} export_before_import={} pte_clear_export_clears_arch1={} end_writeback_takes_ref={} debug_vm={}",
            self.slow_grab,
            self.fast_pin_grab,
            self.hook_on_foll_pin,
            self.splice_confirm_hook,
            self.import_holds_ptl,
            self.import_freezes,
            self.import_single_uv_call,
            self.export_before_import,
            self.pte_clear_export_clears_arch1,
            self.end_writeback_takes_ref,
            self.debug_vm
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_and_switches_parse() {
        for (p, _) in PRESETS {
            assert!(preset(p).is_some(), "{p}");
        }
        assert!(preset("v9.9").is_none());
        let mut k = preset("v5.7").unwrap();
        k.set("splice_confirm_hook", "true").unwrap();
        assert!(k.splice_confirm_hook);
        assert!(matches!(k.set("nope", "1"), Err(SwitchError::Unknown(_))));
        assert!(matches!(
            k.set("debug_vm", "maybe"),
            Err(SwitchError::BadValue { .. })
        ));
    }
}
