/* procstat: /proc/PID/stat, /proc/PID/status and /proc/PID/task/TID/stat as tools read them
 * (Linux's fs/proc/array.c formats).  Every expected value comes from another source: getpid,
 * getppid, getpgrp, getsid, the threads this program made, the state it put a child in.
 *  - this process: 52 fields, pid, comm (set by PR_SET_NAME to a name with ") " in it, so a
 *    parser must find the last ')'), state R, ppid, pgrp, session, tty_nr 0, num_threads 1 then
 *    3 with two threads blocked, starttime not after now, vsize non-zero and not below rss,
 *    exit_signal SIGCHLD;
 *  - status: Name, State "R (running)", Tgid, Pid, PPid, TracerPid 0, Threads, SigBlk with the
 *    blocked SIGUSR1, SigCgt with the handled SIGUSR2, SigIgn with the ignored SIGPIPE;
 *  - a child blocked in read(2) is S, its maps show a mapping we dropped after the fork (and
 *    ours do not), its exe link is ours; a child that exited and is not waited for is Z, and its
 *    /proc/PID is gone once reaped (ENOENT); a child stopped for its tracer is t with
 *    TracerPid ours; the parent of a vfork child, waiting for it, is D (seen by the child);
 *  - /proc/PID/task/TID/stat of a thread blocked in read(2): its tid in field 1, S;
 *  - /proc/self/fd: a file opened by a relative path links to its absolute path, a pipe to
 *    pipe:[st_ino], a socket to socket:[st_ino], an eventfd to anon_inode:[eventfd]; each is
 *    listed, and a closed one is gone;
 *  - maps: a file mapped by a relative path is named by its absolute path on its maps line;
 *  - ids: a child that set its gid to 1234 and uid to 1000 and then exec'd itself finds them in
 *    AT_UID/AT_EUID/AT_GID/AT_EGID and in its status's Uid:/Gid: lines.
 * No job-control stop (T): kentry stops only traced processes so far.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <dirent.h>
#include <grp.h>
#include <sys/auxv.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

/* Reads a small file with raw calls (usable in a vfork child); returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = (int)syscall(SYS_open, path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t k;
	while (n + 1 < size && (k = syscall(SYS_read, fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)k;
	syscall(SYS_close, fd);
	buf[n] = 0;
	return (ssize_t)n;
}

/* /proc/PID/stat split: comm (between the first '(' and the last ')') and the fields after it,
 * field[3] being the state (numbered as proc(5): 1 pid, 2 comm, 3 state...). */
struct stat_line {
	long long pid;
	char comm[64];
	char state;
	unsigned long long f[64]; /* f[n] = field n, n >= 4 */
	int nfields;              /* fields in the line */
};

static int parse_stat(const char *text, struct stat_line *s)
{
	memset(s, 0, sizeof(*s));
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	if (!open || !close || close < open || close[1] != ' ')
		return -1;
	s->pid = strtoll(text, NULL, 10);
	size_t n = (size_t)(close - open - 1);
	if (n >= sizeof(s->comm))
		return -1;
	memcpy(s->comm, open + 1, n);
	s->state = close[2];
	s->nfields = 3;
	const char *p = close + 3;
	while (*p == ' ') {
		p++;
		char *end;
		long long v = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		s->nfields++;
		if (s->nfields < 64)
			s->f[s->nfields] = (unsigned long long)v;
		p = end;
	}
	return *p == '\n' ? 0 : -1;
}

static int read_stat(const char *path, struct stat_line *s)
{
	char buf[1024];
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return -1;
	return parse_stat(buf, s);
}

static char state_of(pid_t pid)
{
	char path[64];
	struct stat_line s;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	return read_stat(path, &s) == 0 ? s.state : '?';
}

/* Polls pid's state for up to 5 s until it is `want`; returns the last state seen. */
static char wait_state(pid_t pid, char want)
{
	char st = '?';
	for (int i = 0; i < 500; i++) {
		st = state_of(pid);
		if (st == want)
			break;
		struct timespec d = {0, 10 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
	return st;
}

/* The value of "Key:\t..." in a status text (NULL if missing). */
static const char *status_field(const char *text, const char *key, char *out, size_t size)
{
	size_t k = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, k) == 0 && p[k] == ':' && p[k + 1] == '\t') {
			const char *v = p + k + 2, *e = strchr(v, '\n');
			size_t n = e ? (size_t)(e - v) : strlen(v);
			if (n >= size)
				n = size - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return out;
		}
	}
	return NULL;
}

static int block_pipe[2];
static volatile pid_t thread_tids[2];

static void *blocked_reader(void *arg)
{
	char c;
	thread_tids[(intptr_t)arg] = (pid_t)syscall(SYS_gettid);
	while (read(block_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void on_usr2(int sig)
{
	(void)sig;
}

static void test_self(void)
{
	struct stat_line s;
	char name[] = "ps) x";
	prctl(PR_SET_NAME, name);
	int ok = read_stat("/proc/self/stat", &s) == 0;
	KTAP_CHECK(ok && s.nfields == 52, "self_stat_52_fields", "parsed %d, %d fields", ok,
		   s.nfields);
	KTAP_CHECK(ok && s.pid == getpid() && strcmp(s.comm, name) == 0, "self_stat_pid_comm",
		   "pid %lld (getpid %d), comm '%s'", s.pid, getpid(), s.comm);
	KTAP_CHECK(ok && s.state == 'R', "self_stat_state_R", "state %c", s.state);
	KTAP_CHECK(ok && s.f[4] == (unsigned long long)getppid() && s.f[5] == (unsigned long long)getpgrp() &&
			   s.f[6] == (unsigned long long)getsid(0) && s.f[7] == 0,
		   "self_stat_ppid_pgrp_session_tty", "ppid %llu/%d pgrp %llu/%d sid %llu/%d tty %llu",
		   s.f[4], getppid(), s.f[5], getpgrp(), s.f[6], getsid(0), s.f[7]);
	KTAP_CHECK(ok && s.f[20] == 1, "self_stat_one_thread", "num_threads %llu", s.f[20]);
	/* starttime (22) is in clock ticks since boot: not after now (/proc/uptime). */
	char up[64];
	double uptime = slurp("/proc/uptime", up, sizeof(up)) > 0 ? strtod(up, NULL) : -1;
	KTAP_CHECK(ok && uptime > 0 && (double)s.f[22] <= uptime * 100 + 1, "self_stat_starttime",
		   "starttime %llu, uptime %.2f s", s.f[22], uptime);
	/* rss may read 0 on Linux (per-task counters flushed every 64 faults). */
	KTAP_CHECK(ok && s.f[23] > 0 && s.f[23] >= s.f[24] * 4096,
		   "self_stat_vsize_rss", "vsize %llu rss %llu", s.f[23], s.f[24]);
	KTAP_CHECK(ok && s.f[38] == SIGCHLD, "self_stat_exit_signal", "exit_signal %llu", s.f[38]);

	/* Two threads blocked in read: three threads, and each has its task/TID/stat. */
	pthread_t t[2];
	pid_t tids[2] = {0, 0};
	int made = pipe(block_pipe) == 0;
	for (int i = 0; made && i < 2; i++)
		made = pthread_create(&t[i], NULL, blocked_reader, (void *)(intptr_t)i) == 0;
	char path[128];
	int threads_ok = 0;
	struct stat_line ts;
	for (int i = 0; made && i < 500 && !threads_ok; i++) {
		threads_ok = read_stat("/proc/self/stat", &s) == 0 && s.f[20] == 3;
		if (!threads_ok) {
			struct timespec d = {0, 10 * 1000 * 1000};
			nanosleep(&d, NULL);
		}
	}
	KTAP_CHECK(threads_ok, "self_stat_three_threads", "num_threads %llu", s.f[20]);
	int found = 0;
	for (int i = 0; made && i < 2; i++) {
		while (!thread_tids[i])
			sched_yield();
		tids[found++] = thread_tids[i];
	}
	char st = '?';
	long long tpid = -1;
	if (found == 2) {
		for (int i = 0; i < 500; i++) {
			snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", getpid(), tids[0]);
			if (read_stat(path, &ts) == 0) {
				st = ts.state;
				tpid = ts.pid;
			}
			if (st == 'S')
				break;
			struct timespec d = {0, 10 * 1000 * 1000};
			nanosleep(&d, NULL);
		}
	}
	KTAP_CHECK(found == 2 && tpid == tids[0] && st == 'S', "task_tid_stat_blocked_S",
		   "found %d threads, field 1 %lld (tid %d), state %c", found, tpid, tids[0], st);

	/* status: the same facts, and the signal masks. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGUSR2, on_usr2);
	signal(SIGPIPE, SIG_IGN);
	char text[4096], v[128];
	int got = slurp("/proc/self/status", text, sizeof(text)) > 0;
	char want[64];
	int fine = got && strncmp(text, "Name:\t", 6) == 0 && status_field(text, "Name", v, sizeof(v)) &&
		   strcmp(v, name) == 0;
	KTAP_CHECK(fine, "self_status_name_first", "status begins '%.20s'", text);
	fine = got && status_field(text, "State", v, sizeof(v)) && strcmp(v, "R (running)") == 0;
	KTAP_CHECK(fine, "self_status_state", "State '%s'", got ? v : "");
	snprintf(want, sizeof(want), "%d", getpid());
	fine = got && status_field(text, "Tgid", v, sizeof(v)) && strcmp(v, want) == 0 &&
	       status_field(text, "Pid", v, sizeof(v)) && strcmp(v, want) == 0;
	snprintf(want, sizeof(want), "%d", getppid());
	fine = fine && status_field(text, "PPid", v, sizeof(v)) && strcmp(v, want) == 0 &&
	       status_field(text, "TracerPid", v, sizeof(v)) && strcmp(v, "0") == 0;
	KTAP_CHECK(fine, "self_status_ids", "a Tgid/Pid/PPid/TracerPid line differs");
	fine = got && status_field(text, "Threads", v, sizeof(v)) && strcmp(v, "3") == 0;
	KTAP_CHECK(fine, "self_status_threads", "Threads '%s'", got ? v : "");
	fine = got && status_field(text, "SigBlk", v, sizeof(v)) && strtoull(v, NULL, 16) == 1ull << (SIGUSR1 - 1);
	KTAP_CHECK(fine, "self_status_sigblk", "SigBlk '%s'", got ? v : "");
	fine = got && status_field(text, "SigCgt", v, sizeof(v)) &&
	       (strtoull(v, NULL, 16) & (1ull << (SIGUSR2 - 1))) &&
	       status_field(text, "SigIgn", v, sizeof(v)) && (strtoull(v, NULL, 16) & (1ull << (SIGPIPE - 1)));
	KTAP_CHECK(fine, "self_status_sigcgt_sigign", "SigCgt/SigIgn miss SIGUSR2/SIGPIPE");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (made) {
		char two[2] = {1, 1};
		ssize_t w = write(block_pipe[1], two, 2);
		(void)w;
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
	}
}

static void test_children(void)
{
	/* Blocked in read: S. A mapping made before the fork and unmapped by us after it shows
	 * in the child's maps only; its exe link is ours. */
	int p[2];
	if (pipe(p) != 0) {
		ktap_result(0, "child_blocked_read_S");
		ktap_result(0, "child_maps_own");
		ktap_result(0, "child_exe_link");
		return;
	}
	char *region = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t c = fork();
	if (c == 0) {
		char x;
		close(p[1]);
		_exit(read(p[0], &x, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	char st = wait_state(c, 'S');
	KTAP_CHECK(st == 'S', "child_blocked_read_S", "state %c", st);
	if (region != MAP_FAILED)
		munmap(region, 3 * 4096);
	char key[32], mpath[64], text[16384];
	snprintf(key, sizeof(key), "%lx-%lx ", (unsigned long)(uintptr_t)region,
		 (unsigned long)(uintptr_t)region + 3 * 4096);
	snprintf(mpath, sizeof(mpath), "/proc/%d/maps", c);
	int in_child = slurp(mpath, text, sizeof(text)) > 0 && strstr(text, key);
	int in_self = slurp("/proc/self/maps", text, sizeof(text)) > 0 && strstr(text, key);
	KTAP_CHECK(region != MAP_FAILED && in_child && !in_self, "child_maps_own",
		   "in the child's maps %d, in ours %d", in_child, in_self);
	char mine[256] = "", theirs[256] = "";
	snprintf(mpath, sizeof(mpath), "/proc/%d/exe", c);
	ssize_t n1 = readlink("/proc/self/exe", mine, sizeof(mine) - 1);
	ssize_t n2 = readlink(mpath, theirs, sizeof(theirs) - 1);
	KTAP_CHECK(n1 > 0 && n1 == n2 && strcmp(mine, theirs) == 0, "child_exe_link",
		   "ours '%s', the child's '%s'", mine, theirs);
	/* /proc/PID/syscall: the read it sleeps in (number 0, the fd, the buffer, count 1), then
	 * the stack and instruction pointers. */
	char sc[256] = "";
	snprintf(mpath, sizeof(mpath), "/proc/%d/syscall", c);
	long nr = -2, sfd = -2, count = -2;
	if (slurp(mpath, sc, sizeof(sc)) > 0)
		sscanf(sc, "%ld %lx %*x %lx", &nr, &sfd, &count);
	KTAP_CHECK(nr == SYS_read && sfd == p[0] && count == 1, "proc_pid_syscall", "child '%s'",
		   sc);
	ssize_t w = write(p[1], "x", 1);
	(void)w;
	close(p[1]);
	int status = -1;
	waitpid(c, &status, 0);

	/* Exited, not waited for: Z; reaped: gone. */
	c = fork();
	if (c == 0)
		_exit(3);
	st = wait_state(c, 'Z');
	KTAP_CHECK(st == 'Z', "child_exited_Z", "state %c", st);
	char path[64];
	struct stat_line s;
	snprintf(path, sizeof(path), "/proc/%d/stat", c);
	int zok = read_stat(path, &s) == 0;
	KTAP_CHECK(zok && s.f[4] == (unsigned long long)getpid(), "child_zombie_ppid", "ppid %llu",
		   s.f[4]);
	waitpid(c, &status, 0);
	errno = 0;
	int fd = open(path, O_RDONLY);
	KTAP_CHECK(fd < 0 && errno == ENOENT, "child_reaped_gone", "open %d errno %d", fd, errno);
	if (fd >= 0)
		close(fd);

	/* Stopped for its tracer: t, TracerPid ours. */
	c = fork();
	if (c == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		_exit(0);
	}
	int stopped = waitpid(c, &status, 0) == c && WIFSTOPPED(status);
	st = stopped ? state_of(c) : '?';
	char v[64], want[32];
	snprintf(path, sizeof(path), "/proc/%d/status", c);
	snprintf(want, sizeof(want), "%d", getpid());
	int tracer_ok = slurp(path, text, sizeof(text)) > 0 && status_field(text, "TracerPid", v, sizeof(v)) &&
			strcmp(v, want) == 0 && status_field(text, "State", v, sizeof(v)) &&
			strcmp(v, "t (tracing stop)") == 0;
	KTAP_CHECK(stopped && st == 't', "child_traced_stop_t", "stopped %d state %c", stopped, st);
	KTAP_CHECK(tracer_ok, "child_traced_status", "status TracerPid/State wrong");
	ptrace(PTRACE_CONT, c, 0, 0);
	waitpid(c, &status, 0);

	/* A vfork parent waits killably for its child: D, as the child sees it. */
	pid_t parent = getpid();
	c = vfork();
	if (c == 0) {
		/* The parent may still be on its way to the wait (on another CPU): look again for up
		 * to 2 s; once it waits, it stays in the wait until this child exits. */
		char path[64], b[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", parent);
		char got = '?';
		for (int i = 0; i < 200 && got != 'D'; i++) {
			if (slurp(path, b, sizeof(b)) > 0) {
				char *e = strrchr(b, ')');
				if (e)
					got = e[2];
			}
			struct timespec d = {0, 10 * 1000 * 1000};
			syscall(SYS_nanosleep, &d, NULL);
		}
		_exit(got);
	}
	status = 0;
	waitpid(c, &status, 0);
	KTAP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 'D', "vfork_parent_D",
		   "child saw state %c", WIFEXITED(status) ? WEXITSTATUS(status) : '?');
}

/* Whether /proc/self/fd/FD reads `want`; the text read goes to `got`. */
static int fd_link_is(int fd, const char *want, char *got, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t l = readlink(path, got, n - 1);
	got[l > 0 ? l : 0] = 0;
	return l > 0 && strcmp(got, want) == 0;
}

/* Whether directory /proc/self/fd lists `fd`. */
static int fd_listed(int fd)
{
	DIR *d = opendir("/proc/self/fd");
	int found = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		found |= atoi(e->d_name) == fd && e->d_name[0] != '.';
	if (d)
		closedir(d);
	return found;
}

static void test_fd_links(void)
{
	char want[128], got[256];
	struct stat st;
	/* A file by a relative path: the link is absolute. */
	int fok = 0;
	if (mkdir("/tmp", 0777) == 0 || errno == EEXIST) {
		char dir[] = "/tmp/procfd_XXXXXX";
		if (mkdtemp(dir) && chdir(dir) == 0) {
			int fd = open("f", O_CREAT | O_RDWR, 0600);
			snprintf(want, sizeof(want), "%s/f", dir);
			fok = fd >= 0 && fd_link_is(fd, want, got, sizeof(got)) && fd_listed(fd);
			if (fd >= 0)
				close(fd);
			/* Closed: the link is gone (a listing would show the directory's own
			 * descriptor, which takes the lowest free number: this one). */
			char gone[64];
			snprintf(gone, sizeof(gone), "/proc/self/fd/%d", fd);
			errno = 0;
			fok = fok && readlink(gone, got, sizeof(got)) < 0 && errno == ENOENT;
			unlink("f");
			chdir("/");
			rmdir(dir);
		}
	}
	KTAP_CHECK(fok, "proc_fd_file", "want %s, got %s", want, got);

	int p[2] = {-1, -1}, pok = pipe(p) == 0 && fstat(p[0], &st) == 0;
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)st.st_ino);
	pok = pok && fd_link_is(p[0], want, got, sizeof(got)) && fd_listed(p[1]);
	KTAP_CHECK(pok, "proc_fd_pipe", "want %s, got %s", want, got);
	close(p[0]);
	close(p[1]);

	int sv[2] = {-1, -1}, sok = socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && fstat(sv[1], &st) == 0;
	snprintf(want, sizeof(want), "socket:[%lu]", (unsigned long)st.st_ino);
	sok = sok && fd_link_is(sv[1], want, got, sizeof(got));
	int efd = eventfd(0, 0);
	sok = sok && efd >= 0 && fd_link_is(efd, "anon_inode:[eventfd]", got, sizeof(got));
	KTAP_CHECK(sok, "proc_fd_socket_eventfd", "got %s", got);
	close(sv[0]);
	close(sv[1]);
	close(efd);
}

static void test_maps_name(void)
{
	char line[512] = "", want[128] = "";
	int ok = 0;
	char dir[] = "/tmp/procmaps_XXXXXX";
	if ((mkdir("/tmp", 0777) == 0 || errno == EEXIST) && mkdtemp(dir) && chdir(dir) == 0) {
		int fd = open("m", O_CREAT | O_RDWR, 0600);
		char page[4096] = {1};
		snprintf(want, sizeof(want), "%s/m", dir);
		void *m = MAP_FAILED;
		if (fd >= 0 && write(fd, page, sizeof(page)) == (ssize_t)sizeof(page))
			m = mmap(NULL, sizeof(page), PROT_READ, MAP_PRIVATE, fd, 0);
		FILE *f = m != MAP_FAILED ? fopen("/proc/self/maps", "r") : NULL;
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long lo = strtoul(line, NULL, 16);
			if (lo == (unsigned long)m) {
				line[strcspn(line, "\n")] = 0;
				size_t n = strlen(line), w = strlen(want);
				ok = n > w && strcmp(line + n - w, want) == 0 && line[n - w - 1] == ' ';
				break;
			}
		}
		if (f)
			fclose(f);
		if (m != MAP_FAILED)
			munmap(m, sizeof(page));
		if (fd >= 0)
			close(fd);
		unlink("m");
		chdir("/");
		rmdir(dir);
	}
	KTAP_CHECK(ok, "maps_names_mapped_file", "want ...%s, line %s", want, line);
}

/* The exec'd child of test_ids: 0 when the auxv and status show uid 1000, gid 1234. */
static int check_ids(void)
{
	char b[4096];
	if (slurp("/proc/self/status", b, sizeof(b)) <= 0)
		return 1;
	int auxv_ok = getauxval(AT_UID) == 1000 && getauxval(AT_EUID) == 1000 &&
		      getauxval(AT_GID) == 1234 && getauxval(AT_EGID) == 1234;
	int status_ok = strstr(b, "\nUid:\t1000\t1000\t1000\t1000\n") &&
			strstr(b, "\nGid:\t1234\t1234\t1234\t1234\n");
	return (auxv_ok ? 0 : 2) | (status_ok ? 0 : 4);
}

static void test_ids(void)
{
	if (geteuid() != 0) {
		ktap_skip("ids_in_auxv_and_status", "not root: cannot change ids");
		return;
	}
	pid_t c = fork();
	if (c == 0) {
		if (setgroups(0, NULL) != 0 || setgid(1234) != 0 || setuid(1000) != 0)
			_exit(1);
		char *argv[] = {"procstat", "ids", NULL};
		execv("/proc/self/exe", argv);
		_exit(8);
	}
	int status = 0;
	waitpid(c, &status, 0);
	KTAP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ids_in_auxv_and_status",
		   "child status %#x (1: set*id, 2: auxv, 4: status, 8: exec)", status);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "ids") == 0)
		return check_ids();
	ktap_plan(31);
	test_self();
	test_children();
	test_fd_links();
	test_maps_name();
	test_ids();
	return ktap_finish();
}
