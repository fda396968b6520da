//! The properties the model checks, each declared once ([`properties!`]): its id (the name
//! in findings, traces and `expect` tables), the abbreviation the matrix shows, its meaning
//! (one sentence, used by the reports), its severity and where it is checked.
//!
//! Model code reports a property only through its handle ([`Prop`], e.g. [`UAF`]) and
//! [`report`] / [`report_fatal`] / [`finding`]: a property that is not declared here cannot
//! be reported (there is no handle to name), and its severity is the declared one. (A test
//! in this module reads the kernel crate's sources to check that nothing reports around
//! these helpers.)

use crate::prim::Env;
use explore::{Finding, Severity};

/// A declared property (an index into [`PROPERTIES`]; only this module makes them).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Prop(u8);

/// One property's declaration.
#[derive(Copy, Clone, Debug)]
pub struct PropertySpec {
    /// As findings, traces and scenario `expect` tables name it.
    pub id: &'static str,
    /// The matrix's abbreviation.
    pub abbrev: &'static str,
    /// What must hold, in one sentence (the reports quote it).
    pub meaning: &'static str,
    /// Violation, or an observation that is reported but is no violation (its meaning then
    /// says what happened rather than what must hold).
    pub severity: Severity,
    /// Where it is checked: the model function (file) or the explorer.
    pub checked: &'static str,
}

impl Prop {
    /// The declaration.
    pub fn spec(self) -> &'static PropertySpec {
        &PROPERTIES[self.0 as usize]
    }
    /// The id.
    pub fn id(self) -> &'static str {
        self.spec().id
    }
}

macro_rules! properties {
    ( $(
        $(#[doc = $doc:literal])*
        $handle:ident = $id:expr, $abbrev:literal, $sev:ident, $meaning:literal, $checked:literal;
    )+ ) => {
        properties!(@handles 0u8; $( $(#[doc = $doc])* $handle, )+);

        /// Every property, in declaration order.
        pub const PROPERTIES: &[PropertySpec] = &[$(PropertySpec {
            id: $id,
            abbrev: $abbrev,
            meaning: $meaning,
            severity: Severity::$sev,
            checked: $checked,
        },)+];
    };
    (@handles $n:expr; $(#[doc = $doc:literal])* $handle:ident, $($rest:tt)*) => {
        $(#[doc = $doc])*
        pub const $handle: Prop = Prop($n);
        properties!(@handles $n + 1u8; $($rest)*);
    };
    (@handles $n:expr;) => {};
}

properties! {
    /// A device touches a secure page.
    IO_SECURE = "io-on-secure-page", "io", Violation,
        "a device must never touch a secure page",
        "prim.rs: dma (every device read or write of a page)";
    USE_AFTER_FREE = "use-after-free", "uaf", Violation,
        "nothing may touch a freed page",
        "prim.rs: live (every step on a page), put_refs (a reference from an earlier life of the frame), free_page (freed while mapped or cached)";
    WARN = "warn", "warn", Violation,
        "no WARN_ON_ONCE may be reached",
        "prim.rs: warn (try_get_page, try_grab_page on a count <= 0); zap.rs (a failed export at PTE clear, v7.0); teardown.rs (s390_reset_acc's failed export or destroy, a failed configuration destroy)";
    BUG = "bug", "bug", Violation,
        "no BUG or VM_BUG_ON may be reached",
        "prim.rs: put_refs (VM_BUG_ON_PAGE, debug_vm), import.rs: page_ref_unfreeze (debug_vm), writeback.rs: __test_set_page_writeback (debug_vm), fault.rs: do_secure_storage_access (BUG)";
    REFERENCE_BALANCE = "reference-balance", "ref", Violation,
        "at the end every refcount equals what mappings, cache slots and holders account for",
        "lib.rs: KernelModel::at_end";
    LOCK_OUT = "lock-out", "lockout", Violation,
        "an import must not complete while an I/O marker is held",
        "import.rs: uv_import (the import UVC reads the holders and PG_writeback)";
    ARCH1 = "arch1-hint", "arch1", Violation,
        "a secure page keeps PG_arch_1",
        "prim.rs: check_arch1 (clearing PG_arch_1, a successful import)";
    HOOK_PRECONDITION = "hook-precondition", "hookpre", Violation,
        "the hook needs the page lock or a reference",
        "hook.rs: arch_make_page_accessible";
    DEADLOCK = explore::DEADLOCK, "deadlock", Violation,
        "no thread may wait forever",
        "the explorer: every unfinished thread blocked";
    LIVELOCK = explore::LIVELOCK, "livelock", Violation,
        "a retry loop must be able to make progress",
        "the explorer: every unfinished thread parked in a retry nothing can change, or a retry loop's weakly fair cycle (the lasso check, retry.rs: Retry::head)";
    GUEST_KILLED = "guest-killed", "killed", Violation,
        "the VMM must not get SIGSEGV",
        "fault.rs: sigsegv (guest.rs: -EINVAL from the import, gmap_fault failing; the 0x3d user handler)";
    CONFIDENTIALITY = "confidentiality", "conf", Violation,
        "the host must never read a guest page's plaintext",
        "prim.rs: check_host_read (device reads, CPU loads)";
    GUEST_INTEGRITY = "guest-integrity", "integrity", Violation,
        "the guest must read back what it wrote (in a frame it shared with the host: what was last written there, by it or by the host)",
        "guest.rs: guest_touch (a guest load); prim.rs: host_store (a host write to a frame the guest shared sets what the guest expects)";
    /// The import's precondition at its UV call.
    IMPORT_PRECONDITION = "import-precondition", "importpre", Violation,
        "at the import's UV call a host PTE the UV can follow (present and valid) maps the page the import looked up and froze, in the same allocation (not its frame reused) (a PTE gone or invalid is answered rc 0x10a: -ENXIO, faulted in and retried)",
        "import.rs: uv_import (reads the importer's PTE in the UVC's step)";
    /// The unpack or a guest access reported a page in place that is not.
    IMPORT_COMPLETENESS = "import-completeness", "complete", Violation,
        "every frame the unpack reported done or the guest touched ends secure with the content the guest expects, or exported so that its next import gives it",
        "lib.rs: KernelModel::at_end (guest.rs records each frame's expectation: unpack's success, a completed guest access)";
    /// A busy-wait held a spinlock or a frozen refcount past the bound: the soft-lockup class.
    BOUNDED_WAITING = "bounded-waiting", "wait", Violation,
        "no thread may busy-wait past the bound while it holds a spinlock or a frozen refcount",
        "hook.rs: spin_check (every uv_call loop: the import's UVC in v5.7–v5.15, the hook's pin-shared and export, the PTE-clear export, s390_reset_acc)";
    /// An observation: the page was freed while still secure.
    SECURE_PAGE_FREED = "secure-page-freed", "secfree", Observation,
        "a page was freed while the Ultravisor still held it secure: the host cannot use it, its next user faults on it",
        "lib.rs: KernelModel::at_end";
    /// The GUP contract, checked when a GUP call returns.
    GUP_CONTRACT = "gup-contract", "gup", Violation,
        "a GUP returns an honest count, pages[i] is the page at start + i, each returned page holds this call's marker, and FOLL_PIN pages are accessible",
        "gup.rs: gup_contract (the return of every get_user_pages* / pin_user_pages* call)";
    /// An observation: GUP failed on a frozen count.
    GUP_ENOMEM = "gup-enomem", "gup-enomem", Observation,
        "a GUP returned -ENOMEM: its grab met a frozen count",
        "gup.rs: get_user_pages";
    /// An observation: GUP refused the pin (a long-term pin for write of a file mapping).
    GUP_REFUSED = "gup-refused", "gup-refused", Observation,
        "the kernel refused a GUP (check_vma_flags: -EFAULT) or its caller refused the pinned pages (io_uring: -EOPNOTSUPP, -EINVAL)",
        "gup.rs: __get_user_pages (FOLL_LONGTERM | FOLL_WRITE, longterm_file_write_denied), gup_callers.rs: io_pin_pages";
    /// An observation: the 2026-03 fix-up failed a kernel copy.
    COPY_FAULT = "copy-fault", "copy-fault", Observation,
        "the 0x3d handler's exception fix-up failed a kernel copy",
        "fault.rs: kernel_access (kernel_fault = export-always), gup_callers.rs: kvm_copy (page faults disabled)";
}

/// The property with id `id`.
pub fn by_id(id: &str) -> Option<&'static PropertySpec> {
    PROPERTIES.iter().find(|p| p.id == id)
}

/// Reports `p` at the current step, with its declared severity.
pub fn report(e: &mut Env, p: Prop, message: String) {
    let s = p.spec();
    e.report(s.id, s.severity, message);
}

/// Reports the violation `p` and ends the execution (the thread cannot go on).
pub fn report_fatal(e: &mut Env, p: Prop, message: String) {
    let s = p.spec();
    debug_assert_eq!(s.severity, Severity::Violation, "{}", s.id);
    e.report_fatal(s.id, message);
}

/// A finding of `p` outside a step (the end-of-execution checks).
pub fn finding(p: Prop, message: String) -> Finding {
    let s = p.spec();
    Finding {
        property: s.id,
        severity: s.severity,
        message,
        fatal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn ids_and_abbreviations_are_unique() {
        let mut ids = std::collections::HashSet::new();
        let mut abbrevs = std::collections::HashSet::new();
        for p in PROPERTIES {
            assert!(ids.insert(p.id), "{} declared twice", p.id);
            assert!(abbrevs.insert(p.abbrev), "abbreviation {} twice", p.abbrev);
            assert!(!p.meaning.is_empty() && !p.checked.is_empty(), "{}", p.id);
        }
        assert_eq!(by_id("lock-out").map(|p| p.abbrev), Some("lockout"));
        assert_eq!(GUP_ENOMEM.spec().severity, Severity::Observation);
    }

    /// Model code reports only through the handles: no `.report(`, `.report_fatal(`,
    /// `Finding {` or a severity written by hand outside the vocabulary.
    #[test]
    fn nothing_reports_around_the_declared_properties() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.clone()];
        let mut checked = 0;
        while let Some(p) = files.pop() {
            if p.is_dir() {
                for e in std::fs::read_dir(&p).expect("readable") {
                    files.push(e.expect("entry").path());
                }
                continue;
            }
            // The vocabulary itself (this module, and docs.rs listing severities) is exempt.
            if p.extension().is_none_or(|x| x != "rs")
                || p.parent().is_some_and(|d| d.ends_with("vocab"))
            {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("readable");
            for (i, line) in text.lines().enumerate() {
                for needle in [".report(", ".report_fatal(", "Finding {", "Severity::"] {
                    assert!(
                        !line.contains(needle),
                        "{}:{}: `{needle}` outside the vocabulary: \
                         report through a declared property (vocab::properties::report)",
                        p.display(),
                        i + 1
                    );
                }
            }
            checked += 1;
        }
        assert!(checked > 10, "read {checked} files");
    }
}
