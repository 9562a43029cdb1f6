/* unixsock: AF_UNIX socket pairs as programs use them — socketpair(2) of the three types,
 * read/write and send/recv in their forms, message boundaries, the end of a connection,
 * shutdown, non-blocking I/O, poll, and the options and names programs ask about.
 *
 * Only what a connected pair shows the same way on every kernel is checked: never the exact
 * buffer sizes (Linux counts its own overheads).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

/* Writes whose count the cases check through what the other end reads. */
#pragma GCC diagnostic ignored "-Wunused-result"

static int pair(int type, int sv[2])
{
	return socketpair(AF_UNIX, type, 0, sv);
}

static void close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* Both directions of a stream pair; two writes read as one stream. */
static void stream_basics(void)
{
	int sv[2];
	char buf[16] = {0};
	int ok = pair(SOCK_STREAM, sv) == 0;
	ok = ok && write(sv[0], "ab", 2) == 2 && write(sv[0], "cd", 2) == 2;
	ok = ok && read(sv[1], buf, sizeof buf) == 4 && !memcmp(buf, "abcd", 4);
	ok = ok && send(sv[1], "back", 4, 0) == 4 && recv(sv[0], buf, 3, 0) == 3 &&
	     recv(sv[0], buf + 3, 8, 0) == 1 && !memcmp(buf, "back", 4);
	KTAP_CHECK(ok, "stream_both_ways", "errno %d", errno);
	close_pair(sv);
}

/* SEQPACKET and DGRAM keep message boundaries; a short receive drops the rest (MSG_TRUNC in
 * msg_flags; recv with MSG_TRUNC returns the whole length). */
static void messages(int type, const char *name_bound, const char *name_trunc)
{
	int sv[2];
	char buf[64];
	int ok = pair(type, sv) == 0;
	ok = ok && send(sv[0], "one", 3, 0) == 3 && send(sv[0], "three", 5, 0) == 5;
	ssize_t a = recv(sv[1], buf, sizeof buf, 0);
	ssize_t b = recv(sv[1], buf, sizeof buf, 0);
	KTAP_CHECK(ok && a == 3 && b == 5 && !memcmp(buf, "three", 5), name_bound, "%zd %zd", a,
		   b);

	send(sv[0], "0123456789", 10, 0);
	send(sv[0], "next", 4, 0);
	send(sv[0], "abcdefgh", 8, 0);
	char small[4];
	struct iovec iov = {small, sizeof small};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r = recvmsg(sv[1], &m, 0);
	int trunc = m.msg_flags & MSG_TRUNC;
	ssize_t n = recv(sv[1], buf, sizeof buf, 0);
	ssize_t whole = recv(sv[1], small, 2, MSG_TRUNC);
	KTAP_CHECK(r == 4 && !memcmp(small, "ab", 2) && trunc && n == 4 && !memcmp(buf, "next", 4) &&
			   whole == 8,
		   name_trunc, "recvmsg %zd flags %#x, next %zd, MSG_TRUNC %zd", r, m.msg_flags, n,
		   whole);
	close_pair(sv);
}

/* sendmsg gathers three iovecs into one message; recvmsg scatters it over two. */
static void iovecs(void)
{
	int sv[2];
	pair(SOCK_SEQPACKET, sv);
	struct iovec out[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
	struct msghdr mo = {.msg_iov = out, .msg_iovlen = 3};
	ssize_t s = sendmsg(sv[0], &mo, 0);
	char x[3] = {0}, y[8] = {0};
	struct iovec in[2] = {{x, 3}, {y, 8}};
	struct msghdr mi = {.msg_iov = in, .msg_iovlen = 2, .msg_name = &(struct sockaddr_un){0},
			    .msg_namelen = sizeof(struct sockaddr_un)};
	ssize_t r = recvmsg(sv[1], &mi, 0);
	KTAP_CHECK(s == 6 && r == 6 && !memcmp(x, "abc", 3) && !memcmp(y, "def", 3) &&
			   mi.msg_namelen == 0 && mi.msg_flags == 0,
		   "sendmsg_recvmsg_iovecs", "sent %zd got %zd namelen %u flags %#x", s, r,
		   (unsigned)mi.msg_namelen, mi.msg_flags);
	/* A writev is one message too. */
	ssize_t w = writev(sv[0], out, 3);
	char z[16];
	ssize_t q = read(sv[1], z, sizeof z);
	KTAP_CHECK(w == 6 && q == 6 && !memcmp(z, "abcdef", 6), "writev_one_message", "%zd %zd",
		   w, q);
	close_pair(sv);
}

/* MSG_PEEK leaves the data; FIONREAD counts every queued byte of a stream or seqpacket
 * socket, and the next datagram's length. */
static void peek_and_fionread(void)
{
	int sv[2], ss[2], sd[2];
	char buf[8] = {0};
	pair(SOCK_STREAM, sv);
	pair(SOCK_SEQPACKET, ss);
	pair(SOCK_DGRAM, sd);
	write(sv[0], "xyz", 3);
	write(sv[0], "w", 1);
	int n1 = -1, n2 = -1;
	ioctl(sv[1], FIONREAD, &n1);
	ssize_t p = recv(sv[1], buf, 2, MSG_PEEK);
	ssize_t r = read(sv[1], buf, 8);
	write(ss[0], "12345", 5);
	write(ss[0], "6", 1);
	ioctl(ss[1], FIONREAD, &n2);
	int n3 = -1;
	write(sd[0], "12345", 5);
	write(sd[0], "6", 1);
	ioctl(sd[1], FIONREAD, &n3);
	KTAP_CHECK(n1 == 4 && p == 2 && r == 4 && !memcmp(buf, "xyzw", 4) && n2 == 6 && n3 == 5,
		   "peek_fionread", "fionread %d peek %zd read %zd seqpacket %d dgram %d", n1, p, r,
		   n2, n3);
	close_pair(sv);
	close_pair(ss);
	close_pair(sd);
}

static volatile sig_atomic_t pipes;
static void on_pipe(int s)
{
	pipes++;
}

/* The end of a stream connection: the reader gets what was sent, then EOF; the writer gets
 * EPIPE and SIGPIPE, or only EPIPE with MSG_NOSIGNAL. */
static void stream_end(void)
{
	int sv[2];
	char buf[8];
	signal(SIGPIPE, on_pipe);
	pair(SOCK_STREAM, sv);
	write(sv[0], "last", 4);
	close(sv[0]);
	ssize_t a = read(sv[1], buf, sizeof buf), b = read(sv[1], buf, sizeof buf);
	KTAP_CHECK(a == 4 && b == 0, "stream_eof_after_close", "%zd %zd", a, b);
	pipes = 0;
	ssize_t w = write(sv[1], "x", 1);
	int e = errno;
	int got = pipes;
	ssize_t w2 = send(sv[1], "x", 1, MSG_NOSIGNAL);
	int e2 = errno;
	KTAP_CHECK(w == -1 && e == EPIPE && got == 1 && w2 == -1 && e2 == EPIPE && pipes == 1,
		   "stream_epipe_sigpipe", "write %zd/%d sigpipes %d, nosignal %zd/%d then %d", w, e,
		   got, w2, e2, (int)pipes);
	close(sv[1]);
	signal(SIGPIPE, SIG_DFL);
}

/* shutdown(SHUT_WR): the peer reads EOF, the other direction still works, and writing on the
 * shut side is EPIPE. */
static void shutdown_wr(void)
{
	int sv[2];
	char buf[8];
	pair(SOCK_SEQPACKET, sv);
	int s = shutdown(sv[0], SHUT_WR);
	ssize_t eof = read(sv[1], buf, sizeof buf);
	ssize_t back = write(sv[1], "ok", 2);
	ssize_t got = read(sv[0], buf, sizeof buf);
	ssize_t w = send(sv[0], "no", 2, MSG_NOSIGNAL);
	int e = errno;
	int bad = shutdown(sv[0], 7);
	int be = errno;
	KTAP_CHECK(s == 0 && eof == 0 && back == 2 && got == 2 && w == -1 && e == EPIPE &&
			   bad == -1 && be == EINVAL,
		   "shutdown_wr", "%d eof %zd back %zd got %zd write %zd/%d bad %d/%d", s, eof, back,
		   got, w, e, bad, be);
	close_pair(sv);
}

/* A datagram pair whose peer is gone: the first send is ECONNREFUSED, the next ENOTCONN. */
static void dgram_peer_gone(void)
{
	int sv[2];
	pair(SOCK_DGRAM, sv);
	close(sv[1]);
	ssize_t a = send(sv[0], "x", 1, 0);
	int ea = errno;
	ssize_t b = send(sv[0], "x", 1, 0);
	int eb = errno;
	KTAP_CHECK(a == -1 && ea == ECONNREFUSED && b == -1 && eb == ENOTCONN, "dgram_peer_gone",
		   "%zd/%d %zd/%d", a, ea, b, eb);
	close(sv[0]);
}

/* Non-blocking: EAGAIN on an empty socket (SOCK_NONBLOCK, MSG_DONTWAIT); a stream fills up
 * (EAGAIN) and takes more once drained; poll's POLLIN, POLLOUT, POLLHUP and POLLRDHUP. */
static void nonblocking_and_poll(void)
{
	int sv[2], bl[2];
	char buf[4096];
	pair(SOCK_STREAM | SOCK_NONBLOCK, sv);
	pair(SOCK_STREAM, bl);
	ssize_t a = read(sv[1], buf, 1);
	int ea = errno;
	ssize_t b = recv(bl[1], buf, 1, MSG_DONTWAIT);
	int eb = errno;
	int fl = fcntl(sv[0], F_GETFL);
	KTAP_CHECK(a == -1 && ea == EAGAIN && b == -1 && eb == EAGAIN && (fl & O_NONBLOCK),
		   "nonblock_eagain", "%zd/%d %zd/%d flags %#x", a, ea, b, eb, fl);

	memset(buf, 'q', sizeof buf);
	long total = 0;
	ssize_t w;
	while ((w = write(sv[0], buf, sizeof buf)) > 0 && total < (64L << 20))
		total += w;
	int ew = errno;
	struct pollfd full = {sv[0], POLLOUT, 0};
	poll(&full, 1, 0);
	long drained = 0;
	ssize_t r;
	while ((r = read(sv[1], buf, sizeof buf)) > 0)
		drained += r;
	struct pollfd room = {sv[0], POLLOUT, 0};
	poll(&room, 1, 0);
	KTAP_CHECK(w == -1 && ew == EAGAIN && total > 0 && drained == total &&
			   !(full.revents & POLLOUT) && (room.revents & POLLOUT),
		   "stream_fills_and_drains", "w %zd/%d total %ld drained %ld full %#x room %#x", w,
		   ew, total, drained, full.revents, room.revents);

	struct pollfd p = {bl[1], POLLIN | POLLRDHUP, 0};
	int none = poll(&p, 1, 0);
	write(bl[0], "x", 1);
	struct pollfd q = {bl[1], POLLIN | POLLRDHUP, 0};
	poll(&q, 1, 0);
	close(bl[0]);
	struct pollfd h = {bl[1], POLLIN | POLLRDHUP, 0};
	poll(&h, 1, 0);
	KTAP_CHECK(none == 0 && q.revents == POLLIN &&
			   (h.revents & (POLLIN | POLLHUP | POLLRDHUP)) ==
				   (POLLIN | POLLHUP | POLLRDHUP),
		   "poll_events", "none %d data %#x closed %#x", none, q.revents, h.revents);
	close_pair(sv);
	close(bl[1]);
}

/* A blocked receive is woken by a send from another process. */
static void cross_process(void)
{
	int sv[2];
	pair(SOCK_SEQPACKET, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[1]);
		usleep(50000);
		_exit(send(sv[0], "from child", 10, 0) == 10 ? 0 : 1);
	}
	close(sv[0]);
	char buf[32];
	ssize_t r = recv(sv[1], buf, sizeof buf, 0);
	int st;
	waitpid(pid, &st, 0);
	ssize_t eof = recv(sv[1], buf, sizeof buf, 0);
	KTAP_CHECK(r == 10 && !memcmp(buf, "from child", 10) && WIFEXITED(st) &&
			   WEXITSTATUS(st) == 0 && eof == 0,
		   "cross_process_wakeup", "recv %zd status %#x eof %zd", r, st, eof);
	close(sv[1]);
}

/* What a socket is: fstat S_IFSOCK, SO_TYPE/SO_DOMAIN/SO_PEERCRED, an unnamed address, and
 * ENOTSOCK for another file. */
static void identity(void)
{
	int sv[2];
	pair(SOCK_SEQPACKET | SOCK_CLOEXEC, sv);
	struct stat st;
	fstat(sv[0], &st);
	int type = 0, domain = 0;
	socklen_t l1 = sizeof type, l2 = sizeof domain;
	getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &l1);
	getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &domain, &l2);
	struct ucred cred = {0};
	socklen_t lc = sizeof cred;
	int rc = getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &cred, &lc);
	struct sockaddr_un sa;
	socklen_t sl = sizeof sa;
	memset(&sa, 0x55, sizeof sa);
	int rn = getsockname(sv[0], (struct sockaddr *)&sa, &sl);
	int cloexec = fcntl(sv[0], F_GETFD) & FD_CLOEXEC;
	KTAP_CHECK(S_ISSOCK(st.st_mode) && type == SOCK_SEQPACKET && domain == AF_UNIX && rc == 0 &&
			   cred.pid == getpid() && lc == sizeof cred && rn == 0 && sl == 2 &&
			   sa.sun_family == AF_UNIX && cloexec,
		   "socket_identity",
		   "mode %#o type %d domain %d peercred %d pid %d len %u name %d len %u fam %d cloexec %d",
		   st.st_mode, type, domain, rc, (int)cred.pid, (unsigned)lc, rn, (unsigned)sl,
		   sa.sun_family, cloexec);
	int p[2];
	pipe(p);
	char c;
	ssize_t r = recv(p[0], &c, 1, MSG_DONTWAIT);
	int e = errno;
	int bo = 0;
	socklen_t bl = sizeof bo;
	int ro = getsockopt(sv[0], SOL_SOCKET, 12345, &bo, &bl);
	int eo = errno;
	KTAP_CHECK(r == -1 && e == ENOTSOCK && ro == -1 && eo == ENOPROTOOPT, "socket_errors",
		   "recv on a pipe %zd/%d, unknown option %d/%d", r, e, ro, eo);
	close(p[0]);
	close(p[1]);
	close_pair(sv);
}

/* socketpair's own errors. */
static void socketpair_errors(void)
{
	int sv[2];
	int a = socketpair(99, SOCK_STREAM, 0, sv);
	int ea = errno;
	int b = socketpair(AF_UNIX, 7, 0, sv);
	int eb = errno;
	int c = socketpair(AF_UNIX, SOCK_STREAM, 5, sv);
	int ec = errno;
	int d = socketpair(AF_INET, SOCK_STREAM, 0, sv);
	int ed = errno;
	KTAP_CHECK(a == -1 && ea == EAFNOSUPPORT && b == -1 && eb == ESOCKTNOSUPPORT && c == -1 &&
			   ec == EPROTONOSUPPORT && d == -1 && ed == EOPNOTSUPP,
		   "socketpair_errors", "%d/%d %d/%d %d/%d %d/%d", a, ea, b, eb, c, ec, d, ed);
}

int main(void)
{
	ktap_plan(19);
	stream_basics();
	messages(SOCK_SEQPACKET, "seqpacket_boundaries", "seqpacket_truncation");
	messages(SOCK_DGRAM, "dgram_boundaries", "dgram_truncation");
	iovecs();
	peek_and_fionread();
	stream_end();
	shutdown_wr();
	dgram_peer_gone();
	nonblocking_and_poll();
	cross_process();
	identity();
	socketpair_errors();
	return ktap_finish();
}
