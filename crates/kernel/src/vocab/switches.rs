//! The switches: every version difference the model knows, each declared once
//! ([`switches!`]) with its meaning, its values (each with its own doc; seeded defects
//! marked) and its history — the boundaries at which a commit changed it. The declaration
//! generates the [`Kernel`] struct, the [`SWITCHES`] table, `--set` parsing
//! ([`Kernel::set`]), the textual values ([`Kernel::get`], [`Kernel::values`],
//! [`Kernel::describe`]) and the resolution of a release ([`Kernel::at`]).
//!
//! Sources: `shared/docs/kernel-protocol.md` and `docs/kernel-notes.md` (what was read in
//! which tree); each boundary says how it was established ([`Evidence`]).

use super::release::{resolve, Boundary, Evidence, Release, ReleaseError};
use std::fmt;

/// One value of a switch, as `--set` writes it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ValueSpec {
    pub name: &'static str,
    pub doc: &'static str,
    /// Why this value is a seeded defect (a protection the kernel has, removed to show
    /// that the checker finds its absence), or `None` for a value some kernel has.
    pub defect: Option<&'static str>,
}

impl ValueSpec {
    /// A value some kernel has.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        ValueSpec {
            name,
            doc,
            defect: None,
        }
    }

    /// A seeded defect: no kernel has it.
    pub const fn defect(name: &'static str, doc: &'static str, why: &'static str) -> Self {
        ValueSpec {
            name,
            doc,
            defect: Some(why),
        }
    }
}

/// The type of a switch's value: a plain enum ([`switch_enum!`]) or `bool`. Index `i` is the
/// switch's `values[i]`.
pub trait SwitchValue: Copy + Eq + fmt::Debug + Sync + 'static {
    /// The textual names, by index.
    const NAMES: &'static [&'static str];
    fn index(self) -> usize;
    fn from_index(i: usize) -> Self;
    /// The value `text` names (for `bool` also `on`/`off`/`1`/`0`).
    fn parse(text: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == text)
            .map(Self::from_index)
    }
    /// The textual name.
    fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

impl SwitchValue for bool {
    const NAMES: &'static [&'static str] = &["false", "true"];
    fn index(self) -> usize {
        usize::from(self)
    }
    fn from_index(i: usize) -> Self {
        i != 0
    }
    fn parse(text: &str) -> Option<Self> {
        match text {
            "true" | "on" | "1" => Some(true),
            "false" | "off" | "0" => Some(false),
            _ => None,
        }
    }
}

/// A plain enum whose variants are a switch's values: each variant's doc comment is the
/// value's doc, the string its textual name.
macro_rules! switch_enum {
    (
        $(#[doc = $doc:literal])*
        pub enum $ty:ident {
            $( $(#[doc = $vdoc:literal])* $v:ident = $name:literal, )+
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $ty {
            $( $(#[doc = $vdoc])* $v, )+
        }

        impl $ty {
            /// The values with their docs, by index.
            pub const VALUES: &'static [ValueSpec] =
                &[$(ValueSpec::new($name, concat!($($vdoc, "\n"),*)),)+];
            const ALL: &'static [$ty] = &[$($ty::$v,)+];
        }

        impl SwitchValue for $ty {
            const NAMES: &'static [&'static str] = &[$($name,)+];
            fn index(self) -> usize {
                self as usize
            }
            fn from_index(i: usize) -> Self {
                Self::ALL[i]
            }
        }
    };
}

switch_enum! {
    /// How GUP's slow path takes its reference (`mm/gup.c: try_grab_page`).
    pub enum SlowGrab {
        /// Read the count, `WARN_ON_ONCE` and fail if it is ≤ 0, then add in a *separate*
        /// atomic step (`try_get_page`; 6.1.192 `try_grab_page`, 6.12.118 `try_grab_folio`):
        /// an add can land on a count frozen in between.
        CheckThenAdd = "check-then-add",
        /// `try_grab_compound_head` → `page_ref_add_unless(…, 0)`: one atomic, silent failure
        /// on a frozen count (54d516b1d62f, reverted by c36c04c2e132).
        AddUnlessZero = "add-unless-zero",
    }
}

switch_enum! {
    /// How GUP's fast path pins (`mm/gup.c: try_grab_compound_head` / `try_grab_folio`).
    pub enum FastPinGrab {
        /// One add-unless-zero of `GUP_PIN_COUNTING_BIAS` (v5.7 `try_get_compound_head`).
        OneAddUnlessZero = "one-add-unless-zero",
        /// Add-unless-zero of 1, then a plain add of the rest of the bias (6.1.192
        /// `try_grab_folio`, 6.12.118 `try_grab_folio_fast`).
        AddUnlessZeroThenAdd = "add-unless-zero-then-add",
    }
}

switch_enum! {
    /// What the import does with a page of a large folio (`folio_test_large`), in the
    /// drivers up to v6.13 (from v6.14-rc1 every flow refuses it with `-E2BIG` and splits it
    /// in `s390_wiggle_split_folio`, whatever this says).
    pub enum ImportLarge {
        /// No large-folio test: the freeze works on the page's own `_refcount`
        /// (`make_secure_pte` v5.7, `make_page_secure` v6.4: `page_ref_freeze(page,
        /// expected_page_refs(page))`) — 0 on a tail, the whole folio's count on the head:
        /// `-EBUSY` on every attempt, the drain ladder, `-EAGAIN`, again.
        PageCount = "page-count",
        /// The folio conversion: a large folio → `-EINVAL` under the PTE lock, no reference
        /// (6.1.192 arch/s390/kernel/uv.c: gmap_make_secure).
        Einval = "einval",
        /// eef88fe45ac9: `-E2BIG` with `folio_get` under the PTE lock, then `folio_lock`,
        /// `split_folio`, `folio_unlock`, `folio_put`; 0 → `goto again`, `-EAGAIN` → the
        /// drain ladder, `-EBUSY` → `-EAGAIN`, other → WARN, `-ENXIO` (6.12.118
        /// arch/s390/kernel/uv.c: gmap_make_secure).
        Split = "split",
    }
}

switch_enum! {
    /// The shape of the import driver (`gmap_make_secure` and its successors).
    pub enum ImportFlow {
        /// `arch/s390/kernel/uv.c: gmap_make_secure` (214d9bbcd3a6): `follow_page(FOLL_WRITE)`
        /// without a reference, `lock_page`, then `get_locked_pte`, `make_secure_pte`;
        /// `-EAGAIN` waits on writeback without a reference.
        FollowPageLockPage = "follow-page-lock-page",
        /// c148dc8e2fa4 "KVM: s390: fix race in gmap_make_secure()": PTE lock first,
        /// present + valid + `pte_write` under it, `folio_trylock` (fail → `-EAGAIN`),
        /// `make_folio_secure`; the `-EAGAIN` writeback wait has no reference.
        PteLockTrylock = "pte-lock-trylock",
        /// As `pte-lock-trylock`, and 3f29f6537f54 takes `folio_get` under the PTE lock
        /// before waiting on writeback (6.1.192 `gmap_make_secure`).
        PteLockTrylockRef = "pte-lock-trylock-ref",
        /// 5cbe24350b7d "KVM: s390: move pv gmap functions into kvm": `gfn_to_page` (a
        /// reference, no PTE lock held), `folio_trylock`, `__make_folio_secure`.
        GfnToPage = "gfn-to-page",
        /// d8dfda5af0be "KVM: s390: pv: fix race when making a page secure":
        /// `make_hva_secure`: `folio_walk_start` (PTE lock), `folio_get`, `pte_write` check,
        /// trylock, `__make_folio_secure`, `folio_walk_end`; `-EBUSY` →
        /// `s390_wiggle_split_folio`.
        MakeHvaSecure = "make-hva-secure",
        /// The new gmap (e38c884df921): a guest-fault walk supplies a referenced folio and no
        /// PTE lock is held across the folio trylock and the import.
        NewGmap = "new-gmap",
        /// The new gmap with the 2026-06 fix: `mmap_read_trylock` and `try_get_locked_pte`
        /// around the folio trylock.
        NewGmapTrylock = "new-gmap-trylock",
    }
}

switch_enum! {
    /// What the host kernel's 0x3d handler does in kernel mode (`arch/s390/mm/fault.c:
    /// do_secure_storage_access`, KERNEL_FAULT branch).
    pub enum KernelFault {
        /// `try_get_page` (WARN on a frozen count), the hook, `put_page`; hook failure →
        /// `BUG()` (v5.7 084ea4d611a3).
        TryGetPage = "try-get-page",
        /// `folio_try_get` (silent on a frozen count), the hook, `folio_put`; hook failure →
        /// `BUG()` (6.12.118 `do_secure_storage_access`).
        FolioTryGet = "folio-try-get",
        /// "s390/mm: Add missing secure storage access fixups for donated memory" (2026-03):
        /// `folio_try_get`, then an unconditional export (PG_arch_1 cleared on success);
        /// failure → the exception fix-up (`handle_fault_error_nolock`), not BUG.
        ExportAlways = "export-always",
        /// The same fix as backported to 6.1.y (6.1.192 `do_secure_storage_access`):
        /// `try_get_page` (WARN on a frozen count), unconditional `uv_convert_from_secure`,
        /// failure → `do_no_context`.
        TryGetPageExportAlways = "try-get-page-export-always",
    }
}

switch_enum! {
    /// How the VM's teardown makes its pages accessible and destroys its configuration
    /// (arch/s390/kvm/pv.c: `kvm_s390_pv_deinit_vm` and successors).
    pub enum PvTeardown {
        /// `s390_reset_acc` first — a page walk under each PTE lock, every present page
        /// exported with `WARN_ON_ONCE` on failure (PG_arch_1 untouched) — then
        /// Destroy-Secure-Configuration (v5.7).
        ResetAccExport = "reset-acc-export",
        /// As `reset-acc-export` with Destroy-Secure-Storage instead of the export
        /// (`uv_destroy_page`: clears instead of encrypting; rc 0x107/rrc 0xd is success).
        ResetAccDestroy = "reset-acc-destroy",
        /// As `reset-acc-destroy` with `uv_destroy_owned_page` (get, destroy, clear
        /// PG_arch_1 on success, put).
        ResetAccDestroyOwned = "reset-acc-destroy-owned",
        /// Destroy-Secure-Configuration first (it cleans the guest's pages), then
        /// `s390_uv_destroy_range`: batches of up to 32 pages gathered with `get_page` under
        /// the PTE lock, each `uv_destroy_owned_page` (failure ignored) and `put_page`
        /// (6.1.192).
        DestroyRange = "destroy-range",
        /// `kvm_s390_pv_deinit_cleanup_all` (6.12.118): the count held up with
        /// `atomic_inc_not_zero`, Destroy-Secure-Configuration, leftovers disposed, then the
        /// destroy range; and the asynchronous cleanup (`kvm_s390_pv_set_aside` with
        /// Destroy-Secure-Configuration-Fast, `kvm_s390_pv_deinit_aside_vm`).
        CleanupAll = "cleanup-all",
    }
}

switch_enum! {
    /// How the 0x3d handler finds the page in user mode.
    pub enum UserFault {
        /// `follow_page(vma, addr, FOLL_WRITE | FOLL_GET)` — NULL on a read-only PTE, after
        /// which the handler returns and the access faults again (v5.7, 6.1.192).
        FollowPageWrite = "follow-page-write",
        /// `folio_walk_start(…, 0)` under the PTE lock, no write requirement (6.12.118).
        FolioWalk = "folio-walk",
    }
}

switch_enum! {
    /// How `io_pin_pages` pins an io_uring fixed buffer (`IORING_REGISTER_BUFFERS`).
    pub enum IoUringPin {
        /// `mmap_read_lock`, `pin_user_pages(FOLL_WRITE | FOLL_LONGTERM)` with a VMA array;
        /// every page pinned → every VMA must map the same file (else -EINVAL), and a file
        /// that is neither shmem nor hugetlbfs is refused with -EOPNOTSUPP — after the pins
        /// (and their hooks) were taken: they are unpinned; a partial pin → -EFAULT, unpinned
        /// (6.1.192 io_uring/rsrc.c: io_pin_pages).
        SlowVmaCheck = "slow-vma-check",
        /// The same without io_uring's own VMA check (34ed8d0dcd69 "io_uring: rsrc: delegate
        /// VMA file-backed check to GUP"): GUP's `check_vma_flags` refuses a writable
        /// long-term pin of a file mapping that needs dirty tracking.
        Slow = "slow",
        /// `pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM)`, no mmap lock (1943f96b3816
        /// "io_uring: unify io_pin_pages()"; 6.12.118 io_uring/memmap.c: io_pin_pages).
        Fast = "fast",
    }
}

/// One switch: its name (a field of [`Kernel`]), meaning, values and history.
pub struct Switch<T: 'static> {
    pub name: &'static str,
    pub doc: &'static str,
    /// Every value, by [`SwitchValue::index`].
    pub values: &'static [ValueSpec],
    /// Boundaries, oldest first.
    pub history: &'static [Boundary<T>],
    get: fn(&Kernel) -> T,
    set: fn(&mut Kernel, T),
}

impl<T: SwitchValue> Switch<T> {
    /// The value at release `r` ([`resolve`]).
    pub fn at(&self, r: &Release) -> Result<T, ReleaseError> {
        resolve(self.history, r)
            .map(|b| b.value)
            .ok_or(ReleaseError::TooOld {
                release: *r,
                switch: self.name,
                oldest: self.history.first().map(|b| b.from).unwrap_or(*r),
            })
    }
}

/// One boundary of a switch's history, with the value as text (see [`AnySwitch`]).
#[derive(Copy, Clone, Debug)]
pub struct BoundaryText {
    pub from: Release,
    pub value: &'static str,
    pub commit: Option<&'static str>,
    pub evidence: Evidence,
}

/// A switch of any value type, as the table [`SWITCHES`] holds it: what the command line,
/// `pvmm list`, `pvmm explain` and the reports read.
pub trait AnySwitch: Sync {
    fn name(&self) -> &'static str;
    fn doc(&self) -> &'static str;
    fn values(&self) -> &'static [ValueSpec];
    fn history(&self) -> Vec<BoundaryText>;
    /// The value in `k`, as text.
    fn get(&self, k: &Kernel) -> &'static str;
    /// Sets the value from text.
    fn set(&self, k: &mut Kernel, value: &str) -> Result<(), SwitchError>;
    /// The value at release `r`, as text.
    fn at(&self, r: &Release) -> Result<&'static str, ReleaseError>;
    /// The doc of the value `k` has.
    fn value_doc(&self, k: &Kernel) -> &'static ValueSpec;
}

impl<T: SwitchValue> AnySwitch for Switch<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn values(&self) -> &'static [ValueSpec] {
        self.values
    }
    fn history(&self) -> Vec<BoundaryText> {
        self.history
            .iter()
            .map(|b| BoundaryText {
                from: b.from,
                value: b.value.name(),
                commit: b.commit,
                evidence: b.evidence,
            })
            .collect()
    }
    fn get(&self, k: &Kernel) -> &'static str {
        (self.get)(k).name()
    }
    fn set(&self, k: &mut Kernel, value: &str) -> Result<(), SwitchError> {
        let v = T::parse(value).ok_or_else(|| SwitchError::BadValue {
            switch: self.name.to_string(),
            value: value.to_string(),
            expected: T::NAMES.join(" | "),
        })?;
        (self.set)(k, v);
        Ok(())
    }
    fn at(&self, r: &Release) -> Result<&'static str, ReleaseError> {
        Switch::at(self, r).map(SwitchValue::name)
    }
    fn value_doc(&self, k: &Kernel) -> &'static ValueSpec {
        &self.values[(self.get)(k).index()]
    }
}

/// Declares the switches: the [`Kernel`] struct (one field per switch, documented by the
/// switch's doc), one [`Switch`] constant per switch in `decl`, and [`SWITCHES`].
macro_rules! switches {
    (
        $(
            $f:ident : $ty:ty {
                doc: $doc:literal,
                values: $values:expr,
                history: [ $( ($from:expr, $val:expr, $commit:expr, $ev:expr) ),+ $(,)? ] $(,)?
            }
        ),+ $(,)?
    ) => {
        /// Every switch of one kernel (a release, a preset, with overrides).
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Kernel {
            /// The preset or release this configuration was made from.
            pub name: String,
            $( #[doc = $doc] pub $f: $ty, )+
        }

        /// One [`Switch`] constant per switch, named after it.
        #[allow(non_upper_case_globals)]
        pub mod decl {
            use super::*;
            $(
                #[doc = $doc]
                pub const $f: Switch<$ty> = Switch {
                    name: stringify!($f),
                    doc: $doc,
                    values: $values,
                    history: &[$(Boundary {
                        from: $from,
                        value: $val,
                        commit: $commit,
                        evidence: $ev,
                    }),+],
                    get: |k| k.$f,
                    set: |k, v| k.$f = v,
                };
            )+
        }

        /// Every switch, in declaration order.
        pub const SWITCHES: &[&dyn AnySwitch] = &[$(&decl::$f),+];

        impl Kernel {
            /// The switches of release `r`, each from its history (named after `r`).
            pub fn at(r: &Release) -> Result<Kernel, ReleaseError> {
                r.check_described()?;
                Ok(Kernel {
                    name: r.to_string(),
                    $( $f: decl::$f.at(r)?, )+
                })
            }
        }
    };
}

switch_enum! {
    /// How a fault decides whether an anonymous page may be mapped writable in place — the
    /// write fault of `do_swap_page` on a page from the swap cache, and `do_wp_page` on a
    /// read-only anonymous PTE (mm/memory.c) — or must be copied (`wp_page_copy`). Only
    /// models that swap (`reclaim-anon`) read it: elsewhere the model's `do_wp_page`
    /// reuses an anonymous page as it always did.
    pub enum AnonReuse {
        /// `reuse_swap_page` (page mapcount + swap count ≤ 1; a page not under writeback is
        /// then deleted from the swap cache and dirtied), in `do_swap_page` for a write fault
        /// and in `do_wp_page` under the page lock (a `lock_page` after dropping the PTE
        /// lock when the trylock fails, then `pte_same`).
        ReuseSwapPage = "reuse-swap-page",
        /// 09854ba94c6a: `do_wp_page` reuses only a page with `page_count == 1` (trylock,
        /// then mapcount and count again); a page in the swap cache (count ≥ 2) is always
        /// copied. `do_swap_page` still uses `reuse_swap_page`.
        PageCount = "page-count",
        /// 53a05ad9f21d / c145e0b47c77: `do_wp_page` copies a page with more than
        /// `1 + PageSwapCache` references, else trylocks, `try_to_free_swap`, and reuses at
        /// `page_count == 1`; `do_swap_page` frees the swap cache when `should_try_to_free_swap`
        /// (a write fault, count 2) and maps writable only at count 1 (else `do_wp_page`).
        FreeSwap = "free-swap",
        /// 6c287605fd56 (PG_anon_exclusive): the swap PTE of an exclusive page is
        /// `pte_swp_exclusive`; `do_swap_page` maps it writable on a write fault whatever
        /// its count, after `should_try_to_free_swap`; `do_wp_page` reuses an exclusive
        /// page at once (6.1.192, 6.12.118).
        AnonExclusive = "anon-exclusive",
    }
}

const V5_7: Release = Release::v(5, 7);

switches! {
    slow_grab: SlowGrab {
        doc: "How `mm/gup.c: follow_page_pte` takes its reference (`try_grab_page`).",
        values: SlowGrab::VALUES,
        history: [
            (V5_7, SlowGrab::CheckThenAdd, None,
                Evidence::Mail("the v5.7 FOLL_PIN patch (search id 20174693896): try_grab_page = try_get_page, then page_ref_add")),
            (Release::v(5, 15), SlowGrab::AddUnlessZero, Some("54d516b1d62f"),
                Evidence::Preset("kernel-notes W1: try_grab_compound_head mail (id 46581532794); v5.15 as the preset says")),
            (Release::v(5, 17), SlowGrab::CheckThenAdd, Some("c36c04c2e132"),
                Evidence::Mail("the revert, posted 2022-02-01 against v5.17-rc2 (id 30542537852), also tagged for 5.15.y stable (point unknown); 6.1.192 and 6.12.118 read: check then add")),
        ],
    },
    fast_pin_grab: FastPinGrab {
        doc: "How GUP's fast path adds `GUP_PIN_COUNTING_BIAS` (`try_grab_compound_head` / `try_grab_folio`).",
        values: FastPinGrab::VALUES,
        history: [
            (V5_7, FastPinGrab::OneAddUnlessZero, None,
                Evidence::Mail("the v5.7 FOLL_PIN patch (id 20174693896): page_cache_add_speculative(head, 1024)")),
            (Release::v(5, 15), FastPinGrab::AddUnlessZeroThenAdd, None,
                Evidence::Preset("kernel-notes W5: a 5.15.y-era gup.c (id 1847831) adds 1 then 1023; the commit and first release are not established")),
        ],
    },
    hook_on_foll_pin: bool {
        doc: "`follow_page_pte` and `gup_pte_range` call `arch_make_page_accessible` for FOLL_PIN (f28d43636d6f).",
        values: &[
            ValueSpec::defect("false", "no hook for FOLL_PIN", "every release since v5.7 calls the hook for FOLL_PIN"),
            ValueSpec::new("true", "FOLL_PIN makes the page accessible under the PTE lock (slow) or after the grab (fast); failure unpins"),
        ],
        history: [
            (V5_7, true, Some("f28d43636d6f"),
                Evidence::Mail("the merged v4 posting (id 17293300619); 6.1.192 and 6.12.118 mm/gup.c read")),
        ],
    },
    splice_confirm_hook: bool {
        doc: "The proposed, never merged hook in `fs/splice.c: page_cache_pipe_buf_confirm` (\"fs/splice: add missing callback for inaccessible pages\", v2, 2020-04-30).",
        values: &[
            ValueSpec::new("false", "page_cache_pipe_buf_confirm checks only PageUptodate (every release)"),
            ValueSpec::new("true", "the 2020 patch: confirm calls arch_make_page_accessible first and fails with -EIO"),
        ],
        history: [
            (V5_7, false, None,
                Evidence::Source("6.1.192 and 6.12.118 fs/splice.c: page_cache_pipe_buf_confirm has no hook; the patch was never merged")),
        ],
    },
    import_flow: ImportFlow {
        doc: "The shape of `gmap_make_secure`: lookup, page lock, PTE lock, reference.",
        values: ImportFlow::VALUES,
        history: [
            (V5_7, ImportFlow::FollowPageLockPage, Some("214d9bbcd3a6"),
                Evidence::Mail("review thread of the v5.7 uv.c (id 3156229660)")),
            (Release::stable(6, 1, 29), ImportFlow::PteLockTrylock, Some("c148dc8e2fa4"),
                Evidence::Changelog("ChangeLog-6.1.29 lists \"KVM: s390: fix race in gmap_make_secure()\" (changelog.Debian of linux-source-6.1)")),
            (Release::stable(6, 1, 103), ImportFlow::PteLockTrylockRef, Some("3f29f6537f54"),
                Evidence::Changelog("ChangeLog-6.1.103 lists \"s390/uv: Don't call folio_wait_writeback() without a folio reference\" after the two folio conversions of make_page_secure and gmap_make_secure (changelog.Debian of linux-source-6.1); 6.1.192 uv.c read: folio_get under the PTE lock")),
            (Release::v(6, 4), ImportFlow::PteLockTrylock, Some("c148dc8e2fa4"),
                Evidence::Mail("v3 posted 2023-04-28 (id 12066476644), the diff (id 10627896758); v6.4 as the merge window after the posting, tag containment not checked")),
            (Release::v(6, 11), ImportFlow::PteLockTrylockRef, Some("3f29f6537f54"),
                Evidence::Mail("the August 2024 stable backports (revlists ids 65741680232, 66321220833) carry it as a fix of the v6.10 folio conversion; v6.11 per kernel-protocol.md, tag containment not checked")),
            (Release::stable(6, 12, 114), ImportFlow::MakeHvaSecure, Some("d8dfda5af0be"),
                Evidence::Changelog("ChangeLog-6.12.114 lists \"KVM: s390: move pv gmap functions into kvm\", \"KVM: s390: use __kvm_faultin_pfn()\" and \"KVM: s390: pv: fix race when making a page secure\" (changelog.Debian of linux-source-6.12); Debian reverts them in its own 6.12.115-2 upload: preset debian-6.12.118")),
            (Release::rc(6, 14, 1), ImportFlow::GfnToPage, Some("5cbe24350b7d"),
                Evidence::Mail("pulled as \"[GIT PULL v1 09/20] KVM: s390: move pv gmap functions into kvm\" on 2025-01-30 for the 6.14 merge window (id 9994489452); Paolo Bonzini: \"An earlier 6.14 commit stopped taking the pte lock\" (id 47790123372)")),
            (Release::v(6, 14), ImportFlow::MakeHvaSecure, Some("d8dfda5af0be"),
                Evidence::Mail("tag kvm-s390-master-6.14-1 (2025-03-14, id 47734174468) pulled as \"[GIT PULL] KVM fix for Linux 6.14 final\" on top of v6.14-rc7 (id 47790123372): in the v6.14 release, the gfn_to_page flow only in v6.14-rc1..rc7")),
            (Release::rc(7, 0, 1), ImportFlow::NewGmap, Some("e38c884df921"),
                Evidence::Mail("tag kvm-s390-next-7.0-1 (based on 6.19-rc2) merged into the 7.0 KVM pull based on v6.19 (ids 53197783913, 53628245453); the import_lock patch (id 53299336477)")),
            (Release::v(7, 1), ImportFlow::NewGmapTrylock, None,
                Evidence::Mail("\"KVM: s390: Lock pte when making page secure\" with try_get_locked_pte (89fa757931dc), pull kvm-s390-master-7.1-3 on top of v7.1-rc6, 2026-06-02 (ids 55658427791, 55814962214); a fix of 89fa757931dc says \"CC: stable # 7.1\" (id 55715405261): in v7.1, the rc that took it not established")),
        ],
    },
    import_large_folio: ImportLarge {
        doc: "What `gmap_make_secure` does with a page of a large folio up to v6.13 (from v6.14-rc1 every import flow answers `-E2BIG` and splits in `s390_wiggle_split_folio`).",
        values: ImportLarge::VALUES,
        history: [
            (V5_7, ImportLarge::PageCount, None,
                Evidence::Source("v5.7-era uv.c (search id 66101957984): make_secure_pte freezes page_ref_freeze(page, expected_page_refs(page)) on the PTE's page, no large test")),
            (Release::stable(6, 1, 103), ImportLarge::Einval, None,
                Evidence::Changelog("ChangeLog-6.1.103 lists the folio conversions of make_page_secure and gmap_make_secure (changelog.Debian of linux-source-6.1); 6.1.192 uv.c read: folio_test_large -> -EINVAL")),
            (Release::v(6, 10), ImportLarge::Einval, None,
                Evidence::Mail("the folio conversion of gmap_make_secure, v6.10 per the import-uv fact sheet (weaker: the August 2024 stable backports name it as the base of 3f29f6537f54; tag containment not checked)")),
            (Release::v(6, 11), ImportLarge::Split, Some("eef88fe45ac9"),
                Evidence::Mail("v6.11 per kernel-protocol.md (weaker: tag containment not checked); 6.12.118 uv.c read: -E2BIG, folio_lock, split_folio, drain_lru")),
        ],
    },
    import_holds_ptl: bool {
        doc: "`gmap_make_secure` holds the KVM mm's PTE lock across freeze and UVC.",
        values: &[
            ValueSpec::defect("false", "the import freezes and calls the UV without the PTE lock", "every import flow holds the PTE lock (v5.7 get_locked_pte, 6.1.192, 6.12.118)"),
            ValueSpec::new("true", "the PTE lock is held across freeze and UVC"),
        ],
        history: [
            (V5_7, true, Some("214d9bbcd3a6"),
                Evidence::Mail("review thread of the v5.7 uv.c (id 3156229660); 6.1.192 uv.c read")),
        ],
    },
    import_freezes: bool {
        doc: "`make_secure_pte` freezes the refcount at its expected value (the lock-out).",
        values: &[
            ValueSpec::defect("false", "no freeze: the import runs whatever references are held", "every release freezes (page_ref_freeze / folio_ref_freeze)"),
            ValueSpec::new("true", "page_ref_freeze(expected) before the UVC, unfreeze after"),
        ],
        history: [
            (V5_7, true, Some("214d9bbcd3a6"),
                Evidence::Mail("review thread of the v5.7 uv.c (id 3156229660); 6.1.192 and 6.12.118 read")),
        ],
    },
    import_single_uv_call: bool {
        doc: "The import issues one `__uv_call`; busy or partial → `-EAGAIN` (else `uv_call` loops while the UV is busy).",
        values: &[
            ValueSpec::new("false", "uv_call loops while the UV answers busy"),
            ValueSpec::new("true", "one __uv_call: busy → -EAGAIN"),
        ],
        history: [
            (V5_7, false, Some("214d9bbcd3a6"), Evidence::Mail("review thread of the v5.7 uv.c (id 3156229660)")),
            (Release::v(5, 16), true, Some("f0a1a0615a6f"),
                Evidence::Mail("the __uv_call change (ids 22987443582, 39149947872); v5.16 as the preset says")),
        ],
    },
    export_before_import: bool {
        doc: "Export before import when the mm runs more than one protected VM (`should_export_before_import`).",
        values: &[
            ValueSpec::new("false", "no export before the import"),
            ValueSpec::new("true", "with more than one protected VM in the mm, export first (result ignored)"),
        ],
        history: [
            (V5_7, false, None, Evidence::Mail("review thread of the v5.7 uv.c (id 3156229660)")),
            (Release::v(6, 0), true, Some("72b1daff2671"),
                Evidence::Mail("kernel-notes: in v6.0; 6.1.192 uv.c read. The August 2024 backports to 5.10.y and 5.15.y (import-uv fact sheet §1) are at points not established: those branches resolve without it")),
        ],
    },
    freeze_plus_one: bool {
        doc: "The import freezes at `expected_folio_refs + 1`: the importer holds one reference.",
        values: &[
            ValueSpec::new("false", "freeze at expected_page_refs (no reference of the importer)"),
            ValueSpec::new("true", "freeze at expected + 1 (the importer's own reference)"),
        ],
        history: [
            (V5_7, false, Some("214d9bbcd3a6"), Evidence::Mail("review thread of the v5.7 uv.c (id 3156229660)")),
            (Release::stable(6, 12, 114), true, Some("5cbe24350b7d"),
                Evidence::Changelog("ChangeLog-6.12.114 lists \"KVM: s390: move pv gmap functions into kvm\" (changelog.Debian of linux-source-6.12)")),
            (Release::rc(6, 14, 1), true, Some("5cbe24350b7d"),
                Evidence::Mail("make_folio_secure: expected_folio_refs(folio) + 1 in the pull (id 9994489452)")),
        ],
    },
    writeback_ebusy: bool {
        doc: "Writeback during the import answers `-EBUSY` rather than `-EAGAIN` (`__make_folio_secure`).",
        values: &[
            ValueSpec::new("false", "PG_writeback → -EAGAIN"),
            ValueSpec::new("true", "PG_writeback → -EBUSY"),
        ],
        history: [
            (V5_7, false, Some("214d9bbcd3a6"), Evidence::Mail("review thread of the v5.7 uv.c (id 3156229660)")),
            (Release::stable(6, 12, 114), true, Some("5cbe24350b7d"),
                Evidence::Changelog("ChangeLog-6.12.114 lists \"KVM: s390: move pv gmap functions into kvm\" (changelog.Debian of linux-source-6.12)")),
            (Release::rc(6, 14, 1), true, Some("5cbe24350b7d"),
                Evidence::Mail("make_folio_secure: folio_test_writeback → -EBUSY in the pull (id 9994489452)")),
        ],
    },
    wiggle_drains: bool {
        doc: "`s390_wiggle_split_folio` (`kvm_s390_wiggle_split_folio` in v6.14-rc) drains the LRU on all CPUs.",
        values: &[
            ValueSpec::new("false", "the wiggle waits for writeback only (the linux-mm tree's uv.c @b36bf6ba, after v7.1: commit and release not established; reachable with --set only), or there is no wiggle"),
            ValueSpec::new("true", "the wiggle also runs lru_add_drain_all"),
        ],
        history: [
            (V5_7, false, None, Evidence::Source("no wiggle before 5cbe24350b7d: 6.1.192 and 6.12.118 uv.c drain in gmap_make_secure's own -EBUSY ladder")),
            (Release::stable(6, 12, 114), true, Some("5cbe24350b7d"),
                Evidence::Changelog("ChangeLog-6.12.114 lists \"KVM: s390: move pv gmap functions into kvm\" (changelog.Debian of linux-source-6.12)")),
            (Release::rc(6, 14, 1), true, Some("5cbe24350b7d"),
                Evidence::Mail("kvm_s390_wiggle_split_folio: folio_wait_writeback, lru_add_drain_all (pull id 9994489452); every later wiggle read drains too: d8dfda5af0be (id 185015127), bd428b8c79ed (id 42490340490), ab73b29efd36 (id 42742393220); only the linux-mm tree's uv.c @b36bf6ba (id 59314175531) lacks it")),
        ],
    },
    kernel_fault: KernelFault {
        doc: "What the 0x3d handler does in kernel mode (`do_secure_storage_access`, KERNEL_FAULT).",
        values: KernelFault::VALUES,
        history: [
            (V5_7, KernelFault::TryGetPage, Some("084ea4d611a3"),
                Evidence::Mail("the v5.7 fault.c posting (ids 2942247510, 2574829980)")),
            (Release::stable(6, 1, 192), KernelFault::TryGetPageExportAlways, None,
                Evidence::Source("the 2026-03 fix as backported to 6.1.y: 6.1.192 arch/s390/mm/fault.c read (KERNEL_FAULT: try_get_page, uv_convert_from_secure, do_no_context); the 6.1 changelog does not name the backport, so the first 6.1.y point with it is not established (earlier points resolve to the old handler)")),
            (Release::v(6, 12), KernelFault::FolioTryGet, None,
                Evidence::Source("6.12.118 arch/s390/mm/fault.c: folio_try_get; the commit (the 2024 folio conversion) and first release as kernel-notes say")),
            (Release::stable(6, 12, 114), KernelFault::ExportAlways, None,
                Evidence::Changelog("ChangeLog-6.12.114 lists \"s390/mm: Add missing secure storage access fixups for donated memory\" (changelog.Debian of linux-source-6.12)")),
            (Release::stable(6, 12, 115), KernelFault::FolioTryGet, None,
                Evidence::Changelog("ChangeLog-6.12.115 lists its revert (changelog.Debian of linux-source-6.12); 6.12.118 fault.c read: folio_try_get, BUG() on failure")),
            (Release::v(7, 0), KernelFault::ExportAlways, None,
                Evidence::Mail("\"s390/mm: Add missing secure storage access fixups for donated memory\" (Fixes: 084ea4d611a3) in the fixes pull \"[GIT PULL 2/6]\" of 2026-03-18 during the 7.0 release candidates (search id 56104790036); the rc that took it not established; 6.12.118 does not have it")),
        ],
    },
    user_fault: UserFault {
        doc: "How the 0x3d handler finds the page in user mode.",
        values: UserFault::VALUES,
        history: [
            (V5_7, UserFault::FollowPageWrite, Some("084ea4d611a3"),
                Evidence::Mail("the v5.7 fault.c posting (id 2942247510); 6.1.192 fault.c read")),
            (Release::v(6, 12), UserFault::FolioWalk, None,
                Evidence::Source("6.12.118 arch/s390/mm/fault.c: folio_walk_start(…, 0); commit and first release as the preset says")),
        ],
    },
    longterm_file_write_denied: bool {
        doc: "GUP refuses FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE on a file mapping that needs dirty tracking (`check_vma_flags` → `writable_file_mapping_allowed`; fast path: `gup_fast_folio_allowed`).",
        values: &[
            ValueSpec::new("false", "a long-term pin for write of a shared file page is taken like any pin"),
            ValueSpec::new("true", "check_vma_flags returns -EFAULT; the fast path drops its grab and falls back to it"),
        ],
        history: [
            (V5_7, false, None,
                Evidence::Source("6.1.192 mm/gup.c: check_vma_flags has no such check")),
            (Release::v(6, 5), true, Some("8ac268436e6d"),
                Evidence::Mail("v8 posted 2023-05-02 (search id 26598511134), with a6e79df92e4a for the fast path; the mainline ids from a later mail (id 61903191210); v6.5 as the merge window after the posting, tag containment not checked; 6.12.118 mm/gup.c read")),
        ],
    },
    dio_pins: bool {
        doc: "Block direct I/O takes FOLL_PIN references (`iov_iter_extract_pages`); before, FOLL_GET through `iov_iter_get_pages`.",
        values: &[
            ValueSpec::new("false", "bio_iov_iter_get_pages → iov_iter_get_pages: FOLL_GET, no hook"),
            ValueSpec::new("true", "bio_iov_iter_get_pages → iov_iter_extract_pages: FOLL_PIN, with the hook"),
        ],
        history: [
            (V5_7, false, None, Evidence::Preset("kernel-notes §7b")),
            (Release::v(6, 5), true, Some("a7e689dd1c06"), Evidence::Preset("v6.5 as the preset says")),
        ],
    },
    pte_clear_export_clears_arch1: bool {
        doc: "The PTE-clear helpers' export clears PG_arch_1 on success (`uv_convert_owned_from_secure`).",
        values: &[
            ValueSpec::new("false", "plain uv_convert_from_secure: PG_arch_1 stays set"),
            ValueSpec::new("true", "uv_convert_owned_from_secure: PG_arch_1 cleared after a successful export"),
        ],
        history: [
            (V5_7, false, None, Evidence::Mail("the v5.7 pgtable.h hunk (id 2667639102)")),
            (Release::v(5, 16), true, Some("380d97bd02fc"),
                Evidence::Preset("the diff (id 17483250200); v5.16 as the preset says; 6.1.192 read")),
        ],
    },
    pte_clear_export_warns: bool {
        doc: "The PTE-clear helpers warn when their export fails (`WARN_ON_ONCE(uv_convert_from_secure_pte(res))`, 850103b0ce6d); before, the failure is ignored and the still-secure page goes on to be freed.",
        values: &[
            ValueSpec::new("false", "the export's result is ignored"),
            ValueSpec::new("true", "WARN_ON_ONCE on a failed export (the page is still freed by the caller: the patch's \"leak the page\" is its comment; its code only warns)"),
        ],
        history: [
            (V5_7, false, None, Evidence::Source("6.1.192 and 6.12.118 arch/s390/include/asm/pgtable.h: the export's result is ignored")),
            (Release::rc(7, 0, 1), true, Some("850103b0ce6d"),
                Evidence::Mail("\"[GIT PULL v1 09/36] s390/mm: Warn if uv_convert_from_secure_pte() fails\", 2026-02-10 (search id 53496767633), in kvm-s390-next-7.0-1 merged in the 7.0 merge window; tag containment not checked")),
        ],
    },
    pv_teardown: PvTeardown {
        doc: "How the VM's teardown makes its pages accessible and destroys its configuration (`kvm_s390_pv_deinit_vm` and successors).",
        values: PvTeardown::VALUES,
        history: [
            (V5_7, PvTeardown::ResetAccExport, None,
                Evidence::Mail("the v5.7 pv.c (search id 43205037) calls s390_reset_acc before DESTROY_SEC_CONF; s390_reset_acc's export with WARN_ON_ONCE is the pre-image of the Sept 2020 patch (id 24836813268)")),
            (Release::v(5, 10), PvTeardown::ResetAccDestroy, Some("1a80b54d1ce1"),
                Evidence::Mail("\"s390x: uv: Add destroy page call\" posted 2020-09-03 (id 24836813268); the 0x107/0xd fix of 2020-11-18 names it in Fixes: (id 4603490693), so it was in v5.10-rc; v5.10 inferred, tag containment not checked")),
            (Release::v(5, 16), PvTeardown::ResetAccDestroyOwned, Some("380d97bd02fc"),
                Evidence::Mail("the owned variants' patch changes __s390_reset_acc to uv_destroy_owned_page (id 39626391397); v5.16 as for pte_clear_export_clears_arch1")),
            (Release::v(6, 0), PvTeardown::DestroyRange, None,
                Evidence::Mail("\"s390/mm: KVM: pv: when tearing down, try to destroy protected pages\" and \"KVM: s390: pv: destroy the configuration before its memory\" in the pull tags/kvm-s390-next-5.20-1 of 2022-07-21 (id 14135390655; 5.20 became v6.0); 6.1.192 pv.c and gmap.c read")),
            (Release::v(6, 2), PvTeardown::CleanupAll, Some("fb491d5500a7"),
                Evidence::Mail("\"KVM: s390: pv: asynchronous destroy for reboot\" v15 posted 2022-10-10 (id 93559343), Destroy fast in the pull of 2022-11-25 (id 867875150) for 6.2; absent in 6.1.192, present in 6.12.118 (read)")),
        ],
    },
    end_writeback_takes_ref: bool {
        doc: "`end_page_writeback` takes a temporary reference around the clear and wake-up (Hugh Dickins' fix, \"Cc: stable # v5.8+\").",
        values: &[
            ValueSpec::new("false", "no reference: the page may be freed the instant PG_writeback clears"),
            ValueSpec::new("true", "get_page / put_page around test_clear_page_writeback and the wake-up"),
        ],
        history: [
            (V5_7, false, None, Evidence::Mail("the fix's pre-image (id 28296868854)")),
            (Release::v(5, 15), true, Some("073861ed77b6"),
                Evidence::Preset("kernel-notes §5.4: commit id and release unconfirmed; v5.15 as the preset says")),
        ],
    },
    gup_fast_hook_fail_stops: bool {
        doc: "The GUP fast walk stops at a page whose FOLL_PIN hook failed (`mm/gup.c: gup_pte_range` / 6.12 `gup_fast_pte_range`): before the 2025-09 fix the hook's error was stored in the value the function returns, which its PMD-level caller reads as \"carry on\": the rest of that PMD range (256 pages on s390) is skipped, the next range is recorded from the failing page's slot on, and the slow path resumes at `start + nr_pinned`.",
        values: &[
            ValueSpec::new("false", "a hook failure ends only the current PMD range: later ranges are recorded at the failing page's slot of pages[], and the fallback resumes at start + nr_pinned (v5.7 ... v6.17)"),
            ValueSpec::new("true", "a hook failure ends the walk at the failing page, like every other stop; the fallback resumes there"),
        ],
        history: [
            (V5_7, false, Some("f28d43636d6f"),
                Evidence::Source("6.1.192 mm/gup.c: gup_pte_range and 6.12.118 gup_fast_pte_range return the hook's error from the PTE loop; gup_pmd_range / gup_fast_pmd_range stop only on 0; the fix's Fixes: tag names f28d43636d6f")),
            (Release::v(6, 18), true, None,
                Evidence::Mail("\"mm/gup: fix handling of errors from arch_make_folio_accessible() in follow_page_pte()\", David Hildenbrand, v1 2025-09-08 (search id 3199226570), Reviewed-by Claudio Imbrenda 2025-09-09 (id 22330527456), not Cc stable; in mm-unstable from 2025-09-16 and as 7cad96ae59b3 in linux-next 2025-09-22 (id 66502046317); v6.18 inferred from the merge window after v6.17-rc7, tag containment not checked")),
        ],
    },
    gup_fast_grab_checked: bool {
        doc: "The GUP fast walk stops when its speculative grab fails (`try_grab_folio` / `try_grab_compound_head` returns NULL on a zero — frozen or free — count): a page is recorded only with the marker the grab took.",
        values: &[
            ValueSpec::defect("false", "the grab's failure is ignored: the walk goes on as if it held the marker and records the page without one", "every release stops the walk when the speculative grab fails (6.1.192 gup_pte_range, 6.12.118 gup_fast_pte_range: goto pte_unmap)"),
            ValueSpec::new("true", "a failed grab ends the walk; the fallback takes the page under the PTE lock"),
        ],
        history: [
            (V5_7, true, None,
                Evidence::Source("6.1.192 mm/gup.c: gup_pte_range and 6.12.118 gup_fast_pte_range; v5.7 per kernel-notes §2.1 (f28d43636d6f hunk)")),
        ],
    },
    io_uring_pin: IoUringPin {
        doc: "How `io_pin_pages` pins a buffer registered with `IORING_REGISTER_BUFFERS`: slow (under the mmap lock) or fast, and whether io_uring checks the VMAs itself.",
        values: IoUringPin::VALUES,
        history: [
            (V5_7, IoUringPin::SlowVmaCheck, None,
                Evidence::Source("6.1.192 io_uring/rsrc.c: io_pin_pages; the v5.7 fs/io_uring.c shape per the fact sheet (search ids 30362217558, 40175680490): pin_user_pages + VMA check; whether v5.7 also refused shmem is unconfirmed (the model allows shmem, as 6.1.192 and the 2023 pre-image of edd478269640 do)")),
            (Release::v(6, 5), IoUringPin::Slow, Some("34ed8d0dcd69"),
                Evidence::Mail("\"io_uring: rsrc: delegate VMA file-backed check to GUP\", v6 posted 2023-05-17 (search id 48408208291), in a v6.5-cycle io_uring log (id 46238835510); the 6.6.y pre-image of the 2025-03 backport (id 46461117904) has pin_user_pages without a VMA check")),
            (Release::stable(6, 6, 84), IoUringPin::Fast, Some("1943f96b3816"),
                Evidence::Mail("\"[PATCH 6.6 099/166] io_uring: unify io_pin_pages()\", 6.6-stable review 2025-03-19 (search id 46461117904, \"Commit 1943f96b3816 upstream\"); point release 6.6.84 inferred from the review date")),
            (Release::v(6, 10), IoUringPin::Fast, Some("1943f96b3816"),
                Evidence::Mail("\"[PATCH 04/10] io_uring: unify io_pin_pages()\", Jens Axboe 2024-03-27 (search id 48719117864), on for-6.10/io_uring (id 65812715269); v6.10 inferred from the branch; 6.12.118 io_uring/memmap.c read")),
        ],
    },
    udmabuf_memfd_pin: bool {
        doc: "`udmabuf_create` pins the memfd's pages with `memfd_pin_folios` (FOLL_PIN, no hook) instead of taking page references with `shmem_read_mapping_page`.",
        values: &[
            ValueSpec::new("false", "shmem_read_mapping_page: a page reference (locked and unlocked on the way), no hook (6.1.192 drivers/dma-buf/udmabuf.c)"),
            ValueSpec::new("true", "memfd_pin_folios: filemap_get_folios_contig, folio_lock, try_grab_folio(FOLL_PIN), folio_unlock, batch released; no hook (6.12.118 mm/gup.c)"),
        ],
        history: [
            (V5_7, false, None,
                Evidence::Source("6.1.192 drivers/dma-buf/udmabuf.c: udmabuf_create (shmem_read_mapping_page)")),
            (Release::v(6, 11), true, None,
                Evidence::Mail("\"udmabuf: pin the pages using memfd_pin_folios() API\" with \"mm/gup: Introduce memfd_pin_folios() for pinning memfd folios\" (Vivek Kasireddy), in mm-unstable/mm-stable revlists of mid-2024 (search ids 65813395843, 8819838165); v6.11 inferred from the branch timing, commit ids rebased; 6.12.118 read")),
        ],
    },
    reclaim_skips_pinned: bool {
        doc: "`shrink_folio_list` leaves a folio that is maybe DMA-pinned (`folio_maybe_dma_pinned`: refcount ≥ GUP_PIN_COUNTING_BIAS) once it is unmapped: activated, not written out or freed (Jan Kara, \"mm: do not reclaim private data from pinned page\").",
        values: &[
            ValueSpec::new("false", "no pinned check: a pinned page-cache folio is written out and its removal left to __remove_mapping's freeze (which the pin makes fail)"),
            ValueSpec::new("true", "after try_to_unmap: folio_maybe_dma_pinned → activate_locked (6.1.192 and 6.12.118 mm/vmscan.c: shrink_folio_list)"),
        ],
        history: [
            (V5_7, false, None,
                Evidence::Source("the v5.x-era mm/vmscan.c copy (search id 12937212337): shrink_page_list has no page_maybe_dma_pinned check (fact sheet mm.md §2.6)")),
            (Release::stable(6, 1, 28), true, Some("d824ec2a1546"),
                Evidence::Changelog("the 6.1.y backport 7273da3cfde7 is listed under ChangeLog-6.1.28 in changelog.Debian of linux-source-6.1 (and in the linux-6.1.y stable-rc push of 2023-05-08, search id 66460791583); 6.1.192 mm/vmscan.c: shrink_folio_list read")),
            (Release::v(6, 4), true, Some("d824ec2a1546"),
                Evidence::Mail("added to mm-hotfixes-unstable 2023-05-02 with Cc: stable (search id 38767688414); mainline as d824ec2a1546 after the scsi-misc merge of the v6.4 merge window (search id 66575123308): v6.4 inferred, tag containment not checked")),
        ],
    },
    unmap_checks_young: bool {
        doc: "`try_to_unmap_one` without TTU_IGNORE_ACCESS first clears the young bit (`ptep_clear_flush_young_notify`: on s390 the PTE becomes `_PAGE_INVALID`, no export) and gives up on a young PTE, before clearing it.",
        values: &[
            ValueSpec::new("false", "reclaim's unmap clears the PTE whatever its young bit (TTU_IGNORE_ACCESS always; 6.1.192 mm/rmap.c: try_to_unmap_one)"),
            ValueSpec::new("true", "a PTE made young since folio_referenced aborts the unmap (made old, the folio activated)"),
        ],
        history: [
            (V5_7, true, None,
                Evidence::Source("the v5.x-era mm/rmap.c copy (search id 9400258368): try_to_unmap_one tests TTU_IGNORE_ACCESS (fact sheet mm.md §2.6)")),
            (Release::v(5, 11), false, None,
                Evidence::Mail("\"mm/rmap: always do TTU_IGNORE_ACCESS\", Shakeel Butt, posted 2020-11-04 (search id 19125891391), in the 5.10-stable review of 2020-12-28 as an upstream commit (id 44526066244): v5.11 inferred, tag containment not checked; 6.1.192 mm/rmap.c read: no young check")),
        ],
    },
    reclaim_fs_writeout: bool {
        doc: "Reclaim's `pageout` writes a dirty file-system folio through `->writepage` (only kswapd, with the folio flagged PG_reclaim and the node PGDAT_DIRTY); newer kernels leave file folios to the flusher.",
        values: &[
            ValueSpec::new("false", "pageout writes only shmem and anonymous (swap) folios; a dirty file folio is activated"),
            ValueSpec::new("true", "pageout → folio_clear_dirty_for_io → ->writepage → folio_start_writeback (the hook) → unlock (6.1.192 and 6.12.118 mm/vmscan.c: pageout)"),
        ],
        history: [
            (V5_7, true, None,
                Evidence::Source("6.1.192 and 6.12.118 mm/vmscan.c: pageout calls mapping->a_ops->writepage; v5.x-era copy (id 12937212337) alike")),
            (Release::v(6, 16), false, None,
                Evidence::Mail("the newest torvalds mm/vmscan.c stored (search id 66094458906): pageout activates non-shmem, non-anonymous folios (fact sheet mm.md §2.4); Christoph Hellwig's 2025 writeout series, robot report 2025-05-08 (id 45791855748): v6.16 inferred from that date, commit and tag containment not established (weak)")),
        ],
    },
    debug_vm: bool {
        doc: "CONFIG_DEBUG_VM: `VM_BUG_ON*` are live (e.g. `page_ref_unfreeze` on a non-zero count, the writeback hook's failure).",
        values: &[
            ValueSpec::new("false", "VM_BUG_ON* compiled out (distribution kernels)"),
            ValueSpec::new("true", "VM_BUG_ON* live (debug builds)"),
        ],
        history: [
            (V5_7, false, None, Evidence::Source("a configuration, not a version: off in the Debian configs of 6.1 and 6.12")),
        ],
    },
    wiggle_split_eagain: bool {
        doc: "`make_hva_secure` turns a successful `s390_wiggle_split_folio` into `-EAGAIN` (3ec8a8330a1a \"s390/uv: Don't return 0 from make_hva_secure() if the operation was not successful\"); before, a split large folio returned 0 and the page was never imported.",
        values: &[
            ValueSpec::new("false", "the wiggle's 0 (split done) is returned: unpack skips the page (v6.14, v6.15)"),
            ValueSpec::new("true", "the wiggle's 0 becomes -EAGAIN: the caller retries"),
        ],
        history: [
            (V5_7, false, None, Evidence::Source("no s390_wiggle_split_folio before 5cbe24350b7d; 6.12.118 gmap_make_secure retries a split itself (goto again)")),
            (Release::stable(6, 12, 114), true, Some("3ec8a8330a1a"),
                Evidence::Changelog("ChangeLog-6.12.114 lists \"s390/uv: Don't return 0 from make_hva_secure() if the operation was not successful\" (changelog.Debian of linux-source-6.12)")),
            (Release::stable(6, 15, 3), true, Some("3ec8a8330a1a"),
                Evidence::Mail("the linux-rolling-stable push of 2025-06-19 (6.15.3, id 66442720328) lists 3ec8a8330a1a, bd428b8c79ed and ab73b29efd36 together; the 6.15.3-rc1 review carries ab73b29efd36 (id 35146684875)")),
            (Release::v(6, 16), true, Some("3ec8a8330a1a"),
                Evidence::Mail("pushed to kvms390 next on 2025-05-28 for the 6.16 merge window (id 66578481401), Cc: stable (id 46862553323; the 6.14.y/6.15.y points that took it not established)")),
        ],
    },
    split_dirty_writeback: bool {
        doc: "`s390_wiggle_split_folio` writes a dirty folio of a file that writes back and tries the split again when `split_folio` answers `-EBUSY` (ab73b29efd36 \"s390/uv: Improve splitting of large folios that cannot be split while dirty\", RHEL-58218: iomap's `release_folio` refuses a dirty folio, and a writable PTE implies one, so the split never succeeded and the import retried for ever).",
        values: &[
            ValueSpec::new("false", "one split try; -EBUSY → -EAGAIN, and the caller looks the folio up again: a dirty iomap folio never splits (the unpack's livelock)"),
            ValueSpec::new("true", "up to two split tries; -EBUSY on a dirty file folio that writes back → filemap_write_and_wait_range over the folio, then again"),
        ],
        history: [
            (V5_7, false, None, Evidence::Source("no s390_wiggle_split_folio before 5cbe24350b7d; 6.12.118 gmap_make_secure: split_folio -EBUSY → -EAGAIN")),
            (Release::stable(6, 15, 3), true, Some("ab73b29efd36"),
                Evidence::Mail("\"[PATCH 6.15 471/780] s390/uv: Improve splitting of large folios that cannot be split while dirty\" in the 6.15.3-rc1 review, 2025-06-17 (ids 35146684875, 47760221118); 6.12.y not established (\"Not CCing stable\")")),
            (Release::v(6, 16), true, Some("ab73b29efd36"),
                Evidence::Mail("pushed to kvms390 next on 2025-05-28 for the 6.16 merge window (id 66578481401); the v1 posting 2025-05-16 (id 42578551865); in v6.16-rc1 [inferred: merge window]")),
        ],
    },
    migrate_batch: bool {
        doc: "`migrate_pages_batch` unmaps the folios of a batch first (migration entries) and then moves them: a move that fails with -EAGAIN is retried with the folio still unmapped, the leftovers undone after the last pass (`migrate_folio_undo_src`: `remove_migration_ptes(src, src)`); a sync mode first tries the list asynchronously (`NR_MAX_MIGRATE_ASYNC_RETRY` = 3 passes), then each folio alone in its mode (7 passes) (Huang Ying's \"migrate_pages: batch _unmap and _move\" series). Before, each folio is unmapped and moved in one go: a failed move restores its PTEs and the next of the 10 passes starts again from the unmap, with `force` (a sleeping folio lock in sync modes) from the fourth pass.",
        values: &[
            ValueSpec::new("false", "per folio unmap then move, a failed move restores the PTEs; 10 passes, force = pass > 2 (6.1.192 mm/migrate.c: migrate_pages_batch calls migrate_folio_unmap then migrate_folio_move at once; v5.x-era unmap_and_move alike)"),
            ValueSpec::new("true", "unmap phase, then move phase retried with the folio unmapped; sync modes: async batch of 3 passes, then per folio 7 passes (6.12.118 mm/migrate.c: migrate_pages_batch, migrate_pages_sync)"),
        ],
        history: [
            (V5_7, false, None,
                Evidence::Source("6.1.192 mm/migrate.c: migrate_pages_batch (migrate_folio_unmap immediately followed by migrate_folio_move, pass > 2 → force); the v5.x-era migrate_pages copy in the search corpus (unmap_and_move, pass < 10, pass > 2)")),
            (Release::v(6, 3), true, None,
                Evidence::Mail("\"migrate_pages: fix deadlock in batched migration\" (Huang Ying, 2023-03-03, commit fb3592c41a44, a patch mail in the search corpus) fixes the batching series during the v6.3-rc cycle: v6.3 inferred, tag containment not checked (weak); 6.12.118 read, 6.1.192 read (no batching)")),
        ],
    },
    anon_reuse: AnonReuse {
        doc: "How a write fault decides to map an anonymous page writable in place or to copy it: `do_swap_page` on a page from the swap cache, `do_wp_page` on a read-only anonymous PTE (mm/memory.c); read only in models that swap (`reclaim-anon`).",
        values: AnonReuse::VALUES,
        history: [
            (V5_7, AnonReuse::ReuseSwapPage, None,
                Evidence::Mail("reuse_swap_page in do_swap_page and do_wp_page before 09854ba94c6a, as the commits below describe what they replace; no v5.7 tree read (weak)")),
            (Release::v(5, 9), AnonReuse::PageCount, Some("09854ba94c6a"),
                Evidence::Mail("\"mm: do_wp_page() simplification\" (Linus Torvalds, 2020-08, during the v5.9 cycle); 53a05ad9f21d's message says swap-cache pages are always copied since it: v5.9 inferred, tag containment not checked (weak)")),
            (Release::v(5, 18), AnonReuse::FreeSwap, Some("53a05ad9f21d"),
                Evidence::Mail("\"mm: optimize do_wp_page() for exclusive pages in the swapcache\" and c145e0b47c77 \"mm: streamline COW logic in do_swap_page()\" (David Hildenbrand's \"COW fixes part 1\", the commits' mm/memory.c in the search corpus: try_to_free_swap under the trylock, should_try_to_free_swap); v5.18 inferred from the merge window, not checked (weak)")),
            (Release::v(5, 19), AnonReuse::AnonExclusive, Some("6c287605fd56"),
                Evidence::Source("6.1.192 and 6.12.118 mm/memory.c: do_swap_page (pte_swp_exclusive, should_try_to_free_swap) and do_wp_page (PageAnonExclusive → reuse) read; mm/rmap.c try_to_unmap_one (pte_swp_mkexclusive) read; the first release, v5.19 for \"mm: remember exclusively mapped anonymous pages with PG_anon_exclusive\", inferred (weak)")),
        ],
    },
    enxio_write_fault: bool {
        doc: "The PGM 0x3e handler (`vcpu_post_run_handle_fault`) falls through to the DAT-fault handling with FAULT_FLAG_WRITE when the import returns `-ENXIO` (d8dfda5af0be); before, only `-EINVAL` was acted on.",
        values: &[
            ValueSpec::new("false", "only -EINVAL (SIGSEGV) is acted on; every other result re-enters the guest"),
            ValueSpec::new("true", "-ENXIO: gmap_fault(FAULT_FLAG_WRITE), then re-enter the guest"),
        ],
        history: [
            (V5_7, false, None, Evidence::Source("6.1.192 fault.c do_non_secure_storage_access and 6.12.118 kvm-s390.c vcpu_post_run_handle_fault: only -EINVAL")),
            (Release::stable(6, 12, 114), true, Some("d8dfda5af0be"),
                Evidence::Changelog("ChangeLog-6.12.114 lists \"KVM: s390: pv: fix race when making a page secure\" (changelog.Debian of linux-source-6.12)")),
            (Release::v(6, 14), true, Some("d8dfda5af0be"),
                Evidence::Mail("the kvm-s390.c hunk of the v4 posting (id 47899252395), pulled for v6.14 final (id 47790123372)")),
        ],
    },
}

/// An error setting or reading a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchError {
    Unknown(String),
    BadValue {
        switch: String,
        value: String,
        expected: String,
    },
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::Unknown(s) => write!(
                f,
                "unknown switch `{s}` (known: {})",
                SWITCHES
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            SwitchError::BadValue {
                switch,
                value,
                expected,
            } => write!(f, "switch `{switch}` takes {expected}, not `{value}`"),
        }
    }
}

impl std::error::Error for SwitchError {}

/// The switch named `name`.
pub fn switch(name: &str) -> Result<&'static dyn AnySwitch, SwitchError> {
    SWITCHES
        .iter()
        .copied()
        .find(|s| s.name() == name)
        .ok_or_else(|| SwitchError::Unknown(name.to_string()))
}

impl Kernel {
    /// Sets one switch from its textual value (as `--set SWITCH=VALUE` writes it).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SwitchError> {
        switch(name)?.set(self, value)
    }

    /// One switch's value, as text.
    pub fn get(&self, name: &str) -> Result<&'static str, SwitchError> {
        Ok(switch(name)?.get(self))
    }

    /// Every switch with its value, in declaration order.
    pub fn values(&self) -> Vec<(&'static str, &'static str)> {
        SWITCHES.iter().map(|s| (s.name(), s.get(self))).collect()
    }

    /// Every switch as `name=value`, space-separated (for reports).
    pub fn describe(&self) -> String {
        self.values()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A doc string as one line: the lines of a doc comment joined by single spaces.
pub fn one_line(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every switch: its values are its type's, in index order; every value reads back as
    /// set; each history starts at v5.7, is ordered, and has a commit in 12 hex digits where
    /// it has one.
    #[test]
    fn every_switch_sets_gets_and_has_a_history() {
        let mut names = std::collections::HashSet::new();
        for s in SWITCHES {
            assert!(names.insert(s.name()), "{} declared twice", s.name());
            assert!(!one_line(s.doc()).is_empty(), "{} has no doc", s.name());
            let mut k = Kernel::at(&V5_7).expect("v5.7 resolves");
            for v in s.values() {
                assert!(
                    !one_line(v.doc).is_empty(),
                    "{}={} has no doc",
                    s.name(),
                    v.name
                );
                s.set(&mut k, v.name).expect("a declared value sets");
                assert_eq!(s.get(&k), v.name);
                assert_eq!(k.get(s.name()), Ok(v.name));
                assert_eq!(s.value_doc(&k).name, v.name);
            }
            assert!(s.set(&mut k, "no-such-value").is_err());
            let h = s.history();
            assert_eq!(h[0].from, V5_7, "{}", s.name());
            assert!(h.windows(2).all(|w| w[0].from < w[1].from), "{}", s.name());
            for b in &h {
                if let Some(c) = b.commit {
                    assert!(
                        c.len() == 12 && c.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{}: commit `{c}`",
                        s.name()
                    );
                }
                assert!(!b.evidence.text().is_empty(), "{}", s.name());
                assert!(
                    s.values()
                        .iter()
                        .any(|v| v.name == b.value && v.defect.is_none()),
                    "{}: a boundary sets the seeded defect {}",
                    s.name(),
                    b.value
                );
            }
        }
    }

    #[test]
    fn bools_take_on_off_and_digits() {
        let mut k = Kernel::at(&V5_7).expect("v5.7");
        for (text, want) in [("on", true), ("0", false), ("1", true), ("off", false)] {
            k.set("debug_vm", text).expect(text);
            assert_eq!(k.debug_vm, want);
        }
        assert!(matches!(k.set("nope", "1"), Err(SwitchError::Unknown(_))));
        assert!(matches!(
            k.set("debug_vm", "maybe"),
            Err(SwitchError::BadValue { .. })
        ));
    }
}
