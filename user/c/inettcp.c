/* inettcp: TCP behaviour that only a real TCP/IP stack gives (kentry's is smoltcp on a
 * loopback device, net/tcp.rs), checked against the host's Linux:
 * - TIME_WAIT keeps a port after an active close: bind without SO_REUSEADDR is EADDRINUSE,
 *   with it (set on both sockets, Linux's rule) the port is free;
 * - a write to a peer that closed is taken (the peer's FIN only ends its sending), the
 *   peer answers it with a RST, and the next write is EPIPE with SIGPIPE;
 * - an AF_INET client of an AF_INET6 wildcard listener is ::ffff:127.0.0.1 to it;
 * - shutdown of an unconnected socket is ENOTCONN; half-close keeps the other direction;
 * - 1 MiB through the windows between two processes, many small writes read in a few
 *   reads, a non-blocking send filling the buffers (EAGAIN) and edge-triggered epoll
 *   reporting room again once the reader drains them;
 * - 300 short connections in a row, their closed ends lingering in TIME_WAIT;
 * - a full accept queue (listen backlog 1 holds two) makes a blocking connect wait for an
 *   accept.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#pragma GCC diagnostic ignored "-Wunused-result"

static struct sockaddr_in in4(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A TCP listener on 127.0.0.1 (port chosen by the kernel, in *port), SO_REUSEADDR if
 * asked. */
static int listener(int reuse, int *port)
{
	struct sockaddr_in a = in4(0);
	socklen_t l = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (reuse)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8) ||
	    getsockname(s, (struct sockaddr *)&a, &l))
		return -1;
	*port = ntohs(a.sin_port);
	return s;
}

/* A connected pair through a listener on 127.0.0.1: *c the client, *a the accepted end. */
static int pair(int reuse, int *c, int *a, int *port)
{
	int l = listener(reuse, port);
	struct sockaddr_in to = in4(*port);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || connect(*c, (struct sockaddr *)&to, sizeof to))
		return -1;
	*a = accept(l, NULL, NULL);
	return l;
}

static int bind_port(int reuse, int port)
{
	struct sockaddr_in a = in4(port);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (reuse)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
	int r = bind(s, (struct sockaddr *)&a, sizeof a);
	int e = errno;
	int lr = r == 0 ? listen(s, 1) : -2;
	close(s);
	errno = e;
	return r == 0 && lr == 0 ? 0 : r;
}

/* The server closes first (its end goes to TIME_WAIT), then the client, then the
 * listener: the port is still held. */
static void time_wait(void)
{
	int c, a, port;
	int l = pair(1, &c, &a, &port);
	close(a);
	char b;
	ssize_t eof = read(c, &b, 1);
	close(c);
	close(l);
	usleep(20000);
	int r1 = bind_port(0, port);
	int e1 = errno;
	int r2 = bind_port(1, port);
	int e2 = errno;
	KTAP_CHECK(l >= 0 && a >= 0 && eof == 0 && r1 == -1 && e1 == EADDRINUSE && r2 == 0,
		   "tcp_time_wait_reuseaddr", "pair %d/%d eof %zd plain %d/%d reuse %d/%d", l, a,
		   eof, r1, e1, r2, e2);
}

static volatile sig_atomic_t pipes;
static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

/* The accepted end closes with nothing unread: the client reads EOF, its first write is
 * still taken, the closed end answers with a RST, and the second write is EPIPE. */
static void write_after_close(void)
{
	int c, a, port;
	int l = pair(0, &c, &a, &port);
	close(a);
	char b;
	ssize_t eof = read(c, &b, 1);
	signal(SIGPIPE, on_pipe);
	ssize_t w1 = write(c, "x", 1);
	usleep(20000);
	ssize_t w2 = write(c, "y", 1);
	int e2 = errno;
	int sigs = pipes;
	signal(SIGPIPE, SIG_IGN);
	KTAP_CHECK(l >= 0 && eof == 0 && w1 == 1 && w2 == -1 && e2 == EPIPE && sigs == 1,
		   "tcp_write_after_peer_close", "eof %zd first %zd second %zd/%d sigpipe %d", eof,
		   w1, w2, e2, sigs);
	close(c);
	close(l);
}

/* An AF_INET6 wildcard listener (dual stack) sees an AF_INET client as ::ffff:127.0.0.1,
 * in a sockaddr_in6, and so do its accepted socket's names. */
static void mapped(void)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	socklen_t l6 = sizeof a6;
	int l = socket(AF_INET6, SOCK_STREAM, 0);
	int ok = !bind(l, (struct sockaddr *)&a6, sizeof a6) && !listen(l, 4) &&
		 !getsockname(l, (struct sockaddr *)&a6, &l6);
	struct sockaddr_in to = in4(ntohs(a6.sin6_port));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int rc = connect(c, (struct sockaddr *)&to, sizeof to);
	struct sockaddr_in6 peer, local;
	socklen_t pl = sizeof peer, ll = sizeof local;
	int s = accept(l, (struct sockaddr *)&peer, &pl);
	getsockname(s, (struct sockaddr *)&local, &ll);
	struct in6_addr m;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &m);
	KTAP_CHECK(ok && rc == 0 && s >= 0 && pl == sizeof peer && peer.sin6_family == AF_INET6 &&
			   !memcmp(&peer.sin6_addr, &m, sizeof m) && ll == sizeof local &&
			   !memcmp(&local.sin6_addr, &m, sizeof m),
		   "tcp6_v4_mapped_peer", "listen %d connect %d accept %d len %u family %d", ok,
		   rc, s, pl, peer.sin6_family);
	close(s);
	close(c);
	close(l);
}

/* shutdown: ENOTCONN unconnected; SHUT_WR sends EOF while the other way still works, and
 * the shut end polls POLLOUT (a write there fails at once, Linux's `tcp_poll`). */
static void half_close(void)
{
	int u = socket(AF_INET, SOCK_STREAM, 0);
	int r0 = shutdown(u, SHUT_WR);
	int e0 = errno;
	close(u);
	int c, a, port;
	int l = pair(0, &c, &a, &port);
	int r1 = shutdown(c, SHUT_WR);
	char b[8];
	ssize_t eof = read(a, b, sizeof b);
	ssize_t w = write(a, "back", 4);
	ssize_t got = read(c, b, sizeof b);
	struct pollfd p = {c, POLLIN | POLLOUT, 0};
	poll(&p, 1, 0);
	KTAP_CHECK(r0 == -1 && e0 == ENOTCONN && l >= 0 && r1 == 0 && eof == 0 && w == 4 &&
			   got == 4 && !memcmp(b, "back", 4) && p.revents == POLLOUT,
		   "tcp_half_close", "unconnected %d/%d shut %d eof %zd write %zd read %zd "
		   "revents %#x", r0, e0, r1, eof, w, got, p.revents);
	close(a);
	close(c);
	close(l);
}

/* 1 MiB from a child to the parent through the windows, checked byte by byte, then EOF;
 * and 200 writes of 10 bytes read back in a few reads (the stream keeps no boundaries). */
static void bulk(void)
{
	int c, a, port;
	int l = pair(0, &c, &a, &port);
	enum { TOTAL = 1 << 20 };
	pid_t pid = fork();
	if (pid == 0) {
		static unsigned char buf[TOTAL];
		for (int i = 0; i < TOTAL; i++)
			buf[i] = (unsigned char)(i * 7 + (i >> 12));
		size_t off = 0;
		while (off < TOTAL) {
			ssize_t n = write(c, buf + off, TOTAL - off > 70000 ? 70000 : TOTAL - off);
			if (n <= 0)
				_exit(1);
			off += n;
		}
		_exit(0);
	}
	close(c);
	static unsigned char in[TOTAL + 1];
	size_t got = 0;
	ssize_t n;
	while ((n = read(a, in + got, sizeof in - got)) > 0)
		got += n;
	int good = 1;
	for (size_t i = 0; i < got; i++)
		if (in[i] != (unsigned char)(i * 7 + (i >> 12)))
			good = 0;
	int st;
	waitpid(pid, &st, 0);
	KTAP_CHECK(got == TOTAL && good && n == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "tcp_bulk_1mib", "got %zu good %d last %zd status %#x", got, good, n, st);
	close(a);
	close(l);

	l = pair(0, &c, &a, &port);
	int w = 0;
	for (int i = 0; i < 200; i++)
		w += write(c, "0123456789", 10) == 10;
	usleep(20000);
	char big[4096];
	size_t total = 0;
	int reads = 0;
	fcntl(a, F_SETFL, O_NONBLOCK);
	while ((n = read(a, big, sizeof big)) > 0) {
		total += n;
		reads++;
	}
	KTAP_CHECK(w == 200 && total == 2000 && reads >= 1 && reads <= 2, "tcp_small_writes_one_read",
		   "writes %d bytes %zu reads %d", w, total, reads);
	close(a);
	close(c);
	close(l);
}

/* A non-blocking sender fills the send and receive buffers (EAGAIN), edge-triggered epoll
 * then stays quiet, and reports EPOLLOUT once the reader has drained. */
static void fill(void)
{
	int c, a, port;
	int l = pair(0, &c, &a, &port);
	fcntl(c, F_SETFL, O_NONBLOCK);
	static char buf[65536];
	size_t sent = 0;
	ssize_t n;
	int rounds = 0;
	while ((n = write(c, buf, sizeof buf)) > 0 && rounds++ < 1000)
		sent += n;
	ssize_t last = n;
	int e = errno;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.fd = c}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
	int quiet = epoll_wait(ep, &out, 1, 0);
	size_t drained = 0;
	fcntl(a, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 200 && drained < sent; i++) {
		while ((n = read(a, buf, sizeof buf)) > 0)
			drained += n;
		usleep(1000);
	}
	int again = epoll_wait(ep, &out, 1, 1000);
	KTAP_CHECK(last == -1 && e == EAGAIN && sent > 0 && quiet == 0 && drained == sent &&
			   again == 1 && (out.events & EPOLLOUT),
		   "tcp_nonblocking_fill_epollet", "sent %zu errno %d quiet %d drained %zu again %d",
		   sent, e, quiet, drained, again);
	close(ep);
	close(a);
	close(c);
	close(l);
}

/* 300 short connections in a row, each closed by the client first (its port goes to
 * TIME_WAIT): all get through; the lingering ends take no buffers from the next ones. */
static void many(void)
{
	int port;
	int l = listener(0, &port);
	struct sockaddr_in to = in4(port);
	int good = 0;
	for (int i = 0; i < 300; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&to, sizeof to)) {
			close(c);
			break;
		}
		int a = accept(l, NULL, NULL);
		char b = 0;
		if (a >= 0 && write(c, "k", 1) == 1 && read(a, &b, 1) == 1 && b == 'k')
			good++;
		close(c);
		read(a, &b, 1); /* the client's FIN: the server closes second */
		close(a);
	}
	KTAP_CHECK(good == 300, "tcp_many_short_connections", "%d of 300 (errno %d)", good,
		   errno);
	close(l);
}

/* listen(l, 1): two connections complete and wait; a third, blocking, connect waits (Linux
 * drops its SYN while the accept queue is full and retries) until an accept makes room. */
static void backlog(void)
{
	int port;
	struct sockaddr_in a = in4(0);
	socklen_t al = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	struct sockaddr_in to = in4(port);
	int c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
	int r1 = connect(c1, (struct sockaddr *)&to, sizeof to);
	int r2 = connect(c2, (struct sockaddr *)&to, sizeof to);
	usleep(20000);
	pid_t pid = fork();
	if (pid == 0) {
		int c3 = socket(AF_INET, SOCK_STREAM, 0);
		_exit(connect(c3, (struct sockaddr *)&to, sizeof to) == 0 ? 0 : 1);
	}
	usleep(200000);
	int st = 0;
	pid_t early = waitpid(pid, &st, WNOHANG);
	int k1 = accept(l, NULL, NULL);
	int done = 0;
	for (int i = 0; i < 500 && !done; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			done = 1;
		else
			usleep(10000);
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	fcntl(l, F_SETFL, O_NONBLOCK);
	int k2 = accept(l, NULL, NULL), k3 = accept(l, NULL, NULL);
	KTAP_CHECK(r1 == 0 && r2 == 0 && early == 0 && k1 >= 0 && done && WIFEXITED(st) &&
			   WEXITSTATUS(st) == 0 && k2 >= 0 && k3 >= 0,
		   "tcp_backlog_full_connect_waits",
		   "connect %d %d early %d accept %d done %d status %#x accept %d %d", r1, r2,
		   early, k1, done, st, k2, k3);
	close(k1);
	close(k2);
	close(k3);
	close(c1);
	close(c2);
	close(l);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	ktap_plan(9);
	time_wait();
	write_after_close();
	mapped();
	half_close();
	bulk();
	fill();
	many();
	backlog();
	return ktap_finish();
}
