//! The progress line of long checks: executions, executions/s, depth, elapsed time, the
//! bound that will stop the search and the violations found so far. By default only on a
//! terminal (stderr), only after the first second, never with --quiet; erased when the
//! check ends. With `--progress lines`, one line per second on stderr whatever it is (for CI
//! logs, and for scripts that wait for a finding).

use std::io::{IsTerminal, Write};

/// When progress is shown.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// On a terminal: one line, rewritten in place.
    Auto,
    /// Always: a line per second, each on its own line.
    Lines,
    /// Never (as --quiet).
    Off,
}

/// Shows progress for one check at a time.
pub struct ProgressLine {
    enabled: bool,
    lines: bool,
    shown: bool,
    last_line_secs: f64,
}

/// Seconds after which the line appears.
const AFTER_SECS: f64 = 1.0;

impl ProgressLine {
    /// Enabled as `mode` says; `quiet` turns it off.
    pub fn new(quiet: bool, mode: Mode) -> ProgressLine {
        let mode = if quiet { Mode::Off } else { mode };
        ProgressLine {
            enabled: match mode {
                Mode::Auto => std::io::stderr().is_terminal(),
                Mode::Lines => true,
                Mode::Off => false,
            },
            lines: mode == Mode::Lines,
            shown: false,
            last_line_secs: 0.0,
        }
    }

    /// Called by the explorer about every 100 ms.
    pub fn update(&mut self, label: &str, bounds: &explore::Bounds, p: &explore::Progress) {
        if !self.enabled || p.stats.elapsed_secs < AFTER_SECS {
            return;
        }
        if self.lines {
            if p.stats.elapsed_secs - self.last_line_secs < 1.0 {
                return;
            }
            self.last_line_secs = p.stats.elapsed_secs;
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "{}", line(label, bounds, p).trim_start());
            let _ = e.flush();
            return;
        }
        let line = line(label, bounds, p);
        let width = terminal_width();
        let line: String = line.chars().take(width.saturating_sub(1)).collect();
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[K{line}");
        let _ = e.flush();
        self.shown = true;
    }

    /// Erases the line (if it was shown).
    pub fn clear(&mut self) {
        self.last_line_secs = 0.0;
        if self.shown {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
            self.shown = false;
        }
    }
}

/// Columns of the terminal on stderr: $COLUMNS, the terminal's size, or 100. The line is
/// cut to fit so that `\r` can overwrite it.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(crate::sys::tty_columns)
        .filter(|&c: &usize| c >= 20)
        .unwrap_or(100)
}

/// The text of the line.
pub fn line(label: &str, bounds: &explore::Bounds, p: &explore::Progress) -> String {
    let s = p.stats;
    let found = if p.found.is_empty() {
        String::new()
    } else {
        format!(", found {}", p.found.join(" "))
    };
    // The check's name goes last: a narrow terminal cuts it first.
    if s.states > 0 {
        // The stateful search (alone, or finishing what DPOR's executions did not).
        let rate = if s.elapsed_secs > 0.0 {
            s.states as f64 / s.elapsed_secs
        } else {
            0.0
        };
        return format!(
            "  stateful search: {} states, {rate:.0}/s, depth {}, {:.1}s{found} — {label}",
            s.states, p.depth, s.elapsed_secs
        );
    }
    format!(
        "  {} executions, {:.0}/s, depth {}, {:.1}s, {}{found} — {label}",
        s.executions,
        s.executions_per_sec(),
        p.depth,
        s.elapsed_secs,
        stopping_bound(bounds, s)
    )
}

/// Which bound will stop the search, and when (estimated from the current rate).
pub fn stopping_bound(b: &explore::Bounds, s: &explore::Stats) -> String {
    let rate = s.executions_per_sec();
    let mut candidates: Vec<(f64, String)> = Vec::new();
    if let Some(t) = b.max_time {
        let left = (t.as_secs_f64() - s.elapsed_secs).max(0.0);
        candidates.push((
            left,
            format!("stops at max-time={}s in {left:.0}s", t.as_secs()),
        ));
    }
    if let Some(n) = b.max_executions {
        let done = (s.executions + s.pruned).min(n);
        let left = n - done;
        let eta = if rate > 0.0 {
            left as f64 / rate
        } else {
            f64::INFINITY
        };
        let pct = 100.0 * done as f64 / n.max(1) as f64;
        candidates.push((
            eta,
            if eta.is_finite() {
                format!("stops at max-executions={n} ({pct:.0}%, ~{eta:.0}s)")
            } else {
                format!("stops at max-executions={n} ({pct:.0}%)")
            },
        ));
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    match candidates.into_iter().next() {
        Some((_, t)) => t,
        None => {
            let mem = b
                .max_memory_mib
                .map(|m| format!(" or max-memory={m}MiB"))
                .unwrap_or_default();
            format!("no time or execution bound: runs until exhaustive{mem}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_nearest_bound_is_named() {
        let stats = explore::Stats {
            executions: 500,
            pruned: 0,
            steps: 0,
            max_depth_seen: 0,
            elapsed_secs: 5.0,
            ..explore::Stats::default()
        };
        let b = explore::Bounds {
            max_time: Some(Duration::from_secs(60)),
            max_executions: Some(1000),
            ..explore::Bounds::default()
        };
        // 100 executions/s: 500 left → 5 s, before the 55 s of max-time.
        assert!(stopping_bound(&b, &stats).contains("max-executions=1000 (50%, ~5s)"));
        let b = explore::Bounds {
            max_time: Some(Duration::from_secs(8)),
            max_executions: Some(1000),
            ..explore::Bounds::default()
        };
        assert!(stopping_bound(&b, &stats).contains("max-time=8s in 3s"));
        assert!(stopping_bound(&explore::Bounds::default(), &stats).contains("until exhaustive"));
        let l = line(
            "d3 v5.7",
            &b,
            &explore::Progress {
                stats: &stats,
                depth: 26,
                found: &[],
            },
        );
        assert!(
            l.contains(
                "500 executions, 100/s, depth 26, 5.0s, stops at max-time=8s in 3s — d3 v5.7"
            ),
            "{l}"
        );
        // The stateful search's progress counts states.
        let st = explore::Stats {
            states: 4000,
            elapsed_secs: 2.0,
            ..explore::Stats::default()
        };
        let l = line(
            "d3 v5.7",
            &b,
            &explore::Progress {
                stats: &st,
                depth: 40,
                found: &["io-on-secure-page"],
            },
        );
        assert!(
            l.contains(
                "stateful search: 4000 states, 2000/s, depth 40, 2.0s, found io-on-secure-page — d3 v5.7"
            ),
            "{l}"
        );
    }
}
