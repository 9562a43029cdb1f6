//! Tasks: a kernel stack, a saved context, and (for user tasks) an address space.
//!
//! Today one CPU runs the boot context, which starts one user task at a time and waits for it
//! to end; the scheduler with run queues comes with SMP.

pub mod switch;

use crate::mm::paging::kernel_table;
use crate::mm::stack::{KernelStack, alloc_stack, free_stack};
use crate::percpu::this_cpu;
use crate::process::{AddressSpace, Image};
use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicU32, Ordering};
use kentry::frame::REGS_SIZE;
use kentry::{Regs, msr};
use switch::{SWITCH_FRAME_SLOTS, switch_context};
use x86_64::registers::model_specific::Msr;

/// How a task ended, as a shell would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    Exited(i32),
    Signaled(u8),
}

impl ExitReason {
    /// The status a shell shows: the exit code, or 128 + signal.
    pub fn shell_status(self) -> i32 {
        match self {
            ExitReason::Exited(c) => c & 0xff,
            ExitReason::Signaled(s) => 128 + s as i32,
        }
    }
}

pub struct Task {
    pub pid: u32,
    pub name: String,
    pub kstack: KernelStack,
    /// RSP saved by the context switch while the task is not running.
    pub saved_rsp: u64,
    pub aspace: Option<AddressSpace>,
    pub fs_base: u64,
    pub gs_base: u64,
    pub exit: Option<ExitReason>,
}

const TASK_STACK_PAGES: u64 = 4;
static NEXT_PID: AtomicU32 = AtomicU32::new(1);

/// The boot context's saved RSP while a task runs.
static mut BOOT_CONTEXT_RSP: u64 = 0;

impl Task {
    /// A user task whose first switch-in returns to user mode at `image.regs`.
    pub fn new_user(name: &str, image: Image) -> Box<Task> {
        let kstack = alloc_stack(TASK_STACK_PAGES, "task stack");
        let regs_at = kstack.top - REGS_SIZE as u64;
        // SAFETY: the fresh stack is ours; the frame and the switch frame fit well inside it.
        let saved_rsp = unsafe {
            core::ptr::write(regs_at as *mut Regs, image.regs);
            let ret_slot = regs_at - 8;
            core::ptr::write(
                ret_slot as *mut u64,
                kentry::arch::iret::kentry_ret_from_fork as *const () as u64,
            );
            let frame = ret_slot - (SWITCH_FRAME_SLOTS as u64) * 8;
            core::ptr::write_bytes(frame as *mut u64, 0, SWITCH_FRAME_SLOTS);
            frame
        };
        Box::new(Task {
            pid: NEXT_PID.fetch_add(1, Ordering::Relaxed),
            name: String::from(name),
            kstack,
            saved_rsp,
            aspace: Some(image.aspace),
            fs_base: 0,
            gs_base: 0,
            exit: None,
        })
    }
}

/// The running task, if any.
pub fn current() -> Option<&'static mut Task> {
    // SAFETY: `current` is only changed by this CPU with interrupts off, and the task it
    // points to lives until the boot context reaps it after it stopped running.
    unsafe { crate::percpu::current_task_ptr().as_mut() }
}

fn set_cpu_state_for(task: &Task) {
    let cpu = this_cpu();
    // SAFETY: this CPU's own TSS and per-CPU slot, changed with interrupts off; the new top
    // is the running task's stack.
    unsafe {
        (*cpu.tables.get()).tss.privilege_stack_table[0] = x86_64::VirtAddr::new(task.kstack.top);
        cpu.entry.set_task_stack_top(task.kstack.top);
        if let Some(a) = &task.aspace {
            a.pt.activate();
        }
        Msr::new(msr::IA32_FS_BASE).write(task.fs_base);
        // While in the kernel, the user's GS base waits in KERNEL_GS_BASE for swapgs.
        Msr::new(msr::IA32_KERNEL_GS_BASE).write(task.gs_base);
    }
}

/// Runs `task` on this CPU until it exits; returns how it ended. Called from the boot context.
pub fn run_to_completion(mut task: Box<Task>) -> ExitReason {
    x86_64::instructions::interrupts::disable();
    set_cpu_state_for(&task);
    let cpu = this_cpu();
    // SAFETY: interrupts are off; the task stays alive (boxed, owned here) while current.
    unsafe {
        *cpu.current.get() = &mut *task;
        cpu.entry.task_work.store(0, Ordering::Relaxed);
        switch_context(core::ptr::addr_of_mut!(BOOT_CONTEXT_RSP), task.saved_rsp);
        // Back in the boot context: the task has exited.
        *cpu.current.get() = core::ptr::null_mut();
        kernel_table().activate();
    }
    x86_64::instructions::interrupts::enable();
    let reason = task.exit.expect("task switched out without exiting");
    if let Some(a) = task.aspace.take() {
        a.pt.destroy_user();
    }
    free_stack(task.kstack);
    reason
}

/// Ends the running task and switches to the boot context. Never returns.
pub fn exit_current(reason: ExitReason) -> ! {
    x86_64::instructions::interrupts::disable();
    let task = current().expect("exit without a task");
    task.exit = Some(reason);
    // Context tracking: the task will never return to user mode; the CPU stays in kernel.
    let mut dead_rsp = 0u64;
    // SAFETY: interrupts are off; the boot context's RSP was saved by run_to_completion.
    unsafe {
        switch_context(&mut dead_rsp, BOOT_CONTEXT_RSP);
    }
    unreachable!("a dead task was switched back in");
}
