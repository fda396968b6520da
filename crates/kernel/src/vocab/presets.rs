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

/// The named presets, oldest first.
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
    release("v6.4", Release::v(6, 4), "c148dc8e2fa4: PTE lock first, pte_write, folio_trylock; -EAGAIN waits on writeback without a reference"),
    release("v6.5", Release::v(6, 5), "a7e689dd1c06: block direct I/O pins (FOLL_PIN); 8ac268436e6d: no long-term pin for write of a shared file mapping"),
    release("v6.11", Release::v(6, 11), "3f29f6537f54: folio_get under the PTE lock before the writeback wait"),
    release("v6.12", Release::v(6, 12), "2024 folio conversion: kernel 0x3d uses folio_try_get; user 0x3d uses folio_walk"),
    release("v6.13", Release::v(6, 13), "05066cafa925: 0x3e handling moves into KVM (same logic)"),
    release("v6.14", Release::v(6, 14), "5cbe24350b7d: gfn_to_page, no PTE lock; freeze at expected+1; writeback -> -EBUSY (issue 26: only in v6.14-rc1..rc7)"),
    release("v6.15", Release::v(6, 15), "d8dfda5af0be: make_hva_secure under folio_walk (PTE lock), wiggle/split"),
    PresetSpec {
        name: "2026",
        doc: "e38c884df921 new gmap: guest-fault walk without the PTE lock; wiggle no longer drains; kernel 0x3d exports always",
        base: Base::Preset("v6.15"),
        overrides: &[
            Override {
                switch: "import_flow",
                value: "new-gmap",
                why: "e38c884df921: the new gmap's guest-fault walk",
            },
            Override {
                switch: "wiggle_drains",
                value: "false",
                why: "as the preset said; issue 26: no source, every readable wiggle still drains",
            },
            Override {
                switch: "kernel_fault",
                value: "export-always",
                why: "\"s390/mm: Add missing secure storage access fixups for donated memory\" (2026-03)",
            },
            Override {
                switch: "pte_clear_export_warns",
                value: "true",
                why: "850103b0ce6d, in the same v7.0 pull as e38c884df921",
            },
            Override {
                switch: "gup_fast_hook_fail_stops",
                value: "true",
                why: "\"mm/gup: fix handling of errors from arch_make_folio_accessible() in follow_page_pte()\" (2025-09, v6.18 with weaker evidence): in every kernel of 2026",
            },
        ],
    },
    PresetSpec {
        name: "2026-06",
        doc: "2026-06 fix: mmap_read_trylock + try_get_locked_pte around the folio trylock",
        base: Base::Preset("2026"),
        overrides: &[Override {
            switch: "import_flow",
            value: "new-gmap-trylock",
            why: "the 2026-06 fix",
        }],
    },
];

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

    /// Today's values of every preset, written before the presets became data (the
    /// switches in the order `describe` wrote them then, sorted): the histories and
    /// overrides must reproduce them exactly.
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
        assert_eq!(n, 13);
    }
}
