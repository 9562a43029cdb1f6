//! A small non-cryptographic random source (RDRAND where present, else a TSC-seeded mix),
//! good enough for AT_RANDOM in a test kernel.

use core::sync::atomic::{AtomicU64, Ordering};

static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

fn next() -> u64 {
    // SAFETY: rdtsc has no side effects.
    let tsc = unsafe { core::arch::x86_64::_rdtsc() };
    let mut x = STATE.fetch_add(tsc | 1, Ordering::Relaxed) ^ tsc;
    // splitmix64
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

pub fn bytes16() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&next().to_ne_bytes());
    out[8..].copy_from_slice(&next().to_ne_bytes());
    out
}
