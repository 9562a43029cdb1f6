/* Debug registers through ptrace (docs/debug-registers.md): a tracer sets a write watchpoint
 * and an execute breakpoint in a forked child with PTRACE_POKEUSER and checks
 * - the refusals of Linux's rules: DR4/DR5 (EIO), kernel addresses and the top user page,
 *   the I/O type, an execute breakpoint longer than 1, an unaligned 8-byte watchpoint (EINVAL),
 *   and that a refused DR7 leaves the last good one readable;
 * - a kernel write into the watched buffer (read(2) from a pipe) stops nothing: Linux 6.1
 *   drops a ptrace breakpoint's hit in kernel mode (its perf event excludes the kernel);
 * - the child's own write stops it with SIGTRAP, si_code TRAP_HWBKPT, DR6 B0;
 * - the execute breakpoint stops it at the function's first instruction (si_addr), DR6 B1, and
 *   the function then runs (RF), once;
 * - DR6 reads 0xffff0ff0 before anything was hit, and the child exits normally.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#define DR(n) ((void *)(offsetof(struct user, u_debugreg) + (n) * sizeof(long)))
/* DR7 enabling slot i (L bit) with R/W rw and LEN len. */
#define DR7_SLOT(i, rw, len) ((1UL << (2 * (i))) | (((unsigned long)(rw) | (len) << 2) << (16 + 4 * (i))))
#define RW_EXEC 0
#define RW_WRITE 1
#define RW_IO 2
#define LEN_1 0
#define LEN_2 1
#define LEN_8 2
#define LEN_4 3
#define TRAP_HWBKPT_CODE 4

static char buf[64] __attribute__((aligned(64)));
static volatile int calls;

__attribute__((noinline)) static void target_fn(void)
{
	calls++;
	__asm__ volatile("" ::: "memory");
}

/* POKEUSER u_debugreg[n] = v: 0, or -errno. */
static long poke(pid_t c, int n, unsigned long v)
{
	errno = 0;
	return ptrace(PTRACE_POKEUSER, c, DR(n), (void *)v) == 0 ? 0 : -errno;
}

static unsigned long peek(pid_t c, int n)
{
	return (unsigned long)ptrace(PTRACE_PEEKUSER, c, DR(n), 0);
}

static void child(int rfd)
{
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
		_exit(10);
	raise(SIGSTOP);
	/* The kernel writes the watched bytes: no stop. */
	ssize_t r = read(rfd, buf, 5);
	/* This write stops: stop 1. */
	((volatile char *)buf)[1] = 'X';
	/* Stop 2, at the first instruction; then the call runs once. */
	target_fn();
	_exit(r == 5 && calls == 1 ? 0 : 11);
}

int main(void)
{
	ktap_plan(16);
	int p[2];
	if (pipe(p) != 0 || write(p[1], "hello", 5) != 5) {
		printf("# pipe failed\n");
		return 1;
	}
	pid_t c = fork();
	if (c == 0)
		child(p[0]);
	int st = 0;
	waitpid(c, &st, 0);
	KTAP_CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "traceme_stop", "status %#x", st);

	KTAP_CHECK(peek(c, 6) == 0xffff0ff0 && peek(c, 7) == 0 && peek(c, 0) == 0, "fresh_registers",
		   "DR6 %#lx DR7 %#lx DR0 %#lx", peek(c, 6), peek(c, 7), peek(c, 0));
	long e4 = poke(c, 4, 0), e5 = poke(c, 5, 0);
	KTAP_CHECK(e4 == -EIO && e5 == -EIO && peek(c, 4) == 0, "dr4_dr5_eio", "DR4 %ld DR5 %ld", e4, e5);
	long ek = poke(c, 2, 0xffff800000000000UL), et = poke(c, 2, 0x7ffffffff000UL);
	long el = poke(c, 2, 0x7ffffffffff8UL);
	KTAP_CHECK(ek == -EINVAL && et == -EINVAL && el == -EINVAL && peek(c, 2) == 0, "kernel_address_einval",
		   "kernel %ld, top page %ld, last quadword %ld, DR2 %#lx", ek, et, el, peek(c, 2));
	long eio = poke(c, 7, DR7_SLOT(3, RW_IO, LEN_4));
	KTAP_CHECK(eio == -EINVAL, "io_breakpoint_einval", "%ld", eio);
	long ex2 = poke(c, 7, DR7_SLOT(3, RW_EXEC, LEN_2));
	KTAP_CHECK(ex2 == -EINVAL, "exec_len2_einval", "%ld", ex2);
	/* DR2 at an odd address, then an 8-byte watchpoint there. */
	long ea = poke(c, 2, (unsigned long)buf + 12);
	long eu = poke(c, 7, DR7_SLOT(2, RW_WRITE, LEN_8));
	KTAP_CHECK(ea == 0 && eu == -EINVAL && peek(c, 7) == 0, "unaligned_len8_einval", "DR2 %ld, DR7 %ld, DR7 reads %#lx",
		   ea, eu, peek(c, 7));

	/* DR0: 4-byte write watchpoint on buf; DR1: execute breakpoint on target_fn. The upper
	 * half of DR7 is kept as written. */
	unsigned long dr7 = DR7_SLOT(0, RW_WRITE, LEN_4) | DR7_SLOT(1, RW_EXEC, LEN_1);
	long w0 = poke(c, 0, (unsigned long)buf), w1 = poke(c, 1, (unsigned long)&target_fn);
	long w7 = poke(c, 7, dr7 | 0xffffffff00000000UL);
	KTAP_CHECK(w0 == 0 && w1 == 0 && w7 == 0 && peek(c, 0) == (unsigned long)buf &&
			   peek(c, 1) == (unsigned long)&target_fn && peek(c, 7) == (dr7 | 0xffffffff00000000UL),
		   "set_and_read_back", "pokes %ld %ld %ld; DR0 %#lx DR1 %#lx DR7 %#lx", w0, w1, w7, peek(c, 0),
		   peek(c, 1), peek(c, 7));
	/* A refused DR7 (slot 3 as I/O) leaves the last good one. */
	long rb = poke(c, 7, dr7 | DR7_SLOT(3, RW_IO, LEN_1));
	KTAP_CHECK(rb == -EINVAL && peek(c, 7) == (dr7 | 0xffffffff00000000UL), "refused_dr7_keeps_old",
		   "%ld, DR7 %#lx", rb, peek(c, 7));

	ptrace(PTRACE_CONT, c, 0, 0);
	siginfo_t si;
	waitpid(c, &st, 0);
	memset(&si, 0, sizeof si);
	ptrace(PTRACE_GETSIGINFO, c, 0, &si);
	unsigned long dr6 = peek(c, 6);
	/* The first stop is the child's own write: the read had already filled buf. */
	errno = 0;
	long word = ptrace(PTRACE_PEEKDATA, c, buf, 0);
	KTAP_CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "watchpoint_sigtrap", "status %#x", st);
	KTAP_CHECK(si.si_signo == SIGTRAP && si.si_code == TRAP_HWBKPT_CODE && dr6 == 0xffff0ff1, "watchpoint_hwbkpt_dr6",
		   "signo %d code %d DR6 %#lx", si.si_signo, si.si_code, dr6);
	KTAP_CHECK(errno == 0 && memcmp(&word, "hXllo", 5) == 0, "kernel_write_no_stop",
		   "buf at the first stop: %.5s (errno %d)", (char *)&word, errno);

	ptrace(PTRACE_CONT, c, 0, 0);
	waitpid(c, &st, 0);
	memset(&si, 0, sizeof si);
	ptrace(PTRACE_GETSIGINFO, c, 0, &si);
	dr6 = peek(c, 6);
	KTAP_CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP && si.si_code == TRAP_HWBKPT_CODE, "exec_breakpoint_sigtrap",
		   "status %#x code %d", st, si.si_code);
	KTAP_CHECK(si.si_addr == (void *)&target_fn && dr6 == 0xffff0ff2, "exec_breakpoint_addr_dr6",
		   "si_addr %p (function %p) DR6 %#lx", si.si_addr, (void *)&target_fn, dr6);

	/* RF lets the instruction run: no second stop at the same place. */
	ptrace(PTRACE_CONT, c, 0, 0);
	waitpid(c, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child_ran_on_and_exited",
		   "status %#x (11: read or call count wrong)", st);
	if (WIFSTOPPED(st))
		kill(c, SIGKILL);
	/* The watched buffer is the parent's too (fork copied it): untouched here. */
	KTAP_CHECK(buf[1] == 0, "parent_buffer_untouched", "%d", buf[1]);
	return ktap_failed ? 1 : 0;
}
