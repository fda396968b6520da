//! Reading input files without trusting them: only regular files, only up to a size limit,
//! never read whole before the limit is checked. A scenario path that is `/dev/zero` would
//! otherwise be read until memory runs out, and a FIFO would block the process forever.

use std::io::Read;
use std::path::{Path, PathBuf};

/// A file that was not read: which, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl From<InputError> for String {
    fn from(e: InputError) -> String {
        e.to_string()
    }
}

/// The largest scenario file read, in bytes (the built-in scenarios are a few KiB).
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;
/// The largest trace file read, in bytes (a trace of the deepest execution the default
/// depth bound allows, 2,000 steps, is well under 1 MiB).
pub const MAX_TRACE_BYTES: u64 = 16 << 20;
/// The largest checkpoint file read, in bytes.
pub const MAX_CHECKPOINT_BYTES: u64 = 256 << 20;

/// Reads the text of `path`, a `what` (`scenario file`, `trace file`, …), refusing anything
/// that is not a regular file (a directory, a FIFO, a device such as `/dev/zero`) and any
/// file larger than `limit` bytes. The file is opened without blocking (a FIFO swapped in
/// after the check does not hang the process) and read through a cap of `limit + 1` bytes
/// (a file that grows after the check is refused, not read on).
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, InputError> {
    let err = |message: String| InputError {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read {what}: {e}")))?;
    check_kind(&meta, what, limit).map_err(err)?;
    let file = open_nonblocking(path).map_err(|e| err(format!("cannot read {what}: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| err(format!("cannot read {what}: {e}")))?;
    check_kind(&meta, what, limit).map_err(err)?;
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(err(too_large(what, limit)));
    }
    String::from_utf8(bytes).map_err(|e| {
        err(format!(
            "{what} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn check_kind(meta: &std::fs::Metadata, what: &str, limit: u64) -> Result<(), String> {
    if !meta.is_file() {
        return Err(format!(
            "{what} is not a regular file ({}); only regular files are read",
            kind(meta)
        ));
    }
    if meta.len() > limit {
        return Err(too_large(what, limit));
    }
    Ok(())
}

fn too_large(what: &str, limit: u64) -> String {
    format!(
        "{what} is larger than {limit} bytes ({} KiB), the limit for a {what}",
        limit / 1024
    )
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Writes `text` to `path` atomically: into a temporary file next to it, flushed to disk,
/// then renamed over `path` (a reader sees the old file or the new one, never a part).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: cannot write: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_directories_and_large_files_are_refused() {
        let e = read_text(Path::new("/dev/zero"), "scenario file", 1024)
            .expect_err("device")
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("character device"),
            "{e}"
        );
        let d = std::env::temp_dir().join(format!("pvmm-input-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        let e = read_text(&d, "scenario file", 1024)
            .expect_err("directory")
            .to_string();
        assert!(e.contains("a directory"), "{e}");
        let big = d.join("big.toml");
        std::fs::write(&big, vec![b'#'; 2048]).expect("write");
        let e = read_text(&big, "scenario file", 1024)
            .expect_err("large")
            .to_string();
        assert!(e.contains("larger than 1024 bytes"), "{e}");
        assert_eq!(
            read_text(&big, "scenario file", 4096).map(|t| t.len()),
            Ok(2048)
        );
        let fifo = d.join("fifo.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = read_text(&fifo, "trace file", 1024)
                .expect_err("fifo")
                .to_string();
            assert!(e.contains("a FIFO"), "{e}");
        }
        let bin = d.join("bin.toml");
        std::fs::write(&bin, [b'a', 0xff, b'b']).expect("write");
        let e = read_text(&bin, "scenario file", 1024)
            .expect_err("not utf-8")
            .to_string();
        assert!(e.contains("offset 1"), "{e}");
        let out = d.join("out.json");
        write_atomic(&out, "one").expect("write");
        write_atomic(&out, "two").expect("write");
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "two");
        let left: Vec<_> = std::fs::read_dir(&d)
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
