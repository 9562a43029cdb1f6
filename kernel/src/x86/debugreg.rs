//! A task's debug registers (DR0–DR3, the virtual DR6, DR7): what ptrace reads and writes in
//! `struct user`'s `u_debugreg[8]`, what the CPU is given while the task runs, and the #DB
//! they cause, in user mode and in kernel mode. docs/debug-registers.md tells the whole
//! story; the rules (validation, DR7, DR6) are the logic crate's (`debugreg`), Linux 6.1's.
//!
//! The API ptrace calls: [`ptrace_get_debugreg`] and [`ptrace_set_debugreg`], on a stopped,
//! off-CPU task or on the running one.

use crate::percpu::this_cpu;
use crate::sync::Mutex;
use crate::syscall::errno::{EINVAL, EIO};
use crate::task::Task;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kentry::Regs;
use kentry::frame::rflags;
use kentry_kernel_logic::debugreg::{
    self as rules, DR_STEP, DR_TRAP_BITS, DR6_RESERVED, DR7_FIXED_1, DrError, PtraceDebugRegs,
};

/// One task's debug registers.
///
/// A tracer writes them while the task is stopped, off-CPU, so nothing here is the task's
/// alone: the tracer's view is under a lock, and what the CPU and the #DB path need is in
/// atomics, published after the view changed. The context switch reads only
/// [`TaskDebugRegs::hw_dr7`] unless it is nonzero.
pub struct TaskDebugRegs {
    /// The breakpoints as ptrace sees them (addresses, kinds, DR7 as written).
    ptrace: Mutex<PtraceDebugRegs>,
    /// DR0–DR3 for the CPU.
    hw_addr: [AtomicU64; 4],
    /// DR7 for the CPU: 0 while no breakpoint is enabled (the common case, which the
    /// context switch tests first).
    hw_dr7: AtomicU64,
    /// Linux's `virtual_dr6`, in positive polarity: B0–B3 of the breakpoints the last user
    /// #DB hit and its BS, or what the tracer wrote. PEEKUSER shows it XOR DR6_RESERVED.
    virtual_dr6: AtomicU64,
    /// A tracer has written a slot or DR7 (exec has something to clear).
    touched: AtomicBool,
}

impl TaskDebugRegs {
    pub const fn new() -> Self {
        TaskDebugRegs {
            ptrace: Mutex::new(PtraceDebugRegs {
                slots: [None; 4],
                dr7: 0,
            }),
            hw_addr: [const { AtomicU64::new(0) }; 4],
            hw_dr7: AtomicU64::new(0),
            virtual_dr6: AtomicU64::new(0),
            touched: AtomicBool::new(false),
        }
    }

    /// Whether the task runs with a breakpoint enabled.
    #[inline(always)]
    pub fn in_use(&self) -> bool {
        self.hw_dr7.load(Ordering::Relaxed) != 0
    }

    /// The CPU's DR7 for this task (0: none enabled).
    pub fn hw_dr7(&self) -> u64 {
        self.hw_dr7.load(Ordering::Acquire)
    }

    /// Publishes the CPU's values for `regs`: addresses first, DR7 last, so a switch that
    /// sees the new DR7 also sees the addresses it arms.
    fn publish(&self, regs: &PtraceDebugRegs) {
        for (slot, a) in self.hw_addr.iter().zip(regs.hw_addrs()) {
            slot.store(a, Ordering::Relaxed);
        }
        self.hw_dr7.store(regs.hw_dr7(), Ordering::Release);
    }
}

impl Default for TaskDebugRegs {
    fn default() -> Self {
        Self::new()
    }
}

/// PTRACE_PEEKUSER of `u_debugreg[n]`: DR0–DR3 as written (0 for a slot never written),
/// DR6 as the last #DB or the tracer left it, DR7 as the tracer last wrote it; 0 for DR4,
/// DR5 and past the end (Linux's `ptrace_get_debugreg`).
pub fn ptrace_get_debugreg(t: &Task, n: usize) -> u64 {
    match n {
        6 => t.debugreg.virtual_dr6.load(Ordering::Relaxed) ^ DR6_RESERVED,
        _ => t.debugreg.ptrace.lock().get(n),
    }
}

/// PTRACE_POKEUSER of `u_debugreg[n]` (Linux's `ptrace_set_debugreg`): DR0–DR3 take user
/// addresses aligned to their breakpoint's length; DR7 enables, with R/W 00 (execute,
/// length 1), 01 (write) or 11 (read/write) and lengths 1, 2, 4 or 8; DR6 takes anything.
/// `Err(-EINVAL)` for a value Linux refuses, `Err(-EIO)` for DR4, DR5 and n > 7.
///
/// Callable on a stopped, off-CPU task (its next switch-in loads the new values) or on the
/// running task (loaded here, before it returns to user mode).
pub fn ptrace_set_debugreg(t: &Task, n: usize, val: u64) -> Result<(), i64> {
    let d = &t.debugreg;
    if n == 6 {
        d.virtual_dr6.store(val ^ DR6_RESERVED, Ordering::Relaxed);
        return Ok(());
    }
    {
        let mut regs = d.ptrace.lock();
        // Set before the attempt: a refused DR7 can still leave a slot behind (Linux's
        // rollback), which exec must clear too.
        d.touched.store(true, Ordering::Relaxed);
        regs.set(n, val).map_err(|e| match e {
            DrError::Io => -EIO,
            DrError::Invalid => -EINVAL,
        })?;
        d.publish(&regs);
    }
    if core::ptr::eq(t, crate::task::current()) {
        x86_64::instructions::interrupts::without_interrupts(|| load(t));
    }
    Ok(())
}

/// exec (Linux's `flush_ptrace_hw_breakpoint`): the running task's breakpoints are gone and
/// its virtual DR6 is 0.
/// Two loads for a task no tracer gave breakpoints and no #DB set a DR6 bit for; the CPU's
/// registers are written only if they hold this task's breakpoints.
pub fn flush_current() {
    let t = crate::task::current();
    let d = &t.debugreg;
    if !d.touched.load(Ordering::Relaxed) && d.virtual_dr6.load(Ordering::Relaxed) == 0 {
        return;
    }
    d.touched.store(false, Ordering::Relaxed);
    {
        let mut regs = d.ptrace.lock();
        if *regs != PtraceDebugRegs::default() {
            *regs = PtraceDebugRegs::default();
            d.publish(&regs);
        }
    }
    d.virtual_dr6.store(0, Ordering::Relaxed);
    x86_64::instructions::interrupts::without_interrupts(|| {
        if this_cpu().debugreg.task_dr_live() {
            load(t);
        }
    });
}

/// Whether this CPU's DR0–DR3/DR7 hold a task's breakpoints (so the next switch must take
/// them away), and whether it holds an in-kernel breakpoint (x86/hwbp.rs).
pub struct CpuDebugRegs {
    task_dr_live: AtomicBool,
    /// The in-kernel breakpoint in DR3: 0 none, else its [`crate::x86::hwbp::HwbpKind`] + 1.
    pub(super) kernel_slot: core::sync::atomic::AtomicU8,
}

impl CpuDebugRegs {
    pub const fn new() -> Self {
        CpuDebugRegs {
            task_dr_live: AtomicBool::new(false),
            kernel_slot: core::sync::atomic::AtomicU8::new(0),
        }
    }

    /// Whether a task's breakpoints are loaded here.
    pub fn task_dr_live(&self) -> bool {
        self.task_dr_live.load(Ordering::Relaxed)
    }
}

impl Default for CpuDebugRegs {
    fn default() -> Self {
        Self::new()
    }
}

/// The context switch's part, with interrupts off: `next`'s breakpoints into the CPU, or the
/// outgoing task's out of it. Two loads and a branch when neither uses any.
#[inline(always)]
pub fn switch_to(next: &Task) {
    if next.debugreg.in_use() || this_cpu().debugreg.task_dr_live.load(Ordering::Relaxed) {
        load(next);
    }
}

/// Loads `t`'s DR0–DR3 and DR7 into this CPU (DR7 0: all off). Interrupts off.
#[inline(never)]
fn load(t: &Task) {
    let d = &t.debugreg;
    let dr7 = d.hw_dr7.load(Ordering::Acquire);
    // SAFETY: DR7 off first, so no half-loaded breakpoint can fire; the addresses are user
    // addresses the rules checked (a kernel access to them is a user copy, whose #DB the
    // kernel-mode handler consumes); DR6 cleared so a stale status cannot be read as this
    // task's. CPL 0, interrupts off: nothing else writes these meanwhile.
    unsafe {
        write_dr7(DR7_FIXED_1);
        if dr7 != 0 {
            core::arch::asm!("mov dr0, {}", in(reg) d.hw_addr[0].load(Ordering::Relaxed), options(nostack));
            core::arch::asm!("mov dr1, {}", in(reg) d.hw_addr[1].load(Ordering::Relaxed), options(nostack));
            core::arch::asm!("mov dr2, {}", in(reg) d.hw_addr[2].load(Ordering::Relaxed), options(nostack));
            core::arch::asm!("mov dr3, {}", in(reg) d.hw_addr[3].load(Ordering::Relaxed), options(nostack));
            core::arch::asm!("mov dr6, {}", in(reg) DR6_RESERVED, options(nostack));
            write_dr7(dr7 | DR7_FIXED_1);
        }
    }
    this_cpu()
        .debugreg
        .task_dr_live
        .store(dr7 != 0, Ordering::Relaxed);
}

/// # Safety
/// CPL 0; `v` arms only breakpoints whose addresses are loaded.
unsafe fn write_dr7(v: u64) {
    // SAFETY: per the contract.
    unsafe { core::arch::asm!("mov dr7, {}", in(reg) v, options(nostack)) };
}

/// DR6 in positive polarity, and DR6 reset (Linux's `debug_read_clear_dr6`): the CPU never
/// clears B0–B3 or BS itself, so a status left there would be read by the next #DB.
fn read_clear_dr6() -> u64 {
    let dr6: u64;
    // SAFETY: reading DR6 and writing its reset value at CPL 0 have no other effect.
    unsafe {
        core::arch::asm!("mov {}, dr6", out(reg) dr6, options(nostack));
        core::arch::asm!("mov dr6, {}", in(reg) DR6_RESERVED, options(nostack));
    }
    dr6 ^ DR6_RESERVED
}

/// #DB from user mode, on the task stack with interrupts off (Linux's `exc_debug_user`):
/// the virtual DR6 becomes BS plus the bits of the task's breakpoints that were hit; an
/// execute breakpoint sets RF in the frame so the instruction runs on return instead of
/// faulting again; a single-step, a breakpoint hit or an INT1 sends SIGTRAP (TRAP_TRACE,
/// TRAP_HWBKPT, TRAP_BRKPT) at the user's RIP.
/// Out of line: inlined into kentry's IDT entry, its SIGTRAP shares a tail with the
/// exception path's signal that the noinstr check cannot follow (it walks both ways of the
/// flag LLVM uses to tell the two apart).
#[inline(never)]
pub fn user_db(regs: &mut Regs) {
    let dr6 = read_clear_dr6();
    let t = crate::task::current();
    let db = rules::user_db(dr6, t.debugreg.hw_dr7());
    if db.virtual_dr6 & DR_TRAP_BITS != 0 {
        USER_BP_USER_HITS.fetch_add(1, Ordering::Relaxed);
    }
    t.debugreg
        .virtual_dr6
        .store(db.virtual_dr6, Ordering::Relaxed);
    if db.set_rf {
        regs.rflags |= rflags::RF;
    }
    if let Some(code) = db.si_code {
        crate::trap::user_trap(regs, code);
    }
}

/// User-mode #DBs that a task's own breakpoint caused.
pub static USER_BP_USER_HITS: AtomicU64 = AtomicU64::new(0);

/// Single-steps of the SYSENTER stub by a user's TF, dropped.
pub static SYSENTER_STEPS: AtomicU64 = AtomicU64::new(0);

/// Test kernels (`kentry.break=sysenter_step`): a single-step in the SYSENTER stub is not
/// recognised (it is reported as a stray kernel #DB, and TF is lost for the user).
#[cfg(feature = "test-hooks")]
pub static BREAK_SYSENTER_STEP: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

fn sysenter_step_expected(rip: u64) -> bool {
    #[cfg(feature = "test-hooks")]
    if BREAK_SYSENTER_STEP.load(Ordering::Relaxed) {
        return false;
    }
    kentry::arch::sysenter_compat::is_sysenter_singlestep(rip)
}

/// Kernel-mode #DBs that were no in-kernel breakpoint's and no user copy's: reported and
/// survived. Test kernels fail the test during which one happened (test/mod.rs).
pub static STRAY_KERNEL_DB: AtomicU64 = AtomicU64::new(0);
/// Kernel-mode hits of the running task's own breakpoints by a user copy (or by the first
/// instruction of an entry stub, the deferred #DB after MOV SS, E21): consumed.
pub static USER_BP_KERNEL_HITS: AtomicU64 = AtomicU64::new(0);

/// #DB from kernel mode, on the #DB IST stack with DR7 already off (kentry's paranoid path
/// saved it, E22, and restores it after). Linux 6.1 (`exc_debug_kernel`, with ptrace's
/// breakpoints excluding the kernel) drops a user breakpoint's hit in kernel mode without a
/// signal; so does this. What else can come here: an in-kernel breakpoint's hit (x86/hwbp.rs),
/// counted; anything else — a single-step in kernel code, a user breakpoint hit outside a user
/// copy, an unknown status — is a bug somewhere: reported (T3 names the entry-stub window it
/// landed in) and survived, TF cleared and RF set so that it does not come back at once.
pub fn kernel_db(regs: &mut Regs) {
    let dr6 = read_clear_dr6();
    let mut rest = dr6;
    // The user's TF stepping the SYSENTER stub until it clears TF (Linux's
    // is_sysenter_singlestep): expected, dropped; TF stays set in the frame so that the
    // stub's `pushfq` still saves it for the user.
    if dr6 & DR_STEP != 0 && sysenter_step_expected(regs.rip) {
        SYSENTER_STEPS.fetch_add(1, Ordering::Relaxed);
        rest &= !DR_STEP;
    }
    let (kernel_hits, kernel_exec) = crate::x86::hwbp::note_hits(dr6);
    rest &= !kernel_hits;
    if kernel_exec {
        regs.rflags |= rflags::RF;
    }
    let task = crate::percpu::current_task_ptr();
    let user_live = this_cpu().debugreg.task_dr_live.load(Ordering::Relaxed);
    if !task.is_null() && user_live {
        // SAFETY: `current` points at a live task while set (task::current).
        let hw_dr7 = unsafe { (*task).debugreg.hw_dr7() };
        let mine = (0..4)
            .filter(|&i| rules::decode_dr7(hw_dr7, i).0)
            .fold(0, |m, i| m | 1 << i);
        let user_hits = rest & mine;
        if user_hits != 0 && in_user_access(regs) {
            USER_BP_KERNEL_HITS.fetch_add(1, Ordering::Relaxed);
            rest &= !user_hits;
        }
    }
    // Nothing left to explain (BD or other status bits alone are no event of their own).
    // An empty DR6 is: the kernel has no INT1.
    if rest & (DR_TRAP_BITS | DR_STEP) == 0 && dr6 != 0 {
        return;
    }
    STRAY_KERNEL_DB.fetch_add(1, Ordering::Relaxed);
    crate::trap::kernel_fault_report(
        "KERNEL-MODE #DB (survived)",
        regs,
        kentry::irqentry::Fault {
            vector: kentry::vectors::DB,
            error_code: dr6,
            cr2: 0,
        },
    );
    // The #DB may have interrupted a print on this CPU: the forced writer takes no lock.
    let _ = writeln!(
        crate::log::ForcedWriter::new(),
        "[kentry] kernel-mode #DB: DR6 {dr6:#x} (positive polarity) names no in-kernel breakpoint and no user copy; the kernel goes on"
    );
    // Not at once again: no more single-steps, and an instruction breakpoint lets the
    // instruction run (RF) when the #DB returns to it.
    regs.rflags &= !rflags::TF;
    regs.rflags |= rflags::RF;
}

/// Whether kernel code at `regs` was touching user memory: inside the user-copy routines,
/// inside a `stac` window (AC set), right after an inline user load (its `clac`, which
/// a CPU without SMAP runs as a NOP: AC says nothing there), or at an entry stub's first
/// instruction, where a #DB deferred by MOV SS from user mode lands (E21).
fn in_user_access(regs: &Regs) -> bool {
    regs.rflags & rflags::AC != 0
        || crate::uaccess::in_copy_text(regs.rip)
        || crate::uaccess::at_inline_access_end(regs.rip)
        || kentry::arch::in_entry_stubs(regs.rip)
}
