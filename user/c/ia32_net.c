/* i386 sockets (gcc -m32 -static, glibc): the calls whose i386 forms a 64-bit kernel serves
 * through compat layers (issue 12; the 16-bit id calls: ia32_ids.c).
 *
 * - socketcall (102): each call through the argument block, with Linux's nargs table (a
 *   2-word call whose block ends a page's readable bytes works, a 3-word one there is
 *   EFAULT), EINVAL for calls 0 and 21, EFAULT for an unreadable block;
 * - the direct socket numbers (359-373) on a named abstract AF_UNIX socket;
 * - struct msghdr and cmsghdr in i386's layout (32-bit pointers and lengths, 12-byte
 *   cmsghdr, 4-byte alignment), through socketcall's SYS_SENDMSG/SYS_RECVMSG and through the
 *   direct sendmsg (370) / recvmsg (372): SCM_RIGHTS of two descriptors (cmsg_len 20,
 *   msg_controllen 20), that work; a short control buffer (MSG_CTRUNC, one descriptor of
 *   three); SCM_CREDENTIALS and SCM_RIGHTS in one buffer (the second header at offset 24);
 *   control data that does not parse (EINVAL);
 * - sendmmsg (345) and recvmmsg (337, old_timespec32 timeout written back), and their
 *   socketcall forms: msg_len of each compat_mmsghdr (32 bytes apart);
 * - SO_RCVTIMEO/SO_SNDTIMEO with i386's old_timeval32 (the _NEW options' 64-bit words): read
 *   back, EINVAL/EDOM, a receive and a send that give up with EAGAIN, 0 and negative times;
 *
 * Every expected value comes from the program (the fds it sent, the times it set). Runs
 * natively on Linux with the same results.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* socketcall's calls (linux/net.h). */
enum {
	SC_SOCKET = 1, SC_BIND, SC_CONNECT, SC_LISTEN, SC_ACCEPT, SC_GETSOCKNAME, SC_GETPEERNAME,
	SC_SOCKETPAIR, SC_SEND, SC_RECV, SC_SENDTO, SC_RECVFROM, SC_SHUTDOWN, SC_SETSOCKOPT,
	SC_GETSOCKOPT, SC_SENDMSG, SC_RECVMSG, SC_ACCEPT4, SC_RECVMMSG, SC_SENDMMSG
};

/* The i386 numbers (syscall_32.tbl), spelled out so that the program says what it calls. */
#define NR_SOCKETCALL 102
#define NR_RECVMMSG 337
#define NR_SENDMMSG 345
#define NR_SOCKET 359
#define NR_SOCKETPAIR 360
#define NR_BIND 361
#define NR_CONNECT 362
#define NR_LISTEN 363
#define NR_ACCEPT4 364
#define NR_GETSOCKOPT 365
#define NR_SETSOCKOPT 366
#define NR_GETSOCKNAME 367
#define NR_GETPEERNAME 368
#define NR_SENDTO 369
#define NR_SENDMSG 370
#define NR_RECVFROM 371
#define NR_RECVMSG 372
#define NR_SHUTDOWN 373

static long sc(int call, const uint32_t *args)
{
	return syscall(NR_SOCKETCALL, call, args);
}

#define U(p) ((uint32_t)(uintptr_t)(p))

static int pair(int type, int sv[2])
{
	uint32_t a[4] = { AF_UNIX, type, 0, U(sv) };
	return sc(SC_SOCKETPAIR, a);
}

/* socketcall: socketpair, send/recv, sendto/recvfrom, getsockopt, shutdown, socket, bind,
 * getsockname, listen/connect/accept/accept4/getpeername. */
static void case_socketcall_calls(void)
{
	const char *n = "socketcall_calls";
	int sv[2];
	char buf[16] = { 0 };
	if (pair(SOCK_STREAM, sv) != 0) {
		KTAP_CHECK(0, n, "socketpair: %s", strerror(errno));
		return;
	}
	uint32_t s[4] = { sv[0], U("abc"), 3, 0 };
	long w = sc(SC_SEND, s);
	uint32_t r[4] = { sv[1], U(buf), sizeof(buf), 0 };
	long rd = sc(SC_RECV, r);
	uint32_t st[6] = { sv[1], U("xy"), 2, 0, 0, 0 };
	long w2 = sc(SC_SENDTO, st);
	uint32_t rf[6] = { sv[0], U(buf + 3), 8, 0, 0, 0 };
	long rd2 = sc(SC_RECVFROM, rf);
	int type = -1;
	socklen_t tl = sizeof(type);
	uint32_t go[5] = { sv[0], SOL_SOCKET, SO_TYPE, U(&type), U(&tl) };
	long g = sc(SC_GETSOCKOPT, go);
	uint32_t sh[2] = { sv[0], SHUT_WR };
	long shut = sc(SC_SHUTDOWN, sh);
	long eof = read(sv[1], buf + 8, 1);
	close(sv[0]);
	close(sv[1]);

	/* A named listener, a client, accept and accept4, every end's name. */
	uint32_t so[3] = { AF_UNIX, SOCK_STREAM, 0 };
	int l = sc(SC_SOCKET, so);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	memcpy(addr.sun_path, "\0kentry-ia32-sc", 15);
	socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 15;
	uint32_t b[3] = { l, U(&addr), alen };
	long bound = sc(SC_BIND, b);
	uint32_t li[2] = { l, 4 };
	long lst = sc(SC_LISTEN, li);
	int c1 = sc(SC_SOCKET, so), c2 = sc(SC_SOCKET, so);
	uint32_t cn1[3] = { c1, U(&addr), alen }, cn2[3] = { c2, U(&addr), alen };
	long con = sc(SC_CONNECT, cn1) | sc(SC_CONNECT, cn2);
	uint32_t ac[3] = { l, 0, 0 };
	int a1 = sc(SC_ACCEPT, ac);
	uint32_t ac4[4] = { l, 0, 0, SOCK_CLOEXEC };
	int a2 = sc(SC_ACCEPT4, ac4);
	struct sockaddr_un got = { 0 };
	socklen_t gl = sizeof(got);
	uint32_t gn[3] = { l, U(&got), U(&gl) };
	long gname = sc(SC_GETSOCKNAME, gn);
	struct sockaddr_un peer = { 0 };
	socklen_t pl = sizeof(peer);
	uint32_t gp[3] = { c1, U(&peer), U(&pl) };
	long gpeer = sc(SC_GETPEERNAME, gp);
	int fdflags = fcntl(a2, F_GETFD);
	KTAP_CHECK(w == 3 && rd == 3 && w2 == 2 && rd2 == 2 && !memcmp(buf, "abcxy", 5) && g == 0 &&
			   type == SOCK_STREAM && tl == sizeof(int) && shut == 0 && eof == 0 &&
			   l >= 0 && bound == 0 && lst == 0 && con == 0 && a1 >= 0 && a2 >= 0 &&
			   gname == 0 && gl == alen && !memcmp(&got, &addr, alen) && gpeer == 0 &&
			   pl == alen && !memcmp(&peer, &addr, alen) && fdflags == FD_CLOEXEC,
		   n,
		   "w %ld rd %ld w2 %ld rd2 %ld g %ld type %d shut %ld eof %ld l %d bind %ld listen %ld "
		   "connect %ld accept %d accept4 %d name %ld/%u peer %ld/%u fdflags %d errno %d",
		   w, rd, w2, rd2, g, type, shut, eof, l, bound, lst, con, a1, a2, gname, gl, gpeer, pl,
		   fdflags, errno);
	close(l);
	close(c1);
	close(c2);
	close(a1);
	close(a2);
}

/* socketcall's own checks: the call number, the block's readability by the call's size. */
static void case_socketcall_errors(void)
{
	const char *n = "socketcall_errors";
	uint32_t a[6] = { 0 };
	errno = 0;
	long c0 = sc(0, a);
	int e0 = errno;
	long c21 = sc(21, a);
	int e21 = errno;
	long bad = sc(SC_SOCKET, (uint32_t *)8);
	int ebad = errno;
	/* A page whose last 8 bytes are followed by an unmapped page. */
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(p + 4096, 4096);
	uint32_t *end = (uint32_t *)(p + 4096 - 8);
	int sv[2];
	pair(SOCK_STREAM, sv);
	/* SYS_SHUTDOWN takes 2 words: they fit. SYS_SOCKET takes 3: EFAULT. */
	end[0] = sv[0];
	end[1] = SHUT_RDWR;
	long two = sc(SC_SHUTDOWN, end);
	end[0] = AF_UNIX;
	end[1] = SOCK_STREAM;
	long three = sc(SC_SOCKET, end);
	int ethree = errno;
	close(sv[0]);
	close(sv[1]);
	munmap(p, 4096);
	KTAP_CHECK(c0 == -1 && e0 == EINVAL && c21 == -1 && e21 == EINVAL && bad == -1 &&
			   ebad == EFAULT && two == 0 && three == -1 && ethree == EFAULT,
		   n, "0: %ld/%d 21: %ld/%d bad block: %ld/%d 2 words: %ld 3 words: %ld/%d", c0, e0,
		   c21, e21, bad, ebad, two, three, ethree);
}

/* The direct numbers on a named socket. */
static void case_direct_calls(void)
{
	const char *n = "direct_calls";
	int l = syscall(NR_SOCKET, AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	memcpy(addr.sun_path, "\0kentry-ia32-direct", 19);
	socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 19;
	long bound = syscall(NR_BIND, l, &addr, alen);
	long lst = syscall(NR_LISTEN, l, 2);
	int c = syscall(NR_SOCKET, AF_UNIX, SOCK_SEQPACKET, 0);
	long con = syscall(NR_CONNECT, c, &addr, alen);
	int a = syscall(NR_ACCEPT4, l, NULL, NULL, 0);
	struct sockaddr_un got = { 0 };
	socklen_t gl = sizeof(got);
	long gname = syscall(NR_GETSOCKNAME, l, &got, &gl);
	struct sockaddr_un peer = { 0 };
	socklen_t pl = sizeof(peer);
	long gpeer = syscall(NR_GETPEERNAME, c, &peer, &pl);
	long w = syscall(NR_SENDTO, c, "hello", 5, 0, NULL, 0);
	char buf[8] = { 0 };
	long rd = syscall(NR_RECVFROM, a, buf, sizeof(buf), 0, NULL, NULL);
	int one = 1, v = 0;
	socklen_t vl = sizeof(v);
	long so = syscall(NR_SETSOCKOPT, a, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	long go = syscall(NR_GETSOCKOPT, a, SOL_SOCKET, SO_PASSCRED, &v, &vl);
	long sh = syscall(NR_SHUTDOWN, c, SHUT_WR);
	long eof = syscall(NR_RECVFROM, a, buf, sizeof(buf), 0, NULL, NULL);
	int sv[2] = { -1, -1 };
	long sp = syscall(NR_SOCKETPAIR, AF_UNIX, SOCK_DGRAM, 0, sv);
	KTAP_CHECK(l >= 0 && bound == 0 && lst == 0 && c >= 0 && con == 0 && a >= 0 && gname == 0 &&
			   gl == alen && !memcmp(&got, &addr, alen) && gpeer == 0 && pl == alen &&
			   w == 5 && rd == 5 && !memcmp(buf, "hello", 5) && so == 0 && go == 0 &&
			   v == 1 && sh == 0 && eof == 0 && sp == 0 && sv[0] >= 0 && sv[1] >= 0,
		   n,
		   "socket %d bind %ld listen %ld connect %ld accept4 %d name %ld peer %ld send %ld "
		   "recv %ld setsockopt %ld getsockopt %ld/%d shutdown %ld eof %ld socketpair %ld errno %d",
		   l, bound, lst, con, a, gname, gpeer, w, rd, so, go, v, sh, eof, sp, errno);
	close(l);
	close(c);
	close(a);
	close(sv[0]);
	close(sv[1]);
}

/* sendmsg/recvmsg through socketcall (via != 0) or the direct numbers. */
static long do_sendmsg(int via_sc, int fd, struct msghdr *m, int flags)
{
	if (via_sc) {
		uint32_t a[3] = { fd, U(m), flags };
		return sc(SC_SENDMSG, a);
	}
	return syscall(NR_SENDMSG, fd, m, flags);
}

static long do_recvmsg(int via_sc, int fd, struct msghdr *m, int flags)
{
	if (via_sc) {
		uint32_t a[3] = { fd, U(m), flags };
		return sc(SC_RECVMSG, a);
	}
	return syscall(NR_RECVMSG, fd, m, flags);
}

/* Sends `nfds` descriptors with one byte; the control buffer as i386 lays it out. */
static long send_fds(int via_sc, int sock, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(4 * 4)];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { .iov_base = "F", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE(4 * nfds) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(4 * nfds);
	memcpy(CMSG_DATA(cm), fds, 4 * nfds);
	return do_sendmsg(via_sc, sock, &m, 0);
}

/* Whether `got` is a descriptor of the same pipe as the write end `w`. */
static int same_pipe(int got, int w, char byte)
{
	char c = 0;
	if (write(w, &byte, 1) != 1)
		return 0;
	return read(got, &c, 1) == 1 && c == byte;
}

static void case_scm_rights(int via_sc, const char *n)
{
	int sv[2], p1[2], p2[2];
	if (pair(SOCK_DGRAM, sv) || pipe(p1) || pipe(p2)) {
		KTAP_CHECK(0, n, "setup: %s", strerror(errno));
		return;
	}
	int fds[2] = { p1[0], p2[0] };
	long s = send_fds(via_sc, sv[0], fds, 2);
	union {
		char buf[64];
		struct cmsghdr align;
	} u;
	memset(&u, 0xee, sizeof(u));
	char data = 0;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	long r = do_recvmsg(via_sc, sv[1], &m, 0);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int got[2] = { -1, -1 };
	if (cm)
		memcpy(got, CMSG_DATA(cm), 8);
	/* i386: a 12-byte header, so two descriptors make cmsg_len 20 and take 20 bytes. */
	KTAP_CHECK(s == 1 && r == 1 && data == 'F' && m.msg_flags == 0 && cm &&
			   m.msg_controllen == 20 && cm->cmsg_len == 20 && CMSG_LEN(8) == 20 &&
			   cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			   same_pipe(got[0], p1[1], 'a') && same_pipe(got[1], p2[1], 'b') &&
			   (unsigned char)u.buf[20] == 0xee,
		   n, "send %ld recv %ld flags %#x controllen %u cmsg_len %u fds %d %d errno %d", s, r,
		   m.msg_flags, (unsigned)m.msg_controllen, cm ? (unsigned)cm->cmsg_len : 0, got[0],
		   got[1], errno);
	close(got[0]);
	close(got[1]);
	close(sv[0]);
	close(sv[1]);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

/* Three descriptors, room for one: MSG_CTRUNC, the buffer full, the others closed. */
static void case_scm_ctrunc(void)
{
	const char *n = "scm_rights_ctrunc";
	int sv[2], p[2];
	if (pair(SOCK_DGRAM, sv) || pipe(p)) {
		KTAP_CHECK(0, n, "setup: %s", strerror(errno));
		return;
	}
	int fds[3] = { p[0], p[0], p[0] };
	long s = send_fds(1, sv[0], fds, 3);
	union {
		char buf[CMSG_SPACE(4)];
		struct cmsghdr align;
	} u;
	char data;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	int before = dup(0);
	close(before);
	long r = syscall(NR_RECVMSG, sv[1], &m, 0);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int got = -1;
	if (cm)
		memcpy(&got, CMSG_DATA(cm), 4);
	/* Only one new descriptor: the next free one after it is the one after `got`. */
	int next = dup(0);
	KTAP_CHECK(s == 1 && r == 1 && (m.msg_flags & MSG_CTRUNC) && sizeof(u.buf) == 16 &&
			   m.msg_controllen == 16 && cm && cm->cmsg_len == 16 && got == before &&
			   next == got + 1 && same_pipe(got, p[1], 'c'),
		   n, "send %ld recv %ld flags %#x controllen %u got %d (expected %d) next %d", s, r,
		   m.msg_flags, (unsigned)m.msg_controllen, got, before, next);
	close(next);
	close(got);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

/* SCM_CREDENTIALS then SCM_RIGHTS in one buffer: each header 4-aligned after the last. */
static void case_scm_creds(void)
{
	const char *n = "scm_credentials_rights";
	int sv[2], p[2];
	if (pair(SOCK_DGRAM, sv) || pipe(p)) {
		KTAP_CHECK(0, n, "setup: %s", strerror(errno));
		return;
	}
	int one = 1;
	long so = setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(4)];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct ucred cred = { .pid = getpid(), .uid = 4321, .gid = 8765 };
	struct iovec iov = { .iov_base = "C", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_CREDENTIALS;
	cm->cmsg_len = CMSG_LEN(sizeof(cred));
	memcpy(CMSG_DATA(cm), &cred, sizeof(cred));
	cm = CMSG_NXTHDR(&m, cm);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(4);
	memcpy(CMSG_DATA(cm), &p[0], 4);
	long s = do_sendmsg(0, sv[0], &m, 0);

	union {
		char buf[128];
		struct cmsghdr align;
	} r;
	memset(&r, 0, sizeof(r));
	char data;
	struct iovec riov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr rm = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = r.buf,
			     .msg_controllen = sizeof(r.buf) };
	long got = do_recvmsg(1, sv[1], &rm, 0);
	struct cmsghdr *c1 = CMSG_FIRSTHDR(&rm);
	struct cmsghdr *c2 = c1 ? CMSG_NXTHDR(&rm, c1) : NULL;
	struct ucred rc = { 0 };
	int fd = -1;
	if (c1)
		memcpy(&rc, CMSG_DATA(c1), sizeof(rc));
	if (c2)
		memcpy(&fd, CMSG_DATA(c2), 4);
	/* ucred is 12 bytes: header 12 + 12 = 24, the next header at 24; 24 + 16 = 40. */
	KTAP_CHECK(so == 0 && s == 1 && got == 1 && c1 && c1->cmsg_type == SCM_CREDENTIALS &&
			   c1->cmsg_len == 24 && rc.pid == cred.pid && rc.uid == 4321 &&
			   rc.gid == 8765 && c2 && (char *)c2 - r.buf == 24 &&
			   c2->cmsg_type == SCM_RIGHTS && c2->cmsg_len == 16 &&
			   rm.msg_controllen == 40 && rm.msg_flags == 0 && same_pipe(fd, p[1], 'd'),
		   n,
		   "setsockopt %ld send %ld recv %ld controllen %u flags %#x c1 %u pid %d uid %u "
		   "gid %u c2 at %d len %u fd %d errno %d",
		   so, s, got, (unsigned)rm.msg_controllen, rm.msg_flags,
		   c1 ? (unsigned)c1->cmsg_len : 0, rc.pid, rc.uid, rc.gid,
		   c2 ? (int)((char *)c2 - r.buf) : -1, c2 ? (unsigned)c2->cmsg_len : 0, fd, errno);
	close(fd);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

/* Control data that does not parse in i386's layout. */
static void case_scm_errors(void)
{
	const char *n = "scm_compat_errors";
	int sv[2];
	pair(SOCK_DGRAM, sv);
	uint32_t ctl[8] = { 0 };
	struct iovec iov = { .iov_base = "E", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl };
	/* No room for one header (12 bytes). */
	m.msg_controllen = 8;
	long shortbuf = do_sendmsg(0, sv[0], &m, 0);
	int e1 = errno;
	/* cmsg_len 11: shorter than its header. */
	ctl[0] = 11;
	ctl[1] = SOL_SOCKET;
	ctl[2] = SCM_RIGHTS;
	m.msg_controllen = 16;
	long shortlen = do_sendmsg(1, sv[0], &m, 0);
	int e2 = errno;
	/* cmsg_len 20 in a 16-byte buffer. */
	ctl[0] = 20;
	long overlong = do_sendmsg(0, sv[0], &m, 0);
	int e3 = errno;
	/* A descriptor that is not open. */
	ctl[0] = 16;
	ctl[3] = 999;
	long badfd = do_sendmsg(1, sv[0], &m, 0);
	int e4 = errno;
	/* Another level is skipped: the message goes. */
	ctl[1] = SOL_SOCKET + 1000;
	long other = do_sendmsg(0, sv[0], &m, 0);
	char c;
	long r = read(sv[1], &c, 1);
	KTAP_CHECK(shortbuf == -1 && e1 == EINVAL && shortlen == -1 && e2 == EINVAL &&
			   overlong == -1 && e3 == EINVAL && badfd == -1 && e4 == EBADF &&
			   other == 1 && r == 1 && c == 'E',
		   n, "8 bytes %ld/%d len 11 %ld/%d len 20 %ld/%d fd 999 %ld/%d other level %ld read %ld",
		   shortbuf, e1, shortlen, e2, overlong, e3, badfd, e4, other, r);
	close(sv[0]);
	close(sv[1]);
}

/* sendmmsg and recvmmsg, direct (via_sc 0) or through socketcall. */
static void case_mmsg(int via_sc, const char *n)
{
	int sv[2];
	if (pair(SOCK_DGRAM, sv)) {
		KTAP_CHECK(0, n, "socketpair: %s", strerror(errno));
		return;
	}
	const char *words[3] = { "one", "three", "seventeen" };
	struct iovec iov[3];
	struct mmsghdr msgs[3];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = (void *)words[i];
		iov[i].iov_len = strlen(words[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_len = 0xdead;
	}
	long s;
	if (via_sc) {
		uint32_t a[4] = { sv[0], U(msgs), 3, 0 };
		s = sc(SC_SENDMMSG, a);
	} else {
		s = syscall(NR_SENDMMSG, sv[0], msgs, 3, 0);
	}
	char bufs[4][16];
	struct iovec riov[4];
	struct mmsghdr rm[4];
	memset(rm, 0, sizeof(rm));
	memset(bufs, 0, sizeof(bufs));
	for (int i = 0; i < 4; i++) {
		riov[i].iov_base = bufs[i];
		riov[i].iov_len = sizeof(bufs[i]);
		rm[i].msg_hdr.msg_iov = &riov[i];
		rm[i].msg_hdr.msg_iovlen = 1;
		rm[i].msg_len = 0xdead;
	}
	/* old_timespec32: 5 s, written back as the time left. */
	int32_t tmo[2] = { 5, 0 };
	long r;
	if (via_sc) {
		uint32_t a[5] = { sv[1], U(rm), 4, MSG_DONTWAIT, U(tmo) };
		r = sc(SC_RECVMMSG, a);
	} else {
		r = syscall(NR_RECVMMSG, sv[1], rm, 4, MSG_DONTWAIT, tmo);
	}
	int ok = sizeof(struct mmsghdr) == 32 && s == 3 && r == 3 && rm[3].msg_len == 0xdead &&
		 tmo[0] >= 3 && tmo[0] <= 4 && tmo[1] >= 0 && tmo[1] < 1000000000;
	for (int i = 0; i < 3; i++)
		ok = ok && msgs[i].msg_len == strlen(words[i]) && rm[i].msg_len == strlen(words[i]) &&
		     !strcmp(bufs[i], words[i]);
	KTAP_CHECK(ok, n,
		   "send %ld recv %ld lens %u %u %u / %u %u %u %u left %d.%09d errno %d", s, r,
		   msgs[0].msg_len, msgs[1].msg_len, msgs[2].msg_len, rm[0].msg_len, rm[1].msg_len,
		   rm[2].msg_len, rm[3].msg_len, tmo[0], tmo[1], errno);
	close(sv[0]);
	close(sv[1]);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* SO_RCVTIMEO/SO_SNDTIMEO (the _OLD numbers 20, 21) take i386's old_timeval32, the _NEW
 * ones (66, 67) 64-bit words; a receive and a send that wait give up with EAGAIN. */
static void case_timeouts(void)
{
	const char *n = "so_rcvtimeo_sndtimeo";
	int sv[2], st[2];
	if (pair(SOCK_DGRAM, sv) || pair(SOCK_STREAM, st)) {
		KTAP_CHECK(0, n, "socketpair: %s", strerror(errno));
		return;
	}
	int32_t tv[2] = { 0, 200000 }, got[2] = { -1, -1 };
	socklen_t gl = sizeof(got);
	long set = syscall(NR_SETSOCKOPT, sv[1], SOL_SOCKET, 20, tv, 8);
	long get = syscall(NR_GETSOCKOPT, sv[1], SOL_SOCKET, 20, got, &gl);
	errno = 0;
	long shortlen = syscall(NR_SETSOCKOPT, sv[1], SOL_SOCKET, 20, tv, 4);
	int eshort = errno;
	int32_t badusec[2] = { 1, 1000000 };
	errno = 0;
	long edom = syscall(NR_SETSOCKOPT, sv[1], SOL_SOCKET, 20, badusec, 8);
	int e_dom = errno;
	char c;
	double t0 = now_s();
	errno = 0;
	long r = syscall(NR_RECVFROM, sv[1], &c, 1, 0, NULL, NULL);
	int er = errno;
	double waited = now_s() - t0;
	/* The same through socketcall for sending: fill a stream, then a blocking send. */
	int32_t stv[2] = { 0, 100000 };
	uint32_t so[5] = { st[0], SOL_SOCKET, 21, U(stv), 8 };
	long sset = sc(SC_SETSOCKOPT, so);
	static char fill[4096];
	while (send(st[0], fill, sizeof(fill), MSG_DONTWAIT) > 0)
		;
	t0 = now_s();
	errno = 0;
	long w = send(st[0], fill, 1, 0);
	int ew = errno;
	double swaited = now_s() - t0;
	/* A zero time (here through SO_RCVTIMEO_NEW's 64-bit words) means no timeout. */
	int64_t zero[2] = { 0, 0 };
	long reset = syscall(NR_SETSOCKOPT, sv[1], SOL_SOCKET, 66, zero, 16);
	int32_t after[2] = { -1, -1 };
	gl = sizeof(after);
	long get2 = syscall(NR_GETSOCKOPT, sv[1], SOL_SOCKET, 20, after, &gl);
	/* A negative time: do not wait at all. */
	int32_t neg[2] = { -1, 0 };
	long sneg = syscall(NR_SETSOCKOPT, sv[1], SOL_SOCKET, 20, neg, 8);
	t0 = now_s();
	errno = 0;
	long rneg = syscall(NR_RECVFROM, sv[1], &c, 1, 0, NULL, NULL);
	int erneg = errno;
	double nwaited = now_s() - t0;
	KTAP_CHECK(set == 0 && get == 0 && gl == 8 && got[0] == 0 && got[1] == 200000 &&
			   shortlen == -1 && eshort == EINVAL && edom == -1 && e_dom == EDOM &&
			   r == -1 && er == EAGAIN && waited >= 0.15 && waited < 3 && sset == 0 &&
			   w == -1 && ew == EAGAIN && swaited >= 0.07 && swaited < 3 && reset == 0 &&
			   get2 == 0 && after[0] == 0 && after[1] == 0 && sneg == 0 && rneg == -1 &&
			   erneg == EAGAIN && nwaited < 0.1,
		   n,
		   "set %ld get %ld %d.%06d len %u; len 4 %ld/%d; usec 1e6 %ld/%d; recv %ld/%d after "
		   "%.3f s; send timeout %ld: %ld/%d after %.3f s; reset %ld get %ld %d.%06d; negative "
		   "%ld: recv %ld/%d after %.3f s",
		   set, get, got[0], got[1], gl, shortlen, eshort, edom, e_dom, r, er, waited, sset, w,
		   ew, swaited, reset, get2, after[0], after[1], sneg, rneg, erneg, nwaited);
	close(sv[0]);
	close(sv[1]);
	close(st[0]);
	close(st[1]);
}

int main(void)
{
	ktap_plan(11);
	case_socketcall_calls();
	case_socketcall_errors();
	case_direct_calls();
	case_scm_rights(1, "scm_rights_socketcall");
	case_scm_rights(0, "scm_rights_direct");
	case_scm_ctrunc();
	case_scm_creds();
	case_scm_errors();
	case_mmsg(0, "mmsg_direct");
	case_mmsg(1, "mmsg_socketcall");
	case_timeouts();
	return ktap_finish();
}
