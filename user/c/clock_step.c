/* clock_step: CLOCK_MONOTONIC read on one CPU never goes back while another CPU changes the
 * clock's rate (docs/vdso.md, "The vvar page and its sequence lock").
 *
 * A reader thread pinned to the second allowed CPU reads CLOCK_MONOTONIC without pause, in
 * turn through libc (the vDSO where there is one) and through the raw syscall, and keeps one
 * sequence of all its readings. The main thread, pinned to the first CPU, reads the process's
 * CPU time with times() READS times, 1 ms apart, while the reader runs. Under the boot test
 * clock_rate_step_readers (`kentry.test_rate_step=20`) the 20th of those reads doubles the
 * clock's rate, with the writer spinning after it read the TSC its new base starts at (at
 * least 2 ms, and until the reader's CPU has shown it runs):
 * a reader that takes the old rate at a TSC past that base computes a time ahead of the new
 * clock, and its next reading goes back. Elsewhere (and natively on Linux) the same program
 * checks the clock across CPUs with no step.
 * - vdso_monotonic: no libc reading is below an earlier reading (of either kind);
 * - syscall_monotonic: no syscall reading is below an earlier reading (of either kind);
 * - reader_overlapped: the reader made readings before the first and after the last times()
 *   (it was reading throughout the step).
 * Every result is SKIP with fewer than two allowed CPUs (a probe: sched_getaffinity).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "ktap.h"

#define RESULTS 3
#define READS 40

static atomic_int phase; /* 0: reader starting, 1: reading, 2: main done, 3: stop */
static atomic_long reads_at_start, reads_at_end;
static int reader_cpu;
static uint64_t back_vdso_prev, back_vdso_at, back_sys_prev, back_sys_at;
static int vdso_back, sys_back;
static atomic_long reads;

static uint64_t ns_of(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

static void *reader(void *arg)
{
	(void)arg;
	if (pin(reader_cpu) != 0) {
		atomic_store(&phase, -1);
		return NULL;
	}
	atomic_store(&phase, 1);
	uint64_t max = 0;
	struct timespec t;
	while (atomic_load(&phase) != 3) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		uint64_t v = ns_of(&t);
		if (v < max && !vdso_back++) {
			back_vdso_prev = max;
			back_vdso_at = v;
		}
		max = v > max ? v : max;
		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t);
		v = ns_of(&t);
		if (v < max && !sys_back++) {
			back_sys_prev = max;
			back_sys_at = v;
		}
		max = v > max ? v : max;
		long r = atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed) + 1;
		if (atomic_load(&phase) == 2 && !atomic_load(&reads_at_end))
			atomic_store(&reads_at_end, r);
	}
	return NULL;
}

int main(void)
{
	ktap_plan(RESULTS);
	cpu_set_t all;
	int cpus[2], n = 0;
	if (sched_getaffinity(0, sizeof all, &all) == 0)
		for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
			if (CPU_ISSET(c, &all))
				cpus[n++] = c;
	if (n < 2) {
		ktap_skip("vdso_monotonic", "fewer than two allowed CPUs");
		ktap_skip("syscall_monotonic", "fewer than two allowed CPUs");
		ktap_skip("reader_overlapped", "fewer than two allowed CPUs");
		return ktap_finish();
	}
	pin(cpus[0]);
	reader_cpu = cpus[1];
	pthread_t th;
	if (pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	while (atomic_load(&phase) == 0)
		sched_yield();
	/* Let the reader get going before the first CPU-time read: a time alone would not do,
	 * since on a loaded host its vCPU may not run for milliseconds (at most 5 s). */
	struct timespec ms = {0, 1000000};
	for (int i = 0; i < 5000 && atomic_load(&reads) < 100; i++)
		nanosleep(&ms, NULL);
	atomic_store(&reads_at_start, atomic_load(&reads));
	struct tms tm;
	for (int i = 0; i < READS; i++) {
		times(&tm);
		nanosleep(&ms, NULL);
	}
	atomic_store(&phase, 2);
	while (atomic_load(&phase) == 2 && !atomic_load(&reads_at_end))
		nanosleep(&ms, NULL);
	atomic_store(&phase, 3);
	pthread_join(th, NULL);

	KTAP_CHECK(!vdso_back, "vdso_monotonic", "%d readings below an earlier one, the first %llu after %llu",
		   vdso_back, (unsigned long long)back_vdso_prev, (unsigned long long)back_vdso_at);
	KTAP_CHECK(!sys_back, "syscall_monotonic",
		   "%d readings below an earlier one, the first %llu after %llu", sys_back,
		   (unsigned long long)back_sys_prev, (unsigned long long)back_sys_at);
	long s = atomic_load(&reads_at_start), e = atomic_load(&reads_at_end);
	KTAP_CHECK(s > 0 && e > s, "reader_overlapped", "reads %ld at the start, %ld at the end", s,
		   e);
	return ktap_finish();
}
