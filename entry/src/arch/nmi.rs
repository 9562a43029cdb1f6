//! NMIs taken in kernel mode, and the latch that makes a nested NMI safe (E18).
//!
//! An NMI blocks further NMIs until the next IRET of any kind. When something inside an NMI
//! handler ends with IRET — a #PF fixed up through the exception table, an `int3`, a #DB —
//! NMIs are open again while the handler still runs, and the next NMI is delivered on the
//! same IST stack, at the same address: its hardware frame lands where the running NMI's
//! did. kentry therefore never returns through the frame the CPU pushed. The first NMI copies
//! it into its own [`Regs`] lower on the stack before anything can IRET; a nested NMI finds
//! the per-CPU NMI state "executing", marks it "latched" and returns at once; the outer NMI,
//! at its end, finds the latch and runs the handler once more before it returns for real. So a nested NMI is never lost (it is handled, after the one it
//! interrupted) and never runs on top of it (the handler is not re-entered).
//!
//! The NMI stack, highest address first ([`NmiStackTop`]; TSS.IST points at `percpu`):
//!
//! ```text
//!  top  +----------------------------------+
//!       | state: 0 idle, 1 executing,      |  the per-CPU NMI state (this CPU's NMI stack
//!       |        2 latched                 |  is per-CPU memory; no GS needed to reach it)
//!  IST  +----------------------------------+
//!       | per-CPU base (paranoid GS slot)  |
//!       +----------------------------------+
//!       | SS RSP RFLAGS CS RIP  (CPU)      |  "delivery": every NMI's frame lands here, a
//!       | error code -1, vector 2  (stub)  |  nested one's too; read only by the first path,
//!       +----------------------------------+  before anything can IRET
//!       | pad (call alignment)             |
//!       +----------------------------------+
//!       | SS RSP RFLAGS CS RIP  (copy)     |  the running NMI's Regs: its hardware part is
//!       | orig_rax, 15 GPRs                |  the frame the final IRETQ pops; no nested NMI
//!       +----------------------------------+  writes here
//!       | Rust stack of the handler, and   |
//!       | the frames of #PF/#BP/#DB taken  |
//!       | inside it                        |
//!       v                                  v
//! ```
//!
//! A nested NMI writes only "delivery" and the state word. The outer NMI is done with
//! "delivery" once the copy is made, and the copy is made while NMIs are still blocked.
//!
//! The way out: restore GS and the GPRs, then `lock decq state`. 1 → 0: return with IRETQ.
//! 2 → 1: a nested NMI was latched; run the handler again on the same frame
//! (`kentry_nmi_repeat`). Between the `decq` that reaches 0 and the IRETQ (two instructions,
//! the "exit window") the state says idle, yet the outer NMI still needs its copy: an NMI
//! there is recognised by its return address (the window's own two instructions, with a
//! kernel CS — code of this file, never a user or a SYSCALL-window context) and takes over
//! the outer NMI's frame: every register already holds the interrupted context's value and
//! RSP points at the copy, so it sets "executing" and runs the repeat itself, dropping its
//! own frame (which only pointed back into the window).
//!
//! NMIs from user mode do not come here: they move to the task stack at once
//! (`kentry_ist_entry`, E19), where no later NMI can overwrite their frame. Their handler
//! still keeps the same state word (`do_idt`, through `EntryPerCpu::nmi_state`), so that a
//! kernel-mode NMI taken after an IRET inside it latches too instead of re-entering it.
//!
//! Windows (kernel-mode NMI):
//!
//! | from | instructions | RSP / GS | can arrive | why it is safe |
//! |---|---|---|---|---|
//! | `kentry_nmi_entry` | stub, CS test, the state and window checks | delivery frame, GS unknown | #MC (fatal in kernel mode: reported, never returns) | NMIs blocked (this NMI's delivery blocked them; the code has no IRET and cannot fault); no #DB: no breakpoints in `.text.kentry` (E23); only memory at fixed NMI-stack offsets is used, no register |
//! | `kentry_nmi_latch` | latch: `movq $2`, drop vector and error code, `iretq` | delivery frame, the interrupted GS | #MC | NMIs blocked until this IRETQ; it returns to the interrupted context (the outer NMI's handler, or its `jnz`, or the handler of a user-mode NMI on the task stack) with its own registers, flags and GS untouched |
//! | `kentry_nmi_take_over` | take-over: `movq $1`, RSP to the outer copy, `jmp` | as above | #MC | NMIs blocked; the outer NMI's copy and registers are complete (it was in the exit window) |
//! | `kentry_nmi_first` | first path: `movq $1` to state, copy the delivery frame down | delivery frame → the copy | #MC | NMIs blocked, no IRET yet, so "delivery" cannot change under the copy |
//! | `kentry_nmi_repeat` | `kentry_nmi_repeat` .. the end of `paranoid_body` (save GPRs, GS, call, restore) | the copy (Regs), GS unknown → kernel → interrupted | NMI (once something in the handler executed IRET, and in every repeat: NMIs stay open then), #PF/#BP/#DB inside the handler, #MC | state is 1 or 2 throughout, so a nested NMI only latches: it writes "delivery" and the state, nothing of the copy or below |
//! | `kentry_nmi_decq` | `lock decq` | the copy, interrupted GS and GPRs | NMI, #MC | atomic: an NMI before it latches (state 1 or 2), one after it sees the result |
//! | `kentry_nmi_exit_window` | `jnz`, `iretq` (exit window) | the copy | NMI, #MC | state 1 (going to repeat): a nested NMI latches, `jnz` still repeats (its flags come back with the IRETQ) and the repeat runs once more; state 0: the nested NMI takes over (above) |

use crate::frame::{HwFrame, REGS_RIP, Regs, StubFrame};
use crate::msr::IA32_GS_BASE;
use crate::vectors::NMI;
use core::mem::{offset_of, size_of};

/// The top of each CPU's NMI stack, lowest address first: what the kernel-mode NMI path
/// keeps there (see the module's picture).
#[repr(C)]
pub struct NmiStackTop {
    /// The running NMI's frame; its hardware part is the copy it returns through.
    regs: Regs,
    /// Keeps RSP at `regs` 8 mod 16, as every stub has it before its `subq $8; call`.
    pad: u64,
    /// Where the CPU and the IDT stub put every NMI's frame, a nested one's too.
    delivery: StubFrame,
    /// This CPU's per-CPU base (every IST stack has this slot; TSS.IST points here).
    percpu: u64,
    /// The NMI state: [`NMI_IDLE`], [`NMI_EXECUTING`] or [`NMI_LATCHED`].
    state: u64,
}

/// No NMI is running on this CPU.
pub const NMI_IDLE: u64 = 0;
/// An NMI handler is running; a nested NMI latches.
pub const NMI_EXECUTING: u64 = 1;
/// An NMI handler is running, and an NMI arrived meanwhile: the handler runs once more.
pub const NMI_LATCHED: u64 = 2;

/// Offset of a field from the delivery frame (RSP at `kentry_nmi_entry`).
macro_rules! from_delivery {
    ($($f:tt)+) => {
        offset_of!(NmiStackTop, $($f)+) as isize - offset_of!(NmiStackTop, delivery) as isize
    };
}

/// Offset of a field from the copy's RIP slot (RSP at `kentry_nmi_repeat` and in the exit
/// window).
macro_rules! from_copy {
    ($($f:tt)+) => {
        offset_of!(NmiStackTop, $($f)+) - (offset_of!(NmiStackTop, regs) + REGS_RIP)
    };
}

const _: () = {
    // The top of the NMI stack is the reserved area every IST stack has.
    assert!(
        size_of::<NmiStackTop>() - offset_of!(NmiStackTop, percpu)
            == super::paranoid::IST_TOP_RESERVED as usize
    );
    // The copy is made by five pushes from just above the Regs (at `pad`) downwards.
    assert!(offset_of!(NmiStackTop, pad) == offset_of!(NmiStackTop, regs) + size_of::<Regs>());
    assert!(offset_of!(Regs, rip) + size_of::<HwFrame>() == size_of::<Regs>());
    // RSP at `regs` is 8 mod 16 when TSS.IST (at `percpu`) is 16-aligned.
    assert!((offset_of!(NmiStackTop, percpu) - offset_of!(NmiStackTop, regs)) % 16 == 8);
    // The stub frame sits right below the IST pointer, where the CPU and the stub put it.
    assert!(
        offset_of!(NmiStackTop, delivery) + size_of::<StubFrame>()
            == offset_of!(NmiStackTop, percpu)
    );
};

core::arch::global_asm!(
    ".pushsection .text.kentry, \"ax\"",
    ".balign 16",
    ".globl kentry_nmi_entry",
    ".type kentry_nmi_entry, @function",
    "kentry_nmi_entry:",
    "testb $3, {delivery_cs}(%rsp)",
    "jnz kentry_ist_entry_user",
    ".if {hooks}", // test kernels: the negative run can switch the latch off
    "testb $1, {brk}(%rip)",
    "jnz kentry_nmi_first",
    ".endif",
    "cmpq ${idle}, {state}(%rsp)",
    "jne kentry_nmi_latch",
    // The window addresses as sign-extended 32-bit immediates: kentry is linked in the top
    // 2 GiB (code-model=kernel); a placement elsewhere fails at link time, not here.
    "cmpq $kentry_nmi_exit_window, {delivery_rip}(%rsp)",
    "jb kentry_nmi_first",
    "cmpq $kentry_nmi_exit_window_end, {delivery_rip}(%rsp)",
    "ja kentry_nmi_first",
    // Take-over: the outer NMI was in its exit window. Its copy is the frame to return by.
    ".globl kentry_nmi_take_over",
    "kentry_nmi_take_over:",
    "movq ${executing}, {state}(%rsp)",
    "subq ${delivery_to_copy}, %rsp",
    "jmp kentry_nmi_repeat",
    // Latch: an NMI handler is running on this stack. Leave it a note and go back to it.
    ".globl kentry_nmi_latch",
    "kentry_nmi_latch:",
    "movq ${latched}, {state}(%rsp)",
    "addq ${stub_words}, %rsp",
    "iretq",
    // The first NMI: state → executing, then copy the delivery frame down into the Regs.
    ".globl kentry_nmi_first",
    "kentry_nmi_first:",
    "movq ${executing}, {state}(%rsp)",
    "subq ${delivery_to_pad}, %rsp",
    ".rept 5",
    "pushq {copy_source}(%rsp)", // the source moves down with RSP: SS first, RIP last
    ".endr",
    ".globl kentry_nmi_repeat",
    "kentry_nmi_repeat:",
    "pushq $-1", // no error code
    "pushq ${nmi}",
    super::paranoid::paranoid_body!("kentry_nmi"),
    ".globl kentry_nmi_decq",
    "kentry_nmi_decq:",
    "lock decq {copy_state}(%rsp)",
    ".globl kentry_nmi_exit_window",
    "kentry_nmi_exit_window:",
    "jnz kentry_nmi_repeat",
    ".globl kentry_nmi_exit_window_end",
    "kentry_nmi_exit_window_end:",
    "iretq",
    ".size kentry_nmi_entry, . - kentry_nmi_entry",
    ".popsection",
    delivery_cs = const offset_of!(StubFrame, hw.cs),
    delivery_rip = const offset_of!(StubFrame, hw.rip),
    state = const from_delivery!(state),
    idle = const NMI_IDLE,
    executing = const NMI_EXECUTING,
    latched = const NMI_LATCHED,
    stub_words = const offset_of!(StubFrame, hw),
    delivery_to_copy = const -from_delivery!(regs.rip),
    delivery_to_pad = const -from_delivery!(pad),
    copy_source = const from_delivery!(delivery.hw.ss) - from_delivery!(pad),
    nmi = const NMI,
    gs_base = const IA32_GS_BASE,
    percpu_slot = const offset_of!(NmiStackTop, percpu) - offset_of!(NmiStackTop, regs),
    copy_state = const from_copy!(state),
    hooks = const crate::test_hooks::IN_STUBS,
    brk = sym crate::test_hooks::kentry_test_break_nmi_latch,
    brk_gs = sym crate::test_hooks::kentry_test_break_paranoid_gs,
    options(att_syntax)
);

/// Address of the NMI state word on the NMI stack whose top (the address just past its
/// highest byte) is `nmi_stack_top`.
pub(crate) const fn state_word_address(nmi_stack_top: u64) -> u64 {
    nmi_stack_top - size_of::<NmiStackTop>() as u64 + offset_of!(NmiStackTop, state) as u64
}

/// This CPU's NMI state, read from its NMI stack whose top (the address just past its
/// highest byte) is `nmi_stack_top`: [`NMI_IDLE`], [`NMI_EXECUTING`] or [`NMI_LATCHED`].
/// For tests and reports; the entry code keeps the word itself.
///
/// # Safety
/// `nmi_stack_top` must be the top of this CPU's NMI IST stack as given to `init_cpu`.
pub unsafe fn nmi_state(nmi_stack_top: u64) -> u64 {
    // SAFETY: the word lies in the reserved top of that stack (the caller's promise); a
    // volatile read, since NMIs change it behind the compiler's back.
    unsafe { core::ptr::read_volatile(state_word_address(nmi_stack_top) as *const u64) }
}
