/* unixscm: control messages on AF_UNIX sockets — SCM_RIGHTS (descriptors passed within a
 * process and between a parent and its forked child, MSG_CMSG_CLOEXEC, truncation with
 * MSG_CTRUNC, the stream read that brings them, descriptors dropped by a plain read) and
 * SCM_CREDENTIALS (with SO_PASSCRED, given explicitly, from a child), and the errors for
 * bad control data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#pragma GCC diagnostic ignored "-Wunused-result"

/* Sends `data` with `nfds` descriptors (none when 0). */
static ssize_t send_fds(int s, const char *data, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {(void *)data, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(&u, 0, sizeof u);
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(s, &m, 0);
}

/* Receives into `data`; the descriptors that came (at most `max`) into `fds`, their count
 * into `*nfds`, msg_flags into `*flags`; `room` bytes of control buffer. */
static ssize_t recv_fds(int s, char *data, size_t len, int *fds, int max, int *nfds, int *flags,
			size_t room, int rflags)
{
	union {
		char buf[512];
		struct cmsghdr align;
	} u;
	struct iovec iov = {data, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			   .msg_controllen = room};
	ssize_t r = recvmsg(s, &m, rflags);
	*nfds = 0;
	if (flags)
		*flags = m.msg_flags;
	if (r < 0)
		return r;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (int i = 0; i < n && *nfds < max; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	return r;
}

/* A pipe's write end passed over a pair: writes through the received descriptor reach the
 * pipe; the descriptor is new (not the sender's number) and has no FD_CLOEXEC, unless
 * MSG_CMSG_CLOEXEC asked for it. */
static void rights_in_process(void)
{
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	pipe(p);
	ssize_t s = send_fds(sv[0], "w", 1, &p[1], 1);
	char b[8], got[8] = {0};
	int fd = -1, n, fl;
	ssize_t r = recv_fds(sv[1], b, sizeof b, &fd, 1, &n, &fl, 512, 0);
	int cloexec = fd >= 0 ? fcntl(fd, F_GETFD) & FD_CLOEXEC : -1;
	ssize_t w = write(fd, "via", 3);
	ssize_t rd = read(p[0], got, sizeof got);
	send_fds(sv[0], "w", 1, &p[1], 1);
	int fd2 = -1, n2;
	recv_fds(sv[1], b, sizeof b, &fd2, 1, &n2, NULL, 512, MSG_CMSG_CLOEXEC);
	int cloexec2 = fd2 >= 0 ? fcntl(fd2, F_GETFD) & FD_CLOEXEC : -1;
	KTAP_CHECK(s == 1 && r == 1 && n == 1 && fd != p[1] && cloexec == 0 && w == 3 && rd == 3 &&
			   !memcmp(got, "via", 3) && n2 == 1 && cloexec2 == FD_CLOEXEC && fl == 0,
		   "rights_in_process",
		   "send %zd recv %zd fds %d fd %d cloexec %d write %zd read %zd; cmsg_cloexec %d "
		   "%d flags %#x",
		   s, r, n, fd, cloexec, w, rd, n2, cloexec2, fl);
	close(fd);
	close(fd2);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* Descriptors across fork, both ways: the parent passes a pipe's write end and a listening
 * socket to its child; the child writes through the one, accepts the parent's connection
 * on the other, and passes back the read end of a pipe it made and wrote. */
static void rights_across_fork(void)
{
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int nl = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "kentry-%d-scm", getpid());
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + nl;
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&sa, len);
	listen(l, 2);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		char b[8];
		int fds[2], n;
		recv_fds(sv[1], b, sizeof b, fds, 2, &n, NULL, 512, 0);
		if (n != 2)
			_exit(2);
		write(fds[0], "child", 5);
		int a = accept(fds[1], NULL, NULL);
		write(a, "accepted", 8);
		int q[2];
		pipe(q);
		write(q[1], "back", 4);
		close(q[1]);
		send_fds(sv[1], "r", 1, &q[0], 1);
		_exit(a < 0 ? 3 : 0);
	}
	close(sv[1]);
	int two[2] = {p[1], l};
	ssize_t s = send_fds(sv[0], "ab", 2, two, 2);
	close(l);
	close(p[1]);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	int rc = connect(c, (struct sockaddr *)&sa, len);
	char buf[16] = {0}, acc[16] = {0}, back[16] = {0};
	ssize_t r1 = read(p[0], buf, sizeof buf);
	ssize_t r2 = read(c, acc, sizeof acc);
	char b[8];
	int fd = -1, n;
	recv_fds(sv[0], b, sizeof b, &fd, 1, &n, NULL, 512, 0);
	ssize_t r3 = fd >= 0 ? read(fd, back, sizeof back) : -1;
	int st;
	waitpid(pid, &st, 0);
	KTAP_CHECK(s == 2 && rc == 0 && r1 == 5 && !memcmp(buf, "child", 5) && r2 == 8 &&
			   !memcmp(acc, "accepted", 8) && n == 1 && r3 == 4 && !memcmp(back, "back", 4) &&
			   WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "rights_across_fork",
		   "send %zd connect %d pipe %zd accepted %zd back fds %d read %zd status %#x", s, rc,
		   r1, r2, n, r3, st);
	close(fd);
	close(c);
	close(p[0]);
	close(sv[0]);
}

/* Room for fewer descriptors than came: those that fit, MSG_CTRUNC, the rest closed (the
 * pipe's reader then sees end of file once the sender closes its copies). A plain read
 * drops every descriptor a message carried. */
static void rights_truncated(void)
{
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
	pipe(p);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	int three[3] = {p[1], p[1], p[1]};
	send_fds(sv[0], "x", 1, three, 3);
	char b[8];
	int fds[3], n, fl;
	union {
		char buf[64];
		struct cmsghdr align;
	} u;
	struct iovec iov = {b, sizeof b};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			   .msg_controllen = CMSG_LEN(sizeof(int))};
	ssize_t r = recvmsg(sv[1], &m, 0);
	fl = m.msg_flags;
	n = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_type == SCM_RIGHTS)
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	if (n == 1)
		memcpy(fds, CMSG_DATA(c), sizeof(int));
	size_t clen = m.msg_controllen;
	KTAP_CHECK(r == 1 && n == 1 && (fl & MSG_CTRUNC) && clen == CMSG_LEN(sizeof(int)),
		   "rights_ctrunc", "recv %zd fds %d flags %#x controllen %zu", r, n, fl, clen);
	if (n == 1)
		close(fds[0]);

	send_fds(sv[0], "y", 1, &p[1], 1);
	ssize_t rr = read(sv[1], b, sizeof b);
	close(p[1]);
	ssize_t eof = read(p[0], b, sizeof b);
	int e = errno;
	KTAP_CHECK(rr == 1 && eof == 0, "rights_dropped_unread", "read %zd pipe %zd/%d", rr, eof,
		   e);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

/* A stream read that meets descriptors stops after their piece: "xy" then "ab" with a
 * descriptor read as "xyab" and the descriptor; "cd" comes on the next read. */
static void rights_stream(void)
{
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	send(sv[0], "xy", 2, 0);
	send_fds(sv[0], "ab", 2, &p[0], 1);
	send(sv[0], "cd", 2, 0);
	char b[16] = {0}, b2[16] = {0};
	int fd = -1, n, n2, fd2;
	ssize_t r1 = recv_fds(sv[1], b, sizeof b, &fd, 1, &n, NULL, 512, 0);
	ssize_t r2 = recv_fds(sv[1], b2, sizeof b2, &fd2, 1, &n2, NULL, 512, MSG_DONTWAIT);
	KTAP_CHECK(r1 == 4 && !memcmp(b, "xyab", 4) && n == 1 && r2 == 2 && !memcmp(b2, "cd", 2) &&
			   n2 == 0,
		   "rights_stream_piece", "first %zd '%s' fds %d, next %zd '%s' fds %d", r1, b, n,
		   r2, b2, n2);
	close(fd);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* A raw control buffer for the error cases, through the raw call: musl's sendmsg copies
 * the control buffer itself (and refuses more than 1024 bytes). */
static ssize_t send_raw_control(int s, void *ctl, size_t len)
{
	struct iovec iov = {"z", 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			   .msg_controllen = len};
	return syscall(SYS_sendmsg, s, &m, MSG_DONTWAIT);
}

/* Bad control data: a clear errno for each. */
static void control_errors(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	union {
		char buf[CMSG_SPACE(sizeof(int) * 256)];
		struct cmsghdr align;
	} u;
	struct cmsghdr *c = (struct cmsghdr *)u.buf;
	int res[9], err[9];
	memset(&u, 0, sizeof u);
	/* 0: a descriptor that is not open. */
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	int bad = 999;
	memcpy(CMSG_DATA(c), &bad, sizeof bad);
	res[0] = send_raw_control(sv[0], u.buf, CMSG_SPACE(sizeof(int)));
	err[0] = errno;
	/* 1: cmsg_len shorter than the header. */
	c->cmsg_len = 8;
	res[1] = send_raw_control(sv[0], u.buf, CMSG_SPACE(sizeof(int)));
	err[1] = errno;
	/* 2: cmsg_len past the buffer. */
	c->cmsg_len = CMSG_LEN(64);
	res[2] = send_raw_control(sv[0], u.buf, CMSG_SPACE(sizeof(int)));
	err[2] = errno;
	/* 3: an unknown type at SOL_SOCKET. */
	c->cmsg_len = CMSG_LEN(sizeof(int));
	c->cmsg_type = 99;
	res[3] = send_raw_control(sv[0], u.buf, CMSG_SPACE(sizeof(int)));
	err[3] = errno;
	/* 4: 254 descriptors, one over SCM_MAX_FD. */
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * 254);
	for (int i = 0; i < 254; i++)
		memcpy(CMSG_DATA(c) + i * sizeof(int), &sv[0], sizeof(int));
	res[4] = send_raw_control(sv[0], u.buf, CMSG_SPACE(sizeof(int) * 254));
	err[4] = errno;
	/* 5: credentials of the wrong size. */
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(8);
	res[5] = send_raw_control(sv[0], u.buf, CMSG_SPACE(8));
	err[5] = errno;
	/* 6: another level is skipped: the message goes. */
	c->cmsg_level = 6;
	c->cmsg_type = 1;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	res[6] = send_raw_control(sv[0], u.buf, CMSG_SPACE(sizeof(int)));
	err[6] = 0;
	/* 7: an unreadable control buffer. */
	res[7] = send_raw_control(sv[0], (void *)8, 32);
	err[7] = errno;
	/* 8: a control length past INT_MAX (musl's msg_controllen is 32 bits). */
	res[8] = send_raw_control(sv[0], u.buf, (size_t)1 << 31);
	err[8] = errno;
	char b[4];
	ssize_t got = recv(sv[1], b, sizeof b, MSG_DONTWAIT);
	ssize_t none = recv(sv[1], b, sizeof b, MSG_DONTWAIT);
	KTAP_CHECK(res[0] == -1 && err[0] == EBADF && res[1] == -1 && err[1] == EINVAL &&
			   res[2] == -1 && err[2] == EINVAL && res[3] == -1 && err[3] == EINVAL &&
			   res[4] == -1 && err[4] == EINVAL && res[5] == -1 && err[5] == EINVAL &&
			   res[6] == 1 && res[7] == -1 && err[7] == EFAULT && res[8] == -1 &&
			   err[8] == ENOBUFS && got == 1 && none == -1,
		   "control_errors",
		   "badfd %d/%d short %d/%d long %d/%d type %d/%d many %d/%d cred %d/%d level %d "
		   "fault %d/%d huge %d/%d queued %zd %zd",
		   res[0], err[0], res[1], err[1], res[2], err[2], res[3], err[3], res[4], err[4],
		   res[5], err[5], res[6], res[7], err[7], res[8], err[8], got, none);
	close(sv[0]);
	close(sv[1]);
}

/* The credentials a receive reports (none: pid -1). */
static struct ucred recv_cred(int s, size_t *clen)
{
	struct ucred cr = {.pid = -1};
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	char b[16];
	struct iovec iov = {b, sizeof b};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			   .msg_controllen = sizeof u.buf};
	if (recvmsg(s, &m, 0) < 0)
		return cr;
	*clen = m.msg_controllen;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
		memcpy(&cr, CMSG_DATA(c), sizeof cr);
	return cr;
}

/* SO_PASSCRED: every message carries its sender's credentials (from a forked child too);
 * explicit SCM_CREDENTIALS of the sender's own ids arrive as given; without SO_PASSCRED
 * none are reported. */
static void credentials(void)
{
	int sv[2], one = 1;
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	send(sv[0], "plain", 5, 0);
	size_t l0 = 99;
	struct ucred none = recv_cred(sv[1], &l0);
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	send(sv[0], "auto", 4, 0);
	size_t l1 = 0;
	struct ucred a = recv_cred(sv[1], &l1);
	KTAP_CHECK(none.pid == -1 && l0 == 0 && a.pid == getpid() && a.uid == getuid() &&
			   a.gid == getgid() && l1 == CMSG_SPACE(sizeof(struct ucred)),
		   "passcred_auto", "without %d len %zu; with pid %d uid %d gid %d len %zu",
		   (int)none.pid, l0, (int)a.pid, (int)a.uid, (int)a.gid, l1);

	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct cmsghdr *c = (struct cmsghdr *)u.buf;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
	struct ucred mine = {getpid(), getuid(), getgid()};
	memcpy(CMSG_DATA(c), &mine, sizeof mine);
	ssize_t s = send_raw_control(sv[0], u.buf, sizeof u.buf);
	size_t l2 = 0;
	struct ucred e = recv_cred(sv[1], &l2);
	pid_t pid = fork();
	if (pid == 0) {
		send(sv[0], "kid", 3, 0);
		_exit(0);
	}
	size_t l3 = 0;
	struct ucred k = recv_cred(sv[1], &l3);
	waitpid(pid, NULL, 0);
	KTAP_CHECK(s == 1 && e.pid == mine.pid && e.uid == mine.uid && e.gid == mine.gid &&
			   k.pid == pid,
		   "passcred_explicit_and_child", "send %zd got pid %d uid %d; child %d/%d", s,
		   (int)e.pid, (int)e.uid, (int)k.pid, (int)pid);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	ktap_plan(8);
	rights_in_process();
	rights_across_fork();
	rights_truncated();
	rights_stream();
	control_errors();
	credentials();
	return ktap_finish();
}
