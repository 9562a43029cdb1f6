/* jobctl: job control as shells use it — process groups and sessions, stop signals, SIGCONT,
 * and what the parent's wait and SIGCHLD report of them.
 *
 * Each case forks its own children and checks what a missing or wrong rule would change: a
 * child that keeps running (its pipe keeps filling) when it should be stopped, a wait status,
 * a siginfo's si_code/si_status, an errno, or how a child ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR) {
	}
}

/* A child that writes one byte to `fd` every millisecond until killed (it shows whether it
 * runs). With `threads`, a second thread writes too, and the main thread only sleeps. */
static void *writer_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	for (;;) {
		if (write(fd, "t", 1) < 0 && errno != EAGAIN)
			_exit(3);
		msleep(1);
	}
	return NULL;
}

static pid_t fork_writer(int fd_w, int fd_r, int threads)
{
	pid_t pid = fork();
	if (pid == 0) {
		close(fd_r);
		if (threads) {
			pthread_t t;
			if (pthread_create(&t, NULL, writer_thread, (void *)(intptr_t)fd_w))
				_exit(4);
			for (;;)
				pause();
		}
		writer_thread((void *)(intptr_t)fd_w);
	}
	return pid;
}

/* Reads what is in the non-blocking pipe; returns the byte count. */
static long drain(int fd)
{
	char buf[4096];
	long n = 0;
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0)
		n += r;
	return n;
}

/* Waits up to `ms` for the pipe to become readable. */
static int readable_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* SIGSTOP stops the child (its pipe stays empty), WUNTRACED reports it once; SIGCONT resumes
 * it, WCONTINUED reports that once. */
static void stop_and_continue(int threads, const char *name_stop, const char *name_quiet,
			      const char *name_cont, const char *name_runs)
{
	int p[2];
	if (pipe2(p, O_NONBLOCK)) {
		ktap_result(0, name_stop);
		return;
	}
	pid_t pid = fork_writer(p[1], p[0], threads);
	close(p[1]);
	readable_within(p[0], 10000);
	kill(pid, SIGSTOP);
	int st = 0;
	pid_t w = waitpid(pid, &st, WUNTRACED);
	KTAP_CHECK(w == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, name_stop,
		   "waitpid %d status %#x errno %d", (int)w, st, errno);
	drain(p[0]);
	msleep(100);
	long n = drain(p[0]);
	pid_t again = waitpid(pid, &st, WUNTRACED | WNOHANG);
	KTAP_CHECK(n == 0 && again == 0, name_quiet, "%ld bytes written while stopped; second wait %d",
		   n, (int)again);
	kill(pid, SIGCONT);
	w = waitpid(pid, &st, WCONTINUED);
	again = waitpid(pid, &st, WCONTINUED | WNOHANG);
	KTAP_CHECK(w == pid && WIFCONTINUED(st) && again == 0, name_cont,
		   "waitpid %d status %#x, second %d", (int)w, st, (int)again);
	KTAP_CHECK(readable_within(p[0], 10000), name_runs, "no byte within 10 s of SIGCONT");
	reap(pid);
	close(p[0]);
}

static volatile sig_atomic_t chld_codes[8], chld_status[8], chld_n;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
	if (chld_n < 8) {
		chld_codes[chld_n] = si->si_code;
		chld_status[chld_n] = si->si_status;
		chld_n++;
	}
}

/* SIGCHLD: CLD_STOPPED with si_status the stop signal, CLD_CONTINUED with SIGCONT; none of
 * them under SA_NOCLDSTOP. */
static void sigchld_reports(int nocldstop, const char *name)
{
	struct sigaction sa = {.sa_sigaction = on_chld, .sa_flags = SA_SIGINFO | SA_RESTART};
	if (nocldstop)
		sa.sa_flags |= SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	chld_n = 0;
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	kill(pid, SIGSTOP);
	int st;
	waitpid(pid, &st, WUNTRACED);
	kill(pid, SIGCONT);
	waitpid(pid, &st, WCONTINUED);
	/* Linux sends CLD_CONTINUED from the continued child once it runs: give a loaded
	 * machine time. */
	for (int i = 0; i < 1000 && chld_n < (nocldstop ? 0 : 2); i++)
		msleep(10);
	msleep(50);
	int n = chld_n;
	if (nocldstop)
		KTAP_CHECK(n == 0, name, "%d SIGCHLDs under SA_NOCLDSTOP (first code %d)", n,
			   (int)chld_codes[0]);
	else
		KTAP_CHECK(n == 2 && chld_codes[0] == CLD_STOPPED && chld_status[0] == SIGSTOP &&
				   chld_codes[1] == CLD_CONTINUED && chld_status[1] == SIGCONT,
			   name, "%d SIGCHLDs: code %d status %d, code %d status %d", n,
			   (int)chld_codes[0], (int)chld_status[0], (int)chld_codes[1],
			   (int)chld_status[1]);
	reap(pid);
	signal(SIGCHLD, SIG_DFL);
}

/* waitid: WSTOPPED gives CLD_STOPPED, WNOWAIT leaves it to be waited for again, WCONTINUED
 * gives CLD_CONTINUED with si_status SIGCONT. */
static void waitid_stopped_continued(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	kill(pid, SIGSTOP);
	siginfo_t a = {0}, b = {0}, c = {0}, d = {0};
	int ra = waitid(P_PID, pid, &a, WSTOPPED | WNOWAIT);
	int rb = waitid(P_PID, pid, &b, WSTOPPED);
	int rc = waitid(P_PID, pid, &c, WSTOPPED | WNOHANG);
	KTAP_CHECK(ra == 0 && a.si_code == CLD_STOPPED && a.si_status == SIGSTOP && a.si_pid == pid &&
			   rb == 0 && b.si_code == CLD_STOPPED && rc == 0 && c.si_pid == 0,
		   "waitid_wstopped_wnowait",
		   "%d code %d status %d pid %d; %d code %d; %d pid %d", ra, a.si_code, a.si_status,
		   (int)a.si_pid, rb, b.si_code, rc, (int)c.si_pid);
	kill(pid, SIGCONT);
	int rd = waitid(P_PID, pid, &d, WCONTINUED);
	KTAP_CHECK(rd == 0 && d.si_code == CLD_CONTINUED && d.si_status == SIGCONT,
		   "waitid_wcontinued", "%d code %d status %d", rd, d.si_code, d.si_status);
	reap(pid);
}

/* A stop interrupts a blocking read; after SIGCONT the read restarts (no handler runs, so no
 * EINTR) and returns the byte written later. */
static void stop_restarts_read(void)
{
	int in[2];
	if (pipe(in)) {
		ktap_result(0, "stop_restarts_blocking_read");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(in[1]);
		char c;
		ssize_t r = read(in[0], &c, 1);
		_exit(r == 1 ? c : 100 + (r < 0 ? errno : 0));
	}
	close(in[0]);
	/* A child that ended early makes the write fail (EPIPE), not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	msleep(50);
	kill(pid, SIGSTOP);
	int st;
	waitpid(pid, &st, WUNTRACED);
	kill(pid, SIGCONT);
	msleep(50);
	if (write(in[1], "\x2a", 1) != 1)
		st = -1;
	waitpid(pid, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0x2a, "stop_restarts_blocking_read",
		   "status %#x", st);
	signal(SIGPIPE, SIG_DFL);
	close(in[1]);
}

/* SIGKILL ends a stopped child; SIGTERM (default action) is held until SIGCONT. */
static void kill_stopped(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	int st;
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	kill(pid, SIGKILL);
	pid_t w = waitpid(pid, &st, 0);
	KTAP_CHECK(w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "sigkill_ends_stopped",
		   "status %#x", st);

	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	kill(pid, SIGTERM);
	msleep(100);
	pid_t early = waitpid(pid, &st, WNOHANG);
	kill(pid, SIGCONT);
	w = waitpid(pid, &st, 0);
	KTAP_CHECK(early == 0 && w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
		   "sigterm_waits_for_sigcont", "early %d, status %#x", (int)early, st);
}

/* A SIGCONT handler runs in the continued child. */
static volatile sig_atomic_t got_cont;
static void on_cont(int sig)
{
	got_cont = 1;
}

/* Whether `pid` sleeps in syscall `nr` (/proc/PID/syscall's first field); -1 if the file
 * cannot be read (then the caller gives it time instead). */
static int sleeps_in(pid_t pid, long nr)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10) == nr;
}

/* waitpid(pid) for at most `ms` milliseconds: 0 if the child did not end by then. */
static pid_t wait_ms(pid_t pid, int *st, int ms)
{
	for (int i = 0; i < ms; i++) {
		pid_t w = waitpid(pid, st, WNOHANG);
		if (w != 0)
			return w;
		msleep(1);
	}
	return 0;
}

/* A child stopped inside pause() whose SIGCONT has a handler: the handler runs and pause
 * returns EINTR. The kernel must not let the continued child look for signals before the
 * SIGCONT is queued: it would restart pause and run the handler on the restarted call, which
 * then sleeps for ever. That window is narrow, so the case is repeated; the child is stopped
 * only once /proc shows it asleep in pause (stopped just before its pause, a correct kernel
 * hangs it too: the handler runs first). */
#define SIGCONT_ROUNDS 40
static void sigcont_handler_runs(void)
{
	int bad = 0, round, st = 0;
	for (round = 0; round < SIGCONT_ROUNDS && !bad; round++) {
		int p[2];
		if (pipe(p)) {
			bad = 1;
			break;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			signal(SIGCONT, on_cont);
			if (write(p[1], "r", 1) != 1)
				_exit(5);
			while (!got_cont)
				pause();
			_exit(9);
		}
		close(p[1]);
		char c;
		if (read(p[0], &c, 1) != 1)
			c = 0;
		close(p[0]);
		int in_pause = 0;
		for (int i = 0; i < 2000 && in_pause == 0; i++) {
			in_pause = sleeps_in(pid, SYS_pause);
			if (in_pause == 0)
				msleep(1);
		}
		if (in_pause < 0)
			msleep(20);
		kill(pid, SIGSTOP);
		waitpid(pid, &st, WUNTRACED);
		kill(pid, SIGCONT);
		if (wait_ms(pid, &st, 5000) != pid) {
			reap(pid);
			st = -1;
		}
		bad = !(WIFEXITED(st) && WEXITSTATUS(st) == 9);
	}
	KTAP_CHECK(!bad, "sigcont_handler_runs",
		   "round %d: status %#x (-1: still in pause 5 s after SIGCONT)", round, st);
}

/* SIGTSTP stops a child in a group that is not orphaned (its parent's group differs, same
 * session), and is discarded in an orphaned one (a new session's). */
static void tstp_orphaned(void)
{
	int st;
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(pid, pid);
	kill(pid, SIGTSTP);
	pid_t w = waitpid(pid, &st, WUNTRACED);
	KTAP_CHECK(w == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTSTP, "sigtstp_stops_job",
		   "waitpid %d status %#x", (int)w, st);
	reap(pid);

	int p[2];
	if (pipe(p)) {
		ktap_result(0, "sigtstp_orphaned_discarded");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		pid_t sid = setsid();
		if (write(p[1], "s", 1) != 1)
			_exit(5);
		for (;;)
			pause();
		_exit(sid < 0);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1)
		c = 0;
	kill(pid, SIGTSTP);
	msleep(100);
	w = waitpid(pid, &st, WUNTRACED | WNOHANG);
	KTAP_CHECK(w == 0, "sigtstp_orphaned_discarded", "waitpid %d status %#x", (int)w, st);
	reap(pid);
	close(p[0]);
}

/* Groups: setpgid/setsid rules, kill(-pgrp), kill(0), waitpid(-pgrp). */
static void groups(void)
{
	/* A group leader may not start a session. */
	pid_t leader = fork();
	if (leader == 0) {
		if (setpgid(0, 0))
			_exit(2);
		pid_t s = setsid();
		_exit(s == -1 && errno == EPERM ? 0 : 1);
	}
	int lst;
	waitpid(leader, &lst, 0);
	KTAP_CHECK(WIFEXITED(lst) && WEXITSTATUS(lst) == 0, "setsid_group_leader_eperm",
		   "child status %#x", lst);

	int p[2];
	if (pipe(p)) {
		ktap_result(0, "setsid_child");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		pid_t sid = setsid();
		int ok = sid == getpid() && getsid(0) == sid && getpgrp() == sid;
		/* A session leader cannot move to another group. */
		int r = setpgid(0, getppid());
		ok = ok && r == -1 && errno == EPERM;
		if (write(p[1], &ok, sizeof ok) != sizeof ok)
			_exit(5);
		for (;;)
			pause();
	}
	close(p[1]);
	int ok = 0;
	if (read(p[0], &ok, sizeof ok) != sizeof ok)
		ok = 0;
	close(p[0]);
	KTAP_CHECK(ok, "setsid_child", "the child's setsid/getsid/getpgrp/setpgid checks failed");
	/* A child in another session cannot be moved (EPERM). */
	int r = setpgid(pid, pid);
	int err = errno;
	KTAP_CHECK(r == -1 && err == EPERM, "setpgid_other_session_eperm", "%d errno %d", r, err);
	reap(pid);

	/* Two children in a new group G led by the first; kill(-G) reaches both, waitpid(-G)
	 * reaps only them. */
	pid_t a = fork();
	if (a == 0) {
		for (;;)
			pause();
	}
	pid_t b = fork();
	if (b == 0) {
		for (;;)
			pause();
	}
	pid_t other = fork();
	if (other == 0) {
		for (;;)
			pause();
	}
	int ra = setpgid(a, a), rb = setpgid(b, a);
	r = setpgid(other, 999999);
	err = errno;
	KTAP_CHECK(ra == 0 && rb == 0 && getpgid(a) == a && getpgid(b) == a && r == -1 && err == EPERM,
		   "setpgid_new_group", "%d %d pgid %d %d; missing group %d errno %d", ra, rb,
		   (int)getpgid(a), (int)getpgid(b), r, err);
	int k = kill(-a, SIGTERM);
	int sa, sb;
	pid_t w1 = waitpid(-a, &sa, 0), w2 = waitpid(-a, &sb, 0);
	pid_t w3 = waitpid(-a, NULL, WNOHANG);
	int e3 = errno;
	KTAP_CHECK(k == 0 && ((w1 == a && w2 == b) || (w1 == b && w2 == a)) && WIFSIGNALED(sa) &&
			   WTERMSIG(sa) == SIGTERM && WIFSIGNALED(sb) && w3 == -1 && e3 == ECHILD,
		   "kill_and_wait_group", "kill %d, waits %d %d %d errno %d", k, (int)w1, (int)w2,
		   (int)w3, e3);
	int none = kill(-a, 0);
	err = errno;
	KTAP_CHECK(none == -1 && err == ESRCH, "kill_empty_group_esrch", "%d errno %d", none, err);
	/* `other` stays in our group: waitpid(0) finds it, kill(0, 0) reaches our group. */
	KTAP_CHECK(kill(0, 0) == 0 && getpgid(other) == getpgrp(), "kill_own_group",
		   "pgid %d ours %d", (int)getpgid(other), (int)getpgrp());
	kill(other, SIGKILL);
	pid_t w0 = waitpid(0, NULL, 0);
	KTAP_CHECK(w0 == other, "waitpid_own_group", "%d", (int)w0);
	/* No longer a child of ours. */
	r = setpgid(other, other);
	err = errno;
	KTAP_CHECK(r == -1 && err == ESRCH, "setpgid_not_child_esrch", "%d errno %d", r, err);
}

/* A process whose exit orphans a group with a stopped member: the member gets SIGHUP and
 * SIGCONT (and SIGHUP's default action ends it). */
static void orphaned_on_exit(void)
{
	int p[2];
	if (pipe(p)) {
		ktap_result(0, "orphaned_stopped_job_hup");
		return;
	}
	pid_t mid = fork();
	if (mid == 0) {
		close(p[0]);
		pid_t job = fork();
		if (job == 0) {
			setpgid(0, 0);
			raise(SIGSTOP);
			/* Only a SIGCONT without SIGHUP gets here. */
			_exit(0);
		}
		close(p[1]);
		setpgid(job, job);
		int st;
		waitpid(job, &st, WUNTRACED);
		_exit(WIFSTOPPED(st) ? 0 : 1);
	}
	close(p[1]);
	int st;
	waitpid(mid, &st, 0);
	/* The job holds the pipe's write end: EOF once it has ended. */
	int ended = readable_within(p[0], 10000);
	char c;
	ssize_t r = ended ? read(p[0], &c, 1) : -1;
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && r == 0, "orphaned_stopped_job_hup",
		   "middle status %#x, job ended %d (read %d)", st, ended, (int)r);
	close(p[0]);
}

int main(void)
{
	ktap_plan(28);
	stop_and_continue(0, "sigstop_wuntraced", "stopped_child_quiet", "sigcont_wcontinued",
			  "continued_child_runs");
	stop_and_continue(1, "threads_sigstop_wuntraced", "threads_stopped_quiet",
			  "threads_sigcont_wcontinued", "threads_continued_run");
	sigchld_reports(0, "sigchld_cld_stopped_continued");
	sigchld_reports(1, "sa_nocldstop_no_sigchld");
	waitid_stopped_continued();
	stop_restarts_read();
	kill_stopped();
	sigcont_handler_runs();
	tstp_orphaned();
	groups();
	orphaned_on_exit();
	return ktap_finish();
}
