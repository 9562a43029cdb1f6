/*
 * ia32_bench.c: the bench paths of a 32-bit process (docs/bench.md), built with
 * `gcc -m32 -static` as ia32_bench-glibc32 and run by kentry's bench mode and, as init, by
 * Linux's bench boots: the same binary on both.
 *
 * - syscall32-getpid: the i386 getpid (20) by SYSCALL from compat mode (CSTAR), called as
 *   Linux's 32-bit vDSO calls it: `__kernel_vsyscall` pushes ECX, EDX and EBP, moves ECX to
 *   EBP (the second argument) and runs `syscall`; the return pops them and returns. Linux and
 *   kentry both return to the vDSO's landing pad (this program's own copy of the pops after
 *   the `syscall` is never reached), which pops the same three registers and returns to the
 *   caller. AMD CPUs only: Intel ones raise #UD for SYSCALL in compat mode, so the path is
 *   left out there (a `#` line says so).
 * - int80-getpid-32: the i386 getpid by `int $0x80`.
 *
 * Each is the method of user/src/bench.rs `bench_loops`: a warm-up loop with the call and one
 * without, 15 loops without it, 15 with it, each of 10,000 round trips; a batch's figure is
 * (its ticks - the median empty loop + n/2) / n. The TSC reads are the marked `lfence; ds
 * rdtsc` of the insn-count plugin, so xtask/src/bench_plugin.rs can count the same regions
 * (`Layout::SubMedian { warmup: 2 }`).
 */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#define N 10000u
#define BATCHES 15

/* Ticks for n iterations of each loop (cdecl: n at 4(%esp) on entry; EDX:EAX the result). The
 * start time lives in ESI:EBP, the count in EDI: registers both entries keep (the vsyscall
 * copy saves EBP). */
uint64_t t_syscall32(uint32_t n);
uint64_t t_syscall32_empty(uint32_t n);
uint64_t t_int80(uint32_t n);
uint64_t t_int80_empty(uint32_t n);

#define TIMED(name, body)                                                                        \
	".globl " name "\n.type " name ", @function\n" name ":\n"                                \
	"push %ebx\n push %esi\n push %edi\n push %ebp\n"                                        \
	"movl 20(%esp), %edi\n"                                                                  \
	"lfence\n .byte 0x3e, 0x0f, 0x31\n"                                                      \
	"movl %eax, %esi\n movl %edx, %ebp\n"                                                    \
	"1:\n movl $20, %eax\n" body "decl %edi\n jnz 1b\n"                                      \
	"lfence\n .byte 0x3e, 0x0f, 0x31\n"                                                      \
	"subl %esi, %eax\n sbbl %ebp, %edx\n"                                                    \
	"pop %ebp\n pop %edi\n pop %esi\n pop %ebx\n ret\n"                                      \
	".size " name ", . - " name "\n"

__asm__(".text\n"
	/* Linux's __kernel_vsyscall with SYSCALL, and its int80_landing_pad. */
	"vsyscall_syscall:\n"
	"push %ecx\n push %edx\n push %ebp\n"
	"movl %ecx, %ebp\n"
	"syscall\n"
	"popl %ebp\n popl %edx\n popl %ecx\n ret\n"
	/* The same without the `syscall`. */
	"vsyscall_empty:\n"
	"push %ecx\n push %edx\n push %ebp\n"
	"movl %ecx, %ebp\n"
	"popl %ebp\n popl %edx\n popl %ecx\n ret\n"
	TIMED("t_syscall32", "call vsyscall_syscall\n")
	TIMED("t_syscall32_empty", "call vsyscall_empty\n")
	TIMED("t_int80", "int $0x80\n")
	TIMED("t_int80_empty", ""));

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void bench_loops(const char *path, uint64_t (*timed)(uint32_t), uint64_t (*empty)(uint32_t))
{
	uint64_t e[BATCHES], per[BATCHES];
	timed(N / 10);
	empty(N / 10);
	for (int i = 0; i < BATCHES; i++)
		e[i] = empty(N);
	qsort(e, BATCHES, sizeof(e[0]), cmp);
	uint64_t empty_batch = e[BATCHES / 2];
	for (int i = 0; i < BATCHES; i++) {
		uint64_t t = timed(N);
		per[i] = ((t > empty_batch ? t - empty_batch : 0) + N / 2) / N;
	}
	qsort(per, BATCHES, sizeof(per[0]), cmp);
	printf("# %s: empty loop %llu ticks per %u iterations\n", path,
	       (unsigned long long)empty_batch, N);
	printf("bench %s median=%llu min=%llu max=%llu iters=%u batches=%d\n", path,
	       (unsigned long long)per[BATCHES / 2], (unsigned long long)per[0],
	       (unsigned long long)per[BATCHES - 1], N, BATCHES);
	fflush(stdout);
	tcdrain(1);
}

static int cpu_is_intel(void)
{
	unsigned a, b, c, d;
	__cpuid(0, a, b, c, d);
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
}

int main(void)
{
	int pid = getpid();
	/* Check each call gives the pid before timing it. */
	uint32_t got;
	__asm__ volatile("int $0x80" : "=a"(got) : "a"(20) : "memory");
	if (got != (uint32_t)pid) {
		printf("# int80-getpid-32: int $0x80 getpid gave %u, not %d\n", got, pid);
		return 1;
	}
	bench_loops("int80-getpid-32", t_int80, t_int80_empty);
	if (cpu_is_intel()) {
		printf("# syscall32-getpid: not measured (SYSCALL in compat mode raises #UD on Intel "
		       "CPUs)\n");
		return 0;
	}
	__asm__ volatile("call vsyscall_syscall" : "=a"(got) : "a"(20) : "memory");
	if (got != (uint32_t)pid) {
		printf("# syscall32-getpid: SYSCALL getpid gave %u, not %d\n", got, pid);
		return 1;
	}
	bench_loops("syscall32-getpid", t_syscall32, t_syscall32_empty);
	return 0;
}
