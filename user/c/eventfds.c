/* eventfd, timerfd and signalfd: the counter's rules (semaphore, overflow, short buffers),
 * timers read as expiry counts (one-shot, periodic with missed periods counted, absolute on
 * both clocks, disarmed, the old setting returned), signals read as signalfd_siginfo records
 * (kill, sigqueue, a child's exit), and each kind's readiness through poll and epoll, with
 * waits that only the timer's expiry or another process ends.
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
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#define MS 1000000ll

static int64_t clock_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static struct timespec ts_of(int64_t ns)
{
	struct timespec t = { ns / 1000000000, ns % 1000000000 };
	return t;
}

static int64_t ns_of(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec d = ts_of(ms * MS);
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void eventfd_cases(void)
{
	errno = 0;
	int r = eventfd(0, 0x10);
	KTAP_CHECK(r == -1 && errno == EINVAL, "eventfd_bad_flags", "r=%d errno=%d", r, errno);
	int e = eventfd(3, EFD_CLOEXEC | EFD_NONBLOCK);
	KTAP_CHECK(e >= 0 && fcntl(e, F_GETFD) == FD_CLOEXEC && (fcntl(e, F_GETFL) & O_NONBLOCK) &&
			   (fcntl(e, F_GETFL) & O_ACCMODE) == O_RDWR,
		   "eventfd_flags", "e=%d", e);
	uint64_t v = 4;
	(void)!write(e, &v, 8);
	v = 0;
	uint64_t v2 = 0;
	ssize_t n = read(e, &v, 8);
	ssize_t n2 = read(e, &v2, 8);
	KTAP_CHECK(n == 8 && v == 7 && n2 == -1 && errno == EAGAIN, "eventfd_read_takes_all",
		   "n=%zd v=%llu n2=%zd errno=%d", n, (unsigned long long)v, n2, errno);
	uint32_t small = 0;
	n = read(e, &small, 4);
	int e1 = errno;
	n2 = write(e, &small, 4);
	int e2 = errno;
	v = UINT64_MAX;
	ssize_t n3 = write(e, &v, 8);
	int e3 = errno;
	KTAP_CHECK(n == -1 && e1 == EINVAL && n2 == -1 && e2 == EINVAL && n3 == -1 && e3 == EINVAL,
		   "eventfd_bad_sizes_and_max", "%zd/%d %zd/%d %zd/%d", n, e1, n2, e2, n3, e3);
	/* The counter holds at most 2^64 - 2; one more waits (EAGAIN here). */
	v = UINT64_MAX - 1;
	n = write(e, &v, 8);
	v = 1;
	n2 = write(e, &v, 8);
	e2 = errno;
	struct pollfd pf = { .fd = e, .events = POLLIN | POLLOUT };
	int pn = poll(&pf, 1, 0);
	KTAP_CHECK(n == 8 && n2 == -1 && e2 == EAGAIN && pn == 1 && pf.revents == POLLIN,
		   "eventfd_overflow", "n=%zd n2=%zd/%d revents=%#x", n, n2, e2, pf.revents);
	(void)!read(e, &v, 8);
	close(e);

	e = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	uint64_t got[4] = { 0 };
	int ok = 1;
	for (int i = 0; i < 3; i++)
		ok &= read(e, &got[i], 8) == 8 && got[i] == 1;
	n = read(e, &got[3], 8);
	KTAP_CHECK(ok && n == -1 && errno == EAGAIN, "eventfd_semaphore", "ok=%d n=%zd", ok, n);
	close(e);

	/* A blocking read, woken by a write from another process. */
	e = eventfd(0, 0);
	pid_t child = fork();
	if (child == 0) {
		sleep_ms(20);
		uint64_t w = 42;
		(void)!write(e, &w, 8);
		_exit(0);
	}
	v = 0;
	n = read(e, &v, 8);
	KTAP_CHECK(n == 8 && v == 42, "eventfd_blocking_read", "n=%zd v=%llu", n,
		   (unsigned long long)v);
	waitpid(child, NULL, 0);

	/* Edge-triggered: each write is an edge, even one adding 0. */
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = 5 }, out[2];
	epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
	int w0 = epoll_wait(ep, out, 2, 0);
	v = 1;
	(void)!write(e, &v, 8);
	int w1 = epoll_wait(ep, out, 2, 0);
	int w2 = epoll_wait(ep, out, 2, 0);
	v = 0;
	(void)!write(e, &v, 8);
	int w3 = epoll_wait(ep, out, 2, 0);
	KTAP_CHECK(w0 == 0 && w1 == 1 && out[0].data.u64 == 5 && w2 == 0 && w3 == 1,
		   "eventfd_epoll_edges", "%d %d %d %d", w0, w1, w2, w3);
	close(ep);
	close(e);
}

static int settime(int fd, int flags, int64_t value, int64_t interval, struct itimerspec *old)
{
	struct itimerspec it = { .it_interval = ts_of(interval), .it_value = ts_of(value) };
	return timerfd_settime(fd, flags, &it, old);
}

static void timerfd_cases(void)
{
	errno = 0;
	int r1 = timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0);
	int e1 = errno;
	int r2 = timerfd_create(CLOCK_MONOTONIC, 0x1);
	int e2 = errno;
	KTAP_CHECK(r1 == -1 && e1 == EINVAL && r2 == -1 && e2 == EINVAL, "timerfd_create_errors",
		   "%d/%d %d/%d", r1, e1, r2, e2);
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	int b = timerfd_create(CLOCK_BOOTTIME, 0);
	KTAP_CHECK(t >= 0 && b >= 0 && fcntl(t, F_GETFD) == FD_CLOEXEC &&
			   (fcntl(t, F_GETFL) & O_NONBLOCK) && !(fcntl(b, F_GETFL) & O_NONBLOCK),
		   "timerfd_flags", "t=%d b=%d", t, b);
	close(b);

	int p[2];
	(void)!pipe(p);
	struct itimerspec it = { 0 };
	r1 = settime(t, 0x4, 0, 0, NULL);
	e1 = errno;
	it.it_value.tv_nsec = 1000000000;
	r2 = timerfd_settime(t, 0, &it, NULL);
	e2 = errno;
	it.it_value.tv_nsec = 0;
	int r3 = settime(p[0], 0, MS, 0, NULL);
	int e3 = errno;
	int r4 = settime(999, 0, MS, 0, NULL);
	int e4 = errno;
	int r5 = timerfd_settime(t, 0, (struct itimerspec *)8, NULL);
	int e5 = errno;
	it.it_value.tv_nsec = -1;
	int r6 = timerfd_settime(t, 0, &it, NULL);
	int e6 = errno;
	KTAP_CHECK(r1 == -1 && e1 == EINVAL && r2 == -1 && e2 == EINVAL && r3 == -1 &&
			   e3 == EINVAL && r4 == -1 && e4 == EBADF && r5 == -1 && e5 == EFAULT &&
			   r6 == -1 && e6 == EINVAL,
		   "timerfd_settime_errors", "%d/%d %d/%d %d/%d %d/%d %d/%d %d/%d", r1, e1, r2, e2, r3,
		   e3, r4, e4, r5, e5, r6, e6);
	close(p[0]);
	close(p[1]);

	/* Disarmed: nothing to read, gettime all zero. */
	uint64_t cnt = 0;
	ssize_t n = read(t, &cnt, 8);
	int en = errno;
	timerfd_gettime(t, &it);
	KTAP_CHECK(n == -1 && en == EAGAIN && ns_of(it.it_value) == 0 && ns_of(it.it_interval) == 0,
		   "timerfd_disarmed", "n=%zd errno=%d", n, en);
	uint32_t small;
	n = read(t, &small, 4);
	en = errno;
	ssize_t w = write(t, &cnt, 8);
	KTAP_CHECK(n == -1 && en == EINVAL && w == -1 && errno == EINVAL, "timerfd_short_read_write",
		   "read %zd/%d write %zd/%d", n, en, w, errno);

	/* One-shot, relative: not before its time, then one expiration, then disarmed. */
	int64_t t0 = now_ns();
	settime(t, 0, 100 * MS, 0, NULL);
	n = read(t, &cnt, 8);
	en = errno;
	timerfd_gettime(t, &it);
	int64_t left = ns_of(it.it_value);
	KTAP_CHECK(n == -1 && en == EAGAIN && left > 0 && left <= 100 * MS, "timerfd_oneshot_pending",
		   "n=%zd errno=%d left=%lld", n, en, (long long)left);
	int flags = fcntl(t, F_GETFL);
	fcntl(t, F_SETFL, flags & ~O_NONBLOCK);
	n = read(t, &cnt, 8);
	int64_t waited = now_ns() - t0;
	timerfd_gettime(t, &it);
	KTAP_CHECK(n == 8 && cnt == 1 && waited >= 100 * MS && ns_of(it.it_value) == 0,
		   "timerfd_oneshot_blocking_read", "n=%zd cnt=%llu waited=%lld left=%lld", n,
		   (unsigned long long)cnt, (long long)waited, (long long)ns_of(it.it_value));
	fcntl(t, F_SETFL, flags);

	/* Periodic: the read counts every period since the last read, missed ones included. */
	int64_t set_before = now_ns();
	settime(t, 0, 10 * MS, 10 * MS, NULL);
	int64_t set_after = now_ns();
	sleep_ms(55);
	int64_t read_before = now_ns();
	n = read(t, &cnt, 8);
	int64_t read_after = now_ns();
	uint64_t first = cnt;
	int64_t lo = (read_before - set_after) / (10 * MS), hi = (read_after - set_before) / (10 * MS);
	KTAP_CHECK(n == 8 && first >= 5 && (int64_t)first >= lo && (int64_t)first <= hi,
		   "timerfd_periodic_missed_periods", "n=%zd cnt=%llu expected %lld..%lld", n,
		   (unsigned long long)first, (long long)lo, (long long)hi);
	/* Read again at once: nothing, unless an expiry fell between the two reads. The
	 * expiries are at set + k * 10 ms for a set time in [set_before, set_after], so the
	 * next one may come at any moment after the first read, not a whole period later: the
	 * second read may count at most the periods that can have ended since the first. */
	n = read(t, &cnt, 8);
	en = errno;
	int64_t second_after = now_ns();
	int64_t may_be_new = (second_after - set_before) / (10 * MS) - (int64_t)first;
	timerfd_gettime(t, &it);
	KTAP_CHECK(((n == -1 && en == EAGAIN) ||
		    (n == 8 && cnt >= 1 && (int64_t)cnt <= may_be_new)) &&
			   ns_of(it.it_interval) == 10 * MS &&
			   ns_of(it.it_value) > 0 && ns_of(it.it_value) <= 10 * MS,
		   "timerfd_periodic_read_resets", "n=%zd cnt=%llu (at most %lld) errno=%d value=%lld",
		   n, (unsigned long long)cnt, (long long)may_be_new, en,
		   (long long)ns_of(it.it_value));

	/* A period of 2^62 s (past what either kernel counts in ns): one expiry, then nothing,
	 * not a next expiry wrapped round into the past. */
	struct itimerspec huge = { .it_interval = { 1ll << 62, 0 }, .it_value = { 0, MS } };
	int hr = timerfd_settime(t, 0, &huge, NULL);
	sleep_ms(5);
	ssize_t h1 = read(t, &cnt, 8);
	uint64_t hc = cnt;
	ssize_t h2 = read(t, &cnt, 8);
	int he = errno;
	KTAP_CHECK(hr == 0 && h1 == 8 && hc == 1 && h2 == -1 && he == EAGAIN,
		   "timerfd_huge_interval_no_wrap", "settime %d read %zd cnt %llu read %zd/%d", hr,
		   h1, (unsigned long long)hc, h2, he);
	settime(t, 0, 10 * MS, 10 * MS, NULL);

	/* settime returns the old setting. */
	struct itimerspec old;
	settime(t, 0, 0, 0, &old);
	KTAP_CHECK(ns_of(old.it_interval) == 10 * MS && ns_of(old.it_value) > 0 &&
			   ns_of(old.it_value) <= 10 * MS,
		   "timerfd_settime_old", "old %lld %lld", (long long)ns_of(old.it_interval),
		   (long long)ns_of(old.it_value));

	/* Absolute on the monotonic clock: in the past, readable at once; ahead, not yet. */
	settime(t, TFD_TIMER_ABSTIME, now_ns() - 5 * MS, 0, NULL);
	n = read(t, &cnt, 8);
	KTAP_CHECK(n == 8 && cnt == 1, "timerfd_abstime_past", "n=%zd cnt=%llu", n,
		   (unsigned long long)cnt);
	int64_t at = now_ns() + 100 * MS;
	settime(t, TFD_TIMER_ABSTIME, at, 0, NULL);
	int early = readable(t);
	struct pollfd pf = { .fd = t, .events = POLLIN };
	int pn = poll(&pf, 1, 1000);
	int64_t woke = now_ns();
	KTAP_CHECK(!early && pn == 1 && pf.revents == POLLIN && woke >= at && woke - at < 500 * MS,
		   "timerfd_poll_woken",
		   "early=%d pn=%d revents=%#x woke-at=%lld", early, pn, pf.revents,
		   (long long)(woke - at));
	(void)!read(t, &cnt, 8);
	close(t);

	/* CLOCK_REALTIME, absolute, with CANCEL_ON_SET: fires at its real time. */
	t = timerfd_create(CLOCK_REALTIME, 0);
	at = clock_ns(CLOCK_REALTIME) + 20 * MS;
	int rs = settime(t, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, at, 0, NULL);
	n = read(t, &cnt, 8);
	int64_t real = clock_ns(CLOCK_REALTIME);
	KTAP_CHECK(rs == 0 && n == 8 && cnt == 1 && real >= at, "timerfd_realtime_abstime",
		   "rs=%d n=%zd cnt=%llu late=%lld", rs, n, (unsigned long long)cnt,
		   (long long)(real - at));
	close(t);

	/* epoll with no end: only the timer's expiry ends the wait. */
	t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 }, out[2];
	epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev);
	t0 = now_ns();
	settime(t, 0, 20 * MS, 0, NULL);
	int wn = epoll_wait(ep, out, 2, 5000);
	waited = now_ns() - t0;
	KTAP_CHECK(wn == 1 && out[0].data.u64 == 77 && out[0].events == EPOLLIN &&
			   waited >= 20 * MS && waited < 2000 * MS,
		   "timerfd_epoll_woken", "n=%d waited=%lld", wn, (long long)waited);
	/* Edge-triggered: the first expiry after a settime or a read is an edge; the periods
	 * that pass unread are not (Linux re-arms a periodic timer when it is read). */
	(void)!read(t, &cnt, 8);
	ev.events = EPOLLIN | EPOLLET;
	epoll_ctl(ep, EPOLL_CTL_MOD, t, &ev);
	settime(t, 0, 10 * MS, 10 * MS, NULL);
	int e0 = epoll_wait(ep, out, 2, 1000);
	int e1b = epoll_wait(ep, out, 2, 0);
	int e2b = epoll_wait(ep, out, 2, 35);
	n = read(t, &cnt, 8);
	int e3b = epoll_wait(ep, out, 2, 1000);
	KTAP_CHECK(e0 == 1 && e1b == 0 && e2b == 0 && n == 8 && cnt >= 3 && e3b == 1,
		   "timerfd_epoll_edges", "%d %d %d read %zd cnt %llu %d", e0, e1b, e2b, n,
		   (unsigned long long)cnt, e3b);
	close(ep);
	close(t);
}

static void signalfd_cases(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	errno = 0;
	int r1 = syscall(SYS_signalfd4, -1, &set, 4, 0);
	int e1 = errno;
	int r2 = syscall(SYS_signalfd4, -1, &set, 8, 0x1);
	int e2 = errno;
	int r3 = syscall(SYS_signalfd4, -1, (void *)8, 8, 0);
	int e3 = errno;
	int p[2];
	(void)!pipe(p);
	int r4 = signalfd(p[0], &set, 0);
	int e4 = errno;
	close(p[0]);
	close(p[1]);
	KTAP_CHECK(r1 == -1 && e1 == EINVAL && r2 == -1 && e2 == EINVAL && r3 == -1 &&
			   e3 == EFAULT && r4 == -1 && e4 == EINVAL,
		   "signalfd_errors", "%d/%d %d/%d %d/%d %d/%d", r1, e1, r2, e2, r3, e3, r4, e4);

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	int s = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
	struct signalfd_siginfo si[2];
	memset(si, 0, sizeof si);
	ssize_t n = read(s, si, sizeof si);
	int en = errno;
	KTAP_CHECK(s >= 0 && n == -1 && en == EAGAIN && !readable(s) &&
			   fcntl(s, F_GETFD) == FD_CLOEXEC,
		   "signalfd_empty", "s=%d n=%zd errno=%d", s, n, en);

	kill(getpid(), SIGUSR1);
	int ready = readable(s);
	n = read(s, si, sizeof si);
	KTAP_CHECK(ready && n == sizeof si[0] && si[0].ssi_signo == SIGUSR1 &&
			   si[0].ssi_code == SI_USER && si[0].ssi_pid == (uint32_t)getpid() &&
			   si[0].ssi_uid == getuid() && !readable(s),
		   "signalfd_kill", "ready=%d n=%zd signo=%u code=%d pid=%u", ready, n,
		   si[0].ssi_signo, si[0].ssi_code, si[0].ssi_pid);
	n = read(s, si, sizeof si[0] - 1);
	KTAP_CHECK(n == -1 && errno == EINVAL, "signalfd_short_read", "n=%zd errno=%d", n, errno);

	/* Only its mask: SIGUSR2 stays pending until signalfd4 adds it to the same fd. */
	union sigval val = { .sival_int = 4242 };
	sigqueue(getpid(), SIGUSR2, val);
	int before = readable(s);
	int same = signalfd(s, &set, 0);
	n = read(s, si, sizeof si);
	KTAP_CHECK(!before && same == s && n == sizeof si[0] && si[0].ssi_signo == SIGUSR2 &&
			   si[0].ssi_code == SI_QUEUE && si[0].ssi_int == 4242 &&
			   si[0].ssi_pid == (uint32_t)getpid(),
		   "signalfd_mask_update_sigqueue", "before=%d same=%d n=%zd signo=%u code=%d int=%d",
		   before, same, n, si[0].ssi_signo, si[0].ssi_code, si[0].ssi_int);

	/* Two pending, one read of two records. */
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR2);
	n = read(s, si, sizeof si);
	KTAP_CHECK(n == 2 * sizeof si[0] && si[0].ssi_signo == SIGUSR1 && si[1].ssi_signo == SIGUSR2,
		   "signalfd_two_records", "n=%zd %u %u", n, si[0].ssi_signo, si[1].ssi_signo);

	/* A child's exit: SIGCHLD (blocked, so kept) with its status. */
	pid_t child = fork();
	if (child == 0)
		_exit(7);
	struct pollfd pf = { .fd = s, .events = POLLIN };
	int pn = poll(&pf, 1, 5000);
	n = read(s, si, sizeof si[0]);
	KTAP_CHECK(pn == 1 && n == sizeof si[0] && si[0].ssi_signo == SIGCHLD &&
			   si[0].ssi_code == CLD_EXITED && si[0].ssi_pid == (uint32_t)child &&
			   si[0].ssi_status == 7,
		   "signalfd_sigchld", "pn=%d n=%zd signo=%u code=%d pid=%u status=%d", pn, n,
		   si[0].ssi_signo, si[0].ssi_code, si[0].ssi_pid, si[0].ssi_status);
	waitpid(child, NULL, 0);

	/* epoll without end: a signal from another process ends the wait. */
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 3 }, out[2];
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	pid_t parent = getpid();
	child = fork();
	if (child == 0) {
		sleep_ms(20);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	int wn;
	do
		wn = epoll_wait(ep, out, 2, -1);
	while (wn == -1 && errno == EINTR);
	n = read(s, si, sizeof si[0]);
	KTAP_CHECK(wn == 1 && out[0].data.u64 == 3 && n == sizeof si[0] &&
			   si[0].ssi_signo == SIGUSR1 && si[0].ssi_pid == (uint32_t)child,
		   "signalfd_epoll_woken", "wn=%d n=%zd signo=%u pid=%u", wn, n, si[0].ssi_signo,
		   si[0].ssi_pid);
	waitpid(child, NULL, 0);
	/* Drain the child's SIGCHLD, then a blocking read woken by another process. */
	while (read(s, si, sizeof si) > 0)
		;
	int fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
	child = fork();
	if (child == 0) {
		sleep_ms(20);
		kill(parent, SIGUSR2);
		_exit(0);
	}
	n = read(s, si, sizeof si[0]);
	KTAP_CHECK(n == sizeof si[0] && si[0].ssi_signo == SIGUSR2 &&
			   si[0].ssi_pid == (uint32_t)child,
		   "signalfd_blocking_read", "n=%zd signo=%u", n, si[0].ssi_signo);
	waitpid(child, NULL, 0);
	close(ep);
	close(s);
}

int main(void)
{
	ktap_plan(33);
	eventfd_cases();
	timerfd_cases();
	signalfd_cases();
	return ktap_finish();
}
