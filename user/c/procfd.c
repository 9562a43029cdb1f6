/* procfd: /proc/PID/fd/N followed as Linux's magic links, not as the text they read as.
 * Opening one opens the description's own object again: a pipe's end (a new description of
 * the same pipe, counted as an end of its own), a file even after its name is gone; stat
 * through one describes that object. A socket's link cannot be opened (ENXIO). /dev/fd,
 * /dev/stdin, /dev/stdout and /dev/stderr lead there, as udev makes them on Linux, so that a
 * shell's process substitution (`<(cmd)`, which names /dev/fd/63) works. Cases:
 *  - proc_fd_reopen_pipe_read: a read end opened through the link reads the pipe's bytes in
 *    turn with the original end;
 *  - proc_fd_reopen_pipe_write: a write end opened through the link keeps the pipe open for
 *    writing after the original writer is closed, and its own close brings EOF;
 *  - proc_fd_stat_pipe: stat through the link is the pipe's (S_IFIFO, same st_ino), lstat
 *    the link's (S_IFLNK);
 *  - proc_fd_reopen_deleted: a file unlinked while open is opened again through the link and
 *    reads its bytes, with the same st_ino;
 *  - proc_fd_socket_enxio: a socket's link: ENXIO;
 *  - dev_fd_links: /dev/fd and /dev/std{in,out,err} read as /proc/self/fd{,/0,/1,/2}, and
 *    /dev/fd/N opens descriptor N's pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktap.h"

static int open_link(const char *dir, int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/%d", dir, fd);
	return open(path, flags);
}

static void reopen_pipe(void)
{
	int p[2];
	char c[4] = {0};
	int ok = pipe(p) == 0 && write(p[1], "ab", 2) == 2;
	int r = ok ? open_link("/proc/self/fd", p[0], O_RDONLY) : -1;
	ok = ok && r >= 0 && r != p[0] && read(r, c, 1) == 1 && read(p[0], c + 1, 1) == 1 &&
	     !memcmp(c, "ab", 2);
	KTAP_CHECK(ok, "proc_fd_reopen_pipe_read", "r=%d errno=%d read %s", r, errno, c);

	int w = ok ? open_link("/proc/self/fd", p[1], O_WRONLY) : -1;
	ok = ok && w >= 0 && close(p[1]) == 0 && write(w, "c", 1) == 1 && read(r, c, 1) == 1 &&
	     c[0] == 'c' && close(w) == 0 && read(r, c, 1) == 0;
	KTAP_CHECK(ok, "proc_fd_reopen_pipe_write", "w=%d errno=%d", w, errno);
	if (r >= 0)
		close(r);
	close(p[0]);
}

static void stat_pipe(void)
{
	int p[2];
	struct stat via, direct, link;
	char path[64];
	int ok = pipe(p) == 0 && fstat(p[0], &direct) == 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
	ok = ok && stat(path, &via) == 0 && lstat(path, &link) == 0 && S_ISFIFO(via.st_mode) &&
	     via.st_ino == direct.st_ino && S_ISLNK(link.st_mode);
	KTAP_CHECK(ok, "proc_fd_stat_pipe", "mode %o ino %lu, want fifo ino %lu; link mode %o",
		   via.st_mode, (unsigned long)via.st_ino, (unsigned long)direct.st_ino, link.st_mode);
	close(p[0]);
	close(p[1]);
}

static void reopen_deleted(void)
{
	char name[] = "/tmp/procfd_XXXXXX", buf[32] = {0};
	struct stat a, b;
	int fd = mkstemp(name);
	int ok = fd >= 0 && write(fd, "still here", 10) == 10 && unlink(name) == 0 &&
		 fstat(fd, &a) == 0;
	int again = ok ? open_link("/proc/self/fd", fd, O_RDONLY) : -1;
	ok = ok && again >= 0 && read(again, buf, sizeof(buf)) == 10 &&
	     !memcmp(buf, "still here", 10) && fstat(again, &b) == 0 && a.st_ino == b.st_ino;
	KTAP_CHECK(ok, "proc_fd_reopen_deleted", "again=%d errno=%d read %s", again, errno, buf);
	if (again >= 0)
		close(again);
	if (fd >= 0)
		close(fd);
}

static void socket_enxio(void)
{
	int sv[2];
	int ok = socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0;
	errno = 0;
	int fd = ok ? open_link("/proc/self/fd", sv[0], O_RDWR) : -1;
	KTAP_CHECK(ok && fd < 0 && errno == ENXIO, "proc_fd_socket_enxio", "fd=%d errno=%d", fd,
		   errno);
	if (ok) {
		close(sv[0]);
		close(sv[1]);
	}
}

static int link_is(const char *path, const char *want)
{
	char got[64];
	ssize_t n = readlink(path, got, sizeof(got) - 1);
	if (n < 0)
		return 0;
	got[n] = 0;
	return !strcmp(got, want);
}

static void dev_fd_links(void)
{
	int ok = link_is("/dev/fd", "/proc/self/fd") && link_is("/dev/stdin", "/proc/self/fd/0") &&
		 link_is("/dev/stdout", "/proc/self/fd/1") &&
		 link_is("/dev/stderr", "/proc/self/fd/2");
	int p[2];
	char c = 0;
	ok = ok && pipe(p) == 0 && write(p[1], "z", 1) == 1;
	int r = ok ? open_link("/dev/fd", p[0], O_RDONLY) : -1;
	ok = ok && r >= 0 && read(r, &c, 1) == 1 && c == 'z';
	KTAP_CHECK(ok, "dev_fd_links", "r=%d errno=%d", r, errno);
	if (r >= 0)
		close(r);
}

int main(void)
{
	ktap_plan(6);
	reopen_pipe();
	stat_pipe();
	reopen_deleted();
	socket_enxio();
	dev_fd_links();
	return ktap_finish();
}
