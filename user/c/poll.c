/* poll: waiting on several descriptors with poll, ppoll, select and pselect.  Readiness of
 * pipe ends (data, room, hang-up, error), files that are always ready, ignored and invalid
 * descriptors, timeouts (never early), a wait that a writer in another process ends, and
 * ppoll's temporary signal mask (the signal it unblocks interrupts it; the old mask is back
 * afterwards).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

int main(void)
{
	ktap_plan(17);
	int p[2];
	if (pipe(p) != 0) {
		printf("Bail out! pipe: %s\n", strerror(errno));
		return 1;
	}

	struct pollfd fds[2] = { { .fd = p[0], .events = POLLIN }, { .fd = p[1], .events = POLLOUT } };
	int n = poll(fds, 2, 0);
	KTAP_CHECK(n == 1 && fds[0].revents == 0 && fds[1].revents == POLLOUT, "poll_empty_pipe",
		   "n=%d revents %#x %#x", n, fds[0].revents, fds[1].revents);

	(void)!write(p[1], "x", 1);
	fds[0].revents = fds[1].revents = -1;
	n = poll(fds, 2, 0);
	KTAP_CHECK(n == 2 && fds[0].revents == POLLIN && fds[1].revents == POLLOUT, "poll_data",
		   "n=%d revents %#x %#x", n, fds[0].revents, fds[1].revents);

	struct pollfd odd[3] = { { .fd = -1, .events = POLLIN, .revents = 7 },
				 { .fd = 999, .events = POLLIN },
				 { .fd = open("/dev/null", O_RDONLY), .events = POLLIN | POLLOUT } };
	n = poll(odd, 3, 0);
	KTAP_CHECK(n == 2 && odd[0].revents == 0 && odd[1].revents == POLLNVAL &&
			   odd[2].revents == (POLLIN | POLLOUT),
		   "poll_ignored_invalid_file", "n=%d revents %#x %#x %#x", n, odd[0].revents,
		   odd[1].revents, odd[2].revents);
	close(odd[2].fd);

	n = poll((struct pollfd *)8, 1, 0);
	KTAP_CHECK(n == -1 && errno == EFAULT, "poll_efault", "n=%d errno=%d", n, errno);

	int64_t t0 = now_ns();
	char c;
	(void)!read(p[0], &c, 1);
	n = poll(fds, 1, 30);
	int64_t waited = now_ns() - t0;
	KTAP_CHECK(n == 0 && fds[0].revents == 0 && waited >= 30000000, "poll_timeout",
		   "n=%d waited %lld ns", n, (long long)waited);

	/* A writer in another process ends an unbounded wait. */
	pid_t child = fork();
	if (child == 0) {
		struct timespec d = { 0, 20000000 };
		nanosleep(&d, NULL);
		(void)!write(p[1], "y", 1);
		_exit(0);
	}
	n = poll(fds, 1, -1);
	KTAP_CHECK(n == 1 && fds[0].revents == POLLIN, "poll_woken_by_writer", "n=%d revents %#x", n,
		   fds[0].revents);
	waitpid(child, NULL, 0);
	(void)!read(p[0], &c, 1);

	/* select: the same pipe. */
	fd_set r, w;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(p[0], &r);
	FD_SET(p[1], &w);
	struct timeval tv = { 0, 0 };
	n = select(p[1] + 1, &r, &w, NULL, &tv);
	KTAP_CHECK(n == 1 && !FD_ISSET(p[0], &r) && FD_ISSET(p[1], &w), "select_empty_pipe",
		   "n=%d", n);

	(void)!write(p[1], "z", 1);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	n = select(p[0] + 1, &r, NULL, NULL, NULL);
	KTAP_CHECK(n == 1 && FD_ISSET(p[0], &r), "select_data", "n=%d", n);
	(void)!read(p[0], &c, 1);

	FD_ZERO(&r);
	FD_SET(60, &r); /* closed, and inside Linux's smallest descriptor table */
	n = select(61, &r, NULL, NULL, &tv);
	KTAP_CHECK(n == -1 && errno == EBADF, "select_ebadf", "n=%d errno=%d", n, errno);

	/* The raw call: libcs check the timeval themselves. i386's SYS_select is the old one
	 * that takes its arguments in a structure; _newselect is the five-argument call. */
	tv.tv_sec = 0;
	tv.tv_usec = -1;
#ifdef __i386__
	n = syscall(SYS__newselect, 0, NULL, NULL, NULL, &tv);
#else
	n = syscall(SYS_select, 0, NULL, NULL, NULL, &tv);
#endif
	KTAP_CHECK(n == -1 && errno == EINVAL, "select_bad_timeval", "n=%d errno=%d", n, errno);

	FD_ZERO(&r);
	FD_SET(p[0], &r);
	struct timespec ts = { 0, 20000000 };
	t0 = now_ns();
	n = pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL);
	waited = now_ns() - t0;
	KTAP_CHECK(n == 0 && !FD_ISSET(p[0], &r) && waited >= 20000000, "pselect_timeout",
		   "n=%d waited %lld ns", n, (long long)waited);

	/* ppoll's mask: SIGALRM is blocked; ppoll unblocks it for the wait only. */
	struct sigaction sa = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &sa, NULL);
	sigset_t block, during, after;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	struct itimerval it = { .it_value = { 0, 20000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	struct timespec wait_ns = { 0, 50000000 };
	nanosleep(&wait_ns, NULL);
	KTAP_CHECK(alarms == 0, "alarm_blocked", "alarms=%d", (int)alarms);
	sigemptyset(&during);
	n = ppoll(fds, 1, NULL, &during);
	KTAP_CHECK(n == -1 && errno == EINTR && alarms == 1, "ppoll_sigmask_interrupts",
		   "n=%d errno=%d alarms=%d", n, errno, (int)alarms);
	sigprocmask(SIG_BLOCK, NULL, &after);
	KTAP_CHECK(sigismember(&after, SIGALRM) == 1, "ppoll_mask_restored", "SIGALRM unblocked");

	/* A signal blocked during ppoll does not interrupt it; the timeout ends it. */
	setitimer(ITIMER_REAL, &it, NULL);
	ts.tv_sec = 0;
	ts.tv_nsec = 60000000;
	n = ppoll(fds, 1, &ts, &block);
	KTAP_CHECK(n == 0 && alarms == 1, "ppoll_blocked_signal_waits", "n=%d alarms=%d", n,
		   (int)alarms);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	KTAP_CHECK(alarms == 2, "pending_alarm_after_unblock", "alarms=%d", (int)alarms);

	/* Hang-up: the last writer gone. */
	close(p[1]);
	n = poll(fds, 1, 0);
	KTAP_CHECK(n == 1 && fds[0].revents == POLLHUP, "poll_hangup", "n=%d revents %#x", n,
		   fds[0].revents);
	return ktap_finish();
}
