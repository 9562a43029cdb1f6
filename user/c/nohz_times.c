/* nohz_times: a process's CPU time read from another CPU while one of its threads spins in
 * user mode (docs/nohz.md "CPU-time accounting").
 *
 * A thread pins itself to the last online CPU and spins there in user mode, with a getpid
 * syscall every ~1/4 ms (entries and exits, but never a sleep or a task switch). The main
 * thread, pinned to CPU 0, sleeps (so its own CPU time stays near 0) and reads the process's
 * times() and getrusage(RUSAGE_SELF) and /proc/stat's row of the spinner's CPU, every 20 ms
 * for 1 s:
 * - remote_utime_grows: getrusage's user time grows by at least a quarter of the elapsed time
 *   (the spinner is in user mode most of it; a quarter for tick-sampled kernels, below);
 * - remote_times_grows: times()'s tms_utime likewise, in clock ticks;
 * - remote_utime_monotonic: no read of the user time goes backwards;
 * - remote_cpu_row_grows: the spinner CPU's /proc/stat user column grows by at least a
 *   quarter of the elapsed time.
 * On a kentry nohz_full CPU the spinner's task never switches and its tick is stopped, so
 * nothing folds its time: only readers that add the CPU's pending time see it grow (the boot
 * test nohz_full_remote_times; its negative run ignores the pending time and fails here).
 * Every result is SKIP on a machine with one online CPU (a probe: sysconf).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "ktap.h"

#define RESULTS 4
#define READS 50
#define READ_GAP_NS 20000000L

static atomic_int started, stop;
static int spin_cpu;

static void *spinner(void *arg)
{
	(void)arg;
	if (pin(spin_cpu) != 0 || sched_getcpu() != spin_cpu) {
		atomic_store(&started, -1);
		return NULL;
	}
	atomic_store(&started, 1);
	volatile unsigned long x = 0;
	while (!atomic_load(&stop)) {
		for (unsigned long i = 0; i < 20000; i++)
			x = x * 31 + i;
		syscall(SYS_getpid);
	}
	return NULL;
}

static double utime_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
}

/* The user column (clock ticks) of /proc/stat's row `cpu<n>`, or -1. */
static long long cpu_user(int n)
{
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	char line[512], name[16];
	long long user = -1;
	snprintf(name, sizeof(name), "cpu%d ", n);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, strlen(name)) == 0)
			sscanf(line + strlen(name), "%lld", &user);
	fclose(f);
	return user;
}

int main(void)
{
	ktap_plan(RESULTS);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 2) {
		const char *names[RESULTS] = {"remote_utime_grows", "remote_times_grows",
					      "remote_utime_monotonic", "remote_cpu_row_grows"};
		for (int i = 0; i < RESULTS; i++)
			ktap_skip(names[i], "one online CPU");
		return ktap_finish();
	}
	spin_cpu = (int)cpus - 1;
	pin(0);
	pthread_t t;
	pthread_create(&t, NULL, spinner, NULL);
	while (atomic_load(&started) == 0) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	if (atomic_load(&started) < 0) {
		ktap_diag("nohz_times", "the spinner could not move to CPU %d", spin_cpu);
		return 1;
	}
	/* Let the spinner's CPU settle (on a nohz_full CPU: its tick stops). */
	struct timespec settle = {0, 100000000};
	nanosleep(&settle, NULL);
	long hz = sysconf(_SC_CLK_TCK);
	struct tms tms0, tms1;
	double t0 = now(), u0 = utime_s(), prev = u0;
	times(&tms0);
	long long row0 = cpu_user(spin_cpu);
	int backwards = 0;
	for (int i = 0; i < READS; i++) {
		struct timespec gap = {0, READ_GAP_NS};
		nanosleep(&gap, NULL);
		double u = utime_s();
		if (u < prev) {
			if (!backwards)
				ktap_diag("remote_utime_monotonic", "read %d: %.6f s after %.6f s", i, u, prev);
			backwards++;
		}
		prev = u;
	}
	double t1 = now(), u1 = utime_s();
	times(&tms1);
	long long row1 = cpu_user(spin_cpu);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);

	double elapsed = t1 - t0, du = u1 - u0;
	double dtimes = (double)(tms1.tms_utime - tms0.tms_utime) / hz;
	double drow = (double)(row1 - row0) / hz;
	/* At least a quarter, not a half: without nohz_full the time is sampled by the tick,
	 * which runs at about half its rate under QEMU TCG (see smp.c proc_stat_per_cpu); a
	 * reader that misses the spinner's time sees about 0. */
	KTAP_CHECK(du >= elapsed / 4 && du <= elapsed * 1.5, "remote_utime_grows",
		   "utime grew %.3f s in %.3f s", du, elapsed);
	KTAP_CHECK(dtimes >= elapsed / 4 && dtimes <= elapsed * 1.5, "remote_times_grows",
		   "tms_utime grew %.3f s in %.3f s", dtimes, elapsed);
	KTAP_CHECK(backwards == 0, "remote_utime_monotonic", "%d of %d reads went backwards",
		   backwards, READS);
	KTAP_CHECK(row0 >= 0 && drow >= elapsed / 4, "remote_cpu_row_grows",
		   "cpu%d user grew %.3f s in %.3f s", spin_cpu, drow, elapsed);
	return ktap_finish();
}
