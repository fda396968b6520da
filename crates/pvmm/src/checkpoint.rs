//! Checkpoint files (`--checkpoint FILE`, `--resume FILE`) of `pvmm check` and `pvmm matrix`:
//! the finished checks or cells of a run, written as each finishes (the whole file replaced
//! atomically: an interruption at any moment leaves the previous or the next version), so
//! that a resume runs only the rest and prints the same document as an uninterrupted run.
//!
//! What is kept: each check (scenario × preset) or matrix cell that ran to its end — its
//! verdict, statistics, bound, and every property's schedule. What is not: a check or cell an
//! interruption stopped in the middle of its search (a resume runs it again from its start:
//! neither DPOR's nor the stateful search's frontier is saved).
//!
//! A checkpoint records the run it belongs to (the scenario files with their SHA-256, the
//! presets, overrides, search and explicit bounds, the pvmm version); a resume of a
//! different run is refused with the field that differs. Bounds derived from the machine
//! are not part of it: a resume on another machine keeps the finished checks as they were
//! (each states the bounds it ran with).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the checkpoint format.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct File<K, R> {
    format: u32,
    /// `check` or `matrix`.
    kind: String,
    pvmm_version: String,
    /// What the run was asked to do.
    run: K,
    /// The finished checks or cells, in the order they finished.
    done: Vec<R>,
}

/// A run's checkpoint: what a resume brought back, and where each finished item is written.
pub struct Saver<K, R> {
    path: Option<PathBuf>,
    file: File<K, R>,
}

impl<K, R> Saver<K, R>
where
    K: Serialize + DeserializeOwned + PartialEq,
    R: Serialize + DeserializeOwned,
{
    /// Reads `resume` (if given; it must be of the same `kind` and `run`) and writes to
    /// `checkpoint`, or else to `resume`. A new checkpoint file is written at once (an
    /// unwritable path is an error before any work).
    pub fn open(
        checkpoint: Option<&Path>,
        resume: Option<&Path>,
        kind: &str,
        run: K,
    ) -> Result<Self, String> {
        let mut file = File {
            format: FORMAT,
            kind: kind.to_string(),
            pvmm_version: env!("CARGO_PKG_VERSION").to_string(),
            run,
            done: Vec::new(),
        };
        if let Some(r) = resume {
            file.done = read(r, &file)?;
        }
        let saver = Saver {
            path: checkpoint.or(resume).map(Path::to_path_buf),
            file,
        };
        saver.write()?;
        Ok(saver)
    }

    /// A finished item the resumed checkpoint holds, if any.
    pub fn find(&self, pred: impl Fn(&R) -> bool) -> Option<&R> {
        self.file.done.iter().find(|r| pred(r))
    }

    /// Every finished item.
    pub fn done(&self) -> &[R] {
        &self.file.done
    }

    /// Records a finished item and writes the checkpoint.
    pub fn push(&mut self, r: R) -> Result<(), String> {
        self.file.done.push(r);
        self.write()
    }

    /// The checkpoint file written, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn write(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = serde_json::to_string(&self.file)
            .map_err(|e| format!("{}: cannot write the checkpoint: {e}", path.display()))?;
        checker::input::write_atomic(path, &(text + "\n")).map_err(|e| format!("--checkpoint: {e}"))
    }
}

/// The finished items of the checkpoint at `path`, which must be of the same kind and run
/// as `now`.
fn read<K, R>(path: &Path, now: &File<K, R>) -> Result<Vec<R>, String>
where
    K: Serialize + DeserializeOwned + PartialEq,
    R: DeserializeOwned,
{
    let shown = path.display();
    let text = checker::input::read_text(
        path,
        "checkpoint file",
        checker::input::MAX_CHECKPOINT_BYTES,
    )
    .map_err(|e| format!("--resume {e}"))?;
    let head: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "--resume {shown}:{}:{}: not a pvmm checkpoint: {e}",
            e.line(),
            e.column()
        )
    })?;
    let field = |k: &str| head.get(k).cloned().unwrap_or(serde_json::Value::Null);
    if field("format") != serde_json::json!(FORMAT) || field("kind") != serde_json::json!(now.kind)
    {
        return Err(format!(
            "--resume {shown}: not a checkpoint of `pvmm {}` (format {FORMAT})",
            now.kind
        ));
    }
    if field("pvmm_version") != serde_json::json!(now.pvmm_version) {
        return Err(format!(
            "--resume {shown}: written by pvmm {}, this is pvmm {} (its results could differ: run without --resume)",
            field("pvmm_version"),
            now.pvmm_version
        ));
    }
    let was = field("run");
    let is = serde_json::to_value(&now.run).expect("the run key serialises");
    if was != is {
        let differs = is
            .as_object()
            .and_then(|o| o.keys().find(|k| was.get(*k) != is.get(*k)).cloned())
            .unwrap_or_else(|| "run".to_string());
        return Err(format!(
            "--resume {shown}: the checkpoint is of another run: `{differs}` was {} and is now {} (resume with the same scenarios and options, or start again with --checkpoint)",
            was.get(&differs).unwrap_or(&serde_json::Value::Null),
            is.get(&differs).unwrap_or(&serde_json::Value::Null)
        ));
    }
    let file: File<K, R> = serde_json::from_value(head)
        .map_err(|e| format!("--resume {shown}: not a pvmm checkpoint: {e}"))?;
    Ok(file.done)
}
