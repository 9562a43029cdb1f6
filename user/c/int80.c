/* int80: `int $0x80` from a 64-bit program, Linux's i386 system call ABI since 4.17.
 *
 * - int80_regs_preserved: getpid (20) with every general register loaded with a distinct
 *   64-bit pattern (high halves too, EAX's included): RAX is the pid, every other register
 *   (R8-R11 as well) comes back as it went in.
 * - int80_error_sign_extended: close(-1) returns -EBADF in all 64 bits of RAX.
 * - int80_unknown_enosys: numbers past the i386 table (1000, 9999, 0x40000014) and -1 return
 *   -ENOSYS (all 64 bits), registers preserved.
 * - int80_args_truncated: write(fd, buf, 3) and kill(pid, 0) with garbage in the high halves
 *   of EBX, ECX, EDX: the call sees the low 32 bits only.
 * - int80_read_eintr: a blocking int80 read of an empty pipe, interrupted by SIGALRM whose
 *   handler has no SA_RESTART: -EINTR, the handler ran once.
 * - int80_read_restart: the same with SA_RESTART, the handler writing one byte into the pipe:
 *   the read is restarted (it backs up over `int $0x80` with the i386 number) and returns
 *   that byte.
 * - int80_nanosleep_time32: i386 nanosleep (162) reads an old_timespec32: 30 ms sleeps at
 *   least 30 ms; nanoseconds of 1 s and negative seconds are EINVAL; a 1 s sleep interrupted
 *   by a handler is -EINTR with the time left written as an old_timespec32 (0 s and more
 *   than 0.5 s in nanoseconds, the 8 bytes after it untouched).
 * - int80_seccomp_i386: a filter that answers only for arch AUDIT_ARCH_I386: i386 getpid
 *   gets ERRNO(77) while the 64-bit getpid runs; i386 kill with RBX 0xffffffff_deadbeef gets
 *   ERRNO(78) when the filter's args[0] is RBX whole (Linux's seccomp_data holds the 64-bit
 *   registers; 79 if it saw EBX zero-extended, none if it saw another register); i386 gettid
 *   runs.
 * - int80_seccomp_user_notif: a filter sends i386 getpid to a listener (USER_NOTIF); the
 *   supervisor receives it with arch AUDIT_ARCH_I386, nr 20 and args[0] RBX, answers 4321,
 *   and the int80 returns 4321 with the registers preserved (the call waits for the answer
 *   in its entry, interrupts on).
 * - int80_ptrace_stops: PTRACE_SYSCALL stops (TRACESYSGOOD) on an int80 getpid: at entry
 *   orig_rax is 20, RAX -ENOSYS, PTRACE_GET_SYSCALL_INFO says AUDIT_ARCH_I386, nr 20 and
 *   args[0] RBX (all 64 bits, as Linux); at exit RAX is the pid.
 * - int80_restart_syscall_traced: an int80 clock_nanosleep_time64 (407) interrupted by
 *   SIGSTOP ends with -ERESTART_RESTARTBLOCK at its exit stop; with the signal cancelled, the
 *   call the tracer sees next is the i386 restart_syscall (0, not x86-64's 219), and the sleep
 *   ends with 0.
 *
 * Buffers the calls read or write come from a MAP_32BIT mapping: an i386 pointer has 32 bits.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include "seccomp_abi.h"
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_ARCH_I386 0x40000003u
#define NR32_RESTART_SYSCALL 0
#define NR32_READ 3
#define NR32_WRITE 4
#define NR32_CLOSE 6
#define NR32_GETPID 20
#define NR32_NANOSLEEP 162
#define NR32_KILL 37
#define NR32_GETTID 224
#define NR32_CLOCK_NANOSLEEP_TIME64 407
#define ERESTART_RESTARTBLOCK 516
#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif

/* The 15 general registers, in this order, before and after one `int $0x80`. */
struct r80 {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};

/* int80_full(in, out): loads every register from *in, executes `int $0x80`, stores every
 * register into *out. Saves and restores the callee-saved ones around it. */
void int80_full(const struct r80 *in, struct r80 *out);
__asm__(".text\n"
	".globl int80_full\n"
	".type int80_full, @function\n"
	"int80_full:\n"
	"push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
	"push %rsi\n"
	"mov 0(%rdi), %rax\n mov 8(%rdi), %rbx\n mov 16(%rdi), %rcx\n mov 24(%rdi), %rdx\n"
	"mov 32(%rdi), %rsi\n mov 48(%rdi), %rbp\n mov 56(%rdi), %r8\n mov 64(%rdi), %r9\n"
	"mov 72(%rdi), %r10\n mov 80(%rdi), %r11\n mov 88(%rdi), %r12\n mov 96(%rdi), %r13\n"
	"mov 104(%rdi), %r14\n mov 112(%rdi), %r15\n mov 40(%rdi), %rdi\n"
	"int $0x80\n"
	"push %rdi\n"
	"mov 8(%rsp), %rdi\n"
	"mov %rax, 0(%rdi)\n mov %rbx, 8(%rdi)\n mov %rcx, 16(%rdi)\n mov %rdx, 24(%rdi)\n"
	"mov %rsi, 32(%rdi)\n mov %rbp, 48(%rdi)\n mov %r8, 56(%rdi)\n mov %r9, 64(%rdi)\n"
	"mov %r10, 72(%rdi)\n mov %r11, 80(%rdi)\n mov %r12, 88(%rdi)\n mov %r13, 96(%rdi)\n"
	"mov %r14, 104(%rdi)\n mov %r15, 112(%rdi)\n"
	"pop %rax\n mov %rax, 40(%rdi)\n"
	"pop %rsi\n"
	"pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
	"ret\n"
	".size int80_full, . - int80_full\n");

static const char *const reg_names[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
					  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

/* int $0x80 with number `nr` and arguments a..f (64-bit values: the high halves are the
 * caller's garbage), every other register a pattern; returns RAX. *bad names the first
 * register (other than RAX) that did not come back, or is NULL. */
static long int80(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e,
		  uint64_t f, const char **bad)
{
	struct r80 in = {nr,
			 a,
			 b,
			 c,
			 d,
			 e,
			 f,
			 0x8888888808080808ull,
			 0x9999999909090909ull,
			 0xaaaaaaaa0a0a0a0aull,
			 0xbbbbbbbb0b0b0b0bull,
			 0xcccccccc0c0c0c0cull,
			 0xdddddddd0d0d0d0dull,
			 0xeeeeeeee0e0e0e0eull,
			 0xffffffff0f0f0f0full};
	/* in.rbx = a (arg 1), rcx = b, rdx = c, rsi = d, rdi = e, rbp = f. */
	struct r80 out;
	int80_full(&in, &out);
	const uint64_t *i = (const uint64_t *)&in, *o = (const uint64_t *)&out;
	*bad = NULL;
	for (int k = 1; k < 15; k++)
		if (i[k] != o[k]) {
			*bad = reg_names[k];
			break;
		}
	return (long)out.rax;
}

static char *low; /* a MAP_32BIT page: buffers i386 calls can address */

static void regs_preserved(void)
{
	const char *bad;
	long r = int80(0xffffffff00000000ull | NR32_GETPID, 0x1111111101010101ull,
		       0x2222222202020202ull, 0x3333333303030303ull, 0x4444444404040404ull,
		       0x5555555505050505ull, 0x6666666606060606ull, &bad);
	KTAP_CHECK(r == getpid() && !bad, "int80_regs_preserved", "rax %ld (pid %d), %s changed",
		   r, getpid(), bad ? bad : "nothing");
}

static void error_sign_extended(void)
{
	const char *bad;
	long r = int80(NR32_CLOSE, 0xffffffffull, 0, 0, 0, 0, 0, &bad);
	KTAP_CHECK((uint64_t)r == (uint64_t)-EBADF && !bad, "int80_error_sign_extended",
		   "rax %#lx, %s changed", r, bad ? bad : "nothing");
}

static void unknown_enosys(void)
{
	const uint64_t nrs[] = {1000, 9999, 0x40000000 | NR32_GETPID, 0xffffffffull};
	int ok = 1;
	for (unsigned k = 0; k < sizeof(nrs) / sizeof(nrs[0]); k++) {
		const char *bad;
		long r = int80(nrs[k], 1, 2, 3, 4, 5, 6, &bad);
		if ((uint64_t)r != (uint64_t)-ENOSYS || bad) {
			ktap_diag("int80_unknown_enosys", "nr %#llx: rax %#lx, %s changed",
				  (unsigned long long)nrs[k], r, bad ? bad : "nothing");
			ok = 0;
		}
	}
	ktap_result(ok, "int80_unknown_enosys");
}

static void args_truncated(void)
{
	int p[2];
	if (pipe(p) != 0) {
		ktap_result(0, "int80_args_truncated");
		return;
	}
	memcpy(low, "abc", 3);
	const char *bad, *bad2;
	long w = int80(NR32_WRITE, 0xdead000000000000ull | (unsigned)p[1],
		       0xabcd000000000000ull | (uint64_t)(uintptr_t)low, 0x1234567800000003ull, 0,
		       0, 0, &bad);
	char got[4] = {0};
	long n = read(p[0], got, 3);
	long k = int80(NR32_KILL, 0xffffffff00000000ull | (unsigned)getpid(),
		       0x7777777700000000ull, 0, 0, 0, 0, &bad2);
	KTAP_CHECK(w == 3 && n == 3 && !memcmp(got, "abc", 3) && k == 0 && !bad && !bad2,
		   "int80_args_truncated", "write %ld, read %ld '%.3s', kill %ld, changed %s/%s", w,
		   n, got, k, bad ? bad : "-", bad2 ? bad2 : "-");
	close(p[0]);
	close(p[1]);
}

static volatile int alarms;
static int alarm_pipe = -1;

static void on_alarm(int sig)
{
	alarms++;
	if (alarm_pipe >= 0 && write(alarm_pipe, "r", 1) != 1)
		alarms += 100;
}

/* A blocking int80 read of an empty pipe interrupted by SIGALRM after 50 ms; with `restart`
 * the handler (SA_RESTART) writes one byte. Returns the read's RAX; *byte what it read. */
static long read_interrupted(int restart, char *byte, const char **bad)
{
	int p[2];
	if (pipe(p) != 0)
		return -9999;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, 0);
	alarms = 0;
	alarm_pipe = restart ? p[1] : -1;
	low[100] = 0;
	struct itimerval it = {{0, 0}, {0, 50 * 1000}};
	setitimer(ITIMER_REAL, &it, 0);
	long r = int80(NR32_READ, (unsigned)p[0], (uint64_t)(uintptr_t)(low + 100), 1, 0, 0, 0,
		       bad);
	*byte = low[100];
	signal(SIGALRM, SIG_DFL);
	close(p[0]);
	close(p[1]);
	return r;
}

static void read_eintr(void)
{
	const char *bad;
	char b;
	long r = read_interrupted(0, &b, &bad);
	KTAP_CHECK(r == -EINTR && alarms == 1 && !bad, "int80_read_eintr",
		   "rax %ld, %d alarms, %s changed", r, alarms, bad ? bad : "nothing");
}

static void read_restart(void)
{
	const char *bad;
	char b;
	long r = read_interrupted(1, &b, &bad);
	KTAP_CHECK(r == 1 && b == 'r' && alarms == 1 && !bad, "int80_read_restart",
		   "rax %ld byte %#x, %d alarms, %s changed", r, b, alarms, bad ? bad : "nothing");
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void nanosleep_time32(void)
{
	int32_t *req = (int32_t *)(low + 300), *rem = (int32_t *)(low + 316);
	const char *bad = NULL, *bad2 = NULL, *bad3 = NULL, *bad4 = NULL;
	req[0] = 0;
	req[1] = 30 * 1000 * 1000;
	uint64_t t0 = mono_ns();
	long r = int80(NR32_NANOSLEEP, (uint64_t)(uintptr_t)req, 0, 0, 0, 0, 0, &bad);
	uint64_t slept = mono_ns() - t0;
	req[1] = 1000 * 1000 * 1000;
	long e1 = int80(NR32_NANOSLEEP, (uint64_t)(uintptr_t)req, 0, 0, 0, 0, 0, &bad2);
	req[0] = -1;
	req[1] = 0;
	long e2 = int80(NR32_NANOSLEEP, (uint64_t)(uintptr_t)req, 0, 0, 0, 0, 0, &bad3);
	/* Interrupted: the time left, as two 32-bit words; a sentinel after them. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, 0);
	alarms = 0;
	alarm_pipe = -1;
	req[0] = 1;
	req[1] = 0;
	rem[0] = rem[1] = -1;
	rem[2] = rem[3] = 0x5a5a5a5a;
	struct itimerval it = {{0, 0}, {0, 50 * 1000}};
	setitimer(ITIMER_REAL, &it, 0);
	long i = int80(NR32_NANOSLEEP, (uint64_t)(uintptr_t)req, (uint64_t)(uintptr_t)rem, 0, 0,
		       0, 0, &bad4);
	signal(SIGALRM, SIG_DFL);
	int ok = r == 0 && slept >= 30 * 1000 * 1000 && e1 == -EINVAL && e2 == -EINVAL &&
		 i == -EINTR && alarms == 1 && rem[0] == 0 && rem[1] > 500 * 1000 * 1000 &&
		 rem[1] < 1000 * 1000 * 1000 && rem[2] == 0x5a5a5a5a && rem[3] == 0x5a5a5a5a &&
		 !bad && !bad2 && !bad3 && !bad4;
	KTAP_CHECK(ok, "int80_nanosleep_time32",
		   "sleep %ld after %llu ns; EINVAL %ld %ld; interrupted %ld (%d alarms), rem %d %d "
		   "then %#x %#x; changed %s %s %s %s",
		   r, (unsigned long long)slept, e1, e2, i, alarms, rem[0], rem[1], rem[2], rem[3],
		   bad ? bad : "-", bad2 ? bad2 : "-", bad3 ? bad3 : "-", bad4 ? bad4 : "-");
}

/* The filter of int80_seccomp_i386 (offsets into seccomp_data: nr 0, arch 4, args[0] 16/20). */
static void seccomp_i386(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_filter f[] = {
			STMT(LD_ABS, 4),
			JUMP(JEQ_K, AUDIT_ARCH_I386, 0, 8), /* not i386: allow */
			STMT(LD_ABS, 0),
			JUMP(JEQ_K, NR32_GETPID, 0, 1),
			STMT(RET_K, SECCOMP_RET_ERRNO | 77),
			JUMP(JEQ_K, NR32_KILL, 0, 4), /* not kill: allow */
			STMT(LD_ABS, 16),
			JUMP(JEQ_K, 0xdeadbeef, 0, 2), /* another pid: allow */
			STMT(LD_ABS, 20),
			JUMP(JEQ_K, 0xffffffff, 1, 2),
			STMT(RET_K, SECCOMP_RET_ALLOW),
			STMT(RET_K, SECCOMP_RET_ERRNO | 78),
			STMT(RET_K, SECCOMP_RET_ERRNO | 79),
		};
		/* Jump targets above, from each jump: +1 skips one instruction. The "allow"
		 * branches land on the RET ALLOW at index 10. */
		struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
			_exit(10);
		const char *bad;
		if (int80(NR32_GETPID, 0, 0, 0, 0, 0, 0, &bad) != -77 || bad)
			_exit(11);
		if (syscall(SYS_getpid) != getpid())
			_exit(12);
		long k = int80(NR32_KILL, 0xffffffffdeadbeefull, 0, 0, 0, 0, 0, &bad);
		if (k != -78)
			_exit(k == -79 ? 13 : 14);
		if (int80(NR32_GETTID, 0, 0, 0, 0, 0, 0, &bad) != syscall(SYS_gettid))
			_exit(15);
		_exit(0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "int80_seccomp_i386",
		   "child status %#x", st);
}

/* The parts of the user-notification ABI used here (seccomp_notif.h has them all). */
struct notif {
	uint64_t id;
	uint32_t pid, flags;
	struct seccomp_data data;
};
struct notif_resp {
	uint64_t id;
	int64_t val;
	int32_t error;
	uint32_t flags;
};
#define NOTIF_IOC(nr, size) ((3ul << 30) | ((unsigned long)(size) << 16) | ('!' << 8) | (nr))
#define SECCOMP_FILTER_FLAG_NEW_LISTENER 8u

/* The supervisor (a child) and the target (its child, which inherits the filter). Returns
 * the supervisor's exit code: 0, or the step that went wrong. */
static int user_notif_supervisor(void)
{
	struct sock_filter f[] = {
		STMT(LD_ABS, 4),
		JUMP(JEQ_K, AUDIT_ARCH_I386, 0, 3),
		STMT(LD_ABS, 0),
		JUMP(JEQ_K, NR32_GETPID, 0, 1),
		STMT(RET_K, SECCOMP_RET_USER_NOTIF),
		STMT(RET_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 20;
	int fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			 &prog);
	if (fd < 0)
		return 21;
	pid_t target = fork();
	if (target == 0) {
		const char *bad;
		long r = int80(NR32_GETPID, 0xffffffff00000005ull, 0, 0, 0, 0, 0, &bad);
		_exit(r == 4321 && !bad ? 0 : 1);
	}
	/* A notification that never comes (the call not seen as i386) must not hang the test. */
	struct pollfd pfd = {fd, POLLIN, 0};
	if (poll(&pfd, 1, 3000) != 1) {
		kill(target, SIGKILL);
		waitpid(target, 0, 0);
		return 26;
	}
	struct notif n;
	memset(&n, 0, sizeof(n));
	if (syscall(SYS_ioctl, fd, NOTIF_IOC(0, sizeof(n)), &n) != 0)
		return 22;
	if (n.data.arch != AUDIT_ARCH_I386 || n.data.nr != NR32_GETPID ||
	    n.data.args[0] != 0xffffffff00000005ull || n.pid != (uint32_t)target)
		return 23;
	struct notif_resp resp = {n.id, 4321, 0, 0};
	if (syscall(SYS_ioctl, fd, NOTIF_IOC(1, sizeof(resp)), &resp) != 0)
		return 24;
	int st = -1;
	waitpid(target, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 25;
}

static void seccomp_user_notif(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(user_notif_supervisor());
	int st = -1;
	waitpid(pid, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "int80_seccomp_user_notif",
		   "supervisor status %#x", st);
}

/* struct ptrace_syscall_info, the part read here. */
struct syscall_info {
	uint8_t op;
	uint8_t pad[3];
	uint32_t arch;
	uint64_t ip, sp;
	uint64_t nr, args[6];
};

static int step(pid_t pid, int req, int sig)
{
	int st = -1;
	if (ptrace(req, pid, 0, sig) != 0)
		return -1;
	if (waitpid(pid, &st, __WALL) != pid)
		return -1;
	return st;
}

static pid_t start_traced(int (*body)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
			_exit(90);
		syscall(SYS_kill, getpid(), SIGSTOP);
		_exit(body());
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	/* Syscall stops say so (SIGTRAP | 0x80): PTRACE_GET_SYSCALL_INFO needs it. */
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD);
	return pid;
}

static int finish(pid_t pid)
{
	int st = step(pid, PTRACE_CONT, 0);
	while (st != -1 && WIFSTOPPED(st))
		st = step(pid, PTRACE_CONT, 0);
	return st;
}

static int body_getpid(void)
{
	const char *bad;
	long r = int80(NR32_GETPID, 0xffffffff00000007ull, 0, 0, 0, 0, 0, &bad);
	return r == getpid() && !bad ? 0 : 1;
}

static void ptrace_stops(void)
{
	pid_t pid = start_traced(body_getpid);
	if (pid < 0) {
		ktap_result(0, "int80_ptrace_stops");
		return;
	}
	struct user_regs_struct r;
	struct syscall_info si;
	memset(&si, 0xff, sizeof(si));
	int st = step(pid, PTRACE_SYSCALL, 0);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(si), &si);
	int ok = WIFSTOPPED(st) && r.orig_rax == NR32_GETPID && (long)r.rax == -ENOSYS &&
		 n > 0 && si.op == 1 && si.arch == AUDIT_ARCH_I386 && si.nr == NR32_GETPID &&
		 si.args[0] == 0xffffffff00000007ull;
	unsigned long long orig = r.orig_rax, arch = si.arch, a0 = si.args[0];
	int st2 = step(pid, PTRACE_SYSCALL, 0);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	ok &= WIFSTOPPED(st2) && (long)r.rax == pid;
	int end = finish(pid);
	ok &= WIFEXITED(end) && WEXITSTATUS(end) == 0;
	KTAP_CHECK(ok, "int80_ptrace_stops",
		   "st %#x orig_rax %llu arch %#llx args[0] %#llx; exit rax %lld; end %#x", st,
		   orig, arch, a0, (long long)r.rax, end);
}

static int body_sleep(void)
{
	struct {
		int64_t s, ns;
	} *t = (void *)(low + 200);
	t->s = 0;
	t->ns = 300 * 1000 * 1000;
	const char *bad;
	long r = int80(NR32_CLOCK_NANOSLEEP_TIME64, CLOCK_MONOTONIC, 0,
		       (uint64_t)(uintptr_t)t, 0, 0, 0, &bad);
	return r == 0 && !bad ? 0 : 1;
}

static void restart_syscall_traced(void)
{
	pid_t pid = start_traced(body_sleep);
	if (pid < 0) {
		ktap_result(0, "int80_restart_syscall_traced");
		return;
	}
	struct user_regs_struct r;
	struct syscall_info si;
	int st = step(pid, PTRACE_SYSCALL, 0);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	int ok = WIFSTOPPED(st) && r.orig_rax == NR32_CLOCK_NANOSLEEP_TIME64;
	ptrace(PTRACE_SYSCALL, pid, 0, 0);
	usleep(50 * 1000);
	kill(pid, SIGSTOP);
	int st2 = -1;
	waitpid(pid, &st2, 0); /* the exit stop of the interrupted sleep */
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	ok &= WIFSTOPPED(st2) && WSTOPSIG(st2) == (SIGTRAP | 0x80) &&
	      (long)r.rax == -ERESTART_RESTARTBLOCK;
	int st3 = step(pid, PTRACE_SYSCALL, 0); /* SIGSTOP's delivery stop */
	int st4 = step(pid, PTRACE_SYSCALL, 0); /* cancelled: the restart's entry */
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	memset(&si, 0xff, sizeof(si));
	ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(si), &si);
	ok &= WIFSTOPPED(st3) && WSTOPSIG(st3) == SIGSTOP && WIFSTOPPED(st4) &&
	      WSTOPSIG(st4) == (SIGTRAP | 0x80) && r.orig_rax == NR32_RESTART_SYSCALL &&
	      si.op == 1 && si.arch == AUDIT_ARCH_I386 && si.nr == NR32_RESTART_SYSCALL;
	int end = finish(pid);
	ok &= WIFEXITED(end) && WEXITSTATUS(end) == 0;
	KTAP_CHECK(ok, "int80_restart_syscall_traced",
		   "st %#x st2 %#x st3 %#x st4 %#x orig_rax %lld rax %lld arch %#x; end %#x", st,
		   st2, st3, st4, (long long)r.orig_rax, (long long)r.rax, si.arch, end);
}

int main(void)
{
	ktap_plan(11);
	low = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED || (uintptr_t)low >> 32) {
		printf("# no MAP_32BIT page\n");
		return 1;
	}
	regs_preserved();
	error_sign_extended();
	unknown_enosys();
	args_truncated();
	read_eintr();
	read_restart();
	nanosleep_time32();
	seccomp_i386();
	seccomp_user_notif();
	ptrace_stops();
	restart_syscall_traced();
	return ktap_finish();
}
