//! `pvmm audit`: arguments and the entry point the `pvmm` binary calls.

use crate::report::{self, Report};
use crate::rules::{Rules, BUILTIN};
use crate::scan;
use crate::{model, report::html_page};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

/// Audit a kernel tree for paths that hand a guest page to I/O without the accessibility hook.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Kernel source tree to audit (the newer tree with --base).
    pub tree: PathBuf,
    /// Older kernel tree: print the findings that appeared and disappeared between the two.
    #[arg(long, conflicts_with_all = ["patch", "rev"])]
    pub base: Option<PathBuf>,
    /// Review a patch: audit TREE and TREE with this unified diff applied (`-`: standard
    /// input), and print the findings that appeared and disappeared. TREE is not written to.
    #[arg(long, value_name = "DIFF", conflicts_with = "rev")]
    pub patch: Option<PathBuf>,
    /// Review two revisions `A..B` of the git repository whose work tree is TREE.
    #[arg(long, value_name = "A..B")]
    pub rev: Option<String>,
    /// Leading path components stripped from the diff's file names (as `patch -pN`).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub strip: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Baseline file (TOML: [[suppress]] id = "PVA-…", reason = "…") of accepted findings.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Cache directory (default: $PVMM_AUDIT_CACHE, $XDG_CACHE_HOME/pvmm-audit or ~/.cache/pvmm-audit).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Rules file (default: the repository's rules/audit.toml, built in).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Exit 0/1 even when files were not read or not understood (they are still listed).
    /// Without it such a run is incomplete: exit 3 when it has no findings.
    #[arg(long)]
    pub accept_incomplete: bool,
    /// Print only the release and the switches inferred from the tree's code (no audit).
    #[arg(long)]
    pub switches: bool,
    /// Files larger than this many bytes are not read (listed as not read).
    #[arg(long, default_value_t = scan::MAX_FILE_BYTES)]
    pub max_file_size: u64,
    /// Check every finding's model path with the checker on the kernel inferred from the tree
    /// (release + inferred switches) and attach the verdict and the shortest trace.
    #[arg(long)]
    pub check: bool,
    /// DPOR's execution budget per check before the stateful search takes over.
    #[arg(long, value_name = "N", default_value_t = checker::DPOR_BUDGET)]
    pub check_budget: u64,
    /// Stop each check after N executions (plain DPOR; a stopped check is incomplete).
    #[arg(long, value_name = "N")]
    pub check_max_executions: Option<u64>,
    /// Wall-clock bound of each check in seconds (a stopped check is incomplete).
    #[arg(long, value_name = "SECS", default_value_t = checker::limits::DEFAULT_CELL_TIME_SECS)]
    pub check_max_time: u64,
    /// Print the finding ID (PVA-… or PVS-…) as a scenario file `pvmm check` runs, and exit.
    #[arg(long, value_name = "ID")]
    pub emit_scenario: Option<String>,
    /// Also write the report as a self-contained HTML page (with --check: each check's trace).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Baseline {
    #[serde(default)]
    suppress: Vec<Suppress>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suppress {
    id: String,
    reason: String,
}

fn load_baseline(p: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("{}: cannot read the baseline: {e}", p.display()))?;
    let b: Baseline = toml::from_str(&text)
        .map_err(|e| crate::rules::toml_error(&p.display().to_string(), &text, &e))?;
    let mut m = HashMap::new();
    for s in b.suppress {
        if s.reason.trim().is_empty() {
            return Err(format!(
                "baseline {}: suppression of {} has an empty reason",
                p.display(),
                s.id
            ));
        }
        m.insert(s.id, s.reason);
    }
    Ok(m)
}

#[allow(clippy::too_many_arguments)]
fn audit_one(
    tree: &Path,
    rules: &Rules,
    rules_name: &str,
    rules_text: &str,
    limits: &scan::Limits,
    cache: Option<&Path>,
    baseline: &HashMap<String, String>,
    check: Option<&model::CheckOptions>,
) -> Result<Report, String> {
    let (out, stats) =
        scan::audit_tree_with(tree, rules, rules_text, cache, limits).map_err(|e| e.to_string())?;
    let bad: Vec<String> = out
        .rules_check
        .mismatches()
        .map(|c| {
            format!(
                "  {} {}: {} = {}: {}",
                c.rule, c.name, c.what, c.index, c.detail
            )
        })
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "rules {}: {} argument index(es) disagree with the prototypes of {}:\n{}",
            rules_name,
            bad.len(),
            tree.display(),
            bad.join("\n")
        ));
    }
    let mut findings = Vec::new();
    let mut suppressed = Vec::new();
    for f in out.findings {
        match baseline.get(&f.id) {
            Some(r) => suppressed.push((f, r.clone())),
            None => findings.push(f),
        }
    }
    let shown = tree
        .canonicalize()
        .unwrap_or_else(|_| tree.to_path_buf())
        .display()
        .to_string();
    let mut not_read = stats.not_read.clone();
    not_read.extend(out.not_understood.iter().cloned());
    let inferred = crate::infer::infer(tree);
    let (links, checks, model_kernel_error) = model::check_findings(
        rules,
        &findings,
        &out.sites,
        &inferred,
        check.is_some(),
        &check.cloned().unwrap_or_default(),
    );
    let incomplete = !not_read.is_empty()
        || !out.converged
        || checks.iter().any(|c| c.verdict == "incomplete")
        || (check.is_some() && model_kernel_error.is_some());
    let mut rep = Report {
        revision: None,
        root: tree.display().to_string(),
        items: Vec::new(),
        inferred,
        checked: check.is_some(),
        model: links,
        checks,
        model_kernel_error,
        not_read,
        incomplete,
        tree: shown,
        stats,
        coverage: out.coverage,
        rounds: out.rounds,
        converged: out.converged,
        rules_check: out.rules_check,
        findings,
        suppressed,
        sites: out.sites,
    };
    rep.items = report::items(&rep);
    Ok(rep)
}

/// Run `pvmm audit`; returns the exit code: 0 no (new) findings, 1 findings, 2 bad input, 3
/// incomplete (no findings, but files not read or not understood, or no fixed point).
pub fn run(args: &AuditArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{}", error_line(&msg));
            2
        }
    }
}

/// An error as every pvmm command prints it: `FILE:LINE:COL: error: MESSAGE` when the message
/// starts with a position in a file (the form editors and CI annotators jump to), else
/// `error: MESSAGE`. A position `FILE:0:0:` (no line: the file could not be read) is not a
/// position. The `pvmm` binary prints its other commands' errors with this function too.
pub fn error_line(msg: &str) -> String {
    match split_position(msg) {
        Some((file, line, col, rest)) if line > 0 => {
            format!("{file}:{line}:{col}: error: {rest}")
        }
        Some((file, _, _, rest)) => format!("error: {file}: {rest}"),
        None => format!("error: {msg}"),
    }
}

/// `FILE:LINE:COL: REST` → its parts; None when `msg` does not start with a position (the
/// position ends at the first `": "`; an option such as `--set a=1:2:3: …` is not a file).
fn split_position(msg: &str) -> Option<(&str, u64, u64, &str)> {
    let i = msg.find(": ")?;
    let mut parts = msg[..i].rsplitn(3, ':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let file = parts
        .next()
        .filter(|f| !f.is_empty() && !f.starts_with('-'))?;
    Some((file, line, col, &msg[i + 2..]))
}

fn run_inner(args: &AuditArgs) -> Result<i32, String> {
    let rules_name = match &args.rules {
        Some(p) => p.display().to_string(),
        None => "<built-in rules/audit.toml>".to_string(),
    };
    let (rules, rules_text) = match &args.rules {
        Some(p) => {
            let r = Rules::load(p).map_err(|e| e.to_string())?;
            let t = std::fs::read_to_string(p).unwrap_or_default();
            (r, t)
        }
        None => (
            Rules::builtin().map_err(|e| e.to_string())?,
            BUILTIN.to_string(),
        ),
    };
    let baseline = match &args.baseline {
        Some(p) => load_baseline(p)?,
        None => HashMap::new(),
    };
    // Check inputs before any work so a bad path fails fast with exit 2.
    scan::check_tree(&args.tree).map_err(|e| e.to_string())?;
    if args.switches {
        let inf = crate::infer::infer(&args.tree);
        match args.format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&inf).map_err(|e| e.to_string())?
            ),
            _ => print!("{}", report::inference_text(&inf)),
        }
        return Ok(0);
    }
    model::validate(&rules, &rules_name)?;
    if let Some(b) = &args.base {
        scan::check_tree(b).map_err(|e| e.to_string())?;
    }
    let check_opts = args.check.then_some(model::CheckOptions {
        budget: Some(args.check_budget),
        max_executions: args.check_max_executions,
        max_time_secs: Some(args.check_max_time),
    });
    let cache = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(scan::default_cache_dir)
    };
    // Deeply nested C (long else-if chains, huge initialisers) recurses deeply in the AST walk.
    let mut pool = rayon::ThreadPoolBuilder::new().stack_size(scan::WALK_STACK);
    if let Some(j) = args.jobs {
        if j == 0 {
            return Err("--jobs must be at least 1".into());
        }
        pool = pool.num_threads(j);
    }
    let pool = pool.build().map_err(|e| e.to_string())?;
    let limits = scan::Limits {
        max_file_bytes: args.max_file_size,
        patched_copy_of: None,
    };
    // 1 findings; else 3 when the run has blind spots (unless accepted); else 0.
    let exit = |findings: bool, incomplete: bool| {
        if findings {
            1
        } else if incomplete && !args.accept_incomplete {
            3
        } else {
            0
        }
    };
    // A patch review: the two trees the change yields (kept alive until the output is printed).
    let patched = match (&args.patch, &args.rev) {
        (Some(p), _) => Some(crate::patch::from_diff(&args.tree, p, args.strip)?),
        (None, Some(r)) => {
            let (a, b) = r
                .split_once("..")
                .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.starts_with('.'))
                .ok_or_else(|| format!("--rev {r}: expected two revisions A..B"))?;
            Some(crate::patch::from_revs(&args.tree, a, b)?)
        }
        (None, None) => None,
    };
    if let Some(p) = &patched {
        eprintln!("pvmm audit: reviewing {} ({})", p.new_label, p.summary);
        for n in &p.notes {
            eprintln!("{n}");
        }
    }
    let new_root = patched.as_ref().map_or(args.tree.as_path(), |p| &p.new);
    let base_root = match &patched {
        Some(p) => Some(p.base.as_path()),
        None => args.base.as_deref(),
    };
    let label = |rep: &mut Report, side: &str| {
        if let Some(p) = &patched {
            let l = if side == "base" {
                &p.base_label
            } else {
                &p.new_label
            };
            rep.tree = args
                .tree
                .canonicalize()
                .unwrap_or_else(|_| args.tree.clone())
                .display()
                .to_string();
            rep.revision =
                Some(l[rep.tree.len().min(l.len())..].trim().to_string()).filter(|s| !s.is_empty());
        }
    };
    let copy_limits = |side: &'static str, is_copy: bool| scan::Limits {
        patched_copy_of: is_copy.then(|| (args.tree.clone(), side)),
        ..limits.clone()
    };
    let rev_mode = args.rev.is_some();
    pool.install(|| {
        let mut new = audit_one(
            new_root,
            &rules,
            &rules_name,
            &rules_text,
            &copy_limits("new", patched.is_some()),
            cache.as_deref(),
            &baseline,
            check_opts.as_ref(),
        )?;
        if let Some(id) = &args.emit_scenario {
            let f = new
                .findings
                .iter()
                .chain(new.suppressed.iter().map(|(f, _)| f))
                .find(|f| &f.id == id || &f.identity == id)
                .ok_or_else(|| format!("--emit-scenario {id}: no such finding in {}", new.tree))?;
            print!(
                "{}",
                model::emit_scenario(&rules, f, &new.sites, &new.inferred)?
            );
            return Ok(0);
        }
        if let Some(h) = &args.html {
            std::fs::write(h, html_page(&new))
                .map_err(|e| format!("{}: cannot write the HTML report: {e}", h.display()))?;
        }
        label(&mut new, "new");
        match base_root {
            None => {
                let code = exit(!new.findings.is_empty(), new.incomplete);
                match args.format {
                    Format::Text => print!("{}", report::text(&new)),
                    Format::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&report::Document::new("audit", &new, code))
                            .map_err(|e| e.to_string())?
                    ),
                    Format::Sarif => println!(
                        "{}",
                        serde_json::to_string_pretty(&report::sarif(&new))
                            .map_err(|e| e.to_string())?
                    ),
                }
                Ok(code)
            }
            Some(b) => {
                let mut base = audit_one(
                    b,
                    &rules,
                    &rules_name,
                    &rules_text,
                    &copy_limits("base", rev_mode),
                    cache.as_deref(),
                    &baseline,
                    check_opts.as_ref(),
                )?;
                label(&mut base, "base");
                let d = report::diff(base, new);
                let code = exit(
                    !d.appeared.is_empty(),
                    d.base.incomplete || d.new.incomplete,
                );
                match args.format {
                    Format::Text => print!("{}", report::diff_text(&d)),
                    Format::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(&report::Document::new(
                            "audit-diff",
                            &d,
                            code
                        ))
                        .map_err(|e| e.to_string())?
                    ),
                    Format::Sarif => println!(
                        "{}",
                        serde_json::to_string_pretty(&report::diff_sarif(&d))
                            .map_err(|e| e.to_string())?
                    ),
                }
                Ok(code)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn errors_have_one_form() {
        assert_eq!(
            error_line("scenarios/x.toml:5:15: field `op`: unknown"),
            "scenarios/x.toml:5:15: error: field `op`: unknown"
        );
        assert_eq!(
            error_line("scenarios/x.toml:0:0: cannot read: No such file"),
            "error: scenarios/x.toml: cannot read: No such file"
        );
        assert_eq!(
            error_line("--kernel v9: unknown kernel preset"),
            "error: --kernel v9: unknown kernel preset"
        );
        assert_eq!(error_line("--set a=1:2:3: x"), "error: --set a=1:2:3: x");
        assert_eq!(
            error_line("/tmp/a b/t.json:1:1: not a pvmm trace file"),
            "/tmp/a b/t.json:1:1: error: not a pvmm trace file"
        );
    }
}
