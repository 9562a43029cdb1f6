/* preempt: a long read() or write() lets the other threads of its CPU run while it copies
 * (kernel preemption, docs/preemption.md).
 *
 * Two threads pinned to the same CPU. The spinner loops in user mode reading CLOCK_MONOTONIC;
 * whenever it sees a gap of more than GAP_NS between two reads it was off the CPU, and it
 * records the time it resumed. The main thread makes one big write() — 32 MiB from a buffer
 * it touched first (no page faults in the copy) to a new file in /tmp — then one big read()
 * of the file back, and counts the spinner's resumptions that fall inside each call.
 *
 * What is checked is the main thread's own count of involuntary context switches
 * (getrusage(RUSAGE_THREAD).ru_nivcsw) across each call, read by the kernel: without kernel
 * preemption it can grow by at most two (a preemption on the way back to user mode from the
 * getrusage that takes the first count, one on the way back from the big call itself). Each
 * copy takes tens of time slices (4 ms on kentry), so with preemption it grows many times;
 * the test asks for at least MIN_RESUMES. (It used to count the spinner's gaps in
 * CLOCK_MONOTONIC instead; but when the host stalls the virtual CPU, the spinner sees gaps it
 * was not preempted for, and under load the negative run saw 27 in a write that was never
 * preempted.) The spinner's resumptions stay as a diagnostic.
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
#include <sys/resource.h>
#include <unistd.h>

#include "cpu.h"
#include "ktap.h"

#define SIZE (32u << 20)
#define GAP_NS 1000000LL /* a gap of 1 ms: the spinner was off the CPU */
#define MIN_RESUMES 3
#define MAX_RESUMES 4096

/* This thread's involuntary context switches so far (ru_nivcsw). */
static long involuntary_switches(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return -1000;
	return ru.ru_nivcsw;
}

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
	long n0 = involuntary_switches();
	ssize_t w = write(fd, buf, SIZE);
	long n1 = involuntary_switches();
	int64_t t1 = now_ns();
	int during_write = resumes_between(t0, t1);
	KTAP_CHECK(w == (ssize_t)SIZE, "write_whole", "write returned %zd", w);
	KTAP_CHECK(atomic_load(&spinner_pinned) == 1 && n1 - n0 >= MIN_RESUMES,
		   "other_thread_ran_during_write",
		   "preempted %ld times during the %lld ms write (need %d); pinned %d", n1 - n0,
		   (long long)((t1 - t0) / 1000000), MIN_RESUMES, atomic_load(&spinner_pinned));

	memset(buf, 0, SIZE);
	lseek(fd, 0, SEEK_SET);
	int64_t t2 = now_ns();
	long n2 = involuntary_switches();
	ssize_t r = read(fd, buf, SIZE);
	long n3 = involuntary_switches();
	int64_t t3 = now_ns();
	close(fd);
	unlink(path);
	int during_read = resumes_between(t2, t3);
	KTAP_CHECK(r == (ssize_t)SIZE && buf[0] == 1 && buf[SIZE - 1] == 1, "read_whole",
		   "read returned %zd", r);
	KTAP_CHECK(n3 - n2 >= MIN_RESUMES, "other_thread_ran_during_read",
		   "preempted %ld times during the %lld ms read (need %d)", n3 - n2,
		   (long long)((t3 - t2) / 1000000), MIN_RESUMES);

	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	/* Always shown (a diagnostic, not a result): how the CPU was shared. */
	printf("# preempt: write %lld ms, preempted %ld times, the spinner resumed %d times in it; "
	       "read %lld ms, %ld and %d times\n",
	       (long long)((t1 - t0) / 1000000), n1 - n0, during_write,
	       (long long)((t3 - t2) / 1000000), n3 - n2, during_read);
	fflush(stdout);
	return ktap_finish();
}
