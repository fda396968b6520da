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
    /// Condition code 2: the UV is busy; the call must be repeated.
    Busy,
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
