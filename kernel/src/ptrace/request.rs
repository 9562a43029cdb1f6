//! ptrace(request, pid, addr, data): attaching, and the requests a tracer makes of a stopped
//! tracee, in Linux's order of checks (`sys_ptrace`, `ptrace_attach`, `ptrace_check_attach`,
//! `arch_ptrace`, `ptrace_request`).

use super::{Resume, ResumeHow, check_stopped, ev, link, regs, resume, unlink};
use crate::process::Process;
use crate::signal::{NSIG, SIGKILL, SIGSTOP, SigInfo};
use crate::syscall::errno::*;
use crate::task::{self, Task, TaskRef};
use crate::uaccess::{copy_from_user, copy_to_user};
use alloc::sync::Arc;
use core::sync::atomic::Ordering;
use kentry::Regs;
use kentry::exit_work::ExitWork;
use kentry_kernel_logic::ptrace::{USER_FPREGS_SIZE, UserField, opt, reg, req, user_field};

/// ELF note types of GETREGSET/SETREGSET.
const NT_PRSTATUS: u64 = 1;
const NT_PRFPREG: u64 = 2;
/// The XSAVE area (Linux's REGSET_XSTATE), in u64 units.
const NT_X86_XSTATE: u64 = 0x202;

/// The ptrace syscall.
pub fn sys_ptrace(regs: &mut Regs) -> i64 {
    let (request, pid, addr, data) = (regs.rdi as i64 as u64, regs.rsi as i32, regs.rdx, regs.r10);
    match request_result(request, pid, addr, data) {
        Ok(v) => v,
        Err(e) => e,
    }
}

pub(super) fn request_result(request: u64, pid: i32, addr: u64, data: u64) -> Result<i64, i64> {
    let me = task::current();
    if request == req::TRACEME {
        return traceme(me);
    }
    let t = find_tracee(pid)?;
    let tracer = &me.process;
    if request == req::ATTACH || request == req::SEIZE {
        return attach(&t, tracer, request == req::SEIZE, addr, data);
    }
    if request == req::KILL || request == req::INTERRUPT {
        if !t.ptrace.state.lock().traced_by(tracer) {
            return Err(-ESRCH);
        }
        return if request == req::KILL {
            send(&t, SIGKILL);
            Ok(0)
        } else {
            interrupt(&t)
        };
    }
    check_stopped(&t, tracer).map_err(|e| -e)?;
    match request {
        req::PEEKTEXT | req::PEEKDATA => {
            let w = peek_word(&t, addr)?;
            put_u64(data, w)
        }
        req::POKETEXT | req::POKEDATA => poke_word(&t, addr, data).map(|_| 0),
        req::PEEKUSR => {
            let v = match user_field(addr).ok_or(-EIO)? {
                UserField::Reg(i) => regs::get_all(&t)[i],
                UserField::DebugReg(n) => regs::get_debugreg(&t, n),
                UserField::Other => 0,
            };
            put_u64(data, v)
        }
        req::POKEUSR => match user_field(addr).ok_or(-EIO)? {
            UserField::Reg(i) => regs::put(&t, i, data).map(|_| 0),
            UserField::DebugReg(n) => regs::put_debugreg(&t, n, data).map(|_| 0),
            UserField::Other => Err(-EIO),
        },
        req::CONT | req::SYSCALL | req::SINGLESTEP | req::SYSEMU | req::SYSEMU_SINGLESTEP => {
            let how = match request {
                req::CONT => ResumeHow::Cont,
                req::SYSCALL => ResumeHow::Syscall,
                req::SINGLESTEP => ResumeHow::SingleStep,
                req::SYSEMU => ResumeHow::Sysemu,
                _ => ResumeHow::SysemuSingleStep,
            };
            let sig = valid_signal(data)?;
            resume(&t, Resume { how, sig });
            Ok(0)
        }
        req::DETACH => {
            let sig = valid_signal(data)?;
            tracer.ptraced.lock().retain(|x| !Arc::ptr_eq(x, &t));
            unlink(&t, sig);
            Ok(0)
        }
        req::LISTEN => {
            let mut st = t.ptrace.state.lock();
            // Any PTRACE_EVENT_STOP stop (Linux looks at the stop's si_code).
            let group = st
                .stop
                .is_some_and(|s| s.group || (s.code >> 8) & 0xff == ev::STOP);
            if !st.seized || !group {
                return Err(-EIO);
            }
            st.listening = true;
            Ok(0)
        }
        req::GETREGS => {
            let u = regs::get_all(&t);
            copy_out(data, words_as_bytes(&u)).map(|_| 0)
        }
        req::SETREGS => {
            let mut b = [0u8; reg::COUNT * 8];
            copy_from_user(&mut b, data).map_err(|_| -EFAULT)?;
            regs::put_all(&t, &bytes_as_words(&b)).map(|_| 0)
        }
        req::GETFPREGS => copy_out(data, &regs::get_fp(&t)).map(|_| 0),
        req::SETFPREGS => {
            let mut b = [0u8; USER_FPREGS_SIZE];
            copy_from_user(&mut b, data).map_err(|_| -EFAULT)?;
            regs::put_fp(&t, &b).map(|_| 0)
        }
        req::GETREGSET | req::SETREGSET => regset(&t, request == req::SETREGSET, addr, data),
        req::GETSIGINFO => {
            let si = t.ptrace.state.lock().siginfo.ok_or(-EINVAL)?;
            copy_out(data, &si.to_bytes()).map(|_| 0)
        }
        req::SETSIGINFO => {
            let mut b = [0u8; 128];
            copy_from_user(&mut b, data).map_err(|_| -EFAULT)?;
            let mut st = t.ptrace.state.lock();
            if st.siginfo.is_none() {
                return Err(-EINVAL);
            }
            st.siginfo = Some(SigInfo::from_bytes(&b));
            Ok(0)
        }
        req::GETEVENTMSG => {
            let m = t.ptrace.state.lock().event_msg;
            put_u64(data, m)
        }
        req::SETOPTIONS => {
            let o = u32::try_from(data)
                .ok()
                .filter(|o| o & !opt::MASK == 0)
                .ok_or(-EINVAL)?;
            may_suspend_seccomp(o)?;
            t.ptrace.state.lock().options = o;
            Ok(0)
        }
        req::GET_SYSCALL_INFO => {
            let (b, size) = regs::syscall_info(&t);
            let n = (addr as usize).min(size);
            copy_out(data, &b[..n])?;
            Ok(size as i64)
        }
        req::GETSIGMASK | req::SETSIGMASK => {
            if addr != 8 {
                return Err(-EINVAL);
            }
            let _st = t.ptrace.state.lock();
            // SAFETY: the tracee is stopped and off-CPU (checked above): its inner state is
            // still until it is resumed, which only this tracer can do.
            let inner = unsafe { t.inner() };
            if request == req::GETSIGMASK {
                copy_out(data, &inner.sigmask.to_ne_bytes()).map(|_| 0)
            } else {
                let mut b = [0u8; 8];
                copy_from_user(&mut b, data).map_err(|_| -EFAULT)?;
                inner.sigmask = crate::signal::blockable(u64::from_ne_bytes(b));
                t.blocked_seen.store(inner.sigmask, Ordering::Relaxed);
                Ok(0)
            }
        }
        req::PEEKSIGINFO => peek_siginfo(&t, addr, data, false),
        // The code is in `data`, the base or where to put it in `addr`.
        req::GET_THREAD_AREA | req::SET_THREAD_AREA => {
            regs::thread_area(&t, request == req::SET_THREAD_AREA, addr, data)
        }
        req::ARCH_PRCTL => match regs::arch_prctl(&t, data, addr)? {
            Some(base) => put_u64(addr, base),
            None => Ok(0),
        },
        req::SECCOMP_GET_METADATA => seccomp_metadata(&t, addr, data),
        req::SECCOMP_GET_FILTER => seccomp_filter(&t, addr, data),
        _ => Err(-EIO),
    }
}

/// The thread `pid` names in the caller's pid namespace (-ESRCH if none).
fn find_tracee(pid: i32) -> Result<TaskRef, i64> {
    crate::process::pid_ns::current_vnr_to_global(pid as u32)
        .and_then(crate::process::find_thread)
        .filter(|_| pid > 0)
        .ok_or(-ESRCH)
}

/// The thread `pid`, stopped and traced by the caller (Linux's `ptrace_check_attach`), for a
/// request that needs a stopped tracee.
pub(super) fn stopped_tracee(pid: i32) -> Result<TaskRef, i64> {
    let t = find_tracee(pid)?;
    check_stopped(&t, &task::current().process).map_err(|e| -e)?;
    Ok(t)
}

/// PTRACE_O_SUSPEND_SECCOMP asks to run the tracee without its filters: Linux requires
/// CAP_SYS_ADMIN and a tracer without a seccomp mode of its own. kentry's processes have no
/// capabilities (capget reads every set empty), so the option is refused with EPERM.
fn may_suspend_seccomp(options: u32) -> Result<(), i64> {
    if options & opt::SUSPEND_SECCOMP != 0 {
        return Err(-EPERM);
    }
    Ok(())
}

/// PTRACE_TRACEME: the caller's parent becomes its tracer.
fn traceme(me: &Task) -> Result<i64, i64> {
    if me.ptrace.is_traced() {
        return Err(-EPERM);
    }
    let parent = me.process.parent.lock().upgrade().ok_or(-EPERM)?;
    if parent.pid == 0 {
        // The kernel itself (the test harness, run mode) traces nobody.
        return Err(-EPERM);
    }
    let me_ref = crate::process::find_thread(me.tid).ok_or(-ESRCH)?;
    link(&me_ref, &parent, false, 0);
    Ok(0)
}

/// PTRACE_ATTACH and PTRACE_SEIZE (Linux's `ptrace_attach`).
fn attach(
    t: &TaskRef,
    tracer: &Arc<Process>,
    seize: bool,
    addr: u64,
    data: u64,
) -> Result<i64, i64> {
    let options = if seize {
        if addr != 0 || data & !(opt::MASK as u64) != 0 {
            return Err(-EIO);
        }
        data as u32
    } else {
        0
    };
    may_suspend_seccomp(options)?;
    if t.process.pid == 0 || Arc::ptr_eq(&t.process, tracer) {
        return Err(-EPERM);
    }
    if t.process.exiting.load(Ordering::Acquire) || t.ptrace.is_traced() {
        return Err(-EPERM);
    }
    link(t, tracer, seize, options);
    if !seize {
        // Linux sends SIGSTOP to the process (its other threads then group-stop too);
        // kentry directs it at the thread attached to, the one whose stop the tracer waits
        // for: the same for a single-threaded tracee.
        send(t, SIGSTOP);
    }
    Ok(0)
}

/// PTRACE_INTERRUPT (seized tracees only): the tracee stops with PTRACE_EVENT_STOP at its
/// next exit work; a blocking call it is in returns to take the stop (and restarts).
fn interrupt(t: &TaskRef) -> Result<i64, i64> {
    {
        let mut st = t.ptrace.state.lock();
        if !st.seized {
            return Err(-EIO);
        }
        if st.listening {
            // A LISTENing tracee re-traps: its stop is reported again.
            st.listening = false;
            if let Some(s) = st.stop.as_mut() {
                s.reported = false;
            }
            let tracer = st.tracer();
            drop(st);
            if let Some(tr) = tracer {
                tr.child_wait.wake_all();
            }
            return Ok(0);
        }
    }
    t.ptrace.interrupt.store(true, Ordering::Release);
    crate::sched::raise_work_on(t, ExitWork::SIGPENDING.bits());
    crate::sched::wake(t);
    Ok(0)
}

/// Sends `sig` to thread `t` from the tracer (SI_USER).
fn send(t: &Task, sig: u8) {
    let from = task::current().process.pid_in(t.process.pid_ns());
    crate::signal::send_to_thread(t, sig, SigInfo::user(sig, from));
}

/// A resume's signal: 0 or a valid signal number (Linux's `valid_signal`), else -EIO.
fn valid_signal(data: u64) -> Result<u8, i64> {
    if data > NSIG as u64 {
        return Err(-EIO);
    }
    Ok(data as u8)
}

fn put_u64(addr: u64, v: u64) -> Result<i64, i64> {
    copy_to_user(addr, &v.to_ne_bytes()).map_err(|_| -EFAULT)?;
    Ok(0)
}

pub(super) fn copy_out(addr: u64, b: &[u8]) -> Result<(), i64> {
    copy_to_user(addr, b).map_err(|_| -EFAULT)
}

fn words_as_bytes(w: &[u64; reg::COUNT]) -> &[u8] {
    // SAFETY: u64s have no padding; the byte view covers exactly the array.
    unsafe { core::slice::from_raw_parts(w.as_ptr().cast::<u8>(), core::mem::size_of_val(w)) }
}

fn bytes_as_words(b: &[u8]) -> alloc::vec::Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// GETREGSET / SETREGSET with `iov` = { base, len }: NT_PRSTATUS, NT_PRFPREG and
/// NT_X86_XSTATE. A get copies at most `len` bytes and sets `len` to what it copied; a set
/// writes the first `len` bytes (whole registers for NT_PRSTATUS; NT_X86_XSTATE takes only
/// the whole area, in whole u64s, as Linux's ptrace_regset and xstateregs_set).
/// The view is the tracee's (Linux's `task_user_regset_view`): an i386 tracee's sets are the
/// i386 ones (compat_regset.rs).
fn regset(t: &Task, set: bool, note: u64, iov: u64) -> Result<i64, i64> {
    let mut v = [0u8; 16];
    copy_from_user(&mut v, iov).map_err(|_| -EFAULT)?;
    let base = u64::from_ne_bytes(v[..8].try_into().unwrap_or([0; 8]));
    let len = u64::from_ne_bytes(v[8..].try_into().unwrap_or([0; 8]));
    let n = if super::compat_regset::tracee_is_ia32(t) {
        super::compat_regset::regset32(t, set, note, base, len)?
    } else {
        regset64(t, set, note, base, len)?
    };
    copy_out(iov + 8, &n.to_ne_bytes())?;
    Ok(0)
}

/// The x86-64 view's GETREGSET/SETREGSET of `len` bytes at `base`: `Ok(bytes moved)`.
pub(super) fn regset64(t: &Task, set: bool, note: u64, base: u64, len: u64) -> Result<u64, i64> {
    let len = len as usize;
    let mut buf = match note {
        NT_PRSTATUS => words_as_bytes(&regs::get_all(t)).to_vec(),
        NT_PRFPREG => regs::get_fp(t).to_vec(),
        NT_X86_XSTATE => regs::get_xstate(t)?,
        _ => return Err(-EINVAL),
    };
    if note == NT_X86_XSTATE && !len.is_multiple_of(8) {
        return Err(-EINVAL);
    }
    let n = len.min(buf.len());
    if set {
        if note == NT_PRSTATUS && n % 8 != 0 {
            return Err(-EINVAL);
        }
        copy_from_user(&mut buf[..n], base).map_err(|_| -EFAULT)?;
        if note == NT_X86_XSTATE {
            regs::put_xstate(t, &buf[..n])?;
        } else if note == NT_PRSTATUS {
            regs::put_all(t, &bytes_as_words(&buf[..n]))?;
        } else {
            let mut image = [0u8; USER_FPREGS_SIZE];
            image.copy_from_slice(&buf);
            regs::put_fp(t, &image)?;
        }
    } else {
        copy_out(base, &buf[..n])?;
    }
    Ok(n as u64)
}

/// PTRACE_PEEKSIGINFO: the queued siginfos of the tracee's own queue, or with
/// PTRACE_PEEKSIGINFO_SHARED its process's, in arrival order from the `off`-th on, at most
/// `nr` (Linux's `ptrace_peek_siginfo`): the count copied; EFAULT only when none was; a
/// signal pending without a siginfo is not in the queue, so not seen.
/// An i386 tracer (`compat`) gets `compat_siginfo`s (the same 128 bytes each).
pub(super) fn peek_siginfo(t: &Task, args: u64, data: u64, compat: bool) -> Result<i64, i64> {
    const SHARED: u32 = 1;
    let mut a = [0u8; 16];
    copy_from_user(&mut a, args).map_err(|_| -EFAULT)?;
    let off = u64::from_ne_bytes(a[..8].try_into().unwrap_or([0; 8]));
    let flags = u32::from_ne_bytes(a[8..12].try_into().unwrap_or([0; 4]));
    let nr = i32::from_ne_bytes(a[12..16].try_into().unwrap_or([0; 4]));
    if flags & !SHARED != 0 || nr < 0 {
        return Err(-EINVAL);
    }
    let queue = if flags & SHARED != 0 {
        &t.process.sig_pending
    } else {
        &t.sig_pending
    };
    let Ok(off) = usize::try_from(off) else {
        return Ok(0);
    };
    // A snapshot, copied out without the queue's lock (the copy may fault).
    let infos = queue.queued_from(off);
    let mut copied = 0i64;
    for (i, info) in infos.iter().take(nr as usize).enumerate() {
        let bytes = if compat {
            kentry_abi::compat::siginfo_to_compat(&info.to_bytes())
        } else {
            info.to_bytes()
        };
        if copy_out(data + i as u64 * 128, &bytes).is_err() {
            return if copied > 0 { Ok(copied) } else { Err(-EFAULT) };
        }
        copied += 1;
        // A signal for the tracer ends the walk early (it has what was copied).
        if crate::signal::interrupted() {
            break;
        }
    }
    Ok(copied)
}

/// PTRACE_SECCOMP_GET_METADATA: `data` is `struct seccomp_metadata { u64 filter_off; u64
/// flags; }`, of which the caller gives `size` bytes (at least `filter_off`); the answer is
/// the size written. A tracer that is itself under seccomp gets EACCES (Linux's check; every
/// process here has CAP_SYS_ADMIN).
fn seccomp_metadata(t: &Task, size: u64, data: u64) -> Result<i64, i64> {
    if crate::syscall::seccomp::mode() != 0 {
        return Err(-EACCES);
    }
    let size = size.min(16) as usize;
    if size < 8 {
        return Err(-EINVAL);
    }
    let mut off = [0u8; 8];
    copy_from_user(&mut off, data).map_err(|_| -EFAULT)?;
    let filter_off = u64::from_ne_bytes(off);
    let flags = crate::syscall::seccomp::filter_metadata(t, filter_off)?;
    let mut md = [0u8; 16];
    md[..8].copy_from_slice(&filter_off.to_ne_bytes());
    md[8..].copy_from_slice(&flags.to_ne_bytes());
    copy_out(data, &md[..size])?;
    Ok(size as i64)
}

/// PTRACE_SECCOMP_GET_FILTER: the number of instructions of tracee `t`'s filter
/// `filter_off`, and its program copied to `data` unless that is NULL. A tracer with a
/// seccomp mode of its own may not (EACCES), as in Linux.
fn seccomp_filter(t: &Task, filter_off: u64, data: u64) -> Result<i64, i64> {
    if crate::syscall::seccomp::mode() != 0 {
        return Err(-EACCES);
    }
    let prog = crate::syscall::seccomp::filter_program(t, filter_off)?;
    if data != 0 {
        copy_out(data, &prog)?;
    }
    Ok((prog.len() / 8) as i64)
}

/// The 8 bytes at `addr` of tracee `t`'s memory (PEEKTEXT/PEEKDATA), -EIO where they cannot
/// be read.
fn peek_word(t: &Task, addr: u64) -> Result<u64, i64> {
    let mut out = [0u8; 8];
    if crate::mm::remote::read(&t.process.mm(), addr, &mut out) != out.len() {
        return Err(-EIO);
    }
    Ok(u64::from_ne_bytes(out))
}

/// POKETEXT/POKEDATA: writes `word` at `addr` of tracee `t`, into read-only private
/// mappings too (mm/remote.rs). -EIO where it cannot.
fn poke_word(t: &Task, addr: u64, word: u64) -> Result<(), i64> {
    let b = word.to_ne_bytes();
    if crate::mm::remote::write_forced(&t.process.mm(), addr, &b) != b.len() {
        return Err(-EIO);
    }
    Ok(())
}
