/* smp: threads of one process on several CPUs at once, CPU affinity, and TLB shootdown.
 *
 * - two_cpus_at_once: two threads, each pinned to its own CPU, see each other running at the
 *   same time (each spins until the other has checked in), and getcpu names the pinned CPU.
 * - affinity_honoured: a thread pinned to the last online CPU runs only there (getcpu over
 *   many yields), and sched_getaffinity returns exactly that CPU.
 * - munmap_shootdown: a reader thread on one CPU loads a page in a loop (its translation
 *   cached in that CPU's TLB) while a thread on another CPU unmaps it. Once munmap has
 *   returned, the next load must fault (SIGSEGV); without a TLB shootdown it would read the
 *   old page through the stale translation.
 * - mprotect_shootdown: the same with mprotect(PROT_NONE).
 * - exit_kills_remote_thread: a child process whose second thread spins in user mode on
 *   another CPU calls exit(): the spinning thread must be stopped there (it never enters
 *   the kernel on its own) and the child must end.
 * Every result is SKIP on a machine with one online CPU (a probe: sysconf).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* ---- two_cpus_at_once ---- */

static atomic_int checked_in[2];
struct pair_result {
	int cpu;         /* the CPU asked for */
	int pinned;      /* sched_setaffinity succeeded */
	int cpu_seen;    /* getcpu after pinning */
	int met;         /* saw the other thread checked in while itself running */
};

static void *pair_thread(void *arg)
{
	struct pair_result *r = arg;
	r->pinned = pin(r->cpu) == 0;
	r->cpu_seen = sched_getcpu();
	atomic_store(&checked_in[r->cpu], 1);
	double deadline = now() + 10;
	/* Spin without yielding: on one CPU the other thread could not check in meanwhile
	 * except by preemption, so also require both to be on their own CPUs. */
	while (!atomic_load(&checked_in[1 - r->cpu]) && now() < deadline)
		;
	r->met = atomic_load(&checked_in[1 - r->cpu]) && sched_getcpu() == r->cpu;
	return NULL;
}

static void two_cpus_at_once(void)
{
	struct pair_result r[2] = {{.cpu = 0}, {.cpu = 1}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, pair_thread, &r[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	int ok = 1;
	for (int i = 0; i < 2; i++)
		ok &= r[i].pinned && r[i].cpu_seen == i && r[i].met;
	KTAP_CHECK(ok, "two_cpus_at_once",
		   "thread 0: pinned %d cpu %d met %d; thread 1: pinned %d cpu %d met %d",
		   r[0].pinned, r[0].cpu_seen, r[0].met, r[1].pinned, r[1].cpu_seen, r[1].met);
}

/* ---- affinity_honoured ---- */

static int last_cpu;

static void *affinity_thread(void *arg)
{
	int *wrong = arg;
	if (pin(last_cpu) != 0) {
		*wrong = -1;
		return NULL;
	}
	for (int i = 0; i < 2000; i++) {
		if (sched_getcpu() != last_cpu)
			(*wrong)++;
		if (i % 16 == 0)
			sched_yield();
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) != 1 ||
	    !CPU_ISSET(last_cpu, &set))
		*wrong += 100000;
	return NULL;
}

static void affinity_honoured(void)
{
	int wrong = 0;
	pthread_t t;
	pthread_create(&t, NULL, affinity_thread, &wrong);
	pthread_join(t, NULL);
	KTAP_CHECK(wrong == 0, "affinity_honoured",
		   "%d (pin failed: -1; a wrong getaffinity mask adds 100000) of 2000 getcpu "
		   "calls off CPU %d",
		   wrong, last_cpu);
}

/* ---- shootdown ---- */

static volatile uint64_t *victim;
static atomic_int reads_before;   /* loads done by the reader */
static atomic_int changed;        /* munmap/mprotect has returned */
static atomic_int stale_reads;    /* loads that succeeded after `changed` was seen */
static atomic_int faulted;
static sigjmp_buf reader_jmp;

static void on_segv(int sig)
{
	(void)sig;
	atomic_store(&faulted, 1);
	siglongjmp(reader_jmp, 1);
}

static void *reader_thread(void *arg)
{
	(void)arg;
	pin(1);
	if (sigsetjmp(reader_jmp, 1))
		return NULL;
	double deadline = now() + 10;
	while (now() < deadline) {
		int after = atomic_load(&changed);
		uint64_t v = *victim;
		if (v != 0x5eed5eed5eed5eedull)
			break;
		if (after) {
			/* The change was complete before this load began: it must have faulted. */
			if (atomic_fetch_add(&stale_reads, 1) > 100000)
				break;
		} else {
			atomic_fetch_add(&reads_before, 1);
		}
	}
	return NULL;
}

static void shootdown(const char *name, int use_mprotect)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ktap_result(0, name);
		return;
	}
	victim = p;
	*victim = 0x5eed5eed5eed5eedull;
	atomic_store(&reads_before, 0);
	atomic_store(&changed, 0);
	atomic_store(&stale_reads, 0);
	atomic_store(&faulted, 0);
	struct sigaction sa = {.sa_handler = on_segv};
	sigaction(SIGSEGV, &sa, NULL);
	pthread_t t;
	pthread_create(&t, NULL, reader_thread, NULL);
	/* Let the reader cache the translation on its CPU. */
	double deadline = now() + 10;
	while (atomic_load(&reads_before) < 10000 && now() < deadline)
		;
	int rc = use_mprotect ? mprotect(p, 4096, PROT_NONE) : munmap(p, 4096);
	atomic_store(&changed, 1);
	pthread_join(t, NULL);
	signal(SIGSEGV, SIG_DFL);
	KTAP_CHECK(rc == 0 && atomic_load(&faulted) && atomic_load(&stale_reads) == 0, name,
		   "rc %d, %d loads before, %d loads of the old page after the change returned, "
		   "faulted %d",
		   rc, atomic_load(&reads_before), atomic_load(&stale_reads), atomic_load(&faulted));
	if (use_mprotect)
		munmap(p, 4096);
}

/* ---- exit_kills_remote_thread ---- */

static atomic_int spinner_running;

static void *spinner(void *arg)
{
	(void)arg;
	pin(1);
	atomic_store(&spinner_running, sched_getcpu() == 1 ? 1 : 2);
	for (;;)
		;
	return NULL;
}

static void exit_kills_remote_thread(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pin(0);
		pthread_t t;
		pthread_create(&t, NULL, spinner, NULL);
		while (!atomic_load(&spinner_running))
			;
		_exit(atomic_load(&spinner_running) == 1 ? 7 : 8);
	}
	int status = 0;
	pid_t got = 0;
	double deadline = now() + 10;
	while (got == 0 && now() < deadline) {
		got = waitpid(pid, &status, WNOHANG);
		if (got == 0)
			usleep(1000);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	KTAP_CHECK(got == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7,
		   "exit_kills_remote_thread",
		   "waitpid %d (child %d), status %#x (want exit 7: 8 means the spinner was not "
		   "on CPU 1; 0 from waitpid: the child did not end in 10 s)",
		   (int)got, (int)pid, status);
}

int main(void)
{
	ktap_plan(5);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	if (online < 2) {
		const char *names[] = {"two_cpus_at_once", "affinity_honoured", "munmap_shootdown",
				       "mprotect_shootdown", "exit_kills_remote_thread"};
		for (int i = 0; i < 5; i++)
			ktap_skip(names[i], "one CPU online");
		return 0;
	}
	last_cpu = (int)online - 1;
	/* The main thread stays on CPU 0 while its threads take the others. */
	pin(0);
	two_cpus_at_once();
	affinity_honoured();
	shootdown("munmap_shootdown", 0);
	shootdown("mprotect_shootdown", 1);
	exit_kills_remote_thread();
	return ktap_failed ? 1 : 0;
}
