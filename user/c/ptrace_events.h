/* ptrace.c's cases of events and attachment: fork, exec and exit events, PTRACE_ATTACH,
 * SEIZE and INTERRUPT, waitid, clone and vfork events with the ends of traced threads, the
 * group stop with LISTEN (and SIGCONT's re-trap), SEIZE of a stopped process, EXITKILL. Included by ptrace.c only (static functions).
 */
#ifndef PTRACE_EVENTS_H
#define PTRACE_EVENTS_H

#include "ptrace.h"

static int body_forks(void)
{
	pid_t c = fork();
	if (c == 0)
		_exit(5);
	int st;
	return waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 1;
}

static void trace_fork(void)
{
	pid_t pid;
	unsigned long child;
	int st = start_to_event(body_forks, PTRACE_O_TRACEFORK, &pid, &child);
	int ok = WIFSTOPPED(st) && st >> 8 == (SIGTRAP | PTRACE_EVENT_FORK << 8) && child > 0;
	int cst = -1;
	if (child > 0)
		waitpid(child, &cst, __WALL);
	ok &= WIFSTOPPED(cst) && WSTOPSIG(cst) == SIGSTOP;
	int cend = step(child, PTRACE_CONT, 0);
	ok &= WIFEXITED(cend) && WEXITSTATUS(cend) == 5;
	KTAP_CHECK(ok && exited_0(finish(pid)), "trace_fork",
		   "status %#x child %lu child status %#x end %#x", st, child, cst, cend);
}

static const char *self_path;

static int body_execs(void)
{
	char *argv[] = {(char *)self_path, "exit0", 0};
	execv(self_path, argv);
	return 1;
}

static void trace_exec(void)
{
	pid_t pid;
	unsigned long former;
	int st = start_to_event(body_execs, PTRACE_O_TRACEEXEC, &pid, &former);
	int ok = st >> 8 == (SIGTRAP | PTRACE_EVENT_EXEC << 8) && former == (unsigned long)pid;
	ok &= exited_0(finish(pid));
	pid = start_traced(body_execs);
	st = step(pid, PTRACE_CONT, 0);
	ok &= WIFSTOPPED(st) && st >> 8 == SIGTRAP;
	KTAP_CHECK(ok && exited_0(finish(pid)), "trace_exec", "status %#x former %lu", st, former);
}

static int body_exit3(void)
{
	return 3;
}

static void trace_exit(void)
{
	pid_t pid;
	unsigned long msg;
	int st = start_to_event(body_exit3, PTRACE_O_TRACEEXIT, &pid, &msg);
	int end = step(pid, PTRACE_CONT, 0);
	int ok = st >> 8 == (SIGTRAP | PTRACE_EVENT_EXIT << 8) && msg == 3 << 8 && WIFEXITED(end) &&
		 WEXITSTATUS(end) == 3;
	KTAP_CHECK(ok, "trace_exit", "status %#x msg %#lx end %#x", st, msg, end);
}

static void attach_detach(void)
{
	int p[2];
	if (pipe(p) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	int st = -1;
	long a = ptrace(PTRACE_ATTACH, pid, 0, 0);
	waitpid(pid, &st, 0);
	long again = ptrace(PTRACE_ATTACH, pid, 0, 0);
	int again_errno = errno;
	long d = ptrace(PTRACE_DETACH, pid, 0, 0);
	int early = 0;
	pid_t gone = waitpid(pid, &early, WNOHANG);
	if (gone != 0)
		printf("# attach_detach: the child ended early: %d status %#x (stop %#x)\n", gone,
		       early, st);
	signal(SIGPIPE, SIG_IGN);
	(void)!write(p[1], "x", 1);
	int end = early;
	if (gone == 0)
		waitpid(pid, &end, 0);
	KTAP_CHECK(a == 0 && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && again == -1 &&
			   again_errno == EPERM && d == 0 && exited_0(end),
		   "attach_detach", "attach %ld st %#x again %ld detach %ld end %#x", a, st, again,
		   d, end);
}

static void seize_interrupt(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	long s = ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD);
	long i = ptrace(PTRACE_INTERRUPT, pid, 0, 0);
	int st = -1;
	waitpid(pid, &st, 0);
	long k = ptrace(PTRACE_KILL, pid, 0, 0);
	int end = -1;
	waitpid(pid, &end, 0);
	KTAP_CHECK(s == 0 && i == 0 && st >> 8 == (SIGTRAP | PTRACE_EVENT_STOP << 8) && k == 0 &&
			   WIFSIGNALED(end) && WTERMSIG(end) == SIGKILL,
		   "seize_interrupt", "seize %ld int %ld st %#x kill %ld end %#x", s, i, st, k, end);
}

static void waitid_trapped(void)
{
	pid_t pid = start_traced(body_getppid);
	if (ptrace(PTRACE_SYSCALL, pid, 0, 0) != 0)
		return;
	siginfo_t si = {0};
	long w = waitid(P_PID, pid, &si, WSTOPPED);
	KTAP_CHECK(w == 0 && si.si_code == CLD_TRAPPED && si.si_pid == pid && si.si_status == SIGTRAP &&
			   exited_0(finish(pid)),
		   "waitid_trapped", "w %ld code %d status %d", w, si.si_code, si.si_status);
}

static void *thread_body(void *arg)
{
	(void)arg;
	return (void *)7;
}

static int body_thread(void)
{
	pthread_t t;
	void *r = 0;
	if (pthread_create(&t, 0, thread_body, 0) != 0)
		return 1;
	pthread_join(t, &r);
	return r == (void *)7 ? 0 : 2;
}

/* Starts `body` traced with TRACECLONE, up to its thread's first stop: the tracee's
 * PTRACE_EVENT_CLONE (GETEVENTMSG: the new tid) and the new thread's SIGSTOP, waited for by
 * its tid. Returns whether both were as Linux reports them; *tid is the thread's id. */
static int start_traced_thread(int (*body)(void), pid_t *pid, unsigned long *tid)
{
	int st = start_to_event(body, PTRACE_O_TRACECLONE, pid, tid);
	int tst = -1;
	if (*tid)
		waitpid(*tid, &tst, __WALL);
	int ok = st >> 8 == (SIGTRAP | PTRACE_EVENT_CLONE << 8) && *tid > (unsigned long)*pid &&
		 WIFSTOPPED(tst) && WSTOPSIG(tst) == SIGSTOP;
	if (!ok)
		printf("# clone event: status %#x tid %lu thread status %#x\n", st, *tid, tst);
	return ok;
}

/* Lets the process and its traced thread run to their ends, resuming every stop. Returns
 * whether the thread's own end (exit status 0) was reported, and before the process's (Linux
 * delays a process's end until its tracer has reaped its traced threads); *end is the
 * process's wait status. */
static int thread_then_process_end(pid_t pid, unsigned long tid, int *end)
{
	int tend = -1, order_ok = 1;
	*end = -1;
	ptrace(PTRACE_CONT, tid, 0, 0);
	ptrace(PTRACE_CONT, pid, 0, 0);
	while (*end == -1) {
		int s;
		pid_t w = waitpid(-1, &s, __WALL);
		if (w == (pid_t)tid && !WIFSTOPPED(s))
			tend = s;
		else if (w > 0 && WIFSTOPPED(s))
			ptrace(PTRACE_CONT, w, 0, 0);
		else if (w == pid) {
			*end = s;
			order_ok = tend != -1;
		} else
			break;
	}
	if (!(order_ok && WIFEXITED(tend) && WEXITSTATUS(tend) == 0))
		printf("# thread end %#x, before the process's: %d\n", tend, order_ok);
	return order_ok && WIFEXITED(tend) && WEXITSTATUS(tend) == 0;
}

static void trace_clone(void)
{
	pid_t pid;
	unsigned long tid;
	int end;
	/* The thread may wait for its creator inside pthread_create (musl's does): both run. */
	int ok = start_traced_thread(body_thread, &pid, &tid);
	ok &= thread_then_process_end(pid, tid, &end);
	KTAP_CHECK(ok && exited_0(end), "trace_clone", "end %#x", end);
}

static void *late_thread_body(void *arg)
{
	(void)arg;
	/* Ends after the leader (which does not wait for it), as a bare thread exit: the
	 * process's last thread, but not its leader. */
	usleep(100000);
	syscall(SYS_exit, 0);
	return 0;
}

static int body_leader_exits_first(void)
{
	pthread_t t;
	if (pthread_create(&t, 0, late_thread_body, 0) != 0)
		return 1;
	/* The leader alone: a bare exit, not exit_group. */
	syscall(SYS_exit, 0);
	return 2;
}

static void trace_clone_leader_first(void)
{
	pid_t pid;
	unsigned long tid;
	int end;
	/* The leader ends first; the tracer is its parent, so its end is the process's, reported
	 * once, after the thread's own end (which the last thread reports like any other). */
	int ok = start_traced_thread(body_leader_exits_first, &pid, &tid);
	ok &= thread_then_process_end(pid, tid, &end);
	KTAP_CHECK(ok && exited_0(end), "trace_clone_leader_first", "end %#x", end);
}

static int body_vforks(void)
{
	pid_t c = vfork();
	if (c == 0)
		_exit(4);
	int st;
	return waitpid(c, &st, 0) == c && WEXITSTATUS(st) == 4 ? 0 : 1;
}

static void trace_vfork(void)
{
	pid_t pid;
	unsigned long child;
	int st = start_to_event(body_vforks, PTRACE_O_TRACEVFORK | PTRACE_O_TRACEVFORKDONE, &pid,
				&child);
	int ok = st >> 8 == (SIGTRAP | PTRACE_EVENT_VFORK << 8) && child > 0;
	int cst = -1;
	if (child)
		waitpid(child, &cst, __WALL);
	int cend = step(child, PTRACE_CONT, 0);
	ok &= WSTOPSIG(cst) == SIGSTOP && WIFEXITED(cend) && WEXITSTATUS(cend) == 4;
	int done = step(pid, PTRACE_CONT, 0);
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
	ok &= done >> 8 == (SIGTRAP | PTRACE_EVENT_VFORK_DONE << 8) && msg == child;
	KTAP_CHECK(ok && exited_0(finish(pid)), "trace_vfork",
		   "status %#x child %lu cst %#x cend %#x done %#x", st, child, cst, cend, done);
}

static void group_stop_listen(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	ptrace(PTRACE_SEIZE, pid, 0, 0);
	kill(pid, SIGSTOP);
	int st = -1, st2 = -1;
	waitpid(pid, &st, 0); /* the signal-delivery stop */
	ptrace(PTRACE_CONT, pid, 0, SIGSTOP);
	waitpid(pid, &st2, 0); /* the group stop */
	siginfo_t si = {0};
	long g = ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
	long l = ptrace(PTRACE_LISTEN, pid, 0, 0);
	int again = 0;
	long nohang = waitpid(pid, &again, WNOHANG);
	long i = ptrace(PTRACE_INTERRUPT, pid, 0, 0);
	int st3 = -1;
	waitpid(pid, &st3, 0);
	kill(pid, SIGKILL);
	int end = -1;
	waitpid(pid, &end, 0);
	int ok = st == 0x137f && st2 >> 8 == (SIGSTOP | PTRACE_EVENT_STOP << 8) && g == 0 &&
		 si.si_signo == SIGSTOP && l == 0 && nohang == 0 && i == 0 &&
		 st3 >> 8 == (SIGSTOP | PTRACE_EVENT_STOP << 8) && WIFSIGNALED(end);
	KTAP_CHECK(ok, "group_stop_listen",
		   "st %#x st2 %#x getsiginfo %ld signo %d listen %ld nohang %ld int %ld st3 %#x",
		   st, st2, g, si.si_signo, l, nohang, i, st3);
}

/* waitpid for `pid` for at most 5 s (WNOHANG polls): 0 when nothing came, so a missing stop
 * is a failed case, not a hung test. */
static pid_t wait_within(pid_t pid, int *st)
{
	for (int i = 0; i < 500; i++) {
		pid_t w = waitpid(pid, st, WNOHANG | __WALL);
		if (w != 0)
			return w;
		usleep(10000);
	}
	return 0;
}

/* A LISTENed tracee in a group stop: SIGCONT ends the group stop and the tracee traps again,
 * PTRACE_EVENT_STOP with SIGTRAP (Linux's ptrace_trap_notify). */
static void listen_sigcont_retraps(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	ptrace(PTRACE_SEIZE, pid, 0, 0);
	kill(pid, SIGSTOP);
	int st = -1, st2 = -1, st3 = -1;
	waitpid(pid, &st, 0);
	ptrace(PTRACE_CONT, pid, 0, SIGSTOP);
	waitpid(pid, &st2, 0);
	long l = ptrace(PTRACE_LISTEN, pid, 0, 0);
	kill(pid, SIGCONT);
	pid_t w = wait_within(pid, &st3);
	kill(pid, SIGKILL);
	int end = -1;
	waitpid(pid, &end, 0);
	int ok = st2 >> 8 == (SIGSTOP | PTRACE_EVENT_STOP << 8) && l == 0 && w == pid &&
		 st3 >> 8 == (SIGTRAP | PTRACE_EVENT_STOP << 8) && WIFSIGNALED(end);
	KTAP_CHECK(ok, "listen_sigcont_retraps", "st2 %#x listen %ld wait %d st3 %#x", st2, l,
		   (int)w, st3);
}

/* PTRACE_SEIZE of a process stopped by job control: it traps for the tracer at once,
 * PTRACE_EVENT_STOP with the stop signal; PTRACE_CONT runs it although its group is stopped. */
static void seize_stopped(void)
{
	int p[2];
	if (pipe(p)) {
		ktap_result(0, "seize_stopped");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		for (;;) {
			if (write(p[1], "x", 1) != 1)
				_exit(3);
			usleep(1000);
		}
	}
	close(p[1]);
	char c;
	int got = read(p[0], &c, 1) == 1;
	kill(pid, SIGSTOP);
	int st = -1, st2 = -1;
	waitpid(pid, &st, WUNTRACED);
	long s = ptrace(PTRACE_SEIZE, pid, 0, 0);
	wait_within(pid, &st2);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while (read(p[0], &c, 1) == 1) {
	}
	long k = ptrace(PTRACE_CONT, pid, 0, 0);
	fcntl(p[0], F_SETFL, 0);
	/* Only a resumed child writes: without the trap, CONT fails and nothing is read. */
	int runs = k == 0 && read(p[0], &c, 1) == 1;
	kill(pid, SIGKILL);
	int end = -1;
	waitpid(pid, &end, 0);
	int ok = got && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && s == 0 &&
		 st2 >> 8 == (SIGSTOP | PTRACE_EVENT_STOP << 8) && k == 0 && runs && WIFSIGNALED(end);
	KTAP_CHECK(ok, "seize_stopped", "st %#x seize %ld st2 %#x cont %ld runs %d", st, s, st2, k,
		   runs);
	close(p[0]);
}

static void exitkill(void)
{
	pid_t tracee = fork();
	if (tracee == 0) {
		for (;;)
			pause();
	}
	pid_t middle = fork();
	if (middle == 0)
		_exit(ptrace(PTRACE_SEIZE, tracee, 0, PTRACE_O_EXITKILL) == 0 ? 0 : 1);
	int mst, tst;
	waitpid(middle, &mst, 0);
	waitpid(tracee, &tst, 0);
	KTAP_CHECK(exited_0(mst) && WIFSIGNALED(tst) && WTERMSIG(tst) == SIGKILL, "exitkill",
		   "middle %#x tracee %#x", mst, tst);
}

#endif
