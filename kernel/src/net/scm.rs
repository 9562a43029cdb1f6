//! Control messages of AF_UNIX sockets (Linux's `net/core/scm.c`): SCM_RIGHTS carries open
//! file descriptions, SCM_CREDENTIALS a `struct ucred`.
//!
//! The x86-64 layout: a `struct cmsghdr` is `cmsg_len` (8 bytes), `cmsg_level`,
//! `cmsg_type` (4 each), then the data; each header starts 8-aligned
//! (`CMSG_ALIGN`). A sender's buffer is read whole ([`parse`]); a receiver's is written
//! credentials first, then descriptors, as Linux's `scm_recv` does ([`CmsgWriter`]).
//!
//! An i386 caller's `struct compat_cmsghdr` is 12 bytes (`cmsg_len` is 4) and each header
//! starts 4-aligned (Linux's `CMSG_COMPAT_ALIGN`): a sender's buffer is rewritten in the
//! x86-64 layout first ([`compat_to_kern`], Linux's `cmsghdr_from_user_compat_to_kern`) and
//! parsed as any other; a receiver's is written in its layout by the same [`CmsgWriter`]
//! (Linux's `put_cmsg_compat` and `scm_detach_fds_compat`).
//!
//! Descriptions in flight are plain references: a socket sent over itself (or a loop of
//! sockets holding each other) stays alive until the kernel stops, as Linux's unix GC would
//! collect it but kentry has none.

use super::unix::Cred;
use crate::fs::File;
use crate::syscall::errno::*;
use alloc::sync::Arc;
use alloc::vec::Vec;

pub const SOL_SOCKET: i32 = 1;
pub const SCM_RIGHTS: i32 = 1;
pub const SCM_CREDENTIALS: i32 = 2;
/// The most descriptors one message carries (Linux's SCM_MAX_FD).
pub const SCM_MAX_FD: usize = 253;
/// sizeof(struct cmsghdr).
pub const CMSG_HDR: usize = 16;
/// The largest control buffer a sender may pass (Linux's `optmem_max` is 20480 by
/// default, 128 KiB on newer kernels): ENOBUFS beyond.
pub const MAX_CONTROL: usize = 20480;

pub const fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

pub const fn cmsg_len(data: usize) -> usize {
    CMSG_HDR + data
}

pub const fn cmsg_space(data: usize) -> usize {
    CMSG_HDR + cmsg_align(data)
}

/// sizeof(struct compat_cmsghdr).
pub const COMPAT_CMSG_HDR: usize = 12;

/// Linux's CMSG_COMPAT_ALIGN: 4-byte alignment.
pub const fn cmsg_compat_align(n: usize) -> usize {
    (n + 3) & !3
}

/// Rewrites an i386 sender's control buffer (`compat_cmsghdr`s, 4-aligned) in the x86-64
/// layout (Linux's `cmsghdr_from_user_compat_to_kern`): EINVAL for a header whose
/// `cmsg_len` is shorter than the header or runs past the buffer, and for a buffer that
/// holds no header at all (a `msg_controllen` of 1 to 11).
pub fn compat_to_kern(buf: &[u8]) -> Result<Vec<u8>, i64> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() >= at + COMPAT_CMSG_HDR {
        let w = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap_or_default());
        let len = w(at) as usize;
        if len < COMPAT_CMSG_HDR || len > buf.len() - at {
            if BREAK_CHECKS.load(core::sync::atomic::Ordering::Relaxed) {
                break;
            }
            return Err(-EINVAL);
        }
        let data = &buf[at + COMPAT_CMSG_HDR..at + len];
        let start = out.len();
        out.extend_from_slice(&(cmsg_len(data.len()) as u64).to_ne_bytes());
        out.extend_from_slice(&buf[at + 4..at + 12]);
        out.extend_from_slice(data);
        out.resize(start + cmsg_space(data.len()), 0);
        // Linux's cmsg_compat_nxthdr: the next header starts 4-aligned after this one.
        at += cmsg_compat_align(len);
    }
    if out.is_empty() && !BREAK_CHECKS.load(core::sync::atomic::Ordering::Relaxed) {
        return Err(-EINVAL);
    }
    Ok(out)
}

/// Test kernels, `kentry.break=unix_scm`: the control-data checks are off — a header whose
/// `cmsg_len` is short or runs past the buffer ends the parse quietly (the data is never
/// sliced out of range), in either layout, and any number of descriptors goes: the
/// negative runs of `c_unixscm` (control_errors) and `c_ia32_net_glibc32`
/// (scm_compat_errors).
pub static BREAK_CHECKS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// What rides with a message.
#[derive(Default)]
pub struct Scm {
    pub cred: Option<Cred>,
    pub files: Vec<Arc<File>>,
}

/// Parses a sender's control buffer (Linux's `__scm_send`): SOL_SOCKET messages only
/// (others are skipped); EINVAL for a header that does not fit or is too short, an
/// unknown type, more than [`SCM_MAX_FD`] descriptors, or credentials of the wrong size;
/// EBADF for a descriptor that is not open; ESRCH for credentials naming no process.
pub fn parse(buf: &[u8]) -> Result<Scm, i64> {
    let mut scm = Scm::default();
    let mut at = 0;
    while buf.len() >= at + CMSG_HDR {
        let len = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap_or_default()) as usize;
        let level = i32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap_or_default());
        let ty = i32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap_or_default());
        if len < CMSG_HDR || len > buf.len() - at {
            if BREAK_CHECKS.load(core::sync::atomic::Ordering::Relaxed) {
                break;
            }
            return Err(-EINVAL);
        }
        let data = &buf[at + CMSG_HDR..at + len];
        if level == SOL_SOCKET {
            match ty {
                SCM_RIGHTS => {
                    let n = data.len() / 4;
                    if scm.files.len() + n > SCM_MAX_FD
                        && !BREAK_CHECKS.load(core::sync::atomic::Ordering::Relaxed)
                    {
                        return Err(-EINVAL);
                    }
                    for fd in data.chunks_exact(4) {
                        let fd = i32::from_ne_bytes(fd.try_into().unwrap_or_default());
                        if fd < 0 {
                            return Err(-EBADF);
                        }
                        // O_PATH descriptions go too (Linux's `fget_raw`).
                        let f = crate::fs::get_file(fd as u64).map_err(|_| -EBADF)?;
                        scm.files.push(f);
                    }
                }
                SCM_CREDENTIALS => {
                    if len != cmsg_len(12) {
                        return Err(-EINVAL);
                    }
                    let w = |o: usize| {
                        u32::from_ne_bytes(data[o..o + 4].try_into().unwrap_or_default())
                    };
                    let c = Cred {
                        pid: w(0),
                        uid: w(4),
                        gid: w(8),
                    };
                    // Every process is root here, so any living pid and any valid id may
                    // be claimed (Linux's `scm_check_creds` with CAP_SYS_ADMIN/CAP_SETUID).
                    if c.pid as i32 != Cred::current().pid as i32
                        && crate::process::find(c.pid).is_none()
                    {
                        return Err(-ESRCH);
                    }
                    if c.uid == u32::MAX || c.gid == u32::MAX {
                        return Err(-EINVAL);
                    }
                    scm.cred = Some(c);
                }
                _ => return Err(-EINVAL),
            }
        }
        at += cmsg_align(len);
    }
    Ok(scm)
}

/// Builds a receiver's control buffer of `room` bytes (Linux's `put_cmsg` and
/// `scm_detach_fds`, or their compat twins for an i386 receiver): what does not fit is cut
/// and sets MSG_CTRUNC.
pub struct CmsgWriter {
    pub room: usize,
    pub out: Vec<u8>,
    pub truncated: bool,
    /// i386's layout: 12-byte headers with a 4-byte `cmsg_len`, 4-aligned.
    compat: bool,
}

impl CmsgWriter {
    pub fn new(room: usize, compat: bool) -> Self {
        CmsgWriter {
            room,
            out: Vec::new(),
            truncated: false,
            compat,
        }
    }

    fn hdr(&self) -> usize {
        if self.compat {
            COMPAT_CMSG_HDR
        } else {
            CMSG_HDR
        }
    }

    fn space(&self, data: usize) -> usize {
        if self.compat {
            COMPAT_CMSG_HDR + cmsg_compat_align(data)
        } else {
            cmsg_space(data)
        }
    }

    fn left(&self) -> usize {
        self.room - self.out.len()
    }

    /// One control message; a short buffer takes the header and what data fits.
    pub fn put(&mut self, ty: i32, data: &[u8]) {
        let hdr = self.hdr();
        if self.left() < hdr {
            self.truncated = true;
            return;
        }
        let full = hdr + data.len();
        let len = full.min(self.left());
        if len < full {
            self.truncated = true;
        }
        let next = self.out.len() + self.space(data.len()).min(self.left());
        if self.compat {
            self.out.extend_from_slice(&(len as u32).to_ne_bytes());
        } else {
            self.out.extend_from_slice(&(len as u64).to_ne_bytes());
        }
        self.out.extend_from_slice(&SOL_SOCKET.to_ne_bytes());
        self.out.extend_from_slice(&ty.to_ne_bytes());
        self.out.extend_from_slice(&data[..len - hdr]);
        self.out.resize(next, 0);
    }

    /// How many descriptors fit (the rest are closed and MSG_CTRUNC is set).
    pub fn fds_room(&self) -> usize {
        self.left().saturating_sub(self.hdr()) / 4
    }
}
