/* The i386 half of fast32.c (gcc -m32 -static): one fast-entry case per run, named by
 * argv[1], run under fast32's ptrace (fast32.c says what it checks in each):
 *
 *   sysenter-fault, syscall-fault: every register -1, EAX = 20 (getpid), the bare SYSENTER or
 *     SYSCALL instruction, as Linux's syscall_arg_fault_32: the sixth-argument read at
 *     [EBP] / [ESP] faults, the call must not run (EAX = -EFAULT), and the return to the
 *     vDSO's landing pad pops from the bad stack (SIGSEGV);
 *   sysenter-fault-tf, syscall-fault-tf: the same with TF set;
 *   vsyscall-tf: getpid through __kernel_vsyscall with TF set: it must work, and TF must
 *     still be set after it (the kernel drops the single-steps of its SYSENTER stub but keeps
 *     the user's TF); exit 0, else 2 (TF lost) or 3 (wrong result);
 *   vsyscall-nt: the same with NT set (SYSENTER does not clear NT: the kernel must, before an
 *     IRET of its own); exit 0 when getpid worked and NT came back as it was, else 4;
 *   vsyscall-regs: 100 getpids through __kernel_vsyscall with EBX..EBP set to a pattern
 *     that changes each time, one with NT set and one whose sixth-argument read faults
 *     (EBP/ESP unmapped before the vDSO's fast instruction: -EFAULT, back by IRET, then
 *     SIGSEGV at the landing pad's pops, caught on an alternate stack): exit 0 when each
 *     getpid returned the pid and gave back the six registers (NT too), and the faulted one
 *     saw -EFAULT, and one with TF set and a SIGTRAP handler counting the steps (no tracer:
 *     the program single-steps itself, and the kernel must drop the steps of its own SYSENTER
 *     stub); else 6, 7 (NT), 8 (fault) or 9 (TF: getpid failed, TF lost, or fewer than 3
 *     steps seen). cargo xtask verify's workload runs it while NMIs land in the SYSENTER or
 *     compat SYSCALL entry and on both ways back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ucontext.h>
#include <sys/auxv.h>
#include <unistd.h>

#define TF 0x100u
#define NT 0x4000u

static void sysenter_fault(int tf)
{
	if (tf)
		__asm__ volatile("pushfl; orl $0x100, (%esp); popfl");
	__asm__ volatile("movl $20, %%eax\n\tmovl $-1, %%ebx\n\tmovl $-1, %%ecx\n\t"
			 "movl $-1, %%edx\n\tmovl $-1, %%esi\n\tmovl $-1, %%edi\n\t"
			 "movl $-1, %%ebp\n\tmovl $-1, %%esp\n\tsysenter"
			 ::: "memory");
}

static void syscall_fault(int tf)
{
	if (tf)
		__asm__ volatile("pushfl; orl $0x100, (%esp); popfl");
	__asm__ volatile("movl $20, %%eax\n\tmovl $-1, %%ebx\n\tmovl $-1, %%ecx\n\t"
			 "movl $-1, %%edx\n\tmovl $-1, %%esi\n\tmovl $-1, %%edi\n\t"
			 "movl $-1, %%ebp\n\tmovl $-1, %%esp\n\tsyscall\n\tud2"
			 ::: "memory");
}

/* getpid through `entry` with `set` ORed into EFLAGS; returns EAX, and EFLAGS right after
 * the call in *after; clears `set` again. */
static uint32_t vsyscall_with(void *entry, uint32_t set, uint32_t *after)
{
	uint32_t eax, fl;
	__asm__ volatile("pushfl\n\torl %3, (%%esp)\n\tpopfl\n\t"
			 "call *%2\n\t"
			 "pushfl\n\tpopl %1\n\t"
			 "pushfl\n\tandl %4, (%%esp)\n\tpopfl"
			 : "=a"(eax), "=&r"(fl)
			 : "r"(entry), "ir"(set), "ir"(~set), "0"(20)
			 : "memory", "cc");
	*after = fl;
	return eax;
}

/*
 * vs_call(in, out, entry): loads EAX, EBX, ECX, EDX, ESI, EDI, EBP from in[0..7], calls
 * `entry` (__kernel_vsyscall), stores the seven registers after it in out[0..7].
 */
void vs_call(const uint32_t *in, uint32_t *out, void *entry);
__asm__(".text\n"
	".globl vs_call\n"
	"vs_call:\n"
	"	push %ebp\n	push %ebx\n	push %esi\n	push %edi\n"
	"	mov 20(%esp), %eax\n"
	"	mov 4(%eax), %ebx\n	mov 8(%eax), %ecx\n	mov 12(%eax), %edx\n"
	"	mov 16(%eax), %esi\n	mov 20(%eax), %edi\n	mov 24(%eax), %ebp\n"
	"	mov 0(%eax), %eax\n"
	"	call *28(%esp)\n"
	"	push %eax\n"
	"	mov 28(%esp), %eax\n"
	"	popl 0(%eax)\n"
	"	mov %ebx, 4(%eax)\n	mov %ecx, 8(%eax)\n	mov %edx, 12(%eax)\n"
	"	mov %esi, 16(%eax)\n	mov %edi, 20(%eax)\n	mov %ebp, 24(%eax)\n"
	"	pop %edi\n	pop %esi\n	pop %ebx\n	pop %ebp\n"
	"	ret\n");

static uint32_t int80_getpid(void)
{
	uint32_t r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(20) : "memory");
	return r;
}

static sigjmp_buf fault_env;
static volatile int fault_eax_ok;

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
	(void)sig, (void)si;
	ucontext_t *uc = ucv;
	fault_eax_ok = uc->uc_mcontext.gregs[REG_EAX] == -EFAULT;
	siglongjmp(fault_env, 1);
}

/* getpid by the vDSO's own fast instruction (the four bytes before its int $0x80) with ESP
 * and EBP at an unmapped page: the kernel's sixth-argument read faults, the call returns
 * -EFAULT by IRET to the landing pad, whose pop from that stack raises SIGSEGV. */
static int fault_through(void *entry)
{
	const uint8_t *p = entry;
	int i = 0;
	while (i < 32 && !(p[i] == 0xcd && p[i + 1] == 0x80))
		i++;
	if (i == 32 || i < 4 || p[i - 2] != 0x0f)
		return 0;
	static char alt[16384];
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	fault_eax_ok = 0;
	if (!sigsetjmp(fault_env, 1)) {
		const void *insn = p + i - 4; /* movl %esp or %ecx, %ebp; sysenter or syscall */
		__asm__ volatile("movl %0, %%edx\n\tmovl $20, %%eax\n\tmovl $16, %%esp\n\t"
				 "movl $16, %%ecx\n\tjmp *%%edx"
				 :: "r"(insn) : "eax", "ecx", "edx", "memory");
	}
	signal(SIGSEGV, SIG_DFL);
	return fault_eax_ok;
}

static volatile uint32_t steps;

static void on_trap(int sig)
{
	(void)sig;
	steps++;
}

/* getpid through __kernel_vsyscall with TF set, single-stepping itself: each step of user
 * code is a SIGTRAP to on_trap, whose sigreturn sets TF again. The SYSENTER stub's steps are
 * the kernel's to drop (a stray kernel #DB must not become this SIGTRAP or clear TF). True
 * when getpid worked, TF was still set right after the call, and at least 3 user
 * instructions were stepped (the vDSO's, and the pushfl after the call). */
static int vsyscall_stepped(void *entry)
{
	uint32_t after;
	signal(SIGTRAP, on_trap);
	steps = 0;
	uint32_t pid = vsyscall_with(entry, TF, &after);
	signal(SIGTRAP, SIG_DFL);
	return pid == int80_getpid() && (after & TF) && steps >= 3;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 64;
	const char *m = argv[1];
	void *entry = (void *)getauxval(AT_SYSINFO);
	if (!strcmp(m, "sysenter-fault"))
		sysenter_fault(0);
	else if (!strcmp(m, "sysenter-fault-tf"))
		sysenter_fault(1);
	else if (!strcmp(m, "syscall-fault"))
		syscall_fault(0);
	else if (!strcmp(m, "syscall-fault-tf"))
		syscall_fault(1);
	else if (!strcmp(m, "vsyscall-tf") || !strcmp(m, "vsyscall-nt")) {
		uint32_t bit = m[9] == 't' ? TF : NT, after;
		if (!entry)
			return 5;
		uint32_t pid = vsyscall_with(entry, bit, &after);
		if (pid != int80_getpid())
			return 3;
		if (!(after & bit))
			return bit == TF ? 2 : 4;
		return 0;
	}
	if (!strcmp(m, "vsyscall-regs")) {
		uint32_t after;
		if (entry && vsyscall_with(entry, NT, &after) != int80_getpid())
			return 7;
		if (entry && !(after & NT))
			return 7;
		if (entry && !fault_through(entry))
			return 8;
		if (entry && !vsyscall_stepped(entry))
			return 9;
		uint32_t pid = int80_getpid();
		if (!entry)
			return 5;
		for (uint32_t i = 0; i < 100; i++) {
			uint32_t in[7] = {20, 0x11111111 * 1 + i, 0x11111111 * 2 + i,
					  0x11111111 * 3 + i, 0x11111111 * 4 + i,
					  0x11111111 * 5 + i, 0x11111111 * 6 + i};
			uint32_t out[7];
			vs_call(in, out, entry);
			if (out[0] != pid || memcmp(in + 1, out + 1, 6 * 4))
				return 6;
		}
		return 0;
	}
	return 65; /* the fault cases never get here */
}
