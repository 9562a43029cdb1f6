/* procfiles: the /proc files tools read besides stat and status (procstat.c has those).
 * Every expected value comes from another source: the argv and envp this program passes to
 * execve, getpid/gettid, getcwd after a chdir, uname(2), the length of our own argv strings.
 *  - /proc/self and /proc/thread-self are links to PID and PID/task/TID;
 *  - /proc/PID/cmdline and environ of a child exec'd with a known argv and envp: those
 *    strings, NUL-terminated, byte for byte; comm: the last component of the exec'd path
 *    (/proc/self/exe: "exe") and a newline, in task/TID/comm too; cwd: a link to its working
 *    directory;
 *  - /proc/self/stat's arg_start..arg_end spans exactly our argv strings;
 *  - /proc/loadavg has Linux's five fields with at least one runnable task;
 *  - /proc/filesystems lists proc; /proc/sys/kernel/{ostype,osrelease,hostname} are uname's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

/* Reads a whole (small) file; returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n < size && (r = read(fd, buf + n, size - n)) > 0)
		n += (size_t)r;
	close(fd);
	return (ssize_t)n;
}

/* Whether `path` holds exactly the `len` bytes `want`. */
static int holds(const char *path, const char *want, size_t len)
{
	char buf[4096];
	ssize_t n = slurp(path, buf, sizeof(buf));
	return n == (ssize_t)len && memcmp(buf, want, len) == 0;
}

static int link_is(const char *path, const char *want)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return 0;
	buf[n] = 0;
	return strcmp(buf, want) == 0;
}

/* The child's part: sleep in read until the parent is done looking. */
static int child_main(void)
{
	char b;
	return read(0, &b, 1) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main();
	ktap_plan(12);
	char want[64];

	struct stat st;
	snprintf(want, sizeof(want), "%d", (int)getpid());
	KTAP_CHECK(lstat("/proc/self", &st) == 0 && S_ISLNK(st.st_mode) && link_is("/proc/self", want),
		   "proc_self_link", "not a link to %s", want);
	snprintf(want, sizeof(want), "%d/task/%d", (int)getpid(), (int)syscall(SYS_gettid));
	KTAP_CHECK(link_is("/proc/thread-self", want), "proc_thread_self_link", "not a link to %s",
		   want);

	/* A child exec'd with a known argv, envp and working directory, asleep in read(0). */
	const char *dir = "/tmp/procfiles-cwd";
	mkdir(dir, 0755);
	int p[2];
	if (pipe(p))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		if (chdir(dir))
			_exit(2);
		char *cargv[] = {argv[0], "--child", "two words", "", "last", NULL};
		char *cenv[] = {"K1=v1", "EMPTY=", "K2=a b", NULL};
		execve("/proc/self/exe", cargv, cenv);
		_exit(3);
	}
	close(p[0]);
	/* Until the child has exec'd: its cmdline says --child. */
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)c);
	for (int i = 0; i < 2000; i++) {
		ssize_t n = slurp(path, buf, sizeof(buf));
		size_t a0 = strlen(argv[0]) + 1;
		if (n > (ssize_t)a0 && strcmp(buf + a0, "--child") == 0)
			break;
		usleep(1000);
	}
	/* argv[0] as we passed it, then the rest: each with its NUL. */
	size_t a0 = strlen(argv[0]) + 1;
	char wantc[256];
	memcpy(wantc, argv[0], a0);
	memcpy(wantc + a0, "--child\0two words\0\0last", 24);
	KTAP_CHECK(holds(path, wantc, a0 + 24), "pid_cmdline_is_argv", "%s differs", path);
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)c);
	KTAP_CHECK(holds(path, "K1=v1\0EMPTY=\0K2=a b", 20), "pid_environ_is_envp", "%s differs",
		   path);
	/* The name is the last component of the path given to execve, not argv[0]. */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)c);
	KTAP_CHECK(holds(path, "exe\n", 4), "pid_comm", "%s is not exe", path);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)c, (int)c);
	KTAP_CHECK(holds(path, "exe\n", 4), "task_comm", "%s is not exe", path);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)c);
	KTAP_CHECK(link_is(path, dir), "pid_cwd_link", "%s is not a link to %s", path, dir);
	close(p[1]);
	int cst = -1;
	waitpid(c, &cst, 0);
	KTAP_CHECK(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "child_ended", "status %#x", cst);
	rmdir(dir);

	/* /proc/self/stat fields 48 and 49: where our argv strings are. */
	ssize_t n = slurp("/proc/self/stat", buf, sizeof(buf) - 1);
	unsigned long long arg_start = 0, arg_end = 0;
	if (n > 0) {
		buf[n] = 0;
		char *q = strrchr(buf, ')');
		/* After the loop q is the space before field f = 48 (field 3, the state, follows
		 * ") "). */
		for (int f = 3; q && f <= 48; f++)
			q = strchr(q + 1, ' ');
		if (q)
			sscanf(q + 1, "%llu %llu", &arg_start, &arg_end);
	}
	size_t args_len = 0;
	for (int i = 0; i < argc; i++)
		args_len += strlen(argv[i]) + 1;
	KTAP_CHECK(arg_start == (unsigned long long)(uintptr_t)argv[0] &&
			   arg_end - arg_start == args_len,
		   "stat_arg_range", "arg_start %#llx (argv[0] %p) arg_end %#llx, want %zu bytes",
		   arg_start, (void *)argv[0], arg_end, args_len);

	float l1, l5, l15;
	int run = 0, all = 0, last = 0;
	n = slurp("/proc/loadavg", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	int fields = sscanf(buf, "%f %f %f %d/%d %d", &l1, &l5, &l15, &run, &all, &last);
	KTAP_CHECK(fields == 6 && run >= 1 && all >= run && last >= 1, "loadavg_format", "'%s'",
		   buf);

	n = slurp("/proc/filesystems", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	KTAP_CHECK(strstr(buf, "nodev\tproc\n") != NULL, "filesystems_lists_proc", "'%s'", buf);

	struct utsname u;
	uname(&u);
	char w1[80], w2[80], w3[80];
	snprintf(w1, sizeof(w1), "%s\n", u.sysname);
	snprintf(w2, sizeof(w2), "%s\n", u.release);
	snprintf(w3, sizeof(w3), "%s\n", u.nodename);
	KTAP_CHECK(holds("/proc/sys/kernel/ostype", w1, strlen(w1)) &&
			   holds("/proc/sys/kernel/osrelease", w2, strlen(w2)) &&
			   holds("/proc/sys/kernel/hostname", w3, strlen(w3)),
		   "sys_kernel_is_uname", "differs from uname %s %s %s", u.sysname, u.release,
		   u.nodename);
	return ktap_finish();
}
