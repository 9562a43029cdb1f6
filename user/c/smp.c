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
 * - proc_stat_per_cpu: /proc/stat has a `cpuN` row per online CPU, the `cpu` row is their
 *   sum, and a thread spinning in user mode on the last CPU for 400 ms raises that CPU's
 *   user time by at least a tenth of that (a kernel that keeps no per-CPU time shows 0; the
 *   tick that samples it runs at about half its rate under QEMU TCG, so not more is asked).
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
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "ktap.h"

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
static long online_cpus; /* before any pinning: musl counts the affinity mask */

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

/* ---- proc_stat_per_cpu ---- */

#define STAT_FIELDS 10
struct cpu_stat {
	int rows;                          /* cpuN rows found */
	unsigned long long sum[STAT_FIELDS];      /* the `cpu` row */
	unsigned long long rows_sum[STAT_FIELDS]; /* sum of the cpuN rows */
	unsigned long long last[STAT_FIELDS];     /* the row of CPU `last_cpu` */
	int last_found;
};

static int read_stat(struct cpu_stat *st)
{
	memset(st, 0, sizeof(*st));
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "cpu", 3) != 0)
			continue;
		unsigned long long v[STAT_FIELDS] = {0};
		int cpu = -1, used = 0;
		if (line[3] == ' ')
			sscanf(line + 3, "%n", &used);
		else if (sscanf(line + 3, "%d%n", &cpu, &used) != 1)
			continue;
		const char *p = line + 3 + used;
		for (int i = 0; i < STAT_FIELDS; i++) {
			int n = 0;
			if (sscanf(p, "%llu%n", &v[i], &n) != 1)
				break;
			p += n;
		}
		for (int i = 0; i < STAT_FIELDS; i++) {
			if (cpu < 0)
				st->sum[i] = v[i];
			else
				st->rows_sum[i] += v[i];
		}
		if (cpu >= 0)
			st->rows++;
		if (cpu == last_cpu) {
			memcpy(st->last, v, sizeof(v));
			st->last_found = 1;
		}
	}
	fclose(f);
	return 0;
}

static void proc_stat_per_cpu(void)
{
	struct cpu_stat before, after;
	pin(last_cpu);
	int r0 = read_stat(&before);
	double t0 = now();
	while (now() - t0 < 0.4)
		;
	int r1 = read_stat(&after);
	pin(0);
	long online = online_cpus;
	/* Linux rounds each row on its own, so the sum row may differ from the rows' sum by one
	 * per CPU in each field. */
	int sum_ok = 1;
	for (int i = 0; i < 4; i++) {
		unsigned long long a = after.sum[i], b = after.rows_sum[i];
		if ((a > b ? a - b : b - a) > (unsigned long long)online)
			sum_ok = 0;
	}
	unsigned long long user = after.last[0] - before.last[0];
	KTAP_CHECK(r0 == 0 && r1 == 0 && after.rows == online && after.last_found && sum_ok &&
			   user >= 4 && user <= 60,
		   "proc_stat_per_cpu",
		   "read %d/%d, %d cpuN rows for %ld online, cpu%d found %d, sum row agrees %d, "
		   "cpu%d user +%llu in 400 ms (want 4..60 USER_HZ ticks)",
		   r0, r1, after.rows, online, last_cpu, after.last_found, sum_ok, last_cpu, user);
}

int main(void)
{
	ktap_plan(6);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	if (online < 2) {
		const char *names[] = {"two_cpus_at_once",	   "affinity_honoured",
				       "munmap_shootdown",	   "mprotect_shootdown",
				       "exit_kills_remote_thread", "proc_stat_per_cpu"};
		for (int i = 0; i < 6; i++)
			ktap_skip(names[i], "one CPU online");
		return 0;
	}
	last_cpu = (int)online - 1;
	online_cpus = online;
	/* The main thread stays on CPU 0 while its threads take the others. */
	pin(0);
	two_cpus_at_once();
	affinity_honoured();
	shootdown("munmap_shootdown", 0);
	shootdown("mprotect_shootdown", 1);
	exit_kills_remote_thread();
	proc_stat_per_cpu();
	return ktap_failed ? 1 : 0;
}
