/* The seccomp user-notification interface for seccomp_notif.c: <linux/seccomp.h> and
 * <linux/filter.h> (which musl-gcc cannot see), and the listener helpers its cases share.
 * Included by seccomp_notif.c only (static functions).
 */
#ifndef SECCOMP_NOTIF_H
#define SECCOMP_NOTIF_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp_abi.h"

#define FLAG_TSYNC 1u
#define FLAG_LOG 2u
#define FLAG_SPEC_ALLOW 4u
#define FLAG_NEW_LISTENER 8u
#define FLAG_TSYNC_ESRCH 16u
#define FLAG_WAIT_KILLABLE_RECV 32u
#define USER_NOTIF_FLAG_CONTINUE 1u
#define ADDFD_FLAG_SETFD 1u
#define ADDFD_FLAG_SEND 2u

struct seccomp_notif {
	uint64_t id;
	uint32_t pid;
	uint32_t flags;
	struct seccomp_data data;
};
struct seccomp_notif_resp {
	uint64_t id;
	int64_t val;
	int32_t error;
	uint32_t flags;
};
struct seccomp_notif_sizes {
	uint16_t seccomp_notif, seccomp_notif_resp, seccomp_data;
};
struct seccomp_notif_addfd {
	uint64_t id;
	uint32_t flags, srcfd, newfd, newfd_flags;
};
#define IOC(dir, nr, size) (((unsigned long)(dir) << 30) | ((unsigned long)(size) << 16) | ('!' << 8) | (nr))
#define NOTIF_RECV IOC(3, 0, sizeof(struct seccomp_notif))
#define NOTIF_SEND IOC(3, 1, sizeof(struct seccomp_notif_resp))
#define NOTIF_ID_VALID IOC(1, 2, sizeof(uint64_t))
#define NOTIF_ADDFD IOC(1, 3, sizeof(struct seccomp_notif_addfd))

#define LD_ABS 0x20
#define JEQ_K 0x15
#define RET_K 0x06
#define STMT(c, k) ((struct sock_filter){(c), 0, 0, (k)})
#define JUMP(c, k, t, f) ((struct sock_filter){(c), (t), (f), (k)})

/* A failed step: the supervisor exits with its number. */
#define STEP(n, cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return (n);                                                                \
	} while (0)

static long xioctl(int fd, unsigned long req, void *arg)
{
	return syscall(SYS_ioctl, fd, req, arg);
}

static long install(struct sock_filter *f, unsigned short len, unsigned flags)
{
	struct sock_fprog prog = {len, f};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* getppid -> USER_NOTIF, everything else ALLOW; with NEW_LISTENER: the listener. */
static long install_notify(unsigned flags)
{
	struct sock_filter f[] = {
		STMT(LD_ABS, 0),
		JUMP(JEQ_K, SYS_getppid, 0, 1),
		STMT(RET_K, SECCOMP_RET_USER_NOTIF),
		STMT(RET_K, SECCOMP_RET_ALLOW),
	};
	return install(f, 4, flags);
}

static long install_allow(unsigned flags)
{
	struct sock_filter f = STMT(RET_K, SECCOMP_RET_ALLOW);
	return install(&f, 1, flags);
}

static int recv_notif(int l, struct seccomp_notif *n)
{
	memset(n, 0, sizeof *n);
	return xioctl(l, NOTIF_RECV, n);
}

static int send_resp(int l, uint64_t id, int64_t val, int32_t error, uint32_t flags)
{
	struct seccomp_notif_resp r = {id, val, error, flags};
	return xioctl(l, NOTIF_SEND, &r);
}

static int id_valid(int l, uint64_t id)
{
	return xioctl(l, NOTIF_ID_VALID, &id);
}

static long addfd(int l, uint64_t id, uint32_t flags, uint32_t srcfd, uint32_t newfd, uint32_t newfd_flags)
{
	struct seccomp_notif_addfd a = {id, flags, srcfd, newfd, newfd_flags};
	return xioctl(l, NOTIF_ADDFD, &a);
}

static int fails_with(long r, int e)
{
	return r == -1 && errno == e;
}

/* The target: a child that drops its copy of the listener (and `also`, if not -1) and runs
 * `body`, exiting with what it returns. */
static pid_t spawn_target(int l, int also, int (*body)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		close(l);
		if (also >= 0)
			close(also);
		_exit(body());
	}
	return pid;
}

/* Whether child `pid` ended with `code` (a signal: -signal), saying how it ended if not. */
static int ended_with(pid_t pid, int code)
{
	int st = 0;
	pid_t w = waitpid(pid, &st, 0);
	int ok = w == pid && (code >= 0 ? WIFEXITED(st) && WEXITSTATUS(st) == code
				     : WIFSIGNALED(st) && WTERMSIG(st) == -code);
	if (!ok) {
		printf("# target %d: waitpid %d, status %#x\n", (int)pid, (int)w, st);
		fflush(stdout);
	}
	return ok;
}

static int exited_with(pid_t pid, int code)
{
	return ended_with(pid, code);
}

static short poll_one(int fd, short events, int ms)
{
	struct pollfd p = {fd, events, 0};
	return poll(&p, 1, ms) < 0 ? -1 : p.revents;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000};
	nanosleep(&ts, NULL);
}

#endif
