/* POSIX timers: timer_create's checks, a periodic SIGEV_SIGNAL timer delivering SI_TIMER
 * signals with the caller's value, the default sigevent (SIGALRM, the id as value), a
 * one-shot absolute timer, SIGEV_NONE counting down without a signal, SIGEV_THREAD_ID to
 * one thread, gettime/settime's old value, delete, and a forked child that has none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#define MS 1000000ll

/* The kernel's sigevent, used through the raw calls (musl's timer_create wraps SIGEV_THREAD
 * differently from glibc's; the raw calls mean the same on both). */
struct ksigevent {
	union sigval value;
	int signo;
	int notify;
	int tid;
	int pad[11];
};

static int kcreate(clockid_t c, struct ksigevent *ev, int *id)
{
	return syscall(SYS_timer_create, c, ev, id);
}
static int ksettime(int id, int flags, int64_t value, int64_t interval, struct itimerspec *old)
{
	struct itimerspec it = { .it_interval = { interval / 1000000000, interval % 1000000000 },
				 .it_value = { value / 1000000000, value % 1000000000 } };
	return syscall(SYS_timer_settime, id, flags, &it, old);
}
static int kgettime(int id, struct itimerspec *cur)
{
	return syscall(SYS_timer_gettime, id, cur);
}
static int kdelete(int id)
{
	return syscall(SYS_timer_delete, id);
}
static int64_t ns_of(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return ns_of(t);
}
static void sleep_ms(int ms)
{
	struct timespec d = { 0, ms * MS };
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
}

static volatile sig_atomic_t hits, expirations, last_code, last_value, last_overrun_ok;
static volatile pid_t hit_tid;
static void on_timer(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	hits++;
	expirations += 1 + si->si_overrun;
	last_code = si->si_code;
	last_value = si->si_value.sival_int;
	last_overrun_ok = si->si_overrun >= 0;
	hit_tid = syscall(SYS_gettid);
}

static volatile int thread_stop;
static volatile pid_t worker_tid;
static void *worker(void *arg)
{
	(void)arg;
	worker_tid = syscall(SYS_gettid);
	while (!thread_stop)
		sleep_ms(2);
	return NULL;
}

int main(void)
{
	ktap_plan(10);
	struct sigaction sa = { .sa_sigaction = on_timer, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	int id = -1;
	struct ksigevent ev = { .notify = 99, .signo = SIGUSR1 };
	int r1 = kcreate(CLOCK_MONOTONIC, &ev, &id);
	int e1 = errno;
	ev.notify = SIGEV_SIGNAL;
	ev.signo = 0;
	int r2 = kcreate(CLOCK_MONOTONIC, &ev, &id);
	int e2 = errno;
	ev.signo = SIGUSR1;
	int r3 = kcreate(99, &ev, &id);
	int e3 = errno;
	int r4 = kcreate(CLOCK_MONOTONIC, (struct ksigevent *)8, &id);
	int e4 = errno;
	KTAP_CHECK(r1 == -1 && e1 == EINVAL && r2 == -1 && e2 == EINVAL && r3 == -1 && e3 == EINVAL &&
			   r4 == -1 && e4 == EFAULT,
		   "create_errors", "%d/%d %d/%d %d/%d %d/%d", r1, e1, r2, e2, r3, e3, r4, e4);

	/* A periodic timer of 10 ms, until it has expired 5 times (the signals' count plus
	 * their overruns: a loaded host may delay the thread that sends them), never more often
	 * than the time allows. */
	ev.value.sival_int = 1234;
	int r = kcreate(CLOCK_MONOTONIC, &ev, &id);
	int64_t t0 = now_ns();
	ksettime(id, 0, 10 * MS, 10 * MS, NULL);
	while (expirations < 5 && now_ns() - t0 < 2000 * MS)
		sleep_ms(5);
	int64_t elapsed = now_ns() - t0;
	struct itimerspec old;
	ksettime(id, 0, 0, 0, &old);
	int h = hits, x = expirations;
	KTAP_CHECK(r == 0 && x >= 5 && x <= elapsed / (10 * MS) + 1 && h >= 1 &&
			   last_code == SI_TIMER && last_value == 1234 && last_overrun_ok,
		   "periodic_signals", "r=%d hits=%d expirations=%d in %lld ms code=%d value=%d", r,
		   h, x, (long long)(elapsed / MS), (int)last_code, (int)last_value);
	KTAP_CHECK(ns_of(old.it_interval) == 10 * MS && ns_of(old.it_value) > 0 &&
			   ns_of(old.it_value) <= 10 * MS,
		   "settime_old_value", "interval=%lld value=%lld", (long long)ns_of(old.it_interval),
		   (long long)ns_of(old.it_value));
	sleep_ms(30);
	KTAP_CHECK(hits == h, "disarmed_stops", "hits %d then %d", h, (int)hits);

	/* gettime of an armed one-shot; delete; gettime after delete. */
	ksettime(id, 0, 500 * MS, 0, NULL);
	struct itimerspec cur;
	int g = kgettime(id, &cur);
	int d = kdelete(id);
	int g2 = kgettime(id, &cur);
	int eg2 = errno;
	KTAP_CHECK(g == 0 && d == 0 && g2 == -1 && eg2 == EINVAL, "gettime_delete",
		   "g=%d d=%d g2=%d/%d", g, d, g2, eg2);

	/* No sigevent: SIGALRM, with the timer's id as value; absolute, in the past. */
	int id2 = -1;
	r = kcreate(CLOCK_REALTIME, NULL, &id2);
	hits = 0;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	ksettime(id2, TIMER_ABSTIME, ns_of(rt) - 5 * MS, 0, NULL);
	t0 = now_ns();
	while (hits == 0 && now_ns() - t0 < 1000 * MS)
		sleep_ms(2);
	KTAP_CHECK(r == 0 && hits == 1 && last_value == id2 && last_code == SI_TIMER,
		   "default_sigevent_abstime", "r=%d hits=%d value=%d id=%d", r, (int)hits,
		   (int)last_value, id2);
	kdelete(id2);

	/* SIGEV_NONE: counts down, sends nothing. */
	struct ksigevent none = { .notify = SIGEV_NONE };
	int id3 = -1;
	r = kcreate(CLOCK_MONOTONIC, &none, &id3);
	hits = 0;
	ksettime(id3, 0, 50 * MS, 0, NULL);
	kgettime(id3, &cur);
	int64_t left = ns_of(cur.it_value);
	sleep_ms(60);
	kgettime(id3, &cur);
	KTAP_CHECK(r == 0 && left > 0 && left <= 50 * MS && ns_of(cur.it_value) == 0 && hits == 0,
		   "sigev_none", "r=%d left=%lld after=%lld hits=%d", r, (long long)left,
		   (long long)ns_of(cur.it_value), (int)hits);
	kdelete(id3);

	/* SIGEV_THREAD_ID: the signal goes to that thread. */
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	while (!worker_tid)
		sleep_ms(1);
	struct ksigevent tev = { .notify = 4, .signo = SIGUSR1, .tid = worker_tid };
	int id4 = -1;
	r = kcreate(CLOCK_MONOTONIC, &tev, &id4);
	hits = 0;
	hit_tid = 0;
	ksettime(id4, 0, 10 * MS, 0, NULL);
	t0 = now_ns();
	while (hits == 0 && now_ns() - t0 < 1000 * MS)
		sleep_ms(2);
	KTAP_CHECK(r == 0 && hits == 1 && hit_tid == worker_tid, "sigev_thread_id",
		   "r=%d hits=%d tid=%d worker=%d", r, (int)hits, (int)hit_tid, (int)worker_tid);
	tev.tid = 999999;
	int id5;
	r = kcreate(CLOCK_MONOTONIC, &tev, &id5);
	KTAP_CHECK(r == -1 && errno == EINVAL, "sigev_thread_id_bad_tid", "r=%d errno=%d", r, errno);
	thread_stop = 1;
	pthread_join(th, NULL);

	/* A forked child has no timers. */
	pid_t child = fork();
	if (child == 0) {
		struct itimerspec c;
		_exit(kgettime(id4, &c) == -1 && errno == EINVAL ? 0 : 1);
	}
	int st;
	waitpid(child, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork_child_has_none", "status %#x", st);
	kdelete(id4);
	return ktap_finish();
}
