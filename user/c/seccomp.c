/* seccomp: strict mode (SECCOMP_SET_MODE_STRICT, PR_SET_SECCOMP 1) and PR_GET_SECCOMP.
 *
 * Each case runs in a forked child, which reports through a pipe what it got to do; the parent
 * checks how the child ended (a strict-mode thread that makes a forbidden syscall dies as if by
 * SIGKILL).
 *
 * - get_mode_is_0: PR_GET_SECCOMP is 0 before any mode.
 * - bad_arguments: seccomp(STRICT) with flags or args, an unknown operation, and
 *   PR_SET_SECCOMP with an unknown mode are EINVAL.
 * - strict_allows_read_write_exit: after seccomp(SECCOMP_SET_MODE_STRICT), read and write work
 *   and exit(7) ends the child with status 7.
 * - strict_kills_getpid: getpid after prctl(PR_SET_SECCOMP, 1) ends the child by SIGKILL, and
 *   nothing it did after the call is seen.
 * - strict_kills_exit_group: exit_group is not exit: SIGKILL.
 * - strict_allows_rt_sigreturn: a SIGILL handler installed before strict mode runs for a ud2,
 *   moves RIP past it and returns through rt_sigreturn; the child then writes and exits 0.
 * - strict_kills_int80: `int $0x80` with the i386 getpid number (20) ends the child by SIGKILL.
 * - strict_kills_only_the_thread: a second thread enters strict mode and makes a forbidden
 *   syscall; it ends (its tid is gone), and the main thread (no mode) goes on to exit 0.
 *
 * Filter mode (classic BPF; no_new_privs set first, so the same binary runs unprivileged):
 * - filter_bad_programs: an empty program, a bad opcode, a jump past the end, a load outside
 *   seccomp_data are EINVAL, an unreadable program EFAULT, an unknown flag EINVAL;
 *   GET_ACTION_AVAIL knows ALLOW and not 0x12340000.
 * - filter_errno: getppid -> ERRNO(42) fails with errno 42, other calls work, and
 *   PR_GET_SECCOMP says 2.
 * - filter_kill_process, filter_kill_thread: the child ends by SIGSYS.
 * - filter_trap: TRAP(7) raises SIGSYS with si_code SYS_SECCOMP (1), si_errno 7, si_syscall
 *   and si_arch, si_call_addr in the text; the syscall "returns" its number.
 * - filter_stacked_and_inherited: two filters on getppid, ERRNO(5) then ERRNO(9): the newest
 *   wins among equals (9), also in a forked grandchild, and a KILL in either beats them.
 * - filter_then_strict_is_einval: a thread with a filter cannot switch to strict mode.
 * - filter_tsync: with SECCOMP_FILTER_FLAG_TSYNC the filter reaches a second thread too
 *   (blocked in read() while it is installed).
 * - filter_tsync_conflict: a second thread with a filter of its own that the caller's is not
 *   built on: TSYNC fails and returns that thread's id; nothing is installed.
 * - filter_kept_across_execve: this program, exec'd again ("after-exec REPORT_FD") under an
 *   ERRNO(21) filter on getppid, still gets errno 21 and PR_GET_SECCOMP 2.
 * - filter_deep_chain_ends: one-instruction filters up to the chain limit (ENOMEM, after
 *   more than 1000; Linux counts its eBPF translation and stops at 3641, kentry the classic
 *   instructions, 6553); the child then exits and its chain is freed (kentry once freed it
 *   recursively and overflowed the kernel stack).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "ktap.h"

#include "seccomp_abi.h"

static int rep[2]; /* child -> parent report pipe */

/* Raw syscalls: libc wrappers may make other calls (exit() calls exit_group). */
static long raw_write(int fd, const void *b, size_t n)
{
	return syscall(SYS_write, fd, b, n);
}

static void raw_exit(int status)
{
	syscall(SYS_exit, status);
	for (;;)
		;
}

static void report(char c)
{
	raw_write(rep[1], &c, 1);
}

/* Runs `body` in a child; returns its wait status and what it reported. */
static int run_child(void (*body)(void), char *out, size_t outlen)
{
	if (pipe(rep) != 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(rep[0]);
		body();
		raw_exit(99);
	}
	close(rep[1]);
	int status = -1;
	waitpid(pid, &status, 0);
	ssize_t n = read(rep[0], out, outlen - 1);
	out[n > 0 ? n : 0] = 0;
	close(rep[0]);
	return status;
}


static void strict_read_write_exit(void)
{
	int in[2];
	if (pipe(in) != 0 || write(in[1], "r", 1) != 1)
		return;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) != 0)
		return;
	char c = 0;
	if (syscall(SYS_read, in[0], &c, 1) == 1 && c == 'r')
		report('R');
	report('W');
	raw_exit(7);
}

static void strict_getpid(void)
{
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
		return;
	report('a');
	syscall(SYS_getpid);
	report('b');
}

static void strict_exit_group(void)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) != 0)
		return;
	report('a');
	syscall(SYS_exit_group, 0);
	report('b');
}

static void on_sigill(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uc->uc_mcontext.gregs[REG_RIP] += 2; /* past ud2 */
}

static void strict_sigreturn(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigill;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGILL, &sa, NULL) != 0)
		return;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) != 0)
		return;
	__asm__ volatile("ud2");
	report('s');
	raw_exit(0);
}

static void strict_int80(void)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) != 0)
		return;
	report('a');
	long ret = 20; /* i386 getpid */
	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
	report('b');
}

static volatile pid_t strict_tid;

static void *strict_thread(void *arg)
{
	strict_tid = (pid_t)syscall(SYS_gettid);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
		return NULL;
	report('t');
	syscall(SYS_getpid);
	report('x');
	return NULL;
}

static void strict_one_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, strict_thread, NULL) != 0)
		return;
	/* Not pthread_join: a thread the kernel ends never runs libc's exit path, and musl's
	 * join waits for that. Wait until the thread id is gone instead (tgkill with signal 0:
	 * ESRCH), for at most 2 s. */
	while (strict_tid == 0)
		sched_yield();
	for (int i = 0; i < 2000; i++) {
		if (syscall(SYS_tgkill, getpid(), strict_tid, 0) == -1 && errno == ESRCH)
			break;
		usleep(1000);
	}
	if (syscall(SYS_tgkill, getpid(), strict_tid, 0) != -1 || errno != ESRCH)
		_exit(3);
	/* This thread has no mode: getpid works, and so does exit_group. */
	if (getpid() > 0 && prctl(PR_GET_SECCOMP) == 0)
		report('m');
	_exit(0);
}

/* A filter: arch must be x86-64 (else KILL_PROCESS); syscall `nr` gets `action`; the rest
 * is allowed. */
static long install(int nr, uint32_t action)
{
	struct sock_filter f[] = {
		STMT(LD_ABS, 4),
		JUMP(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
		STMT(RET_K, SECCOMP_RET_KILL_PROCESS),
		STMT(LD_ABS, 0),
		JUMP(JEQ_K, (uint32_t)nr, 0, 1),
		STMT(RET_K, action),
		STMT(RET_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static long install_raw(struct sock_filter *f, unsigned short len, unsigned flags)
{
	struct sock_fprog prog = {len, f};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static int bad_programs(void)
{
	struct sock_filter ok = STMT(RET_K, SECCOMP_RET_ALLOW);
	struct sock_filter badop[] = {STMT(0x30, 0), STMT(RET_K, SECCOMP_RET_ALLOW)};
	struct sock_filter jump[] = {JUMP(JEQ_K, 0, 2, 0), STMT(RET_K, SECCOMP_RET_ALLOW)};
	struct sock_filter load[] = {STMT(LD_ABS, 64), STMT(RET_K, SECCOMP_RET_ALLOW)};
	int ok_count = 0;
	ok_count += install_raw(&ok, 0, 0) == -1 && errno == EINVAL;
	ok_count += install_raw(badop, 2, 0) == -1 && errno == EINVAL;
	ok_count += install_raw(jump, 2, 0) == -1 && errno == EINVAL;
	ok_count += install_raw(load, 2, 0) == -1 && errno == EINVAL;
	ok_count += install_raw((struct sock_filter *)8, 1, 0) == -1 && errno == EFAULT;
	ok_count += install_raw(&ok, 1, 1u << 30) == -1 && errno == EINVAL;
	uint32_t allow = SECCOMP_RET_ALLOW, odd = 0x12340000;
	ok_count += syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &allow) == 0;
	ok_count += syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &odd) == -1 && errno == EOPNOTSUPP;
	if (ok_count != 8)
		printf("# bad_programs: %d of 8 refusals right\n", ok_count);
	return ok_count == 8 && prctl(PR_GET_SECCOMP) == 0;
}

static void filter_errno(void)
{
	if (install(SYS_getppid, SECCOMP_RET_ERRNO | 42) != 0)
		return;
	errno = 0;
	if (syscall(SYS_getppid) == -1 && errno == 42)
		report('e');
	if (getpid() > 0 && prctl(PR_GET_SECCOMP) == 2)
		report('m');
	_exit(0);
}

static void filter_kill_process(void)
{
	if (install(SYS_getppid, SECCOMP_RET_KILL_PROCESS) != 0)
		return;
	report('a');
	syscall(SYS_getppid);
	report('b');
}

static void filter_kill_thread(void)
{
	if (install(SYS_getppid, SECCOMP_RET_KILL_THREAD) != 0)
		return;
	report('a');
	syscall(SYS_getppid);
	report('b');
}

static volatile int trap_code, trap_errno, trap_syscall;
static volatile unsigned trap_arch;
static void *volatile trap_addr;

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	trap_code = si->si_code;
	trap_errno = si->si_errno;
	/* _sigsys: call address (offset 16), syscall (24), arch (28). */
	trap_addr = *(void **)((char *)si + 16);
	trap_syscall = *(int *)((char *)si + 24);
	trap_arch = *(unsigned *)((char *)si + 28);
}

static void filter_trap(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) != 0 || install(SYS_getppid, SECCOMP_RET_TRAP | 7) != 0)
		return;
	long r = syscall(SYS_getppid);
	if (trap_code == 1 && trap_errno == 7 && trap_syscall == SYS_getppid &&
	    trap_arch == AUDIT_ARCH_X86_64 && trap_addr != NULL && r == SYS_getppid)
		report('t');
	else
		printf("# trap: code %d errno %d syscall %d arch %#x addr %p, returned %ld\n", trap_code,
		       trap_errno, trap_syscall, trap_arch, trap_addr, r);
	fflush(stdout);
	_exit(0);
}

static void filter_stacked(void)
{
	if (install(SYS_getppid, SECCOMP_RET_ERRNO | 5) != 0 ||
	    install(SYS_getppid, SECCOMP_RET_ERRNO | 9) != 0)
		return;
	errno = 0;
	if (syscall(SYS_getppid) == -1 && errno == 9)
		report('n');
	pid_t pid = fork();
	if (pid == 0) {
		errno = 0;
		if (syscall(SYS_getppid) == -1 && errno == 9)
			report('g');
		/* A kill behind the errno filters beats them. */
		if (install(SYS_getppid, SECCOMP_RET_ALLOW) == 0 &&
		    install(SYS_getpid, SECCOMP_RET_KILL_PROCESS) == 0)
			syscall(SYS_getpid);
		report('x');
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		report('k');
	_exit(0);
}

static void filter_then_strict(void)
{
	if (install(SYS_getppid, SECCOMP_RET_ERRNO | 1) != 0)
		return;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) == -1 && errno == EINVAL)
		report('s');
	_exit(0);
}

static int tsync_pipe[2], tsync_back[2];
static volatile pid_t tsync_tid;

static void *tsync_thread(void *arg)
{
	int own = arg != NULL;
	char c;
	tsync_tid = (pid_t)syscall(SYS_gettid);
	if (own && install(SYS_getuid, SECCOMP_RET_ERRNO | 1) == 0)
		(void)!write(tsync_back[1], "o", 1);
	if (read(tsync_pipe[0], &c, 1) != 1)
		return NULL;
	errno = 0;
	if (syscall(SYS_getppid) == -1 && errno == 13)
		report('T');
	return NULL;
}

static void filter_tsync(void)
{
	pthread_t t;
	if (pipe(tsync_pipe) != 0 || pthread_create(&t, NULL, tsync_thread, NULL) != 0)
		return;
	while (tsync_tid == 0)
		sched_yield();
	struct sock_filter f[] = {
		STMT(LD_ABS, 0),
		JUMP(JEQ_K, SYS_getppid, 0, 1),
		STMT(RET_K, SECCOMP_RET_ERRNO | 13),
		STMT(RET_K, SECCOMP_RET_ALLOW),
	};
	if (install_raw(f, 4, 1 /* TSYNC */) != 0)
		return;
	(void)!write(tsync_pipe[1], "go", 1);
	pthread_join(t, NULL);
	errno = 0;
	if (syscall(SYS_getppid) == -1 && errno == 13)
		report('M');
	_exit(0);
}

static void filter_tsync_conflict(void)
{
	pthread_t t;
	char c;
	if (pipe(tsync_pipe) != 0 || pipe(tsync_back) != 0 ||
	    pthread_create(&t, NULL, tsync_thread, (void *)1) != 0)
		return;
	if (read(tsync_back[0], &c, 1) != 1)
		return;
	struct sock_filter f[] = {STMT(RET_K, SECCOMP_RET_ERRNO | 13)};
	long r = install_raw(f, 1, 1 /* TSYNC */);
	if (r == tsync_tid && prctl(PR_GET_SECCOMP) == 0)
		report('c');
	else
		printf("# tsync conflict: returned %ld, the thread is %d\n", r, (int)tsync_tid);
	fflush(stdout);
	_exit(0);
}

/* Runs `body` in a child: it must end with exit status `end` (or, negative, by signal
 * -`end`) having reported exactly `want`. */
static void check_child(const char *name, void (*body)(void), int end, const char *want)
{
	char out[16];
	int st = run_child(body, out, sizeof out);
	int ended = end >= 0 ? WIFEXITED(st) && WEXITSTATUS(st) == end
			     : WIFSIGNALED(st) && WTERMSIG(st) == -end;
	KTAP_CHECK(ended && strcmp(out, want) == 0, name, "status %#x, reported '%s'", st, out);
}

static char self_path[4096];

/* Filters until the kernel's limit on a chain (ENOMEM), then exit: the chain goes when the
 * child ends. */
static void filter_deep_chain(void)
{
	struct sock_filter f = STMT(RET_K, SECCOMP_RET_ALLOW);
	int n = 0;
	while (install_raw(&f, 1, 0) == 0)
		n++;
	if (errno == ENOMEM && n > 1000)
		report('d');
	raw_exit(0);
}

static void filter_execve(void)
{
	if (install(SYS_getppid, SECCOMP_RET_ERRNO | 21) != 0)
		return;
	char fd[16];
	snprintf(fd, sizeof fd, "%d", rep[1]);
	char *argv[] = {self_path, "after-exec", fd, NULL};
	execv(self_path, argv);
	_exit(120);
}

/* The exec'd image of filter_execve: the filter must still be there. */
static int after_exec(int fd)
{
	errno = 0;
	char c = syscall(SYS_getppid) == -1 && errno == 21 && prctl(PR_GET_SECCOMP) == 2 ? 'x' : '-';
	return write(fd, &c, 1) == 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
		return after_exec(atoi(argv[2]));
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
	if (n > 0)
		self_path[n] = 0;
	else
		snprintf(self_path, sizeof self_path, "%s", argv[0]);
	ktap_plan(20);

	KTAP_CHECK(prctl(PR_GET_SECCOMP) == 0, "get_mode_is_0", "PR_GET_SECCOMP %d", prctl(PR_GET_SECCOMP));

	errno = 0;
	int e1 = syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL) == -1 && errno == EINVAL;
	int e2 = syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, (void *)8) == -1 && errno == EINVAL;
	int e3 = syscall(SYS_seccomp, 99, 0, NULL) == -1 && errno == EINVAL;
	int e4 = prctl(PR_SET_SECCOMP, 7) == -1 && errno == EINVAL;
	KTAP_CHECK(e1 && e2 && e3 && e4, "bad_arguments", "flags %d args %d op %d prctl %d", e1, e2, e3, e4);

	check_child("strict_allows_read_write_exit", strict_read_write_exit, 7, "RW");
	check_child("strict_kills_getpid", strict_getpid, -SIGKILL, "a");
	check_child("strict_kills_exit_group", strict_exit_group, -SIGKILL, "a");
	check_child("strict_allows_rt_sigreturn", strict_sigreturn, 0, "s");
	check_child("strict_kills_int80", strict_int80, -SIGKILL, "a");
	check_child("strict_kills_only_the_thread", strict_one_thread, 0, "tm");

	/* Filters need no_new_privs (or CAP_SYS_ADMIN): set it, so that the program runs the
	 * same unprivileged. It is inherited by every child below. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

	KTAP_CHECK(bad_programs(), "filter_bad_programs", "see above");

	check_child("filter_errno", filter_errno, 0, "em");
	check_child("filter_kill_process", filter_kill_process, -SIGSYS, "a");
	check_child("filter_kill_thread", filter_kill_thread, -SIGSYS, "a");
	check_child("filter_trap", filter_trap, 0, "t");
	check_child("filter_stacked_and_inherited", filter_stacked, 0, "ngk");
	check_child("filter_then_strict_is_einval", filter_then_strict, 0, "s");
	check_child("filter_tsync", filter_tsync, 0, "TM");
	check_child("filter_tsync_conflict", filter_tsync_conflict, 0, "c");
	check_child("filter_kept_across_execve", filter_execve, 0, "x");

	KTAP_CHECK(prctl(PR_GET_SECCOMP) == 0, "parent_has_no_mode", "PR_GET_SECCOMP %d",
		   prctl(PR_GET_SECCOMP));
	check_child("filter_deep_chain_ends", filter_deep_chain, 0, "d");
	return ktap_finish();
}
