/* inetloop: AF_INET and AF_INET6 TCP and UDP over loopback as servers and clients use them —
 * bind to port 0 and the names it gives, listen/connect/accept on 127.0.0.1, the wildcard
 * and ::1, data both ways and the end of a connection, a non-blocking connect
 * (EINPROGRESS, then POLLOUT and SO_ERROR 0), poll/epoll of a listener woken by a child,
 * ECONNRESET after a close with data unread, UDP datagrams with their sender, a connected
 * UDP socket told ECONNREFUSED, options, and the errors of each call.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#pragma GCC diagnostic ignored "-Wunused-result"

static struct sockaddr_in in4(const char *ip, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

/* A TCP listener on `ip`, port chosen by the kernel; its port in *port. */
static int listener4(const char *ip, int *port)
{
	struct sockaddr_in a = in4(ip, 0);
	socklen_t l = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8) ||
	    getsockname(s, (struct sockaddr *)&a, &l))
		return -1;
	*port = ntohs(a.sin_port);
	return s;
}

/* The TCP path on 127.0.0.1: the names of every end and data both ways, then EOF. */
static void tcp4(void)
{
	int port;
	int l = listener4("127.0.0.1", &port);
	struct sockaddr_in to = in4("127.0.0.1", port), me, peer, acc, local;
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int rc = connect(c, (struct sockaddr *)&to, sizeof to);
	socklen_t al = sizeof acc, ml = sizeof me, pl = sizeof peer, ll = sizeof local;
	int a = accept(l, (struct sockaddr *)&acc, &al);
	getsockname(c, (struct sockaddr *)&me, &ml);
	getpeername(c, (struct sockaddr *)&peer, &pl);
	getsockname(a, (struct sockaddr *)&local, &ll);
	int names = al == sizeof acc && acc.sin_family == AF_INET &&
		    acc.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && acc.sin_port == me.sin_port &&
		    me.sin_port != 0 && me.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		    ntohs(peer.sin_port) == port && ntohs(local.sin_port) == port &&
		    local.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	char buf[16] = {0};
	int data = write(c, "hello", 5) == 5 && read(a, buf, sizeof buf) == 5 &&
		   send(a, "world", 5, 0) == 5 && recv(c, buf + 5, sizeof buf - 5, 0) == 5 &&
		   !memcmp(buf, "helloworld", 10);
	close(c);
	ssize_t eof = read(a, buf, sizeof buf);
	KTAP_CHECK(port > 0 && rc == 0 && a >= 0 && names && data && eof == 0, "tcp4_loopback",
		   "port %d connect %d accept %d names %d data %d eof %zd errno %d", port, rc, a,
		   names, data, eof, errno);
	close(a);
	close(l);
}

/* A listener on the wildcard address takes connections to 127.0.0.1; the accepted socket
 * is named by the address the client used. */
static void tcp_any(void)
{
	int port;
	int l = listener4("0.0.0.0", &port);
	struct sockaddr_in bound, to = in4("127.0.0.1", port), local;
	socklen_t bl = sizeof bound, ll = sizeof local;
	getsockname(l, (struct sockaddr *)&bound, &bl);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int rc = connect(c, (struct sockaddr *)&to, sizeof to);
	int a = accept(l, NULL, NULL);
	getsockname(a, (struct sockaddr *)&local, &ll);
	KTAP_CHECK(bound.sin_addr.s_addr == htonl(INADDR_ANY) && rc == 0 && a >= 0 &&
			   local.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
		   "tcp_wildcard_listener", "bound %#x connect %d accept %d local %#x",
		   ntohl(bound.sin_addr.s_addr), rc, a, ntohl(local.sin_addr.s_addr));
	close(a);
	close(c);
	close(l);
}

/* IPv6 on ::1: 28-byte names, data. */
static void tcp6(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t al = sizeof a;
	int l = socket(AF_INET6, SOCK_STREAM, 0);
	int ok = l >= 0 && !bind(l, (struct sockaddr *)&a, sizeof a) && !listen(l, 4) &&
		 !getsockname(l, (struct sockaddr *)&a, &al);
	int c = socket(AF_INET6, SOCK_STREAM, 0);
	int rc = connect(c, (struct sockaddr *)&a, sizeof a);
	struct sockaddr_in6 peer;
	socklen_t pl = sizeof peer;
	int s = accept(l, (struct sockaddr *)&peer, &pl);
	char buf[8] = {0};
	int data = write(c, "six", 3) == 3 && read(s, buf, sizeof buf) == 3;
	KTAP_CHECK(ok && al == sizeof a && a.sin6_port != 0 && rc == 0 && s >= 0 &&
			   pl == sizeof peer && IN6_IS_ADDR_LOOPBACK(&peer.sin6_addr) && data,
		   "tcp6_loopback", "listen %d len %u connect %d accept %d len %u data %d errno %d",
		   ok, al, rc, s, pl, data, errno);
	close(s);
	close(c);
	close(l);
}

/* A port nobody holds (bound, read, closed). */
static int free_port(int type)
{
	struct sockaddr_in a = in4("127.0.0.1", 0);
	socklen_t l = sizeof a;
	int s = socket(AF_INET, type, 0);
	bind(s, (struct sockaddr *)&a, sizeof a);
	getsockname(s, (struct sockaddr *)&a, &l);
	close(s);
	return ntohs(a.sin_port);
}

/* The errors of bind, connect and socket. */
static void tcp_errors(void)
{
	struct sockaddr_in closed = in4("127.0.0.1", free_port(SOCK_STREAM));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int r1 = connect(c, (struct sockaddr *)&closed, sizeof closed);
	int e1 = errno;
	close(c);
	struct sockaddr_in far = in4("10.1.2.3", 0);
	int b = socket(AF_INET, SOCK_STREAM, 0);
	int r2 = bind(b, (struct sockaddr *)&far, sizeof far);
	int e2 = errno;
	int port;
	int l = listener4("127.0.0.1", &port);
	struct sockaddr_in same = in4("127.0.0.1", port);
	int r3 = bind(b, (struct sockaddr *)&same, sizeof same);
	int e3 = errno;
	int r4 = bind(b, (struct sockaddr *)&same, 8);
	int e4 = errno;
	struct sockaddr_in wrong = in4("127.0.0.1", 0);
	wrong.sin_family = AF_INET6;
	int r5 = bind(b, (struct sockaddr *)&wrong, sizeof wrong);
	int e5 = errno;
	int r6 = socket(AF_INET, SOCK_STREAM, IPPROTO_UDP);
	int e6 = errno;
	int sv[2];
	int r7 = socketpair(AF_INET, SOCK_STREAM, 0, sv);
	int e7 = errno;
	char ch;
	ssize_t r8 = send(b, "x", 1, 0);
	int e8 = errno;
	ssize_t r9 = read(b, &ch, 1);
	int e9 = errno;
	KTAP_CHECK(r1 == -1 && e1 == ECONNREFUSED && r2 == -1 && e2 == EADDRNOTAVAIL && r3 == -1 &&
			   e3 == EADDRINUSE && r4 == -1 && e4 == EINVAL && r5 == -1 &&
			   e5 == EAFNOSUPPORT && r6 == -1 && e6 == EPROTONOSUPPORT && r7 == -1 &&
			   e7 == EOPNOTSUPP && r8 == -1 && e8 == EPIPE && r9 == -1 && e9 == ENOTCONN,
		   "inet_errors",
		   "refused %d/%d far %d/%d inuse %d/%d short %d/%d family %d/%d proto %d/%d pair "
		   "%d/%d send %zd/%d read %zd/%d",
		   r1, e1, r2, e2, r3, e3, r4, e4, r5, e5, r6, e6, r7, e7, r8, e8, r9, e9);
	close(b);
	close(l);
}

/* Non-blocking: accept EAGAIN, connect EINPROGRESS then writable with SO_ERROR 0, the
 * listener readable; epoll on a listener woken by a child's connect. */
static void nonblocking(void)
{
	int port;
	int l = listener4("127.0.0.1", &port);
	fcntl(l, F_SETFL, O_NONBLOCK);
	int a0 = accept(l, NULL, NULL);
	int e0 = errno;
	struct sockaddr_in to = in4("127.0.0.1", port);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(c, (struct sockaddr *)&to, sizeof to);
	int e = errno;
	struct pollfd p[2] = {{c, POLLOUT, 0}, {l, POLLIN, 0}};
	int n = poll(p, 2, 2000);
	int err = -1;
	socklen_t el = sizeof err;
	getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el);
	int a = accept(l, NULL, NULL);
	KTAP_CHECK(a0 == -1 && e0 == EAGAIN && r == -1 && e == EINPROGRESS && n == 2 &&
			   (p[0].revents & POLLOUT) && (p[1].revents & POLLIN) && err == 0 && a >= 0,
		   "tcp_nonblocking", "accept %d/%d connect %d/%d poll %d %#x %#x error %d accept %d",
		   a0, e0, r, e, n, p[0].revents, p[1].revents, err, a);
	close(a);
	close(c);

	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(50000);
		int k = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(k, (struct sockaddr *)&to, sizeof to) == 0 && write(k, "kid", 3) == 3;
		_exit(!ok);
	}
	int w = epoll_wait(ep, &out, 1, 5000);
	int k = accept(l, NULL, NULL);
	char buf[4] = {0};
	fcntl(k, F_SETFL, 0);
	ssize_t got = read(k, buf, 3);
	int st;
	waitpid(pid, &st, 0);
	KTAP_CHECK(w == 1 && out.data.fd == l && k >= 0 && got == 3 && WIFEXITED(st) &&
			   WEXITSTATUS(st) == 0,
		   "tcp_epoll_child", "epoll %d accept %d read %zd status %#x", w, k, got, st);
	close(k);
	close(ep);
	close(l);
}

/* A server that closes with data unread resets the connection. */
static void reset(void)
{
	int port;
	int l = listener4("127.0.0.1", &port);
	struct sockaddr_in to = in4("127.0.0.1", port);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&to, sizeof to);
	int a = accept(l, NULL, NULL);
	write(c, "unread", 6);
	usleep(10000);
	close(a);
	char b;
	ssize_t r = read(c, &b, 1);
	int e = errno;
	KTAP_CHECK(r == -1 && e == ECONNRESET, "tcp_reset", "read %zd/%d", r, e);
	close(c);
	close(l);
}

/* UDP: datagrams keep their boundaries and name their sender (127.0.0.1 and the port the
 * first send picked); no address on an unconnected socket is EDESTADDRREQ; a connected
 * socket whose destination has nobody learns ECONNREFUSED on its next send. */
static void udp(void)
{
	struct sockaddr_in ra = in4("127.0.0.1", 0), from, me;
	socklen_t rl = sizeof ra, fl = sizeof from, ml = sizeof me;
	int r = socket(AF_INET, SOCK_DGRAM, 0);
	bind(r, (struct sockaddr *)&ra, sizeof ra);
	getsockname(r, (struct sockaddr *)&ra, &rl);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	ssize_t s1 = sendto(s, "one", 3, 0, (struct sockaddr *)&ra, sizeof ra);
	ssize_t s2 = sendto(s, "three", 5, 0, (struct sockaddr *)&ra, sizeof ra);
	char buf[16];
	ssize_t r1 = recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	ssize_t r2 = recv(r, buf, sizeof buf, 0);
	getsockname(s, (struct sockaddr *)&me, &ml);
	KTAP_CHECK(s1 == 3 && s2 == 5 && r1 == 3 && r2 == 5 && fl == sizeof from &&
			   from.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
			   from.sin_port == me.sin_port && me.sin_port != 0 &&
			   me.sin_addr.s_addr == htonl(INADDR_ANY),
		   "udp_sendto_recvfrom", "send %zd %zd recv %zd %zd from %#x:%d me %#x:%d", s1, s2,
		   r1, r2, ntohl(from.sin_addr.s_addr), ntohs(from.sin_port),
		   ntohl(me.sin_addr.s_addr), ntohs(me.sin_port));

	int u = socket(AF_INET, SOCK_DGRAM, 0);
	ssize_t d = send(u, "x", 1, 0);
	int de = errno;
	struct sockaddr_in closed = in4("127.0.0.1", free_port(SOCK_DGRAM));
	int cr = connect(u, (struct sockaddr *)&closed, sizeof closed);
	ssize_t first = send(u, "x", 1, 0);
	ssize_t second = send(u, "x", 1, 0);
	int se = errno;
	KTAP_CHECK(d == -1 && de == EDESTADDRREQ && cr == 0 && first == 1 && second == -1 &&
			   se == ECONNREFUSED,
		   "udp_errors", "unaddressed %zd/%d connect %d send %zd then %zd/%d", d, de, cr,
		   first, second, se);
	close(u);
	close(s);
	close(r);
}

/* Options, and SCM_RIGHTS on TCP and UDP: ignored (the message goes, no descriptor). */
static void options(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET6, SOCK_DGRAM, 0);
	int one = 1, dom = -1, proto = -1, uproto = -1, type = -1;
	socklen_t l = sizeof dom;
	int r1 = setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int r2 = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	getsockopt(s, SOL_SOCKET, SO_DOMAIN, &dom, &l);
	l = sizeof proto;
	getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
	l = sizeof uproto;
	getsockopt(u, SOL_SOCKET, SO_PROTOCOL, &uproto, &l);
	l = sizeof type;
	getsockopt(u, SOL_SOCKET, SO_TYPE, &type, &l);
	int port;
	int ls = listener4("127.0.0.1", &port);
	struct sockaddr_in to = in4("127.0.0.1", port);
	connect(s, (struct sockaddr *)&to, sizeof to);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov = {"f", 1};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			   .msg_controllen = sizeof cm.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &u, sizeof u);
	ssize_t sr = sendmsg(s, &m, 0);
	struct sockaddr_in6 u6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bind(u, (struct sockaddr *)&u6, sizeof u6);
	socklen_t u6l = sizeof u6;
	getsockname(u, (struct sockaddr *)&u6, &u6l);
	m.msg_name = &u6;
	m.msg_namelen = sizeof u6;
	ssize_t ur = sendmsg(u, &m, 0);
	int fd = -1;
	char got[2];
	struct iovec riov = {got, sizeof got};
	struct msghdr rm = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = cm.buf,
			    .msg_controllen = sizeof cm.buf};
	memset(&cm, 0, sizeof cm);
	ssize_t rr = recvmsg(u, &rm, MSG_DONTWAIT);
	if (rm.msg_controllen)
		fd = 0;
	KTAP_CHECK(r1 == 0 && r2 == 0 && dom == AF_INET && proto == IPPROTO_TCP &&
			   uproto == IPPROTO_UDP && type == SOCK_DGRAM && sr == 1 && ur == 1 &&
			   rr == 1 && fd == -1,
		   "inet_options",
		   "nodelay %d reuse %d domain %d proto %d/%d type %d tcp rights %zd udp %zd recv "
		   "%zd control %d",
		   r1, r2, dom, proto, uproto, type, sr, ur, rr, fd);
	close(ls);
	close(s);
	close(u);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	ktap_plan(10);
	tcp4();
	tcp_any();
	tcp6();
	tcp_errors();
	nonblocking();
	reset();
	udp();
	options();
	return ktap_finish();
}
