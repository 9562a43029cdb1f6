/* unixdgram: how much an AF_UNIX datagram queue takes, as Linux bounds it.
 *  - dgram_qlen_from_others: a bound receiver takes max_dgram_qlen + 1 one-byte datagrams
 *    from an unconnected sender, then EAGAIN (net.unix.max_dgram_qlen: read from /proc/sys
 *    when there, else Linux's default 10; `unix_recvq_full` compares with `>`); a sender
 *    connected to it meets the same full queue;
 *  - dgram_qlen_poll: that connected sender polls not writable while the queue is full, and
 *    writable again once the receiver took one;
 *  - dgram_pair_bounded_by_memory: a socketpair is not held to max_dgram_qlen, but a flood of
 *    one-byte datagrams stops after a few hundred (Linux charges each its truesize, 768
 *    bytes, against the 212,992-byte buffer: 278), not after 212,992 payload bytes;
 *  - dgram_big_after_small: with a small message queued, a datagram of the largest size
 *    (212,960 bytes) is still taken, as Linux takes a message while the buffer is not full.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ktap.h"

static int max_dgram_qlen(void)
{
	FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
	int v = 10;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 10;
		fclose(f);
	}
	return v;
}

static int flood(int fd, const struct sockaddr *to, socklen_t len, int cap)
{
	int n = 0;
	while (n < cap && sendto(fd, "x", 1, MSG_DONTWAIT, to, len) == 1)
		n++;
	return n;
}

int main(void)
{
	ktap_plan(4);
	int qlen = max_dgram_qlen();
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char name[32];
	snprintf(name, sizeof(name), "unixdgram-%d", getpid());
	memcpy(a.sun_path + 1, name, strlen(name));
	socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	int r = socket(AF_UNIX, SOCK_DGRAM, 0), s = socket(AF_UNIX, SOCK_DGRAM, 0);
	int c = socket(AF_UNIX, SOCK_DGRAM, 0);
	int ok = r >= 0 && s >= 0 && c >= 0 && bind(r, (struct sockaddr *)&a, alen) == 0 &&
		 connect(c, (struct sockaddr *)&a, alen) == 0;
	int n = ok ? flood(s, (struct sockaddr *)&a, alen, 100000) : -1;
	int e = errno;
	errno = 0;
	int more = ok ? (int)send(c, "y", 1, MSG_DONTWAIT) : 0;
	KTAP_CHECK(ok && n == qlen + 1 && e == EAGAIN && more < 0 && errno == EAGAIN,
		   "dgram_qlen_from_others", "%d queued (want %d), errno %d; connected: %d errno %d",
		   n, qlen + 1, e, more, errno);

	struct pollfd p = {.fd = c, .events = POLLOUT};
	int full = poll(&p, 1, 0) == 0;
	char b[4];
	int took = recv(r, b, sizeof(b), 0) == 1;
	p.revents = 0;
	int writable = poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
	KTAP_CHECK(ok && full && took && writable, "dgram_qlen_poll", "full %d took %d writable %d",
		   full, took, writable);
	close(r);
	close(s);
	close(c);

	int sv[2];
	ok = socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0;
	n = ok ? flood(sv[0], NULL, 0, 100000) : -1;
	KTAP_CHECK(ok && n > qlen + 1 && n >= 100 && n <= 1000, "dgram_pair_bounded_by_memory",
		   "%d queued", n);
	close(sv[0]);
	close(sv[1]);

	ok = socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0;
	size_t big = 212992 - 32;
	char *buf = calloc(1, big);
	ok = ok && buf && send(sv[0], "x", 1, MSG_DONTWAIT) == 1 &&
	     send(sv[0], buf, big, MSG_DONTWAIT) == (ssize_t)big;
	KTAP_CHECK(ok, "dgram_big_after_small", "errno %d", errno);
	free(buf);
	return ktap_finish();
}
