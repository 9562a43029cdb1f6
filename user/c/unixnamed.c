/* unixnamed: named AF_UNIX sockets as servers and clients use them — socket(2), bind to a
 * path (a socket node) and in the abstract namespace, autobind, listen/accept4/connect,
 * the accept backlog, names of both ends, datagram destinations and senders, seqpacket
 * connections, non-blocking calls, poll/epoll readiness of listening and connected
 * sockets, the end of a connection (ECONNRESET), and the errors of each call.
 *
 * Paths and abstract names carry the pid, so the musl and glibc builds may run at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#pragma GCC diagnostic ignored "-Wunused-result"

static char dir[64];

/* A path in this run's directory, as a sockaddr_un and its length (with the NUL). */
static socklen_t path_addr(struct sockaddr_un *sa, const char *name)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", dir, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(sa->sun_path) + 1;
}

/* An abstract name "\0kentry-<pid>-<name>" and its exact length (no NUL counted). */
static socklen_t abstract_addr(struct sockaddr_un *sa, const char *name)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "kentry-%d-%s", getpid(), name);
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

/* A listening socket of `type` bound to `sa`. */
static int listener(int type, const struct sockaddr_un *sa, socklen_t len, int backlog)
{
	int s = socket(AF_UNIX, type, 0);
	if (s < 0 || bind(s, (const struct sockaddr *)sa, len) || listen(s, backlog))
		return -1;
	return s;
}

static int connected(int type, const struct sockaddr_un *sa, socklen_t len)
{
	int c = socket(AF_UNIX, type, 0);
	if (c < 0 || connect(c, (const struct sockaddr *)sa, len))
		return -1;
	return c;
}

/* A stream server on a path: connect, accept4 (the client unnamed), data both ways, the
 * names of every end, and the node (S_IFSOCK, mode 0777 less the umask). */
static void stream_path(void)
{
	struct sockaddr_un sa, got, acc;
	socklen_t len = path_addr(&sa, "stream");
	mode_t old = umask(022);
	int l = listener(SOCK_STREAM, &sa, len, 4);
	umask(old);
	int c = connected(SOCK_STREAM, &sa, len);
	socklen_t al = sizeof acc;
	memset(&acc, 0x55, sizeof acc);
	int a = accept4(l, (struct sockaddr *)&acc, &al, SOCK_CLOEXEC);
	char buf[16] = {0};
	int data = write(c, "ping", 4) == 4 && read(a, buf, sizeof buf) == 4 &&
		   write(a, "pong", 4) == 4 && read(c, buf + 4, sizeof buf - 4) == 4 &&
		   !memcmp(buf, "pingpong", 8);
	KTAP_CHECK(l >= 0 && c >= 0 && a >= 0 && data && al == 2 && acc.sun_family == AF_UNIX &&
			   (fcntl(a, F_GETFD) & FD_CLOEXEC),
		   "stream_path_accept", "l %d c %d a %d data %d alen %u errno %d", l, c, a, data,
		   al, errno);

	socklen_t gl = sizeof got;
	int n1 = getsockname(l, (struct sockaddr *)&got, &gl) == 0 && gl == len &&
		 !strcmp(got.sun_path, sa.sun_path);
	gl = sizeof got;
	int n2 = getpeername(c, (struct sockaddr *)&got, &gl) == 0 && gl == len &&
		 !strcmp(got.sun_path, sa.sun_path);
	gl = sizeof got;
	int n3 = getsockname(a, (struct sockaddr *)&got, &gl) == 0 && gl == len &&
		 !strcmp(got.sun_path, sa.sun_path);
	gl = sizeof got;
	int n4 = getpeername(a, (struct sockaddr *)&got, &gl) == 0 && gl == 2;
	gl = sizeof got;
	int n5 = getsockname(c, (struct sockaddr *)&got, &gl) == 0 && gl == 2;
	gl = 4;
	int n6 = getsockname(l, (struct sockaddr *)&got, &gl) == 0 && gl == len;
	KTAP_CHECK(n1 && n2 && n3 && n4 && n5 && n6, "stream_path_names", "%d %d %d %d %d %d", n1,
		   n2, n3, n4, n5, n6);

	struct stat st;
	int rs = stat(sa.sun_path, &st);
	int o = open(sa.sun_path, O_RDWR);
	int oe = errno;
	KTAP_CHECK(rs == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0755 && o == -1 &&
			   oe == ENXIO,
		   "socket_node", "stat %d mode %#o open %d/%d", rs, st.st_mode, o, oe);
	close(a);
	close(c);

	/* The name stays taken while the node exists, even after close. */
	int again = socket(AF_UNIX, SOCK_STREAM, 0);
	int b1 = bind(again, (struct sockaddr *)&sa, len);
	int e1 = errno;
	close(l);
	int cc = socket(AF_UNIX, SOCK_STREAM, 0);
	int r2 = connect(cc, (struct sockaddr *)&sa, len);
	int e2 = errno;
	unlink(sa.sun_path);
	int r3 = connect(cc, (struct sockaddr *)&sa, len);
	int e3 = errno;
	int b2 = bind(again, (struct sockaddr *)&sa, len);
	struct sockaddr_un other;
	socklen_t ol = path_addr(&other, "other");
	int b3 = bind(again, (struct sockaddr *)&other, ol);
	int e4 = errno;
	KTAP_CHECK(b1 == -1 && e1 == EADDRINUSE && r2 == -1 && e2 == ECONNREFUSED && r3 == -1 &&
			   e3 == ENOENT && b2 == 0 && b3 == -1 && e4 == EINVAL,
		   "path_errors",
		   "rebind %d/%d closed %d/%d unlinked %d/%d bind %d second bind %d/%d", b1, e1, r2,
		   e2, r3, e3, b2, b3, e4);
	close(again);
	close(cc);
	unlink(sa.sun_path);
	unlink(other.sun_path);

	/* A node that is no socket refuses; a socket of another type is EPROTOTYPE. */
	struct sockaddr_un fa;
	socklen_t fl = path_addr(&fa, "file");
	close(open(fa.sun_path, O_CREAT | O_WRONLY, 0644));
	int f = socket(AF_UNIX, SOCK_STREAM, 0);
	int r4 = connect(f, (struct sockaddr *)&fa, fl);
	int e5 = errno;
	struct sockaddr_un da;
	socklen_t dl = path_addr(&da, "dgram");
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(d, (struct sockaddr *)&da, dl);
	int r5 = connect(f, (struct sockaddr *)&da, dl);
	int e6 = errno;
	KTAP_CHECK(r4 == -1 && e5 == ECONNREFUSED && r5 == -1 && e6 == EPROTOTYPE,
		   "connect_wrong_kind", "file %d/%d dgram %d/%d", r4, e5, r5, e6);
	close(f);
	close(d);
	unlink(fa.sun_path);
	unlink(da.sun_path);
}

/* Abstract names: no node, the exact length back, free again once the socket closes. */
static void abstract_names(void)
{
	struct sockaddr_un sa, got;
	socklen_t len = abstract_addr(&sa, "abs");
	int l = listener(SOCK_STREAM, &sa, len, 1);
	int c = connected(SOCK_STREAM, &sa, len);
	int a = accept(l, NULL, NULL);
	socklen_t gl = sizeof got;
	memset(&got, 0x55, sizeof got);
	int n = getpeername(c, (struct sockaddr *)&got, &gl);
	int same = n == 0 && gl == len && !memcmp(&got, &sa, len);
	int dup = socket(AF_UNIX, SOCK_STREAM, 0);
	int b = bind(dup, (struct sockaddr *)&sa, len);
	int be = errno;
	close(a);
	close(c);
	close(l);
	int b2 = bind(dup, (struct sockaddr *)&sa, len);
	KTAP_CHECK(l >= 0 && c >= 0 && a >= 0 && same && b == -1 && be == EADDRINUSE && b2 == 0,
		   "abstract_name", "l %d c %d a %d name %d len %u/%u bind %d/%d rebind %d", l, c, a,
		   n, gl, len, b, be, b2);
	close(dup);

	/* Autobind: the family alone picks "\0" and five hex digits. */
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un fam = {.sun_family = AF_UNIX};
	int r = bind(s, (struct sockaddr *)&fam, sizeof(sa_family_t));
	gl = sizeof got;
	getsockname(s, (struct sockaddr *)&got, &gl);
	int hex = 1;
	for (int i = 1; i <= 5; i++)
		hex = hex && strchr("0123456789abcdef", got.sun_path[i]) && got.sun_path[i];
	KTAP_CHECK(r == 0 && gl == offsetof(struct sockaddr_un, sun_path) + 6 &&
			   got.sun_path[0] == 0 && hex,
		   "autobind", "bind %d len %u", r, gl);
	close(s);
}

/* The checks of each call: states, types and addresses. */
static void call_errors(void)
{
	struct sockaddr_un sa;
	socklen_t len = path_addr(&sa, "errs");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	int l1 = listen(s, 1);
	int e1 = errno;
	int ac = accept(s, NULL, NULL);
	int e2 = errno;
	int l = listener(SOCK_STREAM, &sa, len, 1);
	int c = connected(SOCK_STREAM, &sa, len);
	int c2 = connect(c, (struct sockaddr *)&sa, len);
	int e3 = errno;
	int c3 = connect(l, (struct sockaddr *)&sa, len);
	int e4 = errno;
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	int l2 = listen(d, 1);
	int e5 = errno;
	int ad = accept(d, NULL, NULL);
	int e6 = errno;
	char b;
	ssize_t rd = read(s, &b, 1);
	int e8 = errno;
	ssize_t wr = send(s, "x", 1, MSG_NOSIGNAL);
	int e9 = errno;
	int gp = getpeername(s, (struct sockaddr *)&sa, &len);
	int e10 = errno;
	ssize_t st = sendto(c, "x", 1, 0, (struct sockaddr *)&sa, len);
	int e11 = errno;
	KTAP_CHECK(l1 == -1 && e1 == EINVAL && ac == -1 && e2 == EINVAL && c2 == -1 &&
			   e3 == EISCONN && c3 == -1 && e4 == EINVAL && l2 == -1 && e5 == EOPNOTSUPP &&
			   ad == -1 && e6 == EOPNOTSUPP && rd == -1 &&
			   e8 == EINVAL && wr == -1 && e9 == ENOTCONN && gp == -1 && e10 == ENOTCONN &&
			   st == -1 && e11 == EISCONN,
		   "call_errors",
		   "listen unbound %d/%d accept %d/%d connect twice %d/%d listener %d/%d dgram "
		   "listen %d/%d accept %d/%d read %zd/%d send %zd/%d peer "
		   "%d/%d sendto %zd/%d",
		   l1, e1, ac, e2, c2, e3, c3, e4, l2, e5, ad, e6, rd, e8, wr, e9, gp, e10,
		   st, e11);
	close(s);
	close(c);
	close(l);
	close(d);
	unlink(sa.sun_path);

	/* Bad addresses: a clear errno for each, never a crash. */
	int t = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un bad = {.sun_family = AF_INET};
	strcpy(bad.sun_path, "x");
	int r1 = bind(t, (struct sockaddr *)&bad, sizeof bad);
	int f1 = errno;
	int r2 = bind(t, (struct sockaddr *)&sa, 1);
	int f2 = errno;
	int r3 = bind(t, (struct sockaddr *)&sa, sizeof sa + 1);
	int f3 = errno;
	int r4 = connect(t, (struct sockaddr *)&sa, 200);
	int f4 = errno;
	int r5 = connect(t, (struct sockaddr *)8, sizeof sa);
	int f5 = errno;
	int r6 = connect(t, (struct sockaddr *)&sa, -1);
	int f6 = errno;
	socklen_t gl = -1;
	int r7 = getsockname(t, (struct sockaddr *)&sa, &gl);
	int f7 = errno;
	int r8 = socket(AF_UNIX, SOCK_STREAM, 7);
	int f8 = errno;
	int r9 = socket(AF_UNIX, 15, 0);
	int f9 = errno;
	int r10 = socket(AF_UNIX, SOCK_PACKET, 0);
	int f10 = errno;
	int r11 = socket(4242, SOCK_STREAM, 0);
	int f11 = errno;
	KTAP_CHECK(r1 == -1 && f1 == EINVAL && r2 == -1 && f2 == EINVAL && r3 == -1 &&
			   f3 == EINVAL && r4 == -1 && f4 == EINVAL && r5 == -1 && f5 == EFAULT &&
			   r6 == -1 && f6 == EINVAL && r7 == -1 && f7 == EINVAL && r8 == -1 &&
			   f8 == EPROTONOSUPPORT && r9 == -1 && f9 == EINVAL && r10 == -1 &&
			   f10 == ESOCKTNOSUPPORT && r11 == -1 && f11 == EAFNOSUPPORT,
		   "bad_addresses",
		   "family %d/%d short %d/%d long %d/%d connect long %d/%d fault %d/%d negative "
		   "%d/%d getsockname %d/%d protocol %d/%d type %d/%d packet %d/%d family %d/%d",
		   r1, f1, r2, f2, r3, f3, r4, f4, r5, f5, r6, f6, r7, f7, r8, f8, r9, f9, r10, f10,
		   r11, f11);
	close(t);
}

/* The backlog: listen(fd, 1) queues two connections; a third non-blocking connect is
 * EAGAIN until one is accepted. A non-blocking accept with none waiting is EAGAIN. */
static void backlog(void)
{
	struct sockaddr_un sa;
	socklen_t len = abstract_addr(&sa, "backlog");
	int l = listener(SOCK_STREAM, &sa, len, 1);
	fcntl(l, F_SETFL, O_NONBLOCK);
	int a0 = accept(l, NULL, NULL);
	int e0 = errno;
	int c[3], r[3], e[3];
	for (int i = 0; i < 3; i++) {
		c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		r[i] = connect(c[i], (struct sockaddr *)&sa, len);
		e[i] = errno;
	}
	int a1 = accept(l, NULL, NULL);
	int r3 = connect(c[2], (struct sockaddr *)&sa, len);
	KTAP_CHECK(a0 == -1 && e0 == EAGAIN && r[0] == 0 && r[1] == 0 && r[2] == -1 &&
			   e[2] == EAGAIN && a1 >= 0 && r3 == 0,
		   "accept_backlog", "accept %d/%d connects %d %d %d/%d accept %d connect %d", a0,
		   e0, r[0], r[1], r[2], e[2], a1, r3);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(a1);
	close(l);
}

/* Readiness: an unconnected stream socket polls OUT|HUP; a listener is quiet until a
 * connection waits, then POLLIN (poll and epoll); a connected client is writable. */
static void readiness(void)
{
	struct sockaddr_un sa;
	socklen_t len = abstract_addr(&sa, "poll");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct pollfd p = {s, POLLIN | POLLOUT, 0};
	poll(&p, 1, 0);
	int fresh = p.revents;
	int l = listener(SOCK_STREAM, &sa, len, 4);
	struct pollfd pl = {l, POLLIN | POLLOUT, 0};
	int n0 = poll(&pl, 1, 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	int w0 = epoll_wait(ep, &out, 1, 0);
	int c = connected(SOCK_STREAM, &sa, len);
	int n1 = poll(&pl, 1, 0);
	int w1 = epoll_wait(ep, &out, 1, 0);
	struct pollfd pc = {c, POLLIN | POLLOUT, 0};
	poll(&pc, 1, 0);
	KTAP_CHECK(fresh == (POLLOUT | POLLHUP) && n0 == 0 && w0 == 0 && n1 == 1 &&
			   pl.revents == POLLIN && w1 == 1 && out.events == EPOLLIN &&
			   pc.revents == POLLOUT,
		   "listen_readiness",
		   "fresh %#x listener %d then %d/%#x epoll %d then %d/%#x client %#x", fresh, n0,
		   n1, pl.revents, w0, w1, out.events, pc.revents);
	close(ep);
	close(c);
	close(s);
	close(l);
}

/* A blocking accept woken by a child's connect; SO_PEERCRED on both ends names the other
 * process (the client sees the listener's). */
static void accept_from_child(void)
{
	struct sockaddr_un sa;
	socklen_t len = abstract_addr(&sa, "child");
	int l = listener(SOCK_SEQPACKET, &sa, len, 4);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(50000);
		int c = connected(SOCK_SEQPACKET, &sa, len);
		struct ucred cr;
		socklen_t cl = sizeof cr;
		getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
		char msg[32];
		int n = snprintf(msg, sizeof msg, "%d", (int)cr.pid);
		send(c, msg, n, 0);
		send(c, "two", 3, 0);
		_exit(c < 0);
	}
	int a = accept(l, NULL, NULL);
	struct ucred cr;
	socklen_t cl = sizeof cr;
	int rc = getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
	char buf[32] = {0};
	ssize_t n1 = recv(a, buf, sizeof buf - 1, 0);
	int seen = atoi(buf);
	ssize_t n2 = recv(a, buf, sizeof buf, 0);
	ssize_t n3 = recv(a, buf, sizeof buf, 0);
	int st;
	waitpid(pid, &st, 0);
	KTAP_CHECK(a >= 0 && rc == 0 && cr.pid == pid && n1 > 0 && seen == getpid() && n2 == 3 &&
			   n3 == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "accept_from_child", "a %d peercred %d pid %d/%d seen %d recv %zd %zd %zd", a,
		   rc, (int)cr.pid, (int)pid, seen, n1, n2, n3);
	close(a);
	close(l);
}

/* Datagrams between named sockets: sendto a path, recvfrom the sender's name (none for an
 * unnamed sender), a connected receiver refusing others (EPERM), a missing name (ENOENT),
 * a closed destination (ECONNREFUSED). */
static void datagrams(void)
{
	struct sockaddr_un a, b, from;
	socklen_t al = path_addr(&a, "da"), bl = path_addr(&b, "db");
	int sa = socket(AF_UNIX, SOCK_DGRAM, 0), sb = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(sa, (struct sockaddr *)&a, al);
	bind(sb, (struct sockaddr *)&b, bl);
	char buf[16];
	ssize_t s1 = sendto(sa, "hello", 5, 0, (struct sockaddr *)&b, bl);
	socklen_t fl = sizeof from;
	ssize_t r1 = recvfrom(sb, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	int named = fl == al && !strcmp(from.sun_path, a.sun_path);
	int anon = socket(AF_UNIX, SOCK_DGRAM, 0);
	sendto(anon, "x", 1, 0, (struct sockaddr *)&b, bl);
	fl = sizeof from;
	ssize_t r2 = recvfrom(sb, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	KTAP_CHECK(s1 == 5 && r1 == 5 && named && r2 == 1 && fl == 0, "dgram_sendto_recvfrom",
		   "send %zd recv %zd named %d anon %zd len %u", s1, r1, named, r2, fl);

	int c = connect(sb, (struct sockaddr *)&a, al);
	ssize_t s2 = send(sb, "to-a", 4, 0);
	ssize_t r3 = recv(sa, buf, sizeof buf, 0);
	int c2 = connect(sa, (struct sockaddr *)&b, bl);
	ssize_t s3 = sendto(anon, "no", 2, 0, (struct sockaddr *)&a, al);
	int e3 = errno;
	struct sockaddr_un gone;
	socklen_t gl = path_addr(&gone, "nothing");
	ssize_t s4 = sendto(anon, "no", 2, 0, (struct sockaddr *)&gone, gl);
	int e4 = errno;
	ssize_t s5 = send(anon, "no", 2, 0);
	int e5 = errno;
	close(sa);
	ssize_t s6 = send(sb, "x", 1, 0);
	int e6 = errno;
	ssize_t s7 = send(sb, "x", 1, 0);
	int e7 = errno;
	KTAP_CHECK(c == 0 && s2 == 4 && r3 == 4 && c2 == 0 && s3 == -1 && e3 == EPERM &&
			   s4 == -1 && e4 == ENOENT && s5 == -1 && e5 == ENOTCONN && s6 == -1 &&
			   e6 == ECONNREFUSED && s7 == -1 && e7 == ENOTCONN,
		   "dgram_connected",
		   "connect %d send %zd recv %zd connect %d other %zd/%d missing %zd/%d unconnected "
		   "%zd/%d closed %zd/%d then %zd/%d",
		   c, s2, r3, c2, s3, e3, s4, e4, s5, e5, s6, e6, s7, e7);
	close(sb);
	close(anon);
	unlink(a.sun_path);
	unlink(b.sun_path);
}

/* The end of a connection: a server that closes with data unread leaves ECONNRESET for the
 * client's next read, then end of file; a listener that closes with a connection still
 * waiting resets it too. */
static void resets(void)
{
	struct sockaddr_un sa;
	socklen_t len = abstract_addr(&sa, "reset");
	int l = listener(SOCK_STREAM, &sa, len, 4);
	int c = connected(SOCK_STREAM, &sa, len);
	int a = accept(l, NULL, NULL);
	write(c, "unread", 6);
	close(a);
	char b;
	ssize_t r1 = read(c, &b, 1);
	int e1 = errno;
	ssize_t r2 = read(c, &b, 1);
	int c2 = connected(SOCK_STREAM, &sa, len);
	close(l);
	ssize_t r3 = read(c2, &b, 1);
	int e3 = errno;
	ssize_t w = send(c2, "x", 1, MSG_NOSIGNAL);
	int e4 = errno;
	KTAP_CHECK(r1 == -1 && e1 == ECONNRESET && r2 == 0 && r3 == -1 && e3 == ECONNRESET &&
			   w == -1 && e4 == EPIPE,
		   "connection_reset", "read %zd/%d then %zd; pending %zd/%d write %zd/%d", r1, e1,
		   r2, r3, e3, w, e4);
	close(c);
	close(c2);
}

/* Options servers set and read. */
static void options(void)
{
	struct sockaddr_un sa;
	socklen_t len = abstract_addr(&sa, "opts");
	int l = listener(SOCK_STREAM, &sa, len, 4);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	int one = 1, v = -1;
	socklen_t vl = sizeof v;
	int r1 = setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	int r2 = setsockopt(l, SOL_SOCKET, SO_SNDBUF, &one, sizeof one);
	int acc_l = -1, acc_c = -1, err = -1, pc = -1;
	getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc_l, &vl);
	vl = sizeof v;
	getsockopt(c, SOL_SOCKET, SO_ACCEPTCONN, &acc_c, &vl);
	vl = sizeof v;
	getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &vl);
	setsockopt(c, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	vl = sizeof v;
	getsockopt(c, SOL_SOCKET, SO_PASSCRED, &pc, &vl);
	int r3 = setsockopt(c, SOL_SOCKET, SO_PASSCRED, &one, 2);
	int e3 = errno;
	int r4 = setsockopt(c, SOL_SOCKET, SO_PASSCRED, (void *)8, sizeof one);
	int e4 = errno;
	KTAP_CHECK(r1 == 0 && r2 == 0 && acc_l == 1 && acc_c == 0 && err == 0 && pc == 1 &&
			   r3 == -1 && e3 == EINVAL && r4 == -1 && e4 == EFAULT,
		   "socket_options",
		   "reuseaddr %d sndbuf %d acceptconn %d/%d error %d passcred %d short %d/%d fault "
		   "%d/%d",
		   r1, r2, acc_l, acc_c, err, pc, r3, e3, r4, e4);
	close(c);
	close(l);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/kentry-unixnamed-%d", getpid());
	mkdir("/tmp", 0777);
	mkdir(dir, 0777);
	signal(SIGPIPE, SIG_IGN);
	ktap_plan(16);
	stream_path();
	abstract_names();
	call_errors();
	backlog();
	readiness();
	accept_from_child();
	datagrams();
	resets();
	options();
	rmdir(dir);
	return ktap_finish();
}
