/* The i386 16-bit uid and gid calls (gcc -m32 -static, glibc; issue 12), each group in a
 * child so that the ids it changes stay there:
 * - 0xffff as -1 leaves an id alone, in every slot and whatever the register's high bits
 *   (only the low 16 count: 0x10bb8 is 3000);
 * - an id above 65535 reads back as 65534 through the 16-bit calls and whole through the
 *   32-bit ones (getresgid32, setresuid32);
 * - setregid moving the saved gid, setfsgid returning the old fs gid;
 * - the permission rules once the effective uid is not 0 (EPERM), and the capabilities back
 *   with the saved root;
 * - the 16-bit group list (sorted, EINVAL for a short buffer and for 0xffff, 65534 for a
 *   32-bit group past 16 bits, EPERM without the capability);
 * - chown16/lchown16/fchown16 keeping the owner given as 0xffff;
 * - SO_PEERCRED reporting the effective ids and SCM_CREDENTIALS the real ones.
 *
 * Every expected value is an id the program set. Needs root (SKIP otherwise, a capability
 * probe); runs natively on Linux with the same results.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The i386 id calls: the 16-bit ones and their 32-bit twins. */
#define NR_CHOWN16 182
#define NR_LCHOWN16 16
#define NR_FCHOWN16 95
#define NR_SETUID16 23
#define NR_GETUID16 24
#define NR_SETGID16 46
#define NR_GETGID16 47
#define NR_GETEUID16 49
#define NR_GETEGID16 50
#define NR_SETREGID16 71
#define NR_GETGROUPS16 80
#define NR_SETGROUPS16 81
#define NR_SETFSUID16 138
#define NR_SETFSGID16 139
#define NR_SETRESUID16 164
#define NR_GETRESUID16 165
#define NR_SETRESGID16 170
#define NR_GETRESGID16 171
#define NR_FCHOWN32 207
#define NR_SETRESUID32 208
#define NR_GETRESUID32 209
#define NR_SETRESGID32 210
#define NR_GETRESGID32 211
#define NR_SETGROUPS32 206

/* Each step of a child's checks: on failure the child exits with the step's number. */
#define STEP(n, cond)                                                                             \
	do {                                                                                      \
		if (!(cond))                                                                      \
			_exit(n);                                                                 \
	} while (0)

/* Runs `fn` in a child (ids changed there stay there): its exit status, or -1. */
static int in_child(void (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int res16(long nr, uint16_t v[3])
{
	v[0] = v[1] = v[2] = 0x5a5a;
	return syscall(nr, &v[0], &v[1], &v[2]);
}

static int res32(long nr, uint32_t v[3])
{
	return syscall(nr, &v[0], &v[1], &v[2]);
}

static void gids16(void)
{
	uint16_t g[3];
	uint32_t G[3];
	/* 0xffff is -1: nothing changes. */
	STEP(1, syscall(NR_SETRESGID16, 0xffff, 0xffff, 0xffff) == 0);
	STEP(2, res32(NR_GETRESGID32, G) == 0 && G[0] == 0 && G[1] == 0 && G[2] == 0);
	/* 70000 does not fit: 65534 in 16 bits, whole in 32. */
	STEP(3, syscall(NR_SETRESGID32, 1000, 70000, 0) == 0);
	STEP(4, res16(NR_GETRESGID16, g) == 0 && g[0] == 1000 && g[1] == 65534 && g[2] == 0);
	STEP(5, syscall(NR_GETEGID16) == 65534 && syscall(NR_GETGID16) == 1000);
	STEP(6, res32(NR_GETRESGID32, G) == 0 && G[0] == 1000 && G[1] == 70000 && G[2] == 0);
	/* setregid: a new effective gid other than the real one moves the saved one. */
	STEP(7, syscall(NR_SETREGID16, 0xffff, 2000) == 0);
	STEP(8, res32(NR_GETRESGID32, G) == 0 && G[0] == 1000 && G[1] == 2000 && G[2] == 2000);
	/* Only the low 16 bits of the register count: 0x10bb8 is 3000. */
	STEP(9, syscall(NR_SETGID16, 0x10000 | 3000) == 0);
	STEP(10, res32(NR_GETRESGID32, G) == 0 && G[0] == 3000 && G[1] == 3000 && G[2] == 3000);
	/* setfsgid returns the old fs gid; -1 changes nothing. */
	STEP(11, syscall(NR_SETFSGID16, 0xffff) == 3000);
	STEP(12, syscall(NR_SETFSGID16, 42) == 3000);
	STEP(13, syscall(NR_SETFSGID16, 0xffff) == 42);
}

static void uids16(void)
{
	uint16_t u[3];
	STEP(1, syscall(NR_GETUID16) == 0 && syscall(NR_GETEUID16) == 0);
	STEP(2, syscall(NR_SETRESUID16, 1000, 0xffff, 0xffff) == 0);
	STEP(3, res16(NR_GETRESUID16, u) == 0 && u[0] == 1000 && u[1] == 0 && u[2] == 0);
	/* An effective uid that does not fit, and is not root: no capability left. */
	STEP(4, syscall(NR_SETRESUID32, -1, 70000, -1) == 0);
	STEP(5, syscall(NR_GETEUID16) == 65534 && syscall(NR_GETUID16) == 1000);
	STEP(6, res16(NR_GETRESUID16, u) == 0 && u[0] == 1000 && u[1] == 65534 && u[2] == 0);
	errno = 0;
	STEP(7, syscall(NR_SETUID16, 5) == -1 && errno == EPERM);
	errno = 0;
	STEP(8, syscall(NR_SETGID16, 1) == -1 && errno == EPERM);
	/* Without the capability: the real uid, and back to the saved root. */
	STEP(9, syscall(NR_SETRESUID16, 0xffff, 1000, 0xffff) == 0 && syscall(NR_GETEUID16) == 1000);
	STEP(10, syscall(NR_SETRESUID16, 0xffff, 0, 0xffff) == 0 && syscall(NR_GETEUID16) == 0);
	/* Root again: the capabilities came back with the effective uid. */
	STEP(11, syscall(NR_SETGID16, 1) == 0 && syscall(NR_GETGID16) == 1);
	STEP(12, syscall(NR_SETFSUID16, 77) == 0 && syscall(NR_SETFSUID16, 0xffff) == 77);
	/* 0xffff reads as -1 in every slot of setresuid too. */
	STEP(13, syscall(NR_SETRESUID32, 0, 0, 0) == 0);
	STEP(14, syscall(NR_SETRESUID16, 0x1ffff, 0xffff, 0xffff) == 0);
	STEP(15, res16(NR_GETRESUID16, u) == 0 && u[0] == 0 && u[1] == 0 && u[2] == 0);
}

static void groups16(void)
{
	uint16_t set[3] = { 5, 3, 0xfffe }, got[4] = { 0 };
	STEP(1, syscall(NR_SETGROUPS16, 3, set) == 0);
	STEP(2, syscall(NR_GETGROUPS16, 0, NULL) == 3);
	/* Sorted, as Linux keeps them. */
	STEP(3, syscall(NR_GETGROUPS16, 4, got) == 3 && got[0] == 3 && got[1] == 5 &&
			got[2] == 0xfffe && got[3] == 0);
	errno = 0;
	STEP(4, syscall(NR_GETGROUPS16, 2, got) == -1 && errno == EINVAL);
	uint16_t bad = 0xffff;
	errno = 0;
	STEP(5, syscall(NR_SETGROUPS16, 1, &bad) == -1 && errno == EINVAL);
	errno = 0;
	STEP(6, syscall(NR_GETGROUPS16, -1, got) == -1 && errno == EINVAL);
	uint32_t wide[2] = { 70000, 7 };
	STEP(7, syscall(NR_SETGROUPS32, 2, wide) == 0);
	STEP(8, syscall(NR_GETGROUPS16, 4, got) == 2 && got[0] == 7 && got[1] == 65534);
	STEP(9, syscall(NR_SETGROUPS16, 0, NULL) == 0 && syscall(NR_GETGROUPS16, 0, NULL) == 0);
	/* Without the capability: EPERM. */
	STEP(10, syscall(NR_SETRESUID32, 1, 1, 1) == 0);
	errno = 0;
	STEP(11, syscall(NR_SETGROUPS16, 1, set) == -1 && errno == EPERM);
}

static int owner(const char *path, uid_t u, gid_t g)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_uid == u && st.st_gid == g;
}

static void chowns16(void)
{
	const char *path = "/tmp/ia32_net_chown";
	unlink(path);
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	STEP(1, fd >= 0);
	STEP(2, syscall(NR_FCHOWN32, fd, 1234, 5678) == 0 && owner(path, 1234, 5678));
	/* 0xffff keeps an owner. */
	STEP(3, syscall(NR_CHOWN16, path, 0xffff, 42) == 0 && owner(path, 1234, 42));
	STEP(4, syscall(NR_LCHOWN16, path, 99, 0xffff) == 0 && owner(path, 99, 42));
	STEP(5, syscall(NR_FCHOWN16, fd, 0xffff, 0xffff) == 0 && owner(path, 99, 42));
	STEP(6, syscall(NR_FCHOWN16, fd, 0xfffe, 0x10007) == 0 && owner(path, 0xfffe, 7));
	close(fd);
	unlink(path);
}

/* What sockets report: SO_PEERCRED the effective ids (Linux's cred_to_ucred), the automatic
 * SCM_CREDENTIALS the real ones (scm_set_cred). */
static void socket_creds(void)
{
	STEP(1, syscall(NR_SETRESGID32, 3000, 4000, 0) == 0);
	STEP(2, syscall(NR_SETRESUID32, 1000, 2000, 0) == 0);
	int sv[2];
	STEP(3, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	struct ucred pc = { 0 };
	socklen_t pl = sizeof(pc);
	STEP(4, getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &pc, &pl) == 0);
	STEP(5, pc.pid == getpid() && pc.uid == 2000 && pc.gid == 4000);
	int one = 1;
	STEP(6, setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
	STEP(7, send(sv[0], "x", 1, 0) == 1);
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	STEP(8, recvmsg(sv[1], &m, 0) == 1);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	STEP(9, cm && cm->cmsg_type == SCM_CREDENTIALS);
	struct ucred rc;
	memcpy(&rc, CMSG_DATA(cm), sizeof(rc));
	STEP(10, rc.pid == getpid() && rc.uid == 1000 && rc.gid == 3000);
}

static void case_ids(void (*fn)(void), const char *n)
{
	if (geteuid() != 0) {
		ktap_skip(n, "needs root (CAP_SETUID, CAP_SETGID, CAP_CHOWN)");
		return;
	}
	int st = in_child(fn);
	KTAP_CHECK(st == 0, n, "child stopped at step %d", st);
}

int main(void)
{
	ktap_plan(5);
	case_ids(gids16, "uid16_gids");
	case_ids(uids16, "uid16_uids");
	case_ids(groups16, "uid16_groups");
	case_ids(chowns16, "uid16_chown");
	case_ids(socket_creds, "socket_creds_follow_ids");
	return ktap_finish();
}
