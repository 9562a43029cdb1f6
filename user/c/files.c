/* files: the file and process calls ordinary programs make.  A file under /tmp (create, write,
 * read back, lseek, pread/pwrite, readv/writev, fstat/stat), a directory listing through
 * getdents64, dup/dup2/dup3, fcntl, pipe2, /dev/null, /dev/zero, /dev/urandom, /proc/self/exe,
 * /proc/self/status, /proc/cpuinfo, access, getcwd/chdir, umask, unlink, isatty/TCGETS, uname,
 * clocks, nanosleep, getrandom, sched_getaffinity, sysinfo, times, getrlimit, prctl name,
 * RLIMIT_NOFILE bounding descriptor numbers, extended attributes (none on a fresh file: its
 * security.selinux and POSIX ACL reads fail with ENODATA or EOPNOTSUPP, as `ls -l` expects,
 * its list is empty; ENOENT, ERANGE, EBADF and EINVAL before any of that).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

static int nonzero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 1;
	return 0;
}

static int64_t ns(clockid_t c)
{
	struct timespec t;
	if (clock_gettime(c, &t) != 0)
		return -1;
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t k;
	while (n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	buf[n] = 0;
	return (ssize_t)n;
}

int main(void)
{
	ktap_plan(37);
	char dir[64], file[96], name[96];
	pid_t me = getpid();

	/* umask first, so the file modes below are known. */
	mode_t old_mask = umask(022);
	mode_t m1 = umask(077);
	mode_t m2 = umask(022);
	KTAP_CHECK(m1 == 022 && m2 == 077, "umask", "umask returned %o, %o", (unsigned)m1, (unsigned)m2);
	(void)old_mask;

	int mk = mkdir("/tmp", 01777);
	KTAP_CHECK(mk == 0 || errno == EEXIST, "mkdir_tmp", "mkdir /tmp: errno %d", errno);
	snprintf(dir, sizeof dir, "/tmp/kentry-files-%d", (int)me);
	snprintf(file, sizeof file, "%s/data", dir);
	int dir_ok = mkdir(dir, 0755) == 0;
	errno = 0;
	dir_ok = dir_ok && mkdir(dir, 0755) == -1 && errno == EEXIST;
	KTAP_CHECK(dir_ok, "mkdir_eexist", "mkdir of a fresh directory or EEXIST failed");

	/* Create, write 10000 bytes, read back, lseek, fstat. */
	static char wbuf[10000], rbuf[10000];
	for (size_t i = 0; i < sizeof wbuf; i++)
		wbuf[i] = (char)('a' + i % 26);
	int fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	int rw_ok = fd >= 0 && write(fd, wbuf, sizeof wbuf) == (ssize_t)sizeof wbuf &&
		    lseek(fd, 0, SEEK_CUR) == (off_t)sizeof wbuf && lseek(fd, 0, SEEK_SET) == 0 &&
		    read(fd, rbuf, sizeof rbuf) == (ssize_t)sizeof rbuf && memcmp(wbuf, rbuf, sizeof wbuf) == 0 &&
		    read(fd, rbuf, 1) == 0;
	KTAP_CHECK(rw_ok, "file_write_read_back", "write/read back failed (fd %d errno %d)", fd, errno);
	struct stat st;
	int st_ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == (off_t)sizeof wbuf &&
		    (st.st_mode & 0777) == 0644 && st.st_nlink == 1;
	struct stat st2;
	st_ok = st_ok && stat(file, &st2) == 0 && st2.st_ino == st.st_ino && st2.st_size == st.st_size &&
		lseek(fd, -10, SEEK_END) == (off_t)sizeof wbuf - 10;
	KTAP_CHECK(st_ok, "fstat_stat_lseek", "size %ld mode %o", (long)st.st_size, (unsigned)st.st_mode);

	/* pwrite/pread at an offset; writev/readv. */
	int pv_ok = fd >= 0 && pwrite(fd, "XYZ", 3, 100) == 3 && pread(fd, rbuf, 5, 99) == 5 &&
		    memcmp(rbuf, "vXYZz", 5) == 0 && lseek(fd, 0, SEEK_CUR) == (off_t)sizeof wbuf - 10;
	struct iovec wv[3] = {{"hello", 5}, {NULL, 0}, {" world", 6}};
	char r1[3], r2[8];
	struct iovec rv[2] = {{r1, 3}, {r2, 8}};
	pv_ok = pv_ok && lseek(fd, 0, SEEK_END) == (off_t)sizeof wbuf && writev(fd, wv, 3) == 11 &&
		lseek(fd, sizeof wbuf, SEEK_SET) == (off_t)sizeof wbuf && readv(fd, rv, 2) == 11 &&
		memcmp(r1, "hel", 3) == 0 && memcmp(r2, "lo world", 8) == 0;
	KTAP_CHECK(pv_ok, "pread_pwrite_readv_writev", "positional or vector I/O wrong");

	/* fcntl: F_GETFD (O_CLOEXEC), F_SETFD, F_GETFL. */
	int fl_ok = fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC && fcntl(fd, F_SETFD, 0) == 0 &&
		    fcntl(fd, F_GETFD) == 0 && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	KTAP_CHECK(fl_ok, "fcntl_getfd_setfd_getfl", "fcntl wrong");

	/* dup, dup2, dup3: lowest free number, exact numbers, O_CLOEXEC, shared offset. */
	int d1 = fd >= 0 ? dup(fd) : -1;
	int d2 = fd >= 0 ? dup2(fd, 100) : -1;
	int d3 = fd >= 0 ? dup3(fd, 101, O_CLOEXEC) : -1;
	errno = 0;
	int same = fd >= 0 ? dup3(fd, fd, 0) : 0;
	int dup_ok = d1 > fd && d2 == 100 && d3 == 101 && fcntl(d3, F_GETFD) == FD_CLOEXEC &&
		     fcntl(d2, F_GETFD) == 0 && same == -1 && errno == EINVAL && lseek(d1, 42, SEEK_SET) == 42 &&
		     lseek(fd, 0, SEEK_CUR) == 42 && lseek(d3, 0, SEEK_CUR) == 42;
	int lowest = fd >= 0 ? dup(fd) : -1;
	dup_ok = dup_ok && lowest == d1 + 1;
	close(lowest);
	close(d1);
	close(d2);
	close(d3);
	dup_ok = dup_ok && fcntl(100, F_GETFD) == -1 && errno == EBADF;
	KTAP_CHECK(dup_ok, "dup_dup2_dup3", "dup family wrong (%d %d %d)", d1, d2, d3);
	if (fd >= 0)
		close(fd);

	/* Directory listing (getdents64 through readdir): exactly . .. data a b c. */
	int ls_ok = 1;
	for (const char *n = "abc"; *n; n++) {
		snprintf(name, sizeof name, "%s/%c", dir, *n);
		int f = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ls_ok &= f >= 0;
		if (f >= 0)
			close(f);
	}
	int found = 0, extra = 0;
	DIR *dp = opendir(dir);
	struct dirent *de;
	while (dp && (de = readdir(dp))) {
		static const char *const want[] = {".", "..", "data", "a", "b", "c"};
		int k = -1;
		for (int i = 0; i < 6; i++)
			if (strcmp(de->d_name, want[i]) == 0)
				k = i;
		if (k < 0 || (found & (1 << k)))
			extra++;
		else
			found |= 1 << k;
		if (k >= 2 && de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			extra++;
	}
	if (dp)
		closedir(dp);
	KTAP_CHECK(ls_ok && dp && found == 0x3f && extra == 0, "getdents64_readdir",
		   "found mask %#x, %d unexpected entries", found, extra);

	/* openat relative to a directory fd. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int af = dfd >= 0 ? openat(dfd, "a", O_RDONLY) : -1;
	KTAP_CHECK(dfd >= 0 && af >= 0, "openat_dirfd", "openat(dirfd, \"a\") failed");
	if (af >= 0)
		close(af);

	/* access. */
	errno = 0;
	int ac_ok = access(file, F_OK) == 0 && access(file, R_OK | W_OK) == 0;
	snprintf(name, sizeof name, "%s/missing", dir);
	ac_ok = ac_ok && access(name, F_OK) == -1 && errno == ENOENT;
	KTAP_CHECK(ac_ok, "access_f_ok", "access wrong");

	/* getcwd / chdir round trip; a relative open in the new cwd. */
	char cwd0[4096], cwd1[4096];
	int cd_ok = getcwd(cwd0, sizeof cwd0) != NULL && chdir(dir) == 0 && getcwd(cwd1, sizeof cwd1) != NULL &&
		    strcmp(cwd1, dir) == 0 && access("data", F_OK) == 0 && chdir(cwd0) == 0 &&
		    getcwd(cwd1, sizeof cwd1) != NULL && strcmp(cwd0, cwd1) == 0;
	KTAP_CHECK(cd_ok, "getcwd_chdir", "cwd round trip failed");

	/* unlink, then open fails with ENOENT; rmdir of the emptied directory. */
	int ul_ok = unlink(file) == 0;
	errno = 0;
	ul_ok = ul_ok && open(file, O_RDONLY) == -1 && errno == ENOENT;
	for (const char *n = "abc"; *n; n++) {
		snprintf(name, sizeof name, "%s/%c", dir, *n);
		ul_ok &= unlink(name) == 0;
	}
	if (dfd >= 0)
		close(dfd);
	ul_ok = ul_ok && rmdir(dir) == 0 && access(dir, F_OK) == -1;
	KTAP_CHECK(ul_ok, "unlink_then_enoent", "unlink/rmdir failed");

	/* pipe2: round trip, EOF after the writer closes, O_NONBLOCK -> EAGAIN, lseek -> ESPIPE,
	 * EPIPE (SIGPIPE ignored) after the reader closes. */
	int p[2];
	char b[16];
	int pp_ok = pipe2(p, O_CLOEXEC) == 0 && fcntl(p[0], F_GETFD) == FD_CLOEXEC && write(p[1], "ping", 4) == 4 &&
		    read(p[0], b, sizeof b) == 4 && memcmp(b, "ping", 4) == 0;
	errno = 0;
	pp_ok = pp_ok && lseek(p[0], 0, SEEK_SET) == -1 && errno == ESPIPE;
	close(p[1]);
	pp_ok = pp_ok && read(p[0], b, sizeof b) == 0;
	close(p[0]);
	pp_ok = pp_ok && pipe2(p, O_NONBLOCK) == 0;
	errno = 0;
	pp_ok = pp_ok && read(p[0], b, 1) == -1 && errno == EAGAIN && (fcntl(p[0], F_GETFL) & O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	close(p[0]);
	errno = 0;
	pp_ok = pp_ok && write(p[1], "x", 1) == -1 && errno == EPIPE;
	close(p[1]);
	signal(SIGPIPE, SIG_DFL);
	KTAP_CHECK(pp_ok, "pipe2_round_trip", "pipe semantics wrong");

	/* A write that completed is not a SIGPIPE, however soon after it the reader reads and
	 * closes: a child writes one byte while the parent reads it and closes its end at once
	 * (a kernel that looks for readers again after the copy kills some children). */
	int sp_bad = 0, sp_round, sp_st = 0;
	for (sp_round = 0; sp_round < 300 && !sp_bad; sp_round++) {
		if (pipe(p)) {
			sp_bad = 1;
			break;
		}
		pid_t w = fork();
		if (w == 0) {
			close(p[0]);
			_exit(write(p[1], "w", 1) == 1 ? 0 : 1);
		}
		close(p[1]);
		int got = read(p[0], b, 1);
		close(p[0]);
		waitpid(w, &sp_st, 0);
		sp_bad = got != 1 || !WIFEXITED(sp_st) || WEXITSTATUS(sp_st) != 0;
	}
	KTAP_CHECK(!sp_bad, "pipe_write_read_close_no_sigpipe", "round %d: writer status %#x",
		   sp_round, sp_st);

	/* stdin is at EOF (the harness gives /dev/null or an empty stdin). */
	KTAP_CHECK(read(0, b, 1) == 0, "stdin_eof", "read(0) did not return EOF");

	/* Devices. */
	int nfd = open("/dev/null", O_RDWR);
	struct stat ns_;
	int null_ok = nfd >= 0 && read(nfd, b, sizeof b) == 0 && write(nfd, "abc", 3) == 3 &&
		      fstat(nfd, &ns_) == 0 && S_ISCHR(ns_.st_mode) && major(ns_.st_rdev) == 1 &&
		      minor(ns_.st_rdev) == 3;
	KTAP_CHECK(null_ok, "dev_null", "/dev/null wrong");
	int zfd = open("/dev/zero", O_RDONLY);
	unsigned char zb[8192];
	memset(zb, 0xff, sizeof zb);
	int zero_ok = zfd >= 0 && read(zfd, zb, sizeof zb) == (ssize_t)sizeof zb && !nonzero(zb, sizeof zb);
	if (zfd >= 0)
		close(zfd);
	KTAP_CHECK(zero_ok, "dev_zero", "/dev/zero wrong");
	int ufd = open("/dev/urandom", O_RDONLY);
	unsigned char ub[16] = {0};
	int ur_ok = ufd >= 0 && read(ufd, ub, 16) == 16 && nonzero(ub, 16);
	if (ufd >= 0)
		close(ufd);
	KTAP_CHECK(ur_ok, "dev_urandom", "/dev/urandom wrong");

	/* isatty / TCGETS: a pipe, a regular file and /dev/null are not terminals (ENOTTY). */
	int tp[2];
	struct termios tio;
	struct winsize ws;
	int tty_ok = pipe(tp) == 0 && (errno = 0, !isatty(tp[0])) && errno == ENOTTY &&
		     (errno = 0, ioctl(tp[1], TIOCGWINSZ, &ws) == -1) && errno == ENOTTY;
	tty_ok = tty_ok && nfd >= 0 && (errno = 0, tcgetattr(nfd, &tio) == -1) && errno == ENOTTY;
	close(tp[0]);
	close(tp[1]);
	if (nfd >= 0)
		close(nfd);
	KTAP_CHECK(tty_ok, "isatty_enotty", "a non-terminal looked like a terminal");
	struct stat so;
	if (fstat(1, &so) == 0 && S_ISFIFO(so.st_mode)) {
		errno = 0;
		int r = isatty(1);
		KTAP_CHECK(r == 0 && errno == ENOTTY, "isatty_stdout_pipe", "isatty(1) %d errno %d", r, errno);
	} else {
		ktap_skip("isatty_stdout_pipe", "stdout is not a pipe");
	}

	/* /proc/self/exe, /proc/self/status, /proc/cpuinfo. */
	char exe[4096];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe);
	KTAP_CHECK(el > 1 && el < (ssize_t)sizeof exe && exe[0] == '/', "readlink_proc_self_exe",
		   "readlink returned %ld", (long)el);
	static char text[65536];
	char want[64];
	snprintf(want, sizeof want, "\nPid:\t%d\n", (int)me);
	ssize_t sl = slurp("/proc/self/status", text, sizeof text);
	KTAP_CHECK(sl > 0 && strncmp(text, "Name:\t", 6) == 0 && strstr(text, want), "proc_self_status",
		   "no Name:/Pid: lines");
	sl = slurp("/proc/cpuinfo", text, sizeof text);
	KTAP_CHECK(sl > 0 && strncmp(text, "processor\t: 0\n", 14) == 0, "proc_cpuinfo",
		   "no \"processor : 0\" first line");

	/* uname. */
	struct utsname u;
	KTAP_CHECK(uname(&u) == 0 && strcmp(u.sysname, "Linux") == 0 && strcmp(u.machine, "x86_64") == 0 &&
			   u.release[0] >= '1' && u.release[0] <= '9',
		   "uname_linux", "sysname \"%s\" machine \"%s\"", u.sysname, u.machine);

	/* Clocks: monotonic never goes back; nanosleep 1 ms sleeps at least 1 ms; realtime is
	 * after 2020 and agrees with gettimeofday. */
	int64_t t0 = ns(CLOCK_MONOTONIC), tp_ = t0, mono_ok = t0 >= 0;
	for (int i = 0; i < 1000 && mono_ok; i++) {
		int64_t t = ns(CLOCK_MONOTONIC);
		mono_ok = t >= tp_;
		tp_ = t;
	}
	KTAP_CHECK(mono_ok, "clock_monotonic_nondecreasing", "CLOCK_MONOTONIC went back");
	struct timespec req = {0, 1000000};
	int64_t s0 = ns(CLOCK_MONOTONIC);
	int sl_ok = nanosleep(&req, NULL) == 0;
	int64_t s1 = ns(CLOCK_MONOTONIC);
	KTAP_CHECK(sl_ok && s1 - s0 >= 1000000, "nanosleep_1ms", "slept %ld ns", (long)(s1 - s0));
	struct timeval tv;
	int64_t rt = ns(CLOCK_REALTIME);
	int tv_ok = gettimeofday(&tv, NULL) == 0;
	int64_t gt = (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
	KTAP_CHECK(tv_ok && rt > 1577836800LL * 1000000000 && gt - rt > -1000000000 && gt - rt < 1000000000 &&
			   time(NULL) >= 1577836800,
		   "clock_realtime_gettimeofday", "realtime before 2020 or disagreeing with gettimeofday");

	/* getrandom: 16 bytes, not all zero. */
	unsigned char gr[16] = {0};
	KTAP_CHECK(getrandom(gr, 16, 0) == 16 && nonzero(gr, 16), "getrandom_16", "getrandom failed");

	/* sched_getaffinity: at least one CPU. */
	cpu_set_t cs;
	CPU_ZERO(&cs);
	KTAP_CHECK(sched_getaffinity(0, sizeof cs, &cs) == 0 && CPU_COUNT(&cs) >= 1, "sched_getaffinity",
		   "no CPU in the affinity mask");

	/* sysinfo, times, getrlimit, prctl(PR_SET_NAME/PR_GET_NAME), getpid/getppid. */
	struct sysinfo si;
	KTAP_CHECK(sysinfo(&si) == 0 && si.totalram > 0 && si.mem_unit >= 1 && si.procs >= 1 &&
			   si.freeram <= si.totalram,
		   "sysinfo", "sysinfo wrong");
	struct tms tm;
	clock_t tk = times(&tm);
	KTAP_CHECK(tk != (clock_t)-1 && tm.tms_utime >= 0 && tm.tms_stime >= 0, "times", "times failed");
	struct rlimit rl;
	KTAP_CHECK(getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur >= 65536 && rl.rlim_cur <= rl.rlim_max &&
			   getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64,
		   "getrlimit", "getrlimit wrong");
	char pn[17] = {0};
	KTAP_CHECK(prctl(PR_SET_NAME, "kentry-files", 0, 0, 0) == 0 && prctl(PR_GET_NAME, pn, 0, 0, 0) == 0 &&
			   strcmp(pn, "kentry-files") == 0,
		   "prctl_set_get_name", "name \"%s\"", pn);
	KTAP_CHECK(getpid() > 0 && getppid() >= 0 && getpid() != getppid(), "getpid_getppid", "ids wrong");

	/* RLIMIT_NOFILE bounds descriptor numbers (in a child, so ours stays): with a soft limit of
	 * 8 and 0..7 taken, open is EMFILE, dup2 to 8 is EBADF, F_DUPFD from 8 is EINVAL; a
	 * descriptor below the limit is fine. */
	pid_t c = fork();
	if (c == 0) {
		struct rlimit lim = {8, 8};
		for (int fd = 3; fd < 8; fd++)
			if (fcntl(fd, F_GETFD) < 0 && dup2(0, fd) != fd)
				_exit(1);
		for (int fd = 8; fd < 64; fd++)
			close(fd);
		if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
			_exit(2);
		errno = 0;
		if (open("/dev/null", O_RDONLY) != -1 || errno != EMFILE)
			_exit(3);
		if (dup2(0, 8) != -1 || errno != EBADF)
			_exit(4);
		if (fcntl(0, F_DUPFD, 8) != -1 || errno != EINVAL)
			_exit(5);
		close(7);
		_exit(open("/dev/null", O_RDONLY) == 7 ? 0 : 6);
	}
	int cst = -1;
	waitpid(c, &cst, 0);
	KTAP_CHECK(WIFEXITED(cst) && WEXITSTATUS(cst) == 0, "rlimit_nofile",
		   "child status %#x (3 open not EMFILE, 4 dup2 not EBADF, 5 F_DUPFD not EINVAL)", cst);

	/* Extended attributes of a fresh file: none to read (ENODATA where the filesystem keeps
	 * them, EOPNOTSUPP where it keeps none: kentry's), none listed; ENOENT for a missing file,
	 * ERANGE for an empty name, EBADF, and setxattr's bad flags EINVAL. */
	int xfd = open("/tmp/kentry-xattr", O_CREAT | O_RDWR | O_TRUNC, 0644);
	char xv[64];
	errno = 0;
	ssize_t g1 = lgetxattr("/tmp/kentry-xattr", "security.selinux", xv, sizeof(xv));
	int e1 = errno;
	errno = 0;
	ssize_t g2 = getxattr("/tmp/kentry-xattr", "system.posix_acl_access", NULL, 0);
	int e2 = errno;
	errno = 0;
	ssize_t g3 = fgetxattr(xfd, "system.posix_acl_default", xv, sizeof(xv));
	int e3 = errno;
	ssize_t l1 = listxattr("/tmp/kentry-xattr", xv, sizeof(xv));
	ssize_t l2 = flistxattr(xfd, NULL, 0);
	errno = 0;
	ssize_t n1 = getxattr("/tmp/kentry-no-such-file", "user.x", xv, sizeof(xv));
	int en1 = errno;
	errno = 0;
	ssize_t n2 = getxattr("/tmp/kentry-xattr", "", xv, sizeof(xv));
	int en2 = errno;
	errno = 0;
	ssize_t n3 = fgetxattr(-1, "user.x", xv, sizeof(xv));
	int en3 = errno;
	errno = 0;
	int n4 = setxattr("/tmp/kentry-xattr", "user.x", "v", 1, 8);
	int en4 = errno;
	close(xfd);
	unlink("/tmp/kentry-xattr");
	int none = (e1 == ENODATA || e1 == EOPNOTSUPP) && (e2 == ENODATA || e2 == EOPNOTSUPP) &&
		   (e3 == ENODATA || e3 == EOPNOTSUPP);
	KTAP_CHECK(xfd >= 0 && g1 == -1 && g2 == -1 && g3 == -1 && none && l1 == 0 && l2 == 0 &&
			   n1 == -1 && en1 == ENOENT && n2 == -1 && en2 == ERANGE && n3 == -1 &&
			   en3 == EBADF && n4 == -1 && en4 == EINVAL,
		   "xattr_none_and_errors",
		   "get %zd/%d %zd/%d %zd/%d, list %zd %zd, ENOENT %zd/%d, ERANGE %zd/%d, EBADF %zd/%d, EINVAL %d/%d",
		   g1, e1, g2, e2, g3, e3, l1, l2, n1, en1, n2, en2, n3, en3, n4, en4);

	return ktap_finish();
}
