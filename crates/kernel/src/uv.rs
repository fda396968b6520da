//! The Ultravisor (UV) firmware: the secure / non-secure state of each frame, and what its
//! calls do to the frame's content.
//!
//! Export (Convert-From-Secure) encrypts the page with the guest's key and keeps the tag, as
//! the real UV keeps integrity data; the host then sees only ciphertext. Import
//! (Convert-To-Secure) of a page that was exported decrypts it and checks its integrity: a
//! host write to the exported page makes the import fail. Import of a page that was never
//! secure clears it. The AEAD is ChaCha20-Poly1305 (RustCrypto `chacha20poly1305`).
//!
//! UV return codes used by the kernel: rc 0x10a is read by `make_secure_pte` as "page not
//! mapped" [UNCONFIRMED: only the kernel comment says so]. A second export of a page that is
//! already non-secure is modelled as success without change (Borntraeger, 2020-02-17:
//! "(mostly) no-op") [UNCONFIRMED: firmware answer undocumented].

use crate::world::PAGE_BYTES;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};

/// The UV's view of one frame.
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq)]
pub enum UvState {
    /// Host-accessible.
    #[default]
    NonSecure,
    /// Belongs to a guest; the host may not touch it.
    Secure { guest: u32, gfn: usize },
    /// A guest-shared page the host pinned (`uv_pin_shared`): accessible.
    SharedPinned { guest: u32, gfn: usize },
}

/// Integrity data the UV keeps for an exported page.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub struct Sealed {
    pub guest: u32,
    pub gfn: usize,
    pub nonce: u64,
    pub tag: [u8; 16],
    /// The page holds a part of the guest's encrypted boot image, placed by the host for
    /// `KVM_PV_UNPACK` (set up by `build.rs`), not a page the UV exported: only Unpack
    /// decrypts it; Convert-To-Secure brings the page in for the first time and clears it.
    pub image: bool,
}

#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct UvFrame {
    pub state: UvState,
    /// The guest shared this frame (Set-Shared-Access): pin-shared succeeds.
    pub shared: bool,
    /// Present while the frame holds an exported (encrypted) guest page.
    pub sealed: Option<Sealed>,
    /// Exports so far (the nonce of the next one: deterministic in every execution).
    pub exports: u64,
}

/// Per-guest keys, fixed per scenario so that every execution is deterministic.
#[derive(Clone, Debug)]
pub struct UvKeys {
    keys: Vec<[u8; 32]>,
}

impl UvKeys {
    pub fn new(guests: usize) -> Self {
        UvKeys {
            keys: (0..guests)
                .map(|g| {
                    let mut k = [0u8; 32];
                    for (i, b) in k.iter_mut().enumerate() {
                        *b = (g as u8).wrapping_mul(31).wrapping_add(i as u8 * 7 + 1);
                    }
                    k
                })
                .collect(),
        }
    }

    fn cipher(&self, guest: u32) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(
            &self.keys[guest as usize % self.keys.len()],
        ))
    }

    /// The nonce of the `n`-th export of guest frame `gfn`: the low 32 bits of `n`, the high
    /// and the low 32 bits of `gfn` (a gfn has up to 52 bits, `world::MAX_GFN`). Distinct
    /// for every (n, gfn) with n < 2^32: an execution has at most `MAX_DEPTH` steps, one
    /// export each. (For gfn < 2^32 the bytes are those of the former layout, n as 8 bytes
    /// then gfn as 4.)
    fn nonce(n: u64, gfn: usize) -> [u8; 12] {
        let gfn = gfn as u64;
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&(n as u32).to_le_bytes());
        b[4..8].copy_from_slice(&((gfn >> 32) as u32).to_le_bytes());
        b[8..].copy_from_slice(&(gfn as u32).to_le_bytes());
        b
    }
}

/// Result of a UV call, as the condition code and return code the kernel reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UvRc {
    Ok,
    /// rc 0x10a: read by the kernel as "page not mapped" → `-ENXIO`.
    NotMapped,
    /// The integrity check of an exported page failed.
    IntegrityFailure,
    /// The frame is secure for another guest or in a state the call refuses.
    Refused,
    /// Condition code 2 (busy) or 3 (partial completion): the call must be repeated. The
    /// kernel treats both alike (`uv_call` loops while cc > 1; the callers of `__uv_call`
    /// test `UVC_CC_BUSY || UVC_CC_PARTIAL`).
    Busy,
    /// Condition code 1 with a return code the firmware environment scripted (`uv-fail`).
    Error {
        rc: u16,
        rrc: u16,
    },
}

/// The UV calls the model issues, named as scenarios name them; each is one UVC command of
/// `arch/s390/include/asm/uv.h` (its `UVC_CMD_*` code in [`UvCall::command`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UvCall {
    /// Convert-To-Secure-Storage (the import of a touched page).
    Import,
    /// Unpack-Image (the import of an image page, `KVM_PV_UNPACK`).
    Unpack,
    /// Convert-From-Secure-Storage (the export).
    Export,
    /// Pin-Page-Shared.
    PinShared,
    /// Destroy-Secure-Storage (a page).
    Destroy,
    /// Destroy-Secure-Configuration (the guest).
    DestroySecConf,
    /// Destroy-Secure-Configuration-Fast (the guest, its memory left to be destroyed).
    DestroySecConfFast,
}

/// How many [`UvCall`]s there are.
pub const UV_CALLS: usize = 7;

impl UvCall {
    /// Every call, by index.
    pub const ALL: [UvCall; UV_CALLS] = [
        UvCall::Import,
        UvCall::Unpack,
        UvCall::Export,
        UvCall::PinShared,
        UvCall::Destroy,
        UvCall::DestroySecConf,
        UvCall::DestroySecConfFast,
    ];

    /// As a scenario names it (`call = "export|pin-shared"`).
    pub fn name(self) -> &'static str {
        match self {
            UvCall::Import => "import",
            UvCall::Unpack => "unpack",
            UvCall::Export => "export",
            UvCall::PinShared => "pin-shared",
            UvCall::Destroy => "destroy",
            UvCall::DestroySecConf => "destroy-sec-conf",
            UvCall::DestroySecConfFast => "destroy-sec-conf-fast",
        }
    }

    /// The UVC command (arch/s390/include/asm/uv.h, 6.12.118).
    pub fn command(self) -> &'static str {
        match self {
            UvCall::Import => "UVC_CMD_CONV_TO_SEC_STOR (0x0200)",
            UvCall::Unpack => "UVC_CMD_UNPACK_IMG (0x0301)",
            UvCall::Export => "UVC_CMD_CONV_FROM_SEC_STOR (0x0201)",
            UvCall::PinShared => "UVC_CMD_PIN_PAGE_SHARED (0x0341)",
            UvCall::Destroy => "UVC_CMD_DESTR_SEC_STOR (0x0202)",
            UvCall::DestroySecConf => "UVC_CMD_DESTROY_SEC_CONF (0x0101)",
            UvCall::DestroySecConfFast => "UVC_CMD_DESTROY_SEC_CONF_FAST (0x0102)",
        }
    }

    /// Its bit in a set of calls.
    pub fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The calls of a set, in index order.
    pub fn in_set(set: u32) -> impl Iterator<Item = UvCall> {
        Self::ALL.into_iter().filter(move |c| set & c.bit() != 0)
    }
}

/// What the firmware answers a call instead of doing it: the environment a scenario's
/// firmware ops (`uv-busy`, `uv-fail`) script. Busy and partial completion are the
/// architecture's condition codes 2 and 3 (the call must be repeated); an error is
/// condition code 1 with a return code in the control block.
///
/// A busy *period* makes every call of a set answer busy until the period ends, so a caller
/// sees busy any number of times; the period's end is a step of the firmware's thread that
/// the explorer may put anywhere (weak fairness: it happens), or never (`forever`). Scripted
/// counts answer busy for exactly the next `count` calls. Failures answer the next `count`
/// calls with condition code 1.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct UvEnv {
    /// Per call: scripted busy answers still to give.
    pub busy: [u32; UV_CALLS],
    /// The calls inside a busy period (a set of [`UvCall::bit`]).
    pub period: u32,
    /// The calls whose busy answers are partial completions (condition code 3).
    pub partial: u32,
    /// Per call: scripted failures still to give, with their return codes.
    pub fail: [Option<Failure>; UV_CALLS],
}

/// Scripted failures of one call: `count` answers of condition code 1 with `rc`/`rrc`.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub struct Failure {
    pub count: u32,
    pub rc: u16,
    pub rrc: u16,
}

/// The firmware's answer to one call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// The UV does the call.
    Proceed,
    /// Condition code 2 or 3; `period` when a busy period (not a scripted count) answered.
    Busy { cc: u8, period: bool },
    /// Condition code 1.
    Error { rc: u16, rrc: u16 },
}

impl UvEnv {
    /// The answer to `call`, consuming a scripted busy answer or failure. A busy period
    /// answers before the scripted counts, busy answers before failures.
    pub fn answer(&mut self, call: UvCall) -> Answer {
        let i = call as usize;
        let cc = if self.partial & call.bit() != 0 { 3 } else { 2 };
        if self.period & call.bit() != 0 {
            return Answer::Busy { cc, period: true };
        }
        if self.busy[i] > 0 {
            self.busy[i] -= 1;
            if self.busy[i] == 0 {
                self.partial &= !call.bit();
            }
            return Answer::Busy { cc, period: false };
        }
        if let Some(f) = self.fail[i] {
            self.fail[i] = (f.count > 1).then_some(Failure {
                count: f.count - 1,
                ..f
            });
            return Answer::Error {
                rc: f.rc,
                rrc: f.rrc,
            };
        }
        Answer::Proceed
    }

    /// Whether `call` is inside a busy period.
    pub fn in_period(&self, call: UvCall) -> bool {
        self.period & call.bit() != 0
    }
}

/// Convert-To-Secure: make `frame` a secure page of `guest` at `gfn`. "If it's brought in
/// the first time, it will be cleared. If it has been exported before, it will be decrypted
/// and integrity checked" (arch/s390/kernel/uv.c: the comment above `gmap_make_secure`,
/// 6.1.192): an unpack image that was never unpacked counts as brought in the first time.
/// `mapped` is whether the host PTE that the UV follows is valid.
pub fn import(
    keys: &UvKeys,
    frame: &mut UvFrame,
    data: &mut [u8; PAGE_BYTES],
    guest: u32,
    gfn: usize,
    mapped: bool,
) -> UvRc {
    if frame.sealed.is_some_and(|s| s.image) {
        frame.sealed = None;
    }
    import_sealed(keys, frame, data, guest, gfn, mapped)
}

/// Unpack (`UVC_CMD_UNPACK_IMG`): as [`import`], and a frame holding a part of the guest's
/// encrypted image is decrypted (and integrity checked) into place.
pub fn unpack(
    keys: &UvKeys,
    frame: &mut UvFrame,
    data: &mut [u8; PAGE_BYTES],
    guest: u32,
    gfn: usize,
    mapped: bool,
) -> UvRc {
    import_sealed(keys, frame, data, guest, gfn, mapped)
}

/// What an import does with a frame's seal, whatever made it.
fn import_sealed(
    keys: &UvKeys,
    frame: &mut UvFrame,
    data: &mut [u8; PAGE_BYTES],
    guest: u32,
    gfn: usize,
    mapped: bool,
) -> UvRc {
    if !mapped {
        return UvRc::NotMapped;
    }
    match &frame.state {
        UvState::Secure { guest: g, gfn: f } if *g == guest && *f == gfn => return UvRc::Ok,
        UvState::Secure { .. } | UvState::SharedPinned { .. } => return UvRc::Refused,
        UvState::NonSecure => {}
    }
    match frame.sealed.take() {
        Some(s) if s.guest == guest && s.gfn == gfn => {
            let nonce = UvKeys::nonce(s.nonce, gfn);
            let ok = keys
                .cipher(guest)
                .decrypt_in_place_detached(
                    Nonce::from_slice(&nonce),
                    b"pvmm-uv",
                    &mut data[..],
                    Tag::from_slice(&s.tag),
                )
                .is_ok();
            if !ok {
                frame.sealed = Some(s);
                return UvRc::IntegrityFailure;
            }
        }
        Some(s) => {
            // An exported image of another guest page: the UV will not import it here.
            frame.sealed = Some(s);
            return UvRc::Refused;
        }
        None => *data = [0; PAGE_BYTES],
    }
    frame.state = UvState::Secure { guest, gfn };
    UvRc::Ok
}

/// Convert-From-Secure (export): encrypt a secure page and hand it to the host.
pub fn export(keys: &UvKeys, frame: &mut UvFrame, data: &mut [u8; PAGE_BYTES]) -> UvRc {
    let (guest, gfn) = match frame.state {
        UvState::NonSecure => return UvRc::Ok, // second export: no-op [UNCONFIRMED]
        UvState::SharedPinned { .. } => return UvRc::Ok,
        UvState::Secure { guest, gfn } => (guest, gfn),
    };
    frame.exports += 1;
    let n = frame.exports;
    let nonce = UvKeys::nonce(n, gfn);
    let tag = keys
        .cipher(guest)
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"pvmm-uv", &mut data[..])
        .expect("ChaCha20-Poly1305 encrypts any 32-byte page");
    frame.sealed = Some(Sealed {
        guest,
        gfn,
        nonce: n,
        tag: tag.into(),
        image: false,
    });
    frame.state = UvState::NonSecure;
    UvRc::Ok
}

/// Destroy-Secure-Storage: a secure page is cleared and becomes host-accessible (no
/// encryption: the guest's data is gone). On a page that is not secure newer firmware does
/// nothing and answers success; older firmware answers rc 0x107 rrc 0xd, which the kernel
/// reads as success too (`uv_destroy_page`, arch/s390/kernel/uv.c, 6.1.192; the scripted
/// `uv-fail call = "destroy", rc = 0x107, rrc = 0xd` plays that firmware).
pub fn destroy(frame: &mut UvFrame, data: &mut [u8; PAGE_BYTES]) -> UvRc {
    match frame.state {
        UvState::NonSecure => UvRc::Ok,
        UvState::Secure { .. } | UvState::SharedPinned { .. } => {
            frame.state = UvState::NonSecure;
            frame.sealed = None;
            *data = [0; PAGE_BYTES];
            UvRc::Ok
        }
    }
}

/// Destroy-Secure-Configuration of `guest`: "If the protected VM has memory, it will be
/// cleaned up and made accessible by the Destroy Secure Configuration UVC" (commit text of
/// "KVM: s390: pv: destroy the configuration before its memory", v6.0): every page of the
/// guest is cleared and non-secure, the integrity data of its exported pages forgotten.
/// With `clean == false` (Destroy-Secure-Configuration-Fast: "the protected guest is
/// destroyed immediately, leaving only the memory to be cleaned up asynchronously", commit
/// text of "KVM: s390: pv: support for Destroy fast UVC", v6.2) the pages stay secure until
/// each is destroyed [the firmware's treatment of those pages in between is UNCONFIRMED].
/// Called for every frame.
pub fn destroy_sec_conf(frame: &mut UvFrame, data: &mut [u8; PAGE_BYTES], guest: u32, clean: bool) {
    if !clean {
        return;
    }
    let ours = match frame.state {
        UvState::Secure { guest: g, .. } | UvState::SharedPinned { guest: g, .. } => g == guest,
        UvState::NonSecure => false,
    };
    if ours {
        frame.state = UvState::NonSecure;
        *data = [0; PAGE_BYTES];
    }
    if frame.sealed.is_some_and(|s| s.guest == guest) {
        frame.sealed = None;
    }
}

/// Pin-Shared: a secure page that the guest shared becomes host-accessible as is.
pub fn pin_shared(frame: &mut UvFrame) -> UvRc {
    match frame.state {
        UvState::Secure { guest, gfn } if frame.shared => {
            frame.state = UvState::SharedPinned { guest, gfn };
            UvRc::Ok
        }
        _ => UvRc::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_encrypts_and_import_verifies() {
        let keys = UvKeys::new(1);
        let mut f = UvFrame::default();
        let mut data = [0u8; PAGE_BYTES];
        assert_eq!(import(&keys, &mut f, &mut data, 0, 3, true), UvRc::Ok);
        data[0] = 42; // guest writes
        assert_eq!(export(&keys, &mut f, &mut data), UvRc::Ok);
        assert_ne!(data[0], 42, "host sees ciphertext");
        let saved = data;
        assert_eq!(import(&keys, &mut f, &mut data, 0, 3, true), UvRc::Ok);
        assert_eq!(data[0], 42, "round trip");
        // a host write to the exported page fails the next import
        assert_eq!(export(&keys, &mut f, &mut data), UvRc::Ok);
        data[1] ^= 1;
        assert_eq!(
            import(&keys, &mut f, &mut data, 0, 3, true),
            UvRc::IntegrityFailure
        );
        let _ = saved;
        assert_eq!(
            import(&keys, &mut f, &mut data, 0, 3, false),
            UvRc::NotMapped
        );
    }

    /// An unpack image decrypts only through Unpack; Convert-To-Secure clears it (the page
    /// is brought in for the first time).
    #[test]
    fn an_image_is_unpacked_or_cleared() {
        let keys = UvKeys::new(1);
        let image = |d: u8| {
            let mut f = UvFrame {
                state: UvState::Secure { guest: 0, gfn: 5 },
                ..UvFrame::default()
            };
            let mut data = [d; PAGE_BYTES];
            assert_eq!(export(&keys, &mut f, &mut data), UvRc::Ok);
            f.sealed.as_mut().expect("sealed").image = true;
            (f, data)
        };
        let (mut f, mut data) = image(0x42);
        assert_eq!(unpack(&keys, &mut f, &mut data, 0, 5, true), UvRc::Ok);
        assert_eq!(data, [0x42; PAGE_BYTES]);
        let (mut f, mut data) = image(0x42);
        assert_eq!(import(&keys, &mut f, &mut data, 0, 5, true), UvRc::Ok);
        assert_eq!(data, [0; PAGE_BYTES], "Convert-To-Secure clears an image");
        assert_eq!(f.sealed, None);
    }
}
