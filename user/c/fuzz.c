/* fuzz: hostile input for the syscall layer from ring 3.
 *
 * Usage: fuzz [COUNT [SEED]].
 *
 * A fixed-seed PRNG (xorshift64*) makes COUNT raw syscalls (default 20000): numbers in
 * [0, 460) plus some out of range, arguments biased to interesting values (0, -1, small ints,
 * sizes, page-aligned and misaligned pointers into a scratch mapping, into a PROT_NONE
 * reservation, to kernel, non-canonical and unmapped addresses).  The kernel must survive, and
 * so must this process: it prints "# fuzz: N syscalls survived" and "ok 1 fuzz_survived" and
 * exits 0.  The output does not depend on what the calls return.
 *
 * The same binary runs natively on Linux as root, so the fuzzer must neither end, stop or hang
 * itself nor touch anything outside itself.  It therefore:
 *  - never calls the numbers in skip_list below (each with its reason);
 *  - rewrites some arguments (fixup()): rt_sigaction/rt_sigprocmask/prlimit64 only query;
 *    kill/tkill/tgkill/rt_(tg)sigqueueinfo only target this process, with a signal it ignores
 *    or handles; setpriority/sched_setaffinity/ioprio_set/migrate_pages/move_pages only
 *    this process; p{select,poll}/epoll_pwait/io_pgetevents get no signal mask; futex never
 *    waits; prctl and arch_prctl only harmless options; fcntl/ioctl never set an owner, async
 *    mode or touch network devices; madvise no memory-failure injection; mmap no
 *    MAP_POPULATE/MAP_LOCKED and at most 16 MiB; brk never below the heap; close_range never
 *    reaches the saved stdout;
 *  - makes fork/vfork/clone/clone3 through a stub whose child exits at once without touching
 *    memory (all signals blocked around it, exit signal SIGCHLD, never CLONE_PARENT);
 *  - gives path-taking calls only paths that cannot exist ("", "/nonexistent-kentry-fuzz/x") or
 *    bad pointers, so nothing is ever created, removed, changed or executed in a filesystem;
 *  - keeps every pointer and every address range (munmap, mprotect, madvise, mremap, MAP_FIXED)
 *    off the mappings it had at startup (program, heap, stack, vDSO), mapping such a value to a
 *    non-canonical one; the scratch mapping is re-created every 16 calls;
 *  - closes every inherited fd but 0, 1, 2, then replaces fds 0, 1, 2 by pipes of its own
 *    (stdin at EOF, stdout/stderr with no reader), so that fd calls (fchmod, fchown, ioctl, ...)
 *    only ever reach anonymous files; the real stdout is kept at fd >= 900;
 *  - ignores every asynchronous signal (SIGCHLD too: children are reaped by the kernel), caps
 *    file sizes (RLIMIT_FSIZE 16 MiB) and memory (RLIMIT_AS 1 GiB) where the kernel has them;
 *  - runs a 2 ms interval timer (setitimer; without it a 1 s alarm re-armed by the handler),
 *    re-armed after alarm/setitimer calls, whose SIGALRM handler (no SA_RESTART) breaks any call
 *    that blocks (read of an empty pipe, select/poll/epoll without timeout, sigtimedwait, ...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "ktap.h"

#define NR_LIMIT 460
#define PAGE 4096UL
#define SCRATCH_PAGES 16
#define RESERVE_PAGES 16

/* Numbers never called (x86-64).  They end, stop or block the process or the test: */
static const short skip_list[] = {
	15,  /* rt_sigreturn: returns through a garbage frame */
	34,  /* pause: waits for a signal */
	35,  /* nanosleep: arbitrary sleeps */
	60,  /* exit */
	130, /* rt_sigsuspend: the mask could block the watchdog */
	230, /* clock_nanosleep: arbitrary sleeps */
	231, /* exit_group */
	322, /* execveat: AT_EMPTY_PATH could execute an fd */
	334, /* rseq: a registration in scratch memory kills the task once scratch moves */
	335, /* uretprobe: SIGILL unless called from the uprobe trampoline (Linux 6.11+) */
	336, /* uprobe: same (Linux 6.16+) */
	449, /* futex_waitv: waits */
	454, /* futex_wake (kept out with its siblings) */
	455, /* futex_wait: waits */
	456, /* futex_requeue */
	/* They reach other processes or change the host when run natively as root: */
	29, 30, 31, 64, 65, 66, 67, 68, 69, 70, 71, 220, /* System V IPC: persistent objects */
	41,  /* socket: netlink/packet sockets could reconfigure or flood the host */
	101, /* ptrace: could attach to pid 1 */
	103, /* syslog: could clear the kernel log */
	109, /* setpgid: would leave the process group the harness kills on a timeout */
	112, /* setsid: same */
	142, /* sched_setparam */
	144, /* sched_setscheduler */
	149, /* mlock */
	151, /* mlockall: with MCL_FUTURE every later mapping is populated */
	153, /* vhangup */
	155, /* pivot_root */
	159, /* adjtimex: host clock */
	160, /* setrlimit: RLIMIT_CPU/NOFILE could end the test */
	161, /* chroot */
	163, /* acct */
	164, /* settimeofday */
	165, /* mount */
	166, /* umount2 */
	167, /* swapon */
	168, /* swapoff */
	169, /* reboot */
	170, /* sethostname */
	171, /* setdomainname */
	172, /* iopl */
	173, /* ioperm */
	175, /* init_module */
	176, /* delete_module */
	179, /* quotactl */
	227, /* clock_settime */
	240, /* mq_open: persistent queues */
	241, /* mq_unlink */
	246, /* kexec_load */
	248, /* add_key */
	249, /* request_key */
	250, /* keyctl */
	260, /* fchownat: AT_EMPTY_PATH with AT_FDCWD chowns the working directory */
	261, /* futimesat: with a NULL path, changes an fd's times */
	280, /* utimensat: AT_EMPTY_PATH with AT_FDCWD changes the working directory's times */
	272, /* unshare */
	285, /* fallocate: an unbounded memfd would eat host memory */
	298, /* perf_event_open */
	300, /* fanotify_init: permission events could block the host */
	301, /* fanotify_mark */
	304, /* open_by_handle_at: opens arbitrary host files */
	305, /* clock_adjtime */
	308, /* setns */
	310, /* process_vm_readv: iovecs from scratch could name our own memory */
	311, /* process_vm_writev: same */
	313, /* finit_module */
	314, /* sched_setattr */
	317, /* seccomp: strict mode kills the next syscall */
	320, /* kexec_file_load */
	321, /* bpf */
	323, /* userfaultfd: kernel accesses to registered scratch memory would block */
	325, /* mlock2 */
	424, /* pidfd_send_signal: a pidfd of pid 1 is easy to get */
	425, /* io_uring_setup */
	426, /* io_uring_enter */
	427, /* io_uring_register */
	428, /* open_tree */
	429, /* move_mount */
	430, /* fsopen */
	431, /* fsconfig */
	432, /* fsmount */
	433, /* fspick */
	438, /* pidfd_getfd: steals other processes' fds */
	440, /* process_madvise */
	442, /* mount_setattr */
	443, /* quotactl_fd */
	444, /* landlock_create_ruleset */
	445, /* landlock_add_rule */
	446, /* landlock_restrict_self: could lock this process out of its own files */
	448, /* process_mrelease */
	452, /* fchmodat2: AT_EMPTY_PATH with AT_FDCWD chmods the working directory */
};

/* Calls with a path (or a socket address, sigevent or similar that could name something): all
 * their pointers are paths that cannot exist or bad pointers. */
static const short path_calls[] = {
	2,   4,   6,   21,  42,  44,  46,  49,  59,  76,  80,  82,  83,  84,  85,  86,  87,  88,
	89,  90,  92,  94,  132, 133, 134, 137, 188, 189, 191, 192, 194, 195, 197, 198, 222, 235,
	254, 257, 258, 259, 262, 263, 264, 265, 266, 267, 268, 269, 303, 307, 316, 319,
	332, 437, 439,
};

static unsigned char skip_tab[NR_LIMIT], path_tab[NR_LIMIT];

static uint64_t rng = 0x6b656e7472792121ULL; /* "kentry!!" */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/* Memory that must stay untouched: every mapping present at startup. */
struct range {
	uint64_t lo, hi;
};
static struct range prot[64];
static int nprot;

static void protect(uint64_t lo, uint64_t hi)
{
	if (nprot < 64 && lo < hi)
		prot[nprot++] = (struct range){lo, hi};
}

static int hits(uint64_t lo, uint64_t len)
{
	uint64_t hi = lo + len < lo ? UINT64_MAX : lo + len;
	if (len == 0)
		hi = lo + 1;
	for (int i = 0; i < nprot; i++)
		if (lo < prot[i].hi && hi > prot[i].lo)
			return 1;
	return 0;
}

extern char __ehdr_start[], _end[];

static void find_protected(void)
{
	volatile char here;
	char line[512];
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd >= 0) {
		/* Read it whole with read(): no stdio allocation in between. */
		static char buf[65536];
		size_t n = 0;
		ssize_t k;
		while (n < sizeof buf - 1 && (k = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
			n += (size_t)k;
		close(fd);
		buf[n] = 0;
		for (char *p = buf; *p;) {
			char *nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			if (l >= sizeof line)
				l = sizeof line - 1;
			memcpy(line, p, l);
			line[l] = 0;
			unsigned long lo, hi;
			if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
				protect(lo, hi);
			p = nl ? nl + 1 : p + l;
		}
	}
	/* Whatever /proc says (or if it says nothing): the image, the heap and its growth room,
	 * the stack and its growth room. */
	uint64_t brk_now = (uint64_t)(uintptr_t)sbrk(0);
	uint64_t img_end = (uint64_t)(uintptr_t)_end;
	protect((uint64_t)(uintptr_t)__ehdr_start, (brk_now > img_end ? brk_now : img_end) + (64UL << 20));
	uint64_t sp = (uint64_t)(uintptr_t)&here;
	protect((sp & ~(PAGE - 1)) - (16UL << 20), (sp & ~(PAGE - 1)) + (1UL << 20));
}

static unsigned char *scratch;
static unsigned char *reserve;
static const char empty_path[] = "";
static const char bad_path[] = "/nonexistent-kentry-fuzz/x";

static void make_scratch(void)
{
	void *s = mmap(scratch ? scratch : (void *)0x300000000000UL, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (scratch ? MAP_FIXED : 0), -1, 0);
	if (s != MAP_FAILED)
		scratch = s;
}

static const uint64_t kernel_ptrs[] = {
	0xffffffff81000000ULL, 0xffff888000000000ULL, 0xfffffffffffff000ULL, 0xffffffffff600000ULL,
	0xffff800000000000ULL, 0xffffffffffffffffULL,
};
static const uint64_t odd_ptrs[] = {
	0x0000800000000000ULL, 0x8000000000000000ULL, 0xdead000000000000ULL, 0x00007ffffffff000ULL,
	0x00007fffffffffffULL, 0, 1, 0x10, 0x1000, 0x10000,
};
static const uint64_t ints[] = {
	0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 511, 1024, 4095, 4096,
	4097, 8192, 65536, 1UL << 20, 0x7fffffff, 0x80000000, 0xffffffff, (uint64_t)-1, (uint64_t)-2,
	(uint64_t)-100 /* AT_FDCWD */, (uint64_t)-4095, 1ULL << 62, 1ULL << 63,
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A pointer: into scratch (writable), the PROT_NONE reserve, kernel or odd addresses; page
 * aligned or not.  For path calls, scratch is replaced by the two impossible paths. */
static uint64_t pointer(int path)
{
	uint64_t r = rnd();
	uint64_t mis = (r >> 8) & 1 ? (r >> 12) % 4096 : 0;
	switch (r % 8) {
	case 0:
	case 1:
	case 2:
		if (path)
			return (uint64_t)(uintptr_t)((r >> 20) & 1 ? empty_path : bad_path);
		return (uint64_t)(uintptr_t)scratch + ((r >> 24) % SCRATCH_PAGES) * PAGE + mis;
	case 3:
	case 4:
		return (uint64_t)(uintptr_t)reserve + ((r >> 24) % RESERVE_PAGES) * PAGE + mis;
	case 5:
		return kernel_ptrs[(r >> 24) % COUNT(kernel_ptrs)] + (mis & 7);
	default:
		return odd_ptrs[(r >> 24) % COUNT(odd_ptrs)] + (mis & 7);
	}
}

static uint64_t sanitize(uint64_t v)
{
	return hits(v, 1) ? 0xdead000000000000ULL | (v & 0xfff) : v;
}

static uint64_t arg(int path)
{
	uint64_t r = rnd();
	uint64_t v;
	switch (r % 16) {
	case 0: case 1: case 2: case 3: case 4:
		v = ints[(r >> 8) % COUNT(ints)];
		break;
	case 5: case 6: case 7:
		v = (r >> 8) % 65; /* small ints: fds, signal numbers, flags */
		break;
	case 8: case 9: case 10: case 11:
		v = pointer(path);
		break;
	case 12: case 13: case 14:
		v = (uint32_t)rnd(); /* random 32-bit */
		break;
	default:
		v = rnd() | (1ULL << 63); /* random 64-bit, never a plausible length */
		break;
	}
	return sanitize(v);
}

static uint64_t safe_addr(uint64_t a, uint64_t len)
{
	return hits(a, len) ? 0xdead000000000000ULL : a;
}

/* A pointer that never points at readable memory the fuzz could have filled. */
static uint64_t inert_pointer(uint64_t v)
{
	static const uint64_t inert[] = {0, (uint64_t)(uintptr_t)empty_path, (uint64_t)(uintptr_t)bad_path,
					 0xffffffff81000000ULL, 0xdead000000000000ULL};
	return inert[v % COUNT(inert)];
}

/* New mappings stay small (<= 16 MiB) so that kernel writes into them cannot exhaust a small
 * machine; absurd sizes (>= 2^62) stay, for the error paths. */
static uint64_t cap_len(uint64_t len)
{
	return len > (16UL << 20) && len < (1ULL << 62) ? len & ((16UL << 20) - 1) : len;
}

/* Signals this process may send itself: it ignores or handles them all. */
static uint64_t safe_sig(uint64_t s)
{
	uint32_t v = (uint32_t)s;
	if (v == SIGKILL || v == SIGSTOP || v == SIGSEGV || v == SIGBUS || v == SIGILL || v == SIGFPE ||
	    v == SIGTRAP)
		return 0;
	return s;
}

static pid_t self;

/* Rewrites arguments of calls that could end, block or escape the test. */
static void fixup(long nr, uint64_t *a)
{
	switch (nr) {
	case 9: /* mmap(addr, len, prot, flags, fd, off) */
		a[3] &= ~(uint64_t)(0x8000 /* MAP_POPULATE */ | 0x2000 /* MAP_LOCKED */);
		a[1] = cap_len(a[1]);
		if (a[3] & 0x10 /* MAP_FIXED */)
			a[0] = safe_addr(a[0], a[1]);
		break;
	case 10: /* mprotect */
	case 11: /* munmap */
	case 26: /* msync */
	case 28: /* madvise */
	case 329: /* pkey_mprotect */
		a[0] = safe_addr(a[0], a[1]);
		if (nr == 28 && (a[2] & 0xffffffff) >= 100) /* MADV_HWPOISON, MADV_SOFT_OFFLINE */
			a[2] = 0;
		break;
	case 12: /* brk: never below the top of the heap libc uses */
		if (hits(a[0], 1) || a[0] < (uint64_t)(uintptr_t)_end)
			a[0] = 0;
		break;
	case 13: /* rt_sigaction: query only */
		a[1] = 0;
		break;
	case 14: /* rt_sigprocmask: query only */
		a[1] = 0;
		break;
	case 16: { /* ioctl: no async/terminal requests, no socket/netdevice/wireless ioctls */
		uint32_t cmd = (uint32_t)a[1];
		if ((cmd >= 0x8900 && cmd <= 0x8bff) || cmd == 0x5452 || cmd == 0x5410 || cmd == 0x540e ||
		    cmd == 0x5412)
			a[1] = 0x5413; /* TIOCGWINSZ */
		break;
	}
	case 25: /* mremap(old, old_size, new_size, flags, new_addr) */
		a[2] = cap_len(a[2]);
		a[0] = safe_addr(a[0], a[1]);
		a[4] = safe_addr(a[4], a[2]);
		break;
	case 56: /* clone(flags, sp, parent_tid, child_tid, tls): exit signal SIGCHLD, no CLONE_PARENT */
		a[0] = (a[0] & ~(uint64_t)0xff & ~(uint64_t)0x8000) | SIGCHLD;
		break;
	case 59: /* execve: the path never names a file */
		a[0] = inert_pointer(a[0]);
		break;
	case 62: /* kill(pid, sig) */
		a[0] = (uint64_t)self;
		a[1] = safe_sig(a[1]);
		break;
	case 72: /* fcntl: no F_SETOWN (8), F_SETSIG (10), F_SETOWN_EX (15) */
		if ((a[1] & 0xffffffff) == 8 || (a[1] & 0xffffffff) == 10 || (a[1] & 0xffffffff) == 15)
			a[1] = 3; /* F_GETFL */
		break;
	case 129: /* rt_sigqueueinfo(pid, sig, info) */
		a[0] = (uint64_t)self;
		a[1] = safe_sig(a[1]);
		break;
	case 141: /* setpriority: this process only */
		a[0] = 0; /* PRIO_PROCESS */
		a[1] = 0;
		break;
	case 157: { /* prctl: only these options */
		static const uint64_t ok_opts[] = {3, 15, 16, 21, 30, 39, 42, 0, 1000, (uint64_t)-1};
		a[0] = ok_opts[a[0] % COUNT(ok_opts)];
		break;
	}
	case 158: /* arch_prctl: not ARCH_SET_FS (libc's TLS) nor shadow stacks */
		if ((a[0] & 0xffffffff) == 0x1002 || ((a[0] & 0xffffffff) >= 0x5001 && (a[0] & 0xffffffff) <= 0x5005))
			a[0] = 0x1003; /* ARCH_GET_FS */
		break;
	case 200: /* tkill(tid, sig) */
		a[0] = (uint64_t)self;
		a[1] = safe_sig(a[1]);
		break;
	case 202: { /* futex: no waiting operations */
		uint32_t op = (uint32_t)a[1] & 0x7f;
		if (op == 0 || op == 6 || op == 8 || op == 9 || op == 11 || op == 13)
			a[1] = 1; /* FUTEX_WAKE */
		break;
	}
	case 203: /* sched_setaffinity: this process only */
	case 256: /* migrate_pages */
	case 279: /* move_pages */
		a[0] = 0;
		break;
	case 222: /* timer_create(clock, sigevent, id): the default (SIGALRM) or a bad sigevent */
		a[1] = inert_pointer(a[1]);
		break;
	case 234: /* tgkill(tgid, tid, sig) */
		a[0] = a[1] = (uint64_t)self;
		a[2] = safe_sig(a[2]);
		break;
	case 251: /* ioprio_set: this process only */
		a[0] = 1; /* IOPRIO_WHO_PROCESS */
		a[1] = 0;
		break;
	case 270: /* pselect6: no sigmask (arg 5) */
		a[5] = 0;
		break;
	case 271: /* ppoll: no sigmask (arg 3) */
		a[3] = 0;
		break;
	case 281: /* epoll_pwait: no sigmask (arg 4) */
	case 441: /* epoll_pwait2 */
		a[4] = 0;
		break;
	case 297: /* rt_tgsigqueueinfo(tgid, tid, sig, info) */
		a[0] = a[1] = (uint64_t)self;
		a[2] = safe_sig(a[2]);
		break;
	case 302: /* prlimit64: this process, query only */
		a[0] = 0;
		a[2] = 0;
		break;
	case 333: /* io_pgetevents: no sigmask (arg 5) */
		a[5] = 0;
		break;
	case 436: /* close_range: never up to the saved stdout */
		if ((uint32_t)a[1] >= 900)
			a[1] = 899;
		break;
	}
}

/* fork, vfork, clone, clone3: the child exits at once, touching no memory (it may share ours,
 * stack included).  fork_stub(nr, a0, a1, a2, a3, a4) returns the parent's result. */
long fork_stub(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4);
__asm__(".text\n"
	".globl fork_stub\n"
	"fork_stub:\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8, %r10\n"
	"	mov %r9, %r8\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	mov $60, %eax\n" /* exit(0): the child (a thread with CLONE_THREAD) ends here */
	"	xor %edi, %edi\n"
	"	syscall\n"
	"	ud2\n"
	"1:	ret\n");

struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};
static struct clone_args_v2 cl3;

static volatile unsigned long alarms;
static volatile int use_alarm; /* no setitimer: a 1 s alarm, re-armed by the handler */
static void on_alarm(int sig)
{
	alarms++;
	if (use_alarm)
		alarm(1);
}

static void arm_watchdog(void)
{
	struct itimerval it = {{0, 2000}, {0, 2000}};
	if (use_alarm || setitimer(ITIMER_REAL, &it, NULL) != 0) {
		use_alarm = 1;
		alarm(1);
	}
}

/* Closes every fd but 0, 1, 2: an inherited fd (a shell's fd 10 on /dev/null, a pipe of the
 * parent's) must not become a target. */
static void close_inherited(void)
{
	if (syscall(436 /* close_range */, 3, ~0U, 0) == 0)
		return;
	struct rlimit nf;
	long max = getrlimit(RLIMIT_NOFILE, &nf) != 0 ? 1024 : nf.rlim_cur < 65536 ? (long)nf.rlim_cur : 65536;
	for (long fd = 3; fd < max; fd++)
		close((int)fd);
}

struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 0) : 20000;
	if (n < 0)
		n = 0;
	if (argc > 2) /* another seed, for exploring; the manifest uses the default */
		rng ^= strtoull(argv[2], NULL, 0) * 0x9e3779b97f4a7c15ULL;
	if (rng == 0)
		rng = 1;
	ktap_plan(1);

	for (size_t i = 0; i < COUNT(skip_list); i++)
		if (skip_list[i] >= 0 && skip_list[i] < NR_LIMIT)
			skip_tab[skip_list[i]] = 1;
	for (size_t i = 0; i < COUNT(path_calls); i++)
		path_tab[path_calls[i]] = 1;

	/* Canary: our own memory must come through unchanged. */
	static unsigned char canary[4096];
	for (size_t i = 0; i < sizeof canary; i++)
		canary[i] = (unsigned char)(i * 13 + 5);

	close_inherited();
	self = getpid();
	find_protected();
	make_scratch();
	reserve = mmap((void *)0x100000000000UL, RESERVE_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int setup_ok = scratch != NULL && reserve != MAP_FAILED;

	/* fds 0, 1, 2 become pipes of our own; the real stdout is kept at fd >= 900. */
	int out = fcntl(1, F_DUPFD_CLOEXEC, 900);
	int in[2], sink[2];
	setup_ok = setup_ok && out >= 900 && pipe(in) == 0 && pipe(sink) == 0;
	if (setup_ok) {
		close(in[1]);	/* stdin: at EOF */
		close(sink[0]); /* stdout, stderr: no reader (EPIPE, SIGPIPE ignored) */
		dup2(in[0], 0);
		dup2(sink[1], 1);
		dup2(sink[1], 2);
		if (in[0] > 2)
			close(in[0]);
		if (sink[1] > 2)
			close(sink[1]);
	}

	/* Limits where the kernel has them (failures are fine). */
	struct rlimit fsz = {16UL << 20, 16UL << 20}, as = {1UL << 30, 1UL << 30};
	setrlimit(RLIMIT_FSIZE, &fsz);
	setrlimit(RLIMIT_AS, &as);

	/* Ignore every asynchronous signal; SIGALRM breaks blocking calls. */
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
		    sig == SIGFPE || sig == SIGTRAP || sig == SIGALRM)
			continue;
		struct k_sigaction ign = {SIG_IGN, 0, NULL, 0};
		syscall(SYS_rt_sigaction, sig, &ign, NULL, 8);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	sigset_t all, normal;
	sigfillset(&all);
	sigemptyset(&normal);
	sigprocmask(SIG_SETMASK, &normal, NULL);
	arm_watchdog();

	long done = 0;
	for (long i = 0; i < n; i++) {
		if ((i & 15) == 0)
			make_scratch();
		long nr;
		uint64_t r = rnd();
		if (r % 64 == 0) {
			/* Out of range: low 32 bits past every table (and clear of the x32 range),
			 * high bits random: the kernel looks at the low 32 bits only. */
			static const uint64_t lows[] = {512, 513, 547, 548, 1000, 0x3fffffff, 0x40000400,
							 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};
			uint64_t low = lows[(r >> 8) % COUNT(lows)];
			uint64_t high = (r >> 16) & 1 ? (rnd() & 0xffffffff00000000ULL) : 0;
			nr = (long)(high | low);
		} else {
			do
				nr = (long)(rnd() % NR_LIMIT);
			while (skip_tab[nr]);
		}
		uint64_t a[6];
		int path = nr >= 0 && nr < NR_LIMIT && path_tab[nr];
		for (int k = 0; k < 6; k++)
			a[k] = arg(path);
		if (nr >= 0 && nr < NR_LIMIT)
			fixup(nr, a);
		if (nr == 56 || nr == 57 || nr == 58 || nr == 435) {
			if (nr == 435) {
				/* clone3 with arguments of our own: the exit signal and CLONE_PARENT
				 * are under control, the rest is random. */
				cl3 = (struct clone_args_v2){
					.flags = a[2] & ~(uint64_t)0x8000,
					.pidfd = a[3],
					.child_tid = a[4],
					.parent_tid = a[5],
					.stack = arg(0),
					.stack_size = arg(0),
					.tls = arg(0),
					.set_tid = arg(0),
					.set_tid_size = arg(0) & 7,
					.cgroup = arg(0),
				};
				cl3.exit_signal = (cl3.flags & 0x10000 /* CLONE_THREAD */) ? 0 : SIGCHLD;
				static const uint64_t sizes[] = {64, 80, 88, 8, 0, 4096};
				a[0] = (a[0] & 3) ? (uint64_t)(uintptr_t)&cl3 : a[0];
				a[1] = sizes[a[1] % COUNT(sizes)];
			}
			sigprocmask(SIG_SETMASK, &all, NULL);
			fork_stub(nr, a[0], a[1], a[2], a[3], a[4]);
			sigprocmask(SIG_SETMASK, &normal, NULL);
		} else {
			syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		}
		if (nr == 37 || nr == 38) /* alarm, setitimer: our watchdog again */
			arm_watchdog();
		done++;
	}

	/* Back to normal: stop the timer, restore stdout, check ourselves. */
	sigprocmask(SIG_SETMASK, &all, NULL);
	struct itimerval off = {{0, 0}, {0, 0}};
	use_alarm = 0;
	setitimer(ITIMER_REAL, &off, NULL);
	alarm(0);
	int intact = 1;
	for (size_t i = 0; i < sizeof canary; i++)
		intact &= canary[i] == (unsigned char)(i * 13 + 5);
	if (out >= 900)
		dup2(out, 1);
	printf("# fuzz: %ld syscalls survived\n", done);
	fflush(stdout);
	KTAP_CHECK(setup_ok && intact && getpid() == self && done == n, "fuzz_survived",
		   "setup %d canary %d", setup_ok, intact);
	return ktap_finish();
}
