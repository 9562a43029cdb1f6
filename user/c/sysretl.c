/*
 * sysretl.c: the SYSRETL way back from SYSCALL in compat mode (docs/compat.md), from a 64-bit
 * program that far-jumps to the 32-bit user code segment (0x23) and makes an i386 getpid
 * (20) by `syscall` there. The CSTAR entry returns by SYSRETL only while the frame is still
 * the one it would return to; a tracer that changes the frame at the syscall-exit stop must
 * get exactly its frame back, by IRET.
 *
 * The 32-bit code sets EBP (the call's second argument, which the entry puts in ECX's slot)
 * to 0x5a5a5a5a, EDI and ESI to 0, then runs `syscall`. At the return point (the label
 * `sysretl_landing`) it sets EDI = 1 and ESI = CS, and far-jumps back to 64-bit code, which
 * records EAX, ECX, EDI and ESI. Every instruction from the return point on means the same in
 * 32-bit and 64-bit mode, so a return in the wrong mode shows in ESI instead of crashing.
 * SYSRETL loads EIP from ECX, so ECX = the return point means SYSRETL was taken; IRET gives
 * the frame's ECX (0x5a5a5a5a).
 *
 * Cases:
 * - sysretl_taken: untraced, getpid's value, and ECX = the return point (SYSRETL);
 * - sysretl_traced_plain: a tracer that changes nothing: still SYSRETL;
 * - sysretl_rip_moved: the tracer moves RIP past `movl $1, %edi`: the tracee resumes there
 *   (EDI stays 0) with the frame's ECX (0x5a5a5a5a) by IRET; SYSRETL would clobber ECX with
 *   the EIP, which only the entry's own return point may lose (a frame a tracer, a signal or
 *   sigreturn made is restored whole);
 * - sysretl_cs64: the tracer sets CS = 0x33: the return point runs in 64-bit mode (ESI 0x33);
 * - sysretl_tf: the tracer sets TF in RFLAGS and R11: the single-step trap comes after the
 *   first instruction at the return point (IRET), not before it (SYSRETL restoring TF).
 *
 * Runs on kentry only (manifest: guest): on Intel CPUs SYSCALL in compat mode raises #UD, and
 * Linux returns a compat SYSCALL to the 32-bit vDSO's landing pad, which a 64-bit process
 * does not have.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

struct compat_out {
	uint32_t eax, ecx, edi, esi;
};

volatile struct compat_out compat_out;
uint64_t compat_saved_rsp;
/* The 32-bit code's stack: below 4 GiB in this static non-PIE program. The entry reads the
 * sixth argument at [ESP], so ESP points inside it. */
uint32_t compat_stack[256] __attribute__((aligned(16)));
extern char sysretl_landing[];
void compat_getpid(void);

__asm__(".text\n"
	".globl compat_getpid\n"
	".type compat_getpid, @function\n"
	"compat_getpid:\n"
	"push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
	"movq %rsp, compat_saved_rsp(%rip)\n"
	"ljmpl *compat_to32(%rip)\n"
	".code32\n"
	"compat_entry32:\n"
	"movl $compat_stack+512, %esp\n"
	"movl $20, %eax\n"
	"movl $0x5a5a5a5a, %ebp\n"
	"movl $compat_to64, %ebx\n"
	"xorl %edi, %edi\n"
	"xorl %esi, %esi\n"
	"syscall\n"
	".globl sysretl_landing\n"
	"sysretl_landing:\n"
	"movl $1, %edi\n" /* 5 bytes: the tracer's RIP move skips it */
	"movl %cs, %esi\n"
	"ljmp *(%ebx)\n"
	".code64\n"
	"compat_back64:\n"
	"movl %eax, compat_out(%rip)\n"
	"movl %ecx, compat_out+4(%rip)\n"
	"movl %edi, compat_out+8(%rip)\n"
	"movl %esi, compat_out+12(%rip)\n"
	"movq compat_saved_rsp(%rip), %rsp\n"
	"pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
	"ret\n"
	".size compat_getpid, . - compat_getpid\n"
	".data\n"
	"compat_to32: .long compat_entry32\n .word 0x23\n"
	"compat_to64: .long compat_back64\n .word 0x33\n"
	".text\n");

#define LANDING ((uint32_t)(uintptr_t)sysretl_landing)
#define EBP_PATTERN 0x5a5a5a5au
#define TF 0x100

enum mode { PLAIN, RIP_MOVED, CS64, TF_SET };

struct traced {
	struct compat_out out;
	int stopped_at_exit; /* the tracer saw the compat call's exit stop */
	uint64_t trap_rip;   /* TF_SET: the RIP of the single-step trap, 0 if none */
	int status;          /* the child's wait status at its end */
};

/* Forks a tracee that makes the compat getpid; at its syscall-exit stop, changes the frame
 * as `mode` says. */
static int run_traced(enum mode mode, struct traced *t)
{
	int p[2];
	memset(t, 0, sizeof(*t));
	if (pipe(p))
		return -1;
	pid_t c = fork();
	if (c < 0)
		return -1;
	if (c == 0) {
		close(p[0]);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		compat_getpid();
		struct compat_out o = compat_out;
		if (write(p[1], &o, sizeof(o)) != sizeof(o))
			_exit(3);
		_exit(0);
	}
	close(p[1]);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFSTOPPED(st))
		return -1;
	ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
	int seen_entry = 0;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, c, 0, 0))
			break;
		if (waitpid(c, &st, 0) != c || !WIFSTOPPED(st))
			break;
		if (WSTOPSIG(st) != (SIGTRAP | 0x80))
			continue;
		struct user_regs_struct r;
		ptrace(PTRACE_GETREGS, c, 0, &r);
		if (r.cs != 0x23)
			continue;
		if (!seen_entry) {
			seen_entry = 1;
			continue;
		}
		t->stopped_at_exit = 1;
		switch (mode) {
		case PLAIN:
			break;
		case RIP_MOVED:
			r.rip += 5;
			break;
		case CS64:
			r.cs = 0x33;
			break;
		case TF_SET:
			r.eflags |= TF;
			r.r11 = r.eflags;
			break;
		}
		ptrace(PTRACE_SETREGS, c, 0, &r);
		ptrace(PTRACE_CONT, c, 0, 0);
		if (mode == TF_SET && waitpid(c, &st, 0) == c && WIFSTOPPED(st) &&
		    WSTOPSIG(st) == SIGTRAP) {
			ptrace(PTRACE_GETREGS, c, 0, &r);
			t->trap_rip = r.rip;
			r.eflags &= ~TF;
			ptrace(PTRACE_SETREGS, c, 0, &r);
			ptrace(PTRACE_CONT, c, 0, 0);
		}
		break;
	}
	int got = read(p[0], &t->out, sizeof(t->out));
	close(p[0]);
	waitpid(c, &t->status, 0);
	return got == sizeof(t->out) ? 0 : -1;
}

static int cpu_is_intel(void)
{
	unsigned a, b, c, d;
	__cpuid(0, a, b, c, d);
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
}

static const char *const names[] = {"sysretl_taken", "sysretl_traced_plain", "sysretl_rip_moved",
				    "sysretl_cs64", "sysretl_tf"};

int main(void)
{
	ktap_plan(5);
	if (cpu_is_intel()) {
		for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			ktap_skip(names[i], "SYSCALL in compat mode raises #UD on Intel CPUs");
		return ktap_finish();
	}
	int pid = getpid();

	compat_getpid();
	struct compat_out o = compat_out;
	KTAP_CHECK(o.eax == (uint32_t)pid && o.ecx == LANDING && o.edi == 1 && o.esi == 0x23,
		   "sysretl_taken", "eax %u (pid %d) ecx %#x (return point %#x) edi %u esi %#x",
		   o.eax, pid, o.ecx, LANDING, o.edi, o.esi);

	struct traced t;
	int r = run_traced(PLAIN, &t);
	KTAP_CHECK(r == 0 && t.stopped_at_exit && t.out.ecx == LANDING && t.out.edi == 1 &&
			   t.out.esi == 0x23,
		   "sysretl_traced_plain", "run %d exit stop %d ecx %#x edi %u esi %#x", r,
		   t.stopped_at_exit, t.out.ecx, t.out.edi, t.out.esi);

	r = run_traced(RIP_MOVED, &t);
	KTAP_CHECK(r == 0 && t.stopped_at_exit && t.out.edi == 0 && t.out.ecx == EBP_PATTERN &&
			   t.out.esi == 0x23,
		   "sysretl_rip_moved", "run %d exit stop %d edi %u ecx %#x (want the frame's %#x) esi %#x", r,
		   t.stopped_at_exit, t.out.edi, t.out.ecx, EBP_PATTERN, t.out.esi);

	r = run_traced(CS64, &t);
	KTAP_CHECK(r == 0 && t.stopped_at_exit && t.out.esi == 0x33 && t.out.edi == 1,
		   "sysretl_cs64", "run %d exit stop %d CS %#x (want 0x33) edi %u", r,
		   t.stopped_at_exit, t.out.esi, t.out.edi);

	r = run_traced(TF_SET, &t);
	KTAP_CHECK(r == 0 && t.stopped_at_exit && t.trap_rip == (uint64_t)LANDING + 5 &&
			   t.out.edi == 1,
		   "sysretl_tf", "run %d exit stop %d trap at %#lx (want %#x) edi %u", r,
		   t.stopped_at_exit, (unsigned long)t.trap_rip, LANDING + 5, t.out.edi);
	return ktap_finish();
}
