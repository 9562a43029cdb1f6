//! Floor stubs for `cargo xtask bench`: the least a SYSCALL entry can do, timed by the same
//! ring-3 loop as the real paths, so that the bench can print kentry beside the floor.
//!
//! They are reachable only when a kernel points LSTAR at one of them ([`set_syscall_target`]),
//! which the kernel does in bench mode alone, around one run of `/bin/bench floor-…`. Each
//! stub first checks the syscall number: anything but [`FLOOR_NR`] jumps to the real
//! [`kentry_syscall_64`](super::syscall_64::kentry_syscall_64) with every register as SYSCALL
//! left it, so the program can still print and exit. The check costs two instructions, which
//! the floor figures include.
//!
//! - `kentry_floor_bare`: `swapgs`; park the user RSP; load the task stack; reload the user
//!   RSP; `swapgs`; `sysretq`. RAX comes back unchanged (= [`FLOOR_NR`]).
//! - `kentry_floor_frame`: the same with the full `pt_regs` frame of the real stub built and
//!   popped, and a `call` of an empty function in between (spec/bench.md: "swapgs, stack
//!   switch, full frame, a call").
//! - `kentry_floor_int3`: the exception floor, the hardware frame and `iretq` only. It is the
//!   `#BP` gate of a copy of the IDT ([`floor_idt`]) that the kernel loads only around one run
//!   of `/bin/bench floor-int3`. It never touches GS and only returns past the `int3`, so it
//!   suits nothing but `int3` from ring 3: while that IDT is loaded the kernel must not raise
//!   #BP itself (it does not today: static keys are patched without INT3, static_key.rs).
//!
//! Windows — what can interrupt each part, and why that is safe:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_floor_bare`, `kentry_floor_frame` | `cmpq`, `jne` | user RSP, user GS | NMI, #MC, #DB (MOV SS, E21: only here, on the first instruction) | nothing touched yet; the real stub's own table applies after the jump |
//! | `kentry_floor_bare_swapgs`, `kentry_floor_frame_swapgs` | `swapgs`, park RSP, load stack | user RSP, kernel GS | NMI, #MC | as in syscall_64.rs: IST vectors decide GS from MSR_GS_BASE; the slots are per-CPU |
//! | `kentry_floor_frame_call` | frame, `call`, pops (frame stub) | kernel stack | NMI, #MC | a normal kernel context; IF=0 (FMASK) |
//! | `kentry_floor_bare_exit`, `kentry_floor_frame_exit` | reload user RSP, `swapgs`, `sysretq` | user RSP, then user GS | NMI, #MC | IF stays 0 until SYSRET; no memory touched after the RSP load |
//! | `kentry_floor_int3` | `iretq` (int3 stub) | task stack (TSS.RSP0), user GS | NMI, #MC, #DB (MOV SS before `int3`, E21) | IF=0 (interrupt gate); the paranoid vectors decide GS from MSR_GS_BASE |
//!
//! SYSRET here returns to the RIP/RFLAGS SYSCALL saved in RCX/R11, which the stubs never
//! change: the same values the CPU checked on the way in (a canonical RIP, E02).

use crate::entry_percpu::{OFFSET_TASK_STACK_TOP, OFFSET_USER_RSP};
use crate::frame::ORIG_RAX_TO_USER_RSP;
use crate::gdt::{USER_CS, USER_DS};

/// The syscall number the floor stubs answer; every other number goes to the real entry.
/// The stubs return it unchanged in RAX, which is how the bench program tells that a floor
/// stub (and not the real kernel, which returns -ENOSYS) answered.
pub const FLOOR_NR: u64 = 0x0046_4c52; // "FLR"

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_floor_bare",
    ".type kentry_floor_bare, @function",
    "kentry_floor_bare:",
    "cmpq ${floor_nr}, %rax",
    "jne kentry_syscall_64",
    ".globl kentry_floor_bare_swapgs",
    "kentry_floor_bare_swapgs:",
    "swapgs",
    "movq %rsp, %gs:{user_rsp}",
    "movq %gs:{stack_top}, %rsp",
    ".globl kentry_floor_bare_exit",
    "kentry_floor_bare_exit:",
    "movq %gs:{user_rsp}, %rsp",
    "swapgs",
    "sysretq",
    ".size kentry_floor_bare, . - kentry_floor_bare",
    "",
    ".balign 16",
    ".globl kentry_floor_frame",
    ".type kentry_floor_frame, @function",
    "kentry_floor_frame:",
    "cmpq ${floor_nr}, %rax",
    "jne kentry_syscall_64",
    ".globl kentry_floor_frame_swapgs",
    "kentry_floor_frame_swapgs:",
    "swapgs",
    "movq %rsp, %gs:{user_rsp}",
    "movq %gs:{stack_top}, %rsp",
    ".globl kentry_floor_frame_call",
    "kentry_floor_frame_call:",
    "pushq ${user_ds}",        // ss
    "pushq %gs:{user_rsp}",    // rsp
    "pushq %r11",              // rflags
    "pushq ${user_cs}",        // cs
    "pushq %rcx",              // rip
    "pushq %rax",              // orig_rax
    "pushq %rdi",
    // rax: the number, returned as it is (one push, like the real stub's preset)
    super::push_gprs_below_rdi!("%rax"),
    "movq %rsp, %rdi",
    "subq $8, %rsp",           // 16-byte alignment at the call, as in syscall_64.rs
    "call kentry_floor_callee",
    "addq $8, %rsp",
    super::pop_gprs!(),
    ".globl kentry_floor_frame_exit",
    "kentry_floor_frame_exit:",
    "movq {user_rsp_above}(%rsp), %rsp", // from the orig_rax slot to the saved user RSP
    "swapgs",
    "sysretq",
    ".size kentry_floor_frame, . - kentry_floor_frame",
    "",
    ".balign 16",
    ".globl kentry_floor_int3",
    ".type kentry_floor_int3, @function",
    "kentry_floor_int3:",
    "iretq",
    ".size kentry_floor_int3, . - kentry_floor_int3",
    "",
    // The called function of the frame stub: it does nothing.
    ".balign 16",
    "kentry_floor_callee:",
    "ret",
    ".popsection",
    floor_nr = const FLOOR_NR,
    user_rsp = const OFFSET_USER_RSP,
    stack_top = const OFFSET_TASK_STACK_TOP,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    user_rsp_above = const ORIG_RAX_TO_USER_RSP,
    options(att_syntax)
);

unsafe extern "C" {
    /// The bare floor stub (an LSTAR target).
    pub fn kentry_floor_bare();
    /// The floor stub with a full frame and a call (an LSTAR target).
    pub fn kentry_floor_frame();
    /// The exception floor: `iretq` only (the #BP gate of [`floor_idt`]).
    pub fn kentry_floor_int3();
}

/// A copy of the IDT whose #BP gate (same IST slot and DPL) goes to the `iretq`-only floor
/// stub; every other vector is as in `Idt::new`.
pub fn floor_idt(stub_base: u64) -> crate::idt::Idt {
    use crate::vectors::{BP, gate_dpl, ist_slot};
    let int80 = super::entry_64_compat::kentry_int80_compat as *const () as u64;
    let mut idt = crate::idt::Idt::new(stub_base, int80);
    idt.0[BP as usize] = crate::idt::Gate::interrupt(
        kentry_floor_int3 as *const () as u64,
        ist_slot(BP),
        gate_dpl(BP),
    );
    idt
}

/// Points this CPU's LSTAR at `target`: one of the floor stubs, or back at
/// [`kentry_syscall_64`](super::syscall_64::kentry_syscall_64).
///
/// # Safety
/// `target` must be one of those three stubs, and [`enable_syscall`](super::setup::enable_syscall)
/// must have run on this CPU.
pub unsafe fn set_syscall_target(target: u64) {
    // SAFETY: LSTAR is this CPU's; the caller passes a stub that handles every SYSCALL.
    unsafe { x86_64::registers::model_specific::Msr::new(crate::msr::IA32_LSTAR).write(target) };
}
