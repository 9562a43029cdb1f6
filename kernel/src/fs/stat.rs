//! `struct stat` (144 bytes) and `struct statx` (256 bytes) exactly as Linux x86-64 lays them
//! out.

use super::node::{Time, major, minor};

/// STATX_BASIC_STATS: type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks.
pub const STATX_BASIC_STATS: u32 = 0x7ff;

#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

impl Stat {
    /// `struct stat` (x86-64): dev, ino, nlink (u64); mode, uid, gid (u32), pad; rdev, size,
    /// blksize, blocks (64-bit); atime, mtime, ctime (sec, nsec pairs); 3 reserved words.
    pub fn to_linux(self) -> [u8; 144] {
        let mut b = [0u8; 144];
        put(&mut b, 0, &self.dev.to_ne_bytes());
        put(&mut b, 8, &self.ino.to_ne_bytes());
        put(&mut b, 16, &self.nlink.to_ne_bytes());
        put(&mut b, 24, &self.mode.to_ne_bytes());
        put(&mut b, 28, &self.uid.to_ne_bytes());
        put(&mut b, 32, &self.gid.to_ne_bytes());
        put(&mut b, 40, &self.rdev.to_ne_bytes());
        put(&mut b, 48, &self.size.to_ne_bytes());
        put(&mut b, 56, &self.blksize.to_ne_bytes());
        put(&mut b, 64, &self.blocks.to_ne_bytes());
        for (i, t) in [self.atime, self.mtime, self.ctime].iter().enumerate() {
            put(&mut b, 72 + i * 16, &t.sec.to_ne_bytes());
            put(&mut b, 80 + i * 16, &(t.nsec as i64).to_ne_bytes());
        }
        b
    }

    /// `struct statx`. The basic fields are always filled (as Linux does whatever `mask` asks);
    /// no birth time.
    pub fn to_statx(self) -> [u8; 256] {
        let mut b = [0u8; 256];
        put(&mut b, 0, &STATX_BASIC_STATS.to_ne_bytes()); // stx_mask
        put(&mut b, 4, &(self.blksize as u32).to_ne_bytes());
        // stx_attributes (8) = 0
        put(&mut b, 16, &(self.nlink as u32).to_ne_bytes());
        put(&mut b, 20, &self.uid.to_ne_bytes());
        put(&mut b, 24, &self.gid.to_ne_bytes());
        put(&mut b, 28, &(self.mode as u16).to_ne_bytes());
        put(&mut b, 32, &self.ino.to_ne_bytes());
        put(&mut b, 40, &self.size.to_ne_bytes());
        put(&mut b, 48, &self.blocks.to_ne_bytes());
        // stx_attributes_mask (56) = 0
        // Timestamps {i64 sec, u32 nsec, i32 pad}: atime 64, btime 80 (absent), ctime 96,
        // mtime 112.
        for (off, t) in [(64, self.atime), (96, self.ctime), (112, self.mtime)] {
            put(&mut b, off, &t.sec.to_ne_bytes());
            put(&mut b, off + 8, &t.nsec.to_ne_bytes());
        }
        put(&mut b, 128, &major(self.rdev).to_ne_bytes());
        put(&mut b, 132, &minor(self.rdev).to_ne_bytes());
        put(&mut b, 136, &major(self.dev).to_ne_bytes());
        put(&mut b, 140, &minor(self.dev).to_ne_bytes());
        b
    }
}
