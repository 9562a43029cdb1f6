/* sigqueue: Linux's signal queues as programs see them (docs/signals.md).
 *
 * Real-time signals queue every instance with its own siginfo and come in order; a standard
 * signal is pending once (a second send is dropped, the first siginfo kept); the lowest signal
 * goes first; rt_sigqueueinfo refuses forged si_codes for another process (EPERM) but not for
 * the caller itself, looks the pid up (ESRCH), checks only for signal 0, refuses bytes past the
 * kernel's 48 in an unknown layout (E2BIG) and round-trips the 48 it keeps; rt_tgsigqueueinfo
 * reaches one thread; RLIMIT_SIGPENDING makes a queued real-time signal fail with EAGAIN while
 * kill() still sends (without its siginfo); sigpending shows the thread's and the process's
 * signals; SIGCONT discards a pending stop signal and a stop signal a pending SIGCONT;
 * rt_sigtimedwait takes, times out (EAGAIN) and is interrupted (EINTR).
 *
 * Signals 40..45 are used: clear of what glibc (32, 33) and musl (32..34) keep for themselves.
 * Raw syscalls throughout, so that both libcs ask the kernel the same questions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#define RT1 40
#define RT2 41
#define RT3 42
#define N_RT 5

static uint64_t bit(int sig)
{
	return 1ull << (sig - 1);
}

static long sigqueueinfo(pid_t pid, int sig, siginfo_t *si)
{
	return syscall(SYS_rt_sigqueueinfo, pid, sig, si);
}

static long tgsigqueueinfo(pid_t tgid, pid_t tid, int sig, siginfo_t *si)
{
	return syscall(SYS_rt_tgsigqueueinfo, tgid, tid, sig, si);
}

/* rt_sigtimedwait with a 64-bit set; ms < 0: no timeout. */
static long timedwait(uint64_t set, siginfo_t *si, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	return syscall(SYS_rt_sigtimedwait, &set, si, ms < 0 ? NULL : &ts, 8);
}

static uint64_t procmask(int how, uint64_t set)
{
	uint64_t old = 0;
	syscall(SYS_rt_sigprocmask, how, &set, &old, 8);
	return old;
}

static uint64_t pending(void)
{
	uint64_t p = 0;
	syscall(SYS_rt_sigpending, &p, 8);
	return p;
}

/* A siginfo as sigqueue() makes it: SI_QUEUE, this process, a value. */
static siginfo_t queue_info(int code, long value)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_code = code;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)value;
	return si;
}

/* Takes every pending signal of `set` (zero timeout); returns how many. */
static int drain(uint64_t set)
{
	siginfo_t si;
	int n = 0;
	while (timedwait(set, &si, 0) > 0)
		n++;
	return n;
}

static volatile int got_n;
static volatile long got_val[16];
static volatile int got_code[16];
static volatile int got_sig[16];

static void record(int sig, siginfo_t *si, void *uc)
{
	if (got_n < 16) {
		got_sig[got_n] = sig;
		got_val[got_n] = (long)si->si_value.sival_ptr;
		got_code[got_n] = si->si_code;
	}
	got_n++;
}

static void handle(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = record;
	sa.sa_flags = SA_SIGINFO;
	sigaction(sig, &sa, NULL);
}

static void test_rt_queue_in_order(void)
{
	handle(RT1);
	procmask(SIG_BLOCK, bit(RT1));
	int fails = 0;
	for (long i = 0; i < N_RT; i++) {
		siginfo_t si = queue_info(SI_QUEUE, 0x1000 + i);
		fails += sigqueueinfo(getpid(), RT1, &si) != 0;
	}
	int pend = (pending() & bit(RT1)) != 0;
	got_n = 0;
	procmask(SIG_UNBLOCK, bit(RT1));
	int order = got_n == N_RT;
	for (int i = 0; order && i < N_RT; i++)
		order = got_val[i] == 0x1000 + i && got_code[i] == SI_QUEUE;
	KTAP_CHECK(!fails && pend && order, "rt_signal_queues_every_instance_in_order",
		   "fails %d pending %d delivered %d first value %#lx code %d", fails, pend, got_n,
		   got_n ? got_val[0] : 0L, got_n ? got_code[0] : 0);
}

static void test_standard_coalesces(void)
{
	handle(SIGUSR1);
	procmask(SIG_BLOCK, bit(SIGUSR1));
	siginfo_t a = queue_info(SI_QUEUE, 11), b = queue_info(SI_QUEUE, 22);
	long r1 = sigqueueinfo(getpid(), SIGUSR1, &a), r2 = sigqueueinfo(getpid(), SIGUSR1, &b);
	got_n = 0;
	procmask(SIG_UNBLOCK, bit(SIGUSR1));
	KTAP_CHECK(r1 == 0 && r2 == 0 && got_n == 1 && got_val[0] == 11,
		   "standard_signal_pending_once_first_siginfo_kept",
		   "sends %ld %ld, delivered %d, value %ld", r1, r2, got_n, got_n ? got_val[0] : 0L);
}

static void test_lowest_first(void)
{
	uint64_t set = bit(RT2) | bit(RT1) | bit(SIGUSR2);
	procmask(SIG_BLOCK, set);
	siginfo_t si = queue_info(SI_QUEUE, 0);
	sigqueueinfo(getpid(), RT2, &si);
	sigqueueinfo(getpid(), RT1, &si);
	sigqueueinfo(getpid(), SIGUSR2, &si);
	long s1 = timedwait(set, &si, 0), s2 = timedwait(set, &si, 0), s3 = timedwait(set, &si, 0);
	KTAP_CHECK(s1 == SIGUSR2 && s2 == RT1 && s3 == RT2, "lowest_signal_first",
		   "order %ld %ld %ld", s1, s2, s3);
	procmask(SIG_UNBLOCK, set);
}

static void test_sigqueueinfo_permissions(void)
{
	pid_t child = fork();
	if (child == 0) {
		procmask(SIG_BLOCK, bit(RT1));
		pause();
		_exit(0);
	}
	siginfo_t user = queue_info(SI_USER, 1), kern = queue_info(SI_KERNEL, 2),
		  tkill = queue_info(SI_TKILL, 3), q = queue_info(SI_QUEUE, 4);
	errno = 0;
	long r_user = sigqueueinfo(child, RT1, &user);
	int e_user = errno;
	errno = 0;
	long r_kern = sigqueueinfo(child, RT1, &kern);
	int e_kern = errno;
	errno = 0;
	long r_tkill = tgsigqueueinfo(child, child, RT1, &tkill);
	int e_tkill = errno;
	long r_q = sigqueueinfo(child, RT1, &q);
	long r_zero = sigqueueinfo(child, 0, &q);
	KTAP_CHECK(r_user == -1 && e_user == EPERM && r_kern == -1 && e_kern == EPERM &&
			   r_tkill == -1 && e_tkill == EPERM && r_q == 0 && r_zero == 0,
		   "sigqueueinfo_forged_code_to_other_eperm",
		   "SI_USER %ld/%d SI_KERNEL %ld/%d SI_TKILL %ld/%d SI_QUEUE %ld sig0 %ld", r_user,
		   e_user, r_kern, e_kern, r_tkill, e_tkill, r_q, r_zero);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	errno = 0;
	long r_gone = sigqueueinfo(child, RT1, &q);
	int e_gone = errno;
	errno = 0;
	long r_bad = sigqueueinfo(getpid(), 65, &q);
	int e_bad = errno;
	KTAP_CHECK(r_gone == -1 && e_gone == ESRCH && r_bad == -1 && e_bad == EINVAL,
		   "sigqueueinfo_esrch_einval", "reaped %ld/%d sig 65 %ld/%d", r_gone, e_gone, r_bad,
		   e_bad);

	/* To itself a process may say anything: SI_KERNEL comes back as sent. */
	procmask(SIG_BLOCK, bit(RT1));
	long r_self = sigqueueinfo(getpid(), RT1, &kern);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	long s = timedwait(bit(RT1), &si, 0);
	procmask(SIG_UNBLOCK, bit(RT1));
	KTAP_CHECK(r_self == 0 && s == RT1 && si.si_code == SI_KERNEL &&
			   (long)si.si_value.sival_ptr == 2,
		   "sigqueueinfo_forged_code_to_self", "send %ld (errno %d) took %ld code %#x", r_self,
		   errno, s, si.si_code);
}

static void test_siginfo_bytes(void)
{
	procmask(SIG_BLOCK, bit(RT1));
	/* SI_QUEUE is a layout Linux knows: the 48 bytes it keeps come back, the rest zero. */
	unsigned char sent[128], back[128];
	siginfo_t si = queue_info(SI_QUEUE, 0x1122334455667788L);
	memcpy(sent, &si, 128);
	for (int i = 32; i < 128; i++)
		sent[i] = (unsigned char)(i * 7 + 1);
	long r = sigqueueinfo(getpid(), RT1, (siginfo_t *)sent);
	long s = timedwait(bit(RT1), (siginfo_t *)back, 0);
	int head = memcmp(back + 4, sent + 4, 44) == 0 && back[0] == RT1;
	int tail = 1;
	for (int i = 48; i < 128; i++)
		tail &= back[i] == 0;
	KTAP_CHECK(r == 0 && s == RT1 && head && tail, "siginfo_48_bytes_round_trip",
		   "send %ld took %ld head %d tail zero %d", r, s, head, tail);

	/* An si_code Linux does not know: the bytes past 48 must be zero. */
	siginfo_t odd = queue_info(-100, 5);
	memcpy(sent, &odd, 128);
	sent[100] = 1;
	errno = 0;
	long r_big = sigqueueinfo(getpid(), RT1, (siginfo_t *)sent);
	int e_big = errno;
	sent[100] = 0;
	long r_ok = sigqueueinfo(getpid(), RT1, (siginfo_t *)sent);
	int n = drain(bit(RT1));
	procmask(SIG_UNBLOCK, bit(RT1));
	KTAP_CHECK(r_big == -1 && e_big == E2BIG && r_ok == 0 && n == 1,
		   "sigqueueinfo_unknown_layout_e2big", "nonzero tail %ld/%d, zero tail %ld, taken %d",
		   r_big, e_big, r_ok, n);
}

static volatile pid_t thread_tid;
static volatile long thread_sig, thread_val, thread_code;

static void *waiter(void *arg)
{
	thread_tid = syscall(SYS_gettid);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	thread_sig = timedwait(bit(RT2), &si, 5000);
	thread_val = (long)si.si_value.sival_ptr;
	thread_code = si.si_code;
	return NULL;
}

static void test_tgsigqueueinfo_thread(void)
{
	procmask(SIG_BLOCK, bit(RT2)); /* the thread inherits it */
	pthread_t th;
	thread_tid = 0;
	pthread_create(&th, NULL, waiter, NULL);
	while (!thread_tid)
		sched_yield();
	siginfo_t si = queue_info(SI_QUEUE, 77);
	errno = 0;
	long r_wrong = tgsigqueueinfo(getpid() + 100000, thread_tid, RT2, &si);
	int e_wrong = errno;
	long r = tgsigqueueinfo(getpid(), thread_tid, RT2, &si);
	pthread_join(th, NULL);
	/* The thread took its own signal: nothing is left for the process or this thread. */
	int left = (pending() & bit(RT2)) != 0;
	procmask(SIG_UNBLOCK, bit(RT2));
	KTAP_CHECK(r_wrong == -1 && e_wrong == ESRCH && r == 0 && thread_sig == RT2 &&
			   thread_val == 77 && thread_code == SI_QUEUE && !left,
		   "tgsigqueueinfo_to_a_thread",
		   "wrong tgid %ld/%d send %ld took %ld value %ld code %ld left %d", r_wrong, e_wrong,
		   r, thread_sig, thread_val, thread_code, left);
}

static void test_rlimit_sigpending(void)
{
	struct rlimit old, low = {8, 8};
	getrlimit(RLIMIT_SIGPENDING, &old);
	uint64_t set = bit(RT1) | bit(RT3) | bit(SIGUSR2);
	procmask(SIG_BLOCK, set);
	if (setrlimit(RLIMIT_SIGPENDING, &low) != 0) {
		ktap_skip("rlimit_sigpending_eagain", "setrlimit(RLIMIT_SIGPENDING) refused");
		ktap_skip("rlimit_kill_still_sends", "setrlimit(RLIMIT_SIGPENDING) refused");
		procmask(SIG_UNBLOCK, set);
		return;
	}
	int ok = 0, eagain = 0;
	for (int i = 0; i < 64 && !eagain; i++) {
		siginfo_t si = queue_info(SI_QUEUE, i);
		if (sigqueueinfo(getpid(), RT1, &si) == 0)
			ok++;
		else
			eagain = errno == EAGAIN;
	}
	KTAP_CHECK(eagain && ok >= 1 && ok <= 8, "rlimit_sigpending_eagain",
		   "queued %d before EAGAIN (%d)", ok, eagain);

	/* Over the limit kill() still sends a real-time signal, and sigqueue() a standard one,
	 * each without its siginfo (SI_USER from nobody). */
	long rk = kill(getpid(), RT3);
	siginfo_t q = queue_info(SI_QUEUE, 9);
	long rq = sigqueueinfo(getpid(), SIGUSR2, &q);
	siginfo_t a, b;
	memset(&a, 0xff, sizeof(a));
	memset(&b, 0xff, sizeof(b));
	long sa = timedwait(bit(RT3), &a, 0), sb = timedwait(bit(SIGUSR2), &b, 0);
	KTAP_CHECK(rk == 0 && rq == 0 && sa == RT3 && a.si_code == SI_USER && a.si_pid == 0 &&
			   sb == SIGUSR2 && b.si_code == SI_USER && b.si_pid == 0,
		   "rlimit_kill_still_sends",
		   "kill %ld took %ld code %d pid %d; sigqueue %ld took %ld code %d pid %d", rk, sa,
		   a.si_code, a.si_pid, rq, sb, b.si_code, b.si_pid);
	drain(set);
	setrlimit(RLIMIT_SIGPENDING, &old);
	procmask(SIG_UNBLOCK, set);
}

static void test_sigpending_both(void)
{
	uint64_t set = bit(SIGUSR1) | bit(RT2);
	procmask(SIG_BLOCK, set);
	kill(getpid(), SIGUSR1);                               /* the process's queue */
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), RT2); /* this thread's */
	uint64_t p = pending();
	int n = drain(set);
	procmask(SIG_UNBLOCK, set);
	KTAP_CHECK((p & set) == set && n == 2, "sigpending_shows_thread_and_process",
		   "pending %#llx taken %d", (unsigned long long)p, n);
}

static volatile int tstp_handled;

static void on_tstp(int sig)
{
	tstp_handled++;
}

static void test_sigcont_flushes_stop(void)
{
	/* A handled, blocked SIGTSTP is discarded by SIGCONT: the handler never runs. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tstp;
	sigaction(SIGTSTP, &sa, NULL);
	procmask(SIG_BLOCK, bit(SIGTSTP) | bit(SIGTTOU));
	kill(getpid(), SIGTSTP);
	kill(getpid(), SIGTTOU);
	uint64_t before = pending();
	kill(getpid(), SIGCONT);
	uint64_t after = pending();
	tstp_handled = 0;
	procmask(SIG_UNBLOCK, bit(SIGTSTP));
	procmask(SIG_BLOCK, bit(SIGTTOU)); /* SIGTTOU stays blocked: its default would stop us */
	KTAP_CHECK((before & (bit(SIGTSTP) | bit(SIGTTOU))) == (bit(SIGTSTP) | bit(SIGTTOU)) &&
			   !(after & (bit(SIGTSTP) | bit(SIGTTOU))) && !tstp_handled,
		   "sigcont_discards_pending_stop_signals", "before %#llx after %#llx handled %d",
		   (unsigned long long)before, (unsigned long long)after, tstp_handled);

	/* A blocked SIGCONT is discarded by a stop signal. */
	procmask(SIG_BLOCK, bit(SIGCONT) | bit(SIGTSTP));
	kill(getpid(), SIGCONT);
	before = pending();
	kill(getpid(), SIGTSTP);
	after = pending();
	signal(SIGTSTP, SIG_IGN); /* discards the pending SIGTSTP */
	uint64_t ignored = pending();
	procmask(SIG_UNBLOCK, bit(SIGCONT) | bit(SIGTSTP) | bit(SIGTTOU));
	signal(SIGTSTP, SIG_DFL);
	KTAP_CHECK((before & bit(SIGCONT)) && !(after & bit(SIGCONT)) && (after & bit(SIGTSTP)) &&
			   !(ignored & bit(SIGTSTP)),
		   "stop_signal_discards_pending_sigcont", "before %#llx after %#llx ignored %#llx",
		   (unsigned long long)before, (unsigned long long)after,
		   (unsigned long long)ignored);
}

static void on_alarm(int sig)
{
}

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void test_sigtimedwait(void)
{
	procmask(SIG_BLOCK, bit(RT1));
	siginfo_t si;
	errno = 0;
	long r0 = timedwait(bit(RT1), &si, 0);
	int e0 = errno;
	long t = now_ms();
	errno = 0;
	long r50 = timedwait(bit(RT1), &si, 50);
	int e50 = errno;
	long took = now_ms() - t;
	KTAP_CHECK(r0 == -1 && e0 == EAGAIN && r50 == -1 && e50 == EAGAIN && took >= 50,
		   "sigtimedwait_times_out_eagain", "zero %ld/%d, 50 ms %ld/%d after %ld ms", r0, e0,
		   r50, e50, took);

	/* Another signal, handled, ends the wait with EINTR (SA_RESTART or not). */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 30000}};
	setitimer(ITIMER_REAL, &it, NULL);
	errno = 0;
	long ri = timedwait(bit(RT1), &si, 5000);
	int ei = errno;
	KTAP_CHECK(ri == -1 && ei == EINTR, "sigtimedwait_interrupted_eintr", "%ld errno %d", ri,
		   ei);

	/* Without a timeout it sleeps until the signal comes (from a child). */
	pid_t parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		usleep(20000);
		siginfo_t q = queue_info(SI_QUEUE, 55);
		q.si_pid = getpid();
		syscall(SYS_rt_sigqueueinfo, parent, RT1, &q);
		_exit(0);
	}
	memset(&si, 0, sizeof(si));
	long rw = timedwait(bit(RT1), &si, -1);
	waitpid(child, NULL, 0);
	procmask(SIG_UNBLOCK, bit(RT1));
	KTAP_CHECK(rw == RT1 && (long)si.si_value.sival_ptr == 55 && si.si_pid == child,
		   "sigtimedwait_sleeps_until_sent", "%ld value %ld pid %d (child %d)", rw,
		   (long)si.si_value.sival_ptr, si.si_pid, child);
}

/* A signal whose action ignores it is still queued while blocked (Linux's sig_ignored looks
 * at the mask first): a child's SIGCHLD (default: ignore) waits for sigtimedwait, and a
 * blocked SIGURG sent to this thread shows in sigpending. Unblocked, both are discarded. */
static void test_blocked_ignored_kept(void)
{
	uint64_t old = procmask(SIG_BLOCK, bit(SIGCHLD) | bit(SIGURG));
	pid_t child = fork();
	if (child == 0)
		_exit(3);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	long r = timedwait(bit(SIGCHLD), &si, 2000);
	waitpid(child, NULL, 0);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGURG);
	uint64_t p = pending();
	procmask(SIG_SETMASK, old);
	uint64_t after = pending();
	KTAP_CHECK(r == SIGCHLD && si.si_pid == child && si.si_code == CLD_EXITED &&
			   si.si_status == 3 && (p & bit(SIGURG)) && !(after & bit(SIGURG)),
		   "blocked_ignored_signal_kept",
		   "sigtimedwait %ld pid %d (child %d) code %d status %d, pending %#llx after %#llx", r,
		   si.si_pid, child, si.si_code, si.si_status, (unsigned long long)p,
		   (unsigned long long)after);
}

int main(void)
{
	ktap_plan(18);
	test_rt_queue_in_order();
	test_standard_coalesces();
	test_lowest_first();
	test_sigqueueinfo_permissions();
	test_siginfo_bytes();
	test_tgsigqueueinfo_thread();
	test_rlimit_sigpending();
	test_sigpending_both();
	test_sigcont_flushes_stop();
	test_sigtimedwait();
	test_blocked_ignored_kept();
	return ktap_finish();
}
