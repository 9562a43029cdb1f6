//! What the kernel does with exceptions, interrupts and the NMI-like vectors that kentry
//! hands it: user faults become Linux signals (here: death by that signal, until signal
//! handlers exist); kernel faults are fixed up (user copies) or reported and fatal.

use crate::percpu::{EntryCounters, this_cpu};
use crate::power::{ExitCode, power_off};
use crate::symbols::Sym;
use crate::task;
use core::fmt::Write;
use core::sync::atomic::Ordering;
use kentry::irqentry::Fault;
use kentry::{Regs, vectors};

/// A host request (docs/harness.md) a test wants made from the next timer tick taken in ring
/// 3, so that what the host injects (an NMI, a machine check) lands while user code runs.
/// The tick takes the lock: set it with [`set_host_request_from_user_tick`] (IRQs off).
static HOST_REQUEST_FROM_USER_TICK: crate::sync::Mutex<Option<&'static str>> =
    crate::sync::Mutex::new(None);

/// Sets (or clears) the request the next ring-3 tick makes, with IRQs off so this CPU's tick
/// cannot spin on the lock held here.
pub fn set_host_request_from_user_tick(req: Option<&'static str>) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        *HOST_REQUEST_FROM_USER_TICK.lock() = req
    });
}

use crate::signal::{FaultInfo, SI_KERNEL, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP, SigInfo};

/// The signal and si_code Linux gives an exception in user mode (linux-abi.md §6.5), and
/// whether si_addr is the faulting RIP.
fn signal_for(f: &Fault) -> (u8, i32, u64) {
    const FPE_INTDIV: i32 = 1;
    const ILL_ILLOPN: i32 = 2;
    const TRAP_TRACE: i32 = 2;
    const BUS_ADRALN: i32 = 1;
    match f.vector {
        vectors::DE => (SIGFPE, FPE_INTDIV, 1),
        vectors::DB => (SIGTRAP, TRAP_TRACE, 1),
        vectors::BP => (SIGTRAP, SI_KERNEL, 0),
        vectors::UD => (SIGILL, ILL_ILLOPN, 1),
        vectors::MF | vectors::XM => (SIGFPE, 0, 1),
        vectors::NP | vectors::SS => (SIGBUS, SI_KERNEL, 0),
        vectors::AC => (SIGBUS, BUS_ADRALN, 0),
        // Linux decides by the mappings: SEGV_MAPERR, SEGV_ACCERR, or SIGBUS past a file's end.
        vectors::PF => {
            let (sig, code) = crate::mm::fault::fault_signal(f.cr2, f.error_code);
            (sig, code, 2)
        }
        _ => (SIGSEGV, SI_KERNEL, 0),
    }
}

/// An exception from user mode becomes the thread's forced signal; it is delivered (or kills)
/// on the way back to user mode. Out of line: inlined into kentry's IDT entry, LLVM merges
/// its signal call with the interrupt paths' tails under a flag, and the noinstr check walks
/// both ways of that flag into paths that do not exist.
#[inline(never)]
fn user_fault(regs: &Regs, f: Fault) {
    let (sig, code, addr_kind) = signal_for(&f);
    let addr = match addr_kind {
        1 => regs.rip,
        2 => f.cr2,
        _ => 0,
    };
    send_fault_signal(f, sig, code, addr);
}

/// SIGTRAP with `code` for a #DB from user mode (x86/debugreg.rs decides the code), at the
/// user's RIP, as Linux's `send_sigtrap`.
pub fn user_trap(regs: &Regs, code: i32) {
    let f = Fault {
        vector: vectors::DB,
        error_code: 0,
        cr2: 0,
    };
    send_fault_signal(f, SIGTRAP, code, regs.rip);
}

fn send_fault_signal(f: Fault, sig: u8, code: i32, addr: u64) {
    // SAFETY: the running thread's own signal state.
    let old_cr2 = unsafe { task::current().inner_signals().fault.cr2 };
    let fault = FaultInfo {
        trapno: f.vector as u64,
        err: f.error_code,
        // Linux keeps the last page fault's address for other traps' frames.
        cr2: if f.vector == vectors::PF {
            f.cr2
        } else {
            old_cr2
        },
    };
    crate::signal::force_fault(
        sig,
        SigInfo {
            errno: 0,
            signo: sig as i32,
            code,
            addr_or_pid: addr,
            extra: 0,
        },
        fault,
    );
}

pub fn exception(regs: &mut Regs, f: Fault) {
    let c = &this_cpu().counters;
    if regs.user_mode() {
        EntryCounters::bump(&c.exceptions_from_user);
        if f.vector == vectors::AC {
            EntryCounters::bump(&c.ac_from_user);
        }
        if f.vector == vectors::PF && crate::mm::fault::handle_user_fault(f.cr2, f.error_code) {
            return;
        }
        user_fault(regs, f);
        return;
    }
    EntryCounters::bump(&c.exceptions_from_kernel);
    // A kernel-mode exception's handler is not preemptible, even when it interrupted a
    // preemptible region (a user copy's page fault): the fault code was written for a
    // non-preemptible kernel. Its return to the region may preempt (preempt.rs).
    let _no_preempt = crate::preempt::guard();
    if let Some(fixup) = crate::uaccess::search_exception_table(regs.rip) {
        // A user copy touched a page not mapped yet (demand paging, copy-on-write, stack
        // growth): resolve it and retry the copy; otherwise the copy fails with -EFAULT.
        if f.vector == vectors::PF && crate::mm::fault::handle_user_fault(f.cr2, f.error_code) {
            return;
        }
        #[cfg(feature = "test-hooks")]
        LAST_FIXUP_CR2.store(f.cr2, core::sync::atomic::Ordering::Relaxed);
        regs.rip = fixup;
        return;
    }
    kernel_fault_report("KERNEL FAULT", regs, f);
    power_off(ExitCode::Panic);
}

/// Test kernels: the CR2 the last kernel-mode page fault that a user copy's fixup ended was
/// handed (the #PF path's read, E20).
#[cfg(feature = "test-hooks")]
pub static LAST_FIXUP_CR2: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Test kernels: when set, the next page fault's entry makes a fixed-up page fault of its own
/// at the host's first point (`Host::test_pf_entry_probe`), at user address 0x1000. One shot.
#[cfg(feature = "test-hooks")]
pub static PF_PROBE_ARMED: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// The #PF path's probe point (test kernels): see [`PF_PROBE_ARMED`].
#[cfg(feature = "test-hooks")]
pub fn pf_entry_probe() {
    if PF_PROBE_ARMED.swap(false, core::sync::atomic::Ordering::Relaxed) {
        let patterns = [0u64; 14];
        // SAFETY: a self-contained SysV function; its load at 0x1000 faults and is fixed up.
        unsafe { crate::test::regcheck::kernel_fixup_register_check(0, &patterns) };
    }
}

pub fn interrupt(regs: &mut Regs, vector: u8) {
    // Test kernels: hardirq context for the lock checks. (`int $0x80` from user mode, a
    // system call, has its own entry; a vector 0x80 here is an external interrupt in kernel
    // mode, a stray vector like any other.)
    #[cfg(feature = "test-hooks")]
    let _hardirq = crate::lockcheck::HardirqScope::enter();
    let c = &this_cpu().counters;
    EntryCounters::bump(if regs.user_mode() {
        &c.irq_from_user
    } else {
        &c.irq_from_kernel
    });
    match vector {
        crate::x86::apic::TIMER_VECTOR => {
            #[cfg(feature = "test-hooks")]
            if drop_this_tick() {
                crate::x86::apic::eoi();
                return;
            }
            EntryCounters::bump(&c.timer_ticks);
            this_cpu().mce_log.drain();
            // A tick in user mode or idle is an RCU quiescent state (what the lean kernel,
            // context tracking off, relies on).
            crate::rcu::note_tick(regs.user_mode());
            let now = c.timer_ticks.load(Ordering::Relaxed);
            crate::watchdog::tick(now);
            crate::sched::tick(now, regs.user_mode());
            if regs.user_mode()
                && let Some(req) = HOST_REQUEST_FROM_USER_TICK.lock().take()
            {
                crate::klog!("host-request: {req}");
            }
            crate::x86::apic::eoi();
        }
        crate::x86::apic::SPURIOUS_VECTOR => {}
        crate::smp::ipi::TLB_VECTOR..=crate::smp::ipi::RESCHEDULE_VECTOR => {
            crate::smp::ipi::handle(vector);
            crate::x86::apic::eoi();
        }
        _ => other_interrupt(vector),
    }
}

/// The vectors [`interrupt`] has no arm for: the bench mode's fast timer, COM1's receive
/// interrupt of an interactive run (tty/), or a stray vector
/// (EOI only). Out of line, so the bench vector's test is on no other vector's path (in the
/// `match`, LLVM would fold it into the switch over the vector, which the timer takes).
#[inline(never)]
fn other_interrupt(vector: u8) {
    if vector == crate::bench::FAST_TIMER_VECTOR {
        crate::bench::fast_timer_interrupt();
    } else if vector == crate::tty::COM1_VECTOR && crate::tty::get().is_some() {
        crate::tty::com1_interrupt();
    } else {
        crate::x86::apic::eoi();
    }
}

pub fn nmi_like(regs: &mut Regs, vector: u8, error_code: u64) {
    crate::rcu::assert_watching_in_nmi(regs, vector);
    match vector {
        vectors::NMI => {
            EntryCounters::bump(&this_cpu().counters.nmis);
            if regs.user_mode() {
                EntryCounters::bump(&this_cpu().counters.nmis_from_user);
            }
            // A watchdog's NMI to a locked-up CPU: reports and never returns.
            crate::watchdog::nmi(regs);
            // SAFETY: the hook slot is written by this CPU's self-tests with NMIs unable to
            // run a half-written fn pointer (a single aligned store).
            if let Some(hook) = unsafe { *this_cpu().nmi_hook.get() } {
                hook(regs);
            }
        }
        vectors::DF => double_fault(regs, error_code),
        vectors::MC => machine_check(regs, error_code),
        // Kernel-mode #DB: consumed or reported, always survived (x86/debugreg.rs).
        vectors::DB => crate::x86::debugreg::kernel_db(regs),
        _ => {
            kernel_fault_report(
                "UNEXPECTED IST ENTRY",
                regs,
                Fault {
                    vector,
                    error_code,
                    cr2: 0,
                },
            );
            power_off(ExitCode::Panic);
        }
    }
}

/// #DB or #MC from user mode: kentry moved the frame to the task stack and runs the ordinary
/// entry and exit around this (E19), so it is the task's own exception and the signal it
/// raises is delivered by the exit work on the way out.
pub fn ist_exception_from_user(regs: &mut Regs, f: Fault) {
    match f.vector {
        vectors::DB => {
            // An exception from user mode like the others (context_tracking_balanced counts it).
            EntryCounters::bump(&this_cpu().counters.exceptions_from_user);
            // Single-step, a hardware breakpoint or INT1 in ring 3: SIGTRAP for the thread,
            // with the si_code and the virtual DR6 that DR6 says (x86/debugreg.rs).
            crate::x86::debugreg::user_db(regs);
        }
        _ => machine_check(regs, f.error_code),
    }
}

/// #MC (E25), by the record's severity (x86/mce.rs): recoverable (RIPV=1, PCC=0, not
/// action-required) — logged through the deferred log and resumed, in user or kernel mode;
/// action-required in user mode — the task gets SIGBUS (BUS_MCEERR_AR) on its way back;
/// anything else — action-required in kernel mode, no restartable RIP, or a corrupt context
/// — the machine is not trusted any more: report and stop, as Linux panics.
fn machine_check(regs: &mut Regs, error_code: u64) {
    use crate::x86::mce::{self, Severity};
    let rec = mce::collect();
    EntryCounters::bump(&this_cpu().counters.machine_checks);
    let severity = rec.severity();
    if severity == Severity::Recoverable {
        // This may have interrupted this CPU anywhere, a print holding the console lock
        // included: no output here. The next timer tick prints it.
        this_cpu().mce_log.push(&rec, regs.rip, regs.user_mode());
        mce::finish();
        return;
    }
    let report = |w: &mut dyn core::fmt::Write| {
        let _ = writeln!(
            w,
            "[kentry] machine check: mcg_status={:#x} bank {} status={:#x} addr={:#x} from {} mode at rip={:#x}",
            rec.mcg_status,
            rec.bank,
            rec.status,
            rec.addr,
            if regs.user_mode() { "user" } else { "kernel" },
            regs.rip
        );
    };
    if regs.user_mode() {
        // kentry moved a user-mode #MC to the task stack: this CPU holds no kernel lock, so
        // the console lock is only ever held briefly by another CPU.
        report(&mut crate::log::SerialWriter);
    } else {
        // In kernel mode the #MC may have interrupted this CPU inside a print, holding the
        // console lock: an NMI-like path takes no lock, and the machine stops right after,
        // so break it as the panic path does.
        report(&mut crate::log::ForcedWriter::new());
    }
    if regs.user_mode() && severity == Severity::ActionRequired {
        const BUS_MCEERR_AR: i32 = 4;
        let info = SigInfo {
            errno: 0,
            signo: SIGBUS as i32,
            code: BUS_MCEERR_AR,
            addr_or_pid: rec.addr,
            extra: 0,
        };
        crate::signal::force_fault(
            SIGBUS,
            info,
            FaultInfo {
                trapno: vectors::MC as u64,
                err: error_code,
                cr2: 0,
            },
        );
        // On the task stack (kentry moved this user-mode #MC there): the exit work delivers
        // the signal on the way out.
        mce::finish();
        return;
    }
    kernel_fault_report(
        "MACHINE CHECK",
        regs,
        Fault {
            vector: vectors::MC,
            error_code,
            cr2: 0,
        },
    );
    power_off(ExitCode::Panic);
}

/// #DF: on its own IST stack. If CR2 is a stack's guard page, that stack overflowed (E26).
fn double_fault(regs: &Regs, error_code: u64) -> ! {
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    let mut w = crate::log::ForcedWriter::new();
    match crate::mm::stack::find(cr2) {
        Some((s, true)) => {
            let _ = writeln!(
                w,
                "[kentry] stack overflow: {} (guard page {:#x} hit; stack {:#x}..{:#x})",
                s.name, cr2, s.bottom, s.top
            );
        }
        _ => {
            let _ = writeln!(
                w,
                "[kentry] double fault (not a known stack guard: cr2={cr2:#x})"
            );
        }
    }
    kernel_fault_report(
        "DOUBLE FAULT",
        regs,
        Fault {
            vector: vectors::DF,
            error_code,
            cr2,
        },
    );
    power_off(ExitCode::DoubleFault)
}

/// Tripwire T3's line: a kernel-mode exception at `rip`, inside the asm entry stubs.
fn t3_report(w: &mut crate::log::ForcedWriter, vector: u8, rip: u64) {
    let what = vectors::name(vector);
    let Some((stub, range)) = crate::symbols::sized_containing(rip) else {
        let _ = writeln!(
            w,
            "[kentry] T3 tripwire: kernel-mode {what} inside the entry stubs at {rip:#x}"
        );
        return;
    };
    let off = rip - range.start;
    match kentry::arch::windows::row_of(rip, range, crate::symbols::address_of) {
        Some((row, label, from)) => {
            let _ = writeln!(
                w,
                "[kentry] T3 tripwire: kernel-mode {what} inside entry stub {stub}+{off:#x}, in the window from {label}+{from:#x} (entry/src/arch/{}:{}): {} | {} | can arrive: {}",
                row.file, row.line, row.instructions, row.rsp_gs, row.can_arrive
            );
        }
        None => {
            let _ = writeln!(
                w,
                "[kentry] T3 tripwire: kernel-mode {what} inside entry stub {stub}+{off:#x}, in no row of its window table"
            );
        }
    }
}

/// The symbolized report of a kernel-mode fault.
pub fn kernel_fault_report(what: &str, r: &Regs, f: Fault) {
    crate::percpu::repair_gs_base_for_report();
    let mut w = crate::log::ForcedWriter::new();
    let _ = writeln!(
        w,
        "[kentry] {what}: {} err={:#x} cr2={:#x} cpu={}",
        vectors::name(f.vector),
        f.error_code,
        f.cr2,
        this_cpu().entry.cpu()
    );
    let _ = writeln!(w, "[kentry] RIP: {}", Sym(r.rip));
    // Exceptions only: NMI and #MC may arrive at any stub instruction (their window tables
    // say so), and so may the reports of other kinds that come through here.
    let exception =
        f.vector < vectors::FIRST_EXTERNAL && f.vector != vectors::NMI && f.vector != vectors::MC;
    if exception && !r.user_mode() && kentry::arch::in_entry_stubs(r.rip) {
        // T3: the asm stubs' window tables allow no kernel-mode exception but the iretq to
        // user's (E14, fixed up before it gets here): name the stub and the row of its window
        // table that `rip` is in (the tables are kentry's comments, compiled in).
        t3_report(&mut w, f.vector, r.rip);
    }
    let _ = writeln!(
        w,
        "[kentry] RSP: {:#018x} RFLAGS: {:#010x} CS: {:#x} SS: {:#x}",
        r.rsp, r.rflags, r.cs, r.ss
    );
    let _ = writeln!(
        w,
        "[kentry] RAX: {:#018x} RBX: {:#018x} RCX: {:#018x} RDX: {:#018x}",
        r.rax, r.rbx, r.rcx, r.rdx
    );
    let _ = writeln!(
        w,
        "[kentry] RSI: {:#018x} RDI: {:#018x} RBP: {:#018x} R8:  {:#018x}",
        r.rsi, r.rdi, r.rbp, r.r8
    );
    let _ = writeln!(
        w,
        "[kentry] R9:  {:#018x} R10: {:#018x} R11: {:#018x} R12: {:#018x}",
        r.r9, r.r10, r.r11, r.r12
    );
    let _ = writeln!(
        w,
        "[kentry] R13: {:#018x} R14: {:#018x} R15: {:#018x}",
        r.r13, r.r14, r.r15
    );
    if !r.user_mode() {
        backtrace(crate::unwind::Frame {
            rip: r.rip,
            rsp: r.rsp,
            rbp: r.rbp,
        });
    }
}

/// Prints the call chain above `start`, from the DWARF unwind tables, inside the kernel
/// stack `start.rsp` lies in. Deep recursion (a stack overflow) is folded into one line.
pub fn backtrace(start: crate::unwind::Frame) {
    let mut w = crate::log::ForcedWriter::new();
    let _ = writeln!(w, "[kentry] Backtrace:");
    let Some((stack, _)) = crate::mm::stack::find(start.rsp) else {
        let _ = writeln!(
            w,
            "[kentry]   (rsp {:#x} is not on a known kernel stack)",
            start.rsp
        );
        return;
    };
    let (mut last, mut repeats) = (0u64, 0u32);
    crate::unwind::walk(start, stack.bottom, stack.top, 256, |ret| {
        if ret == last {
            repeats += 1;
            return;
        }
        if repeats > 0 {
            let _ = writeln!(w, "[kentry]   ... the same frame {repeats} more times");
        }
        let _ = writeln!(w, "[kentry]   {}", Sym(ret));
        (last, repeats) = (ret, 0);
    });
    if repeats > 0 {
        let _ = writeln!(w, "[kentry]   ... the same frame {repeats} more times");
    }
}

/// Test kernels, `kentry.drop_ticks=N`: of the boot CPU's first N timer interrupts every other
/// one is dropped before it counts, as QEMU drops the ticks of a vCPU that a loaded host left
/// without time (the boot test `clock_rate_dropped_ticks`).
#[cfg(feature = "test-hooks")]
pub static DROP_TICKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

#[cfg(feature = "test-hooks")]
fn drop_this_tick() -> bool {
    if crate::smp::this_cpu_id() != 0 || DROP_TICKS.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let left = DROP_TICKS.fetch_sub(1, Ordering::Relaxed);
    left & 1 == 0
}
