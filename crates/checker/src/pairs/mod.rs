//! The pair matrix: every unordered pair of matrix rows — two host paths at once — against the
//! vCPU that imports the page, on every preset; and the single rows beside them, so that the
//! pairs whose result neither path explains alone (the interactions) can be told.
//!
//! The cells are planned ([`Plan::new`]) over whatever [`matrix::rows`] and the presets are
//! at run time. Cells that are one check up to symmetry are one *check*: a pair is unordered
//! (`a ≤ b`, the host threads in row order), a pair of one row is two identical threads (a
//! symmetry group of the stateful search, `KernelModel::new`), and cells whose scenarios are
//! equal once names are left out and the hosts put in a canonical order, under presets whose
//! switches are all equal (v6.0 and v6.1, v6.12 and v6.13), are checked once and the result
//! given to each ([`scenario::canonical_text`]; a schedule is mapped when the canonical order
//! swapped the hosts). Each check is exhaustive as a matrix cell is: DPOR for the execution
//! budget, then the stateful search (`matrix::cell`'s search, one worker with a fixed seed,
//! so every count is deterministic and the documents hold no time).
//!
//! The single rows are checked first: their counts (the stateful search's states, or DPOR's
//! executions) estimate each pair's cost — the product of its two rows' — and the pairs are
//! checked largest first, or dealt to shards by that estimate ([`shard`]: every shard checks
//! the single rows itself). The documents ([`doc`], and `report::pairs`) are functions of the
//! plan and the checks' outcomes only: a merge of the shards and one run give the same bytes.

pub mod doc;
pub mod scenario;
pub mod shard;

use crate::matrix::{self, Via};
use crate::Verdict;
pub use scenario::{pair_text, Conflict, Row};
use std::collections::BTreeMap;
use std::path::Path;

/// What one check is: a single row (the row's own matrix cell) or a pair of rows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// Row `r` of [`matrix::rows`] alone (its matrix cell).
    Single(usize),
    /// Rows `a ≤ b`: both host threads, `a`'s first.
    Pair(usize, usize),
}

/// The result of a check, as the documents show it (no time: every count is deterministic).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// Violated properties, sorted.
    pub violations: Vec<String>,
    /// Observations (never violations), sorted.
    pub observations: Vec<String>,
    /// DPOR's executions.
    pub executions: u64,
    /// The stateful search's states, when it finished what DPOR's budget did not.
    pub stateful_states: Option<u64>,
    /// The bound that stopped the check (`None`: exhaustive).
    pub stopped_by: Option<String>,
    /// Per violated property, the schedule of its reported trace.
    pub schedules: Vec<(String, String)>,
}

impl Outcome {
    fn of(c: &matrix::Cell) -> Outcome {
        let mut violations = c.violations.clone();
        violations.sort();
        let mut observations = c.observations.clone();
        observations.sort();
        let mut schedules = c.schedules.clone();
        schedules.sort();
        Outcome {
            verdict: c.verdict,
            violations,
            observations,
            executions: c.executions,
            stateful_states: c.stateful_states,
            stopped_by: c.stopped_by.clone(),
            schedules,
        }
    }

    /// The same outcome with the two host threads (thread ids 1 and 2) swapped in every
    /// schedule.
    fn swapped(&self) -> Outcome {
        let swap = |s: &str| {
            s.split('.')
                .map(|t| match t {
                    "1" => "2",
                    "2" => "1",
                    t => t,
                })
                .collect::<Vec<_>>()
                .join(".")
        };
        Outcome {
            schedules: self
                .schedules
                .iter()
                .map(|(p, s)| (p.clone(), swap(s)))
                .collect(),
            ..self.clone()
        }
    }

    /// The schedule of property `p`'s trace.
    pub fn schedule(&self, p: &str) -> Option<&str> {
        self.schedules
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, s)| s.as_str())
    }
}

/// One check: the cell computed for every cell that is the same up to symmetry.
#[derive(Clone, Debug)]
pub struct CheckSpec {
    /// The cell that is computed (the first of its cells in plan order).
    pub unit: Unit,
    pub preset: String,
    /// How many cells it stands for.
    pub cells: usize,
}

/// A cell of the documents and the check that computes it.
#[derive(Clone, Debug)]
pub struct CellRef {
    pub unit: Unit,
    /// Index into [`Plan::presets`].
    pub preset: usize,
    /// Index into [`Plan::checks`].
    pub check: usize,
    /// The check's host threads are this cell's in the other order.
    pub swapped: bool,
}

/// Every cell of the pair matrix and the checks that compute them.
pub struct Plan {
    pub rows: Vec<Row>,
    pub presets: Vec<String>,
    /// The pairs that are one scenario (`a ≤ b`), in order.
    pub pairs: Vec<(usize, usize)>,
    /// The pairs that are not, and why.
    pub conflicts: Vec<(usize, usize, Conflict)>,
    pub checks: Vec<CheckSpec>,
    /// The single rows' cells, then the pairs', each preset in order.
    pub cells: Vec<CellRef>,
    /// Per-cell bounds (DPOR's budget in `max_executions`).
    pub bounds: explore::Bounds,
}

impl Plan {
    /// The plan over `rows` (indices of [`matrix::rows`]; every row when empty) and
    /// `presets`.
    pub fn new(only: &[usize], presets: &[&str], bounds: explore::Bounds) -> Plan {
        let all = matrix::rows();
        let idx: Vec<usize> = if only.is_empty() {
            (0..all.len()).collect()
        } else {
            let mut v = only.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        let rows: Vec<Row> = idx.iter().map(|&i| all[i]).collect();
        let mut pairs = Vec::new();
        let mut conflicts = Vec::new();
        let mut canon: BTreeMap<(usize, usize), (String, bool)> = BTreeMap::new();
        for a in 0..rows.len() {
            for b in a..rows.len() {
                match scenario::canonical_text(rows[a], rows[b]) {
                    Ok(c) => {
                        pairs.push((a, b));
                        canon.insert((a, b), c);
                    }
                    Err(e) => conflicts.push((a, b, e)),
                }
            }
        }
        let singles: Vec<String> = rows
            .iter()
            .map(|&r| scenario::canonical_single(r))
            .collect();
        let kernels: Vec<String> = presets
            .iter()
            .map(|p| {
                format!(
                    "{:?}",
                    kernel::vocab::preset(p).unwrap_or_else(|| panic!("preset {p} exists"))
                )
            })
            .collect();
        let mut checks: Vec<CheckSpec> = Vec::new();
        let mut by_key: BTreeMap<(bool, String, String), usize> = BTreeMap::new();
        let mut cells = Vec::new();
        let mut add = |unit: Unit, p: usize, text: &str, swapped: bool| {
            let key = (
                matches!(unit, Unit::Pair(..)),
                text.to_string(),
                kernels[p].clone(),
            );
            let check = *by_key.entry(key).or_insert_with(|| {
                checks.push(CheckSpec {
                    unit,
                    preset: presets[p].to_string(),
                    cells: 0,
                });
                checks.len() - 1
            });
            checks[check].cells += 1;
            // A cell's order relative to its check's.
            let rep_swapped = match checks[check].unit {
                Unit::Pair(a, b) => canon[&(a, b)].1,
                Unit::Single(_) => false,
            };
            cells.push(CellRef {
                unit,
                preset: p,
                check,
                swapped: swapped != rep_swapped,
            });
        };
        for (r, text) in singles.iter().enumerate() {
            for p in 0..presets.len() {
                add(Unit::Single(r), p, text, false);
            }
        }
        for &(a, b) in &pairs {
            let (text, swapped) = &canon[&(a, b)];
            for p in 0..presets.len() {
                add(Unit::Pair(a, b), p, text, *swapped);
            }
        }
        Plan {
            rows,
            presets: presets.iter().map(|p| p.to_string()).collect(),
            pairs,
            conflicts,
            checks,
            cells,
            bounds,
        }
    }

    /// The row's name ([`matrix::row_name`]).
    pub fn row_name(&self, r: usize) -> String {
        matrix::row_name(self.rows[r].0, self.rows[r].1)
    }

    /// The row index of a name as the table or a command line writes it.
    pub fn find_row(&self, name: &str) -> Option<usize> {
        self.rows
            .iter()
            .position(|&r| matrix::row_name(r.0, r.1) == name || scenario::row_arg(r) == name)
    }

    /// The cell of `unit` on preset `p`.
    pub fn cell(&self, unit: Unit, p: usize) -> Option<&CellRef> {
        self.cells.iter().find(|c| c.unit == unit && c.preset == p)
    }

    /// A text that changes whenever the plan does (the rows' scenarios, presets, bounds,
    /// the pvmm version): shard outputs of one plan carry it, and only they merge.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(env!("CARGO_PKG_VERSION"));
        for p in &self.presets {
            h.update(p);
            h.update(b"\0");
        }
        h.update(format!(
            "{:?}|{:?}|{}",
            self.bounds.max_executions,
            self.bounds.max_time.map(|t| t.as_secs()),
            self.bounds.max_depth
        ));
        for &r in &self.rows {
            h.update(matrix::scenario_text(r.0, r.1, &[]));
            h.update(b"\0");
        }
        for c in &self.checks {
            h.update(format!("{:?}/{}/{}\0", c.unit, c.preset, c.cells));
        }
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    }

    /// The scenario text of a unit under `presets` (a pair's host threads named after their
    /// rows).
    pub fn text(&self, unit: Unit, presets: &[&str]) -> String {
        match unit {
            Unit::Single(r) => matrix::scenario_text(self.rows[r].0, self.rows[r].1, presets),
            Unit::Pair(a, b) => pair_text(self.rows[a], self.rows[b], presets)
                .expect("a planned pair is one scenario"),
        }
    }

    /// The scenario of a unit (parsed like a file, named after the unit).
    pub fn scenario(&self, unit: Unit, presets: &[&str]) -> crate::Scenario {
        let name = self.unit_arg(unit);
        crate::parse(
            Path::new(&format!("matrix/{name}.toml")),
            &self.text(unit, presets),
        )
        .unwrap_or_else(|e| panic!("matrix scenario {name} does not parse: {e}"))
    }

    /// A unit as a file name or command-line words (`ROW` or `ROW1+ROW2`).
    pub fn unit_arg(&self, unit: Unit) -> String {
        match unit {
            Unit::Single(r) => scenario::row_arg(self.rows[r]),
            Unit::Pair(a, b) => format!(
                "{}+{}",
                scenario::row_arg(self.rows[a]),
                scenario::row_arg(self.rows[b])
            ),
        }
    }

    /// Runs check `i`.
    pub fn run(&self, i: usize) -> Outcome {
        let c = &self.checks[i];
        match c.unit {
            Unit::Single(r) => Outcome::of(&matrix::cell(
                self.rows[r].0,
                self.rows[r].1,
                &c.preset,
                self.bounds.clone(),
            )),
            Unit::Pair(..) => {
                let sc = self.scenario(c.unit, &[c.preset.as_str()]);
                Outcome::of(&check_cell(&sc, &c.preset, self.bounds.clone()))
            }
        }
    }

    /// The outcome of every cell (in [`Plan::cells`] order) from the checks' outcomes.
    pub fn cell_outcomes(&self, results: &[Outcome]) -> Vec<Outcome> {
        self.cells
            .iter()
            .map(|c| {
                let o = &results[c.check];
                if c.swapped {
                    o.swapped()
                } else {
                    o.clone()
                }
            })
            .collect()
    }
}

/// One exhaustive check of a scenario as a matrix cell is checked ([`matrix::check_cell`]:
/// DPOR for `bounds.max_executions`, then the stateful search), named after the scenario.
pub fn check_cell(sc: &crate::Scenario, preset: &str, bounds: explore::Bounds) -> matrix::Cell {
    matrix::check_cell(sc, &sc.name, &sc.name, preset, bounds)
}

/// How a pair's result compares with its two rows' results alone on the same preset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interaction {
    /// Properties the pair violates and neither row alone does.
    pub new: Vec<String>,
    /// Properties a row violates alone and the pair does not.
    pub lost: Vec<String>,
    /// The pair's verdict differs from both rows' verdicts.
    pub verdict_differs: bool,
}

impl Interaction {
    /// Compares a pair's outcome with its rows' outcomes.
    pub fn of(pair: &Outcome, a: &Outcome, b: &Outcome) -> Interaction {
        let alone: std::collections::BTreeSet<&String> =
            a.violations.iter().chain(&b.violations).collect();
        let in_pair: std::collections::BTreeSet<&String> = pair.violations.iter().collect();
        Interaction {
            new: in_pair.difference(&alone).map(|s| s.to_string()).collect(),
            lost: alone.difference(&in_pair).map(|s| s.to_string()).collect(),
            verdict_differs: pair.verdict != a.verdict && pair.verdict != b.verdict,
        }
    }

    /// Whether the pair shows anything its rows alone do not.
    pub fn any(&self) -> bool {
        !self.new.is_empty() || !self.lost.is_empty() || self.verdict_differs
    }
}

impl Plan {
    /// The single rows' checks, in plan order.
    pub fn single_checks(&self) -> Vec<usize> {
        (0..self.checks.len())
            .filter(|&i| matches!(self.checks[i].unit, Unit::Single(_)))
            .collect()
    }

    /// The pairs' checks, in plan order.
    pub fn pair_checks(&self) -> Vec<usize> {
        (0..self.checks.len())
            .filter(|&i| matches!(self.checks[i].unit, Unit::Pair(..)))
            .collect()
    }

    /// The estimated cost of each pair check (0 for the single rows'), from the single rows'
    /// outcomes `results` (at least those of [`Plan::single_checks`]): the product of the
    /// two rows' sizes on the check's preset — the stateful search's states, or DPOR's
    /// executions where DPOR finished the row. Deterministic: the counts are. (How well it
    /// predicts a pair's cost has not been measured on a full run yet.)
    pub fn estimates(&self, results: &[Option<Outcome>]) -> Vec<u64> {
        let size = |r: usize, p: usize| -> u64 {
            self.cell(Unit::Single(r), p)
                .and_then(|c| results[c.check].as_ref())
                .map_or(1, |o| o.stateful_states.unwrap_or(o.executions).max(1))
        };
        self.checks
            .iter()
            .map(|c| match c.unit {
                Unit::Single(_) => 0,
                Unit::Pair(a, b) => {
                    let p = self
                        .presets
                        .iter()
                        .position(|q| *q == c.preset)
                        .expect("a check's preset is the plan's");
                    size(a, p).saturating_mul(size(b, p))
                }
            })
            .collect()
    }

    /// `checks` ordered largest estimate first (plan order among equals).
    pub fn largest_first(&self, checks: &[usize], estimates: &[u64]) -> Vec<usize> {
        let mut order = checks.to_vec();
        order.sort_by_key(|&i| (std::cmp::Reverse(estimates[i]), i));
        order
    }
}

/// The rows and presets of a unit, for messages.
pub fn via_text(v: Via) -> &'static str {
    match v {
        Via::Own => "own mm",
        Via::Second => "second mapping",
    }
}

/// Runs `todo` (indices into the plan's checks), `jobs` at a time, in the order given;
/// `finished` is called from the worker threads with each check, its outcome and its
/// seconds as it ends.
pub fn compute(
    plan: &Plan,
    todo: &[usize],
    jobs: usize,
    finished: &(dyn Fn(usize, &Outcome, f64) + Sync),
) {
    let order = todo;
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&i) = order.get(k) else { break };
                let start = std::time::Instant::now();
                let o = plan.run(i);
                finished(i, &o, start.elapsed().as_secs_f64());
            });
        }
    });
}
