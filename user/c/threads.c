/* threads: libc threads on the kernel's clone(CLONE_VM|CLONE_THREAD|CLONE_SETTLS|...) and futex.
 *
 * Four threads increment a shared counter under a mutex; a condition-variable ping-pong hands a
 * token back and forth; __thread variables start from the TLS image and stay distinct per
 * thread; gettid differs per thread while getpid is shared; pthread_join returns each thread's
 * value; a detached thread and pthread_exit; exit from main with threads joined; kill(2) given
 * another thread's id signals the process, as Linux's does.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ktap.h"

#define NTHREADS 4
#define ITERS 20000
#define ROUNDS 100

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static __thread int tls_init = 42;    /* from the PT_TLS image (.tdata) */
static __thread long tls_zero;        /* .tbss */
static __thread char tls_big[256];    /* .tbss, larger */

struct worker {
	int index;
	pid_t tid, pid;
	int tls_start_ok; /* tls_init was 42 and tls_zero 0 when the thread started */
	int tls_kept_ok;  /* its own TLS values survived the others' writes */
	void *tls_addr;
};

static pthread_barrier_t barrier;

static pid_t my_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->tid = my_gettid();
	w->pid = getpid();
	w->tls_start_ok = tls_init == 42 && tls_zero == 0 && tls_big[0] == 0 && tls_big[255] == 0;
	w->tls_addr = &tls_init;
	tls_init = 1000 + w->index;
	tls_zero = w->index;
	tls_big[255] = (char)w->index;
	pthread_barrier_wait(&barrier); /* everyone has written its TLS */
	for (int i = 0; i < ITERS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
		if ((i & 1023) == 0)
			sched_yield();
	}
	w->tls_kept_ok = tls_init == 1000 + w->index && tls_zero == w->index &&
			 tls_big[255] == (char)w->index;
	return (void *)(intptr_t)(100 + w->index);
}

/* Condition-variable ping-pong: turn 0 = main's, 1 = the partner's. */
static pthread_mutex_t pp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cond = PTHREAD_COND_INITIALIZER;
static int pp_turn, pp_count;

static void *partner_main(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&pp_lock);
		while (pp_turn != 1)
			pthread_cond_wait(&pp_cond, &pp_lock);
		pp_count++;
		pp_turn = 0;
		pthread_cond_signal(&pp_cond);
		pthread_mutex_unlock(&pp_lock);
	}
	return NULL;
}

/* The other side of partner_main: ROUNDS handoffs of the turn through the condition variable. */
static void drive_partner(void)
{
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&pp_lock);
		pp_turn = 1;
		pthread_cond_signal(&pp_cond);
		while (pp_turn != 0)
			pthread_cond_wait(&pp_cond, &pp_lock);
		pthread_mutex_unlock(&pp_lock);
	}
}

static volatile int detached_ran;
static pthread_mutex_t det_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t det_cond = PTHREAD_COND_INITIALIZER;

static void *detached_main(void *arg)
{
	pthread_mutex_lock(&det_lock);
	detached_ran = 1;
	pthread_cond_signal(&det_cond);
	pthread_mutex_unlock(&det_lock);
	pthread_exit(NULL);
}

/* A thread that publishes its id and waits to be told to end (kill_by_thread_id). */
static pthread_mutex_t kt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kt_cond = PTHREAD_COND_INITIALIZER;
static int kt_stop;
static pid_t kt_tid;
static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen = 1;
}

static void *kill_target_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&kt_lock);
	kt_tid = my_gettid();
	pthread_cond_broadcast(&kt_cond);
	while (!kt_stop)
		pthread_cond_wait(&kt_cond, &kt_lock);
	pthread_mutex_unlock(&kt_lock);
	return NULL;
}

int main(void)
{
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	void *ret[NTHREADS];

	ktap_plan(10);

	pthread_barrier_init(&barrier, NULL, NTHREADS);
	int created = 1;
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.index = i};
		if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
			created = 0;
	}
	KTAP_CHECK(created, "pthread_create", "pthread_create failed");
	int joined = 1;
	for (int i = 0; i < NTHREADS; i++)
		if (!created || pthread_join(th[i], &ret[i]) != 0 || ret[i] != (void *)(intptr_t)(100 + i))
			joined = 0;
	KTAP_CHECK(joined, "pthread_join_values", "pthread_join failed or wrong return value");
	KTAP_CHECK(counter == (long)NTHREADS * ITERS, "mutex_counter", "counter %ld, expected %ld",
		   counter, (long)NTHREADS * ITERS);

	/* TLS: initial image, distinct addresses, values kept. */
	int tls_ok = tls_init == 42 && tls_zero == 0;
	for (int i = 0; i < NTHREADS; i++) {
		tls_ok &= w[i].tls_start_ok && w[i].tls_kept_ok && w[i].tls_addr != (void *)&tls_init;
		for (int j = 0; j < i; j++)
			tls_ok &= w[i].tls_addr != w[j].tls_addr;
	}
	KTAP_CHECK(tls_ok, "tls_distinct_per_thread", "__thread values wrong");

	/* gettid: distinct per thread and from the main thread's (which equals the pid). */
	pid_t main_tid = my_gettid();
	int tid_ok = main_tid == getpid();
	for (int i = 0; i < NTHREADS; i++) {
		tid_ok &= w[i].tid > 0 && w[i].tid != main_tid && w[i].pid == getpid();
		for (int j = 0; j < i; j++)
			tid_ok &= w[i].tid != w[j].tid;
	}
	KTAP_CHECK(tid_ok, "gettid_distinct", "thread ids not distinct / pid not shared");

	/* Condition variable ping-pong. */
	pthread_t partner;
	int pp_ok = pthread_create(&partner, NULL, partner_main, NULL) == 0;
	if (pp_ok)
		drive_partner();
	pp_ok = pp_ok && pthread_join(partner, NULL) == 0 && pp_count == ROUNDS;
	KTAP_CHECK(pp_ok, "condvar_handoff", "ping-pong count %d", pp_count);

	/* A detached thread ending with pthread_exit. */
	pthread_attr_t attr;
	pthread_t det;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int det_ok = pthread_create(&det, &attr, detached_main, NULL) == 0;
	pthread_mutex_lock(&det_lock);
	while (det_ok && !detached_ran)
		pthread_cond_wait(&det_cond, &det_lock);
	pthread_mutex_unlock(&det_lock);
	KTAP_CHECK(det_ok && detached_ran, "detached_pthread_exit", "detached thread did not run");

	/* A thread with a small explicit stack (mmap'ed by libc with a guard page). */
	pthread_attr_t sattr;
	pthread_attr_init(&sattr);
	pthread_attr_setstacksize(&sattr, 64 * 1024);
	struct worker one = {.index = 7};
	pthread_t small;
	counter = 0;
	pthread_barrier_destroy(&barrier);
	pthread_barrier_init(&barrier, NULL, 1);
	void *r = NULL;
	int small_ok = pthread_create(&small, &sattr, worker_main, &one) == 0 &&
		       pthread_join(small, &r) == 0 && r == (void *)(intptr_t)107 && counter == ITERS &&
		       one.tls_start_ok && one.tls_kept_ok;
	KTAP_CHECK(small_ok, "small_stack_thread", "thread with a 64 KiB stack failed");

	/* Many short-lived threads: thread exit (CLONE_CHILD_CLEARTID + futex wake) is reliable. */
	int many_ok = 1;
	for (int i = 0; i < 50 && many_ok; i++) {
		pthread_t t;
		many_ok = pthread_create(&t, NULL, partner_main, NULL) == 0;
		pp_count = 0;
		/* partner_main with ROUNDS rounds: drive it again. */
		if (many_ok)
			drive_partner();
		many_ok = many_ok && pthread_join(t, NULL) == 0 && pp_count == ROUNDS;
	}
	KTAP_CHECK(many_ok, "create_join_50", "a short-lived thread failed");

	/* kill(2) with a thread's id (not its process's): Linux finds the thread and signals its
	 * process (seccomp_bpf's TSYNC tests poll a sibling's tid with kill(tid, 0) until it is
	 * gone). */
	signal(SIGUSR1, on_usr1);
	pthread_t kt;
	int kt_ok = pthread_create(&kt, NULL, kill_target_main, NULL) == 0;
	pthread_mutex_lock(&kt_lock);
	while (kt_ok && !kt_tid)
		pthread_cond_wait(&kt_cond, &kt_lock);
	pthread_mutex_unlock(&kt_lock);
	int k0 = kt_ok ? kill(kt_tid, 0) : -1;
	int k1 = kt_ok ? kill(kt_tid, SIGUSR1) : -1;
	for (int i = 0; i < 1000 && k1 == 0 && !usr1_seen; i++)
		usleep(1000);
	pthread_mutex_lock(&kt_lock);
	kt_stop = 1;
	pthread_cond_broadcast(&kt_cond);
	pthread_mutex_unlock(&kt_lock);
	kt_ok = kt_ok && pthread_join(kt, NULL) == 0;
	KTAP_CHECK(kt_ok && kt_tid != getpid() && k0 == 0 && k1 == 0 && usr1_seen, "kill_by_thread_id",
		   "kill(tid %d, 0) = %d, kill(tid, SIGUSR1) = %d, handler ran %d", (int)kt_tid, k0, k1,
		   (int)usr1_seen);

	return ktap_finish();
}
