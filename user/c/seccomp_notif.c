/* seccomp user notification: SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_RET_USER_NOTIF and the
 * listener's ioctls and poll; the filter flags that go with them.
 *
 * Each case runs in a forked child (the supervisor), under alarm(20), which exits 0 when every
 * step passed or with the number of the first failing step (printed as a diagnostic). Most
 * supervisors install a filter answering getppid with USER_NOTIF (everything else ALLOW) and a
 * listener, then fork a target that closes its copy of the listener and calls getppid; the
 * supervisor answers through the listener. The supervisor itself never calls getppid.
 *
 * - get_notif_sizes: SECCOMP_GET_NOTIF_SIZES reports 80, 24, 64; flags are EINVAL.
 * - action_avail_user_notif: SECCOMP_GET_ACTION_AVAIL knows USER_NOTIF.
 * - listener_fd: NEW_LISTENER returns a close-on-exec descriptor; read() and an unknown ioctl
 *   on it are EINVAL.
 * - listener_flag_rules: TSYNC|NEW_LISTENER is EINVAL, with TSYNC_ESRCH it works;
 *   WAIT_KILLABLE_RECV without NEW_LISTENER and an unknown flag (64) are EINVAL; LOG and
 *   SPEC_ALLOW are accepted.
 * - second_listener_ebusy: a second listener in the chain is EBUSY while the first is open,
 *   and works once it is closed.
 * - recv_needs_zeroed_struct: with a notification waiting, RECV into a struct that is not
 *   zeroed is EINVAL, into an unmapped one EFAULT; the notification is still there after.
 * - recv_send_value: RECV reports the target's pid, getppid's number, the arch and the six
 *   arguments; ID_VALID is 0; the value sent is what getppid returns.
 * - send_error_and_bad_replies: a reply with an unknown flag, CONTINUE with a value or an
 *   error is EINVAL, to an unknown id ENOENT; the error sent is the target's errno.
 * - reply_only_when_received: SEND and ADDFD to a notification not yet received are
 *   EINPROGRESS and ID_VALID is ENOENT; ids count up by one; a second SEND is refused.
 * - continue_runs_syscall: SECCOMP_USER_NOTIF_FLAG_CONTINUE: getppid runs (the supervisor's pid).
 * - id_valid_after_target_killed: SIGKILL ends a target's wait; its id is then ENOENT for
 *   ID_VALID and SEND.
 * - addfd: ADDFD puts the supervisor's pipe into the target at the lowest free number, and
 *   with SETFD at 42 with O_CLOEXEC; the target writes through both.
 * - addfd_send: ADDFD with SEND is also the reply: getppid returns the new descriptor.
 * - addfd_bad_requests: unknown flags, newfd without SETFD, newfd_flags other than
 *   O_CLOEXEC, a size below the first version EINVAL; non-zero bytes past the struct E2BIG; a
 *   bad srcfd EBADF; an unknown id ENOENT; SETFD past the target's table EBADF.
 * - poll_listener: poll says nothing before a notification, POLLIN|POLLRDNORM while one waits
 *   to be received (select: readable, not writable), POLLOUT|POLLWRNORM while it waits for
 *   its reply, nothing after.
 * - pollhup_when_filter_unused: a thread installs a filter with a listener for itself and
 *   ends; the listener then reports POLLHUP (and not before).
 * - listener_closed_while_waiting: closing the listener while the target waits makes its
 *   getppid fail with ENOSYS, and the next one at once.
 * - signal_interrupts_wait: a signal with a handler (no SA_RESTART) ends the wait of a
 *   received notification with EINTR; its id is gone.
 * - signal_restarts_wait: with SA_RESTART the call is posted again after the handler and
 *   the reply reaches it.
 * - wait_killable_recv: with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, once received, a
 *   handled signal does not end the wait (its handler runs after the reply); SIGKILL does.
 * - tsync_esrch: TSYNC|TSYNC_ESRCH fails with ESRCH (not a thread id) when another thread
 *   has a filter the caller's is not built on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"
#include "seccomp_notif.h"

static pid_t sup_pid;
static int hpipe[2]; /* a target's signal handler reports here */

static void on_usr1(int sig)
{
	char c = 'h';
	if (write(hpipe[1], &c, 1) != 1)
		_exit(90);
}

static void handle_usr1(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, NULL);
}

/* ---- target bodies ---- */

static int t_expect_4242(void)
{
	return syscall(SYS_getppid, 11, 22, 33, 44, 55, 66) == 4242 ? 0 : 1;
}

static int t_expect_eperm(void)
{
	return fails_with(syscall(SYS_getppid), EPERM) ? 0 : 1;
}

static int t_expect_1_then_2(void)
{
	long a = syscall(SYS_getppid);
	long b = syscall(SYS_getppid);
	return a == 1 && b == 2 ? 0 : 1;
}

static int t_expect_real_ppid(void)
{
	return syscall(SYS_getppid) == sup_pid ? 0 : 1;
}

static int t_wait_forever(void)
{
	syscall(SYS_getppid);
	return 50;
}

static int t_addfd(void)
{
	long fd = syscall(SYS_getppid);
	if (fd < 0)
		return 1;
	if (write(fd, "a", 1) != 1 || write(42, "b", 1) != 1)
		return 2;
	if (fcntl(fd, F_GETFD) != 0 || fcntl(42, F_GETFD) != FD_CLOEXEC)
		return 3;
	return 0;
}

static int t_addfd_send(void)
{
	long fd = syscall(SYS_getppid);
	if (fd < 0 || fd > 100 || write(fd, "c", 1) != 1)
		return 101;
	return fd;
}

static int t_expect_0(void)
{
	return syscall(SYS_getppid) == 0 ? 0 : 1;
}

static int t_expect_3(void)
{
	return syscall(SYS_getppid) == 3 ? 0 : 1;
}

static int t_expect_enosys_twice(void)
{
	int a = fails_with(syscall(SYS_getppid), ENOSYS);
	int b = fails_with(syscall(SYS_getppid), ENOSYS);
	return a && b ? 0 : 1;
}

static int t_eintr(void)
{
	handle_usr1(0);
	return fails_with(syscall(SYS_getppid), EINTR) ? 0 : 1;
}

static int t_restart(void)
{
	handle_usr1(1);
	return syscall(SYS_getppid) == 9 ? 0 : 1;
}

static int t_killable(void)
{
	handle_usr1(0);
	return syscall(SYS_getppid) == 5 ? 0 : 1;
}

/* ---- cases (supervisors) ---- */

static int c_sizes(void)
{
	struct seccomp_notif_sizes s = {0, 0, 0};
	STEP(1, syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) == 0);
	STEP(2, s.seccomp_notif == 80 && s.seccomp_notif_resp == 24 && s.seccomp_data == 64);
	STEP(3, fails_with(syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 1, &s), EINVAL));
	STEP(4, fails_with(syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, (void *)8), EFAULT));
	return 0;
}

static int c_action_avail(void)
{
	uint32_t a = SECCOMP_RET_USER_NOTIF;
	STEP(1, syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &a) == 0);
	return 0;
}

static int c_listener_fd(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	STEP(2, fcntl(l, F_GETFD) == FD_CLOEXEC);
	char b;
	STEP(3, fails_with(read(l, &b, 1), EINVAL));
	STEP(4, fails_with(xioctl(l, 0x1234, &b), EINVAL));
	return 0;
}

static int c_flag_rules(void)
{
	STEP(1, fails_with(install_notify(FLAG_TSYNC | FLAG_NEW_LISTENER), EINVAL));
	STEP(2, fails_with(install_notify(FLAG_WAIT_KILLABLE_RECV), EINVAL));
	STEP(3, fails_with(install_allow(64), EINVAL));
	STEP(4, install_allow(FLAG_LOG) == 0);
	STEP(5, install_allow(FLAG_SPEC_ALLOW) == 0);
	STEP(6, install_notify(FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH) >= 0);
	return 0;
}

static int c_second_listener(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	STEP(2, fails_with(install_notify(FLAG_NEW_LISTENER), EBUSY));
	STEP(3, install_allow(0) == 0);
	close(l);
	STEP(4, install_notify(FLAG_NEW_LISTENER) >= 0);
	return 0;
}

static int c_recv_zeroed(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	/* With a notification waiting, so that only the check can make RECV fail. */
	pid_t t = spawn_target(l, -1, t_expect_0);
	STEP(2, poll_one(l, POLLIN, 10000) == POLLIN);
	struct seccomp_notif n;
	memset(&n, 0, sizeof n);
	n.data.args[5] = 1;
	STEP(3, fails_with(xioctl(l, NOTIF_RECV, &n), EINVAL));
	STEP(4, fails_with(xioctl(l, NOTIF_RECV, (void *)8), EFAULT));
	STEP(5, recv_notif(l, &n) == 0);
	STEP(6, send_resp(l, n.id, 0, 0, 0) == 0);
	STEP(7, exited_with(t, 0));
	return 0;
}

static int c_recv_send_value(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	pid_t t = spawn_target(l, -1, t_expect_4242);
	struct seccomp_notif n;
	STEP(2, recv_notif(l, &n) == 0);
	STEP(3, n.pid == (uint32_t)t && n.flags == 0);
	STEP(4, n.data.nr == SYS_getppid && n.data.arch == AUDIT_ARCH_X86_64 && n.data.instruction_pointer != 0);
	STEP(5, n.data.args[0] == 11 && n.data.args[1] == 22 && n.data.args[2] == 33 && n.data.args[3] == 44 &&
			n.data.args[4] == 55 && n.data.args[5] == 66);
	STEP(6, id_valid(l, n.id) == 0);
	STEP(7, send_resp(l, n.id, 4242, 0, 0) == 0);
	STEP(8, exited_with(t, 0));
	return 0;
}

static int c_send_error(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	pid_t t = spawn_target(l, -1, t_expect_eperm);
	struct seccomp_notif n;
	STEP(2, recv_notif(l, &n) == 0);
	STEP(3, fails_with(send_resp(l, n.id, 0, 0, 2), EINVAL));
	STEP(4, fails_with(send_resp(l, n.id, 1, 0, USER_NOTIF_FLAG_CONTINUE), EINVAL));
	STEP(5, fails_with(send_resp(l, n.id, 0, -EPERM, USER_NOTIF_FLAG_CONTINUE), EINVAL));
	STEP(6, fails_with(send_resp(l, n.id + 77, 0, -EPERM, 0), ENOENT));
	STEP(7, send_resp(l, n.id, 0, -EPERM, 0) == 0);
	STEP(8, exited_with(t, 0));
	return 0;
}

static int c_reply_only_when_received(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	int pp[2];
	STEP(2, pipe(pp) == 0);
	pid_t t = spawn_target(l, -1, t_expect_1_then_2);
	struct seccomp_notif n, m;
	STEP(3, recv_notif(l, &n) == 0);
	STEP(4, send_resp(l, n.id, 1, 0, 0) == 0);
	/* The second getppid, posted and not received. */
	STEP(5, poll_one(l, POLLIN, 10000) == POLLIN);
	STEP(6, fails_with(send_resp(l, n.id + 1, 2, 0, 0), EINPROGRESS));
	STEP(7, fails_with(addfd(l, n.id + 1, 0, pp[1], 0, 0), EINPROGRESS));
	STEP(8, fails_with(id_valid(l, n.id + 1), ENOENT));
	STEP(9, recv_notif(l, &m) == 0 && m.id == n.id + 1);
	STEP(10, send_resp(l, m.id, 2, 0, 0) == 0);
	long again = send_resp(l, m.id, 3, 0, 0);
	STEP(11, fails_with(again, EINPROGRESS) || fails_with(again, ENOENT));
	STEP(12, exited_with(t, 0));
	return 0;
}

static int c_continue(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	sup_pid = getpid();
	pid_t t = spawn_target(l, -1, t_expect_real_ppid);
	struct seccomp_notif n;
	STEP(2, recv_notif(l, &n) == 0);
	STEP(3, send_resp(l, n.id, 0, 0, USER_NOTIF_FLAG_CONTINUE) == 0);
	STEP(4, exited_with(t, 0));
	return 0;
}

static int c_id_valid_after_kill(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	pid_t t = spawn_target(l, -1, t_wait_forever);
	struct seccomp_notif n;
	STEP(2, recv_notif(l, &n) == 0);
	STEP(3, id_valid(l, n.id) == 0);
	kill(t, SIGKILL);
	STEP(4, ended_with(t, -SIGKILL));
	STEP(5, fails_with(id_valid(l, n.id), ENOENT));
	STEP(6, fails_with(send_resp(l, n.id, 0, 0, 0), ENOENT));
	return 0;
}

/* Reads everything from `fd` until end of file into `buf`. */
static size_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;
	while (got < len && (r = read(fd, buf + got, len - got)) > 0)
		got += r;
	return got;
}

static int c_addfd(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	int pp[2];
	STEP(2, pipe(pp) == 0);
	/* The target has neither end: only what ADDFD gives it. */
	pid_t t = fork();
	if (t == 0) {
		close(l);
		close(pp[0]);
		close(pp[1]);
		_exit(t_addfd());
	}
	struct seccomp_notif n;
	STEP(3, recv_notif(l, &n) == 0);
	long fd = addfd(l, n.id, 0, pp[1], 0, 0);
	STEP(4, fd >= 0 && fd != 42);
	STEP(5, addfd(l, n.id, ADDFD_FLAG_SETFD, pp[1], 42, O_CLOEXEC) == 42);
	STEP(6, send_resp(l, n.id, fd, 0, 0) == 0);
	close(pp[1]);
	char buf[8];
	STEP(7, read_all(pp[0], buf, sizeof buf) == 2 && memcmp(buf, "ab", 2) == 0);
	STEP(8, exited_with(t, 0));
	return 0;
}

static int c_addfd_send(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	int pp[2];
	STEP(2, pipe(pp) == 0);
	pid_t t = fork();
	if (t == 0) {
		close(l);
		close(pp[0]);
		close(pp[1]);
		_exit(t_addfd_send());
	}
	struct seccomp_notif n;
	STEP(3, recv_notif(l, &n) == 0);
	long fd = addfd(l, n.id, ADDFD_FLAG_SEND, pp[1], 0, 0);
	STEP(4, fd >= 0);
	close(pp[1]);
	char buf[8];
	STEP(5, read_all(pp[0], buf, sizeof buf) == 1 && buf[0] == 'c');
	STEP(6, exited_with(t, (int)fd));
	return 0;
}

static int c_addfd_bad(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	pid_t t = spawn_target(l, -1, t_expect_0);
	struct seccomp_notif n;
	STEP(2, recv_notif(l, &n) == 0);
	STEP(3, fails_with(addfd(l, n.id, 4, 1, 0, 0), EINVAL));
	STEP(4, fails_with(addfd(l, n.id, 0, 1, 5, 0), EINVAL));
	STEP(5, fails_with(addfd(l, n.id, 0, 1, 0, O_NONBLOCK), EINVAL));
	STEP(6, fails_with(addfd(l, n.id, 0, 999, 0, 0), EBADF));
	STEP(7, fails_with(addfd(l, n.id + 1000, 0, 1, 0, 0), ENOENT));
	struct {
		struct seccomp_notif_addfd a;
		uint64_t more;
	} big = {{n.id, 0, 1, 0, 0}, 1};
	STEP(8, fails_with(xioctl(l, IOC(1, 3, sizeof big), &big), E2BIG));
	STEP(9, fails_with(xioctl(l, IOC(1, 3, 16), &big), EINVAL));
	STEP(10, fails_with(addfd(l, n.id, ADDFD_FLAG_SETFD, 1, 0x7fffffff, 0), EBADF));
	STEP(11, send_resp(l, n.id, 0, 0, 0) == 0);
	STEP(12, exited_with(t, 0));
	return 0;
}

static int c_poll(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	short all = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
	STEP(2, poll_one(l, all, 0) == 0);
	pid_t t = spawn_target(l, -1, t_expect_3);
	STEP(3, poll_one(l, all, 10000) == (POLLIN | POLLRDNORM));
	fd_set r, w;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(l, &r);
	FD_SET(l, &w);
	struct timeval tv = {0, 0};
	STEP(4, select(l + 1, &r, &w, NULL, &tv) == 1 && FD_ISSET(l, &r) && !FD_ISSET(l, &w));
	struct seccomp_notif n;
	STEP(5, recv_notif(l, &n) == 0);
	STEP(6, poll_one(l, all, 0) == (POLLOUT | POLLWRNORM));
	STEP(7, send_resp(l, n.id, 3, 0, 0) == 0);
	STEP(8, exited_with(t, 0));
	STEP(9, poll_one(l, all, 0) == 0);
	return 0;
}

static int hup_fd = -1;
static int hup_ready[2], hup_go[2]; /* thread -> main, main -> thread */

static void *hup_thread(void *arg)
{
	hup_fd = install_notify(FLAG_NEW_LISTENER);
	char c = 'i';
	if (write(hup_ready[1], &c, 1) != 1 || read(hup_go[0], &c, 1) != 1)
		hup_fd = -2;
	return NULL;
}

static int c_pollhup(void)
{
	pthread_t th;
	STEP(1, pipe(hup_ready) == 0 && pipe(hup_go) == 0);
	STEP(2, pthread_create(&th, NULL, hup_thread, NULL) == 0);
	char c;
	STEP(3, read(hup_ready[0], &c, 1) == 1 && hup_fd >= 0);
	int l = hup_fd;
	/* The thread lives: no hang-up yet. */
	STEP(4, poll_one(l, POLLIN, 0) == 0);
	STEP(5, write(hup_go[1], &c, 1) == 1);
	pthread_join(th, NULL);
	STEP(6, poll_one(l, POLLIN, 10000) == POLLHUP);
	return 0;
}

static int c_listener_closed(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	pid_t t = spawn_target(l, -1, t_expect_enosys_twice);
	struct seccomp_notif n;
	STEP(2, recv_notif(l, &n) == 0);
	close(l);
	STEP(3, exited_with(t, 0));
	return 0;
}

static int c_signal_eintr(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	STEP(2, pipe(hpipe) == 0);
	pid_t t = spawn_target(l, -1, t_eintr);
	struct seccomp_notif n;
	STEP(3, recv_notif(l, &n) == 0);
	kill(t, SIGUSR1);
	STEP(4, exited_with(t, 0));
	STEP(5, fails_with(id_valid(l, n.id), ENOENT));
	return 0;
}

static int c_signal_restart(void)
{
	int l = install_notify(FLAG_NEW_LISTENER);
	STEP(1, l >= 0);
	STEP(2, pipe(hpipe) == 0);
	pid_t t = spawn_target(l, -1, t_restart);
	STEP(3, poll_one(l, POLLIN, 10000) == POLLIN);
	kill(t, SIGUSR1);
	char c;
	STEP(4, read(hpipe[0], &c, 1) == 1);
	/* Linux counts the interrupted notification for RECV too: the first RECV may find it
	 * gone (ENOENT) before the restarted call posts again. */
	struct seccomp_notif n;
	int r, tries = 0;
	while ((r = recv_notif(l, &n)) != 0 && errno == ENOENT && ++tries < 5)
		;
	STEP(5, r == 0);
	STEP(6, send_resp(l, n.id, 9, 0, 0) == 0);
	STEP(7, exited_with(t, 0));
	return 0;
}

static int c_killable(void)
{
	int l = install_notify(FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV);
	STEP(1, l >= 0);
	STEP(2, pipe2(hpipe, O_NONBLOCK) == 0);
	pid_t t = spawn_target(l, -1, t_killable);
	struct seccomp_notif n;
	STEP(3, recv_notif(l, &n) == 0);
	kill(t, SIGUSR1);
	sleep_ms(200);
	char c;
	STEP(4, fails_with(read(hpipe[0], &c, 1), EAGAIN));
	STEP(5, id_valid(l, n.id) == 0);
	STEP(6, send_resp(l, n.id, 5, 0, 0) == 0);
	STEP(7, exited_with(t, 0));
	STEP(8, read(hpipe[0], &c, 1) == 1);
	t = spawn_target(l, -1, t_wait_forever);
	STEP(9, recv_notif(l, &n) == 0);
	kill(t, SIGKILL);
	STEP(10, ended_with(t, -SIGKILL));
	return 0;
}

static int esrch_ready[2], esrch_go[2]; /* thread -> main, main -> thread */

static void *esrch_thread(void *arg)
{
	char c = 'i';
	if (install_allow(0) != 0 || write(esrch_ready[1], &c, 1) != 1)
		return NULL;
	/* Blocked here while the main thread tries TSYNC. */
	if (read(esrch_go[0], &c, 1) != 1)
		return NULL;
	return NULL;
}

static int c_tsync_esrch(void)
{
	pthread_t th;
	STEP(1, pipe(esrch_ready) == 0 && pipe(esrch_go) == 0);
	STEP(2, pthread_create(&th, NULL, esrch_thread, NULL) == 0);
	char c;
	STEP(3, read(esrch_ready[0], &c, 1) == 1);
	STEP(4, fails_with(install_allow(FLAG_TSYNC | FLAG_TSYNC_ESRCH), ESRCH));
	STEP(5, install_allow(FLAG_TSYNC) > 0);
	STEP(6, write(esrch_go[1], &c, 1) == 1);
	pthread_join(th, NULL);
	return 0;
}

/* Whether the kernel takes SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (probed in a child). */
static int killable_recv_known(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(install_notify(FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV) >= 0 ? 0 : 1);
	return exited_with(pid, 0);
}

/* Runs case `body` in a child supervisor; the result is ok when it exits 0. */
static void check_case(const char *name, int (*body)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20);
		_exit(body());
	}
	int st = -1;
	waitpid(pid, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, name, "step %d failed (status 0x%x, %s)",
		   WIFEXITED(st) ? WEXITSTATUS(st) : -1, st,
		   WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
}

int main(void)
{
	/* Filters need no_new_privs (or CAP_SYS_ADMIN): set it, so that the program runs the
	 * same unprivileged. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	ktap_plan(21);
	check_case("get_notif_sizes", c_sizes);
	check_case("action_avail_user_notif", c_action_avail);
	check_case("listener_fd", c_listener_fd);
	check_case("listener_flag_rules", c_flag_rules);
	check_case("second_listener_ebusy", c_second_listener);
	check_case("recv_needs_zeroed_struct", c_recv_zeroed);
	check_case("recv_send_value", c_recv_send_value);
	check_case("send_error_and_bad_replies", c_send_error);
	check_case("reply_only_when_received", c_reply_only_when_received);
	check_case("continue_runs_syscall", c_continue);
	check_case("id_valid_after_target_killed", c_id_valid_after_kill);
	check_case("addfd", c_addfd);
	check_case("addfd_send", c_addfd_send);
	check_case("addfd_bad_requests", c_addfd_bad);
	check_case("poll_listener", c_poll);
	check_case("pollhup_when_filter_unused", c_pollhup);
	check_case("listener_closed_while_waiting", c_listener_closed);
	check_case("signal_interrupts_wait", c_signal_eintr);
	check_case("signal_restarts_wait", c_signal_restart);
	/* Linux before 5.19 refuses the flag: say so rather than fail. */
	if (killable_recv_known())
		check_case("wait_killable_recv", c_killable);
	else
		ktap_skip("wait_killable_recv",
			  "this kernel refuses SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux < 5.19)");
	check_case("tsync_esrch", c_tsync_esrch);
	return ktap_finish();
}
