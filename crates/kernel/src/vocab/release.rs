//! Kernel releases: `5.7`, `v6.10.3`, `v6.14-rc3`, ordered as the kernel's history runs
//! (release candidates, then the release, then its stable point releases), and the rule that
//! resolves a switch's value at a release from its history of boundaries
//! ([`Boundary::applies_to`]).

use std::fmt;

/// Where in a release's life a point lies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Point {
    /// `-rcN`: a release candidate of the merge window's tree.
    Rc(u16),
    /// The release itself (`v6.14`).
    Final,
    /// A stable point release (`v6.12.20`).
    Stable(u16),
}

/// One kernel release (or release candidate, or stable point release).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    pub major: u16,
    pub minor: u16,
    pub point: Point,
}

impl Release {
    /// The mainline release `vMAJOR.MINOR`.
    pub const fn v(major: u16, minor: u16) -> Release {
        Release {
            major,
            minor,
            point: Point::Final,
        }
    }

    /// The release candidate `vMAJOR.MINOR-rcN`.
    pub const fn rc(major: u16, minor: u16, rc: u16) -> Release {
        Release {
            major,
            minor,
            point: Point::Rc(rc),
        }
    }

    /// The stable point release `vMAJOR.MINOR.N`.
    pub const fn stable(major: u16, minor: u16, n: u16) -> Release {
        Release {
            major,
            minor,
            point: Point::Stable(n),
        }
    }

    /// The oldest release the model describes: the protected-virtualization host code was
    /// merged for v5.7 (every switch's history starts here).
    pub const OLDEST: Release = Release::v(5, 7);

    /// The newest release whose source was read: v7.1 (the 2026-06 fix "KVM: s390: Lock pte
    /// when making page secure", pulled on top of v7.1-rc6; torvalds/linux pv.c @7bb6284aa7b3
    /// contains it). Its stable points are accepted too; a later release is not described.
    pub const NEWEST: Release = Release::v(7, 1);

    /// Whether this is a point of a stable branch (a backport lands there only).
    pub fn is_stable_point(&self) -> bool {
        matches!(self.point, Point::Stable(_))
    }

    /// Parses `5.7`, `v5.7`, `v6.10.3`, `6.14-rc3`.
    pub fn parse(text: &str) -> Result<Release, ReleaseError> {
        let bad = |why: &str| ReleaseError::Syntax {
            text: text.to_string(),
            why: why.to_string(),
        };
        let s = text.strip_prefix('v').unwrap_or(text);
        let (base, rc) = match s.split_once("-rc") {
            Some((b, n)) => (b, Some(n)),
            None => (s, None),
        };
        let num = |p: &str, what: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!("{what} `{p}` is not a number")));
            }
            p.parse::<u16>()
                .map_err(|_| bad(&format!("{what} `{p}` is too large")))
        };
        let parts: Vec<&str> = base.split('.').collect();
        let point = match (parts.len(), rc) {
            (2, None) => Point::Final,
            (2, Some(n)) => {
                let n = num(n, "release candidate")?;
                if n == 0 {
                    return Err(bad("release candidates count from -rc1"));
                }
                Point::Rc(n)
            }
            (3, None) => {
                let n = num(parts[2], "stable point")?;
                if n == 0 {
                    return Err(bad(
                        "a stable point counts from .1 (write v6.12 for the release)",
                    ));
                }
                Point::Stable(n)
            }
            (3, Some(_)) => return Err(bad("a stable point release has no -rc")),
            _ => {
                return Err(bad(
                    "expected MAJOR.MINOR, MAJOR.MINOR.POINT or MAJOR.MINOR-rcN",
                ))
            }
        };
        Ok(Release {
            major: num(parts[0], "major version")?,
            minor: num(parts[1], "minor version")?,
            point,
        })
    }

    /// An error unless the model describes this release: not after [`Release::NEWEST`]
    /// (its stable points included). Releases before [`Release::OLDEST`] are refused by the
    /// switches' histories ([`ReleaseError::TooOld`]).
    pub fn check_described(&self) -> Result<(), ReleaseError> {
        if self.mainline() > Release::NEWEST {
            return Err(ReleaseError::TooNew {
                release: *self,
                newest: Release::NEWEST,
            });
        }
        Ok(())
    }

    /// The mainline release this point belongs to (`v6.12.20` → `v6.12`).
    pub fn mainline(&self) -> Release {
        Release::v(self.major, self.minor)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.point {
            Point::Rc(n) => write!(f, "v{}.{}-rc{n}", self.major, self.minor),
            Point::Final => write!(f, "v{}.{}", self.major, self.minor),
            Point::Stable(n) => write!(f, "v{}.{}.{n}", self.major, self.minor),
        }
    }
}

/// A release that does not parse, or one the model has no values for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseError {
    Syntax {
        text: String,
        why: String,
    },
    /// Before the oldest boundary of a switch: the model does not describe it.
    TooOld {
        release: Release,
        switch: &'static str,
        oldest: Release,
    },
    /// After the newest release whose source was read ([`Release::NEWEST`] and its stable
    /// points): the model would only guess.
    TooNew {
        release: Release,
        newest: Release,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::Syntax { text, why } => {
                write!(f, "`{text}` is not a kernel release: {why}")
            }
            ReleaseError::TooOld {
                release,
                switch,
                oldest,
            } => write!(
                f,
                "{release} is older than the model: switch `{switch}` starts at {oldest}"
            ),
            ReleaseError::TooNew { release, newest } => write!(
                f,
                "{release} is newer than the newest release whose source was read ({newest} \
                 and its stable points): the model does not describe it"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// How a boundary of a switch's history was established (weakest last).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Read in a release's own source tree (the Debian trees in `/work/ksrc`, or a stored
    /// copy of a release's file): the text says which.
    Source(&'static str),
    /// A stable point release's upstream change log names the commit: the Debian
    /// `changelog.Debian.gz` of `linux-source-6.1` / `linux-source-6.12` lists, under each
    /// upload, the upstream `ChangeLog-X.Y.Z` files it merged with their commit subjects
    /// (the point release that took a backport; tag containment in the stable tree itself
    /// not checked). The text names the change log and the subject.
    Changelog(&'static str),
    /// From patch mails: the posting, the review or the merge (pull request, merge window),
    /// tag containment not checked. The text names the mail.
    Mail(&'static str),
    /// Taken over from the presets as they were before this table existed, not verified
    /// (`docs/kernel-notes.md` may say more).
    Preset(&'static str),
}

impl Evidence {
    /// A short word for the kind of evidence.
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::Source(_) => "source",
            Evidence::Changelog(_) => "stable changelog",
            Evidence::Mail(_) => "mail",
            Evidence::Preset(_) => "preset (unverified)",
        }
    }

    /// What the evidence is.
    pub fn text(&self) -> &'static str {
        match self {
            Evidence::Source(t)
            | Evidence::Changelog(t)
            | Evidence::Mail(t)
            | Evidence::Preset(t) => t,
        }
    }
}

/// From release `from` on, a switch has `value`: a commit's first release (or release
/// candidate, or — for a backport — the stable point release that took it).
#[derive(Copy, Clone, Debug)]
pub struct Boundary<T: 'static> {
    pub from: Release,
    pub value: T,
    /// The commit (12 hex digits), where one is known.
    pub commit: Option<&'static str>,
    pub evidence: Evidence,
}

impl<T> Boundary<T> {
    /// Whether the boundary holds at `r`: a mainline boundary (a release or release
    /// candidate) holds at every later point, stable points of later branches included; a
    /// stable-point boundary (a backport) holds only at later points of its own branch.
    pub fn applies_to(&self, r: &Release) -> bool {
        if self.from.is_stable_point() {
            r.major == self.from.major && r.minor == self.from.minor && *r >= self.from
        } else {
            *r >= self.from
        }
    }
}

/// The value a history gives at `r`: that of the latest boundary that applies to it.
pub fn resolve<'h, T>(history: &'h [Boundary<T>], r: &Release) -> Option<&'h Boundary<T>> {
    history
        .iter()
        .filter(|b| b.applies_to(r))
        .max_by_key(|b| b.from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_print_and_order() {
        for (text, want) in [
            ("5.7", "v5.7"),
            ("v6.10.3", "v6.10.3"),
            ("v6.14-rc3", "v6.14-rc3"),
            ("6.1.192", "v6.1.192"),
        ] {
            assert_eq!(Release::parse(text).expect(text).to_string(), want);
        }
        for bad in [
            "",
            "v6",
            "v6.x",
            "6.1.0",
            "6.1-rc0",
            "6.1.2-rc1",
            "6.1.2.3",
            "v-6.1",
        ] {
            assert!(Release::parse(bad).is_err(), "{bad}");
        }
        let order = [
            "v6.13.9",
            "v6.14-rc1",
            "v6.14-rc7",
            "v6.14",
            "v6.14.1",
            "v6.14.10",
            "v6.15-rc1",
        ];
        let rs: Vec<Release> = order.iter().map(|t| Release::parse(t).unwrap()).collect();
        assert!(rs.windows(2).all(|w| w[0] < w[1]), "{rs:?}");
    }

    #[test]
    fn a_backport_holds_only_on_its_stable_branch() {
        let h = [
            Boundary {
                from: Release::v(5, 7),
                value: 0,
                commit: None,
                evidence: Evidence::Preset(""),
            },
            Boundary {
                from: Release::v(6, 4),
                value: 1,
                commit: None,
                evidence: Evidence::Preset(""),
            },
            Boundary {
                from: Release::stable(6, 1, 50),
                value: 2,
                commit: None,
                evidence: Evidence::Preset(""),
            },
        ];
        let at = |t: &str| resolve(&h, &Release::parse(t).unwrap()).map(|b| b.value);
        assert_eq!(at("v5.6"), None);
        assert_eq!(at("v5.7"), Some(0));
        assert_eq!(at("v6.1"), Some(0));
        assert_eq!(at("v6.1.49"), Some(0));
        assert_eq!(at("v6.1.50"), Some(2));
        assert_eq!(at("v6.1.192"), Some(2));
        assert_eq!(at("v6.2"), Some(0));
        assert_eq!(at("v6.4-rc7"), Some(0));
        assert_eq!(at("v6.4"), Some(1));
        assert_eq!(at("v6.4.3"), Some(1));
        assert_eq!(at("v6.12"), Some(1));
    }
}
