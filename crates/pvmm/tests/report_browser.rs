//! Pages rendered in headless Chromium, measured and photographed:
//! * the HTML report of a known violation (d3-sendfile on v5.7): one lane per thread, the
//!   violating step marked, no console errors; every label of the diagram in full (each
//!   operation's text is the step's operation, each bar's text a frame of the trace, no `…`,
//!   no text wider than its box, no element cut by `text-overflow` or scrolled); the first
//!   step inside the first screen; printed to PDF, the first and the last step's labels are
//!   on the printed pages;
//! * the matrix page (`pvmm matrix --kernel v5.7 --html`): a rendered header (no raw
//!   Markdown), the legend with every property abbreviation used, every path's description,
//!   every violating cell linked to a trace page that exists and renders a diagram.
//!
//! Screenshots go to `target/tmp/screenshots/` (report.png: the first screen; report-full.png:
//! the whole page; matrix.png; matrix-cell.png). PVMM_UPDATE_SCREENSHOT=1 also writes the
//! report's first screen to docs/report-example.png.
//!
//! Needs Debian's `chromium` and `pdftotext` (poppler-utils), installed by .ci/run. Without the
//! browser the tests are skipped with a message, without pdftotext the print check — unless
//! CI is set, where a missing tool is a failure.

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pvmm-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The browser: $PVMM_CHROMIUM, or chromium / chromium-browser / google-chrome on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PVMM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let c = dir.join(name);
            if c.is_file() {
                return Some(c);
            }
        }
    }
    None
}

/// Runs the browser headless on `page` with `extra` arguments, killed after `limit`.
fn run_browser(
    bin: &Path,
    profile: &Path,
    page: &Path,
    extra: &[String],
    limit: Duration,
) -> Output {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(extra.iter().cloned());
    args.push(format!("file://{}", page.display()));
    let mut child = Command::new(bin)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read both pipes on threads so that a chatty browser cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("chromium did not finish within {limit:?}: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: to.join().expect("stdout reader"),
        stderr: te.join().expect("stderr reader"),
    }
}

/// Console messages the page produced (chromium logs them as `CONSOLE` lines on stderr).
fn console_lines(stderr: &[u8], page: &Path) -> Vec<String> {
    let name = page
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .to_string();
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains(&name) || l.contains("Uncaught")))
        .map(str::to_string)
        .collect()
}

fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&d).expect("screenshot dir");
    d
}

/// The browser, or None (the test is then skipped, or fails in CI).
fn browser_or_skip(test: &str) -> Option<PathBuf> {
    match chromium() {
        Some(b) => Some(b),
        None if in_ci() => panic!("CI is set but no chromium was found (install Debian's `chromium`, see .ci/run, or set PVMM_CHROMIUM)"),
        None => {
            eprintln!("SKIPPED {test}: no chromium on PATH (apt-get install chromium, or set PVMM_CHROMIUM); CI is not set, so this is not a failure");
            None
        }
    }
}

/// Measures a page after load, from inside it: appended to a copy of the page (next to it,
/// so that relative links still resolve), it writes its findings as JSON into the
/// `data-probe` attribute of `<html>`, which `--dump-dom` shows.
const PROBE: &str = r#"
(function () {
  var W = window.innerWidth, H = window.innerHeight;
  function label(g) {
    return Array.prototype.map.call(g.querySelectorAll('text tspan'), function (t) { return t.textContent; }).join('');
  }
  function box(el) { var r = el.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; }
  var out = { width: W, height: H, page_height: document.documentElement.scrollHeight,
              page_width: document.documentElement.scrollWidth, ops: [], frames: [], overflowing_text: [],
              ellipsis: [], scrolled: [], cut_text: [] };
  document.querySelectorAll('svg.pvmm-trace g.op[data-step]').forEach(function (g) {
    out.ops.push({ step: g.getAttribute('data-step'), label: label(g), box: box(g.querySelector('rect')) });
  });
  document.querySelectorAll('svg.pvmm-trace g.frame').forEach(function (g) { out.frames.push(label(g)); });
  document.querySelectorAll('svg.pvmm-trace g.op, svg.pvmm-trace g.frame').forEach(function (g) {
    var r = g.querySelector('rect'), t = g.querySelector('text');
    if (r && t && t.getBBox().width > r.width.baseVal.value + 1) { out.overflowing_text.push(label(g)); }
  });
  document.querySelectorAll('svg text').forEach(function (t) {
    if (t.textContent.indexOf('\u2026') >= 0) { out.cut_text.push(t.textContent); }
  });
  document.querySelectorAll('body *').forEach(function (el) {
    if (el instanceof SVGElement) { return; }
    var cs = getComputedStyle(el);
    var clipped = el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0;
    if (cs.textOverflow === 'ellipsis' && clipped) { out.ellipsis.push(el.tagName + ': ' + el.textContent.slice(0, 80)); }
    if (/(auto|scroll|hidden|clip)/.test(cs.overflowX + ' ' + cs.overflowY) &&
        (clipped || el.scrollHeight > el.clientHeight + 1 && el.clientHeight > 0)) {
      out.scrolled.push(el.tagName + '.' + el.className + ': ' + el.scrollWidth + '/' + el.clientWidth);
    }
  });
  var h1 = document.querySelector('h1');
  out.h1 = h1 ? h1.textContent : null;
  out.body_text = document.body.innerText.slice(0, 400);
  out.abbreviations = Array.prototype.map.call(document.querySelectorAll('#abbreviations [data-property]'),
    function (e) { return e.getAttribute('data-property'); });
  out.path_rows = document.querySelectorAll('table.paths tr[id^="path-"]').length;
  out.bad_cells = document.querySelectorAll('table.matrix td.bad').length;
  out.cell_links = Array.prototype.map.call(document.querySelectorAll('table.matrix td.bad a'), function (a) { return a.getAttribute('href'); });
  out.marks = document.querySelectorAll('svg.pvmm-trace g.violation-mark').length;
  document.documentElement.setAttribute('data-probe', JSON.stringify(out));
})();
"#;

/// Loads `page` with the probe and returns what it measured (and the dumped DOM).
fn probe(bin: &Path, work: &Path, page: &Path, window: (u32, u32)) -> (Value, String) {
    let text = std::fs::read_to_string(page).expect("page");
    let copy = page.with_file_name(format!(
        "probe-{}",
        page.file_name().expect("name").to_string_lossy()
    ));
    std::fs::write(
        &copy,
        text.replacen("</body>", &format!("<script>{PROBE}</script></body>"), 1),
    )
    .expect("probe copy");
    let o = run_browser(
        bin,
        &work.join(format!("profile-probe-{}", window.0)),
        &copy,
        &[
            "--dump-dom".to_string(),
            format!("--window-size={},{}", window.0, window.1),
        ],
        Duration::from_secs(60),
    );
    let _ = std::fs::remove_file(&copy);
    let dom = String::from_utf8_lossy(&o.stdout).to_string();
    let Some(start) = dom.find("data-probe=\"") else {
        panic!(
            "the probe did not run on {}; stderr:\n{}",
            page.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let rest = &dom[start + "data-probe=\"".len()..];
    let raw = &rest[..rest.find('"').expect("attribute ends")];
    let json = raw
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("probe output ({e}): {json}")),
        dom,
    )
}

fn screenshot(bin: &Path, work: &Path, page: &Path, window: (u32, u32), png: &Path) -> Vec<u8> {
    let shot = run_browser(
        bin,
        &work.join(format!("profile-shot-{}", window.1)),
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={},{}", window.0, window.1),
        ],
        Duration::from_secs(60),
    );
    let bytes = std::fs::read(png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}); stderr:\n{}",
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "screenshot {} too small",
        png.display()
    );
    bytes
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_string).unwrap_or(x.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that nothing on the page is cut, clipped or scrolled away.
fn assert_nothing_cut(p: &Value, what: &str) {
    for key in ["overflowing_text", "cut_text", "ellipsis", "scrolled"] {
        assert!(
            strings(&p[key]).is_empty(),
            "{what}: {key}: {:?}",
            strings(&p[key])
        );
    }
    assert!(
        p["page_width"].as_f64() <= p["width"].as_f64(),
        "{what}: the page scrolls sideways ({} > {})",
        p["page_width"],
        p["width"]
    );
}

#[test]
fn report_of_a_known_violation_renders_in_headless_chromium() {
    let Some(bin) = browser_or_skip("report_of_a_known_violation_renders_in_headless_chromium")
    else {
        return;
    };
    let d = tmpdir("report");
    let html = d.join("d3-sendfile.html");
    let o = Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args([
            "check",
            "scenarios/d3-sendfile.toml",
            "--kernel",
            "v5.7",
            "-q",
            "--format",
            "json",
            // The default trace directory (under target/, ignored by git), so that the
            // replay command shown in the page (and in the screenshot) is the usual one.
            "--trace-dir",
            "target/pvmm-traces",
        ])
        .arg("--report")
        .arg(&html)
        .current_dir(repo())
        .output()
        .expect("pvmm runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: Value = serde_json::from_slice(&o.stdout).expect("json");
    let trace = doc["results"][0]["findings"][0]["trace"]
        .as_array()
        .expect("trace")
        .clone();
    assert_eq!(trace.len(), 26);
    let page = std::fs::read_to_string(&html).expect("report written");
    // Self-contained: nothing to fetch (the SVG namespace is a name, not a fetch).
    let stripped = page.replace("http://www.w3.org/2000/svg", "");
    for needle in [
        "http://", "https://", "src=", "<link", "@import", "url(http",
    ] {
        assert!(
            !stripped.contains(needle),
            "the report refers to something outside: `{needle}`"
        );
    }

    // A control: a page with a script error must be caught by the same detection.
    let bad = d.join("control.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>",
    )
    .expect("write control");
    let ctl = run_browser(
        &bin,
        &d.join("profile-control"),
        &bad,
        &["--dump-dom".to_string()],
        Duration::from_secs(30),
    );
    assert!(
        !console_lines(&ctl.stderr, &bad).is_empty(),
        "the console-error detection does not see a known error; stderr:\n{}",
        String::from_utf8_lossy(&ctl.stderr)
    );

    let dom = run_browser(
        &bin,
        &d.join("profile-dom"),
        &html,
        &["--dump-dom".to_string()],
        Duration::from_secs(30),
    );
    let dom_text = String::from_utf8_lossy(&dom.stdout).to_string();
    assert!(
        dom.status.success() && dom_text.contains("</html>"),
        "no DOM from chromium ({:?}); stderr:\n{}",
        dom.status,
        String::from_utf8_lossy(&dom.stderr)
    );
    let errors = console_lines(&dom.stderr, &html);
    assert!(errors.is_empty(), "console messages: {errors:#?}");
    // The page's own check ran after load and saw no script error.
    assert!(
        dom_text.contains("data-selfcheck=\"ok\""),
        "self-check did not pass: {}",
        dom_text
            .lines()
            .find(|l| l.contains("data-selfcheck"))
            .unwrap_or("(no self-check attribute: the script did not run)")
    );
    assert!(dom_text.contains("data-console-errors=\"0\""));
    // Lanes: one per thread (vcpu, sendfile).
    assert!(dom_text.contains("data-lanes=\"2\""), "lanes");
    assert!(dom_text.contains("data-name=\"vcpu\"") && dom_text.contains("data-name=\"sendfile\""));
    // The violating step is marked (the last step, 26: the NIC's dma_read) and explained.
    assert!(dom_text.contains("data-marked=\"1\""), "marked step");
    assert!(
        dom_text.contains(
            "class=\"violation-mark\" data-step=\"26\" data-property=\"io-on-secure-page\""
        ),
        "violation mark at step 26"
    );
    assert!(dom_text.contains("class=\"op op-violation\" data-step=\"26\""));
    assert!(dom_text.contains("At step 26, T1 (sendfile) runs dma_read (NIC transmit)"));
    // The page-state strip shows the freeze and the secure page.
    assert!(dom_text.contains("0 frozen") && dom_text.contains("class=\"uv\""));

    // Measured in the page: every label in full, nothing cut, the first step on screen.
    let window = (1600, 1000);
    let (p, _) = probe(&bin, &d, &html, window);
    assert_nothing_cut(&p, "report");
    let ops = p["ops"].as_array().expect("ops");
    assert_eq!(ops.len(), trace.len(), "one box per step");
    for (op, step) in ops.iter().zip(&trace) {
        let want: String = step["op"]
            .as_str()
            .expect("op")
            .split_whitespace()
            .collect();
        let got: String = op["label"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(got, want, "the label of step {}", step["index"]);
    }
    // Compared without spaces: a label wrapped at a space loses that space between lines.
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    let frame_names: Vec<String> = trace
        .iter()
        .flat_map(|s| strings(&s["frames"]))
        .map(|f| squeeze(&f))
        .collect();
    let bars: Vec<String> = strings(&p["frames"]).iter().map(|b| squeeze(b)).collect();
    for b in &bars {
        assert!(
            frame_names.contains(b),
            "a bar's label `{b}` is not a frame of the trace (cut?)"
        );
    }
    for key in [
        "page_cache_pipe_buf_confirm",
        "find_get_page",
        "splice_from_pipe_feed",
    ] {
        assert!(
            bars.iter().any(|b| b == key),
            "`{key}` is not drawn in full: {bars:?}"
        );
    }
    let first = &ops[0]["box"];
    assert!(
        first["left"].as_f64() >= Some(0.0)
            && first["right"].as_f64() <= Some(f64::from(window.0))
            && first["bottom"].as_f64() <= Some(f64::from(window.1)),
        "the first step is not on the first screen: {first}"
    );
    for op in ops {
        assert!(
            op["box"]["right"].as_f64() <= Some(f64::from(window.0)),
            "step {} is outside the page's width: {}",
            op["step"],
            op["box"]
        );
    }

    // Screenshots: the first screen, and the whole page.
    let shots = screenshots();
    let bytes = screenshot(&bin, &d, &html, window, &shots.join("report.png"));
    let full_h = p["page_height"].as_f64().unwrap_or(4000.0).min(12000.0) as u32;
    screenshot(
        &bin,
        &d,
        &html,
        (window.0, full_h),
        &shots.join("report-full.png"),
    );
    if std::env::var_os("PVMM_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(repo().join("docs/report-example.png"), &bytes)
            .expect("write docs/report-example.png");
    }

    // Printed: the first and the last step's labels are on the pages.
    let pdf = d.join("report.pdf");
    let printed = run_browser(
        &bin,
        &d.join("profile-pdf"),
        &html,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_string(),
        ],
        Duration::from_secs(60),
    );
    assert!(
        pdf.is_file(),
        "no PDF; stderr:\n{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    match Command::new("pdftotext").arg(&pdf).arg("-").output() {
        Ok(t) if t.status.success() => {
            let text = String::from_utf8_lossy(&t.stdout);
            // The lines the diagram draws for the first and the last step's operation, and
            // the first step's outermost frame.
            for step in [&trace[0], &trace[trace.len() - 1]] {
                for line in report::svg::op_label_lines(step["op"].as_str().expect("op")) {
                    assert!(
                        text.contains(&line),
                        "step {}'s label line `{line}` is not on the printed pages",
                        step["index"]
                    );
                }
            }
            let outer = trace[0]["frames"][0].as_str().expect("a frame");
            assert!(text.contains(outer), "`{outer}` (step 1) is not printed");
        }
        _ if in_ci() => panic!("CI is set but pdftotext (poppler-utils) is missing"),
        _ => eprintln!("(no pdftotext: the print check is skipped; apt-get install poppler-utils)"),
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn matrix_page_has_a_header_a_legend_paths_and_linked_traces() {
    let Some(bin) = browser_or_skip("matrix_page_has_a_header_a_legend_paths_and_linked_traces")
    else {
        return;
    };
    let d = tmpdir("matrix");
    let html = d.join("matrix.html");
    let o = Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args(["matrix", "--kernel", "v5.7", "--jobs", "2", "-q", "--html"])
        .arg(&html)
        .current_dir(repo())
        .output()
        .expect("pvmm runs");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // --html writes the file; stdout is one summary line, not the document.
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains(" cells: ") && out.contains(" violation"),
        "{out}"
    );

    let (p, _) = probe(&bin, &d, &html, (1600, 1000));
    assert_nothing_cut(&p, "matrix");
    assert_eq!(p["h1"], checker::matrix::TITLE, "the header is rendered");
    let body = p["body_text"].as_str().unwrap_or("");
    assert!(
        !body.contains("# The matrix") && !body.contains("`pvmm"),
        "raw Markdown: {body}"
    );
    // The legend names every property a cell shows.
    let cells =
        checker::matrix::compute(&["v5.7"], checker::matrix::default_bounds(), 2, &|_, _| {});
    let mut used: Vec<String> = cells.iter().flat_map(|c| c.violations.clone()).collect();
    used.sort();
    used.dedup();
    assert_eq!(strings(&p["abbreviations"]), used);
    assert_eq!(
        p["path_rows"].as_u64(),
        Some(checker::matrix::rows().len() as u64),
        "every path described"
    );
    let links = strings(&p["cell_links"]);
    let red = cells
        .iter()
        .filter(|c| c.verdict == checker::Verdict::Violation)
        .count();
    assert_eq!(p["bad_cells"].as_u64(), Some(red as u64));
    assert_eq!(links.len(), red, "every red cell is a link");
    for l in &links {
        assert!(d.join(l).is_file(), "the link {l} does not resolve");
    }
    let shots = screenshots();
    screenshot(&bin, &d, &html, (1600, 1300), &shots.join("matrix.png"));

    // A linked trace page renders its diagram, marked, with nothing cut.
    let cell = d.join(
        links
            .iter()
            .find(|l| l.contains("sendfile-v5-7"))
            .expect("sendfile on v5.7 is red"),
    );
    let (cp, dom) = probe(&bin, &d, &cell, (1600, 1000));
    assert!(
        dom.contains("data-selfcheck=\"ok\""),
        "self-check on {}",
        cell.display()
    );
    assert_eq!(cp["marks"].as_u64(), Some(1), "the violation marked");
    assert!(!cp["ops"].as_array().expect("ops").is_empty());
    assert_nothing_cut(&cp, "trace page");
    screenshot(
        &bin,
        &d,
        &cell,
        (1600, 1300),
        &shots.join("matrix-cell.png"),
    );
    let _ = std::fs::remove_dir_all(&d);
}
