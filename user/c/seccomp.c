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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "ktap.h"

/* <linux/seccomp.h>, which musl-gcc cannot see. */
#define SECCOMP_SET_MODE_STRICT 0
#define SECCOMP_MODE_STRICT 1

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

static int killed_by_sigkill(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
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

int main(void)
{
	ktap_plan(8);
	char out[16];
	int st;

	KTAP_CHECK(prctl(PR_GET_SECCOMP) == 0, "get_mode_is_0", "PR_GET_SECCOMP %d", prctl(PR_GET_SECCOMP));

	errno = 0;
	int e1 = syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL) == -1 && errno == EINVAL;
	int e2 = syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, (void *)8) == -1 && errno == EINVAL;
	int e3 = syscall(SYS_seccomp, 99, 0, NULL) == -1 && errno == EINVAL;
	int e4 = prctl(PR_SET_SECCOMP, 7) == -1 && errno == EINVAL;
	KTAP_CHECK(e1 && e2 && e3 && e4, "bad_arguments", "flags %d args %d op %d prctl %d", e1, e2, e3, e4);

	st = run_child(strict_read_write_exit, out, sizeof out);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7 && strcmp(out, "RW") == 0,
		   "strict_allows_read_write_exit", "status %#x, reported '%s'", st, out);

	st = run_child(strict_getpid, out, sizeof out);
	KTAP_CHECK(killed_by_sigkill(st) && strcmp(out, "a") == 0, "strict_kills_getpid",
		   "status %#x, reported '%s'", st, out);

	st = run_child(strict_exit_group, out, sizeof out);
	KTAP_CHECK(killed_by_sigkill(st) && strcmp(out, "a") == 0, "strict_kills_exit_group",
		   "status %#x, reported '%s'", st, out);

	st = run_child(strict_sigreturn, out, sizeof out);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strcmp(out, "s") == 0,
		   "strict_allows_rt_sigreturn", "status %#x, reported '%s'", st, out);

	st = run_child(strict_int80, out, sizeof out);
	KTAP_CHECK(killed_by_sigkill(st) && strcmp(out, "a") == 0, "strict_kills_int80",
		   "status %#x, reported '%s'", st, out);

	st = run_child(strict_one_thread, out, sizeof out);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strcmp(out, "tm") == 0,
		   "strict_kills_only_the_thread", "status %#x, reported '%s'", st, out);

	return ktap_finish();
}
