//! `pvmm explain`: each thread of a scenario as the kernel calls it will make, with the
//! switches of the presets that change those paths — before any checking.

use crate::cli::{ExplainArgs, Format};
use crate::common::*;
use crate::style::Style;
use checker::text::escape;
use kernel::actor::ThreadOp;
use kernel::config::Kernel;
use kernel::World;
use report::json::{self, ExplainDoc, ExplainOp, ExplainPreset, ExplainSwitch, ExplainThread};

/// The value of a switch in a configuration, as `--set` writes it (read from
/// `Kernel::describe`, enum values in kebab case).
fn value(k: &Kernel, switch: &str) -> String {
    k.describe()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(n, _)| *n == switch)
        .map(|(_, v)| kebab(v))
        .unwrap_or_else(|| "?".into())
}

/// `CheckThenAdd` → `check-then-add`; `true` stays `true`.
fn kebab(v: &str) -> String {
    let mut o = String::new();
    for (i, c) in v.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                o.push('-');
            }
            o.push(c.to_ascii_lowercase());
        } else {
            o.push(c);
        }
    }
    o
}

const IMPORT_SWITCHES: &[(&str, &str)] = &[
    (
        "import_flow",
        "the shape of gmap_make_secure: lookup, page lock, PTE lock, reference",
    ),
    (
        "import_single_uv_call",
        "one __uv_call (busy → -EAGAIN) instead of uv_call looping while busy",
    ),
    (
        "freeze_plus_one",
        "the import freezes at expected_folio_refs + 1: the importer holds one reference (v6.14 on)",
    ),
    (
        "writeback_ebusy",
        "writeback during the import answers -EBUSY rather than -EAGAIN (v6.14 on)",
    ),
    (
        "wiggle_drains",
        "s390_wiggle_split_folio drains the LRU on all CPUs (v6.15)",
    ),
    (
        "import_holds_ptl",
        "gmap_make_secure holds the PTE lock across freeze and UVC",
    ),
    (
        "import_freezes",
        "make_secure_pte freezes the refcount at expected_page_refs (the lock-out)",
    ),
    (
        "export_before_import",
        "export before import when the mm runs more than one protected VM",
    ),
    (
        "debug_vm",
        "VM_BUG_ON in page_ref_unfreeze is live (CONFIG_DEBUG_VM)",
    ),
];

/// The operation as written in the scenario, its kernel call chain, and the switches that
/// change that path.
fn describe(op: &ThreadOp, w: &World) -> (String, String, Vec<(&'static str, &'static str)>) {
    let mm = |m: usize| w.mms.get(m).map(|x| x.name.clone()).unwrap_or_default();
    let file = |f: usize| w.files.get(f).map(|x| x.name.clone()).unwrap_or_default();
    let pipe = |p: usize| w.pipes.get(p).map(|x| x.name.clone()).unwrap_or_default();
    match *op {
        ThreadOp::GuestAccess { gfn, write } => (
            match write {
                Some(v) => format!("guest-access gfn={gfn} write={v:#04x}"),
                None => format!("guest-access gfn={gfn}"),
            },
            "sie64a → guest access → PGM 0x3e → do_non_secure_storage_access → gmap_convert_to_secure → gmap_make_secure (follow_page, lock_page, make_secure_pte: page_ref_freeze → UVC convert-to-secure → page_ref_unfreeze) → re-enter SIE (the v5.7 shape: import_flow changes the order of lookup, locks and reference)".into(),
            IMPORT_SWITCHES.to_vec(),
        ),
        ThreadOp::Unpack { gfn } => (
            format!("unpack gfn={gfn}"),
            "kvm_s390_pv_unpack → gmap_make_secure(UNPACK) → make_secure_pte → UVC unpack, retried on -EAGAIN".into(),
            IMPORT_SWITCHES.to_vec(),
        ),
        ThreadOp::Gup { mm: m, vpn, pin, fast, write } => {
            let name = match (pin, fast) {
                (true, true) => "pin_user_pages_fast",
                (true, false) => "pin_user_pages",
                (false, true) => "get_user_pages_fast",
                (false, false) => "get_user_pages",
            };
            let chain = if fast {
                format!("{name} → gup_pte_range → try_grab_compound_head{} (falls back to the slow path: follow_page_pte → try_grab_page, handle_mm_fault)", if pin { " → arch_make_page_accessible" } else { "" })
            } else {
                format!("{name} → follow_page_pte → try_grab_page{} (not present: handle_mm_fault, retry)", if pin { " → arch_make_page_accessible" } else { "" })
            };
            let mut sw = vec![("slow_grab", "how try_grab_page takes its reference: check-then-add (WARN, separate add) or one add-unless-zero")];
            if pin && fast {
                sw.push(("fast_pin_grab", "how the fast path adds GUP_PIN_COUNTING_BIAS"));
            }
            if pin {
                sw.push(("hook_on_foll_pin", "follow_page_pte / gup_pte_range call the hook for FOLL_PIN"));
            }
            (
                format!(
                    "gup mm={} vpn={vpn} flags={}{}{}",
                    mm(m),
                    if pin { "FOLL_PIN" } else { "FOLL_GET" },
                    if fast { " fast" } else { "" },
                    if write { " write" } else { "" }
                ),
                chain,
                sw,
            )
        }
        ThreadOp::Dma { to_device } => (
            format!("dma to_device={to_device}"),
            format!(
                "device {} of the page the thread holds",
                if to_device { "dma_read (the device reads)" } else { "dma_write (the device writes)" }
            ),
            vec![],
        ),
        ThreadOp::Put => (
            "put".into(),
            "put_page / unpin_user_page of the page the thread holds".into(),
            vec![],
        ),
        ThreadOp::Hook => (
            "hook".into(),
            "arch_make_page_accessible → uv_convert_from_secure (or uv_pin_shared) on the page the thread holds".into(),
            vec![],
        ),
        ThreadOp::FindGetPage { file: f, index } => (
            format!("find-get-page file={} index={index}", file(f)),
            "find_get_page → xas_load → page_cache_get_speculative (page_ref_add_unless) → xas_reload".into(),
            vec![],
        ),
        ThreadOp::SpliceRead { file: f, index, pipe: p } => (
            format!("splice-read file={} index={index} pipe={}", file(f), pipe(p)),
            "generic_file_splice_read → find_get_page → copy_page_to_iter_pipe (get_page, pipe buffer) → put_page".into(),
            vec![],
        ),
        ThreadOp::SpliceToSocket { pipe: p } => (
            format!("splice-to-socket pipe={}", pipe(p)),
            "splice_from_pipe_feed → page_cache_pipe_buf_confirm → pipe_to_sendpage → tcp_sendpage (get_page) → pipe_buf_release → NIC dma_read → skb free (put_page)".into(),
            vec![("splice_confirm_hook", "page_cache_pipe_buf_confirm calls arch_make_page_accessible (the 2020 patch)")],
        ),
        ThreadOp::Sendfile { file: f, index, pipe: p } => (
            format!("sendfile file={} index={index} pipe={}", file(f), pipe(p)),
            "do_splice_direct → generic_file_splice_read (find_get_page, copy_page_to_iter_pipe) → splice_from_pipe_feed (page_cache_pipe_buf_confirm, pipe_to_sendpage → tcp_sendpage, pipe_buf_release) → NIC dma_read → skb free".into(),
            vec![("splice_confirm_hook", "page_cache_pipe_buf_confirm calls arch_make_page_accessible (the 2020 patch)")],
        ),
        ThreadOp::Tee { from, to } => (
            format!("tee from={} to={}", pipe(from), pipe(to)),
            "link_pipe → generic_pipe_buf_get → try_get_page (WARN on a frozen count)".into(),
            vec![],
        ),
        ThreadOp::PipeRelease { pipe: p } => (
            format!("pipe-release pipe={}", pipe(p)),
            "free_pipe_info → pipe_buf_release → put_page, for every buffer".into(),
            vec![],
        ),
        ThreadOp::Writeback { file: f, index } => (
            format!("writeback file={} index={index}", file(f)),
            "write_one_page → lock_page → __test_set_page_writeback → arch_make_page_accessible → submit_bio (device reads the page) → end_page_writeback".into(),
            vec![
                ("end_writeback_takes_ref", "end_page_writeback takes a temporary reference around the clear and wake-up"),
                ("debug_vm", "VM_BUG_ON on the writeback hook's failure (CONFIG_DEBUG_VM)"),
            ],
        ),
        ThreadOp::KernelRead { file: f, index } => (
            format!("kernel-read file={} index={index}", file(f)),
            "generic_file_read_iter → find_get_page → copy_page (PGM 0x3d → do_secure_storage_access(KERNEL_FAULT): try_get_page, arch_make_page_accessible, put_page; BUG on failure) → put_page".into(),
            vec![("kernel_fault", "what the 0x3d handler does in kernel mode")],
        ),
        ThreadOp::UserAccess { mm: m, vpn, write } => (
            format!("user-access mm={} vpn={vpn}{}", mm(m), if write { " write" } else { "" }),
            "user load/store → PGM 0x3d → do_secure_storage_access(USER_FAULT) → arch_make_page_accessible, retry (SIGSEGV on failure)".into(),
            vec![("user_fault", "how the 0x3d handler finds the page in user mode")],
        ),
        ThreadOp::Zap { mm: m, vpn } => (
            format!("zap mm={} vpn={vpn}", mm(m)),
            "MADV_DONTNEED → zap_pte_range → ptep_get_and_clear_full (export at PTE clear: uv_convert_from_secure) → tlb_finish_mmu → put_page".into(),
            vec![("pte_clear_export_clears_arch1", "the export at PTE clear also clears PG_arch_1")],
        ),
        ThreadOp::LruAdd { file: f, index } => (
            format!("lru-add file={} index={index}", file(f)),
            "mark_page_accessed → find_get_page → lru_cache_add (the per-CPU batch takes a reference) → put_page".into(),
            vec![],
        ),
        ThreadOp::LruDrain => (
            "lru-drain".into(),
            "lru_add_drain → the per-CPU batch drops its references".into(),
            vec![],
        ),
        ThreadOp::DirectIo { mm: m, vpn, to_memory } => (
            format!("direct-io mm={} vpn={vpn} to_memory={to_memory}", mm(m)),
            format!(
                "bio_iov_iter_get_pages → iov_iter_get_pages (FOLL_GET) or iov_iter_extract_pages (FOLL_PIN) → get_user_pages_fast → device {} → put_page / unpin_user_page",
                if to_memory { "writes the page (read() from disk)" } else { "reads the page" }
            ),
            vec![
                ("dio_pins", "block direct I/O pins (FOLL_PIN, with the hook) instead of FOLL_GET"),
                ("slow_grab", "how the slow-path fallback takes its reference"),
                ("fast_pin_grab", "how the fast path adds GUP_PIN_COUNTING_BIAS"),
                ("hook_on_foll_pin", "gup_pte_range / follow_page_pte call the hook for FOLL_PIN"),
            ],
        ),
        ThreadOp::ZerocopySend { mm: m, vpn } => (
            format!("zerocopy-send mm={} vpn={vpn}", mm(m)),
            "MSG_ZEROCOPY: skb_zerocopy_iter_stream → iov_iter_get_pages2 (FOLL_GET, no hook) → NIC dma_read → skb free (put_page)".into(),
            vec![("slow_grab", "how the slow-path fallback takes its reference")],
        ),
        ThreadOp::UvBusy { count } => (
            format!("uv-busy count={count}"),
            format!("the Ultravisor answers the next {count} calls with busy (condition code 2)"),
            vec![(
                "import_single_uv_call",
                "busy makes the import return -EAGAIN instead of looping in uv_call",
            )],
        ),
        #[allow(unreachable_patterns)]
        _ => (
            format!("{op:?}"),
            "(an operation this pvmm explain does not describe yet: see docs/scenarios.md)".into(),
            vec![],
        ),
    }
}

pub fn run(a: ExplainArgs) -> u8 {
    let overrides = match parse_sets(&a.common.sets) {
        Ok(o) => o,
        Err(e) => return bad(e),
    };
    if let Err(e) = check_presets(&a.common.kernels) {
        return bad(e);
    }
    let sc = match checker::load(&a.scenario) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let presets = if a.common.kernels.is_empty() {
        sc.presets.clone()
    } else {
        a.common.kernels.clone()
    };
    let mut kernels = Vec::new();
    for p in &presets {
        match sc.kernel(p, &overrides) {
            Ok(k) => kernels.push((p.clone(), k)),
            Err(e) => return bad(e),
        }
    }
    let world = sc.model(kernels[0].1.clone()).world;
    let threads: Vec<ExplainThread> = sc
        .thread_ops()
        .iter()
        .enumerate()
        .map(|(tid, (name, ops))| ExplainThread {
            tid,
            name: name.clone(),
            ops: ops
                .iter()
                .map(|op| {
                    let (text, calls, sw) = describe(op, &world);
                    ExplainOp {
                        op: text,
                        calls,
                        switches: sw
                            .iter()
                            .map(|(s, effect)| ExplainSwitch {
                                switch: s.to_string(),
                                effect: effect.to_string(),
                                values: kernels
                                    .iter()
                                    .map(|(p, k)| (p.clone(), value(k, s)))
                                    .collect(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    if a.format == Format::Json {
        let doc = ExplainDoc {
            header: json::Header::new("explain"),
            scenario: sc.name.clone(),
            scenario_path: sc.path.display().to_string(),
            description: sc.description.clone(),
            presets: kernels
                .iter()
                .map(|(p, k)| ExplainPreset {
                    name: p.clone(),
                    kernel: k.describe(),
                })
                .collect(),
            threads,
        };
        print!("{}", json::to_string(&doc));
        return EXIT_OK;
    }
    let st = Style::stdout();
    println!(
        "{}",
        st.bold(&escape(&format!("{} ({})", sc.name, sc.path.display())))
    );
    for l in sc.description.lines() {
        println!("  {}", escape(l));
    }
    println!(
        "presets: {}{}",
        presets.join(", "),
        if sc.overrides.is_empty() && overrides.is_empty() {
            String::new()
        } else {
            format!(
                "   overrides: {}",
                sc.overrides
                    .iter()
                    .chain(&overrides)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    );
    for t in &threads {
        println!("\n{}", st.bold(&format!("T{} {}", t.tid, escape(&t.name))));
        for (i, op) in t.ops.iter().enumerate() {
            println!("  {}. {}", i + 1, st.bold(&escape(&op.op)));
            println!("     {}", escape(&op.calls));
            for s in &op.switches {
                let vals: Vec<String> = s.values.iter().map(|(p, v)| format!("{p} {v}")).collect();
                // Switches whose value differs between the presets shown are what the
                // comparison is about: mark them.
                let differs = s.values.iter().any(|(_, v)| *v != s.values[0].1);
                println!(
                    "     {} {}: {}   {}",
                    if differs {
                        st.yellow("switch*")
                    } else {
                        st.dim("switch ")
                    },
                    s.switch,
                    vals.join(" · "),
                    st.dim(&format!("({})", s.effect))
                );
            }
        }
    }
    println!(
        "\n{}",
        st.dim("(switch*: differs between the presets shown. Nothing checked yet: pvmm check <scenario> explores every interleaving of these threads)")
    );
    EXIT_OK
}
