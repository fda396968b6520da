//! The named presets as data: each a release (whose switches come from the histories in
//! [`super::switches`]) or another preset, with overrides. `pvmm list` prints them;
//! [`preset`] builds one.

use super::release::Release;
use super::switches::{Kernel, SwitchError};

/// What a preset starts from.
#[derive(Copy, Clone, Debug)]
pub enum Base {
    /// A release: every switch from its history ([`Kernel::at`]).
    Release(Release),
    /// Another preset (declared earlier in [`PRESETS`]).
    Preset(&'static str),
}

/// A switch a preset sets over its base, and why.
#[derive(Copy, Clone, Debug)]
pub struct Override {
    pub switch: &'static str,
    pub value: &'static str,
    pub why: &'static str,
}

/// One named preset.
#[derive(Copy, Clone, Debug)]
pub struct PresetSpec {
    pub name: &'static str,
    /// What it follows (commits, what changed).
    pub doc: &'static str,
    pub base: Base,
    pub overrides: &'static [Override],
}

const fn release(name: &'static str, r: Release, doc: &'static str) -> PresetSpec {
    PresetSpec {
        name,
        doc,
        base: Base::Release(r),
        overrides: &[],
    }
}

/// Why a Debian tree differs from the upstream stable point it is named after.
const DEBIAN_6_12_REVERT: &str = "Debian's own 6.12.115-2 upload reverts \"KVM: s390: move pv gmap functions into kvm\", \"KVM: s390: use __kvm_faultin_pfn()\", \"KVM: s390: pv: fix race when making a page secure\" and \"s390/uv: Don't return 0 from make_hva_secure() ...\" (changelog.Debian of linux-source-6.12); 6.12.118 uv.c read: gmap_make_secure with get_locked_pte, folio_trylock, drain_lru";

/// The named presets, oldest first: each a release (its switches from the histories) or, for
/// a distribution's tree and the never-merged splice patch, a release with overrides.
#[rustfmt::skip] // a table: one release preset a line
pub const PRESETS: &[PresetSpec] = &[
    release("v5.7", Release::v(5, 7), "f28d43636d6f hooks, 214d9bbcd3a6 import: follow_page + lock_page (no ref), uv_call loops while busy; try_get_page WARNs, two-step grab"),
    PresetSpec {
        name: "v5.7+splice-patch",
        doc: "v5.7 with the proposed hook in page_cache_pipe_buf_confirm (never merged)",
        base: Base::Release(Release::v(5, 7)),
        overrides: &[Override {
            switch: "splice_confirm_hook",
            value: "true",
            why: "\"fs/splice: add missing callback for inaccessible pages\", v2, 2020-04-30",
        }],
    },
    release("v5.15", Release::v(5, 15), "54d516b1d62f: the slow-path grab is one add-unless-zero, silent on a frozen count"),
    release("v5.16", Release::v(5, 16), "v5.15 + f0a1a0615a6f single __uv_call (busy -> -EAGAIN) + 380d97bd02fc owned export clears PG_arch_1"),
    release("v5.17", Release::v(5, 17), "revert c36c04c2e132: the slow-path grab WARNs and adds in two steps again"),
    release("v6.0", Release::v(6, 0), "72b1daff2671 export before import with more than one protected VM"),
    release("v6.1", Release::v(6, 1), "mainline v6.1: as v6.0 (import still follow_page + lock_page)"),
    release("v6.1.192", Release::stable(6, 1, 192), "the stable point of Debian bookworm's tree (read in /work/ksrc): c148dc8e2fa4 from 6.1.29, the folio conversion and 3f29f6537f54 from 6.1.103, the 2026-03 kernel 0x3d fix"),
    release("v6.4", Release::v(6, 4), "c148dc8e2fa4: PTE lock first, pte_write, folio_trylock; -EAGAIN waits on writeback without a reference"),
    release("v6.5", Release::v(6, 5), "a7e689dd1c06: block direct I/O pins (FOLL_PIN); 8ac268436e6d: no long-term pin for write of a shared file mapping"),
    release("v6.11", Release::v(6, 11), "3f29f6537f54: folio_get under the PTE lock before the writeback wait"),
    release("v6.12", Release::v(6, 12), "2024 folio conversion: kernel 0x3d uses folio_try_get; user 0x3d uses folio_walk"),
    PresetSpec {
        name: "debian-6.12.118",
        doc: "Debian trixie's 6.12.118 (the tree read in /work/ksrc): v6.12.118 without the import series 6.12.114 took (Debian reverts it); the 2026-03 kernel 0x3d fix taken in 6.12.114 and reverted in 6.12.115",
        base: Base::Release(Release::stable(6, 12, 118)),
        overrides: &[
            Override { switch: "import_flow", value: "pte-lock-trylock-ref", why: DEBIAN_6_12_REVERT },
            Override { switch: "freeze_plus_one", value: "false", why: DEBIAN_6_12_REVERT },
            Override { switch: "writeback_ebusy", value: "false", why: DEBIAN_6_12_REVERT },
            Override { switch: "wiggle_drains", value: "false", why: DEBIAN_6_12_REVERT },
            Override { switch: "wiggle_split_eagain", value: "false", why: DEBIAN_6_12_REVERT },
            Override { switch: "enxio_write_fault", value: "false", why: DEBIAN_6_12_REVERT },
        ],
    },
    release("v6.13", Release::v(6, 13), "05066cafa925: 0x3e handling moves into KVM (same logic)"),
    release("v6.14-rc1", Release::rc(6, 14, 1), "5cbe24350b7d (v6.14-rc1..rc7 only): gfn_to_page, no PTE lock, a failed lookup returns 0; freeze at expected+1; writeback -> -EBUSY; -EBUSY -> wait, drain all, -EAGAIN"),
    release("v6.14", Release::v(6, 14), "d8dfda5af0be: make_hva_secure under folio_walk (PTE lock); -ENXIO -> a write fault in the callers; a successful split returns 0 (the page is skipped)"),
    release("v6.16", Release::v(6, 16), "3ec8a8330a1a: a successful split returns -EAGAIN"),
    release("v7.0", Release::v(7, 0), "e38c884df921 new gmap: import_lock, fault-in with a GUP reference, the import under mmu_lock (read) without the host PTE lock; the 2026-03 kernel 0x3d fix"),
    release("v7.1", Release::v(7, 1), "the 2026-06 fix: mmap_read_trylock, try_get_locked_pte, folio_trylock, each -EAGAIN when contended; the PTE's content is not checked"),
];

/// Preset names that were renamed (issue 26: presets are named after the release they
/// describe), with the new name. Asking for an old name is an error that names the new one.
/// (`v6.14` used to be the gfn_to_page flow of v6.14-rc1..rc7, now `v6.14-rc1`; the name
/// `v6.14` now means the v6.14 release.)
pub const RENAMED: &[(&str, &str)] = &[("2026", "v7.0"), ("2026-06", "v7.1")];

/// The preset named `name`.
pub fn spec(name: &str) -> Option<&'static PresetSpec> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Builds the preset named `name` (named after it).
pub fn preset(name: &str) -> Option<Kernel> {
    let p = spec(name)?;
    let mut k = match p.base {
        Base::Release(r) => Kernel::at(&r).ok()?,
        Base::Preset(b) => preset(b)?,
    };
    for o in p.overrides {
        k.set(o.switch, o.value).ok()?;
    }
    k.name = name.to_string();
    Some(k)
}

/// The kernel `name` stands for: a preset, or any release from [`Release::OLDEST`] to
/// [`Release::NEWEST`] (its stable points included), each switch resolved from its history
/// ([`Kernel::at`]). An old preset name is an error naming the new one.
pub fn resolve(name: &str) -> Result<Kernel, String> {
    if let Some(k) = preset(name) {
        return Ok(k);
    }
    if let Some((_, new)) = RENAMED.iter().find(|(old, _)| *old == name) {
        return Err(format!(
            "preset `{name}` was renamed `{new}` (presets are named after the release they describe)"
        ));
    }
    match Release::parse(name) {
        Ok(r) => {
            let mut k = Kernel::at(&r).map_err(|e| e.to_string())?;
            k.name = name.to_string();
            Ok(k)
        }
        Err(e) => Err(format!(
            "`{name}` is neither a preset ({}) nor a kernel release: {e}",
            names()
        )),
    }
}

/// Every preset's problems: an unknown base, a base declared later, a bad override.
pub fn check_presets() -> Result<(), String> {
    for (i, p) in PRESETS.iter().enumerate() {
        match p.base {
            Base::Release(r) => {
                Kernel::at(&r).map_err(|e| format!("preset {}: {e}", p.name))?;
            }
            Base::Preset(b) => {
                if !PRESETS[..i].iter().any(|q| q.name == b) {
                    return Err(format!(
                        "preset {}: base `{b}` is not a preset declared before it",
                        p.name
                    ));
                }
            }
        }
        let mut k = Kernel::at(&Release::v(5, 7)).map_err(|e| e.to_string())?;
        for o in p.overrides {
            k.set(o.switch, o.value)
                .map_err(|e: SwitchError| format!("preset {}: {e}", p.name))?;
        }
    }
    Ok(())
}

/// The preset names, comma-separated (for messages).
pub fn names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every preset's values (the switches sorted by name). Written when the presets became
    /// data and updated by issue 26 (releases, not guesses), whose changes its commit lists:
    /// a change to a history or an override that moves a preset fails here until the
    /// golden file is updated with it.
    const GOLDEN: &str = include_str!("presets.golden");

    #[test]
    fn presets_reproduce_their_values_before_the_vocabulary() {
        check_presets().expect("presets are consistent");
        let mut seen = 0;
        for line in GOLDEN.lines() {
            let (name, want) = line.split_once(' ').expect("name values");
            let k = preset(name).unwrap_or_else(|| panic!("preset {name}"));
            let mut got: Vec<String> = k
                .values()
                .iter()
                .filter(|(s, _)| want.contains(&format!("{s}=")))
                .map(|(s, v)| format!("{s}={v}"))
                .collect();
            got.sort();
            assert_eq!(got.join(" "), want, "preset {name}");
            seen += 1;
        }
        assert_eq!(seen, PRESETS.len(), "every preset is in the golden file");
        assert!(preset("v9.9").is_none());
    }

    /// A preset named after a mainline release is that release's switches.
    #[test]
    fn release_presets_are_their_releases() {
        let mut n = 0;
        for p in PRESETS {
            if let Ok(r) = Release::parse(p.name) {
                assert!(matches!(p.base, Base::Release(b) if b == r), "{}", p.name);
                assert!(p.overrides.is_empty(), "{}", p.name);
                assert_eq!(Kernel::at(&r).ok(), preset(p.name), "{}", p.name);
                n += 1;
            }
        }
        assert_eq!(n, 17);
    }

    /// Any release from v5.7 to v7.1 resolves; stable points follow their own branch's
    /// backports only; renamed presets and releases outside the range are errors.
    #[test]
    fn releases_resolve_from_the_histories() {
        for name in [
            "6.8",
            "v6.10.3",
            "v6.14-rc3",
            "6.1.192",
            "7.1",
            "v7.1.4",
            "v5.7",
        ] {
            let k = resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(k.name, name);
        }
        let flow = |n: &str| resolve(n).expect(n).import_flow;
        use super::super::switches::ImportFlow as F;
        assert_eq!(flow("v6.14-rc3"), F::GfnToPage);
        assert_eq!(flow("v6.14"), F::MakeHvaSecure);
        assert_eq!(flow("v6.15.2"), F::MakeHvaSecure);
        assert_eq!(flow("v6.1.28"), F::FollowPageLockPage);
        assert_eq!(flow("v6.1.29"), F::PteLockTrylock);
        assert_eq!(flow("v6.1.103"), F::PteLockTrylockRef);
        assert_eq!(
            flow("v6.2"),
            F::FollowPageLockPage,
            "a backport stays on its branch"
        );
        assert_eq!(flow("v6.12.113"), F::PteLockTrylockRef);
        assert_eq!(flow("v6.12.118"), F::MakeHvaSecure);
        assert_eq!(flow("debian-6.12.118"), F::PteLockTrylockRef);
        assert_eq!(flow("v7.0-rc3"), F::NewGmap);
        assert_eq!(flow("v7.1-rc6"), F::NewGmap);
        assert_eq!(flow("7.1"), F::NewGmapTrylock);
        let kf = |n: &str| resolve(n).expect(n).kernel_fault;
        use super::super::switches::KernelFault as K;
        assert_eq!(kf("v6.12.114"), K::ExportAlways);
        assert_eq!(kf("v6.12.118"), K::FolioTryGet);
        assert_eq!(kf("v6.1.192"), K::TryGetPageExportAlways);
        assert_eq!(kf("v6.19"), K::FolioTryGet);
        assert_eq!(kf("v7.0"), K::ExportAlways);
        for (bad, why) in [
            ("2026", "renamed `v7.0`"),
            ("2026-06", "renamed `v7.1`"),
            ("v7.2", "newer than"),
            ("v8.0-rc1", "newer than"),
            ("v5.6", "older than"),
            ("v5.7-rc7", "older than"),
            ("linux", "neither a preset"),
        ] {
            let e = resolve(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} resolved"));
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
