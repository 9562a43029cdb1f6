/*
 * The 32-bit vDSO's entry and signal trampolines (docs/vdso.md, "The 32-bit vDSO").
 *
 * __kernel_vsyscall (AT_SYSINFO) is how an i386 libc makes a system call: registers as for
 * `int $0x80`, `call *%gs:0x10` (glibc) or `call *__sysinfo` (musl). It saves ECX, EDX and EBP
 * on the stack, then runs the best entry the CPU has. The four bytes at `vsyscall_fast` are
 * a 4-byte nop in the image; at boot the kernel writes one of the two fast sequences over
 * them (kernel/src/vdso/ia32.rs, by CPU vendor, as Linux's ALTERNATIVE_2 does):
 *   89 e5 0f 34   movl %esp, %ebp; sysenter   (Intel: SYSENTER; SYSCALL is #UD in compat mode)
 *   89 cd 0f 05   movl %ecx, %ebp; syscall    (AMD: SYSCALL; SYSENTER is #UD in long mode)
 * Either way the kernel returns to `int80_landing_pad`, never after the fast instruction:
 * SYSENTER saves no return address at all, and a restarted call backs up two bytes onto
 * the `int $0x80`, which then runs with the registers the kernel's frame holds (ECX = the
 * second argument from EBP, EBP = the sixth from the stack). Both fast entries read the
 * sixth argument at [ESP] / [EBP], which here is the saved EBP.
 *
 * __kernel_sigreturn and __kernel_rt_sigreturn are the default restorers of the i386 signal
 * frames: their bytes are exactly Linux's (popl %eax; movl $119, %eax; int $0x80 and
 * movl $173, %eax; int $0x80), which unwinders and debuggers also recognise by pattern. Their
 * CFI says where the interrupted context's registers are: in the frame's sigcontext, at
 * fixed offsets from ESP (the i386 `struct sigcontext` of Linux's uapi), so an unwinder
 * steps from a handler through the frame to the code the signal interrupted (Linux's
 * selftest unwind_vdso_32). Each FDE starts one byte early, at a nop: unwinders look up
 * "return address - 1", and the handler's return address is the trampoline's first byte.
 */

/* Offsets in the i386 struct sigcontext (Linux uapi asm/sigcontext.h, sigcontext_32). */
#define SC_DI 16
#define SC_SI 20
#define SC_BP 24
#define SC_SP 28
#define SC_BX 32
#define SC_DX 36
#define SC_CX 40
#define SC_AX 44
#define SC_IP 56
/* struct rt_sigframe_ia32: pretcode, sig, pinfo, puc, siginfo (128), then the ucontext whose
 * uc_mcontext follows uc_flags, uc_link and the 12-byte stack_t. */
#define RT_SIGFRAME_SC (16 + 128 + 20)

/* DWARF register numbers on i386. */
#define R_EAX 0
#define R_ECX 1
#define R_EDX 2
#define R_EBX 3
#define R_EBP 5
#define R_ESI 6
#define R_EDI 7
#define R_EIP 8

/*
 * CFA = *(ESP + off): DW_CFA_def_cfa_expression { DW_OP_breg4 off; DW_OP_deref }. The offset
 * is written as a two-byte SLEB128 for every value (valid for 0..8191), so each expression
 * has a fixed length.
 */
.macro cfa_sp_deref off
	.cfi_escape 0x0f, 4, 0x74, ((\off) & 0x7f) | 0x80, (\off) >> 7, 0x06
.endm
/* Register `reg` saved at ESP + off: DW_CFA_expression reg { DW_OP_breg4 off }. */
.macro reg_at reg, off
	.cfi_escape 0x10, \reg, 3, 0x74, ((\off) & 0x7f) | 0x80, (\off) >> 7
.endm
/* The whole context from a sigcontext at ESP + base. */
.macro sigcontext_at base
	cfa_sp_deref (\base + SC_SP)
	reg_at R_EAX, (\base + SC_AX)
	reg_at R_ECX, (\base + SC_CX)
	reg_at R_EDX, (\base + SC_DX)
	reg_at R_EBX, (\base + SC_BX)
	reg_at R_EBP, (\base + SC_BP)
	reg_at R_ESI, (\base + SC_SI)
	reg_at R_EDI, (\base + SC_DI)
	reg_at R_EIP, (\base + SC_IP)
.endm

	.text
	.balign 16
	.globl __kernel_vsyscall
	.type __kernel_vsyscall, @function
__kernel_vsyscall:
	.cfi_startproc
	pushl %ecx
	.cfi_adjust_cfa_offset 4
	.cfi_rel_offset ecx, 0
	pushl %edx
	.cfi_adjust_cfa_offset 4
	.cfi_rel_offset edx, 0
	pushl %ebp
	.cfi_adjust_cfa_offset 4
	.cfi_rel_offset ebp, 0
	/* Patched at boot; the symbol is for the kernel's generated offsets only. */
	.globl vsyscall_fast
vsyscall_fast:
	.byte 0x0f, 0x1f, 0x40, 0x00	/* nopl 0(%eax), 4 bytes */
	int $0x80
	.globl int80_landing_pad
int80_landing_pad:
	popl %ebp
	.cfi_adjust_cfa_offset -4
	.cfi_restore ebp
	popl %edx
	.cfi_adjust_cfa_offset -4
	.cfi_restore edx
	popl %ecx
	.cfi_adjust_cfa_offset -4
	.cfi_restore ecx
	ret
	.cfi_endproc
	.size __kernel_vsyscall, . - __kernel_vsyscall

	.balign 16
	.cfi_startproc simple
	.cfi_signal_frame
	/* ESP points at `sig` (the handler's ret took pretcode): the sigcontext is 4 above. */
	sigcontext_at 4
	nop
	.globl __kernel_sigreturn
	.type __kernel_sigreturn, @function
__kernel_sigreturn:
	popl %eax
	/* After the pop, the sigcontext is at ESP. */
	sigcontext_at 0
	movl $119, %eax		/* i386 sigreturn */
	int $0x80
	.cfi_endproc
	.size __kernel_sigreturn, . - __kernel_sigreturn

	.balign 16
	.cfi_startproc simple
	.cfi_signal_frame
	/* ESP points at `sig` of the rt frame: the sigcontext is RT_SIGFRAME_SC - 4 above. */
	sigcontext_at (RT_SIGFRAME_SC - 4)
	nop
	.globl __kernel_rt_sigreturn
	.type __kernel_rt_sigreturn, @function
__kernel_rt_sigreturn:
	movl $173, %eax		/* i386 rt_sigreturn */
	int $0x80
	.cfi_endproc
	.size __kernel_rt_sigreturn, . - __kernel_rt_sigreturn

	.section .note.GNU-stack, "", @progbits
