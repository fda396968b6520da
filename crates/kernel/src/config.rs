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

/// The shape of the import driver (`gmap_make_secure` and its successors).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImportFlow {
    /// v5.7–v6.3 (214d9bbcd3a6, arch/s390/kernel/uv.c): `follow_page(FOLL_WRITE)` without a
    /// reference, `lock_page`, then `get_locked_pte`, `make_secure_pte`; `-EAGAIN` waits on
    /// writeback without a reference.
    FollowPageLockPage,
    /// v6.4–v6.13 (c148dc8e2fa4 "KVM: s390: fix race in gmap_make_secure()"): PTE lock first,
    /// present + valid + `pte_write` under it, `folio_trylock` (fail → `-EAGAIN`),
    /// `make_folio_secure`. `ref_on_eagain`: v6.11's 3f29f6537f54 takes `folio_get` under the
    /// PTE lock before waiting on writeback; before it the wait has no reference.
    PteLockTrylock { ref_on_eagain: bool },
    /// v6.14 (5cbe24350b7d "KVM: s390: move pv gmap functions into kvm"): `gfn_to_page` (a
    /// reference, no PTE lock held), `folio_trylock`, `__make_folio_secure`.
    GfnToPage,
    /// v6.15 (d8dfda5af0be "KVM: s390: pv: fix race when making a page secure"):
    /// `make_hva_secure`: `folio_walk_start` (PTE lock), `folio_get`, `pte_write` check,
    /// trylock, `__make_folio_secure`, `folio_walk_end`; `-EBUSY` → `s390_wiggle_split_folio`.
    MakeHvaSecure,
    /// 2026, new gmap (e38c884df921): a guest-fault walk supplies a referenced folio and no
    /// PTE lock is held; the 2026-06 fix (`ptl_trylock`) adds `mmap_read_trylock` and
    /// `try_get_locked_pte` around the folio trylock.
    NewGmap { ptl_trylock: bool },
}

/// What the host kernel's 0x3d handler does in kernel mode (`arch/s390/mm/fault.c:
/// do_secure_storage_access`, KERNEL_FAULT branch).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KernelFault {
    /// v5.7 until the 2024 folio conversion: `try_get_page` (WARN on a frozen count), the
    /// hook, `put_page`; hook failure → `BUG()`.
    TryGetPage,
    /// 2024 folio conversion (v6.12 era): `folio_try_get` (silent on a frozen count), the
    /// hook, `folio_put`; hook failure → `BUG()`.
    FolioTryGet,
    /// 2026-03 ("s390/mm: Add missing secure storage access fixups for donated memory"):
    /// reference, then an unconditional export; failure → the exception fix-up, not BUG.
    ExportAlways,
}

/// How the 0x3d handler finds the page in user mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UserFault {
    /// v5.7–v6.11: `follow_page(vma, addr, FOLL_WRITE | FOLL_GET)` — NULL on a read-only PTE,
    /// after which the handler returns and the access faults again.
    FollowPageWrite,
    /// v6.12 on: `folio_walk_start(…, 0)` under the PTE lock, no write requirement.
    FolioWalk,
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
    pub user_fault: UserFault,
    /// Block direct I/O takes FOLL_PIN references (v6.5: `iov_iter_extract_pages`,
    /// a7e689dd1c06); before, FOLL_GET through `iov_iter_get_pages`.
    pub dio_pins: bool,
    /// The import freezes at `expected_folio_refs + 1`: the importer holds one reference
    /// (v6.14 on).
    pub freeze_plus_one: bool,
    /// Writeback during the import answers `-EBUSY` (v6.14 on, `__make_folio_secure`) rather
    /// than `-EAGAIN`.
    pub writeback_ebusy: bool,
    /// `s390_wiggle_split_folio` drains the LRU on all CPUs (v6.15); the 2026 code no
    /// longer drains.
    pub wiggle_drains: bool,
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
    ("import_flow", "follow-page-lock-page | pte-lock-trylock | pte-lock-trylock-ref | gfn-to-page | make-hva-secure | new-gmap | new-gmap-trylock"),
    ("kernel_fault", "try-get-page | folio-try-get | export-always"),
    ("user_fault", "follow-page-write | folio-walk"),
    ("dio_pins", "bool"),
    ("freeze_plus_one", "bool"),
    ("writeback_ebusy", "bool"),
    ("wiggle_drains", "bool"),
];

/// The named presets, oldest first, with what each one follows.
pub const PRESETS: &[(&str, &str)] = &[
    ("v5.7", "f28d43636d6f hooks, 214d9bbcd3a6 import: follow_page + lock_page (no ref), uv_call loops while busy; try_get_page WARNs, two-step grab"),
    ("v5.7+splice-patch", "v5.7 with the proposed hook in page_cache_pipe_buf_confirm (never merged)"),
    ("v5.15", "54d516b1d62f: the slow-path grab is one add-unless-zero, silent on a frozen count"),
    ("v5.16", "v5.15 + f0a1a0615a6f single __uv_call (busy -> -EAGAIN) + 380d97bd02fc owned export clears PG_arch_1"),
    ("v5.17", "revert c36c04c2e132: the slow-path grab WARNs and adds in two steps again"),
    ("v6.0", "72b1daff2671 export before import with more than one protected VM"),
    ("v6.1", "mainline v6.1: as v6.0 (import still follow_page + lock_page)"),
    ("v6.4", "c148dc8e2fa4: PTE lock first, pte_write, folio_trylock; -EAGAIN waits on writeback without a reference"),
    ("v6.5", "a7e689dd1c06: block direct I/O pins (FOLL_PIN)"),
    ("v6.11", "3f29f6537f54: folio_get under the PTE lock before the writeback wait"),
    ("v6.12", "2024 folio conversion: kernel 0x3d uses folio_try_get; user 0x3d uses folio_walk"),
    ("v6.13", "05066cafa925: 0x3e handling moves into KVM (same logic)"),
    ("v6.14", "5cbe24350b7d: gfn_to_page, no PTE lock; freeze at expected+1; writeback -> -EBUSY"),
    ("v6.15", "d8dfda5af0be: make_hva_secure under folio_walk (PTE lock), wiggle/split"),
    ("2026", "e38c884df921 new gmap: guest-fault walk without the PTE lock; wiggle no longer drains; kernel 0x3d exports always"),
    ("2026-06", "2026-06 fix: mmap_read_trylock + try_get_locked_pte around the folio trylock"),
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
        user_fault: UserFault::FollowPageWrite,
        dio_pins: false,
        freeze_plus_one: false,
        writeback_ebusy: false,
        wiggle_drains: false,
        pte_clear_export_clears_arch1: false,
        end_writeback_takes_ref: false,
        debug_vm: false,
    };
    let v515 = Kernel {
        slow_grab: SlowGrab::AddUnlessZero,
        fast_pin_grab: FastPinGrab::AddUnlessZeroThenAdd,
        end_writeback_takes_ref: true,
        ..v57.clone()
    };
    let v516 = Kernel {
        import_single_uv_call: true,
        pte_clear_export_clears_arch1: true,
        ..v515.clone()
    };
    let v517 = Kernel {
        slow_grab: SlowGrab::CheckThenAdd,
        ..v516.clone()
    };
    let v60 = Kernel {
        export_before_import: true,
        ..v517.clone()
    };
    let v64 = Kernel {
        import_flow: ImportFlow::PteLockTrylock {
            ref_on_eagain: false,
        },
        ..v60.clone()
    };
    let v65 = Kernel {
        dio_pins: true,
        ..v64.clone()
    };
    let v611 = Kernel {
        import_flow: ImportFlow::PteLockTrylock {
            ref_on_eagain: true,
        },
        ..v65.clone()
    };
    let v612 = Kernel {
        kernel_fault: KernelFault::FolioTryGet,
        user_fault: UserFault::FolioWalk,
        ..v611.clone()
    };
    let v614 = Kernel {
        import_flow: ImportFlow::GfnToPage,
        freeze_plus_one: true,
        writeback_ebusy: true,
        ..v612.clone()
    };
    let v615 = Kernel {
        import_flow: ImportFlow::MakeHvaSecure,
        wiggle_drains: true,
        ..v614.clone()
    };
    let y2026 = Kernel {
        import_flow: ImportFlow::NewGmap { ptl_trylock: false },
        wiggle_drains: false,
        kernel_fault: KernelFault::ExportAlways,
        ..v615.clone()
    };
    let mut k = match name {
        "v5.7" => v57,
        "v5.7+splice-patch" => Kernel {
            splice_confirm_hook: true,
            ..v57
        },
        "v5.15" => v515,
        "v5.16" => v516,
        "v5.17" => v517,
        "v6.0" | "v6.1" => v60,
        "v6.4" => v64,
        "v6.5" => v65,
        "v6.11" => v611,
        "v6.12" | "v6.13" => v612,
        "v6.14" => v614,
        "v6.15" => v615,
        "2026" => y2026,
        "2026-06" => Kernel {
            import_flow: ImportFlow::NewGmap { ptl_trylock: true },
            ..y2026
        },
        _ => return None,
    };
    k.name = name.to_string();
    Some(k)
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
            "import_flow" => {
                self.import_flow = match value {
                    "follow-page-lock-page" => ImportFlow::FollowPageLockPage,
                    "pte-lock-trylock" => ImportFlow::PteLockTrylock {
                        ref_on_eagain: false,
                    },
                    "pte-lock-trylock-ref" => ImportFlow::PteLockTrylock {
                        ref_on_eagain: true,
                    },
                    "gfn-to-page" => ImportFlow::GfnToPage,
                    "make-hva-secure" => ImportFlow::MakeHvaSecure,
                    "new-gmap" => ImportFlow::NewGmap { ptl_trylock: false },
                    "new-gmap-trylock" => ImportFlow::NewGmap { ptl_trylock: true },
                    _ => return Err(bad()),
                }
            }
            "kernel_fault" => {
                self.kernel_fault = match value {
                    "try-get-page" => KernelFault::TryGetPage,
                    "folio-try-get" => KernelFault::FolioTryGet,
                    "export-always" => KernelFault::ExportAlways,
                    _ => return Err(bad()),
                }
            }
            "user_fault" => {
                self.user_fault = match value {
                    "follow-page-write" => UserFault::FollowPageWrite,
                    "folio-walk" => UserFault::FolioWalk,
                    _ => return Err(bad()),
                }
            }
            "dio_pins" => self.dio_pins = b()?,
            "freeze_plus_one" => self.freeze_plus_one = b()?,
            "writeback_ebusy" => self.writeback_ebusy = b()?,
            "wiggle_drains" => self.wiggle_drains = b()?,
            _ => return Err(SwitchError::Unknown(switch.to_string())),
        }
        Ok(())
    }

    /// The switches that differ from `base`, as `name=value` (for reports).
    pub fn describe(&self) -> String {
        format!(
            "import_flow={:?} slow_grab={:?} fast_pin_grab={:?} hook_on_foll_pin={} splice_confirm_hook={} import_holds_ptl={} import_freezes={} import_single_uv_call={} export_before_import={} pte_clear_export_clears_arch1={} end_writeback_takes_ref={} debug_vm={} kernel_fault={:?} user_fault={:?} dio_pins={} freeze_plus_one={} writeback_ebusy={} wiggle_drains={}",
            self.import_flow,
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
            self.debug_vm,
            self.kernel_fault,
            self.user_fault,
            self.dio_pins,
            self.freeze_plus_one,
            self.writeback_ebusy,
            self.wiggle_drains
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
