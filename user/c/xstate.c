/* xstate: the AVX (YMM) state with XSAVE, as Linux keeps it. Every expected value comes from
 * CPUID leaf 0xD, XGETBV or the test's own patterns, never from the kernel under test.
 *
 * - ymm_survive_syscalls: all 16 YMM registers (upper halves too) loaded, 200 getppid and
 *   sched_yield syscalls in between, read back unchanged.
 * - ymm_survive_preemption_cpu0 / _cpu1: on each CPU, a checker and a busy sibling pinned there,
 *   each with its own YMM pattern; the checker spins with YMM loaded until the sibling's counter
 *   moves (so the sibling ran on that CPU in the middle: a context switch), 10 times; both
 *   patterns survive.
 * - ymm_survive_signal: a handler that clobbers every YMM register runs in the middle (a
 *   signal sent by a syscall made with YMM loaded); the registers are back after it.
 * - sigframe_magic: the handler's fpstate is 64-aligned, uc_flags has UC_FP_XSTATE, the
 *   software bytes hold FP_XSTATE_MAGIC1, xfeatures = XCR0, xstate_size = CPUID 0xD.0:EBX,
 *   extended_size = xstate_size + 4, FP_XSTATE_MAGIC2 after the area.
 * - sigframe_ymm_contents: the frame's XSTATE_BV has YMM and the YMM_Hi128 area (CPUID 0xD.2)
 *   holds the interrupted code's upper halves.
 * - sigframe_ymm_restored: a handler that writes new upper halves into the frame sees them in
 *   the registers after sigreturn.
 * - no_magic_legacy_only: a frame whose MAGIC1 is wiped restores only the legacy area: its
 *   edited XMM0 comes back, the YMM upper halves return to their initial state (zero).
 * - corrupt_header_segv: a handler that wrecks the XSAVE header's reserved bytes (as Linux's
 *   corrupt_xstate_header) gets SIGSEGV (SI_KERNEL) from sigreturn.
 * - minsigstksz: AT_MINSIGSTKSZ is present and at least what a real frame took on an
 *   alternate stack (its top down to the frame's return address).
 * - glibc_avx2_strings: with AVX2 and BMI2 usable (CPUID + XGETBV), glibc's strlen IFUNC
 *   resolved to an AVX2 or EVEX variant (the address the static binary's IRELATIVE GOT slot
 *   holds).
 * - ptrace_xstate: PTRACE_GETREGSET NT_X86_XSTATE of a stopped tracee returns its YMM values
 *   (size CPUID 0xD.0:EBX, XCR0 in the first software-reserved word as Linux's
 *   xstate_fx_sw_bytes); SETREGSET with a corrupted header
 *   is EINVAL; SETREGSET of a new ymm0 upper half reaches the tracee's register.
 * Without AVX (CPUID, or XCR0 lacking YMM) every result is SKIP.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "cpu.h"
#include "ktap.h"

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif
#define NT_X86_XSTATE 0x202
#define MAGIC1 0x46505853u
#define MAGIC2 0x46505845u
#define UC_FP_XSTATE 1

typedef uint8_t ymmset[16][32];

static unsigned xsave_size, ymm_off;
static long ncpus;
static uint64_t xcr0;

static uint64_t xgetbv0(void)
{
	uint32_t a, d;
	__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	return a | (uint64_t)d << 32;
}

/* Loads ymm0-15 from `in`, makes syscall `nr` (unless negative) with rdi/rsi/rdx, spins until
 * *flag != start (at most `spins` rounds, none if 0), stores ymm0-15 to `out`. */
static long ymm_around(const ymmset in, ymmset out, long nr, long a1, long a2, long a3,
		       volatile int *flag, int start, long spins)
{
	long ret = nr;
	__asm__ volatile(
		"vmovdqu 0(%[in]), %%ymm0\n vmovdqu 32(%[in]), %%ymm1\n"
		"vmovdqu 64(%[in]), %%ymm2\n vmovdqu 96(%[in]), %%ymm3\n"
		"vmovdqu 128(%[in]), %%ymm4\n vmovdqu 160(%[in]), %%ymm5\n"
		"vmovdqu 192(%[in]), %%ymm6\n vmovdqu 224(%[in]), %%ymm7\n"
		"vmovdqu 256(%[in]), %%ymm8\n vmovdqu 288(%[in]), %%ymm9\n"
		"vmovdqu 320(%[in]), %%ymm10\n vmovdqu 352(%[in]), %%ymm11\n"
		"vmovdqu 384(%[in]), %%ymm12\n vmovdqu 416(%[in]), %%ymm13\n"
		"vmovdqu 448(%[in]), %%ymm14\n vmovdqu 480(%[in]), %%ymm15\n"
		"test %%rax, %%rax\n js 1f\n syscall\n"
		"1: test %[spins], %[spins]\n jz 3f\n"
		"2: cmpl %[start], (%[flag])\n jne 3f\n pause\n dec %[spins]\n jnz 2b\n"
		"3: vmovdqu %%ymm0, 0(%[out])\n vmovdqu %%ymm1, 32(%[out])\n"
		"vmovdqu %%ymm2, 64(%[out])\n vmovdqu %%ymm3, 96(%[out])\n"
		"vmovdqu %%ymm4, 128(%[out])\n vmovdqu %%ymm5, 160(%[out])\n"
		"vmovdqu %%ymm6, 192(%[out])\n vmovdqu %%ymm7, 224(%[out])\n"
		"vmovdqu %%ymm8, 256(%[out])\n vmovdqu %%ymm9, 288(%[out])\n"
		"vmovdqu %%ymm10, 320(%[out])\n vmovdqu %%ymm11, 352(%[out])\n"
		"vmovdqu %%ymm12, 384(%[out])\n vmovdqu %%ymm13, 416(%[out])\n"
		"vmovdqu %%ymm14, 448(%[out])\n vmovdqu %%ymm15, 480(%[out])\n"
		"vzeroupper\n"
		: "+a"(ret), [spins] "+r"(spins)
		: [in] "r"(in), [out] "r"(out), "D"(a1), "S"(a2), "d"(a3), [flag] "r"(flag),
		  [start] "r"(start)
		: "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		  "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	return ret;
}

static void pattern(ymmset p, unsigned seed)
{
	for (int r = 0; r < 16; r++)
		for (int b = 0; b < 32; b++)
			p[r][b] = (uint8_t)(seed * 37 + r * 11 + b * 3 + (b >= 16 ? 0x80 : 1));
}

static volatile int never;

/* ---- syscalls ---- */
static void ymm_survive_syscalls(void)
{
	ymmset in, out;
	int bad = 0;
	for (int i = 0; i < 200 && !bad; i++) {
		pattern(in, i);
		ymm_around(in, out, i & 1 ? SYS_sched_yield : SYS_getppid, 0, 0, 0, &never, 0, 0);
		bad = memcmp(in, out, sizeof(in)) != 0;
	}
	KTAP_CHECK(!bad, "ymm_survive_syscalls", "YMM changed across a syscall");
}

/* ---- preemption ---- */
struct sib {
	int cpu;
	atomic_int stop;
	volatile int counter;
	int bad, ran_on;
};

static void *sibling(void *arg)
{
	struct sib *s = arg;
	ymmset in, out;
	pattern(in, 1000 + s->cpu);
	if (pin(s->cpu))
		return NULL;
	s->ran_on = sched_getcpu();
	while (!atomic_load(&s->stop)) {
		/* Loaded YMM, then bump the counter 2000 times: preempted in the middle at times. */
		long n = 2000;
		__asm__ volatile("vmovdqu 0(%1), %%ymm3\n vmovdqu 32(%1), %%ymm9\n"
				 "1: lock incl (%2)\n dec %0\n jnz 1b\n"
				 "vmovdqu %%ymm3, 0(%3)\n vmovdqu %%ymm9, 32(%3)\n vzeroupper\n"
				 : "+r"(n)
				 : "r"(in), "r"(&s->counter), "r"(out)
				 : "memory", "xmm3", "xmm9");
		if (memcmp(in, out, 64))
			s->bad = 1;
	}
	return NULL;
}

static void ymm_survive_preemption(int cpu, const char *name)
{
	if (ncpus <= cpu) {
		ktap_skip(name, "no such CPU online");
		return;
	}
	struct sib s = {.cpu = cpu};
	pthread_t t;
	int pinned = pin(cpu) == 0;
	pthread_create(&t, NULL, sibling, &s);
	ymmset in, out;
	int switches = 0, bad = 0;
	double deadline = now() + 20;
	for (int i = 0; i < 10 && now() < deadline; i++) {
		pattern(in, 7 * i + cpu);
		int start = s.counter;
		ymm_around(in, out, -1, 0, 0, 0, &s.counter, start, 400000000L);
		if (s.counter != start)
			switches++;
		if (memcmp(in, out, sizeof(in)))
			bad++;
	}
	atomic_store(&s.stop, 1);
	pthread_join(t, NULL);
	pin(0);
	KTAP_CHECK(pinned && s.ran_on == cpu && switches == 10 && !bad && !s.bad, name,
		   "pinned %d sibling on %d, %d/10 switches seen, %d bad rounds, sibling bad %d",
		   pinned, s.ran_on, switches, bad, s.bad);
}

/* ---- signals ---- */
enum { H_CLOBBER, H_INSPECT, H_WRITE_UPPER, H_NO_MAGIC, H_CORRUPT };
static int mode;
static uint8_t frame_copy[16384];
static unsigned long frame_fpstate, frame_uc_flags;
static uint8_t new_upper[16];
static volatile int got_segv, segv_code;

static void on_usr1(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
	frame_fpstate = (unsigned long)fp;
	frame_uc_flags = uc->uc_flags;
	if (fp && xsave_size + 4 <= sizeof(frame_copy))
		memcpy(frame_copy, fp, xsave_size + 4);
	switch (mode) {
	case H_CLOBBER:
		__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n"
				 "vmovdqa %%ymm0, %%ymm1\n vmovdqa %%ymm0, %%ymm2\n vmovdqa %%ymm0, %%ymm3\n"
				 "vmovdqa %%ymm0, %%ymm4\n vmovdqa %%ymm0, %%ymm5\n vmovdqa %%ymm0, %%ymm6\n"
				 "vmovdqa %%ymm0, %%ymm7\n vmovdqa %%ymm0, %%ymm8\n vmovdqa %%ymm0, %%ymm9\n"
				 "vmovdqa %%ymm0, %%ymm10\n vmovdqa %%ymm0, %%ymm11\n"
				 "vmovdqa %%ymm0, %%ymm12\n vmovdqa %%ymm0, %%ymm13\n"
				 "vmovdqa %%ymm0, %%ymm14\n vmovdqa %%ymm0, %%ymm15\n"
				 ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
				 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
		break;
	case H_WRITE_UPPER:
		memcpy(fp + ymm_off, new_upper, 16); /* ymm0's upper half */
		break;
	case H_NO_MAGIC:
		memset(fp + 464, 0, 4);           /* MAGIC1 */
		memcpy(fp + 160, new_upper, 16);  /* xmm0 in the legacy area */
		memset(fp + ymm_off + 16, 0x5a, 16); /* ymm1's upper half: must not come back */
		break;
	case H_CORRUPT:
		((uint64_t *)(fp + 512))[2] = 0xfffffff; /* header reserved bytes, as Linux's test */
		break;
	}
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	got_segv++;
	segv_code = si->si_code;
}

/* Raises SIGUSR1 with `in` in the YMM registers; `out` is what they hold after. */
static void signal_round(int m, const ymmset in, ymmset out)
{
	mode = m;
	ymm_around(in, out, SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1, &never, 0, 0);
}

static void signal_tests(void)
{
	ymmset in, out;
	pattern(in, 42);
	signal_round(H_CLOBBER, in, out);
	KTAP_CHECK(!memcmp(in, out, sizeof(in)), "ymm_survive_signal",
		   "YMM not restored after a clobbering handler");

	signal_round(H_INSPECT, in, out);
	uint8_t *f = frame_copy;
	uint32_t m1, ext, xs, m2;
	uint64_t xf, bv;
	memcpy(&m1, f + 464, 4);
	memcpy(&ext, f + 468, 4);
	memcpy(&xf, f + 472, 8);
	memcpy(&xs, f + 480, 4);
	memcpy(&m2, f + xsave_size, 4);
	memcpy(&bv, f + 512, 8);
	KTAP_CHECK(frame_fpstate % 64 == 0 && (frame_uc_flags & UC_FP_XSTATE) && m1 == MAGIC1 &&
			   xf == xcr0 && xs == xsave_size && ext == xsave_size + 4 && m2 == MAGIC2,
		   "sigframe_magic",
		   "fpstate %#lx uc_flags %#lx magic1 %#x ext %u xfeatures %#llx (xcr0 %#llx) "
		   "size %u (cpuid %u) magic2 %#x",
		   frame_fpstate, frame_uc_flags, m1, ext, (unsigned long long)xf,
		   (unsigned long long)xcr0, xs, xsave_size, m2);
	int ymm_ok = (bv & 4) != 0;
	for (int r = 0; r < 16; r++)
		ymm_ok &= !memcmp(f + ymm_off + 16 * r, in[r] + 16, 16) &&
			  !memcmp(f + 160 + 16 * r, in[r], 16);
	KTAP_CHECK(ymm_ok, "sigframe_ymm_contents", "xstate_bv %#llx or YMM values wrong",
		   (unsigned long long)bv);

	for (int i = 0; i < 16; i++)
		new_upper[i] = 0xc0 + i;
	signal_round(H_WRITE_UPPER, in, out);
	ymmset want;
	memcpy(want, in, sizeof(want));
	memcpy(want[0] + 16, new_upper, 16);
	KTAP_CHECK(!memcmp(want, out, sizeof(want)), "sigframe_ymm_restored",
		   "ymm0 upper half %02x.. (wanted %02x..)", out[0][16], new_upper[0]);

	signal_round(H_NO_MAGIC, in, out);
	static const uint8_t zero[16];
	int legacy_ok = !memcmp(out[0], new_upper, 16) && !memcmp(out[1], in[1], 16);
	for (int r = 0; r < 16; r++)
		legacy_ok &= !memcmp(out[r] + 16, zero, 16);
	KTAP_CHECK(legacy_ok, "no_magic_legacy_only",
		   "xmm0 %02x (wanted %02x), ymm1 upper %02x (wanted 0)", out[0][0], new_upper[0],
		   out[1][16]);

	got_segv = 0;
	signal_round(H_CORRUPT, in, out);
	KTAP_CHECK(got_segv == 1 && segv_code == 0x80, "corrupt_header_segv",
		   "%d SIGSEGV, si_code %#x", got_segv, segv_code);
}

/* ---- AT_MINSIGSTKSZ ---- */
static volatile uintptr_t alt_frame;
static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	alt_frame = (uintptr_t)uc - 8; /* the frame starts with pretcode, before the ucontext */
}

static void minsigstksz(void)
{
	static char alt[65536] __attribute__((aligned(64)));
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt)};
	struct sigaction sa = {.sa_sigaction = on_usr2, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigaltstack(&ss, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR2);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	unsigned long need = (uintptr_t)(alt + sizeof(alt)) - alt_frame;
	unsigned long have = getauxval(AT_MINSIGSTKSZ);
	KTAP_CHECK(alt_frame && have >= need && have >= xsave_size + 4, "minsigstksz",
		   "AT_MINSIGSTKSZ %lu, a frame took %lu, xsave %u", have, need, xsave_size);
}

/* ---- glibc's string functions ---- */
#ifdef __GLIBC__
extern size_t __strlen_avx2(const char *), __strlen_avx2_rtm(const char *),
	__strlen_evex(const char *), __strlen_sse2(const char *);
#endif

static void glibc_avx2_strings(void)
{
#ifdef __GLIBC__
	unsigned a, b, c, d;
	__cpuid_count(7, 0, a, b, c, d);
	int avx2 = (b >> 5 & 1) && (b >> 8 & 1); /* AVX2, BMI2 */
	if (!avx2) {
		ktap_skip("glibc_avx2_strings", "CPU without AVX2/BMI2");
		return;
	}
	/* A static binary takes strlen's address from its GOT slot, which the IRELATIVE
	 * relocation filled with what the IFUNC resolver chose at start-up. */
	size_t (*volatile f)(const char *) = strlen;
	void *t = (void *)f;
	int ok = t == (void *)__strlen_avx2 || t == (void *)__strlen_avx2_rtm ||
		 t == (void *)__strlen_evex;
	KTAP_CHECK(ok, "glibc_avx2_strings", "strlen resolved to %p (sse2 %p, avx2 %p)", t,
		   (void *)__strlen_sse2, (void *)__strlen_avx2);
#else
	ktap_skip("glibc_avx2_strings", "musl has no IFUNC string variants");
#endif
}

/* ---- ptrace ---- */
static void ptrace_xstate(void)
{
	const char *name = "ptrace_xstate";
	ymmset in;
	pattern(in, 77);
	uint8_t up[16];
	for (int i = 0; i < 16; i++)
		up[i] = 0x30 + i;
	pid_t pid = fork();
	if (pid == 0) {
		ymmset out;
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		ymm_around(in, out, SYS_kill, getpid(), SIGSTOP, 0, &never, 0, 0);
		memcpy(in[0] + 16, up, 16);
		_exit(memcmp(in, out, sizeof(in)) ? 3 : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	uint8_t *buf = calloc(1, 16384);
	struct iovec iov = {buf, 16384};
	long r = ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov);
	uint64_t sw, bv;
	memcpy(&sw, buf + 464, 8);
	memcpy(&bv, buf + 512, 8);
	int got = r == 0 && iov.iov_len == xsave_size && sw == xcr0 && (bv & 4);
	for (int i = 0; got && i < 16; i++)
		got &= !memcmp(buf + 160 + 16 * i, in[i], 16) &&
		       !memcmp(buf + ymm_off + 16 * i, in[i] + 16, 16);
	/* A corrupted header is refused. */
	uint8_t *bad = malloc(xsave_size);
	memcpy(bad, buf, xsave_size);
	((uint64_t *)(bad + 512))[1] = 1; /* XCOMP_BV */
	struct iovec biov = {bad, xsave_size};
	errno = 0;
	long br = ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, &biov);
	int refused = br == -1 && errno == EINVAL;
	/* A new upper half for ymm0 reaches the tracee. */
	memcpy(buf + ymm_off, up, 16);
	struct iovec siov = {buf, xsave_size};
	long sr = ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, &siov);
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &st, 0);
	KTAP_CHECK(got && refused && sr == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, name,
		   "get %ld len %zu sw word %#llx bv %#llx values %d; bad header set %ld errno %d; "
		   "set %ld; child status %#x",
		   r, iov.iov_len, (unsigned long long)sw, (unsigned long long)bv, got, br, errno, sr, st);
	free(bad);
	free(buf);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOFBF, 0);
	ktap_plan(12);
	ncpus = sysconf(_SC_NPROCESSORS_ONLN); /* before any pinning (musl counts the affinity) */
	unsigned a, b, c, d;
	__cpuid(1, a, b, c, d);
	int avx = (c >> 27 & 1) && (c >> 28 & 1); /* OSXSAVE, AVX */
	if (avx) {
		xcr0 = xgetbv0();
		avx = (xcr0 & 6) == 6;
	}
	static const char *names[] = {
		"ymm_survive_syscalls", "ymm_survive_preemption_cpu0", "ymm_survive_preemption_cpu1",
		"ymm_survive_signal", "sigframe_magic", "sigframe_ymm_contents",
		"sigframe_ymm_restored", "no_magic_legacy_only", "corrupt_header_segv",
		"minsigstksz", "glibc_avx2_strings", "ptrace_xstate"};
	if (!avx) {
		for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			ktap_skip(names[i], "no AVX with OSXSAVE (CPUID.1:ECX, XCR0)");
		return ktap_finish();
	}
	__cpuid_count(0xd, 0, a, b, c, d);
	xsave_size = b;
	__cpuid_count(0xd, 2, a, b, c, d);
	ymm_off = b;

	struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	struct sigaction sv = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
	sigaction(SIGSEGV, &sv, NULL);

	ymm_survive_syscalls();
	ymm_survive_preemption(0, "ymm_survive_preemption_cpu0");
	ymm_survive_preemption(1, "ymm_survive_preemption_cpu1");
	signal_tests();
	minsigstksz();
	glibc_avx2_strings();
	ptrace_xstate();
	return ktap_finish();
}
