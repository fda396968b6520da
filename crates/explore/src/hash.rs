//! The 128-bit hash behind the stateful search's keys and the runtime's thread histories.

use std::hash::Hasher;

/// Two multiply–rotate lanes with different seeds, rotations and multipliers over the same
/// input, in one pass, each finished with the splitmix64 avalanche: a 128-bit value. A byte
/// string's last word carries its length, so that `[1] ++ [2]` and `[1, 2]` differ.
#[derive(Clone)]
pub struct Hasher128(u64, u64);

impl Hasher128 {
    pub fn new(seed1: u64, seed2: u64) -> Self {
        Hasher128(seed1, seed2)
    }
    #[inline]
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        self.1 = (self.1.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    /// Both lanes, finished.
    pub fn lanes(&self) -> [u64; 2] {
        [self.0, self.1].map(|mut z| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    }
    pub fn finish128(&self) -> u128 {
        let [a, b] = self.lanes();
        ((a as u128) << 64) | b as u128
    }
}

impl Hasher for Hasher128 {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(b) ^ ((rest.len() as u64 + 1) << 56));
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn finish(&self) -> u64 {
        self.lanes()[0]
    }
}
