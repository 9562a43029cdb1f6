//! The part of a task that kentry owns: its kernel stack top, its exit-work word while it is
//! off-CPU, and its saved stack pointer — and the one switch that moves all three together.
//!
//! The entry stubs read the running task's stack top and work word from the per-CPU area
//! ([`EntryPerCpu::task_stack_top`], [`EntryPerCpu::task_work`]), and the CPU reads the stack
//! top from TSS.RSP0. A host that updated one of these by hand could let them drift apart (a
//! SYSCALL frame built on the previous task's stack, or its signal delivered to the next
//! task). So the host embeds a [`TaskEntry`] in each of its tasks and switches with
//! [`switch_to`], which updates TSS.RSP0, the per-CPU stack top and the work word in one
//! place, with interrupts off, and then switches stacks.
//!
//! New tasks get their first stack from kentry too ([`TaskEntry::new_user`] lays out the fork
//! frame, [`TaskEntry::new_kernel`] a kernel thread's start), so the frame a new task starts
//! from always matches the switch that consumes it.

use crate::entry_percpu::EntryPerCpu;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

/// Callee-saved registers the switch pushes and pops (rbp, rbx, r12–r15).
pub const SWITCH_FRAME_SLOTS: usize = 6;

/// A sleeping task's resume point ([`TaskEntry::switch_frame`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchFrame {
    /// The return address of its call to [`switch_to`].
    pub rip: u64,
    /// RSP just after that return.
    pub rsp: u64,
    /// RBP as the switch saved it.
    pub rbp: u64,
}

/// kentry's share of one task. Embed one in every task (kernel threads included); hand it to
/// [`switch_to`] when the task is switched in or out.
pub struct TaskEntry {
    /// RSP saved by the switch while the task is not running.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))] // only the arch switch reads it
    saved_rsp: UnsafeCell<u64>,
    /// The address just past the task's kernel stack: TSS.RSP0 and the SYSCALL stack while
    /// the task runs.
    stack_top: u64,
    /// Exit-work flags ([`ExitWork`](crate::exit_work::ExitWork) bits) while the task is
    /// off-CPU. While it runs, its flags live in the per-CPU area instead.
    work: AtomicU64,
}

// SAFETY: `saved_rsp` is written only by `switch_to` (interrupts off, on the CPU that runs
// or is about to run the task) and read only by the switch that resumes the task; the other
// fields are immutable or atomic.
unsafe impl Sync for TaskEntry {}

impl TaskEntry {
    #[cfg_attr(not(target_os = "none"), allow(dead_code))] // host tests call it directly
    fn with_saved_rsp(stack_top: u64, saved_rsp: u64) -> Self {
        TaskEntry {
            saved_rsp: UnsafeCell::new(saved_rsp),
            stack_top,
            work: AtomicU64::new(0),
        }
    }

    /// A task whose first switch-in returns to user mode with `regs` (a new process, a
    /// fork/clone child, an exec'd image).
    ///
    /// The fork frame, from `stack_top` down: the [`Regs`](crate::Regs) the task starts from;
    /// the return address of the switch, `kentry_ret_from_fork` (which runs the exit-to-user
    /// path — the work loop, context tracking → user — and IRETs to `regs`); and the zeroed
    /// callee-saved registers the switch pops.
    ///
    /// # Safety
    /// `stack_top` must be 16-byte aligned, the top of a fresh kernel stack that this task
    /// owns from now on, with at least [`crate::frame::REGS_SIZE`] + 64 bytes mapped and
    /// writable below it.
    #[cfg(any(target_os = "none", doc))]
    pub unsafe fn new_user(stack_top: u64, regs: &crate::Regs) -> Self {
        assert!(
            stack_top.is_multiple_of(16),
            "kernel stack top not 16-aligned"
        );
        let regs_at = stack_top - crate::frame::REGS_SIZE as u64;
        let ret_slot = regs_at - 8;
        let frame = ret_slot - (SWITCH_FRAME_SLOTS as u64) * 8;
        // SAFETY: the caller gives us these bytes of a fresh stack.
        unsafe {
            core::ptr::write(regs_at as *mut crate::Regs, *regs);
            core::ptr::write(
                ret_slot as *mut u64,
                crate::arch::iret::kentry_ret_from_fork as *const () as u64,
            );
            core::ptr::write_bytes(frame as *mut u64, 0, SWITCH_FRAME_SLOTS);
        }
        Self::with_saved_rsp(stack_top, frame)
    }

    /// A kernel thread whose first switch-in "returns" into `entry`, with RSP 8 mod 16 as
    /// after a call. `entry` runs with interrupts off (the switch's state) and must never
    /// return.
    ///
    /// # Safety
    /// As for [`Self::new_user`]: a fresh, 16-byte aligned stack top the task owns.
    #[cfg(any(target_os = "none", doc))]
    pub unsafe fn new_kernel(stack_top: u64, entry: extern "C" fn() -> !) -> Self {
        assert!(
            stack_top.is_multiple_of(16),
            "kernel stack top not 16-aligned"
        );
        let ret_slot = stack_top - 16 - 8;
        let frame = ret_slot - (SWITCH_FRAME_SLOTS as u64) * 8;
        // SAFETY: the caller gives us these bytes of a fresh stack.
        unsafe {
            core::ptr::write(ret_slot as *mut u64, entry as *const () as u64);
            core::ptr::write_bytes(frame as *mut u64, 0, SWITCH_FRAME_SLOTS);
        }
        Self::with_saved_rsp(stack_top, frame)
    }

    /// The address just past this task's kernel stack.
    pub fn stack_top(&self) -> u64 {
        self.stack_top
    }

    /// Where an off-CPU task resumes: the return address and RBP in the frame [`switch_to`]
    /// left on its stack, and the RSP after that frame's `ret` (a host's backtrace of a
    /// sleeping task starts there). `None` if the saved RSP does not leave room for the frame
    /// below [`Self::stack_top`].
    ///
    /// # Safety
    /// The task's kernel stack is mapped. If the task runs meanwhile, the values are of some
    /// moment, or garbage from inside its stack: for reports only, never to act on.
    pub unsafe fn switch_frame(&self) -> Option<SwitchFrame> {
        // SAFETY: a plain read of an aligned word; a racing switch makes it stale, not torn.
        let rsp = unsafe { core::ptr::read_volatile(self.saved_rsp.get()) };
        let after = rsp.checked_add((SWITCH_FRAME_SLOTS as u64 + 1) * 8)?;
        if rsp == 0 || after > self.stack_top {
            return None;
        }
        let slot = |i: usize| rsp + (i as u64) * 8;
        // SAFETY: both slots lie between the saved RSP and the stack top, on the mapped
        // stack (the caller's contract); `kentry_switch_stacks` pushed RBP last of the six
        // and the return address lies just above them.
        let (rbp, rip) = unsafe {
            (
                core::ptr::read_volatile(slot(SWITCH_FRAME_SLOTS - 1) as *const u64),
                core::ptr::read_volatile(slot(SWITCH_FRAME_SLOTS) as *const u64),
            )
        };
        Some(SwitchFrame {
            rip,
            rsp: after,
            rbp,
        })
    }

    /// Where the task's user frame is while it is in the kernel from user mode (Linux's
    /// `task_pt_regs`): every entry from user mode builds its frame at the top of the task's
    /// stack (SYSCALL and the IDT stubs through TSS.RSP0; the IST vectors copy theirs
    /// there), and a new task's fork frame is there too. What it holds at other times
    /// (a kernel thread, a task not in the kernel) is meaningless.
    pub fn user_regs(&self) -> *mut crate::Regs {
        (self.stack_top - crate::frame::REGS_SIZE as u64) as *mut crate::Regs
    }

    /// Flags exit work for this task while it is off-CPU (another task, a timer, an IPI
    /// handler); [`switch_to`] moves the flags to the per-CPU word when it runs again. For
    /// the running task use [`EntryPerCpu::raise_work`].
    pub fn raise_work(&self, bits: u64) {
        self.work.fetch_or(bits, Ordering::Release);
    }

    /// The work flags saved while the task is off-CPU (for reports and tests).
    pub fn pending_work(&self) -> u64 {
        self.work.load(Ordering::Acquire)
    }
}

/// Makes `next` the task the entry path serves on this CPU, without switching stacks: TSS.RSP0
/// and the per-CPU stack top become `next`'s stack top, `prev`'s work flags are saved in
/// `prev` and `next`'s become the per-CPU word. `prev` is `None` for the first task a CPU runs.
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // host tests call it directly
fn hand_over(cpu: &EntryPerCpu, prev: Option<&TaskEntry>, next: &TaskEntry) {
    let live = cpu
        .task_work
        .swap(next.work.swap(0, Ordering::AcqRel), Ordering::AcqRel);
    if let Some(prev) = prev {
        prev.work.fetch_or(live, Ordering::Release);
    }
    cpu.set_rsp0(next.stack_top);
}

/// Switches this CPU from `prev` (the running task) to `next`: TSS.RSP0, the per-CPU stack
/// top and the work word follow `next`, then the stacks switch. Returns when `prev` is
/// switched in again.
///
/// Everything else a task needs (address space, FPU state, FS/GS bases, the host's own
/// `current` pointer) the host sets before calling this.
///
/// # Safety
/// Interrupts off; `cpu` is this CPU's area, set up by
/// [`init_cpu`](crate::arch::setup::init_cpu); `prev` is the running task and `next` is
/// off-CPU, made by [`TaskEntry::new_user`] / [`TaskEntry::new_kernel`] or switched out by
/// this function, and both stay alive until this returns or, for a `prev` that never runs
/// again, until the next switch away from `next`.
#[cfg(any(target_os = "none", doc))]
pub unsafe fn switch_to(cpu: &EntryPerCpu, prev: &TaskEntry, next: &TaskEntry) {
    // Test kernels check the one precondition a caller can get wrong without noticing: an
    // interrupt between the hand-over and the stack switch would run on `prev`'s stack with
    // `next`'s RSP0 and work word.
    #[cfg(feature = "test-hooks")]
    assert!(
        !x86_64::instructions::interrupts::are_enabled(),
        "kentry::task::switch_to with interrupts on"
    );
    hand_over(cpu, Some(prev), next);
    // SAFETY: per the contract: `prev.saved_rsp` is the running task's own slot, and `next`
    // holds a stack prepared by kentry's constructors or by this switch.
    unsafe {
        crate::arch::switch::kentry_switch_stacks(prev.saved_rsp.get(), *next.saved_rsp.get())
    }
}

/// Starts the first task on this CPU, abandoning the current (boot) stack. Never returns.
///
/// # Safety
/// As for [`switch_to`], with no `prev`: interrupts off, `first` never ran.
#[cfg(any(target_os = "none", doc))]
pub unsafe fn start_first(cpu: &EntryPerCpu, first: &TaskEntry) -> ! {
    hand_over(cpu, None, first);
    let mut discard = 0u64;
    // SAFETY: `first` holds a stack prepared by kentry's constructors; the boot context is
    // never resumed, so where its RSP goes does not matter.
    unsafe { crate::arch::switch::kentry_switch_stacks(&mut discard, *first.saved_rsp.get()) };
    unreachable!("the boot context was resumed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_over_moves_work_and_stack_top() {
        let cpu = EntryPerCpu::new(0);
        let mut rsp0 = [0u64; 3];
        cpu.tss_rsp0
            .store(rsp0.as_mut_ptr() as u64, Ordering::Relaxed);
        let prev = TaskEntry::with_saved_rsp(0x1000, 0);
        let next = TaskEntry::with_saved_rsp(0x2000, 0);
        cpu.raise_work(0b101);
        next.raise_work(0b010);
        hand_over(&cpu, Some(&prev), &next);
        assert_eq!(prev.pending_work(), 0b101, "prev's live work kept");
        assert_eq!(next.pending_work(), 0, "next's work moved to the CPU");
        assert_eq!(cpu.task_work.load(Ordering::Relaxed), 0b010);
        assert_eq!(cpu.task_stack_top.load(Ordering::Relaxed), 0x2000);
        assert_eq!(rsp0[0], 0x2000, "TSS.RSP0 follows the stack top");
        // Work raised for prev while it was off-CPU is merged, not lost.
        prev.raise_work(0b1000);
        hand_over(&cpu, Some(&next), &prev);
        assert_eq!(cpu.task_work.load(Ordering::Relaxed), 0b1101);
        assert_eq!(rsp0[0], 0x1000);
    }

    /// The frame as `kentry_switch_stacks` leaves it (pushes rbp, rbx, r12–r15 below the
    /// return address): the resume point is read from the right slots.
    #[test]
    fn switch_frame_reads_pushed_slots() {
        // [r15, r14, r13, r12, rbx, rbp, ret, caller's word], then the stack top.
        let mut stack = [15u64, 14, 13, 12, 0xb, 0xbbbb_0000, 0xaaaa_1234, 0x5a5a];
        let base = stack.as_mut_ptr() as u64;
        let top = base + 8 * stack.len() as u64;
        let t = TaskEntry::with_saved_rsp(top, base);
        // SAFETY: `stack` is live and holds the frame.
        let f = unsafe { t.switch_frame() }.expect("a frame");
        assert_eq!(f.rip, 0xaaaa_1234);
        assert_eq!(f.rbp, 0xbbbb_0000);
        assert_eq!(f.rsp, base + 7 * 8, "RSP just past the return address");
        // A saved RSP with no room for the frame below the stack top, or none at all.
        let short = TaskEntry::with_saved_rsp(top, top - 6 * 8);
        // SAFETY: nothing is read: the bounds check fails first.
        assert_eq!(unsafe { short.switch_frame() }, None);
        let never = TaskEntry::with_saved_rsp(top, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { never.switch_frame() }, None);
    }
}
