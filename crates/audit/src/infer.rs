//! The tree's release and protocol switches, inferred from its code.
//!
//! The release comes from the top `Makefile` (`VERSION`, `PATCHLEVEL`, `SUBLEVEL`,
//! `EXTRAVERSION`). Each recognised switch of the model (`kernel::vocab::SWITCHES`) is decided
//! by the shape of the function its documentation cites: the tool reads that function's body
//! in the tree and matches it against the known variants, each a set of calls or tokens that
//! must appear and a set that must not. The first variant that matches gives the value, with
//! the `file:line` of the token that decided it; a function that matches no variant is
//! flagged (`no known variant`), and a function that is not in the tree leaves the switch
//! undecided (`not in this tree`). The inferred values are compared with the model's values
//! for the release (`Kernel::at`): a disagreement is a finding about the presets (for a stable
//! point release, usually a backport the history does not record).
//!
//! Abstraction: the match is textual, on one function's body (comments included, macros not
//! expanded); a refactor that moves the decisive call into a helper makes the function match
//! no variant, which is reported, never guessed.

use kernel::vocab::switches::switch;
use kernel::vocab::{Kernel, Release};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One variant of a switch's code: the value it means, the tokens that must all appear in the
/// function's body (the first one is the evidence), and tokens that must not appear.
struct Variant {
    value: &'static str,
    all: &'static [&'static str],
    none: &'static [&'static str],
}

/// How one switch is recognised: the files and functions (the first found is read) and its
/// variants, in the order they are tried.
struct Recognizer {
    switch: &'static str,
    files: &'static [&'static str],
    funcs: &'static [&'static str],
    variants: &'static [Variant],
}

const fn v(
    value: &'static str,
    all: &'static [&'static str],
    none: &'static [&'static str],
) -> Variant {
    Variant { value, all, none }
}

/// The recognisers: each cites where the switch's doc says the code is.
const RECOGNIZERS: &[Recognizer] = &[
    // mm/gup.c: try_grab_page (6.1) / try_grab_folio (6.12): check the count, then add;
    // or add unless zero (try_get_page, folio_try_get, page_ref_add_unless).
    Recognizer {
        switch: "slow_grab",
        files: &["mm/gup.c"],
        funcs: &["try_grab_page", "try_grab_folio"],
        variants: &[
            v("add-unless-zero", &["try_get_page("], &[]),
            v("add-unless-zero", &["folio_try_get("], &[]),
            v("add-unless-zero", &["page_ref_add_unless("], &[]),
            v(
                "check-then-add",
                &["ref_count(", "<= 0", "_ref_"],
                &["try_get_page(", "folio_try_get("],
            ),
        ],
    },
    // mm/gup.c: follow_page_pte calls the hook for FOLL_PIN (f28d43636d6f).
    Recognizer {
        switch: "hook_on_foll_pin",
        files: &["mm/gup.c"],
        funcs: &["follow_page_pte"],
        variants: &[
            v("true", &["arch_make_folio_accessible("], &[]),
            v("true", &["arch_make_page_accessible("], &[]),
            v(
                "false",
                &["FOLL_PIN"],
                &["arch_make_folio_accessible(", "arch_make_page_accessible("],
            ),
        ],
    },
    // fs/splice.c: page_cache_pipe_buf_confirm, the never-merged 2020 hook.
    Recognizer {
        switch: "splice_confirm_hook",
        files: &["fs/splice.c"],
        funcs: &["page_cache_pipe_buf_confirm"],
        variants: &[
            v("true", &["arch_make_page_accessible("], &[]),
            v("true", &["arch_make_folio_accessible("], &[]),
            v(
                "false",
                &["Uptodate("],
                &["arch_make_page_accessible(", "arch_make_folio_accessible("],
            ),
            v(
                "false",
                &["uptodate("],
                &["arch_make_page_accessible(", "arch_make_folio_accessible("],
            ),
        ],
    },
    // arch/s390/kernel/uv.c: gmap_make_secure (make_hva_secure since d8dfda5af0be).
    Recognizer {
        switch: "import_flow",
        files: &["arch/s390/kernel/uv.c", "arch/s390/kvm/gmap.c"],
        funcs: &["make_hva_secure", "gmap_make_secure"],
        variants: &[
            v("make-hva-secure", &["folio_walk_start(", "folio_get("], &[]),
            v("gfn-to-page", &["gfn_to_page("], &[]),
            v(
                "follow-page-lock-page",
                &["follow_page(", "lock_page(", "get_locked_pte("],
                &[],
            ),
            v(
                "pte-lock-trylock-ref",
                &["get_locked_pte(", "folio_trylock(", "folio_get("],
                &["follow_page("],
            ),
            v(
                "pte-lock-trylock",
                &["get_locked_pte(", "folio_trylock("],
                &["follow_page(", "folio_get("],
            ),
        ],
    },
    // arch/s390/kernel/uv.c: gmap_make_secure holds the PTE lock across the freeze and the UVC.
    Recognizer {
        switch: "import_holds_ptl",
        files: &["arch/s390/kernel/uv.c", "arch/s390/kvm/gmap.c"],
        funcs: &["make_hva_secure", "gmap_make_secure"],
        variants: &[
            v("true", &["get_locked_pte(", "pte_unmap_unlock("], &[]),
            v("true", &["folio_walk_start(", "folio_walk_end("], &[]),
        ],
    },
    // arch/s390/mm/fault.c: do_secure_storage_access, the kernel-mode branch.
    Recognizer {
        switch: "kernel_fault",
        files: &["arch/s390/mm/fault.c"],
        funcs: &["do_secure_storage_access"],
        variants: &[
            // The same fix as backported to 6.1.y (6.1.192 arch/s390/mm/fault.c:
            // do_secure_storage_access): the reference is still taken with
            // try_get_page, then the unconditional export and do_no_context.
            v(
                "try-get-page-export-always",
                &["try_get_page(", "uv_convert_from_secure(", "do_no_context("],
                &[],
            ),
            // "Add missing secure storage access fixups for donated memory": an
            // unconditional export, failure → the exception fix-up.
            v(
                "export-always",
                &["uv_convert_from_secure(", "do_no_context("],
                &[],
            ),
            v(
                "export-always",
                &["uv_convert_from_secure(", "fixup_exception("],
                &[],
            ),
            v(
                "folio-try-get",
                &["folio_try_get("],
                &["uv_convert_from_secure("],
            ),
            v(
                "try-get-page",
                &["try_get_page("],
                &["uv_convert_from_secure("],
            ),
        ],
    },
    // arch/s390/mm/fault.c: do_secure_storage_access, the user-mode branch.
    Recognizer {
        switch: "user_fault",
        files: &["arch/s390/mm/fault.c"],
        funcs: &["do_secure_storage_access"],
        variants: &[
            v("folio-walk", &["folio_walk_start("], &[]),
            v("follow-page-write", &["follow_page(", "FOLL_WRITE"], &[]),
        ],
    },
    // mm/gup.c: check_vma_flags → writable_file_mapping_allowed (8ac268436e6d).
    Recognizer {
        switch: "longterm_file_write_denied",
        files: &["mm/gup.c"],
        funcs: &["check_vma_flags"],
        variants: &[
            v("true", &["writable_file_mapping_allowed("], &[]),
            v(
                "false",
                &["FOLL_LONGTERM"],
                &["writable_file_mapping_allowed("],
            ),
            v("false", &["VM_"], &["writable_file_mapping_allowed("]),
        ],
    },
    // block/bio.c: __bio_iov_iter_get_pages extracts (FOLL_PIN) or gets (FOLL_GET) the pages.
    Recognizer {
        switch: "dio_pins",
        files: &["block/bio.c"],
        funcs: &["__bio_iov_iter_get_pages"],
        variants: &[
            v("true", &["iov_iter_extract_pages("], &[]),
            v(
                "false",
                &["iov_iter_get_pages"],
                &["iov_iter_extract_pages("],
            ),
        ],
    },
    // mm/filemap.c: folio_end_writeback takes a reference around the clear and wake-up.
    Recognizer {
        switch: "end_writeback_takes_ref",
        files: &["mm/filemap.c"],
        funcs: &["folio_end_writeback", "end_page_writeback"],
        variants: &[
            v("true", &["folio_get(", "folio_put("], &[]),
            v("true", &["get_page(", "put_page("], &[]),
            v("false", &["wake_up"], &["folio_get(", "get_page("]),
        ],
    },
    // io_uring/rsrc.c (6.1) or io_uring/memmap.c (6.12): io_pin_pages.
    Recognizer {
        switch: "io_uring_pin",
        files: &["io_uring/memmap.c", "io_uring/rsrc.c"],
        funcs: &["io_pin_pages"],
        variants: &[
            v("fast", &["pin_user_pages_fast("], &[]),
            v("slow-vma-check", &["pin_user_pages(", "vma"], &[]),
            v("slow", &["pin_user_pages("], &["vma"]),
        ],
    },
    // drivers/dma-buf/udmabuf.c: udmabuf_create pins the memfd's folios (v6.11).
    Recognizer {
        switch: "udmabuf_memfd_pin",
        files: &["drivers/dma-buf/udmabuf.c"],
        funcs: &["udmabuf_pin_folios", "udmabuf_create"],
        variants: &[
            v("true", &["memfd_pin_folios("], &[]),
            v("false", &["shmem_read_mapping_page("], &[]),
        ],
    },
    // mm/gup.c: the fast path's pin grab (6.12.118 try_grab_folio_fast, 6.1.192
    // try_grab_folio, v5.x try_grab_compound_head): one add-unless-zero of the whole bias, or
    // add-unless-zero of 1 then a plain add of the rest.
    Recognizer {
        switch: "fast_pin_grab",
        files: &["mm/gup.c"],
        funcs: &[
            "try_grab_folio_fast",
            "try_grab_folio",
            "try_grab_compound_head",
        ],
        variants: &[
            v(
                "add-unless-zero-then-add",
                &["GUP_PIN_COUNTING_BIAS - 1"],
                &[],
            ),
            v(
                "one-add-unless-zero",
                &["* GUP_PIN_COUNTING_BIAS"],
                &["GUP_PIN_COUNTING_BIAS - 1"],
            ),
        ],
    },
    // mm/gup.c: gup_fast_pte_range (6.12) / gup_pte_range (6.1): a failed speculative grab
    // ends the walk. `false` is a seeded defect: no kernel ignores the failure.
    Recognizer {
        switch: "gup_fast_grab_checked",
        files: &["mm/gup.c"],
        funcs: &["gup_fast_pte_range", "gup_pte_range"],
        variants: &[
            v("true", &["if (!folio)", "goto pte_unmap"], &[]),
            v("true", &["if (!head)", "goto pte_unmap"], &[]),
        ],
    },
    // mm/gup.c: gup_fast_pte_range / gup_pte_range: before the 2025-09 fix the FOLL_PIN hook's
    // error is stored in the `ret` the function returns, which gup_fast_pmd_range reads as
    // "carry on"; the fixed form does not return the hook's error that way.
    Recognizer {
        switch: "gup_fast_hook_fail_stops",
        files: &["mm/gup.c"],
        funcs: &["gup_fast_pte_range", "gup_pte_range"],
        variants: &[
            v(
                "false",
                &["ret = arch_make_folio_accessible(", "return ret;"],
                &[],
            ),
            v(
                "false",
                &["ret = arch_make_page_accessible(", "return ret;"],
                &[],
            ),
            v(
                "true",
                &["arch_make_folio_accessible("],
                &["ret = arch_make_folio_accessible("],
            ),
            v(
                "true",
                &["arch_make_page_accessible("],
                &["ret = arch_make_page_accessible("],
            ),
        ],
    },
    // arch/s390/kernel/uv.c: make_folio_secure (6.1.192, 6.12.118) / make_secure_pte (v5.7):
    // the freeze at the expected count. `false` is a seeded defect (no kernel skips it).
    Recognizer {
        switch: "import_freezes",
        files: &["arch/s390/kernel/uv.c"],
        funcs: &[
            "make_folio_secure",
            "__make_folio_secure",
            "make_secure_pte",
        ],
        variants: &[
            v("true", &["folio_ref_freeze("], &[]),
            v("true", &["page_ref_freeze("], &[]),
        ],
    },
    // The same function: one __uv_call (busy → -EAGAIN, f0a1a0615a6f), or uv_call's loop.
    Recognizer {
        switch: "import_single_uv_call",
        files: &["arch/s390/kernel/uv.c"],
        funcs: &[
            "make_folio_secure",
            "__make_folio_secure",
            "make_secure_pte",
        ],
        variants: &[
            v("true", &["__uv_call("], &[]),
            v("false", &["uv_call("], &["__uv_call("]),
        ],
    },
    // The same function: the freeze at expected_folio_refs + 1 (5cbe24350b7d) or at expected.
    Recognizer {
        switch: "freeze_plus_one",
        files: &["arch/s390/kernel/uv.c"],
        funcs: &[
            "make_folio_secure",
            "__make_folio_secure",
            "make_secure_pte",
        ],
        variants: &[
            v("true", &["_refs(folio) + 1"], &[]),
            v("false", &["expected = expected_folio_refs(folio);"], &[]),
            v("false", &["expected = expected_page_refs(page);"], &[]),
        ],
    },
    // The same function: PG_writeback answers -EBUSY (5cbe24350b7d) or -EAGAIN. The match
    // is on the test and the return on the next line (tab-indented, as the kernel writes it).
    Recognizer {
        switch: "writeback_ebusy",
        files: &["arch/s390/kernel/uv.c"],
        funcs: &[
            "make_folio_secure",
            "__make_folio_secure",
            "make_secure_pte",
        ],
        variants: &[
            v("true", &["writeback(folio))\n\t\treturn -EBUSY"], &[]),
            v("false", &["writeback(folio))\n\t\treturn -EAGAIN"], &[]),
            v("false", &["PageWriteback(page))\n\t\treturn -EAGAIN"], &[]),
        ],
    },
    // arch/s390/kernel/uv.c: gmap_make_secure / make_hva_secure: should_export_before_import
    // (72b1daff2671).
    Recognizer {
        switch: "export_before_import",
        files: &["arch/s390/kernel/uv.c", "arch/s390/kvm/gmap.c"],
        funcs: &["make_hva_secure", "gmap_make_secure"],
        variants: &[
            v("true", &["should_export_before_import("], &[]),
            v(
                "false",
                &["get_locked_pte("],
                &["should_export_before_import("],
            ),
            v(
                "false",
                &["folio_walk_start("],
                &["should_export_before_import("],
            ),
        ],
    },
    // arch/s390/kernel/uv.c: s390_wiggle_split_folio (kvm_s390_wiggle_split_folio in
    // v6.14-rc): lru_add_drain_all, or the writeback wait only; a tree without the wiggle
    // (gmap_make_secure found instead, with its own drain ladder) has none.
    Recognizer {
        switch: "wiggle_drains",
        files: &["arch/s390/kernel/uv.c", "arch/s390/kvm/gmap.c"],
        funcs: &[
            "s390_wiggle_split_folio",
            "kvm_s390_wiggle_split_folio",
            "gmap_make_secure",
        ],
        variants: &[
            // No wiggle: gmap_make_secure's own -EBUSY ladder (lru_add_drain, then
            // lru_add_drain_all) is part of import_flow; the doc's `false` says "or there is
            // no wiggle". Only gmap_make_secure has these variables (6.12.118, 6.1.192).
            v("false", &["drain_lru_called"], &[]),
            v("false", &["local_drain"], &[]),
            v("true", &["lru_add_drain_all("], &[]),
            v("false", &["folio_wait_writeback("], &["lru_add_drain_all("]),
        ],
    },
    // arch/s390/include/asm/pgtable.h: ptep_get_and_clear_full's export: 6.1.192
    // uv_convert_owned_from_secure, 6.12.118 uv_convert_from_secure_pte (whose helper,
    // uv_convert_from_secure_folio, clears PG_arch_1 on success: the helper is not read).
    Recognizer {
        switch: "pte_clear_export_clears_arch1",
        files: &["arch/s390/include/asm/pgtable.h"],
        funcs: &["ptep_get_and_clear_full", "ptep_get_and_clear"],
        variants: &[
            v("true", &["uv_convert_owned_from_secure("], &[]),
            v("true", &["uv_convert_from_secure_pte("], &[]),
            v(
                "false",
                &["uv_convert_from_secure("],
                &[
                    "uv_convert_owned_from_secure(",
                    "uv_convert_from_secure_pte(",
                ],
            ),
        ],
    },
    // mm/vmscan.c: shrink_folio_list (shrink_page_list before v6.0): folio_maybe_dma_pinned.
    Recognizer {
        switch: "reclaim_skips_pinned",
        files: &["mm/vmscan.c"],
        funcs: &["shrink_folio_list", "shrink_page_list"],
        variants: &[
            // The check after the unmap (an anonymous folio's swap path has another).
            v(
                "true",
                &["folio_maybe_dma_pinned(folio))\n\t\t\tgoto activate_locked"],
                &[],
            ),
            v(
                "true",
                &["page_maybe_dma_pinned(page))\n\t\t\tgoto activate_locked"],
                &[],
            ),
            v(
                "false",
                &["try_to_unmap("],
                &[
                    "folio_maybe_dma_pinned(folio))\n\t\t\tgoto activate_locked",
                    "page_maybe_dma_pinned(page))\n\t\t\tgoto activate_locked",
                ],
            ),
        ],
    },
    // mm/rmap.c: try_to_unmap_one: a young check (ptep_clear_flush_young_notify) before the
    // clear, or the clear whatever the young bit.
    Recognizer {
        switch: "unmap_checks_young",
        files: &["mm/rmap.c"],
        funcs: &["try_to_unmap_one"],
        variants: &[
            v("true", &["ptep_clear_flush_young_notify("], &[]),
            v(
                "false",
                &["ptep_clear_flush("],
                &["ptep_clear_flush_young_notify("],
            ),
            v(
                "false",
                &["ptep_get_and_clear("],
                &["ptep_clear_flush_young_notify("],
            ),
        ],
    },
    // mm/vmscan.c: pageout writes a file-system folio through ->writepage, or leaves file
    // folios to the flusher.
    Recognizer {
        switch: "reclaim_fs_writeout",
        files: &["mm/vmscan.c"],
        funcs: &["pageout"],
        variants: &[
            v("true", &["->writepage("], &[]),
            v("false", &["shmem_writeout("], &["->writepage("]),
            v("false", &["swap_writeout("], &["->writepage("]),
        ],
    },
    // mm/migrate.c: migrate_pages_batch unmaps the batch, flushes, then moves (v6.3 batching:
    // `try_to_unmap_flush` between the phases), or unmaps and moves each folio in one go with
    // `force` from the fourth pass (6.1.192).
    Recognizer {
        switch: "migrate_batch",
        files: &["mm/migrate.c"],
        funcs: &["migrate_pages_batch"],
        variants: &[
            v("true", &["try_to_unmap_flush("], &[]),
            v("false", &["pass > 2"], &["try_to_unmap_flush("]),
        ],
    },
    // mm/memory.c: do_wp_page on an anonymous page: reuse an exclusive page (6c287605fd56),
    // free the swap cache then check the count (53a05ad9f21d), reuse at page_count 1
    // (09854ba94c6a), or reuse_swap_page.
    Recognizer {
        switch: "anon_reuse",
        files: &["mm/memory.c"],
        funcs: &["do_wp_page"],
        variants: &[
            v("anon-exclusive", &["PageAnonExclusive("], &[]),
            v("free-swap", &["try_to_free_swap("], &["PageAnonExclusive("]),
            v(
                "reuse-swap-page",
                &["reuse_swap_page("],
                &["PageAnonExclusive("],
            ),
            v(
                "page-count",
                &["page_count(page) != 1"],
                &[
                    "PageAnonExclusive(",
                    "try_to_free_swap(",
                    "reuse_swap_page(",
                ],
            ),
        ],
    },
    // arch/s390/kvm/kvm-s390.c: vcpu_post_run_handle_fault (d8dfda5af0be) acts on -ENXIO
    // with a write fault, or only on -EINVAL.
    Recognizer {
        switch: "enxio_write_fault",
        files: &["arch/s390/kvm/kvm-s390.c"],
        funcs: &["vcpu_post_run_handle_fault"],
        variants: &[
            v("true", &["-ENXIO", "FAULT_FLAG_WRITE"], &[]),
            v("false", &["-EINVAL"], &["-ENXIO"]),
        ],
    },
];

/// Why a switch is not recognised from a tree's code: the switches no recogniser decides.
/// A switch of the model that is in neither table was added after them: it is listed as
/// such, never guessed.
const NOT_RECOGNISABLE: &[(&str, &str)] = &[
    (
        "debug_vm",
        "CONFIG_DEBUG_VM is a build configuration (.config), not code: a source tree does not decide it",
    ),
    (
        "wiggle_split_eagain",
        "decided by make_hva_secure's handling of s390_wiggle_split_folio's 0 (3ec8a8330a1a); \
         the fixed and unfixed forms are in neither Debian tree (both predate make_hva_secure \
         or revert it) and were not read, so no variant is written down to match",
    ),
];

/// One switch as the tree's code decides it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InferredSwitch {
    pub switch: String,
    /// The value the code means; `None`: the function is not in the tree or matches no variant.
    pub value: Option<String>,
    /// `file:line: token` that decided it, or where the unmatched function is.
    pub evidence: String,
    /// `inferred`, `no known variant`, `not in this tree`.
    pub status: String,
    /// The model's value for the tree's release (`Kernel::at`), when the release is known.
    pub preset: Option<String>,
    /// The inferred value differs from the model's value for the release.
    pub disagrees: bool,
    /// The values of the model's presets named after this release (`debian-6.12.118`,
    /// `v6.1.192`): (preset, value).
    #[serde(default)]
    pub named_presets: Vec<(String, String)>,
}

/// What the tree's code says about its release and switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Inference {
    /// `6.12.118` from the Makefile (with EXTRAVERSION appended as written).
    pub release: Option<String>,
    pub release_evidence: String,
    /// Why the model's values for the release are not available (an unparsable or too old
    /// release).
    pub preset_error: Option<String>,
    pub switches: Vec<InferredSwitch>,
    /// The switches of the model that no recogniser decides (they keep the preset's value).
    pub not_recognised: Vec<String>,
    /// Why each of `not_recognised` is not decided from code.
    #[serde(default)]
    pub not_recognised_why: Vec<(String, String)>,
}

impl Inference {
    pub fn disagreements(&self) -> usize {
        self.switches.iter().filter(|s| s.disagrees).count()
    }
    pub fn unknown_variants(&self) -> usize {
        self.switches
            .iter()
            .filter(|s| s.status == "no known variant")
            .count()
    }
}

/// The release the top Makefile of `root` declares, with the lines that say it.
pub fn makefile_release(root: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(root.join("Makefile")).ok()?;
    let mut parts: [Option<(String, usize)>; 4] = [None, None, None, None];
    let keys = ["VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"];
    for (i, line) in text.lines().enumerate().take(40) {
        for (k, key) in keys.iter().enumerate() {
            if let Some(rest) = line.strip_prefix(key) {
                if let Some(val) = rest.trim_start().strip_prefix('=') {
                    if parts[k].is_none() {
                        parts[k] = Some((val.trim().to_string(), i + 1));
                    }
                }
            }
        }
    }
    let (ver, l0) = parts[0].clone()?;
    let (pl, _) = parts[1].clone()?;
    let mut r = format!("{ver}.{pl}");
    let mut last = parts[1].as_ref().map(|p| p.1).unwrap_or(l0);
    if let Some((sub, l)) = &parts[2] {
        if !sub.is_empty() && sub != "0" {
            r.push('.');
            r.push_str(sub);
        }
        last = *l;
    }
    if let Some((extra, l)) = &parts[3] {
        r.push_str(extra);
        last = last.max(*l);
    }
    Some((r, format!("Makefile:{l0}-{last}")))
}

/// The body of function `name` in `src` (a definition: its name at the start of a line's
/// declarator, then `(`, not a prototype), with the line its `{` is on; `None` if not there.
fn function_body<'s>(src: &'s str, name: &str) -> Option<(&'s str, usize)> {
    let bytes = src.as_bytes();
    let mut from = 0;
    while let Some(k) = src[from..].find(name) {
        let at = from + k;
        from = at + name.len();
        let before_ok =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let after = &src[from..];
        if !before_ok || !after.trim_start_matches([' ', '\t']).starts_with('(') {
            continue;
        }
        // A definition starts its line (type and name at column 0, or the name on its own).
        let line_start = src[..at].rfind('\n').map_or(0, |p| p + 1);
        let head = &src[line_start..at];
        // Not in a comment (`/* outcome of pageout() */`), an expression or a call.
        if head.starts_with([' ', '\t', '*'])
            || head.contains('=')
            || head.contains('(')
            || head.contains("/*")
            || head.contains("//")
        {
            continue;
        }
        // The parameter list, then `{` before any `;`.
        let open = from + after.find('(')?;
        let mut depth = 0usize;
        let mut close = None;
        for (q, &c) in bytes.iter().enumerate().skip(open) {
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(q);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close = close?;
        let rest = &src[close + 1..];
        let brace = rest.find(['{', ';'])?;
        if rest.as_bytes()[brace] != b'{' {
            continue;
        }
        let start = close + 1 + brace;
        let mut depth = 0usize;
        for (q, &c) in bytes.iter().enumerate().skip(start) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        let line = src[..start].matches('\n').count() + 1;
                        return Some((&src[start..=q], line));
                    }
                }
                _ => {}
            }
        }
        return None;
    }
    None
}

/// Infers the release and the switches of the tree at `root`.
pub fn infer(root: &Path) -> Inference {
    let mut inf = Inference::default();
    let release = makefile_release(root);
    let mut preset: Option<Kernel> = None;
    let mut named: Vec<(String, Kernel)> = Vec::new();
    if let Some((r, ev)) = &release {
        inf.release = Some(r.clone());
        inf.release_evidence = ev.clone();
        match Release::parse(r).and_then(|rel| Kernel::at(&rel)) {
            Ok(k) => preset = Some(k),
            Err(e) => inf.preset_error = Some(e.to_string()),
        }
        for p in kernel::vocab::PRESETS {
            let base = p.name.rsplit('-').next().unwrap_or(p.name);
            if base.trim_start_matches('v') == r.as_str() {
                if let Some(k) = kernel::vocab::preset(p.name) {
                    named.push((p.name.to_string(), k));
                }
            }
        }
    } else {
        inf.release_evidence = "Makefile: no VERSION/PATCHLEVEL".into();
    }
    for rec in RECOGNIZERS {
        // A recogniser for a switch the model does not declare is a bug of this table.
        let Ok(sw) = switch(rec.switch) else {
            continue;
        };
        let mut found: Option<(String, &str, usize, &str)> = None;
        'files: for f in rec.files {
            let Ok(src) = std::fs::read_to_string(root.join(f)) else {
                continue;
            };
            for func in rec.funcs {
                if let Some((body, line)) = function_body(&src, func) {
                    // Keep the body's text: owned, since `src` ends here.
                    found = Some((body.to_string(), f, line, func));
                    break 'files;
                }
            }
        }
        let preset_value = preset.as_ref().and_then(|k| k.get(rec.switch).ok());
        let named_presets: Vec<(String, String)> = named
            .iter()
            .filter_map(|(n, k)| k.get(rec.switch).ok().map(|v| (n.clone(), v.to_string())))
            .collect();
        let Some((body, file, line, func)) = found else {
            inf.switches.push(InferredSwitch {
                switch: rec.switch.into(),
                value: None,
                evidence: format!("{} in {}", rec.funcs.join(" / "), rec.files.join(" / ")),
                status: "not in this tree".into(),
                preset: preset_value.map(String::from),
                disagrees: false,
                named_presets: named_presets.clone(),
            });
            continue;
        };
        let matched = rec.variants.iter().find(|v| {
            v.all.iter().all(|t| body.contains(t)) && !v.none.iter().any(|t| body.contains(t))
        });
        let s = match matched {
            Some(var) => {
                debug_assert!(sw.values().iter().any(|x| x.name == var.value));
                let tok = var.all[0];
                let at = body.find(tok).unwrap_or(0);
                let tline = line + body[..at].matches('\n').count();
                let text = body[at..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .chars()
                    .take(80)
                    .collect::<String>();
                InferredSwitch {
                    switch: rec.switch.into(),
                    value: Some(var.value.into()),
                    evidence: format!("{file}:{tline}: {func}(): {text}"),
                    status: "inferred".into(),
                    preset: preset_value.map(String::from),
                    disagrees: preset_value.is_some_and(|p| p != var.value),
                    named_presets: named_presets.clone(),
                }
            }
            None => InferredSwitch {
                switch: rec.switch.into(),
                value: None,
                evidence: format!(
                    "{file}:{line}: {func}() matches none of: {}",
                    rec.variants
                        .iter()
                        .map(|v| v.value)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                status: "no known variant".into(),
                preset: preset_value.map(String::from),
                disagrees: false,
                named_presets,
            },
        };
        inf.switches.push(s);
    }
    inf.not_recognised = kernel::vocab::SWITCHES
        .iter()
        .map(|s| s.name().to_string())
        .filter(|n| !RECOGNIZERS.iter().any(|r| r.switch == n))
        .collect();
    inf.not_recognised_why = inf
        .not_recognised
        .iter()
        .map(|n| {
            let why = NOT_RECOGNISABLE
                .iter()
                .find(|(s, _)| s == n)
                .map(|(_, w)| w.to_string())
                .unwrap_or_else(|| {
                    "no recogniser: a switch added to the model after the recognisers were \
                     written"
                        .to_string()
                });
            (n.clone(), why)
        })
        .collect();
    inf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recognizer_names_a_declared_switch_and_its_values() {
        for r in RECOGNIZERS {
            let sw = switch(r.switch).unwrap_or_else(|_| panic!("{} is no switch", r.switch));
            for v in r.variants {
                assert!(
                    sw.values().iter().any(|x| x.name == v.value),
                    "{}: {} is not a value",
                    r.switch,
                    v.value
                );
            }
        }
    }

    #[test]
    fn every_reason_names_a_declared_switch_without_a_recogniser() {
        for (n, _) in NOT_RECOGNISABLE {
            assert!(switch(n).is_ok(), "{n} is no switch");
            assert!(
                !RECOGNIZERS.iter().any(|r| r.switch == *n),
                "{n} has a recogniser and a reason"
            );
        }
    }

    #[test]
    fn function_bodies_are_found_and_prototypes_skipped() {
        let src = "int f(int a);\nstatic int g(void)\n{\n\tf(1);\n}\nint f(int a)\n{\n\treturn a <= 0;\n}\n";
        let (b, line) = function_body(src, "f").expect("f");
        assert_eq!(line, 7);
        assert!(b.contains("<= 0"));
        assert!(function_body(src, "h").is_none());
    }
}
