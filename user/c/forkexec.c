/* forkexec: processes.  fork + execve of this program + wait4; a 64 KiB pipe2 pipeline between
 * parent and child; vfork + _exit (the child runs in the parent's memory while the parent
 * waits); a child killed by SIGSEGV; a child killed by SIGTERM from the parent; waitpid(-1) over
 * several children; fork copy-on-write; getppid in the child; close-on-exec across execve;
 * wait4 WNOHANG; waitid.
 *
 * Run as "forkexec child-exec CLOEXEC_FD KEEP_FD", the program is the exec'd child: it prints
 * one line, reports through KEEP_FD whether CLOEXEC_FD was closed by execve, and exits 7.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

extern char **environ;

#define PIPE_BYTES (64 * 1024)

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 8) * 13 + 3);
}

static int exec_child(int argc, char **argv)
{
	printf("# exec child: running, argv[1]=%s\n", argv[1]);
	int cloexec_fd = argc > 2 ? atoi(argv[2]) : -1;
	int keep_fd = argc > 3 ? atoi(argv[3]) : -1;
	char report = 'x';
	if (cloexec_fd >= 0 && keep_fd >= 0)
		report = (fcntl(cloexec_fd, F_GETFD) == -1 && errno == EBADF) ? 'C' : 'c';
	if (keep_fd >= 0 && write(keep_fd, &report, 1) != 1)
		return 9;
	exit(7); /* flushes the line above */
}

/* A child that must not leave a core file behind when it dies by a signal. */
static void no_core(void)
{
	struct rlimit zero = {0, 0};
	setrlimit(RLIMIT_CORE, &zero);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static volatile int cow_var = 1;
static volatile int vfork_var;

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child-exec") == 0)
		return exec_child(argc, argv);

	ktap_plan(11);
	int st;
	pid_t pid, me = getpid();

	/* 1. fork + execve(self) + wait4: exit status 7; CLOEXEC fds closed, others kept. */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0)
		self[n] = 0;
	else
		snprintf(self, sizeof self, "%s", argv[0]);
	int cx[2], keep[2];
	int piped = pipe2(cx, O_CLOEXEC) == 0 && pipe(keep) == 0;
	pid = fork();
	if (pid == 0) {
		char a2[16], a3[16];
		snprintf(a2, sizeof a2, "%d", cx[0]);
		snprintf(a3, sizeof a3, "%d", keep[1]);
		char *args[] = {argv[0], "child-exec", a2, a3, NULL};
		close(keep[0]);
		execve(self, args, environ);
		_exit(127);
	}
	close(keep[1]);
	pid_t w = wait4(pid, &st, 0, NULL);
	KTAP_CHECK(pid > 0 && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7, "fork_execve_wait4_exit7",
		   "pid %d wait4 %d status %#x", (int)pid, (int)w, st);
	char report = 0;
	int got = piped ? (int)read(keep[0], &report, 1) : -1;
	KTAP_CHECK(got == 1 && report == 'C', "execve_fd_inheritance",
		   "report %d '%c' (C: cloexec fd closed, inherited fd open)", got, report ? report : '-');
	close(keep[0]);
	close(cx[0]);
	close(cx[1]);

	/* 2. pipe2 pipeline: the child writes 64 KiB, the parent reads and checksums. */
	int p[2];
	unsigned long sum = 0, want = 0;
	size_t total = 0;
	for (size_t i = 0; i < PIPE_BYTES; i++)
		want = want * 31 + pattern(i);
	int pipe_ok = pipe2(p, O_CLOEXEC) == 0;
	pid = pipe_ok ? fork() : -1;
	if (pid == 0) {
		static unsigned char buf[PIPE_BYTES];
		close(p[0]);
		for (size_t i = 0; i < PIPE_BYTES; i++)
			buf[i] = pattern(i);
		size_t off = 0;
		while (off < PIPE_BYTES) {
			size_t chunk = PIPE_BYTES - off < 5000 ? PIPE_BYTES - off : 5000;
			ssize_t k = write(p[1], buf + off, chunk);
			if (k <= 0)
				_exit(2);
			off += (size_t)k;
		}
		_exit(0);
	}
	if (pipe_ok) {
		close(p[1]);
		unsigned char buf[3000];
		ssize_t k;
		while ((k = read(p[0], buf, sizeof buf)) > 0) {
			for (ssize_t i = 0; i < k; i++)
				sum = sum * 31 + buf[i];
			total += (size_t)k;
		}
		close(p[0]);
		pipe_ok = k == 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	KTAP_CHECK(pipe_ok && total == PIPE_BYTES && sum == want, "pipe_64k_checksum",
		   "read %zu bytes, checksum %s", total, sum == want ? "ok" : "wrong");

	/* 3. vfork + _exit: the child shares the parent's memory and the parent waits for it. */
	vfork_var = 0;
	pid = vfork();
	if (pid == 0) {
		vfork_var = 42;
		_exit(42);
	}
	int seen = vfork_var;
	w = waitpid(pid, &st, 0);
	KTAP_CHECK(pid > 0 && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 42 && seen == 42,
		   "vfork_exit", "status %#x, shared write %s", st, seen == 42 ? "seen" : "not seen");

	/* 4. A child killed by SIGSEGV (a write to NULL). */
	pid = fork();
	if (pid == 0) {
		no_core();
		int *volatile null = NULL;
		*(volatile int *)null = 1; /* volatile store: not removable before _exit */
		_exit(0);
	}
	w = waitpid(pid, &st, 0);
	KTAP_CHECK(w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child_killed_by_sigsegv",
		   "status %#x", st);

	/* 5. A child killed by SIGTERM from the parent while it waits in pause(). */
	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	int k_ok = kill(pid, SIGTERM) == 0;
	w = waitpid(pid, &st, 0);
	KTAP_CHECK(k_ok && w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "kill_child_sigterm",
		   "status %#x", st);

	/* 6. waitpid(-1) collects several children, each once, then ECHILD. */
	enum { NKIDS = 5 };
	pid_t kids[NKIDS];
	for (int i = 0; i < NKIDS; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(10 + i);
	}
	int found[NKIDS] = {0}, reaped_ok = 1;
	for (int i = 0; i < NKIDS; i++) {
		w = waitpid(-1, &st, 0);
		int match = 0;
		for (int j = 0; j < NKIDS; j++)
			if (w == kids[j] && WIFEXITED(st) && WEXITSTATUS(st) == 10 + j && !found[j])
				found[j] = match = 1;
		reaped_ok &= match;
	}
	errno = 0;
	reaped_ok &= waitpid(-1, &st, 0) == -1 && errno == ECHILD;
	KTAP_CHECK(reaped_ok, "waitpid_any_several", "children not reaped exactly once");

	/* 7. fork is copy-on-write: the child's write stays in the child. */
	cow_var = 1;
	pid = fork();
	if (pid == 0) {
		cow_var = 2;
		_exit(cow_var == 2 ? 0 : 1);
	}
	w = waitpid(pid, &st, 0);
	KTAP_CHECK(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 && cow_var == 1, "fork_cow_private",
		   "parent sees %d", cow_var);

	/* 8. getppid in the child is the parent's pid; the child's pid is new. */
	pid = fork();
	if (pid == 0)
		_exit(getppid() == me && getpid() != me ? 0 : 1);
	w = waitpid(pid, &st, 0);
	KTAP_CHECK(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child_getppid", "status %#x", st);

	/* 9. wait4 with WNOHANG on a running child returns 0; the SIGCHLD default is ignore. */
	int go[2];
	int nh_ok = pipe(go) == 0;
	pid = fork();
	if (pid == 0) {
		char c;
		close(go[1]);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 1); /* until the parent closes its end */
	}
	close(go[0]);
	nh_ok = nh_ok && wait4(pid, &st, WNOHANG, NULL) == 0;
	close(go[1]);
	w = wait4(pid, &st, 0, NULL);
	KTAP_CHECK(nh_ok && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait4_wnohang",
		   "status %#x", st);

	/* 10. waitid(P_PID, WEXITED) reports CLD_EXITED with the status and pid. */
	pid = fork();
	if (pid == 0)
		_exit(3);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int wi = waitid(P_PID, (id_t)pid, &si, WEXITED);
	KTAP_CHECK(wi == 0 && si.si_signo == SIGCHLD && si.si_code == CLD_EXITED && si.si_status == 3 &&
			   si.si_pid == pid,
		   "waitid_exited", "waitid %d code %d status %d", wi, si.si_code, si.si_status);

	return ktap_finish();
}
