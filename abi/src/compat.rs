//! The i386 layouts of the structures whose x86-64 form differs (Linux's `compat_*` types,
//! `include/linux/compat.h` and `arch/x86/include/asm/compat.h`), written once here for the
//! kernel's compat syscalls and signal frames and for the host tests.
//!
//! An i386 `long` and every pointer are 4 bytes, `long long` / `__u64` 8 bytes aligned to 4,
//! so a structure of longs shrinks to half and one mixing them moves its fields. Each layout
//! is given as its size and field offsets; the conversions are plain byte moves from and to
//! the x86-64 layout the native handlers produce (Linux's "convert at the edge").

/// `struct compat_timespec` / `old_timespec32` and `struct old_timeval32`: two 32-bit words.
pub const TIMESPEC32_SIZE: usize = 8;
/// `struct compat_iovec`: base and length, 32 bits each.
pub const IOVEC32_SIZE: usize = 8;
/// `struct compat_rusage`: two `old_timeval32` and fourteen 32-bit longs.
pub const RUSAGE32_SIZE: usize = 72;
/// `struct compat_rlimit`: two 32-bit words.
pub const RLIMIT32_SIZE: usize = 8;
/// i386's RLIM_INFINITY in a `compat_rlimit` (Linux's `COMPAT_RLIM_INFINITY`).
pub const RLIM32_INFINITY: u32 = u32::MAX;
/// `struct compat_tms`: four 32-bit clock_t.
pub const TMS32_SIZE: usize = 16;
/// `struct compat_sysinfo`.
pub const SYSINFO32_SIZE: usize = 64;
/// `struct compat_sigaction` of rt_sigaction: handler, flags, restorer (32 bits each), then
/// the 64-bit mask in two words.
pub const SIGACTION32_SIZE: usize = 20;
/// i386 `struct sigaction` of the old sigaction(2) (67): handler, mask (32 bits), flags,
/// restorer.
pub const OLD_SIGACTION32_SIZE: usize = 16;
/// `compat_stack_t`: ss_sp, ss_flags, ss_size, 32 bits each.
pub const STACK32_SIZE: usize = 12;
/// i386 `struct stat64` (Linux's arch/x86/include/uapi/asm/stat.h), 96 bytes, packed to 4.
pub const STAT64_SIZE: usize = 96;
/// `struct compat_siginfo`: 128 bytes, the union at offset 12 (x86-64's is at 16).
pub const SIGINFO_SIZE: usize = 128;

/// Linux's `enum siginfo_layout`: which union member a siginfo uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigLayout {
    /// si_pid, si_uid (kill, tkill, and every code Linux does not know).
    Kill,
    /// si_tid, si_overrun, si_value (POSIX timers).
    Timer,
    /// si_band, si_fd.
    Poll,
    /// si_addr, then si_addr_lsb / si_lower+si_upper / si_pkey.
    Fault,
    /// si_pid, si_uid, si_status, si_utime, si_stime.
    Chld,
    /// si_pid, si_uid, si_value (sigqueue and the other negative codes).
    Rt,
    /// si_call_addr, si_syscall, si_arch.
    Sys,
}

const SIGILL: i32 = 4;
const SIGTRAP: i32 = 5;
const SIGBUS: i32 = 7;
const SIGFPE: i32 = 8;
const SIGSEGV: i32 = 11;
const SIGCHLD: i32 = 17;
const SIGPOLL: i32 = 29;
const SIGSYS: i32 = 31;
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
const SI_TIMER: i32 = -2;
const SI_SIGIO: i32 = -5;
/// NSIGPOLL.
const NSIGPOLL: i32 = 6;

/// Linux 6.1's `siginfo_layout(sig, si_code)`.
pub fn siginfo_layout(sig: i32, code: i32) -> SigLayout {
    if code > SI_USER && code < SI_KERNEL {
        let filter = match sig {
            SIGILL => Some((11, SigLayout::Fault)),
            SIGFPE => Some((15, SigLayout::Fault)),
            SIGSEGV => Some((9, SigLayout::Fault)),
            SIGBUS => Some((5, SigLayout::Fault)),
            SIGTRAP => Some((6, SigLayout::Fault)),
            SIGCHLD => Some((6, SigLayout::Chld)),
            SIGPOLL => Some((NSIGPOLL, SigLayout::Poll)),
            SIGSYS => Some((2, SigLayout::Sys)),
            _ => None,
        };
        match filter {
            Some((limit, l)) if code <= limit => l,
            // A signal without codes of its own: a code up to NSIGPOLL is a poll one.
            None if code <= NSIGPOLL => SigLayout::Poll,
            _ => SigLayout::Kill,
        }
    } else if code == SI_TIMER {
        SigLayout::Timer
    } else if code == SI_SIGIO {
        SigLayout::Poll
    } else if code < 0 {
        SigLayout::Rt
    } else {
        SigLayout::Kill
    }
}

/// The moves (x86-64 offset, i386 offset, bytes) of a layout's union fields. A pointer or
/// long takes its low 4 bytes (an i386 task's values fit in them).
fn siginfo_moves(l: SigLayout) -> &'static [(usize, usize, usize)] {
    match l {
        SigLayout::Kill => &[(16, 12, 4), (20, 16, 4)],
        SigLayout::Timer | SigLayout::Rt => &[(16, 12, 4), (20, 16, 4), (24, 20, 4)],
        SigLayout::Poll => &[(16, 12, 4), (24, 16, 4)],
        // si_addr, si_addr_lsb (a short right after it), then si_lower/si_pkey and si_upper
        // after a pad of a pointer's alignment (8 bytes on x86-64, 4 on i386).
        SigLayout::Fault => &[(16, 12, 4), (24, 16, 2), (32, 20, 4), (40, 24, 4)],
        SigLayout::Chld => &[
            (16, 12, 4),
            (20, 16, 4),
            (24, 20, 4),
            (32, 24, 4),
            (40, 28, 4),
        ],
        SigLayout::Sys => &[(16, 12, 4), (24, 16, 4), (28, 20, 4)],
    }
}

/// An x86-64 `siginfo_t` in the i386 layout (Linux's `copy_siginfo_to_user32`).
pub fn siginfo_to_compat(native: &[u8; SIGINFO_SIZE]) -> [u8; SIGINFO_SIZE] {
    let mut c = [0u8; SIGINFO_SIZE];
    c[..12].copy_from_slice(&native[..12]);
    let w = |o: usize| i32::from_ne_bytes([native[o], native[o + 1], native[o + 2], native[o + 3]]);
    for &(n, i, len) in siginfo_moves(siginfo_layout(w(0), w(8))) {
        c[i..i + len].copy_from_slice(&native[n..n + len]);
    }
    c
}

/// An i386 `siginfo_t` in the x86-64 layout (Linux's `copy_siginfo_from_user32`): pointers
/// and longs zero-extended, except si_value's int and si_band, which are sign-extended as the
/// i386 int they hold.
pub fn siginfo_from_compat(c: &[u8; SIGINFO_SIZE]) -> [u8; SIGINFO_SIZE] {
    let mut n = [0u8; SIGINFO_SIZE];
    n[..12].copy_from_slice(&c[..12]);
    let w = |o: usize| i32::from_ne_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]]);
    let layout = siginfo_layout(w(0), w(8));
    for &(no, i, len) in siginfo_moves(layout) {
        n[no..no + len].copy_from_slice(&c[i..i + len]);
    }
    if layout == SigLayout::Poll {
        let band = (w(12) as i64).to_ne_bytes();
        n[16..24].copy_from_slice(&band);
    }
    n
}

/// An x86-64 `struct stat` (144 bytes) as i386's `struct stat64`. Offsets: st_dev u64 0,
/// __st_ino u32 12, st_mode 16, st_nlink 20, st_uid 24, st_gid 28, st_rdev u64 32, st_size
/// i64 44, st_blksize 52, st_blocks u64 56, atime 64/68, mtime 72/76, ctime 80/84, st_ino
/// u64 88.
pub fn stat_to_stat64(s: &[u8; 144]) -> [u8; STAT64_SIZE] {
    let q = |o: usize| u64::from_ne_bytes(s[o..o + 8].try_into().unwrap_or([0; 8]));
    let d = |o: usize| u32::from_ne_bytes(s[o..o + 4].try_into().unwrap_or([0; 4]));
    let mut o = [0u8; STAT64_SIZE];
    let mut put8 = |at: usize, v: u64| o[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    // x86-64: dev 0, ino 8, nlink 16 (u64), mode 24, uid 28, gid 32, rdev 40, size 48,
    // blksize 56, blocks 64, atime 72/80, mtime 88/96, ctime 104/112.
    put8(0, q(0));
    put8(32, q(40));
    put8(44, q(48));
    put8(56, q(64));
    put8(88, q(8));
    let mut put4 = |at: usize, v: u32| o[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    put4(12, q(8) as u32);
    put4(16, d(24));
    put4(20, q(16) as u32);
    put4(24, d(28));
    put4(28, d(32));
    put4(52, q(56) as u32);
    put4(64, q(72) as u32);
    put4(68, q(80) as u32);
    put4(72, q(88) as u32);
    put4(76, q(96) as u32);
    put4(80, q(104) as u32);
    put4(84, q(112) as u32);
    o
}

/// An x86-64 `struct rusage` (144 bytes) as `compat_rusage`: every 64-bit word to 32 bits.
pub fn rusage_to_compat(r: &[u8; 144]) -> [u8; RUSAGE32_SIZE] {
    let mut o = [0u8; RUSAGE32_SIZE];
    for i in 0..18 {
        o[i * 4..i * 4 + 4].copy_from_slice(&r[i * 8..i * 8 + 4]);
    }
    o
}

/// An x86-64 `struct tms` (four 64-bit clock_t) as `compat_tms`.
pub fn tms_to_compat(t: &[u8; 32]) -> [u8; TMS32_SIZE] {
    let mut o = [0u8; TMS32_SIZE];
    for i in 0..4 {
        o[i * 4..i * 4 + 4].copy_from_slice(&t[i * 8..i * 8 + 4]);
    }
    o
}

/// An x86-64 `struct sysinfo` (112 bytes) as `compat_sysinfo`: the longs narrowed, procs and
/// its pad, totalhigh, freehigh, mem_unit.
pub fn sysinfo_to_compat(s: &[u8; 112]) -> [u8; SYSINFO32_SIZE] {
    let mut o = [0u8; SYSINFO32_SIZE];
    // uptime, loads[3], totalram, freeram, sharedram, bufferram, totalswap, freeswap.
    for i in 0..10 {
        o[i * 4..i * 4 + 4].copy_from_slice(&s[i * 8..i * 8 + 4]);
    }
    // procs (u16) and pad: x86-64 80, i386 40.
    o[40..44].copy_from_slice(&s[80..84]);
    // totalhigh 88 → 44, freehigh 96 → 48, mem_unit 104 → 52.
    o[44..48].copy_from_slice(&s[88..92]);
    o[48..52].copy_from_slice(&s[96..100]);
    o[52..56].copy_from_slice(&s[104..108]);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put32(b: &mut [u8], o: usize, v: i32) {
        b[o..o + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn get32(b: &[u8], o: usize) -> i32 {
        i32::from_ne_bytes(b[o..o + 4].try_into().unwrap())
    }

    #[test]
    fn layouts_follow_linux_siginfo_layout() {
        assert_eq!(siginfo_layout(SIGSEGV, 1), SigLayout::Fault);
        assert_eq!(siginfo_layout(SIGSEGV, SI_KERNEL), SigLayout::Kill);
        assert_eq!(siginfo_layout(SIGCHLD, 1), SigLayout::Chld);
        assert_eq!(siginfo_layout(SIGCHLD, 7), SigLayout::Kill);
        assert_eq!(siginfo_layout(10, 0), SigLayout::Kill);
        assert_eq!(siginfo_layout(10, -1), SigLayout::Rt);
        assert_eq!(siginfo_layout(10, -6), SigLayout::Rt);
        assert_eq!(siginfo_layout(10, SI_TIMER), SigLayout::Timer);
        assert_eq!(siginfo_layout(SIGSYS, 1), SigLayout::Sys);
        assert_eq!(siginfo_layout(10, 3), SigLayout::Poll);
    }

    /// A SIGCHLD siginfo (waitid's): the i386 union starts at 12, so pid, uid and status sit
    /// 4 bytes lower, and utime/stime are 32-bit (offsets from Linux's compat_siginfo).
    #[test]
    fn chld_siginfo_moves_down_four_bytes() {
        let mut n = [0u8; 128];
        put32(&mut n, 0, SIGCHLD);
        put32(&mut n, 8, 1);
        put32(&mut n, 16, 1234);
        put32(&mut n, 20, 1000);
        put32(&mut n, 24, 7);
        put32(&mut n, 32, 5);
        put32(&mut n, 40, 6);
        let c = siginfo_to_compat(&n);
        assert_eq!(
            [0, 8, 12, 16, 20, 24, 28].map(|o| get32(&c, o)),
            [SIGCHLD, 1, 1234, 1000, 7, 5, 6]
        );
        assert!(c[32..].iter().all(|&b| b == 0));
    }

    #[test]
    fn sigqueue_value_round_trips() {
        let mut c = [0u8; 128];
        put32(&mut c, 0, 40);
        put32(&mut c, 8, -1);
        put32(&mut c, 12, 77);
        put32(&mut c, 20, 0x1234_5678);
        let n = siginfo_from_compat(&c);
        assert_eq!(get32(&n, 16), 77);
        assert_eq!(get32(&n, 24), 0x1234_5678);
        assert_eq!(siginfo_to_compat(&n), c);
    }

    #[test]
    fn stat64_offsets() {
        let mut s = [0u8; 144];
        let mut q = |o: usize, v: u64| s[o..o + 8].copy_from_slice(&v.to_ne_bytes());
        q(0, 0x0801);
        q(8, 0x1_0000_0005);
        q(16, 2);
        q(48, 0x1_2345_6789);
        q(88, 1_700_000_000);
        s[24..28].copy_from_slice(&0o100644u32.to_ne_bytes());
        let o = stat_to_stat64(&s);
        assert_eq!(u64::from_ne_bytes(o[0..8].try_into().unwrap()), 0x0801);
        assert_eq!(get32(&o, 12), 5);
        assert_eq!(get32(&o, 16), 0o100644);
        assert_eq!(get32(&o, 20), 2);
        assert_eq!(
            u64::from_ne_bytes(o[44..52].try_into().unwrap()),
            0x1_2345_6789
        );
        assert_eq!(get32(&o, 72), 1_700_000_000);
        assert_eq!(
            u64::from_ne_bytes(o[88..96].try_into().unwrap()),
            0x1_0000_0005
        );
    }
}
