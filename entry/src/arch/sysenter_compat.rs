//! The SYSENTER stub: SYSENTER from 32-bit code (Linux's `entry_SYSENTER_compat`), for i386
//! programs on Intel-type CPUs, where SYSCALL from compat mode is #UD (docs/compat.md,
//! "SYSENTER"; E29, E30).
//!
//! SYSENTER saves nothing: it loads CS from IA32_SYSENTER_CS, RIP from IA32_SYSENTER_EIP and
//! RSP from IA32_SYSENTER_ESP, and clears IF (and VM, RF). It does not clear TF, NT, AC or DF:
//! a user's TF single-steps the stub's first instructions, a user's NT would make the
//! kernel's next IRET a task return (#GP in long mode), a user's AC would open SMAP. The only
//! caller it supports is the 32-bit vDSO's `__kernel_vsyscall` (`movl %esp, %ebp; sysenter`,
//! with ECX, EDX and EBP saved on the user stack), so the user's ESP is in EBP, the sixth
//! argument at `[EBP]`, and the return goes to the vDSO's `int80_landing_pad`: the frame's
//! RSP is EBP zero-extended, its RIP a placeholder that
//! [`crate::syscall_32::do_fast_syscall_32`] fills in. The way
//! back is the compat SYSCALL's: `kentry_sysret32_from_system_call` (SYSRETL, which Intel
//! CPUs run from 64-bit mode although they refuse SYSCALL from compat mode) when
//! [`crate::sysret::sysretl_allowed`] passes the final frame, else IRET, as Linux's
//! `entry_SYSENTER_compat` jumps to `sysret32_from_system_call`. SYSRETL gives back the saved
//! flags, NT and AC included; TF forces IRET.
//!
//! The MSRs (`setup::enable_syscall`): IA32_SYSENTER_CS = __KERNEL_CS (SYSENTER takes SS as
//! CS + 8), IA32_SYSENTER_EIP = this stub, IA32_SYSENTER_ESP = 0. The stub loads the task
//! stack from GS before anything could push: the only events that can arrive before that
//! (#DB from TF, NMI, #MC) use IST stacks, so a stack there would never be used, and should
//! something use it anyway it faults at once (a double fault on its own IST stack) instead
//! of writing into memory that belongs to someone else.
//!
//! A #DB with DR6.BS from this stub (`kentry_sysenter_compat` and the
//! `kentry_sysenter_compat_len` bytes after it) is the user's TF stepping it ([`is_sysenter_singlestep`]):
//! the host's #DB handler drops it and returns with TF still set, so the stub is stepped
//! until the `popfq` in `kentry_sysenter_compat_fix_flags` clears TF. Clearing TF in the #DB's
//! frame instead would lose it before the `pushfq` has saved the user's flags.
//!
//! Windows:
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_sysenter_compat` | `swapgs` | RSP 0 (IA32_SYSENTER_ESP), user GS | NMI, #MC, #DB (the user's TF; a MOV SS deferred #DB, E21) | IF=0 (SYSENTER clears it); the three use IST stacks and decide GS from MSR_GS_BASE, never from CS or RSP; the #DB handler drops a single-step here |
//! | `kentry_sysenter_compat_park` | load the task stack | RSP 0, kernel GS | NMI, #MC, #DB (TF) | the stack top is per-CPU, GS-relative, always mapped; nothing reads or writes the user stack |
//! | `kentry_sysenter_compat_frame` | build the frame (`pushfq` saves the user's TF, NT, AC), `cld`, test TF/NT/AC | task stack, kernel GS, IF=0 | NMI, #MC, #DB (TF) | a kernel stack; the #DB handler drops the single-steps and its IRET restores TF; NT is harmless while no IRET of ours runs |
//! | `kentry_sysenter_compat_call` | `call` | task stack, kernel GS, TF/NT/AC clear | NMI, #MC; everything once Rust enables IRQs | a normal kernel context from here on |
//! | `kentry_sysenter_compat_return` | after the call: `testb`, `jnz` to SYSRETL, else `jmp` to the IRET path | task stack, kernel GS, IF=0 (the exit path's) | NMI, #MC | iret.rs has the IRET way, syscall_compat.rs the SYSRETL way |
//! | `kentry_sysenter_compat_fix_flags` | `pushq $2; popfq` (TF, NT, AC, DF clear), `jmp` back | task stack, kernel GS, IF=0 | NMI, #MC, #DB (TF, until the `popfq`) | as the frame window; after the `popfq` no single-step can follow |

use crate::entry_percpu::OFFSET_TASK_STACK_TOP;
use crate::frame::{Regs, rflags};
use crate::gdt::{USER_DS, USER32_CS};
use core::mem::offset_of;

/// -ENOSYS: the preset result.
const NEG_ENOSYS: i64 = -38;

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_sysenter_compat",
    ".type kentry_sysenter_compat, @function",
    "kentry_sysenter_compat:",
    "swapgs",
    ".globl kentry_sysenter_compat_park",
    "kentry_sysenter_compat_park:",
    "movq %gs:{stack_top}, %rsp",
    ".globl kentry_sysenter_compat_frame",
    "kentry_sysenter_compat_frame:",
    "pushq ${user_ds}",   // ss
    // rsp: the vDSO's ESP, which `__kernel_vsyscall` left in EBP: RBP's low half, the upper
    // one cleared in the slot (RBP itself keeps it).
    "pushq %rbp",
    "movl $0, 4(%rsp)",
    "pushfq",             // rflags: the user's, but IF (SYSENTER cleared it)
    "pushq ${user32_cs}", // cs
    "pushq $0",           // rip: the landing pad (do_fast_syscall_32)
    "movl %eax, %eax",    // the number, zero-extended, as Linux's orig_ax
    "pushq %rax",         // orig_rax
    "pushq %rdi",
    super::push_gprs_below_rdi!("${enosys}"), // rax: the preset result
    "cld",
    // TF, NT and AC survive SYSENTER: clear them before anything else (an IRET with NT set
    // would #GP, AC would let kernel code touch user memory under SMAP, TF steps us).
    "testl ${fix}, {flags}(%rsp)",
    "jnz kentry_sysenter_compat_fix_flags",
    ".globl kentry_sysenter_compat_call",
    "kentry_sysenter_compat_call:",
    "movq %rsp, %rdi",
    // 16-byte alignment at the call (see frame.rs); Rust keeps the return point in this
    // slot (syscall_32::do_fast_syscall_32).
    "subq $8, %rsp",
    "call kentry_rust_sysenter_32",
    ".globl kentry_sysenter_compat_return",
    "kentry_sysenter_compat_return:",
    "addq $8, %rsp",
    "testb %al, %al",
    "jnz kentry_sysret32_from_system_call",
    "jmp kentry_return_via_iret",
    ".globl kentry_sysenter_compat_fix_flags",
    "kentry_sysenter_compat_fix_flags:",
    "pushq ${fixed}",
    "popfq",
    "jmp kentry_sysenter_compat_call",
    ".Lkentry_sysenter_compat_end:",
    ".size kentry_sysenter_compat, . - kentry_sysenter_compat",
    ".popsection",
    // The stub's length, for is_sysenter_singlestep (a data word: a code label at the end
    // would be one more root for the entry-text checks, at the padding after the stub).
    ".pushsection .rodata.kentry_sysenter_compat_len, \"a\"",
    ".balign 8",
    ".globl kentry_sysenter_compat_len",
    "kentry_sysenter_compat_len:",
    ".quad .Lkentry_sysenter_compat_end - kentry_sysenter_compat",
    ".popsection",
    stack_top = const OFFSET_TASK_STACK_TOP,
    user_ds = const USER_DS,
    user32_cs = const USER32_CS,
    enosys = const NEG_ENOSYS,
    fix = const rflags::TF | rflags::NT | rflags::AC,
    flags = const offset_of!(Regs, rflags),
    fixed = const rflags::FIXED,
    options(att_syntax)
);

unsafe extern "C" {
    /// The IA32_SYSENTER_EIP target.
    pub fn kentry_sysenter_compat();
    /// The stub's length in bytes.
    static kentry_sysenter_compat_len: u64;
}

/// Whether a kernel-mode #DB at `rip` with DR6.BS is the user's TF single-stepping the
/// SYSENTER stub before it could clear TF (Linux's `is_sysenter_singlestep`): the host's
/// #DB handler must then drop the step and return with TF as it is.
pub fn is_sysenter_singlestep(rip: u64) -> bool {
    let start = kentry_sysenter_compat as *const () as u64;
    // SAFETY: a constant the assembler wrote, never changed.
    let len = unsafe { kentry_sysenter_compat_len };
    rip.wrapping_sub(start) < len
}
