//! Syscall entry and exit work (Linux's `SYSCALL_WORK_*` and `syscall_trace_enter` /
//! `syscall_exit_work`): tracing, emulation and seccomp run only when a task's flag asks.
//!
//! **Where the flags live.** In the same per-task word as the exit work ([`ExitWork`]), which
//! kentry already moves between the task and the per-CPU area at every switch
//! ([`crate::task::switch_to`]) and which the host already raises on a running task from
//! another CPU (with an IPI). Bits 0–15 are exit work (transient: cleared when done), bits
//! 16–23 are syscall work (persistent: set for as long as the task is traced or filtered).
//! The syscall path tests the syscall bits with one `test` of the per-CPU word against an
//! immediate and one branch; the exit path's test already masks with [`ExitWork`]'s bits, so a
//! traced task's interrupt returns do not take the slow exit path for it.
//!
//! **Clearing is lazy.** A flag asks the slow path to look; the host decides there and
//! clears, on the running task itself ([`EntryPerCpu::clear_work`]), what no longer applies
//! (a tracer gone). So a flag never needs clearing on a task running elsewhere.
//!
//! **Entry** ([`syscall_enter_from_user_mode_work`]), with the frame as the stub built it
//! (`rax` = -ENOSYS, `orig_rax` = the number), in Linux's order: a tracer's syscall-entry
//! stop (which may change the number, the arguments, any register; a skipped syscall keeps
//! `rax`: -ENOSYS unless the tracer set it), then seccomp on the number the tracer left.
//! Either may skip the syscall. When the exit needs work too (a tracer's exit stop, the
//! single-step trap) the entry raises the transient [`ExitWork::SYSCALL_EXIT`], which the
//! exit-work loop (already checked on every return) runs first
//! ([`syscall_exit_to_user_mode_work`]).
//!
//! After any of it the return goes by SYSRET only when `sysret_allowed` says the frame allows
//! it (RCX = RIP, R11 = RFLAGS, canonical RIP, user CS/SS): a tracer's changes force IRET
//! with the full checks, as in Linux.
//!
//! [`ExitWork`]: crate::exit_work::ExitWork
//! [`ExitWork::SYSCALL_EXIT`]: crate::exit_work::ExitWork::SYSCALL_EXIT
//! [`EntryPerCpu::clear_work`]: crate::entry_percpu::EntryPerCpu::clear_work

use crate::exit_work::ExitWork;
use crate::frame::Regs;
use crate::host::Host;

bitflags::bitflags! {
    /// Persistent syscall work of a task, in bits 16–23 of its work word. Linux's names.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct SyscallWork: u64 {
        /// A seccomp mode is set: [`Host::secure_computing`] judges each syscall.
        const SECCOMP             = 1 << 16;
        /// Traced with PTRACE_SYSCALL: a stop at entry and at exit.
        const SYSCALL_TRACE       = 1 << 17;
        /// PTRACE_SYSEMU: a stop at entry, and the syscall is never run.
        const SYSCALL_EMU         = 1 << 18;
        /// PTRACE_SINGLESTEP across a syscall: report the step at its exit.
        const SYSCALL_EXIT_TRAP   = 1 << 19;
    }
}

/// Every syscall-work bit: the syscall path's one test.
pub const SYSCALL_WORK_MASK: u64 = SyscallWork::all().bits();

const _: () = {
    // The two kinds of work share one word and must not overlap; the syscall bits fit a
    // 32-bit immediate (a `test` of a 64-bit operand sign-extends its immediate).
    assert!(SYSCALL_WORK_MASK & ExitWork::all().bits() == 0);
    assert!(SYSCALL_WORK_MASK < 1 << 31);
};

/// Whether syscall work `work` needs work at the syscall's exit (Linux's
/// `SYSCALL_WORK_EXIT`, less what kentry has no use for): a tracer's exit stop, a
/// single-step report. (EMU alone reports nothing at exit: the syscall never ran.)
pub fn has_exit_work(work: SyscallWork) -> bool {
    work.intersects(SyscallWork::SYSCALL_TRACE.union(SyscallWork::SYSCALL_EXIT_TRAP))
}

/// Whether the exit of a syscall reports a single step (Linux's `report_single_step`): the
/// tracer single-steps, and the syscall was not emulated (SYSEMU_SINGLESTEP reports at the
/// entry stop only).
pub fn report_single_step(work: SyscallWork) -> bool {
    work.contains(SyscallWork::SYSCALL_EXIT_TRAP) && !work.contains(SyscallWork::SYSCALL_EMU)
}

/// What the entry work decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallAction {
    /// Run the syscall whose number is now in `orig_rax`.
    Run,
    /// Do not run it; `rax` holds the result (-ENOSYS unless a tracer or seccomp set one).
    Skip,
}

/// The decisions of [`syscall_enter_from_user_mode_work`], in Linux's order, for a task with
/// syscall work `work`: pure, given the host's answers, so host tests check the order.
/// Inlined into each copy of the slow path (SYSCALL's and `int $0x80`'s), as it was into the
/// one copy before there were two: out of line it costs the seccomp path a call and a frame.
#[inline(always)]
pub fn syscall_trace_enter<H: Host>(regs: &mut Regs, work: SyscallWork) -> SyscallAction {
    if work.intersects(SyscallWork::SYSCALL_TRACE | SyscallWork::SYSCALL_EMU)
        && (H::ptrace_report_syscall_entry(regs) || work.contains(SyscallWork::SYSCALL_EMU))
    {
        return SyscallAction::Skip;
    }
    // Seccomp judges the number and arguments the tracer left (Linux: seccomp after ptrace,
    // so a tracer cannot smuggle a filtered call past it).
    if work.contains(SyscallWork::SECCOMP) && !H::secure_computing(regs) {
        return SyscallAction::Skip;
    }
    // A tracer's -1 skips the call and keeps the `rax` it left (-ENOSYS unless it set one);
    // run, the invalid number would overwrite it with the table's -ENOSYS.
    if regs.orig_rax == u64::MAX {
        return SyscallAction::Skip;
    }
    SyscallAction::Run
}

/// The syscall path's slow side, when the task has syscall work (`work`, its bits of the
/// per-CPU word): the entry work, the syscall unless skipped (from the i386 table when `IA32`:
/// the `int $0x80` path, a copy of its own), and the exit work raised for the way out. Task context, IRQs on. Out of line and cold, so the fast path is the test
/// and the branch only.
#[cfg(any(target_os = "none", doc))]
#[cold]
#[inline(never)]
pub fn syscall_enter_from_user_mode_work<H: Host, const IA32: bool>(regs: &mut Regs, work: u64) {
    let work = SyscallWork::from_bits_truncate(work);
    let action = syscall_trace_enter::<H>(regs, work);
    if action == SyscallAction::Run {
        if IA32 {
            H::syscall_ia32(regs, regs.orig_rax as i32);
        } else {
            H::syscall(regs, regs.orig_rax as i32);
        }
    }
    if has_exit_work(work) {
        crate::entry_percpu::this_cpu().raise_work(ExitWork::SYSCALL_EXIT.bits());
    }
}

/// The transient [`ExitWork::SYSCALL_EXIT`], first in the exit-work loop (Linux's
/// `syscall_exit_work`, before signals): a single-step report or the tracer's exit stop,
/// for the syscall work the task has now. Task context, IRQs on.
#[cfg(any(target_os = "none", doc))]
pub fn syscall_exit_to_user_mode_work<H: Host>(regs: &mut Regs) {
    let work = SyscallWork::from_bits_truncate(crate::entry_percpu::this_cpu().task_work());
    let step = report_single_step(work);
    if step || work.contains(SyscallWork::SYSCALL_TRACE) {
        H::ptrace_report_syscall_exit(regs, step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context_tracking::CtViolation;
    use crate::irqentry::Fault;
    use std::cell::RefCell;

    /// A host whose tracer and seccomp answers the test sets, recording the calls.
    struct Mock;
    thread_local! {
        static LOG: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
        static TRACER_SKIPS: RefCell<bool> = const { RefCell::new(false) };
        static TRACER_SETS_NR: RefCell<Option<u64>> = const { RefCell::new(None) };
        static SECCOMP_ALLOWS: RefCell<fn(u64) -> bool> = const { RefCell::new(|_| true) };
    }
    fn log(s: &'static str) {
        LOG.with(|l| l.borrow_mut().push(s));
    }
    impl Host for Mock {
        fn syscall(_: &mut Regs, _: i32) {}
        fn exception(_: &mut Regs, _: Fault) {}
        fn ist_exception_from_user(_: &mut Regs, _: Fault) {}
        fn interrupt(_: &mut Regs, _: u8) {}
        fn nmi_like(_: &mut Regs, _: u8, _: u64) {}
        fn exit_work(_: &mut Regs, _: ExitWork) {}
        fn context_violation(_: &Regs, _: Option<u8>, _: CtViolation) -> ! {
            unreachable!()
        }
        fn ist_recursion(_: &Regs, _: u8) -> ! {
            unreachable!()
        }
        fn ptrace_report_syscall_entry(regs: &mut Regs) -> bool {
            log("trace-entry");
            if let Some(nr) = TRACER_SETS_NR.with(|n| *n.borrow()) {
                regs.orig_rax = nr;
            }
            TRACER_SKIPS.with(|s| *s.borrow())
        }
        fn secure_computing(regs: &mut Regs) -> bool {
            log("seccomp");
            SECCOMP_ALLOWS.with(|f| (f.borrow())(regs.orig_rax))
        }
    }
    fn run(work: SyscallWork, nr: u64) -> (SyscallAction, Vec<&'static str>, u64) {
        LOG.with(|l| l.borrow_mut().clear());
        let mut regs = Regs {
            orig_rax: nr,
            ..Regs::default()
        };
        let a = syscall_trace_enter::<Mock>(&mut regs, work);
        (a, LOG.with(|l| l.borrow().clone()), regs.orig_rax)
    }

    #[test]
    fn no_work_runs_the_syscall_and_asks_nobody() {
        assert_eq!(
            run(SyscallWork::empty(), 39),
            (SyscallAction::Run, vec![], 39)
        );
    }

    #[test]
    fn seccomp_judges_after_the_tracer_and_sees_its_number() {
        TRACER_SKIPS.with(|s| *s.borrow_mut() = false);
        TRACER_SETS_NR.with(|n| *n.borrow_mut() = Some(102));
        // The filter allows 39 (the user's number) but not 102 (the tracer's).
        SECCOMP_ALLOWS.with(|f| *f.borrow_mut() = |nr| nr == 39);
        let (a, log, nr) = run(SyscallWork::SYSCALL_TRACE | SyscallWork::SECCOMP, 39);
        assert_eq!(log, ["trace-entry", "seccomp"]);
        assert_eq!((a, nr), (SyscallAction::Skip, 102));
        TRACER_SETS_NR.with(|n| *n.borrow_mut() = None);
        SECCOMP_ALLOWS.with(|f| *f.borrow_mut() = |_| true);
    }

    #[test]
    fn a_tracer_skip_and_emulation_skip_before_seccomp() {
        TRACER_SKIPS.with(|s| *s.borrow_mut() = true);
        let (a, log, _) = run(SyscallWork::SYSCALL_TRACE | SyscallWork::SECCOMP, 39);
        assert_eq!((a, log), (SyscallAction::Skip, vec!["trace-entry"]));
        TRACER_SKIPS.with(|s| *s.borrow_mut() = false);
        let (a, log, _) = run(SyscallWork::SYSCALL_EMU | SyscallWork::SECCOMP, 39);
        assert_eq!((a, log), (SyscallAction::Skip, vec!["trace-entry"]));
    }

    #[test]
    fn seccomp_alone() {
        SECCOMP_ALLOWS.with(|f| *f.borrow_mut() = |nr| nr == 0);
        assert_eq!(run(SyscallWork::SECCOMP, 0).0, SyscallAction::Run);
        assert_eq!(run(SyscallWork::SECCOMP, 39).0, SyscallAction::Skip);
        SECCOMP_ALLOWS.with(|f| *f.borrow_mut() = |_| true);
    }

    #[test]
    fn a_tracers_minus_one_skips_the_call() {
        TRACER_SKIPS.with(|s| *s.borrow_mut() = false);
        TRACER_SETS_NR.with(|n| *n.borrow_mut() = Some(u64::MAX));
        let (a, log, nr) = run(SyscallWork::SYSCALL_TRACE, 39);
        assert_eq!(
            (a, log, nr),
            (SyscallAction::Skip, vec!["trace-entry"], u64::MAX)
        );
        TRACER_SETS_NR.with(|n| *n.borrow_mut() = None);
    }

    #[test]
    fn an_emulated_syscall_reports_no_step_at_exit() {
        assert!(report_single_step(SyscallWork::SYSCALL_EXIT_TRAP));
        assert!(!report_single_step(
            SyscallWork::SYSCALL_EXIT_TRAP | SyscallWork::SYSCALL_EMU
        ));
        assert!(!report_single_step(SyscallWork::SYSCALL_TRACE));
    }

    #[test]
    fn exit_work_only_for_trace_and_step() {
        assert!(has_exit_work(SyscallWork::SYSCALL_TRACE));
        assert!(has_exit_work(SyscallWork::SYSCALL_EXIT_TRAP));
        assert!(!has_exit_work(SyscallWork::SYSCALL_EMU));
        assert!(!has_exit_work(SyscallWork::SECCOMP));
    }
}
