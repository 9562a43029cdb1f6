//! The siginfo of a signal: what the kernel makes ([`SigInfo`]), what a queue keeps
//! ([`KSigInfo`], Linux's `kernel_siginfo`), and what an exception recorded for the frame
//! ([`FaultInfo`]).

use super::SI_USER;

/// The siginfo the kernel makes for a signal (the first 32 bytes of the user's `siginfo_t`;
/// a queued one may carry more: [`KSigInfo`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    /// si_errno (seccomp's SIGSYS carries its filter's data here).
    pub errno: i32,
    pub code: i32,
    /// si_addr for faults; si_pid (and si_uid above it) for kill/tkill/sigqueue.
    pub addr_or_pid: u64,
    /// The union's second word: si_value of sigqueue, si_status of SIGCHLD, si_syscall…
    pub extra: u64,
}

/// The bytes of a user's `siginfo_t` that the kernel keeps.
const KERNEL_SIGINFO: usize = 48;

/// A siginfo as it is queued: the 48 bytes of Linux's `kernel_siginfo` (si_signo, si_errno,
/// si_code and 32 bytes of the union), [`SigInfo`] and the union's last two words, which
/// only a siginfo from user space fills (rt_sigqueueinfo). The user's `siginfo_t` is 128
/// bytes; the rest is zero in every layout Linux knows, and a siginfo from user space with
/// another layout must have it zero ([`KSigInfo::from_user`]), so what is queued comes back
/// byte for byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSigInfo {
    pub info: SigInfo,
    pub tail: [u64; 2],
}

impl From<SigInfo> for KSigInfo {
    #[inline]
    fn from(info: SigInfo) -> Self {
        KSigInfo { info, tail: [0; 2] }
    }
}

impl KSigInfo {
    /// The user's `siginfo_t`.
    pub fn to_bytes(self) -> [u8; 128] {
        let mut b = [0u8; 128];
        self.write_to(&mut b);
        b
    }

    /// Writes the 48 kept bytes over the start of a zeroed `siginfo_t` (the signal frame
    /// writes it in place: no 128-byte copy on the delivery path).
    #[inline]
    pub fn write_to(&self, b: &mut [u8; 128]) {
        let i = &self.info;
        b[0..4].copy_from_slice(&i.signo.to_ne_bytes());
        b[4..8].copy_from_slice(&i.errno.to_ne_bytes());
        b[8..12].copy_from_slice(&i.code.to_ne_bytes());
        b[16..24].copy_from_slice(&i.addr_or_pid.to_ne_bytes());
        b[24..32].copy_from_slice(&i.extra.to_ne_bytes());
        b[32..40].copy_from_slice(&self.tail[0].to_ne_bytes());
        b[40..48].copy_from_slice(&self.tail[1].to_ne_bytes());
    }

    /// A user's `siginfo_t` for `sig` (rt_sigqueueinfo, rt_tgsigqueueinfo): si_signo becomes
    /// `sig`; a layout Linux does not know must have its bytes past the kernel's 48 zero,
    /// E2BIG otherwise (Linux's `post_copy_siginfo_from_user`).
    pub fn from_user(sig: u8, b: &[u8; 128]) -> Result<KSigInfo, i64> {
        let mut info = SigInfo::from_bytes(b);
        info.signo = sig as i32;
        if !kentry_kernel_logic::signal::queue::known_siginfo_layout(sig, info.code)
            && b[KERNEL_SIGINFO..].iter().any(|&x| x != 0)
        {
            return Err(-crate::syscall::errno::E2BIG);
        }
        let w64 = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        Ok(KSigInfo {
            info,
            tail: [w64(32), w64(40)],
        })
    }
}

impl SigInfo {
    /// The siginfo of `sig` sent by a process (kill, tkill, a tracer), or as such by the
    /// kernel (SIGPIPE): SI_USER, `si_pid` = `from_pid`.
    pub fn user(sig: u8, from_pid: u32) -> SigInfo {
        SigInfo {
            signo: sig as i32,
            code: SI_USER,
            addr_or_pid: from_pid as u64,
            ..Default::default()
        }
    }

    /// The user's `siginfo_t` (128 bytes): si_signo, si_errno, si_code, then the union,
    /// whose first two words are `addr_or_pid` and `extra`.
    pub fn to_bytes(self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&self.signo.to_ne_bytes());
        b[4..8].copy_from_slice(&self.errno.to_ne_bytes());
        b[8..12].copy_from_slice(&self.code.to_ne_bytes());
        b[16..24].copy_from_slice(&self.addr_or_pid.to_ne_bytes());
        b[24..32].copy_from_slice(&self.extra.to_ne_bytes());
        b
    }

    /// The fields kentry keeps of a user's `siginfo_t` (PTRACE_SETSIGINFO).
    pub fn from_bytes(b: &[u8; 128]) -> SigInfo {
        let w32 = |o: usize| i32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let w64 = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            u64::from_ne_bytes(x)
        };
        SigInfo {
            signo: w32(0),
            errno: w32(4),
            code: w32(8),
            addr_or_pid: w64(16),
            extra: w64(24),
        }
    }
}

/// What the last exception recorded for the signal frame (trapno, err, cr2).
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultInfo {
    pub trapno: u64,
    pub err: u64,
    pub cr2: u64,
}
