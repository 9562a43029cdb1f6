/* An i386 program (gcc -m32 -static, glibc): what a 32-bit process gets from the kernel.
 *
 * - argv and envp, and the auxiliary vector in 32-bit words after envp's NULL (AT_PHDR,
 *   AT_ENTRY, AT_PAGESZ, AT_RANDOM, AT_EXECFN, AT_PLATFORM "i686", AT_HWCAP = CPUID.1:EDX);
 * - the stack near the top of the 4 GiB space; brk and mmap2 mappings that work when written
 *   (an address the kernel chose above 4 GiB would reach this program truncated), and a
 *   3.5 GiB mmap that fails with ENOMEM rather than "succeeding" out of reach;
 * - TLS: glibc's %gs (selector 0x63, GDT entry 12) and __thread variables; set_thread_area
 *   picking the next free slot (13), a segment loaded into %fs reading its base's bytes, the
 *   refusals (16-bit, code, not present, bad slot, bad pointer);
 * - TLS descriptors are per task: a child made by i386 fork sets its own slot 13 to another
 *   base; after it has run, the parent's %fs still reads the parent's bytes;
 * - getpid through int $0x80 agrees with glibc's getpid();
 * - SYSCALL from 32-bit code (CSTAR; AMD CPUs only: Intel's raise #UD, so an Intel CPUID
 *   vendor is a SKIP) in the vDSO's convention, returning through its landing pad: getpid
 *   agrees, a write with its second argument in EBP. (The sixth-argument fault, E30, ends
 *   at the landing pad's pops from the same bad stack: ia32_fast_tracer.c checks it.)
 *
 * - the calls on old_sigset_t (one 32-bit word), as a 64-bit kernel runs them: sigprocmask
 *   (126: each `how` changes signals 1-32 only, a blocked real-time signal staying blocked
 *   through SIG_SETMASK; SIGKILL never blocked, a 4-byte old set, bad `how` EINVAL), sigpending (73: a blocked pending SIGUSR2 in the low word) and sigsuspend
 *   (72, the mask in EDX: a pending SIGUSR1 it unblocks runs its handler, -EINTR, and the
 *   mask comes back);
 * - statfs (99) and fstatfs (100) in 32-bit words, statfs64 (268) and fstatfs64 (269) with
 *   the 84-byte packed structure (another size EINVAL), agreeing with each other; EBADF.
 *
 * Runs natively on Linux with the same results.
 */
#include "ktap.h"
#include <asm/ldt.h>
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

extern const Elf32_Ehdr __ehdr_start;
extern char _start[];

static long int80_0(long nr)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr) : "memory");
	return ret;
}

static long int80_3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

static const char *ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0 ? s : NULL;
}

static void check_args(int argc, char **argv, char **envp)
{
	KTAP_CHECK(argc == 3 && strcmp(argv[1], "a") == 0 && strcmp(argv[2], "b") == 0 &&
			   argv[3] == NULL,
		   "argv", "argc %d", argc);
	KTAP_CHECK(envp == argv + argc + 1, "envp_after_argv", "argv %p envp %p", (void *)argv,
		   (void *)envp);
}

/* The auxv read from the stack as 32-bit pairs, checked against facts of the program. */
static void check_auxv(char **envp)
{
	char **e = envp;
	while (*e)
		e++;
	uint32_t *av = (uint32_t *)(e + 1);
	uint32_t phdr = 0, phnum = 0, phent = 0, pagesz = 0, entry = 0, random = 0, hwcap = 0;
	const char *execfn = NULL, *platform = NULL;
	int n = 0;
	for (; av[0] != AT_NULL && n < 64; av += 2, n++) {
		switch (av[0]) {
		case AT_PHDR: phdr = av[1]; break;
		case AT_PHNUM: phnum = av[1]; break;
		case AT_PHENT: phent = av[1]; break;
		case AT_PAGESZ: pagesz = av[1]; break;
		case AT_ENTRY: entry = av[1]; break;
		case AT_RANDOM: random = av[1]; break;
		case AT_HWCAP: hwcap = av[1]; break;
		case AT_EXECFN: execfn = (const char *)av[1]; break;
		case AT_PLATFORM: platform = (const char *)av[1]; break;
		}
	}
	KTAP_CHECK(n < 64 && pagesz == 4096, "auxv_pagesz", "n %d pagesz %u", n, pagesz);
	uint32_t want_phdr = (uint32_t)&__ehdr_start + __ehdr_start.e_phoff;
	KTAP_CHECK(phdr == want_phdr && phnum == __ehdr_start.e_phnum && phent == sizeof(Elf32_Phdr),
		   "auxv_phdr", "phdr %#x (want %#x) phnum %u phent %u", phdr, want_phdr, phnum, phent);
	KTAP_CHECK(entry == (uint32_t)_start, "auxv_entry", "entry %#x _start %p", entry,
		   (void *)_start);
	int rnd_nonzero = 0;
	for (int i = 0; random && i < 16; i++)
		rnd_nonzero |= ((unsigned char *)random)[i];
	KTAP_CHECK(random && rnd_nonzero, "auxv_random", "random %#x", random);
	KTAP_CHECK(execfn && ends_with(execfn, "ia32-glibc32"), "auxv_execfn", "execfn %s",
		   execfn ? execfn : "(none)");
	KTAP_CHECK(platform && strcmp(platform, "i686") == 0, "auxv_platform", "platform %s",
		   platform ? platform : "(none)");
	unsigned a, b, c, d;
	__cpuid(1, a, b, c, d);
	KTAP_CHECK(hwcap == d, "auxv_hwcap", "hwcap %#x cpuid.1:edx %#x", hwcap, d);
	KTAP_CHECK(getauxval(AT_PAGESZ) == 4096, "getauxval", "AT_PAGESZ %lu",
		   getauxval(AT_PAGESZ));
}

static void check_memory(void)
{
	int local = 0;
	/* Linux's i386 stack ends at 0xffffe000 (0xff8..–0xfff.. with randomisation). */
	KTAP_CHECK((uint32_t)&local >= 0xf0000000u, "stack_high", "&local %p", (void *)&local);

	char *b = sbrk(8192);
	int brk_ok = b != (char *)-1;
	if (brk_ok) {
		memset(b, 0x5a, 8192);
		brk_ok = b[8191] == 0x5a;
	}
	KTAP_CHECK(brk_ok, "brk_grows", "sbrk %p", (void *)b);

	/* 16 mappings of 64 MiB through mmap2: each must be usable where the kernel put it. */
	int ok = 1;
	char *maps[16];
	for (int i = 0; i < 16; i++) {
		long r = syscall(SYS_mmap2, 0, 64 << 20, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		maps[i] = (char *)r;
		if (r == -1) {
			ktap_diag("mmap2_usable", "mapping %d: errno %d", i, errno);
			ok = 0;
			break;
		}
		maps[i][0] = (char)i;
		maps[i][(64 << 20) - 1] = (char)i;
	}
	for (int i = 0; ok && i < 16; i++)
		ok = maps[i][0] == (char)i && maps[i][(64 << 20) - 1] == (char)i;
	ktap_result(ok, "mmap2_usable");
	for (int i = 0; ok && i < 16; i++)
		munmap(maps[i], 64 << 20);

	/* 3.875 GiB does not fit below 4 GiB beside the program (at 128 MiB) and its stack. */
	long big = syscall(SYS_mmap2, 0, 0xf8000000u, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KTAP_CHECK(big == -1 && errno == ENOMEM, "mmap2_too_big_enomem", "ret %#lx errno %d",
		   big, errno);
}

static __thread int tls_var = 42;

static uint16_t read_gs(void)
{
	uint16_t s;
	__asm__ volatile("mov %%gs, %0" : "=r"(s));
	return s;
}

static uint32_t fs_word(void)
{
	uint32_t v;
	__asm__ volatile("movl $0x6b, %%eax; mov %%eax, %%fs; movl %%fs:0, %0" : "=r"(v)::"eax",
			 "memory");
	return v;
}

static int set_slot(struct user_desc *d, int entry, void *base)
{
	memset(d, 0, sizeof(*d));
	d->entry_number = entry;
	d->base_addr = (uint32_t)base;
	d->limit = 0xfffff;
	d->seg_32bit = 1;
	d->limit_in_pages = 1;
	d->useable = 1;
	return syscall(SYS_set_thread_area, d);
}

static uint32_t mine[2] = {0x11112222, 0x33334444};
static uint32_t theirs[2] = {0x55556666, 0x77778888};

static void check_tls(void)
{
	KTAP_CHECK(read_gs() == 0x63, "glibc_gs_is_tls_entry_12", "gs %#x", read_gs());
	int v1 = tls_var;
	tls_var = 7;
	KTAP_CHECK(v1 == 42 && tls_var == 7, "thread_variable", "initial %d now %d", v1, tls_var);

	struct user_desc d;
	int r = set_slot(&d, -1, mine);
	KTAP_CHECK(r == 0 && d.entry_number == 13, "set_thread_area_next_free", "ret %d entry %u",
		   r, d.entry_number);
	uint32_t w = fs_word();
	KTAP_CHECK(w == mine[0], "fs_reads_its_base", "fs:0 %#x", w);

	struct user_desc bad;
	set_slot(&bad, 13, mine);
	bad.seg_32bit = 0;
	errno = 0;
	int e1 = syscall(SYS_set_thread_area, &bad) == -1 ? errno : 0;
	set_slot(&bad, 13, mine);
	bad.contents = 2; /* code */
	int e2 = syscall(SYS_set_thread_area, &bad) == -1 ? errno : 0;
	set_slot(&bad, 13, mine);
	bad.seg_not_present = 1;
	int e3 = syscall(SYS_set_thread_area, &bad) == -1 ? errno : 0;
	set_slot(&bad, 11, mine);
	int e4 = syscall(SYS_set_thread_area, &bad) == -1 ? errno : 0;
	int e5 = syscall(SYS_set_thread_area, (void *)16) == -1 ? errno : 0;
	KTAP_CHECK(e1 == EINVAL && e2 == EINVAL && e3 == EINVAL && e4 == EINVAL && e5 == EFAULT,
		   "set_thread_area_refusals", "16-bit %d code %d not-present %d slot11 %d fault %d",
		   e1, e2, e3, e4, e5);
	w = fs_word();
	KTAP_CHECK(w == mine[0], "refusals_change_nothing", "fs:0 %#x", w);

	/* An i386 fork (number 2, no arguments): the child moves its slot 13 to `theirs` and
	 * reports what its %fs reads; the parent, blocked on the pipe while the child runs,
	 * must still read `mine` through the same selector. */
	int p[2];
	if (pipe(p) != 0) {
		ktap_result(0, "tls_per_task");
		return;
	}
	long pid = int80_0(2);
	if (pid == 0) {
		struct user_desc c;
		uint32_t got = 0;
		if (set_slot(&c, 13, theirs) == 0)
			got = fs_word();
		int80_3(4, p[1], (long)&got, 4);
		int80_3(1, 0, 0, 0);
	}
	uint32_t child = 0;
	long n = pid > 0 ? read(p[0], &child, 4) : -1;
	uint32_t after = fs_word();
	KTAP_CHECK(pid > 0 && n == 4 && child == theirs[0] && after == mine[0], "tls_per_task",
		   "pid %ld n %ld child %#x parent %#x", pid, n, child, after);
	close(p[0]);
	close(p[1]);
	/* Clear slot 13 again (LDT_empty), with %fs null first. */
	__asm__ volatile("mov %0, %%fs" ::"r"(0));
	memset(&d, 0, sizeof(d));
	d.entry_number = 13;
	d.read_exec_only = 1;
	d.seg_not_present = 1;
	KTAP_CHECK(syscall(SYS_set_thread_area, &d) == 0, "set_thread_area_clear", "errno %d",
		   errno);
}

static int cpu_is_intel(void)
{
	unsigned a, b, c, d;
	__cpuid(0, a, b, c, d);
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
}

static long syscall32_3(long nr, long a1, long a2, long a3)
{
	long ret;
	/* The vDSO's convention (its __kernel_vsyscall, inline): ECX, EDX and EBP saved on the
	 * stack, the second argument in EBP (SYSCALL takes ECX for the return EIP). The kernel
	 * returns to the vDSO's landing pad, which pops them and returns to the `jmp`. */
	__asm__ volatile("call 1f; jmp 2f; 1: push %%ecx; push %%edx; push %%ebp; mov %%ecx, %%ebp; "
			 "syscall; ud2; 2:"
			 : "=a"(ret)
			 : "a"(nr), "b"(a1), "c"(a2), "d"(a3)
			 : "memory");
	return ret;
}

static void check_syscall32(void)
{
	if (cpu_is_intel()) {
		ktap_skip("syscall32_getpid", "SYSCALL in compat mode raises #UD on Intel CPUs");
		ktap_skip("syscall32_arg2_in_ebp", "SYSCALL in compat mode raises #UD on Intel CPUs");
		return;
	}
	long a = syscall32_3(20, 0, 0, 0);
	KTAP_CHECK(a == getpid(), "syscall32_getpid", "syscall %ld getpid %d", a, getpid());
	int p[2];
	char got[4] = {0};
	long w = -1, r = -1;
	if (pipe(p) == 0) {
		w = syscall32_3(4, p[1], (long)"abc", 3);
		r = read(p[0], got, 3);
		close(p[0]);
		close(p[1]);
	}
	KTAP_CHECK(w == 3 && r == 3 && memcmp(got, "abc", 3) == 0, "syscall32_arg2_in_ebp",
		   "write %ld read %ld", w, r);
}

static volatile sig_atomic_t usr1_runs;
static void on_usr1(int s)
{
	(void)s;
	usr1_runs++;
}

/* The whole 64-bit mask, through rt_sigprocmask. */
static uint64_t mask64(void)
{
	uint64_t m = 0;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
	return m;
}

static void set_mask64(uint64_t m)
{
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 8);
}

#define BIT(sig) (1ull << ((sig) - 1))

static void check_old_sigset(void)
{
	uint64_t saved = mask64();
	set_mask64(0);
	/* SIG_BLOCK then SIG_UNBLOCK of SIGUSR1; the old set is 4 bytes. */
	uint32_t set = BIT(SIGUSR1), old[2] = {0xdeadbeef, 0xdeadbeef};
	long r1 = int80_3(126, SIG_BLOCK, (long)&set, (long)old);
	uint64_t after_block = mask64();
	set = BIT(SIGUSR1);
	uint32_t old2[2] = {0, 0xdeadbeef};
	long r2 = int80_3(126, SIG_UNBLOCK, (long)&set, (long)old2);
	uint64_t after_unblock = mask64();
	KTAP_CHECK(r1 == 0 && r2 == 0 && old[0] == 0 && old[1] == 0xdeadbeef &&
			   after_block == BIT(SIGUSR1) && old2[0] == BIT(SIGUSR1) &&
			   old2[1] == 0xdeadbeef && after_unblock == 0,
		   "old_sigprocmask_block_unblock", "%ld %ld old %#x/%#x %#x/%#x masks %#llx %#llx", r1,
		   r2, old[0], old[1], old2[0], old2[1], (unsigned long long)after_block,
		   (unsigned long long)after_unblock);
	/* SIG_SETMASK replaces the low word only (Linux's compat_sig_setmask): a blocked
	 * signal 34 stays blocked; SIGKILL is never blocked; the old set is the low word. */
	set_mask64(BIT(34) | BIT(SIGUSR2));
	set = BIT(SIGKILL) | BIT(SIGUSR1);
	uint32_t old3 = 0;
	long r3 = int80_3(126, SIG_SETMASK, (long)&set, (long)&old3);
	uint64_t after_set = mask64();
	long r4 = int80_3(126, 7, (long)&set, 0);
	KTAP_CHECK(r3 == 0 && old3 == BIT(SIGUSR2) && after_set == (BIT(34) | BIT(SIGUSR1)) && r4 == -EINVAL,
		   "old_sigprocmask_setmask", "%ld old %#x mask %#llx bad how %ld", r3, old3,
		   (unsigned long long)after_set, r4);
	/* sigpending: a blocked SIGUSR2 raised stays pending, in the low word. */
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	set_mask64(BIT(SIGUSR2) | BIT(SIGUSR1));
	kill(getpid(), SIGUSR2);
	uint32_t pend[2] = {0, 0xdeadbeef};
	long r5 = int80_3(73, (long)pend, 0, 0);
	KTAP_CHECK(r5 == 0 && pend[0] == BIT(SIGUSR2) && pend[1] == 0xdeadbeef, "old_sigpending",
		   "%ld pending %#x/%#x", r5, pend[0], pend[1]);
	/* sigsuspend(0, 0, mask): SIGUSR1, pending, is unblocked by the mask and runs; -EINTR;
	 * the mask before the call comes back. */
	kill(getpid(), SIGUSR1);
	usr1_runs = 0;
	long r6 = int80_3(72, 0, 0, BIT(SIGUSR2));
	uint64_t after_suspend = mask64();
	KTAP_CHECK(r6 == -EINTR && usr1_runs == 1 && after_suspend == (BIT(SIGUSR2) | BIT(SIGUSR1)),
		   "old_sigsuspend", "%ld runs %d mask %#llx", r6, (int)usr1_runs,
		   (unsigned long long)after_suspend);
	/* Drop the pending SIGUSR2 into its handler, then put everything back. */
	usr1_runs = 0;
	set_mask64(0);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
	set_mask64(saved);
}

static void check_statfs(void)
{
	/* compat_statfs: 16 words; compat_statfs64: 84 bytes, packed. */
	uint32_t s32[17];
	unsigned char s64[88], f64[88];
	memset(s32, 0xa5, sizeof s32);
	memset(s64, 0xa5, sizeof s64);
	memset(f64, 0xa5, sizeof f64);
	long r1 = int80_3(99, (long)"/", (long)s32, 0);
	long r2 = int80_3(268, (long)"/", 84, (long)s64);
	long r3 = int80_3(268, (long)"/", 88, (long)s64);
	int fd = open("/", O_RDONLY);
	long r4 = int80_3(269, fd, 84, (long)f64);
	uint32_t f32[17];
	memset(f32, 0xa5, sizeof f32);
	long r5 = int80_3(100, fd, (long)f32, 0);
	long r6 = int80_3(269, 9999, 84, (long)f64);
	close(fd);
	uint32_t type64, bsize64, type_f, namelen64;
	memcpy(&type64, s64, 4);
	memcpy(&bsize64, s64 + 4, 4);
	memcpy(&namelen64, s64 + 56, 4);
	memcpy(&type_f, f64, 4);
	KTAP_CHECK(r1 == 0 && r2 == 0 && r4 == 0 && r5 == 0 && type64 == s32[0] &&
			   bsize64 == s32[1] && namelen64 == s32[9] && type_f == type64 &&
			   f32[0] == s32[0] && s32[16] == 0xa5a5a5a5 && s64[84] == 0xa5,
		   "statfs_layouts", "%ld %ld %ld %ld type %#x/%#x/%#x bsize %u/%u namelen %u/%u", r1,
		   r2, r4, r5, s32[0], type64, type_f, s32[1], bsize64, s32[9], namelen64);
	KTAP_CHECK(r3 == -EINVAL && r6 == -EBADF, "statfs64_errors", "size 88: %ld, fd 9999: %ld",
		   r3, r6);
}

int main(int argc, char **argv, char **envp)
{
	ktap_plan(31);
	check_args(argc, argv, envp);
	check_auxv(envp);
	check_memory();
	check_tls();
	long a = int80_0(20);
	KTAP_CHECK(a == getpid(), "int80_getpid", "int80 %ld getpid %d", a, getpid());
	check_syscall32();
	check_old_sigset();
	check_statfs();
	return ktap_finish();
}
