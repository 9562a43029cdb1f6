//! signalfd and signalfd4: the caller's pending signals read as a file (Linux's
//! fs/signalfd.c).
//!
//! A read takes pending signals of the descriptor's mask from the reading thread's queue,
//! then its process's, in the order delivery would take them (`signal::dequeue_with`), as
//! 128-byte `signalfd_siginfo` records; it waits while none is pending, or fails with EAGAIN
//! when non-blocking. Readable while such a signal is pending for the thread that asks. A
//! send to a thread wakes it wherever it sleeps (`signal::kick`), so a thread waiting in
//! read, poll or epoll_wait sees the signal arrive. The signals are meant to be blocked:
//! an unblocked one is delivered as usual, whichever comes first.

use super::{get_file, ret};
use crate::fs::pipe::{POLLIN, POLLRDNORM};
use crate::fs::{self, File, FileKind, O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::sched::WaitQueue;
use crate::signal::{self, KSigInfo, UNBLOCKABLE};
use crate::syscall::errno::*;
use crate::syscall::table::Table;
use crate::task;
use crate::uaccess::copy_from_user;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use kentry::Regs;
use kentry_abi::nr;

pub const SFD_CLOEXEC: u32 = O_CLOEXEC;
pub const SFD_NONBLOCK: u32 = O_NONBLOCK;
/// sizeof(struct signalfd_siginfo).
const SSI_SIZE: usize = 128;

pub const fn register(mut t: Table) -> Table {
    t[nr::SIGNALFD] = sys_signalfd;
    t[nr::SIGNALFD4] = sys_signalfd4;
    t
}

/// Readers sleep here; the send's kick wakes them directly.
static WAIT: WaitQueue = WaitQueue::new();

pub struct SignalFd {
    /// The signals it reads (never SIGKILL or SIGSTOP); signalfd4 on it replaces them.
    mask: AtomicU64,
}

/// The calling thread's pending signals, its own and its process's.
fn pending() -> u64 {
    let t = task::current();
    t.sig_pending.bits() | t.process.sig_pending.bits()
}

impl SignalFd {
    fn mask(&self) -> u64 {
        self.mask.load(Ordering::Acquire)
    }

    pub fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, i64> {
        let count = buf.len() / SSI_SIZE;
        if count == 0 {
            return Err(-EINVAL);
        }
        let mut done = 0;
        while done < count {
            let mask = self.mask();
            if let Some((_, info)) = signal::dequeue_with(!mask) {
                buf[done * SSI_SIZE..(done + 1) * SSI_SIZE].copy_from_slice(&ssi(&info));
                done += 1;
                continue;
            }
            // After the first record, take what is there and no more (Linux's nonblocking
            // dequeue of the rest).
            if done > 0 {
                break;
            }
            if nonblock {
                return Err(-EAGAIN);
            }
            if !WAIT.wait_until(|| pending() & self.mask() != 0, signal::interrupted) {
                return Err(-ERESTARTSYS);
            }
        }
        signal::recalc_pending();
        Ok(done * SSI_SIZE)
    }

    pub fn poll_events(&self) -> u16 {
        if pending() & self.mask() != 0 {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    /// The wake-up count edge-triggered epoll compares: the pending set of the mask, which
    /// changes when a new signal of it arrives (a second instance of a queued real-time
    /// signal does not change it: not a new edge here).
    pub fn poll_seq(&self) -> u64 {
        pending() & self.mask()
    }
}

/// A queued siginfo as a `signalfd_siginfo` (Linux's `signalfd_copyinfo`: the fields of
/// the siginfo's layout, by signal and code).
fn ssi(info: &KSigInfo) -> [u8; SSI_SIZE] {
    let si = info.to_bytes();
    let u32_at = |o: usize| u32::from_ne_bytes(si[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_ne_bytes(si[o..o + 8].try_into().unwrap());
    let mut b = [0u8; SSI_SIZE];
    let put32 =
        |b: &mut [u8; SSI_SIZE], o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_ne_bytes());
    // ssi_signo, ssi_errno, ssi_code.
    b[..12].copy_from_slice(&si[..12]);
    let (sig, code) = (info.info.signo, info.info.code);
    match siginfo_layout(sig as u8, code) {
        Layout::Kill => {
            put32(&mut b, 12, u32_at(16)); // ssi_pid
            put32(&mut b, 16, u32_at(20)); // ssi_uid
        }
        Layout::Rt => {
            put32(&mut b, 12, u32_at(16));
            put32(&mut b, 16, u32_at(20));
            put32(&mut b, 44, u32_at(24)); // ssi_int
            b[48..56].copy_from_slice(&u64_at(24).to_ne_bytes()); // ssi_ptr
        }
        Layout::Timer => {
            put32(&mut b, 24, u32_at(16)); // ssi_tid
            put32(&mut b, 32, u32_at(20)); // ssi_overrun
            put32(&mut b, 44, u32_at(24));
            b[48..56].copy_from_slice(&u64_at(24).to_ne_bytes());
        }
        Layout::Poll => {
            b[28..32].copy_from_slice(&(u64_at(16) as u32).to_ne_bytes()); // ssi_band
            put32(&mut b, 20, u32_at(24)); // ssi_fd
        }
        Layout::Fault => b[72..80].copy_from_slice(&u64_at(16).to_ne_bytes()), // ssi_addr
        Layout::Chld => {
            put32(&mut b, 12, u32_at(16));
            put32(&mut b, 16, u32_at(20));
            put32(&mut b, 40, u32_at(24)); // ssi_status
            b[56..64].copy_from_slice(&u64_at(32).to_ne_bytes()); // ssi_utime
            b[64..72].copy_from_slice(&u64_at(40).to_ne_bytes()); // ssi_stime
        }
        Layout::Sys => {
            b[88..96].copy_from_slice(&u64_at(16).to_ne_bytes()); // ssi_call_addr
            put32(&mut b, 84, u32_at(24)); // ssi_syscall
            put32(&mut b, 96, u32_at(28)); // ssi_arch
        }
    }
    b
}

use kentry_kernel_logic::signal::queue::{SiginfoLayout as Layout, siginfo_layout};

fn sys_signalfd(regs: &mut Regs) -> i64 {
    ret(signalfd4(regs.rdi as i32, regs.rsi, regs.rdx, 0))
}

fn sys_signalfd4(regs: &mut Regs) -> i64 {
    ret(signalfd4(
        regs.rdi as i32,
        regs.rsi,
        regs.rdx,
        regs.r10 as u32,
    ))
}

/// signalfd4(fd, mask, sizemask, flags) in Linux's order: the size (EINVAL), the mask
/// (EFAULT), the flags (EINVAL); fd -1 makes a new descriptor, another must be a signalfd
/// (EBADF, EINVAL), whose mask is replaced.
fn signalfd4(fd: i32, umask: u64, size: u64, flags: u32) -> Result<i64, i64> {
    if size != 8 {
        return Err(-EINVAL);
    }
    let mut b = [0u8; 8];
    copy_from_user(&mut b, umask).map_err(|_| -EFAULT)?;
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(-EINVAL);
    }
    let mask = u64::from_ne_bytes(b) & !UNBLOCKABLE;
    if fd == -1 {
        let s = Arc::new(SignalFd {
            mask: AtomicU64::new(mask),
        });
        let file = File::new(FileKind::SignalFd(s), O_RDWR | (flags & SFD_NONBLOCK));
        return Ok(fs::install_file(file, flags & SFD_CLOEXEC != 0)? as i64);
    }
    let f = get_file(fd as u64)?;
    match &f.kind {
        FileKind::SignalFd(s) => {
            s.mask.store(mask, Ordering::Release);
            // Readers asleep on it look again with the new mask.
            WAIT.wake_all();
            crate::fs::POLL_WAIT.wake_all();
            Ok(i64::from(fd))
        }
        _ => Err(-EINVAL),
    }
}
