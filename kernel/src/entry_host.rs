//! The kernel's side of kentry: what each kind of entry does here.

use crate::power::{ExitCode, power_off};
use core::fmt::Write;
use kentry::context_tracking::CtViolation;
use kentry::exit_work::ExitWork;
use kentry::irqentry::Fault;
use kentry::{Host, Regs, vectors};

pub struct Kernel;

kentry::entry_points!(Kernel);

impl Host for Kernel {
    #[inline(always)]
    fn syscall(regs: &mut Regs, nr: i32) {
        crate::syscall::dispatch(regs, nr);
    }

    fn syscall_ia32(regs: &mut Regs, _nr: i32) {
        crate::syscall::compat::dispatch_ia32(regs);
    }

    #[inline(always)]
    fn get_user_u32(addr: u64) -> Option<u32> {
        // kentry passes a zero-extended 32-bit ESP.
        let Ok(v) = crate::uaccess::get_user_u32(addr as u32) else {
            #[cfg(feature = "test-hooks")]
            if crate::syscall::compat::BREAK_ARG6.load(core::sync::atomic::Ordering::Relaxed) {
                return Some(0);
            }
            return None;
        };
        Some(v)
    }

    #[inline(always)]
    fn vdso32_landing_pad() -> Option<u32> {
        crate::vdso::ia32::current_landing_pad()
    }

    fn exception(regs: &mut Regs, fault: Fault) {
        crate::trap::exception(regs, fault);
    }

    fn ist_exception_from_user(regs: &mut Regs, fault: Fault) {
        crate::trap::ist_exception_from_user(regs, fault);
    }

    fn interrupt(regs: &mut Regs, vector: u8) {
        crate::trap::interrupt(regs, vector);
    }

    fn nmi_like(regs: &mut Regs, vector: u8, error_code: u64) {
        crate::trap::nmi_like(regs, vector, error_code);
    }

    fn exit_work(regs: &mut Regs, work: ExitWork) {
        let cpu = crate::percpu::this_cpu();
        cpu.entry.clear_work(work.bits());
        if work.contains(ExitWork::EXITING) {
            let p = &crate::task::current().process;
            let r = p
                .exit_reason()
                .or(crate::task::current_inner().pending_exit)
                .unwrap_or(crate::task::ExitReason::Signaled(crate::signal::SIGKILL));
            crate::process::exit_current_thread(r);
        }
        if work.contains(ExitWork::NEED_RESCHED) {
            crate::sched::schedule();
        }
        if work.contains(ExitWork::SIGPENDING) {
            crate::signal::do_signal(regs);
        }
    }

    fn ptrace_report_syscall_entry(regs: &mut Regs) -> bool {
        crate::ptrace::report_syscall_entry(regs)
    }

    fn ptrace_report_syscall_exit(regs: &mut Regs, step: bool) {
        crate::ptrace::report_syscall_exit(regs, step);
    }

    fn secure_computing(regs: &mut Regs) -> bool {
        crate::syscall::seccomp::secure_computing(regs)
    }

    #[inline(always)]
    fn user_exit() {
        crate::nohz::user_exit();
    }

    #[inline(always)]
    fn user_enter() {
        crate::nohz::user_enter();
    }

    #[inline(always)]
    fn irq_exit_preemptible(_regs: &Regs) -> bool {
        crate::preempt::irq_exit_preemptible()
    }

    fn preempt_schedule_irq(_regs: &mut Regs) {
        crate::preempt::preempt_schedule_irq();
    }

    fn schedule_tail() {
        crate::sched::finish_switch();
    }

    fn context_violation(regs: &Regs, vector: Option<u8>, v: CtViolation) -> ! {
        let mut w = crate::log::ForcedWriter::new();
        let _ = writeln!(
            w,
            "[kentry] context tracking violated at {} {:#x}: state={} ({}), frame is {} mode, nmi nesting {}",
            vector.map_or("syscall", vectors::name),
            vector.map_or(0, |v| v as u32),
            v.state,
            match v.state {
                0 => "kernel",
                1 => "user",
                2 => "idle",
                _ => "?",
            },
            if v.user_mode { "user" } else { "kernel" },
            v.nmi_nesting
        );
        crate::trap::kernel_fault_report(
            "CONTEXT TRACKING",
            regs,
            Fault {
                vector: vector.unwrap_or(0xff),
                error_code: 0,
                cr2: 0,
            },
        );
        power_off(ExitCode::Panic)
    }

    // The two tripwire callbacks run before context tracking says "kernel": they inline into
    // the entry text (entry/README.md "Entry text rules"; the noinstr check holds them to it).
    #[inline(always)]
    fn is_percpu_base(addr: u64) -> bool {
        crate::percpu::is_percpu_base(addr)
    }

    #[inline(always)]
    fn on_kernel_stack(rsp: u64) -> bool {
        crate::percpu::on_kernel_stack(rsp)
    }

    #[cfg(feature = "test-hooks")]
    fn test_pf_entry_probe() {
        crate::trap::pf_entry_probe();
    }

    fn ist_recursion(regs: &Regs, vector: u8) -> ! {
        let mut w = crate::log::ForcedWriter::new();
        let _ = writeln!(
            w,
            "[kentry] IST recursion: {} re-entered its own stack",
            vectors::name(vector)
        );
        crate::trap::kernel_fault_report(
            "IST RECURSION",
            regs,
            Fault {
                vector,
                error_code: 0,
                cr2: 0,
            },
        );
        power_off(ExitCode::Panic)
    }
}
