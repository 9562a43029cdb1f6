/* pidns: PID namespaces and the minimal user namespaces (Linux's kernel/pid_namespace.c,
 * kernel/user_namespace.c), each case in a forked child so that the test itself stays in the
 * namespaces it started in.
 *  - unshare(CLONE_NEWPID): the caller keeps its pid; its next child is pid 1 of the new
 *    namespace with getppid 0, and the caller's fork and wait see that child by its outer pid;
 *    a second unshare(CLONE_NEWPID) before entering is EINVAL; clone(CLONE_NEWPID) too;
 *  - inside: the second process is pid 2; wait4's pid, waitid's si_pid and SIGCHLD's si_pid are
 *    the namespace's numbers; kill inside gives si_pid 1 (its init), kill from outside si_pid
 *    0; an outer pid is ESRCH inside;
 *  - an orphan inside goes to the namespace's init (getppid 1), which reaps it;
 *  - the init's waitpid with a SIGCHLD handler (no SA_RESTART) returns each child, never EINTR
 *    for that child's own exit signal (300 rounds);
 *  - the init's end kills everything in the namespace (a pipe held by a sleeper there reads
 *    EOF once the init is waited for), and forking into the dead namespace is ENOMEM;
 *  - the init ignores signals it has no handler for, sent from inside (SIGKILL too) or from
 *    outside (SIGTERM), but not SIGKILL from outside;
 *  - a thread cannot be made while the caller's children go to another namespace;
 *  - user namespaces: unshare(CLONE_NEWUSER) works (not from a threaded process: EINVAL);
 *    uid 65534 until uid_map is written, the map written once (EPERM after), gid_map from
 *    inside only after setgroups "deny"; CLONE_NEWPID allowed inside;
 *  - seccomp user notification: RECV reports the target's pid in the receiver's namespace.
 * Skips come from capability probes only: /proc/sys/user/max_pid_namespaces or
 * max_user_namespaces of 0 (a host that forbids them), or no CAP_SYS_ADMIN for the PID cases
 * (a root without it, in a container).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"
#include "seccomp_abi.h"

/* <linux/seccomp.h>'s listener structs and ioctls (musl-gcc cannot see the kernel headers). */
struct notif {
	uint64_t id;
	uint32_t pid;
	uint32_t flags;
	struct seccomp_data data;
};
struct notif_resp {
	uint64_t id;
	int64_t val;
	int32_t error;
	uint32_t flags;
};
#define NEW_LISTENER 8u
#define NOTIF_IOC(nr, size) ((3ul << 30) | ((unsigned long)(size) << 16) | ('!' << 8) | (nr))
#define NOTIF_RECV NOTIF_IOC(0, sizeof(struct notif))
#define NOTIF_SEND NOTIF_IOC(1, sizeof(struct notif_resp))

#ifndef CLONE_NEWPID
#define CLONE_NEWPID 0x20000000
#endif
#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif

static const char *no_pidns, *no_userns, *no_pidns_knob;

/* A /proc/sys knob that limits namespaces: 0 means the host forbids them (absent: no limit). */
static int knob_zero(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v == 0;
}

/* CAP_SYS_ADMIN (21) in the effective set, from /proc/self/status. kentry shows every
 * capability for every process. */
static int has_sys_admin(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;
	if (!f)
		return 1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> 21) & 1;
}

static void probe(void)
{
	if (knob_zero("/proc/sys/user/max_pid_namespaces"))
		no_pidns = no_pidns_knob = "max_pid_namespaces is 0 on this host";
	else if (!has_sys_admin())
		no_pidns = "no CAP_SYS_ADMIN here";
	if (knob_zero("/proc/sys/user/max_user_namespaces"))
		no_userns = "max_user_namespaces is 0 on this host";
}

/* Runs `fn` in a forked child; returns the child's exit status, a bitmask of failed checks
 * (0: all passed), or 255 if it was killed. */
static int in_child(int (*fn)(void))
{
	pid_t c = fork();
	if (c == 0)
		_exit(fn());
	int st = 0;
	if (c < 0 || waitpid(c, &st, 0) != c)
		return 254;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* Waits for `pid` and returns its exit code, or 100 + signal, or 99. */
static int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 99;
	if (WIFSIGNALED(st))
		return 100 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* The child and grandchild report their own view: bits of failed checks. */
static int case_newpid_basics(void)
{
	int fail = 0;
	pid_t me = getpid();
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	if (getpid() != me)
		fail |= 2;
	errno = 0;
	if (unshare(CLONE_NEWPID) != -1 || errno != EINVAL)
		fail |= 4;
	int p[2];
	if (pipe(p) != 0)
		return 8;
	pid_t c = fork();
	if (c == 0) {
		int v[2] = { getpid(), getppid() };
		if (write(p[1], v, sizeof v) != sizeof v)
			_exit(1);
		_exit(0);
	}
	int v[2] = { -1, -1 };
	if (c <= 1 || read(p[0], v, sizeof v) != sizeof v)
		fail |= 16;
	if (v[0] != 1 || v[1] != 0)
		fail |= 32;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, c, &si, WEXITED) != 0 || si.si_pid != c || si.si_code != CLD_EXITED)
		fail |= 64;
	return fail;
}

static int case_clone_newpid(void)
{
	long c = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
	if (c == 0)
		_exit(getpid() == 1 && getppid() == 0 ? 0 : 1);
	if (c <= 1)
		return 1;
	return reap(c) == 0 ? 0 : 2;
}

static volatile sig_atomic_t got_pid = -1, got_sig;

static void record(int sig, siginfo_t *si, void *uc)
{
	got_pid = si->si_pid;
	got_sig = sig;
}

static void catch(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = record;
	sa.sa_flags = SA_SIGINFO;
	sigaction(sig, &sa, NULL);
}

/* Init of a new namespace: its child is 2; wait and SIGCHLD carry namespace numbers; a kill
 * inside carries si_pid 1; an outer pid is ESRCH inside. */
static int ns_init_waits(pid_t outer)
{
	int fail = 0;
	catch(SIGCHLD);
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	pid_t c = fork();
	if (c == 0)
		_exit(7);
	if (c != 2)
		fail |= 1;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, c, &si, WEXITED | WNOWAIT) != 0 || si.si_pid != 2 || si.si_status != 7)
		fail |= 2;
	int st;
	if (wait4(-1, &st, 0, NULL) != 2 || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		fail |= 4;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (got_pid != 2)
		fail |= 8;
	/* A kill from inside: si_pid is the sender's number here, 1. */
	int p[2];
	if (pipe(p) != 0)
		return fail | 16;
	c = fork();
	if (c == 0) {
		got_pid = -1;
		catch(SIGUSR1);
		close(p[0]);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		while (got_pid == -1)
			pause();
		_exit(got_pid == 1 ? 0 : 2);
	}
	char b;
	if (read(p[0], &b, 1) != 1 || kill(c, SIGUSR1) != 0 || reap(c) != 0)
		fail |= 32;
	errno = 0;
	if (kill(outer, 0) != -1 || errno != ESRCH)
		fail |= 64;
	return fail;
}

static int case_wait_and_kill_inside(void)
{
	pid_t outer = getpid();
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	pid_t c = fork();
	if (c == 0)
		_exit(ns_init_waits(outer));
	int r = reap(c);
	return r == 0 ? 0 : r << 1;
}

/* A signal from outside: the init's handler sees si_pid 0; the outside sends by the outer
 * pid. */
static int case_kill_from_outside(void)
{
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	int p[2];
	if (pipe(p) != 0)
		return 2;
	pid_t c = fork();
	if (c == 0) {
		catch(SIGUSR1);
		close(p[0]);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		while (got_pid == -1)
			pause();
		_exit(got_pid == 0 ? 0 : 3);
	}
	char b;
	if (read(p[0], &b, 1) != 1 || kill(c, SIGUSR1) != 0)
		return 4;
	int r = reap(c);
	return r == 0 ? 0 : 8 | r << 4;
}

/* The init reaps with a SIGCHLD handler installed without SA_RESTART: each waitpid returns its
 * child, never EINTR for that child's own SIGCHLD (Linux makes the zombie and sends the signal
 * under one lock). 300 rounds. */
static int case_wait_beats_sigchld(void)
{
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	pid_t init = fork();
	if (init == 0) {
		catch(SIGCHLD);
		for (int i = 0; i < 300; i++) {
			pid_t c = fork();
			if (c == 0)
				_exit(0);
			int st;
			if (waitpid(c, &st, 0) != c)
				_exit(2);
		}
		_exit(0);
	}
	int r = reap(init);
	return r == 0 ? 0 : r << 2;
}

/* An orphan inside goes to the init (getppid 1), which reaps it. */
static int ns_init_orphans(void)
{
	int p[2];
	if (pipe(p) != 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		pid_t g = fork();
		if (g == 0) {
			/* Wait (at most 5 s) for the middle one to end. */
			for (int i = 0; i < 500 && getppid() != 1; i++)
				usleep(10000);
			int pp = getppid();
			if (write(p[1], &pp, sizeof pp) != sizeof pp)
				_exit(1);
			_exit(5);
		}
		_exit(0);
	}
	close(p[1]);
	int fail = 0, pp = -1;
	if (reap(c) != 0)
		fail |= 2;
	if (read(p[0], &pp, sizeof pp) != sizeof pp || pp != 1)
		fail |= 4;
	int st;
	if (wait(&st) != 3 || !WIFEXITED(st) || WEXITSTATUS(st) != 5)
		fail |= 8;
	return fail;
}

static int case_orphan_reparent(void)
{
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	pid_t c = fork();
	if (c == 0)
		_exit(ns_init_orphans());
	int r = reap(c);
	return r == 0 ? 0 : r << 1;
}

/* The init's end: the sleeper it left in the namespace is killed before the init's end is
 * waited for (its pipe end closes), and no process enters the namespace after. */
static int case_init_death(void)
{
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	int ready[2], held[2];
	if (pipe(ready) != 0 || pipe(held) != 0)
		return 2;
	pid_t init = fork();
	if (init == 0) {
		close(held[0]);
		pid_t s = fork();
		if (s == 0) {
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		close(held[1]);
		close(ready[1]);
		/* The sleeper runs in the namespace: the init ends. */
		char b;
		_exit(read(ready[0], &b, 1) == 1 ? 0 : 1);
	}
	close(ready[0]);
	close(ready[1]);
	close(held[1]);
	int fail = 0;
	char b;
	if (reap(init) != 0)
		fail |= 8;
	/* The sleeper is gone by now: its end of `held` closed. */
	struct pollfd pf = { .fd = held[0], .events = POLLIN };
	if (poll(&pf, 1, 0) != 1 || read(held[0], &b, 1) != 0)
		fail |= 16;
	errno = 0;
	pid_t late = fork();
	if (late == 0)
		_exit(0);
	if (late != -1 || errno != ENOMEM) {
		if (late > 0)
			reap(late);
		fail |= 32;
	}
	return fail;
}

/* The init drops signals it has no handler for from inside its namespace (SIGKILL too), and
 * from outside all but SIGKILL and SIGSTOP. */
static int case_init_protected(void)
{
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	int to_init[2], from_init[2];
	if (pipe(to_init) != 0 || pipe(from_init) != 0)
		return 2;
	pid_t init = fork();
	if (init == 0) {
		close(to_init[1]);
		close(from_init[0]);
		pid_t c = fork();
		if (c == 0)
			_exit(kill(1, SIGTERM) == 0 && kill(1, SIGKILL) == 0 ? 0 : 1);
		if (reap(c) != 0)
			_exit(3);
		char b = 'a';
		for (int i = 0; i < 2; i++) {
			/* Alive after the inner signals, then after the outer SIGTERM. */
			if (write(from_init[1], &b, 1) != 1 || read(to_init[0], &b, 1) != 1)
				_exit(4);
		}
		_exit(5);
	}
	/* Only the init holds these ends: its death is EOF here, not a hang. */
	close(to_init[0]);
	close(from_init[1]);
	int fail = 0;
	char b = 'b';
	if (read(from_init[0], &b, 1) != 1)
		fail |= 4;
	if (kill(init, SIGTERM) != 0 || write(to_init[1], &b, 1) != 1 ||
	    read(from_init[0], &b, 1) != 1)
		fail |= 8;
	if (kill(init, SIGKILL) != 0 || reap(init) != 100 + SIGKILL)
		fail |= 16;
	return fail;
}

static void *idle_thread(void *a)
{
	return a;
}

/* After unshare(CLONE_NEWPID), a thread (CLONE_THREAD) is refused. */
static int case_thread_refused(void)
{
	if (unshare(CLONE_NEWPID) != 0)
		return 1;
	pthread_t t;
	if (pthread_create(&t, NULL, idle_thread, NULL) == 0) {
		pthread_join(t, NULL);
		return 2;
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int case_userns_maps(void)
{
	int fail = 0;
	if (unshare(CLONE_NEWUSER) != 0)
		return 1;
	if (getuid() != 65534 || getgid() != 65534)
		fail |= 2;
	if (write_file("/proc/self/uid_map", "0 0 1\n") != 0 || getuid() != 0 || geteuid() != 0)
		fail |= 4;
	errno = 0;
	if (write_file("/proc/self/uid_map", "0 0 1\n") != -1 || errno != EPERM)
		fail |= 8;
	errno = 0;
	if (write_file("/proc/self/gid_map", "0 0 1\n") != -1 || errno != EPERM)
		fail |= 16;
	if (write_file("/proc/self/setgroups", "deny") != 0 ||
	    write_file("/proc/self/gid_map", "0 0 1\n") != 0 || getgid() != 0)
		fail |= 32;
	/* Capabilities inside: a PID namespace may be made. */
	if (unshare(CLONE_NEWPID) != 0)
		fail |= 64;
	return fail;
}

static int case_userns_bad_map(void)
{
	int fail = 0;
	if (unshare(CLONE_NEWUSER) != 0)
		return 1;
	errno = 0;
	if (write_file("/proc/self/uid_map", "0 0 0\n") != -1 || errno != EINVAL)
		fail |= 2;
	errno = 0;
	/* Another id than the writer's own: not permitted from inside. */
	if (write_file("/proc/self/uid_map", "0 1000 1\n") != -1 || errno != EPERM)
		fail |= 4;
	return fail;
}

static int blocker_fd;

/* A thread that stays alive until a byte comes. */
static void *blocker(void *a)
{
	char b;
	return (void *)(long)read(blocker_fd, &b, 1);
}

/* unshare(CLONE_NEWUSER) from a process with a second live thread: EINVAL. */
static int case_userns_threaded(void)
{
	pthread_t t;
	int fail = 0;
	int p[2];
	if (pipe(p) != 0)
		return 2;
	blocker_fd = p[0];
	if (pthread_create(&t, NULL, blocker, NULL) != 0)
		return 4;
	errno = 0;
	if (unshare(CLONE_NEWUSER) != -1 || errno != EINVAL)
		fail |= 8;
	if (write(p[1], "x", 1) != 1)
		fail |= 16;
	pthread_join(t, NULL);
	return fail;
}

#define USER_NOTIF_MAGIC 0x5eed

/* A listener in the root namespace; the target is a namespace's init: RECV's pid is the
 * target's outer pid. */
static int case_notif_pid(void)
{
	struct sock_filter f[] = {
		STMT(LD_ABS, 0),
		JUMP(JEQ_K, SYS_getppid, 0, 1),
		STMT(RET_K, SECCOMP_RET_USER_NOTIF),
		STMT(RET_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 1;
	int l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, NEW_LISTENER, &prog);
	if (l < 0)
		return 2;
	if (unshare(CLONE_NEWPID) != 0)
		return 4;
	pid_t c = fork();
	if (c == 0)
		_exit(syscall(SYS_getppid) == USER_NOTIF_MAGIC ? 0 : 1);
	struct notif req;
	struct notif_resp resp;
	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	int fail = 0;
	if (ioctl(l, NOTIF_RECV, &req) != 0)
		return 8;
	if ((pid_t)req.pid != c)
		fail |= 16;
	resp.id = req.id;
	resp.val = USER_NOTIF_MAGIC;
	if (ioctl(l, NOTIF_SEND, &resp) != 0)
		fail |= 32;
	if (reap(c) != 0)
		fail |= 64;
	return fail;
}

struct pcase {
	const char *name;
	int (*fn)(void);
	int userns;
};

static const struct pcase cases[] = {
	{ "newpid_child_is_pid1", case_newpid_basics, 0 },
	{ "clone_newpid", case_clone_newpid, 0 },
	{ "wait_and_kill_inside", case_wait_and_kill_inside, 0 },
	{ "kill_from_outside_si_pid_0", case_kill_from_outside, 0 },
	{ "orphan_reparent_to_init", case_orphan_reparent, 0 },
	{ "init_waitpid_beats_own_sigchld", case_wait_beats_sigchld, 0 },
	{ "init_death_kills_namespace", case_init_death, 0 },
	{ "init_ignores_unhandled_signals", case_init_protected, 0 },
	{ "thread_refused_after_unshare", case_thread_refused, 0 },
	{ "notif_pid_outer", case_notif_pid, 0 },
	{ "userns_maps", case_userns_maps, 1 },
	{ "userns_bad_maps", case_userns_bad_map, 1 },
	{ "userns_threaded_einval", case_userns_threaded, 1 },
};

int main(void)
{
	probe();
	int n = sizeof cases / sizeof cases[0];
	ktap_plan(n);
	for (int i = 0; i < n; i++) {
		const char *skip = cases[i].userns ? no_userns : no_pidns;
		/* userns_maps makes a PID namespace inside its user namespace. */
		if (!skip && cases[i].fn == case_userns_maps)
			skip = no_pidns_knob;
		if (skip) {
			ktap_skip(cases[i].name, skip);
			continue;
		}
		int r = in_child(cases[i].fn);
		KTAP_CHECK(r == 0, cases[i].name, "failed checks %#x", r);
	}
	return ktap_finish();
}
