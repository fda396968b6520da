//! The resource bounds a check runs within when the user names none, derived from the
//! machine it runs on, so that a search always ends — `incomplete`, with the bound named —
//! before the allocator gives up and aborts the process.
//!
//! * **Time**: [`DEFAULT_MAX_TIME_SECS`] per check (`pvmm check`), [`DEFAULT_CELL_TIME_SECS`]
//!   per cell (`pvmm matrix`). A time bound makes a result depend on the machine; it is a
//!   safety net, and the tests never rely on it (they bound executions or states).
//! * **Memory** (resident set): the least of 75 % of `MemAvailable` when the run starts and
//!   90 % of the memory cgroup's limit (`memory.max`, v2, or `memory.limit_in_bytes`, v1, of
//!   the process's cgroup and its ancestors).
//! * **Address space**: 90 % of the soft `RLIMIT_AS` (`ulimit -v`, `prlimit --as`), or that
//!   minus [`MARGIN_MIB`] if that is less. Past `RLIMIT_AS` every `mmap` fails; the search
//!   compares the process's `VmSize` with it and checks the one large block it allocates at
//!   once (the stateful search's visited table, when it doubles) before allocating it.
//!
//! Every result states the bounds it ran with (text and JSON), and [`MachineLimits::source`]
//! says where the memory bounds came from.

use std::path::Path;

/// The default time bound of one check (`pvmm check`), in seconds.
pub const DEFAULT_MAX_TIME_SECS: u64 = 3600;
/// The default time bound of one matrix cell (`pvmm matrix`), in seconds.
pub const DEFAULT_CELL_TIME_SECS: u64 = 600;
/// The least head-room left under a hard memory limit (cgroup, `RLIMIT_AS`), in MiB: what
/// the process may still allocate between two looks of the memory gauge, plus the replays
/// and output after the search has stopped.
pub const MARGIN_MIB: u64 = 256;

/// The memory bounds derived from the machine.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MachineLimits {
    /// Bound on the resident set, in MiB.
    pub max_memory_mib: Option<u64>,
    /// Bound on the address space, in MiB (only where `RLIMIT_AS` is set).
    pub max_address_space_mib: Option<u64>,
    /// Where the bounds come from, e.g. `75% of MemAvailable 22541 MiB`.
    pub source: String,
}

/// What the machine says (each `None` when unknown or unlimited), in MiB.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Machine {
    pub mem_available_mib: Option<u64>,
    pub cgroup_limit_mib: Option<u64>,
    pub rlimit_as_mib: Option<u64>,
}

impl Machine {
    /// Reads `/proc/meminfo`, the memory cgroup and `/proc/self/limits` (Linux; elsewhere
    /// everything is unknown).
    pub fn read() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        Machine {
            mem_available_mib: read("/proc/meminfo").and_then(|t| mem_available_mib(&t)),
            cgroup_limit_mib: read("/proc/self/cgroup")
                .and_then(|t| cgroup_limit_mib(&t, Path::new("/sys/fs/cgroup"))),
            rlimit_as_mib: read("/proc/self/limits").and_then(|t| rlimit_as_mib(&t)),
        }
    }

    /// The bounds these figures give (see the module documentation).
    pub fn limits(&self) -> MachineLimits {
        let mut parts = Vec::new();
        let mut resident: Option<u64> = None;
        if let Some(a) = self.mem_available_mib {
            resident = Some(a * 3 / 4);
            parts.push(format!("75% of MemAvailable {a} MiB"));
        }
        if let Some(c) = self.cgroup_limit_mib {
            let b = headroom(c);
            if resident.is_none_or(|r| b < r) {
                resident = Some(b);
            }
            parts.push(format!("cgroup memory limit {c} MiB less 10%"));
        }
        let address_space = self.rlimit_as_mib.map(|l| {
            parts.push(format!("RLIMIT_AS {l} MiB less 10%"));
            headroom(l)
        });
        MachineLimits {
            max_memory_mib: resident,
            max_address_space_mib: address_space,
            source: if parts.is_empty() {
                "no memory limit known on this machine".to_string()
            } else {
                format!("the least of: {}", parts.join(", "))
            },
        }
    }
}

/// The bounds derived from this machine, now.
pub fn machine() -> MachineLimits {
    Machine::read().limits()
}

/// What a hard limit of `limit` MiB leaves to a search: 90 %, and at least [`MARGIN_MIB`]
/// below the limit.
fn headroom(limit: u64) -> u64 {
    (limit - limit / 10).min(limit.saturating_sub(MARGIN_MIB))
}

/// `MemAvailable` of `/proc/meminfo`, in MiB.
pub fn mem_available_mib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemAvailable:")?;
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kib / 1024)
    })
}

/// The soft `Max address space` of `/proc/self/limits`, in MiB (`None`: unlimited).
pub fn rlimit_as_mib(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..]
        .split_whitespace()
        .next()?;
    let bytes: u64 = soft.parse().ok()?;
    Some(bytes / (1024 * 1024))
}

/// The tightest memory limit of the process's cgroup and its ancestors, in MiB, from
/// `/proc/self/cgroup` (`cgroup`) and the cgroup file systems under `root` (cgroup v2:
/// `memory.max` under `root` or `root/unified`; v1: `memory.limit_in_bytes` under
/// `root/memory`). Values of 2^62 bytes and more mean "no limit" (v1 writes
/// 9223372036854771712).
pub fn cgroup_limit_mib(cgroup: &str, root: &Path) -> Option<u64> {
    let mut best: Option<u64> = None;
    let mut offer = |bytes: u64| {
        if bytes < 1 << 62 {
            let mib = bytes / (1024 * 1024);
            best = Some(best.map_or(mib, |b| b.min(mib)));
        }
    };
    for line in cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let files: Vec<(std::path::PathBuf, &str)> = if controllers.is_empty() {
            vec![
                (root.to_path_buf(), "memory.max"),
                (root.join("unified"), "memory.max"),
            ]
        } else if controllers.split(',').any(|c| c == "memory") {
            vec![(root.join("memory"), "memory.limit_in_bytes")]
        } else {
            continue;
        };
        for (base, file) in files {
            // The cgroup and each ancestor up to the root of the hierarchy.
            let mut dir = Path::new(path.trim_start_matches('/'));
            loop {
                let f = base.join(dir).join(file);
                if let Some(v) = std::fs::read_to_string(&f)
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                {
                    offer(v);
                }
                match dir.parent() {
                    Some(p) => dir = p,
                    None => break,
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read() {
        let meminfo = "MemTotal:       24683772 kB\nMemFree:  1 kB\nMemAvailable:   23628008 kB\n";
        assert_eq!(mem_available_mib(meminfo), Some(23074));
        let limits =
            "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max address space         3221225472           unlimited            bytes     \n";
        assert_eq!(rlimit_as_mib(limits), Some(3072));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes     \n";
        assert_eq!(rlimit_as_mib(unlimited), None);
    }

    #[test]
    fn cgroup_limits_v1_and_v2_take_the_tightest_ancestor() {
        let root = std::env::temp_dir().join(format!("pvmm-cgroup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let v2 = root.join("a/b");
        std::fs::create_dir_all(&v2).expect("dir");
        std::fs::write(root.join("a/memory.max"), "2147483648\n").expect("write");
        std::fs::write(v2.join("memory.max"), "max\n").expect("write");
        assert_eq!(cgroup_limit_mib("0::/a/b\n", &root), Some(2048));
        let v1 = root.join("memory/x");
        std::fs::create_dir_all(&v1).expect("dir");
        std::fs::write(v1.join("memory.limit_in_bytes"), "1073741824\n").expect("write");
        std::fs::write(
            root.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .expect("write");
        assert_eq!(
            cgroup_limit_mib("4:memory:/x\n1:cpu:/\n", &root),
            Some(1024)
        );
        assert_eq!(cgroup_limit_mib("1:cpu:/x\n", &root), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn bounds_take_the_least_with_head_room() {
        let m = Machine {
            mem_available_mib: Some(20_000),
            cgroup_limit_mib: Some(8_000),
            rlimit_as_mib: Some(3_072),
        };
        let l = m.limits();
        assert_eq!(l.max_memory_mib, Some(7_200));
        assert_eq!(l.max_address_space_mib, Some(2_765));
        assert!(l.source.contains("RLIMIT_AS 3072 MiB"), "{}", l.source);
        // A small limit keeps MARGIN_MIB free.
        assert_eq!(headroom(1_000), 744);
        let none = Machine::default().limits();
        assert_eq!(none.max_memory_mib, None);
        assert_eq!(none.max_address_space_mib, None);
    }
}
