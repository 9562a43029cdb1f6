/* preempt: a long read() or write() lets the other threads of its CPU run while it copies
 * (kernel preemption, docs/preemption.md).
 *
 * Two threads pinned to the same CPU. The spinner loops in user mode reading CLOCK_MONOTONIC;
 * whenever it sees a gap of more than GAP_NS between two reads it was off the CPU, and it
 * records the time it resumed. The main thread makes one big write() — 32 MiB from a buffer
 * it touched first (no page faults in the copy) to a new file in /tmp — then one big read()
 * of the file back, and counts the spinner's resumptions that fall inside each call.
 *
 * Without kernel preemption the spinner can resume at most twice inside the measured window:
 * once if the main thread is preempted on its way back to user mode from the clock_gettime
 * that takes the start time, once on its way back from the big call itself. Each copy takes
 * tens of time slices (4 ms on kentry), so with preemption the spinner resumes many times;
 * the test asks for at least MIN_RESUMES. Both checks SKIP if the threads cannot share one
 * CPU (sched_setaffinity refused).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "ktap.h"

#define SIZE (32u << 20)
#define GAP_NS 1000000LL /* a gap of 1 ms: the spinner was off the CPU */
#define MIN_RESUMES 3
#define MAX_RESUMES 4096

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int the_cpu;
static atomic_int spinner_pinned, spinner_running, stop;
static int64_t resumes[MAX_RESUMES];
static atomic_int n_resumes;

static void *spinner(void *arg)
{
	(void)arg;
	atomic_store(&spinner_pinned, pin(the_cpu) == 0 ? 1 : -1);
	int64_t prev = now_ns();
	atomic_store(&spinner_running, 1);
	while (!atomic_load(&stop)) {
		int64_t t = now_ns();
		if (t - prev > GAP_NS) {
			int i = atomic_load(&n_resumes);
			if (i < MAX_RESUMES) {
				resumes[i] = t;
				atomic_store(&n_resumes, i + 1);
			}
		}
		prev = t;
	}
	return NULL;
}

/* Resumptions of the spinner strictly inside (t0, t1). */
static int resumes_between(int64_t t0, int64_t t1)
{
	int n = 0, total = atomic_load(&n_resumes);
	for (int i = 0; i < total; i++)
		n += resumes[i] > t0 && resumes[i] < t1;
	return n;
}

int main(void)
{
	ktap_plan(4);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	the_cpu = cpus > 1 ? (int)cpus - 1 : 0;
	if (pin(the_cpu) != 0) {
		const char *names[] = {"write_whole", "other_thread_ran_during_write", "read_whole",
				       "other_thread_ran_during_read"};
		for (int i = 0; i < 4; i++)
			ktap_skip(names[i], "sched_setaffinity refused: cannot put two threads on one CPU");
		return ktap_finish();
	}
	char *buf = malloc(SIZE);
	if (!buf) {
		printf("# malloc failed\n");
		return 1;
	}
	memset(buf, 1, SIZE); /* fault every page in now, not inside the copy */

	pthread_t t;
	pthread_create(&t, NULL, spinner, NULL);
	while (!atomic_load(&spinner_running))
		sched_yield();

	char path[64];
	snprintf(path, sizeof(path), "/tmp/preempt-%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int64_t t0 = now_ns();
	ssize_t w = write(fd, buf, SIZE);
	int64_t t1 = now_ns();
	int during_write = resumes_between(t0, t1);
	KTAP_CHECK(w == (ssize_t)SIZE, "write_whole", "write returned %zd", w);
	KTAP_CHECK(atomic_load(&spinner_pinned) == 1 && during_write >= MIN_RESUMES,
		   "other_thread_ran_during_write",
		   "the spinner resumed %d times during the %lld ms write (need %d); pinned %d",
		   during_write, (long long)((t1 - t0) / 1000000), MIN_RESUMES,
		   atomic_load(&spinner_pinned));

	memset(buf, 0, SIZE);
	lseek(fd, 0, SEEK_SET);
	int64_t t2 = now_ns();
	ssize_t r = read(fd, buf, SIZE);
	int64_t t3 = now_ns();
	close(fd);
	unlink(path);
	int during_read = resumes_between(t2, t3);
	KTAP_CHECK(r == (ssize_t)SIZE && buf[0] == 1 && buf[SIZE - 1] == 1, "read_whole",
		   "read returned %zd", r);
	KTAP_CHECK(during_read >= MIN_RESUMES, "other_thread_ran_during_read",
		   "the spinner resumed %d times during the %lld ms read (need %d)", during_read,
		   (long long)((t3 - t2) / 1000000), MIN_RESUMES);

	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	/* Always shown (a diagnostic, not a result): how the CPU was shared. */
	printf("# preempt: write %lld ms, spinner resumed %d times in it; read %lld ms, %d times\n",
	       (long long)((t1 - t0) / 1000000), during_write, (long long)((t3 - t2) / 1000000),
	       during_read);
	fflush(stdout);
	return ktap_finish();
}
