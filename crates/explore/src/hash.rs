//! The 128-bit hash behind the stateful search's keys and the runtime's thread histories.

use std::hash::Hasher;

/// The splitmix64 finaliser (Steele, Lea and Flood, OOPSLA 2014): every input bit affects
/// every output bit.
#[inline]
pub(crate) fn avalanche(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Two multiply–rotate lanes with different seeds, rotations and multipliers over the same
/// input, in one pass, each finished with the splitmix64 avalanche: a 128-bit value.
///
/// The input is the byte stream of the writes (as `Hasher`'s default methods define it: a
/// `u32` is its four bytes), gathered into 64-bit words: a word is mixed into the lanes when
/// it is full, and the last, partial word with its length in its top byte. Small fields
/// (flags, counts, ids) therefore cost a shift and an or each, not a round of the lanes.
#[derive(Clone)]
pub struct Hasher128 {
    lanes: (u64, u64),
    /// Bytes written since the last full word, little-endian.
    buf: u64,
    /// How many (0..8).
    fill: u32,
}

impl Hasher128 {
    /// A hasher whose lanes start from `seed1` and `seed2` (different seeds give independent
    /// hashes of the same input).
    pub fn new(seed1: u64, seed2: u64) -> Self {
        Hasher128 {
            lanes: (seed1, seed2),
            buf: 0,
            fill: 0,
        }
    }
    #[inline]
    fn mix(&mut self, w: u64) {
        let (a, b) = &mut self.lanes;
        *a = (a.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        *b = (b.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    /// Appends the `n` (1..=8) low bytes of `v` (its other bytes zero) to the stream.
    #[inline]
    fn push(&mut self, v: u64, n: u32) {
        let fill = self.fill;
        if fill == 0 && n == 8 {
            self.mix(v);
            return;
        }
        self.buf |= v << (8 * fill);
        let total = fill + n;
        if total < 8 {
            self.fill = total;
        } else {
            let full = self.buf;
            self.mix(full);
            // `fill` ≥ 1 here (else `total` < 8 or the word went straight in): the bytes of
            // `v` that did not fit start the next word.
            self.buf = v >> (8 * (8 - fill));
            self.fill = total - 8;
        }
    }
    /// Both lanes, finished.
    pub fn lanes(&self) -> [u64; 2] {
        let mut h = self.clone();
        if h.fill > 0 {
            let last = h.buf | (u64::from(h.fill) << 56);
            h.mix(last);
        }
        [h.lanes.0, h.lanes.1].map(avalanche)
    }
    /// Both lanes, finished, as one 128-bit value.
    pub fn finish128(&self) -> u128 {
        let [a, b] = self.lanes();
        ((a as u128) << 64) | b as u128
    }
}

impl Hasher for Hasher128 {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.push(u64::from_le_bytes(c.try_into().expect("8 bytes")), 8);
        }
        for &b in chunks.remainder() {
            self.push(u64::from(b), 1);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.push(i as u64, 1);
    }
    fn write_u16(&mut self, i: u16) {
        self.push(i as u64, 2);
    }
    fn write_u32(&mut self, i: u32) {
        self.push(i as u64, 4);
    }
    fn write_u64(&mut self, i: u64) {
        self.push(i, 8);
    }
    fn write_u128(&mut self, i: u128) {
        self.push(i as u64, 8);
        self.push((i >> 64) as u64, 8);
    }
    fn write_usize(&mut self, i: usize) {
        self.push(i as u64, 8);
    }
    fn finish(&self) -> u64 {
        self.lanes()[0]
    }
}

/// A local key: the bytes written, exactly, when there are at most 15 of them (no hashing,
/// no collision), else a [`Hasher128`] of the same byte stream. For the per-thread parts of
/// a symmetric state key (a resume point and a few bits), which are ranked and then hashed
/// into the state's key: packing them costs a shift and an or per write instead of a
/// multiply–rotate round per write and a finish per thread.
///
/// The byte stream of one type's `Hash` impl is prefix-free (the `Hash` contract: lengths
/// are written before contents, strings end with `0xff`), so equal packed values mean equal
/// inputs; the length is part of the value, and a hashed value has its top byte set to `0xff`
/// (a packed one has its length + 1 there, at most 16), so the two forms never meet.
#[derive(Clone)]
pub struct Packer {
    buf: u128,
    /// Bytes in `buf`, while packing.
    len: u32,
    /// The hash of the stream, once it outgrew `buf`.
    hashed: Option<Hasher128>,
}

impl Packer {
    const CAP: u32 = 15;

    /// An empty key.
    pub fn new() -> Self {
        Packer {
            buf: 0,
            len: 0,
            hashed: None,
        }
    }

    /// Appends the `n` low bytes of `v`.
    #[inline]
    fn put(&mut self, v: u64, n: u32) {
        if self.hashed.is_none() && self.len + n <= Self::CAP {
            self.buf |= (v as u128) << (8 * self.len);
            self.len += n;
            return;
        }
        let h = self.hashed.get_or_insert_with(|| {
            let mut h = Hasher128::new(0x8c1e_b9d1_3a54_77f3, 0x1f2b_6e4d_0c93_a5b7);
            h.write_u128(self.buf);
            h.write_u32(self.len);
            h
        });
        h.write_u64(v ^ (u64::from(n) << 56));
    }

    /// The local key (see the type's documentation).
    pub fn finish128(&self) -> u128 {
        match &self.hashed {
            None => self.buf | (u128::from(self.len + 1) << 120),
            Some(h) => h.finish128() | (0xff << 120),
        }
    }
}

impl Default for Packer {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher for Packer {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.put(u64::from(b), 1);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.put(u64::from(i), 1);
    }
    fn write_u16(&mut self, i: u16) {
        self.put(u64::from(i), 2);
    }
    fn write_u32(&mut self, i: u32) {
        self.put(u64::from(i), 4);
    }
    fn write_u64(&mut self, i: u64) {
        self.put(i, 8);
    }
    fn write_u128(&mut self, i: u128) {
        self.put(i as u64, 8);
        self.put((i >> 64) as u64, 8);
    }
    fn write_usize(&mut self, i: usize) {
        self.put(i as u64, 8);
    }
    fn finish(&self) -> u64 {
        let k = self.finish128();
        (k ^ (k >> 64)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn pack<T: Hash>(v: &T) -> u128 {
        let mut p = Packer::new();
        v.hash(&mut p);
        p.finish128()
    }

    #[test]
    fn short_inputs_pack_exactly_and_long_ones_hash() {
        // Exact: distinct small values never meet, and equal ones agree.
        let mut seen = std::collections::HashSet::new();
        for a in 0..=255u8 {
            for b in 0..4u8 {
                assert!(seen.insert(pack(&(a, b, 7u32))));
                assert_eq!(pack(&(a, b, 7u32)), pack(&(a, b, 7u32)));
            }
        }
        // Lengths are part of the value: (0u8) and (0u16) differ.
        assert_ne!(pack(&0u8), pack(&0u16));
        // Past 15 bytes the stream is hashed, and marked so.
        let long = pack(&(1u64, 2u64, 3u8));
        assert_eq!(long >> 120, 0xff);
        assert_ne!(long, pack(&(1u64, 2u64, 4u8)));
        assert_eq!(pack(&(1u64, 2u8)) >> 120, 10);
    }
}
