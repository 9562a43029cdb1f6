/* threadexec: execve in a multi-threaded process (Linux's de_thread).
 *
 * POSIX: a successful execve ends every other thread of the process, and the new program runs
 * as the only thread, with the same pid. The kernel must kill the other threads and wait until
 * they are off every CPU before it frees the old address space: a thread still running on
 * another CPU would keep using freed page tables and pages.
 *
 * Each round forks a child that starts two threads — one spinning in user mode (writing its
 * own stack and a global), one blocked in read() on an empty pipe — and then execs this
 * program again ("after" mode), from the main thread or from a third thread. The new image
 * reports its pid and exits 0 after spinning 20 ms, time for a surviving old thread to run
 * into its vanished stack (SIGSEGV) or into the new image. The parent requires, for every
 * round: exit status 0, and the pid the new image saw equal to the child's pid.
 *
 * - exec_from_main_thread: the main thread execs; both other threads end.
 * - exec_from_other_thread: a non-main thread execs; the main thread (blocked in
 *   pthread_join) and the others end; the pid is still the process's.
 *
 * Every image starts with 3000 getppid calls (see main).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

#define ROUNDS 12

static volatile uint64_t spun;
static int block_pipe[2];
static int report_fd;
static char self_path[4096];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *spinner(void *arg)
{
	volatile uint64_t local[64];
	for (uint64_t i = 0;; i++) {
		local[i & 63] = i;
		spun = i + local[(i * 7) & 63];
	}
	return NULL;
}

static void *blocker(void *arg)
{
	char c;
	/* Never written: blocks until the thread is ended. */
	if (read(block_pipe[0], &c, 1) >= 0)
		fprintf(stderr, "# blocker: read returned\n");
	return NULL;
}

static void exec_after(void)
{
	char fd[16];
	snprintf(fd, sizeof fd, "%d", report_fd);
	char *argv[] = {self_path, "after", fd, NULL};
	execv(self_path, argv);
	fprintf(stderr, "# execv failed: %s\n", strerror(errno));
	_exit(120);
}

static void *execer(void *arg)
{
	/* Let the other two get going first. */
	while (spun < 1000)
		;
	exec_after();
	return NULL;
}

/* The child of one round: two threads, then exec from `from_main` or a third thread. */
static void child(int from_main)
{
	pthread_t a, b, c;
	if (pipe(block_pipe) != 0 || pthread_create(&a, NULL, spinner, NULL) != 0 ||
	    pthread_create(&b, NULL, blocker, NULL) != 0)
		_exit(121);
	if (from_main) {
		while (spun < 1000)
			;
		exec_after();
	}
	if (pthread_create(&c, NULL, execer, NULL) != 0)
		_exit(122);
	pthread_join(c, NULL);
	_exit(123); /* the exec did not end this thread */
}

/* The new image: report the pid, spin 20 ms, exit 0. */
static int after(int fd)
{
	char line[32];
	int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	if (write(fd, line, (size_t)n) != n)
		return 124;
	uint64_t end = now_ns() + 20000000u;
	while (now_ns() < end)
		;
	return 0;
}

/* `ROUNDS` rounds of one variant; each must exit 0 and report the child's pid. */
static int rounds(int from_main)
{
	int ok = 1;
	for (int r = 0; r < ROUNDS && ok; r++) {
		int rep[2];
		if (pipe(rep) != 0)
			return 0;
		report_fd = rep[1];
		pid_t pid = fork();
		if (pid == 0) {
			close(rep[0]);
			child(from_main);
		}
		close(rep[1]);
		int status = -1;
		waitpid(pid, &status, 0);
		char buf[32] = {0};
		ssize_t n = read(rep[0], buf, sizeof buf - 1);
		close(rep[0]);
		int seen = n > 0 ? atoi(buf) : -1;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || seen != pid) {
			printf("# round %d: status %#x, the new image saw pid %d (child %d)\n", r, status,
			       seen, (int)pid);
			ok = 0;
		}
	}
	return ok;
}

int main(int argc, char **argv)
{
	/* Some syscalls before anything else, as a real program's start-up makes: the old
	 * image's threads are still being ended on the other CPU meanwhile, and a thread
	 * rescheduled in its exit work may come back on another CPU. (kentry's exit-work loop
	 * once kept reading the first CPU's work flags after such a move: an old thread missed
	 * its EXITING for ever and the exec waited for it; 1 run in 10 hung.) */
	for (int i = 0; i < 3000; i++)
		getppid();
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
	if (n > 0)
		self_path[n] = 0;
	else
		snprintf(self_path, sizeof self_path, "%s", argv[0]);
	if (argc == 3 && strcmp(argv[1], "after") == 0)
		return after(atoi(argv[2]));
	ktap_plan(2);
	ktap_result(rounds(1), "exec_from_main_thread");
	ktap_result(rounds(0), "exec_from_other_thread");
	return ktap_finish();
}
