/* clone3: clone3(2) as Linux 6.1's kernel/fork.c takes it.
 *  - struct clone_args of 64, 80 and 88 bytes, and 96 with a zero tail, make a child (its
 *    getppid is us); a non-zero tail is E2BIG, as is a size over a page; under 64 is EINVAL;
 *  - the argument checks (EINVAL): CSIGNAL bits or unknown bits in flags, an exit signal over
 *    64 or with high bits, CLONE_THREAD without CLONE_SIGHAND, a thread with an exit signal,
 *    CLONE_SIGHAND with CLONE_CLEAR_SIGHAND, a stack without a size or a size without a stack,
 *    set_tid_size without set_tid;
 *  - exit_signal: SIGUSR1 arrives instead of SIGCHLD when the child ends, 0 sends nothing;
 *    such a "clone" child is seen by waits with __WCLONE or __WALL only, and __WCLONE sees
 *    no other;
 *  - a thread (CLONE_VM|CLONE_THREAD|..., its own stack): its tid in parent_tid, our pid,
 *    child_tid cleared and woken at its end;
 *  - CLONE_VM|CLONE_VFORK with a stack: the child runs on that stack, we wait for it;
 *  - CLONE_SETTLS in a new process: its FS base; CLONE_CLEAR_SIGHAND: handled signals back to
 *    the default, ignored ones stay ignored;
 *  - CLONE_FILES: the child's dup2 and close are ours too (and kcmp KCMP_FILES says one table);
 *    without it they are not;
 *  - seccomp sees clone3 by its own number; ptrace reports PTRACE_EVENT_FORK for a clone3 child
 *    with SIGCHLD and PTRACE_EVENT_CLONE for one with another exit signal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"
#include "seccomp_abi.h"

#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#define CLONE_CLEAR_SIGHAND_ 0x100000000ULL
#define KCMP_FILES_ 2

struct args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
	uint64_t tail[2]; /* beyond Linux's 88 bytes */
};

static long clone3(struct args *a, size_t size)
{
	return syscall(__NR_clone3, a, size);
}

/* clone3 whose child stores its stack pointer at *where and exits 0, touching nothing else
 * (it runs on the stack given in the arguments). Returns the parent's result. */
long clone3_stack_child(struct args *a, size_t size, uint64_t *where);
__asm__(".text\n"
	".globl clone3_stack_child\n"
	"clone3_stack_child:\n"
	"	mov $435, %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov %rsp, (%rdx)\n"
	"	xor %edi, %edi\n"
	"	mov $60, %eax\n"
	"	syscall\n"
	"	ud2\n"
	"1:	ret\n");

/* clone3 whose child (a thread) stores gettid() at where[0] and getpid() at where[1], then
 * exits the thread. */
long clone3_thread_child(struct args *a, size_t size, uint64_t *where);
__asm__(".text\n"
	".globl clone3_thread_child\n"
	"clone3_thread_child:\n"
	"	mov $435, %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov %rdx, %r12\n"
	"	mov $186, %eax\n"
	"	syscall\n"
	"	mov %rax, (%r12)\n"
	"	mov $39, %eax\n"
	"	syscall\n"
	"	mov %rax, 8(%r12)\n"
	"	xor %edi, %edi\n"
	"	mov $60, %eax\n"
	"	syscall\n"
	"	ud2\n"
	"1:	ret\n");

/* clone3 whose child (a new process) exits 0 if its FS base is `want`, 1 if not, touching
 * only its stack (its FS base is not a libc's thread pointer). */
long clone3_tls_child(struct args *a, size_t size, uint64_t want);
__asm__(".text\n"
	".globl clone3_tls_child\n"
	"clone3_tls_child:\n"
	"	mov $435, %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov %rdx, %r12\n"
	"	sub $16, %rsp\n"
	"	mov $0x1003, %edi\n" /* ARCH_GET_FS */
	"	mov %rsp, %rsi\n"
	"	mov $158, %eax\n"
	"	syscall\n"
	"	xor %edi, %edi\n"
	"	cmp (%rsp), %r12\n"
	"	setne %dil\n"
	"	mov $231, %eax\n"
	"	syscall\n"
	"	ud2\n"
	"1:	ret\n");

static int exited_with(pid_t pid, int code, int options)
{
	int st = 0;
	return pid > 0 && waitpid(pid, &st, options) == pid && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static void test_sizes(void)
{
	static const size_t sizes[] = {64, 80, 88, 96};
	int ok = 1;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct args a = {.exit_signal = SIGCHLD};
		pid_t parent = getpid();
		long c = clone3(&a, sizes[i]);
		if (c == 0)
			_exit(getppid() == parent ? 0 : 1);
		if (!exited_with((pid_t)c, 0, 0)) {
			ktap_diag("clone3_sizes_64_80_88_96", "size %zu: %ld errno %d", sizes[i], c, errno);
			ok = 0;
		}
	}
	ktap_result(ok, "clone3_sizes_64_80_88_96");
	struct args a = {.exit_signal = SIGCHLD, .tail = {0, 1}};
	errno = 0;
	long r = clone3(&a, sizeof(a));
	if (r == 0)
		_exit(0);
	KTAP_CHECK(r == -1 && errno == E2BIG, "clone3_nonzero_tail_e2big", "%ld errno %d", r, errno);
	a.tail[1] = 0;
	errno = 0;
	r = clone3(&a, 4097);
	if (r == 0)
		_exit(0);
	KTAP_CHECK(r == -1 && errno == E2BIG, "clone3_over_page_e2big", "%ld errno %d", r, errno);
	int bad = 0;
	for (size_t s = 0; s < 64; s += 21) {
		errno = 0;
		r = clone3(&a, s);
		if (r == 0)
			_exit(0);
		if (r != -1 || errno != EINVAL)
			bad = 1;
	}
	KTAP_CHECK(!bad, "clone3_short_einval", "a size under 64 was not EINVAL");
}

static void test_checks(void)
{
	static char stack[8192];
	struct bad {
		const char *what;
		struct args a;
	};
	static const struct bad cases[] = {
		{"csignal_in_flags", {.flags = SIGCHLD, .exit_signal = SIGCHLD}},
		{"unknown_flag", {.flags = 1ULL << 40, .exit_signal = SIGCHLD}},
		{"exit_signal_65", {.exit_signal = 65}},
		{"exit_signal_high_bits", {.exit_signal = 0x100 | SIGCHLD}},
		{"thread_without_sighand", {.flags = CLONE_VM | CLONE_THREAD}},
		{"thread_with_exit_signal",
		 {.flags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD, .exit_signal = SIGCHLD}},
		{"sighand_and_clear_sighand",
		 {.flags = CLONE_VM | CLONE_SIGHAND | CLONE_CLEAR_SIGHAND_, .exit_signal = SIGCHLD}},
		{"stack_without_size", {.exit_signal = SIGCHLD, .stack = (uintptr_t)stack}},
		{"size_without_stack", {.exit_signal = SIGCHLD, .stack_size = sizeof(stack)}},
		{"set_tid_size_without_set_tid", {.exit_signal = SIGCHLD, .set_tid_size = 1}},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errno = 0;
		struct args a = cases[i].a;
		long r = clone3(&a, 88);
		if (r == 0)
			_exit(0);
		if (r != -1 || errno != EINVAL) {
			ktap_diag("clone3_invalid_args_einval", "%s: %ld errno %d", cases[i].what, r, errno);
			bad = 1;
			if (r > 0)
				waitpid((pid_t)r, NULL, __WALL);
		}
	}
	ktap_result(!bad, "clone3_invalid_args_einval");
}

static volatile sig_atomic_t usr1_count, chld_count;
static void on_usr1(int s)
{
	(void)s;
	usr1_count++;
}
static void on_chld(int s)
{
	(void)s;
	chld_count++;
}

/* Waits up to 1 s for SIGUSR1 or SIGCHLD (`any`), or 100 ms for nothing to come. */
static void settle(int any)
{
	for (int i = 0; i < (any ? 100 : 10); i++) {
		if (any && (usr1_count || chld_count))
			return;
		struct timespec d = {0, 10 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
}

static void test_exit_signal(void)
{
	signal(SIGUSR1, on_usr1);
	signal(SIGCHLD, on_chld);
	usr1_count = chld_count = 0;
	struct args a = {.exit_signal = SIGUSR1};
	long c = clone3(&a, 64);
	if (c == 0)
		_exit(0);
	int ok = exited_with((pid_t)c, 0, __WALL);
	/* Linux makes the signal pending before wait can see the child; kentry's wait may see it
	 * a moment before (the ordering is wait.rs's): give the signal up to a second. */
	settle(1);
	KTAP_CHECK(ok && usr1_count == 1 && chld_count == 0, "exit_signal_usr1",
		   "waited %d, SIGUSR1 %d, SIGCHLD %d", ok, (int)usr1_count, (int)chld_count);
	usr1_count = chld_count = 0;
	a.exit_signal = 0;
	c = clone3(&a, 64);
	if (c == 0)
		_exit(0);
	ok = exited_with((pid_t)c, 0, __WALL);
	settle(0);
	KTAP_CHECK(ok && usr1_count == 0 && chld_count == 0, "exit_signal_none",
		   "waited %d, SIGUSR1 %d, SIGCHLD %d", ok, (int)usr1_count, (int)chld_count);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
}

/* Which children a wait sees (Linux's eligible_child): a child whose exit signal is not
 * SIGCHLD is a "clone" child, which a plain wait ignores (ECHILD if it is the only one, even
 * by its pid) and __WCLONE alone takes; __WCLONE ignores a SIGCHLD child; __WALL takes both.
 * The children wait on a pipe, so that none has ended while the waits that must not see it
 * are made. */
static void test_wait_clone_children(void)
{
	int p[2];
	if (pipe(p) != 0) {
		ktap_result(0, "wait_clone_children");
		return;
	}
	struct args a = {.exit_signal = SIGUSR1};
	signal(SIGUSR1, SIG_IGN);
	long cl = clone3(&a, 64);
	if (cl == 0) {
		char b;
		close(p[1]);
		_exit(read(p[0], &b, 1) == 0 ? 3 : 1);
	}
	int st = 0, bad = 0;
	errno = 0;
	/* Only a clone child exists: a plain wait has nothing to wait for. */
	if (waitpid(-1, &st, WNOHANG) != -1 || errno != ECHILD)
		bad |= 1;
	errno = 0;
	if (waitpid((pid_t)cl, &st, WNOHANG) != -1 || errno != ECHILD)
		bad |= 2;
	pid_t plain = fork();
	if (plain == 0) {
		char b;
		close(p[1]);
		_exit(read(p[0], &b, 1) == 0 ? 4 : 1);
	}
	errno = 0;
	if (waitpid(plain, &st, WNOHANG | __WCLONE) != -1 || errno != ECHILD)
		bad |= 4;
	close(p[1]); /* both children end now */
	/* A plain wait for anyone takes the SIGCHLD child, never the clone child. */
	pid_t w = waitpid(-1, &st, 0);
	if (w != plain || !WIFEXITED(st) || WEXITSTATUS(st) != 4)
		bad |= 8;
	errno = 0;
	if (waitpid(-1, &st, WNOHANG) != -1 || errno != ECHILD)
		bad |= 16;
	w = waitpid(-1, &st, __WCLONE);
	if (w != (pid_t)cl || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
		bad |= 32;
	close(p[0]);
	signal(SIGUSR1, SIG_DFL);
	KTAP_CHECK(!bad, "wait_clone_children", "failed checks 0x%x", bad);
}

static void test_thread_and_stack(void)
{
	size_t sz = 64 * 1024;
	char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stk == MAP_FAILED) {
		ktap_result(0, "thread_tid_pid_cleartid");
		ktap_result(0, "vfork_on_given_stack");
		return;
	}
	static volatile uint64_t got[2];
	static volatile int32_t ptid, ctid = -1;
	struct args a = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
			 CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
		.parent_tid = (uintptr_t)&ptid,
		.child_tid = (uintptr_t)&ctid,
		.stack = (uintptr_t)stk,
		.stack_size = sz,
	};
	long tid = clone3_thread_child(&a, 88, (uint64_t *)got);
	/* CLONE_CHILD_CLEARTID: 0 and a futex wake when the thread is gone. */
	while (tid > 0 && ctid != 0)
		syscall(SYS_futex, &ctid, 0 /* FUTEX_WAIT */, ctid, NULL, NULL, 0);
	KTAP_CHECK(tid > 0 && ptid == tid && got[0] == (uint64_t)tid && got[1] == (uint64_t)getpid(),
		   "thread_tid_pid_cleartid", "clone3 %ld errno %d, parent_tid %d, thread saw tid %lu pid %lu",
		   tid, errno, ptid, (unsigned long)got[0], (unsigned long)got[1]);

	uint64_t sp = 0;
	struct args v = {
		.flags = CLONE_VM | CLONE_VFORK,
		.exit_signal = SIGCHLD,
		.stack = (uintptr_t)stk,
		.stack_size = sz,
	};
	long c = clone3_stack_child(&v, 64, &sp);
	/* CLONE_VFORK: we resume only after the child stored sp and exited. */
	uint64_t seen = sp;
	int ok = exited_with((pid_t)c, 0, 0);
	KTAP_CHECK(ok && seen > (uintptr_t)stk && seen <= (uintptr_t)stk + sz, "vfork_on_given_stack",
		   "child %ld, its sp %#lx, stack [%p, +%zu)", c, (unsigned long)seen, (void *)stk, sz);
	munmap(stk, sz);
}

static void test_tls_and_sighand(void)
{
	static uint64_t tcb[8];
	struct args a = {.flags = CLONE_SETTLS, .exit_signal = SIGCHLD, .tls = (uintptr_t)tcb};
	long c = clone3_tls_child(&a, 64, (uintptr_t)tcb);
	KTAP_CHECK(exited_with((pid_t)c, 0, 0), "settls_fs_base", "child %ld", c);

	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, SIG_IGN);
	int results[2];
	for (int clear = 0; clear < 2; clear++) {
		struct args b = {.flags = clear ? CLONE_CLEAR_SIGHAND_ : 0, .exit_signal = SIGCHLD};
		c = clone3(&b, 64);
		if (c == 0) {
			struct sigaction s1, s2;
			sigaction(SIGUSR1, NULL, &s1);
			sigaction(SIGUSR2, NULL, &s2);
			int code = (s1.sa_handler == SIG_DFL ? 1 : s1.sa_handler == on_usr1 ? 2 : 3) |
				   (s2.sa_handler == SIG_IGN ? 4 : 0);
			_exit(code);
		}
		int st = 0;
		results[clear] = c > 0 && waitpid((pid_t)c, &st, 0) == c && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	}
	KTAP_CHECK(results[0] == (2 | 4) && results[1] == (1 | 4), "clear_sighand",
		   "without: %d, with: %d (1 default, 2 handler, 4 SIGUSR2 ignored)", results[0],
		   results[1]);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

static void test_files(void)
{
	int fd = open("/dev/null", O_RDONLY);
	close(200);
	close(201);
	struct args a = {.flags = CLONE_FILES, .exit_signal = SIGCHLD};
	long c = clone3(&a, 64);
	if (c == 0) {
		int ok = dup2(0, 200) == 200 && close(fd) == 0;
		_exit(ok ? 0 : 1);
	}
	int ok = exited_with((pid_t)c, 0, 0) && fcntl(200, F_GETFD) >= 0 && fcntl(fd, F_GETFD) == -1 &&
		 errno == EBADF;
	KTAP_CHECK(ok, "clone_files_shared", "the child's dup2/close did not reach us");
	a.flags = 0;
	c = clone3(&a, 64);
	if (c == 0)
		_exit(dup2(0, 201) == 201 ? 0 : 1);
	errno = 0;
	ok = exited_with((pid_t)c, 0, 0) && fcntl(201, F_GETFD) == -1 && errno == EBADF;
	KTAP_CHECK(ok, "no_clone_files_private", "the child's dup2 reached us");
	close(200);

	/* kcmp(KCMP_FILES): one table with CLONE_FILES, two without. */
	int p[2];
	int cmp[2] = {-1, -1};
	for (int share = 0; share < 2 && pipe(p) == 0; share++) {
		struct args b = {.flags = share ? CLONE_FILES : 0, .exit_signal = SIGCHLD};
		c = clone3(&b, 64);
		if (c == 0) {
			char x;
			ssize_t n = read(p[0], &x, 1);
			_exit(n == 1 ? 0 : 1);
		}
		cmp[share] = (int)syscall(SYS_kcmp, getpid(), (pid_t)c, KCMP_FILES_, 0, 0);
		ssize_t w = write(p[1], "x", 1);
		(void)w;
		exited_with((pid_t)c, 0, 0);
		close(p[0]);
		close(p[1]);
	}
	KTAP_CHECK(cmp[0] > 0 && cmp[1] == 0, "kcmp_files", "without CLONE_FILES %d, with %d", cmp[0],
		   cmp[1]);
}

static void test_seccomp(void)
{
	pid_t c = fork();
	if (c == 0) {
		struct sock_filter f[] = {
			STMT(LD_ABS, offsetof(struct seccomp_data, nr)),
			JUMP(JEQ_K, __NR_clone3, 0, 1),
			STMT(RET_K, SECCOMP_RET_ERRNO | 77),
			STMT(RET_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {.len = 4, .filter = f};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, &prog))
			_exit(2);
		struct args a = {.exit_signal = SIGCHLD};
		errno = 0;
		long r = clone3(&a, 64);
		if (r == 0)
			_exit(0);
		if (r != -1 || errno != 77)
			_exit(3);
		long k = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
		if (k == 0)
			_exit(0);
		_exit(exited_with((pid_t)k, 0, 0) ? 0 : 4);
	}
	int st = 0;
	waitpid(c, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "seccomp_sees_clone3",
		   "child status %#x (2 no filter, 3 clone3 not refused, 4 clone refused)", st);
}

/* The tracee makes a clone3 child with SIGCHLD, then one with exit signal 0: the tracer must
 * see PTRACE_EVENT_FORK, then PTRACE_EVENT_CLONE, each with the new child's pid. */
static void test_ptrace(void)
{
	pid_t t = fork();
	if (t == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		struct args a = {.exit_signal = SIGCHLD};
		long c1 = clone3(&a, 64);
		if (c1 == 0)
			_exit(0);
		a.exit_signal = 0;
		long c2 = clone3(&a, 64);
		if (c2 == 0)
			_exit(0);
		_exit(exited_with((pid_t)c1, 0, __WALL) && exited_with((pid_t)c2, 0, __WALL) ? 0 : 1);
	}
	int st = 0, events[2] = {-1, -1}, nev = 0, final = -1;
	unsigned long msgs[2] = {0, 0};
	waitpid(t, &st, 0);
	ptrace(PTRACE_SETOPTIONS, t, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACECLONE);
	ptrace(PTRACE_CONT, t, 0, 0);
	for (int guard = 0; guard < 20; guard++) {
		pid_t w = waitpid(-1, &st, __WALL);
		if (w < 0)
			break;
		if (w == t && WIFEXITED(st)) {
			final = WEXITSTATUS(st);
			break;
		}
		if (w == t && WIFSTOPPED(st) && (st >> 16) != 0 && nev < 2) {
			events[nev] = st >> 16;
			ptrace(PTRACE_GETEVENTMSG, t, 0, &msgs[nev]);
			nev++;
		}
		if (WIFSTOPPED(st)) {
			int sig = WSTOPSIG(st);
			/* Event stops and the new children's first SIGSTOP resume without a signal. */
			ptrace(PTRACE_CONT, w, 0, (st >> 16) || sig == SIGSTOP ? 0 : sig);
		}
	}
	KTAP_CHECK(events[0] == PTRACE_EVENT_FORK && events[1] == PTRACE_EVENT_CLONE && msgs[0] > 0 &&
			   msgs[1] > 0 && final == 0,
		   "ptrace_fork_and_clone_events", "events %d %d, pids %lu %lu, tracee status %d",
		   events[0], events[1], msgs[0], msgs[1], final);
	while (waitpid(-1, NULL, __WALL | WNOHANG) > 0)
		;
}

int main(void)
{
	ktap_plan(17);
	test_sizes();
	test_checks();
	test_exit_signal();
	test_wait_clone_children();
	test_thread_and_stack();
	test_tls_and_sighand();
	test_files();
	test_seccomp();
	test_ptrace();
	return ktap_finish();
}
