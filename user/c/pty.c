/*
 * Pseudo-terminals and the line discipline (docs/tty.md): posix_openpt/grantpt/unlockpt/
 * ptsname; the slave's starting settings; canonical editing with echo (DEL rubbing out),
 * ICRNL, one line per read, VEOF with and without a line; non-canonical MIN 0 TIME 0 and
 * MIN 1; termios2 (the speeds, BOTHER, TCSETSF2) and the old termio; OPOST/ONLCR on the
 * slave's output; the window size set on the master and read on the slave; FIONREAD; the
 * slave locked until unlockpt; ^C written to the master killing a child whose controlling
 * terminal the slave is (then /dev/tty, and no second one: EPERM), with SIGINT; the session
 * leader's end hanging up its foreground group (SIGHUP) and leaving the terminal; TIOCSTI
 * (as typed, EPERM on another terminal without CAP_SYS_ADMIN); the master reading EIO once
 * the slave is closed.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Reads from `fd` until `want` bytes came or 2 s passed without any (Linux moves pty data
 * through a work queue: it may come a little later). Returns the count. */
static int read_for(int fd, char *buf, int want)
{
	int got = 0;
	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0)
			break;
		int n = read(fd, buf + got, want - got);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

static int open_pair(int *slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m))
		return -1;
	char *name = ptsname(m);
	if (!name || strncmp(name, "/dev/pts/", 9))
		return -1;
	*slave = open(name, O_RDWR | O_NOCTTY);
	return *slave < 0 ? -1 : m;
}

static int same(const char *got, int n, const char *want)
{
	return n == (int)strlen(want) && !memcmp(got, want, n);
}

/* The kernel's structures of TCGETS2 and TCGETA (<asm/termbits.h> clashes with <termios.h>). */
struct k_termios2 {
	unsigned int c_iflag, c_oflag, c_cflag, c_lflag;
	unsigned char c_line, c_cc[19];
	unsigned int c_ispeed, c_ospeed;
};
struct k_termio {
	unsigned short c_iflag, c_oflag, c_cflag, c_lflag;
	unsigned char c_line, c_cc[8];
};
#define K_TCGETS2 _IOR('T', 0x2a, struct k_termios2)
#define K_TCSETS2 _IOW('T', 0x2b, struct k_termios2)
#define K_TCSETSF2 _IOW('T', 0x2d, struct k_termios2)
#define K_TCGETA 0x5405
#define K_TCSETA 0x5406
#define K_CBAUD 0x100f
#define K_BOTHER 0x1000
#define K_IBSHIFT 16
#define K_B9600 015
#define K_B38400 017
#define K_B115200 0x1002

static volatile sig_atomic_t got_hup, got_cont;

static void on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

static void on_cont(int sig)
{
	(void)sig;
	got_cont = 1;
}

static volatile sig_atomic_t got_int;

static void on_int(int sig)
{
	(void)sig;
	got_int = 1;
}

/* TIOCSTI on the caller's controlling terminal `name`: "hi\n" pushed byte by byte reads as a
 * line; once a byte comes on `go` (the parent has read the echo, which a ^C would flush on
 * Linux), a pushed ^C sends SIGINT to the foreground group (the caller). Exits 0 if so. */
static void tiocsti_child(const char *name, int go)
{
	setsid();
	int fd = open(name, O_RDWR);
	if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) != 0)
		_exit(3);
	signal(SIGINT, on_int);
	for (const char *c = "hi\n"; *c; c++)
		if (ioctl(fd, TIOCSTI, c) != 0)
			_exit(4);
	char b[16];
	int k = read(fd, b, sizeof(b));
	if (k != 3 || memcmp(b, "hi\n", 3))
		_exit(5);
	read(go, b, 1);
	char intr = 3;
	if (ioctl(fd, TIOCSTI, &intr) != 0)
		_exit(6);
	_exit(got_int ? 0 : 7);
}

/* A session leader controlling the slave `name` ends (Linux's disassociate_ctty(1)): its
 * foreground group, here its child, gets SIGHUP and, for a pty, no SIGCONT; the session has
 * no controlling terminal any more (/dev/tty ENXIO, tcgetpgrp ENOTTY). The child reports
 * "hup cont errno errno" on `rep`. */
static void leader_exit_child(const char *name, int rep)
{
	setsid();
	int fd = open(name, O_RDWR);
	if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) != 0)
		_exit(3);
	int go[2];
	if (pipe(go))
		_exit(4);
	pid_t leader = getpid();
	if (fork() == 0) {
		signal(SIGHUP, on_hup);
		signal(SIGCONT, on_cont);
		write(go[1], "g", 1);
		/* The leader is gone once this child is someone else's (exit_notify comes after
		 * the terminal is let go); at most 5 s. */
		for (int i = 0; i < 500 && !(got_hup && getppid() != leader); i++)
			usleep(10000);
		usleep(50000); /* a SIGCONT sent after the SIGHUP would be here by now */
		errno = 0;
		int e1 = open("/dev/tty", O_RDWR) < 0 ? errno : 0;
		errno = 0;
		int e2 = tcgetpgrp(fd) < 0 ? errno : 0;
		char res[64];
		int n = snprintf(res, sizeof(res), "%d %d %d %d", got_hup, got_cont, e1, e2);
		write(rep, res, n);
		_exit(0);
	}
	char g = 0;
	read(go[0], &g, 1);
	_exit(g == 'g' ? 0 : 5);
}

int main(void)
{
	ktap_plan(20);
	int s = -1, m = open_pair(&s);
	KTAP_CHECK(m >= 0 && isatty(m) && isatty(s), "open_pair", "master %d slave %d errno %d", m,
		   s, errno);
	if (m < 0)
		return ktap_finish();

	struct termios t;
	int ok = tcgetattr(s, &t) == 0;
	tcflag_t lwant = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
	KTAP_CHECK(ok && (t.c_lflag & lwant) == lwant && (t.c_iflag & (ICRNL | IXON)) == (ICRNL | IXON) &&
			   (t.c_oflag & (OPOST | ONLCR)) == (OPOST | ONLCR) && t.c_cc[VINTR] == 3 &&
			   t.c_cc[VERASE] == 0x7f && t.c_cc[VKILL] == 0x15 && t.c_cc[VEOF] == 4 &&
			   t.c_cc[VMIN] == 1 && t.c_cc[VTIME] == 0,
		   "standard_settings", "lflag %#x iflag %#x oflag %#x", t.c_lflag, t.c_iflag,
		   t.c_oflag);

	/* Canonical: the echo rubs out, CR ends the line as NL, the read gets the edited line. */
	char buf[256];
	write(m, "abc\x7f" "d\r", 6);
	int n = read_for(s, buf, 4);
	KTAP_CHECK(same(buf, n, "abd\n"), "canonical_line", "read %d bytes '%.*s'", n, n > 0 ? n : 0,
		   buf);
	n = read_for(m, buf, 9);
	KTAP_CHECK(same(buf, n, "abc\b \bd\r\n"), "echo_erase", "echo %d bytes", n);

	/* One line per read; a short read leaves the rest. */
	write(m, "one\ntwo\n", 8);
	read_for(m, buf, 10); /* the echo */
	int n1 = read(s, buf, 2), n2 = read(s, buf + 2, 64), n3 = read(s, buf + 10, 64);
	KTAP_CHECK(n1 == 2 && n2 == 2 && n3 == 4 && !memcmp(buf, "one\n", 4) &&
			   !memcmp(buf + 10, "two\n", 4),
		   "line_per_read", "%d %d %d", n1, n2, n3);

	/* VEOF: ends a line without itself; on an empty line, end of file. */
	write(m, "xy\x04", 3);
	read_for(m, buf, 2);
	n1 = read(s, buf, 64);
	write(m, "\x04", 1);
	n2 = read(s, buf + 10, 64);
	KTAP_CHECK(n1 == 2 && !memcmp(buf, "xy", 2) && n2 == 0, "veof", "%d %d", n1, n2);

	/* FIONREAD counts a complete line. */
	write(m, "12345\n", 6);
	read_for(m, buf, 7);
	usleep(100000);
	int avail = -1;
	ioctl(s, FIONREAD, &avail);
	read(s, buf, 64);
	KTAP_CHECK(avail == 6, "fionread", "%d", avail);

	/* Output processing of the slave's writes. */
	write(s, "a\nb", 3);
	n = read_for(m, buf, 4);
	KTAP_CHECK(same(buf, n, "a\r\nb"), "onlcr", "%d bytes", n);

	/* Non-canonical, MIN 0 TIME 0: a read returns at once; MIN 1: it gets a byte. */
	struct termios raw = t;
	raw.c_lflag &= ~(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	tcsetattr(s, TCSANOW, &raw);
	n1 = read(s, buf, 64);
	raw.c_cc[VMIN] = 1;
	tcsetattr(s, TCSANOW, &raw);
	write(m, "q", 1);
	n2 = read_for(s, buf + 10, 1);
	KTAP_CHECK(n1 == 0 && n2 == 1 && buf[10] == 'q', "noncanonical", "%d %d", n1, n2);
	tcsetattr(s, TCSANOW, &t);

	/* termios2: the speeds; BOTHER takes c_ospeed (input B0: the same), and an old TCSETS
	 * with B115200 makes both 115200. */
	struct k_termios2 o2 = {0}, a2, b2 = {0}, c2 = {0};
	unsigned char old36[36];
	int q0 = ioctl(s, K_TCGETS2, &o2);
	a2 = o2;
	a2.c_cflag = (a2.c_cflag & ~(K_CBAUD | K_CBAUD << K_IBSHIFT)) | K_BOTHER;
	a2.c_ospeed = 12345;
	a2.c_ispeed = 999;
	int q1 = ioctl(s, K_TCSETS2, &a2), q2 = ioctl(s, K_TCGETS2, &b2);
	int q3 = ioctl(s, TCGETS, old36);
	unsigned int cf;
	memcpy(&cf, old36 + 8, 4);
	int bother_old = (cf & K_CBAUD) == K_BOTHER;
	cf = (cf & ~K_CBAUD) | K_B115200;
	memcpy(old36 + 8, &cf, 4);
	int q4 = ioctl(s, TCSETS, old36), q5 = ioctl(s, K_TCGETS2, &c2);
	KTAP_CHECK(!(q0 | q1 | q2 | q3 | q4 | q5) && o2.c_ispeed == 38400 && o2.c_ospeed == 38400 &&
			   (o2.c_cflag & K_CBAUD) == K_B38400 && (b2.c_cflag & K_CBAUD) == K_BOTHER &&
			   b2.c_ospeed == 12345 && b2.c_ispeed == 12345 && bother_old &&
			   c2.c_ospeed == 115200 && c2.c_ispeed == 115200,
		   "termios2_speeds", "%d %d %d %d %d %d: %u/%u %#x, %u/%u %#x, %d, %u/%u", q0, q1, q2,
		   q3, q4, q5, o2.c_ispeed, o2.c_ospeed, o2.c_cflag, b2.c_ispeed, b2.c_ospeed,
		   b2.c_cflag, bother_old, c2.c_ispeed, c2.c_ospeed);

	/* TCSETSF2 flushes the input. */
	write(m, "zz\n", 3);
	read_for(m, buf, 4);
	usleep(100000);
	int before = -1, after = -1;
	ioctl(s, FIONREAD, &before);
	q1 = ioctl(s, K_TCSETSF2, &o2);
	ioctl(s, FIONREAD, &after);
	KTAP_CHECK(q1 == 0 && before == 3 && after == 0, "termios2_setsf_flushes", "%d: %d %d", q1,
		   before, after);

	/* The old termio: 16-bit flags; TCSETA keeps the high halves (here an input speed). */
	struct k_termio o = {0};
	a2 = o2;
	a2.c_cflag |= K_B9600 << K_IBSHIFT;
	q0 = ioctl(s, K_TCSETS2, &a2);
	q1 = ioctl(s, K_TCGETA, &o);
	int got_ok = o.c_lflag == (o2.c_lflag & 0xffff) && o.c_cflag == (a2.c_cflag & 0xffff) &&
		     o.c_iflag == (o2.c_iflag & 0xffff) && o.c_cc[VINTR] == 3 && o.c_cc[VMIN] == 1;
	o.c_lflag &= ~ECHO;
	o.c_cc[VINTR] = 0x18;
	q2 = ioctl(s, K_TCSETA, &o);
	b2 = (struct k_termios2){0};
	q3 = ioctl(s, K_TCGETS2, &b2);
	KTAP_CHECK(!(q0 | q1 | q2 | q3) && got_ok && b2.c_lflag == (o2.c_lflag & ~ECHO) &&
			   b2.c_cflag == a2.c_cflag && b2.c_ispeed == 9600 && b2.c_ospeed == 38400 &&
			   b2.c_cc[VINTR] == 0x18 && b2.c_cc[VEOL2] == o2.c_cc[VEOL2],
		   "termio_old", "%d %d %d %d %d: lflag %#x cflag %#x %u/%u", q0, q1, q2, q3, got_ok,
		   b2.c_lflag, b2.c_cflag, b2.c_ispeed, b2.c_ospeed);
	ioctl(s, K_TCSETS2, &o2);

	struct winsize w = {.ws_row = 33, .ws_col = 77}, r = {0};
	ok = ioctl(m, TIOCSWINSZ, &w) == 0 && ioctl(s, TIOCGWINSZ, &r) == 0;
	KTAP_CHECK(ok && r.ws_row == 33 && r.ws_col == 77, "winsize", "%d %dx%d", ok, r.ws_row,
		   r.ws_col);

	/* A new pair is locked until unlockpt. */
	int m2 = posix_openpt(O_RDWR | O_NOCTTY);
	char name[64] = "";
	if (m2 >= 0 && ptsname(m2))
		snprintf(name, sizeof(name), "%s", ptsname(m2));
	errno = 0;
	int s2 = open(name, O_RDWR | O_NOCTTY);
	KTAP_CHECK(m2 >= 0 && s2 < 0 && errno == EIO, "locked_until_unlockpt", "fd %d errno %d", s2,
		   errno);
	if (m2 >= 0)
		close(m2);

	/* ^C from the master: SIGINT to the foreground group of the session it controls. */
	int ready[2];
	pipe(ready);
	pid_t c = fork();
	if (c == 0) {
		setsid();
		int fd = open(ptsname(m), O_RDWR);
		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) != 0 || tcgetpgrp(fd) != getpid())
			_exit(3);
		/* /dev/tty is that terminal now; a second one cannot be taken. */
		int tty = open("/dev/tty", O_RDWR), s3 = -1, m3 = open_pair(&s3);
		if (tty < 0 || m3 < 0 || ioctl(s3, TIOCSCTTY, 0) != -1 || errno != EPERM)
			_exit(4);
		write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	/* A child that fails its checks exits without writing: the read sees end of file. */
	close(ready[1]);
	char r1 = 0;
	read(ready[0], &r1, 1);
	write(m, "\x03", 1);
	/* At most 5 s: a child the ^C missed is killed, and the case fails instead of hanging. */
	int st = 0;
	pid_t done = 0;
	for (int i = 0; i < 500 && (done = waitpid(c, &st, WNOHANG)) == 0; i++)
		usleep(10000);
	if (done == 0) {
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
	}
	KTAP_CHECK(r1 == 'r' && WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "intr_kills_fg",
		   "status %#x", st);
	read_for(m, buf, 2); /* the ^C echo */

	/* The session leader's end hangs up its foreground group and leaves the terminal. */
	int rep[2];
	pipe(rep);
	c = fork();
	if (c == 0) {
		close(rep[0]);
		leader_exit_child(ptsname(m), rep[1]);
	}
	close(rep[1]);
	waitpid(c, &st, 0);
	/* The child's report comes after up to 5 s of waiting for the SIGHUP. */
	struct pollfd rp = {.fd = rep[0], .events = POLLIN};
	n = poll(&rp, 1, 7000) == 1 ? read(rep[0], buf, 63) : 0;
	buf[n > 0 ? n : 0] = 0;
	close(rep[0]);
	/* ENXIO 6, ENOTTY 25 */
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strcmp(buf, "1 0 6 25"),
		   "leader_exit_hangs_up_fg", "leader status %#x, child says '%s'", st, buf);

	/* TIOCSTI: as typed, with the echo on the master. */
	int go[2];
	pipe(go);
	c = fork();
	if (c == 0)
		tiocsti_child(ptsname(m), go[0]);
	n = read_for(m, buf, 4);
	write(go[1], "g", 1);
	n += read_for(m, buf + n, 2);
	waitpid(c, &st, 0);
	close(go[0]);
	close(go[1]);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && same(buf, n, "hi\r\n^C"),
		   "tiocsti_as_typed", "child status %#x, echo %d bytes '%.*s'", st, n,
		   n > 0 ? n : 0, buf);

	/* TIOCSTI on a terminal that is not the caller's controlling one: EPERM without
	 * CAP_SYS_ADMIN (a root caller gives it up with its uids). */
	c = fork();
	if (c == 0) {
		if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0)
			_exit(3);
		errno = 0;
		_exit(ioctl(s, TIOCSTI, "x") == -1 && errno == EPERM ? 0 : 4);
	}
	waitpid(c, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tiocsti_eperm_not_ctty", "status %#x",
		   st);

	/* ... and with CAP_SYS_ADMIN (root) it goes ahead; on the master (nobody's controlling
	 * terminal) the byte is the master's own input, read back from it. */
	if (geteuid() != 0) {
		ktap_skip("tiocsti_cap_sys_admin", "not root: no CAP_SYS_ADMIN");
	} else {
		int e1 = ioctl(s, TIOCSTI, "r"), e2 = ioctl(s, TIOCSTI, "\n");
		n = read_for(s, buf, 2);
		n1 = read_for(m, buf + 10, 3); /* the echo */
		int e3 = ioctl(m, TIOCSTI, "M");
		n2 = read_for(m, buf + 20, 1);
		KTAP_CHECK(e1 == 0 && e2 == 0 && same(buf, n, "r\n") && n1 == 3 && e3 == 0 &&
				   same(buf + 20, n2, "M"),
			   "tiocsti_cap_sys_admin", "%d %d %d, read %d %d %d", e1, e2, e3, n, n1, n2);
	}

	/* Every slave closed: the master reads EIO. */
	close(s);
	errno = 0;
	n = read(m, buf, sizeof(buf));
	KTAP_CHECK(n < 0 && errno == EIO, "master_eio_after_slave_close", "%d errno %d", n, errno);
	close(m);
	return ktap_finish();
}
