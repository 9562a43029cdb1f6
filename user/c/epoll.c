/* epoll: create/create1, ctl's errors, wait/pwait/pwait2; level- and edge-triggered interest,
 * ONESHOT, EXCLUSIVE's rules, hang-up and error events of pipes and socket pairs, nested
 * epolls, the depth and loop rules, an item ending with its open file description, waits
 * ended by a writer in another process, a signal, a timeout, and the round robin of ready
 * items when fewer events are asked for than are ready.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return epoll_ctl(ep, op, fd, &ev);
}

/* One wait of at most 8 events, `ms` long; the first event's mask and data. */
static int wait1(int ep, int ms, uint32_t *events, uint64_t *data)
{
	struct epoll_event ev[8];
	int n = epoll_wait(ep, ev, 8, ms);
	if (n > 0) {
		*events = ev[0].events;
		*data = ev[0].data.u64;
	}
	return n;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void create_cases(void)
{
	errno = 0;
	/* The raw call: musl's epoll_create() calls epoll_create1() without looking at size. */
	int r = syscall(SYS_epoll_create, 0);
	KTAP_CHECK(r == -1 && errno == EINVAL, "create_size_zero", "r=%d errno=%d", r, errno);
	r = epoll_create1(0x1);
	KTAP_CHECK(r == -1 && errno == EINVAL, "create1_bad_flags", "r=%d errno=%d", r, errno);
	int a = epoll_create1(EPOLL_CLOEXEC), b = epoll_create(1);
	KTAP_CHECK(a >= 0 && b >= 0 && fcntl(a, F_GETFD) == FD_CLOEXEC && fcntl(b, F_GETFD) == 0,
		   "create1_cloexec", "a=%d b=%d", a, b);
	char c;
	r = read(a, &c, 1);
	KTAP_CHECK(r == -1 && errno == EINVAL, "read_epoll_einval", "r=%d errno=%d", r, errno);
	close(a);
	close(b);
}

static void ctl_error_cases(void)
{
	int ep = epoll_create1(0), p[2];
	(void)!pipe(p);
	int file = open("/tmp/epoll-regular", O_CREAT | O_RDWR | O_TRUNC, 0600);
	unlink("/tmp/epoll-regular");
	KTAP_CHECK(ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1) == 0, "ctl_add", "errno=%d", errno);
	errno = 0;
	int r = ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1);
	KTAP_CHECK(r == -1 && errno == EEXIST, "ctl_add_twice_eexist", "r=%d errno=%d", r, errno);
	int r1 = ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, 1);
	int e1 = errno;
	int r2 = epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
	int e2 = errno;
	KTAP_CHECK(r1 == -1 && e1 == ENOENT && r2 == -1 && e2 == ENOENT, "ctl_mod_del_enoent",
		   "mod %d/%d del %d/%d", r1, e1, r2, e2);
	r = ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0);
	KTAP_CHECK(r == -1 && errno == EINVAL, "ctl_add_self_einval", "r=%d errno=%d", r, errno);
	r = ctl(ep, EPOLL_CTL_ADD, file, EPOLLIN, 0);
	KTAP_CHECK(r == -1 && errno == EPERM, "ctl_regular_file_eperm", "r=%d errno=%d", r, errno);
	int dn = open("/dev/null", O_RDWR);
	r = ctl(ep, EPOLL_CTL_ADD, dn, EPOLLIN, 0);
	KTAP_CHECK(r == -1 && errno == EPERM, "ctl_dev_null_eperm", "r=%d errno=%d", r, errno);
	close(dn);
	r = ctl(ep, 7, p[1], EPOLLIN, 0);
	KTAP_CHECK(r == -1 && errno == EINVAL, "ctl_bad_op_einval", "r=%d errno=%d", r, errno);
	r = ctl(p[0], EPOLL_CTL_ADD, p[1], EPOLLOUT, 0);
	KTAP_CHECK(r == -1 && errno == EINVAL, "ctl_not_epoll_einval", "r=%d errno=%d", r, errno);
	r1 = ctl(ep, EPOLL_CTL_ADD, 999, EPOLLIN, 0);
	e1 = errno;
	r2 = ctl(999, EPOLL_CTL_ADD, p[1], EPOLLIN, 0);
	e2 = errno;
	KTAP_CHECK(r1 == -1 && e1 == EBADF && r2 == -1 && e2 == EBADF, "ctl_ebadf",
		   "fd %d/%d epfd %d/%d", r1, e1, r2, e2);
	r = epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (struct epoll_event *)8);
	KTAP_CHECK(r == -1 && errno == EFAULT, "ctl_event_efault", "r=%d errno=%d", r, errno);
	r = epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
	KTAP_CHECK(r == 0, "ctl_del_null_event", "r=%d errno=%d", r, errno);

	struct epoll_event ev[4];
	r1 = epoll_wait(ep, ev, 0, 0);
	e1 = errno;
	r2 = epoll_wait(p[0], ev, 4, 0);
	e2 = errno;
	int r3 = epoll_wait(ep, (struct epoll_event *)0xffff800000000000ull, 4, 0);
	int e3 = errno;
	KTAP_CHECK(r1 == -1 && e1 == EINVAL && r2 == -1 && e2 == EINVAL && r3 == -1 && e3 == EFAULT,
		   "wait_errors", "max0 %d/%d notepoll %d/%d kaddr %d/%d", r1, e1, r2, e2, r3, e3);
	close(file);
	close(p[0]);
	close(p[1]);
	close(ep);
}

static void trigger_cases(void)
{
	int ep = epoll_create1(0), p[2];
	(void)!pipe(p);
	uint32_t ev = 0;
	uint64_t data = 0;
	char buf[16];

	/* Level-triggered: reported while data waits. */
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1234567890ull);
	int n0 = wait1(ep, 0, &ev, &data);
	(void)!write(p[1], "ab", 2);
	int n1 = wait1(ep, 0, &ev, &data);
	int n2 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 0 && n1 == 1 && n2 == 1 && ev == EPOLLIN && data == 0x1234567890ull,
		   "level_triggered_repeats", "n %d %d %d ev %#x data %#llx", n0, n1, n2, ev,
		   (unsigned long long)data);
	(void)!read(p[0], buf, sizeof buf);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 0, "level_triggered_drained", "n=%d", n0);

	/* Edge-triggered: once per new arrival, not again for data left unread. */
	ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 2);
	n0 = wait1(ep, 0, &ev, &data);
	(void)!write(p[1], "abc", 3);
	n1 = wait1(ep, 0, &ev, &data);
	n2 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 0 && n1 == 1 && ev == EPOLLIN && data == 2 && n2 == 0,
		   "edge_triggered_once", "n %d %d %d ev %#x", n0, n1, n2, ev);
	(void)!read(p[0], buf, 1);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 0, "edge_triggered_partial_read_quiet", "n=%d", n0);
	(void)!write(p[1], "d", 1);
	n1 = wait1(ep, 0, &ev, &data);
	n2 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n1 == 1 && ev == EPOLLIN && n2 == 0, "edge_triggered_new_data",
		   "n %d %d ev %#x", n1, n2, ev);
	(void)!read(p[0], buf, sizeof buf);

	/* ONESHOT: one report, then nothing until MOD re-arms it. */
	ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 3);
	(void)!write(p[1], "e", 1);
	n0 = wait1(ep, 0, &ev, &data);
	(void)!write(p[1], "f", 1);
	n1 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && data == 3 && n1 == 0, "oneshot_disarms", "n %d %d", n0, n1);
	int r = ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 3);
	KTAP_CHECK(r == -1 && errno == EEXIST, "oneshot_item_stays", "r=%d errno=%d", r, errno);
	ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 4);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && data == 4, "oneshot_mod_rearms", "n=%d data=%llu", n0,
		   (unsigned long long)data);
	(void)!read(p[0], buf, sizeof buf);

	/* Hang-up and error: reported without being asked for. */
	ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 5);
	ctl(ep, EPOLL_CTL_ADD, p[1], 0, 6);
	close(p[1]);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && ev == EPOLLHUP && data == 5, "pipe_hangup",
		   "n=%d ev=%#x data=%llu", n0, ev, (unsigned long long)data);
	close(p[0]);
	(void)!pipe(p);
	ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 7);
	n0 = wait1(ep, 0, &ev, &data);
	uint32_t ev_open = ev;
	close(p[0]);
	n1 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && ev_open == EPOLLOUT && n1 == 1 && ev == (EPOLLOUT | EPOLLERR) &&
			   data == 7,
		   "pipe_reader_gone_err", "n %d %d ev %#x %#x", n0, n1, ev_open, ev);
	close(p[1]);
	close(ep);
}

static void socket_cases(void)
{
	int ep = epoll_create1(0), s[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, s);
	uint32_t ev = 0;
	uint64_t data = 0;
	ctl(ep, EPOLL_CTL_ADD, s[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP, 1);
	int n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && ev == EPOLLOUT, "socket_writable", "n=%d ev=%#x", n0, ev);
	(void)!write(s[1], "x", 1);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && ev == (EPOLLIN | EPOLLOUT), "socket_readable", "n=%d ev=%#x", n0, ev);
	shutdown(s[1], SHUT_WR);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && ev == (EPOLLIN | EPOLLOUT | EPOLLRDHUP), "socket_rdhup",
		   "n=%d ev=%#x", n0, ev);
	close(s[1]);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && ev == (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP), "socket_hup",
		   "n=%d ev=%#x", n0, ev);
	close(s[0]);

	/* Edge-triggered on a socket: a send is an edge, a receive on the other side is not. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, s);
	ctl(ep, EPOLL_CTL_ADD, s[0], EPOLLIN | EPOLLET, 2);
	(void)!write(s[1], "ab", 2);
	int n1 = wait1(ep, 0, &ev, &data);
	int n2 = wait1(ep, 0, &ev, &data);
	(void)!write(s[1], "c", 1);
	int n3 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n1 == 1 && n2 == 0 && n3 == 1 && ev == EPOLLIN, "socket_edge_triggered",
		   "n %d %d %d ev %#x", n1, n2, n3, ev);
	close(s[0]);
	close(s[1]);

	/* A wait with no end, ended by a send from another process. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, s);
	ctl(ep, EPOLL_CTL_ADD, s[0], EPOLLIN, 3);
	pid_t child = fork();
	if (child == 0) {
		struct timespec d = { 0, 30000000 };
		nanosleep(&d, NULL);
		(void)!write(s[1], "y", 1);
		_exit(0);
	}
	n0 = wait1(ep, -1, &ev, &data);
	KTAP_CHECK(n0 == 1 && ev == EPOLLIN && data == 3, "wait_woken_by_other_process",
		   "n=%d ev=%#x", n0, ev);
	waitpid(child, NULL, 0);
	close(s[0]);
	close(s[1]);
	close(ep);
}

static void lifetime_cases(void)
{
	int ep = epoll_create1(0), p[2];
	uint32_t ev = 0;
	uint64_t data = 0;
	(void)!pipe(p);
	(void)!write(p[1], "x", 1);
	ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 1);
	/* The interest belongs to the open file description: a dup keeps it alive. */
	int d = dup(p[0]);
	close(p[0]);
	int n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 1 && data == 1, "dup_keeps_interest", "n=%d", n0);
	/* The closed number is no longer a key ctl finds (it names no file). */
	int r = epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
	KTAP_CHECK(r == -1 && errno == EBADF, "closed_fd_ebadf", "r=%d errno=%d", r, errno);
	close(d);
	n0 = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n0 == 0, "last_close_drops_interest", "n=%d data=%llu", n0,
		   (unsigned long long)data);
	/* A new file under the old number is a new item. */
	int q[2];
	(void)!pipe(q);
	if (q[0] != p[0]) {
		dup2(q[0], p[0]);
		close(q[0]);
	}
	r = ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 2);
	KTAP_CHECK(r == 0, "same_number_new_file_added", "r=%d errno=%d", r, errno);
	close(p[0]);
	close(p[1]);
	close(q[1]);
	close(ep);
}

static void nested_cases(void)
{
	int outer = epoll_create1(0), inner = epoll_create1(0), p[2];
	uint32_t ev = 0;
	uint64_t data = 0;
	(void)!pipe(p);
	ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN, 1);
	ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2);
	int n0 = wait1(outer, 0, &ev, &data);
	(void)!write(p[1], "x", 1);
	int n1 = wait1(outer, 0, &ev, &data);
	struct pollfd pf = { .fd = inner, .events = POLLIN };
	int pn = poll(&pf, 1, 0);
	KTAP_CHECK(n0 == 0 && n1 == 1 && ev == EPOLLIN && data == 2 && pn == 1 &&
			   pf.revents == POLLIN,
		   "nested_readiness", "n %d %d ev %#x poll %d %#x", n0, n1, ev, pn, pf.revents);
	int r = ctl(inner, EPOLL_CTL_ADD, outer, EPOLLIN, 0);
	KTAP_CHECK(r == -1 && errno == ELOOP, "nested_loop_eloop", "r=%d errno=%d", r, errno);

	/* A chain built upwards: each new epoll watches the last; 5 levels at most. */
	int chain[8], i, res[8];
	for (i = 0; i < 8; i++)
		chain[i] = epoll_create1(0);
	for (i = 1; i < 8; i++) {
		errno = 0;
		res[i] = ctl(chain[i], EPOLL_CTL_ADD, chain[i - 1], EPOLLIN, 0) == 0 ? 0 : errno;
		if (res[i])
			break;
	}
	KTAP_CHECK(i == 5 && res[5] == ELOOP, "nested_depth_eloop", "failed at %d errno %d", i,
		   i < 8 ? res[i] : 0);
	/* A loop through three. */
	int a = epoll_create1(0), b = epoll_create1(0), c = epoll_create1(0);
	ctl(a, EPOLL_CTL_ADD, b, EPOLLIN, 0);
	ctl(b, EPOLL_CTL_ADD, c, EPOLLIN, 0);
	r = ctl(c, EPOLL_CTL_ADD, a, EPOLLIN, 0);
	KTAP_CHECK(r == -1 && errno == ELOOP, "nested_cycle_of_three_eloop", "r=%d errno=%d", r,
		   errno);
	for (i = 0; i < 8; i++)
		close(chain[i]);
	close(a);
	close(b);
	close(c);
	close(p[0]);
	close(p[1]);
	close(inner);
	close(outer);
}

static void exclusive_cases(void)
{
	int ep = epoll_create1(0), ep2 = epoll_create1(0), p[2];
	uint32_t ev = 0;
	uint64_t data = 0;
	(void)!pipe(p);
	int r1 = ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0);
	int e1 = errno;
	int r2 = ctl(ep, EPOLL_CTL_ADD, ep2, EPOLLIN | EPOLLEXCLUSIVE, 0);
	int e2 = errno;
	int r3 = ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, 1);
	int r4 = ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 1);
	int e4 = errno;
	int r5 = ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, 1);
	int e5 = errno;
	KTAP_CHECK(r1 == -1 && e1 == EINVAL && r2 == -1 && e2 == EINVAL && r3 == 0 && r4 == -1 &&
			   e4 == EINVAL && r5 == -1 && e5 == EINVAL,
		   "exclusive_rules", "%d/%d %d/%d %d %d/%d %d/%d", r1, e1, r2, e2, r3, r4, e4, r5,
		   e5);
	(void)!write(p[1], "x", 1);
	int n = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(n == 1 && ev == EPOLLIN && data == 1, "exclusive_reports", "n=%d ev=%#x", n, ev);
	close(p[0]);
	close(p[1]);
	close(ep2);
	close(ep);
}

static void wait_cases(void)
{
	int ep = epoll_create1(0), p[3][2];
	struct epoll_event evs[4];
	int i;
	for (i = 0; i < 3; i++) {
		(void)!pipe(p[i]);
		(void)!write(p[i][1], "x", 1);
		ctl(ep, EPOLL_CTL_ADD, p[i][0], EPOLLIN, 100 + i);
	}
	/* One event per wait: every ready item comes in turn. */
	unsigned seen = 0;
	for (i = 0; i < 3; i++) {
		int n = epoll_wait(ep, evs, 1, 0);
		if (n == 1 && evs[0].data.u64 >= 100 && evs[0].data.u64 < 103)
			seen |= 1u << (evs[0].data.u64 - 100);
	}
	KTAP_CHECK(seen == 7, "maxevents_round_robin", "seen %#x", seen);
	int n = epoll_wait(ep, evs, 4, 0);
	KTAP_CHECK(n == 3, "all_ready_reported", "n=%d", n);
	for (i = 0; i < 3; i++) {
		char c;
		(void)!read(p[i][0], &c, 1);
	}

	/* Timeouts, never early. */
	int64_t t0 = now_ns();
	n = epoll_wait(ep, evs, 4, 30);
	int64_t waited = now_ns() - t0;
	KTAP_CHECK(n == 0 && waited >= 30000000, "wait_timeout", "n=%d waited %lld", n,
		   (long long)waited);
	struct timespec ts = { 0, 25000000 };
	t0 = now_ns();
	n = syscall(SYS_epoll_pwait2, ep, evs, 4, &ts, NULL, 8);
	waited = now_ns() - t0;
	KTAP_CHECK(n == 0 && waited >= 25000000, "pwait2_timeout", "n=%d errno=%d waited %lld", n,
		   errno, (long long)waited);
	ts.tv_nsec = 1000000000;
	n = syscall(SYS_epoll_pwait2, ep, evs, 4, &ts, NULL, 8);
	KTAP_CHECK(n == -1 && errno == EINVAL, "pwait2_bad_timespec", "n=%d errno=%d", n, errno);
	sigset_t none;
	sigemptyset(&none);
	n = syscall(SYS_epoll_pwait, ep, evs, 4, 0, &none, 4);
	KTAP_CHECK(n == -1 && errno == EINVAL, "pwait_bad_sigsetsize", "n=%d errno=%d", n, errno);

	/* A handled signal ends epoll_wait with EINTR, SA_RESTART or not. */
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { .it_value = { 0, 20000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	n = epoll_wait(ep, evs, 4, -1);
	KTAP_CHECK(n == -1 && errno == EINTR && alarms == 1, "wait_eintr_despite_sa_restart",
		   "n=%d errno=%d alarms=%d", n, errno, (int)alarms);

	/* epoll_pwait's mask: SIGALRM blocked, unblocked for the wait only. */
	sigset_t block, after;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	struct timespec d = { 0, 50000000 };
	nanosleep(&d, NULL);
	int before = alarms;
	n = epoll_pwait(ep, evs, 4, -1, &none);
	sigprocmask(SIG_BLOCK, NULL, &after);
	KTAP_CHECK(before == 1 && n == -1 && errno == EINTR && alarms == 2 &&
			   sigismember(&after, SIGALRM) == 1,
		   "pwait_sigmask", "before=%d n=%d errno=%d alarms=%d", before, n, errno,
		   (int)alarms);
	/* A signal the mask keeps blocked does not end it. */
	setitimer(ITIMER_REAL, &it, NULL);
	n = epoll_pwait(ep, evs, 4, 60, &block);
	KTAP_CHECK(n == 0 && alarms == 2, "pwait_blocked_signal_waits", "n=%d alarms=%d", n,
		   (int)alarms);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	for (i = 0; i < 3; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(ep);
}

int main(void)
{
	ktap_plan(52);
	create_cases();
	ctl_error_cases();
	trigger_cases();
	socket_cases();
	lifetime_cases();
	nested_cases();
	exclusive_cases();
	wait_cases();
	/* stdout (a pipe natively, the console on kentry) is watched and writable. */
	int ep = epoll_create1(0);
	uint32_t ev = 0;
	uint64_t data = 0;
	int r = ctl(ep, EPOLL_CTL_ADD, 1, EPOLLOUT, 9);
	int n = wait1(ep, 0, &ev, &data);
	KTAP_CHECK(r == 0 && n == 1 && (ev & EPOLLOUT) && data == 9, "stdout_writable",
		   "r=%d n=%d ev=%#x", r, n, ev);
	return ktap_finish();
}
