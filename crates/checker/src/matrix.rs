//! The matrix: every I/O path against every kernel preset, each cell computed by the checker.
//!
//! A path is a host thread (a kernel entry point doing I/O on the guest's page) run against
//! the vCPU whose touch imports that page, in the importer's own mm and — where the path can
//! reach the page through another process — through a second mapping of the guest's backing
//! file. Each (path, preset) cell is an exhaustive check; its scenario is built from the text
//! below and parsed like any scenario file.

use crate::scenario::{parse, Scenario};
use crate::{check, RunOptions, Verdict};
use explore::{format_schedule, Severity};
use std::fmt::Write as _;
use std::path::Path;

/// Where the host thread reaches the page.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// QEMU's own (protected) mm, or no mapping at all (page cache, pipes).
    Own,
    /// A second process that maps the guest's backing file.
    Second,
}

/// Memory behind the guest frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A MAP_SHARED file (memory-backend-file), also in the page cache.
    File,
    /// Anonymous memory (QEMU's default guest RAM).
    Anon,
}

/// One I/O path of the matrix.
pub struct Path_ {
    pub id: &'static str,
    pub title: &'static str,
    /// The kernel functions the host thread goes through (file: function).
    pub kernel: &'static str,
    pub backing: Backing,
    /// The host thread's operations; `{mm}` is replaced by the mm of the variant.
    pub ops: &'static str,
    /// Extra vCPU operations after the write (e.g. a read-back).
    pub vcpu_extra: &'static str,
    pub variants: &'static [Via],
    /// The guest shared the frame (I/O buffers are shared with the host).
    pub shared: bool,
    /// The second mm maps the file read-only.
    pub second_read_only: bool,
}

const BOTH: &[Via] = &[Via::Own, Via::Second];
const OWN: &[Via] = &[Via::Own];
const SECOND: &[Via] = &[Via::Second];

/// The paths, in table order.
pub const PATHS: &[Path_] = &[
    Path_ { id: "gup-slow-get-io", title: "GUP slow FOLL_GET, then device I/O", kernel: "mm/gup.c: __get_user_pages > follow_page_pte > try_grab_page (no hook for FOLL_GET)", backing: Backing::File, ops: r#"{ op = "gup", mm = "{mm}", vpn = 0, flags = "FOLL_GET" }, { op = "dma" }, { op = "put" }"#, vcpu_extra: "", variants: BOTH, shared: false, second_read_only: false },
    Path_ { id: "gup-slow-get-hold", title: "GUP slow FOLL_GET held and dropped, no I/O (D1)", kernel: "mm/gup.c: follow_page_pte > try_grab_page > try_get_page", backing: Backing::File, ops: r#"{ op = "gup", mm = "{mm}", vpn = 0, flags = "FOLL_GET" }, { op = "put" }"#, vcpu_extra: "", variants: BOTH, shared: false, second_read_only: false },
    Path_ { id: "gup-slow-pin-io", title: "GUP slow FOLL_PIN, then device I/O", kernel: "mm/gup.c: follow_page_pte > try_grab_page, arch_make_page_accessible under the PTE lock", backing: Backing::File, ops: r#"{ op = "gup", mm = "{mm}", vpn = 0, flags = "FOLL_PIN" }, { op = "dma" }, { op = "put" }"#, vcpu_extra: "", variants: BOTH, shared: false, second_read_only: false },
    Path_ { id: "gup-fast-get-io", title: "GUP fast FOLL_GET, then device I/O", kernel: "mm/gup.c: gup_pte_range > try_grab_compound_head, PTE re-check (no hook)", backing: Backing::File, ops: r#"{ op = "gup", mm = "{mm}", vpn = 0, flags = "FOLL_GET", fast = true }, { op = "dma" }, { op = "put" }"#, vcpu_extra: "", variants: BOTH, shared: false, second_read_only: false },
    Path_ { id: "gup-fast-pin-io", title: "GUP fast FOLL_PIN, then device I/O", kernel: "mm/gup.c: gup_pte_range > try_grab_compound_head, PTE re-check, arch_make_page_accessible", backing: Backing::File, ops: r#"{ op = "gup", mm = "{mm}", vpn = 0, flags = "FOLL_PIN", fast = true }, { op = "dma" }, { op = "put" }"#, vcpu_extra: "", variants: BOTH, shared: false, second_read_only: false },
    Path_ { id: "direct-io", title: "block direct I/O (FOLL_GET before v6.5, FOLL_PIN after)", kernel: "block/bio.c: bio_iov_iter_get_pages > iov_iter_get_pages | iov_iter_extract_pages > get/pin_user_pages_fast", backing: Backing::File, ops: r#"{ op = "direct-io", mm = "{mm}", vpn = 0, to_memory = true }"#, vcpu_extra: "", variants: BOTH, shared: true, second_read_only: false },
    Path_ { id: "zerocopy-send", title: "MSG_ZEROCOPY send", kernel: "net/core/datagram.c: __zerocopy_sg_from_iter > iov_iter_get_pages2 (FOLL_GET, no hook)", backing: Backing::File, ops: r#"{ op = "zerocopy-send", mm = "{mm}", vpn = 0 }"#, vcpu_extra: "", variants: BOTH, shared: true, second_read_only: false },
    Path_ { id: "read-copy", title: "read() of the backing file (CPU copy, 0x3d kernel fix-up)", kernel: "mm/filemap.c: find_get_page; copy_page_to_iter; arch/s390/mm/fault.c: do_secure_storage_access (KERNEL_FAULT)", backing: Backing::File, ops: r#"{ op = "kernel-read", file = "guest.img", index = 0 }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "user-access", title: "user load through a mapping (0x3d user fix-up)", kernel: "arch/s390/mm/fault.c: do_secure_storage_access (USER_FAULT): follow_page(FOLL_WRITE|FOLL_GET) | folio_walk_start, hook", backing: Backing::File, ops: r#"{ op = "user-access", mm = "{mm}", vpn = 0 }"#, vcpu_extra: "", variants: BOTH, shared: false, second_read_only: false },
    Path_ { id: "user-access-ro", title: "user load through a read-only second mapping", kernel: "arch/s390/mm/fault.c: do_secure_storage_access (USER_FAULT) with a read-only PTE", backing: Backing::File, ops: r#"{ op = "user-access", mm = "{mm}", vpn = 0 }"#, vcpu_extra: "", variants: SECOND, shared: false, second_read_only: true },
    Path_ { id: "sendfile", title: "sendfile to a TCP socket (zero-copy, D3)", kernel: "fs/splice.c: generic_file_splice_read > copy_page_to_iter_pipe; splice_from_pipe_feed > page_cache_pipe_buf_confirm > pipe_to_sendpage > tcp_sendpage; NIC DMA", backing: Backing::File, ops: r#"{ op = "sendfile", file = "guest.img", index = 0, pipe = "p" }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "splice-tee", title: "splice into a pipe, tee to another, that one to a socket", kernel: "fs/splice.c: copy_page_to_iter_pipe; link_pipe > generic_pipe_buf_get > try_get_page; splice_from_pipe_feed", backing: Backing::File, ops: r#"{ op = "splice-read", file = "guest.img", index = 0, pipe = "p" }, { op = "tee", from = "p", to = "q" }, { op = "pipe-release", pipe = "p" }, { op = "splice-to-socket", pipe = "q" }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "writeback", title: "writeback of the shared backing file", kernel: "mm/page-writeback.c: __test_set_page_writeback > arch_make_page_accessible; end_page_writeback", backing: Backing::File, ops: r#"{ op = "writeback", file = "guest.img", index = 0 }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "madvise-dontneed", title: "MADV_DONTNEED of guest RAM (the page is freed and reusable)", kernel: "mm/memory.c: zap_pte_range > ptep_get_and_clear_full (export in a protected mm) > page_remove_rmap > tlb put", backing: Backing::Anon, ops: r#"{ op = "zap", mm = "{mm}", vpn = 0 }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "madvise-dontneed-busy", title: "MADV_DONTNEED while the UV answers busy", kernel: "uv_call / __uv_call busy → -EAGAIN → writeback wait; zap_pte_range", backing: Backing::Anon, ops: r#"{ op = "uv-busy" }, { op = "zap", mm = "{mm}", vpn = 0 }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "zap-second", title: "munmap of the file page in another process", kernel: "mm/memory.c: zap_pte_range in an unprotected mm (no export)", backing: Backing::File, ops: r#"{ op = "zap", mm = "{mm}", vpn = 0 }"#, vcpu_extra: "", variants: SECOND, shared: false, second_read_only: false },
    Path_ { id: "lru-batch", title: "page on a per-CPU LRU batch (extra reference until drained)", kernel: "mm/swap.c: lru_cache_add / mark_page_accessed; gmap_make_secure's -EBUSY drain ladder", backing: Backing::File, ops: r#"{ op = "lru-add", file = "guest.img", index = 0 }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "anon-fault-lru", title: "guest RAM faulted in (the LRU batch holds a reference)", kernel: "mm/memory.c: do_anonymous_page > lru_cache_add; gmap_make_secure -EBUSY > lru_add_drain", backing: Backing::Anon, ops: r#"{ op = "lru-drain" }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "long-term-pin", title: "long-term FOLL_PIN that is never released", kernel: "mm/gup.c: pin_user_pages (FOLL_LONGTERM); the import can never freeze", backing: Backing::File, ops: r#"{ op = "gup", mm = "{mm}", vpn = 0, flags = "FOLL_PIN" }, { op = "dma" }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "uv-busy", title: "the UV answers busy during the import", kernel: "arch/s390/kernel/uv.c: uv_call loops | __uv_call → -EAGAIN (f0a1a0615a6f)", backing: Backing::File, ops: r#"{ op = "uv-busy", count = 2 }"#, vcpu_extra: "", variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "round-trip", title: "guest data across export and re-import (host read in between)", kernel: "arch_make_page_accessible > uv_convert_from_secure (encrypt); gmap_make_secure > UVC import (decrypt, verify)", backing: Backing::File, ops: r#"{ op = "kernel-read", file = "guest.img", index = 0 }"#, vcpu_extra: r#", { op = "guest-access", gfn = 0 }"#, variants: OWN, shared: false, second_read_only: false },
    Path_ { id: "host-write-exported", title: "a host write to the exported page (integrity check)", kernel: "user store after export; UVC import fails its integrity check → -EINVAL → SIGSEGV", backing: Backing::File, ops: r#"{ op = "user-access", mm = "{mm}", vpn = 0, write = true }"#, vcpu_extra: r#", { op = "guest-access", gfn = 0 }"#, variants: SECOND, shared: false, second_read_only: false },
];

/// The scenario text of one path and variant.
pub fn scenario_text(path: &Path_, via: Via, presets: &[&str]) -> String {
    let mm = match via {
        Via::Own => "qemu",
        Via::Second => "mm2",
    };
    let mut t = String::new();
    let _ = writeln!(t, "description = {:?}", path.title);
    let _ = writeln!(
        t,
        "presets = [{}]",
        presets
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    t.push_str("\n[[file]]\nname = \"guest.img\"\npages = 1\n");
    t.push_str("\n[[mm]]\nname = \"qemu\"\nprotected = true\n\n[[mm]]\nname = \"mm2\"\n");
    match path.backing {
        Backing::File => {
            t.push_str("\n[[map]]\nmm = \"qemu\"\nvpn = 0\nfile = \"guest.img\"\nindex = 0\n");
        }
        Backing::Anon => t.push_str("\n[[map]]\nmm = \"qemu\"\nvpn = 0\nanon = true\n"),
    }
    t.push_str("\n[[map]]\nmm = \"mm2\"\nvpn = 0\nfile = \"guest.img\"\nindex = 0\n");
    if path.second_read_only {
        t.push_str("writable = false\n");
    }
    let _ = writeln!(
        t,
        "\n[[guest]]\ngfn = 0\nmm = \"qemu\"\nvpn = 0\nshared = {}",
        path.shared
    );
    t.push_str("\n[[pipe]]\nname = \"p\"\n\n[[pipe]]\nname = \"q\"\n");
    let _ = writeln!(
        t,
        "\n[[thread]]\nname = \"vcpu\"\nops = [{{ op = \"guest-access\", gfn = 0, write = 0x5a }}{}]",
        path.vcpu_extra
    );
    let _ = writeln!(
        t,
        "\n[[thread]]\nname = \"host\"\nops = [{}]",
        path.ops.replace("{mm}", mm)
    );
    t
}

/// One computed cell.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cell {
    pub path: String,
    pub via: String,
    pub preset: String,
    pub verdict: Verdict,
    pub violations: Vec<String>,
    pub observations: Vec<String>,
    pub executions: u64,
    pub secs: f64,
    pub stopped_by: Option<String>,
    /// Shortest trace per violation: (property, schedule).
    pub schedules: Vec<(String, String)>,
}

/// The row name of a path variant.
pub fn row_name(path: &Path_, via: Via) -> String {
    match via {
        Via::Own => path.id.to_string(),
        Via::Second => format!("{} (2nd mm)", path.id),
    }
}

/// Every (path, variant) row.
pub fn rows() -> Vec<(&'static Path_, Via)> {
    PATHS
        .iter()
        .flat_map(|p| p.variants.iter().map(move |v| (p, *v)))
        .collect()
}

/// Builds the scenario of one row (parsed like a file, named after the row).
pub fn row_scenario(path: &Path_, via: Via, presets: &[&str]) -> Scenario {
    let name = row_name(path, via).replace(" (2nd mm)", "-2nd-mm");
    let text = scenario_text(path, via, presets);
    parse(Path::new(&format!("matrix/{name}.toml")), &text)
        .unwrap_or_else(|e| panic!("matrix scenario {name} does not parse: {e}"))
}

/// Computes one cell.
pub fn cell(path: &Path_, via: Via, preset: &str, bounds: explore::Bounds) -> Cell {
    let sc = row_scenario(path, via, &[preset]);
    let c = check(
        &sc,
        preset,
        RunOptions {
            bounds: Some(bounds),
            ..RunOptions::default()
        },
    )
    .expect("matrix presets exist");
    let mut violations = Vec::new();
    let mut observations = Vec::new();
    let mut schedules = Vec::new();
    for r in &c.outcome.reports {
        match r.severity {
            Severity::Violation => {
                violations.push(r.property.to_string());
                schedules.push((r.property.to_string(), format_schedule(&r.schedule)));
            }
            Severity::Observation => observations.push(r.property.to_string()),
        }
    }
    Cell {
        path: path.id.to_string(),
        via: row_name(path, via),
        preset: preset.to_string(),
        verdict: c.verdict,
        violations,
        observations,
        executions: c.outcome.stats.executions,
        secs: c.outcome.stats.elapsed_secs,
        stopped_by: c.outcome.stopped_by.as_ref().map(|b| b.to_string()),
        schedules,
    }
}

/// Computes every cell, `jobs` at a time. `progress` is called after each cell.
pub fn compute(
    presets: &[&str],
    bounds: explore::Bounds,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Cell> {
    let rows = rows();
    let work: Vec<(usize, usize)> = (0..rows.len())
        .flat_map(|r| (0..presets.len()).map(move |p| (r, p)))
        .collect();
    let total = work.len();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; total]);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let (r, p) = work[i];
                let (path, via) = rows[r];
                let c = cell(path, via, presets[p], bounds.clone());
                results.lock().expect("no worker panicked")[i] = Some(c);
                let d = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                progress(d, total);
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|c| c.expect("every cell computed"))
        .collect()
}

fn short(p: &str) -> &str {
    match p {
        "io-on-secure-page" => "io",
        "use-after-free" => "uaf",
        "reference-balance" => "ref",
        "lock-out" => "lockout",
        "arch1-hint" => "arch1",
        "hook-precondition" => "hookpre",
        "guest-killed" => "killed",
        "guest-integrity" => "integrity",
        "confidentiality" => "conf",
        "retry-bound" => "retry",
        other => other,
    }
}

fn cell_text(c: &Cell, anchor: bool) -> String {
    let v = match c.verdict {
        Verdict::Verified => "✓".to_string(),
        Verdict::Incomplete => "… incomplete".to_string(),
        Verdict::Violation => {
            let p: Vec<&str> = c.violations.iter().map(|s| short(s)).collect();
            if anchor {
                format!("[✗ {}](#{})", p.join(" "), anchor_of(c))
            } else {
                format!("✗ {}", p.join(" "))
            }
        }
    };
    v
}

fn anchor_of(c: &Cell) -> String {
    format!("{}-{}", c.via, c.preset)
        .to_lowercase()
        .replace([' ', '(', ')', '.', '+'], "-")
}

/// The matrix as Markdown. Times are kept out of the table (they vary between runs) and
/// listed per row at the end with the machine they were measured on.
pub fn markdown(cells: &[Cell], presets: &[&str], header: &str) -> String {
    let mut m = String::new();
    m.push_str(header);
    m.push_str("\n| path |");
    for p in presets {
        let _ = write!(m, " {p} |");
    }
    m.push_str("\n|---|");
    for _ in presets {
        m.push_str("---|");
    }
    m.push('\n');
    for (path, via) in rows() {
        let rn = row_name(path, via);
        let _ = write!(m, "| `{rn}` |");
        for p in presets {
            let c = cells
                .iter()
                .find(|c| c.via == rn && c.preset == *p)
                .expect("cell computed");
            let _ = write!(m, " {} |", cell_text(c, true));
        }
        m.push('\n');
    }
    m.push_str("\n✓ verified (exhaustive) · ✗ violation (properties, linked to the trace) · … incomplete\n");
    m.push_str("\nAbbreviations: io = io-on-secure-page, uaf = use-after-free, ref = reference-balance, lockout = lock-out, arch1 = arch1-hint, killed = guest-killed, integrity = guest-integrity, conf = confidentiality, retry = retry-bound.\n");
    m.push_str("\n## Paths\n\n| path | what | kernel functions | executions per preset |\n|---|---|---|---|\n");
    for (path, via) in rows() {
        let rn = row_name(path, via);
        let execs: Vec<String> = presets
            .iter()
            .map(|p| {
                cells
                    .iter()
                    .find(|c| c.via == rn && c.preset == *p)
                    .map(|c| c.executions.to_string())
                    .unwrap_or_default()
            })
            .collect();
        let _ = writeln!(
            m,
            "| `{rn}` | {}{} | {} | {} |",
            path.title,
            match via {
                Via::Own => "",
                Via::Second => ", through a second process's mapping",
            },
            path.kernel,
            execs.join(" / ")
        );
    }
    m.push_str("\n## Violations\n\nEach replays with `pvmm matrix --replay ROW PRESET PROPERTY` (prints the scenario and the trace).\n");
    for c in cells.iter().filter(|c| c.verdict == Verdict::Violation) {
        let _ = writeln!(m, "\n### {} on {} {{#{}}}\n", c.via, c.preset, anchor_of(c));
        for (prop, sched) in &c.schedules {
            let _ = writeln!(m, "* `{prop}`: schedule `{sched}`");
        }
    }
    m
}

/// The matrix as a self-contained HTML page.
pub fn html(cells: &[Cell], presets: &[&str], header: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut h = String::new();
    h.push_str(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>pvmm matrix</title><style>",
    );
    h.push_str("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 5px;text-align:center}td.path{text-align:left;font-family:monospace}.ok{background:#d9f2d9}.bad{background:#f8d0d0}.inc{background:#fff2cc}small{color:#555}");
    h.push_str("</style></head><body>");
    let _ = write!(h, "<pre>{}</pre><table><tr><th>path</th>", esc(header));
    for p in presets {
        let _ = write!(h, "<th>{}</th>", esc(p));
    }
    h.push_str("</tr>");
    for (path, via) in rows() {
        let rn = row_name(path, via);
        let _ = write!(
            h,
            "<tr><td class=\"path\" title=\"{}\">{}</td>",
            esc(path.kernel),
            esc(&rn)
        );
        for p in presets {
            let c = cells
                .iter()
                .find(|c| c.via == rn && c.preset == *p)
                .expect("cell computed");
            let (class, text) = match c.verdict {
                Verdict::Verified => ("ok", "✓".to_string()),
                Verdict::Incomplete => ("inc", "…".to_string()),
                Verdict::Violation => (
                    "bad",
                    format!(
                        "<a href=\"#{}\">✗ {}</a>",
                        anchor_of(c),
                        esc(&c
                            .violations
                            .iter()
                            .map(|s| short(s))
                            .collect::<Vec<_>>()
                            .join(" "))
                    ),
                ),
            };
            let _ = write!(
                h,
                "<td class=\"{class}\">{text}<br><small>{} ex, {:.2}s</small></td>",
                c.executions, c.secs
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table><h2>Violations</h2>");
    for c in cells.iter().filter(|c| c.verdict == Verdict::Violation) {
        let _ = write!(
            h,
            "<h3 id=\"{}\">{} on {}</h3><ul>",
            anchor_of(c),
            esc(&c.via),
            esc(&c.preset)
        );
        for (prop, sched) in &c.schedules {
            let _ = write!(
                h,
                "<li><code>{}</code>: schedule <code>{}</code></li>",
                esc(prop),
                esc(sched)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>\n");
    h
}

/// Looks a row up by its name.
pub fn find_row(name: &str) -> Option<(&'static Path_, Via)> {
    rows().into_iter().find(|(p, v)| {
        row_name(p, *v) == name || row_name(p, *v).replace(" (2nd mm)", "-2nd-mm") == name
    })
}
