/* modify_ldt(2) from a 64-bit program: the per-process LDT (Linux's arch/x86/kernel/ldt.c).
 *
 * Reads (no LDT yet: 0; the default LDT: 128 zero bytes), errors returned zero-extended in
 * RAX (the syscall returns an unsigned int), a descriptor read back as the literal Linux's
 * fill_ldt builds (worked out by hand here), old mode dropping `useable`, lm ignored, a
 * segment's base used through GS, DS naming a cleared entry nulled by the write itself, GS
 * naming a cleared entry nulled by the next context switch (the kernel's load of it must not
 * fault: kentry.break=ldt_fit), a thread's write seen by its process, fork copying the LDT and
 * exec dropping it, a return by IRET to a CS and SS from the LDT, and a write by a thread on
 * CPU 1 while CPU 0 spins in ring 3 with SS from the cleared entry: CPU 0 must fault at once
 * (the write's IPI: kentry.break=ldt_ipi). 16-bit segments are not tried: kentry refuses
 * them until it has espfix64, Linux here accepts them.
 *
 * Needs a static non-PIE build: segment bases and the 32-bit code are below 4 GiB.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* Linux's struct user_desc (asm/ldt.h, which musl's headers lack). */
struct user_desc {
	unsigned int entry_number;
	unsigned int base_addr;
	unsigned int limit;
	unsigned int seg_32bit : 1;
	unsigned int contents : 2;
	unsigned int read_exec_only : 1;
	unsigned int limit_in_pages : 1;
	unsigned int seg_not_present : 1;
	unsigned int useable : 1;
	unsigned int lm : 1;
};

#define LDT_SEL(i) ((uint16_t)(((i) << 3) | 7))

/* The raw call: RAX whole, to see the zero-extended int. */
static uint64_t modify_ldt_raw(long func, void *ptr, unsigned long bytecount)
{
	uint64_t ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_modify_ldt), "D"(func), "S"(ptr), "d"(bytecount)
			 : "rcx", "r11", "memory");
	return ret;
}

static int write_entry(int func, struct user_desc *d)
{
	return (int)modify_ldt_raw(func, d, sizeof(*d));
}

/* A flat present 32-bit segment: data (contents 0) or code (contents 2). */
static void flat(struct user_desc *d, int entry, int contents)
{
	memset(d, 0, sizeof(*d));
	d->entry_number = entry;
	d->limit = 0xfffff;
	d->seg_32bit = 1;
	d->contents = contents;
	d->limit_in_pages = 1;
}

static void empty(struct user_desc *d, int entry)
{
	memset(d, 0, sizeof(*d));
	d->entry_number = entry;
	d->read_exec_only = 1;
	d->seg_not_present = 1;
}

/* LAR: the access rights, or 0 if the selector names nothing LAR accepts. */
static uint32_t lar(uint16_t sel)
{
	uint32_t ar = 0, ok = 0;
	__asm__ volatile("lar %2, %0\n\tjnz 1f\n\tmovl $1, %1\n1:"
			 : "=r"(ar), "+r"(ok)
			 : "r"((uint32_t)sel));
	return ok ? ar : 0;
}

static uint64_t ldtbuf[16];

static void check_reads(void)
{
	memset(ldtbuf, 0xaa, sizeof(ldtbuf));
	uint64_t r = modify_ldt_raw(0, ldtbuf, sizeof(ldtbuf));
	KTAP_CHECK(r == 0 && ldtbuf[0] == 0xaaaaaaaaaaaaaaaaull, "read_without_ldt",
		   "read %#llx, first word %#llx", (unsigned long long)r,
		   (unsigned long long)ldtbuf[0]);
	unsigned char b[200];
	memset(b, 0xaa, sizeof(b));
	r = modify_ldt_raw(2, b, sizeof(b));
	int zero = 1;
	for (int i = 0; i < 128; i++)
		zero &= b[i] == 0;
	KTAP_CHECK(r == 128 && zero && b[128] == 0xaa, "read_default_128_zero_bytes",
		   "returned %#llx, zeroed %d, byte 128 %#x", (unsigned long long)r, zero, b[128]);
}

static void check_errors(void)
{
	struct user_desc d;
	flat(&d, 1, 0);
	uint64_t short_count = modify_ldt_raw(0x11, &d, 15);
	uint64_t bad_func = modify_ldt_raw(3, &d, sizeof(d));
	d.entry_number = 8192;
	uint64_t too_high = modify_ldt_raw(0x11, &d, sizeof(d));
	flat(&d, 1, 3); /* conforming code, present */
	uint64_t conforming = modify_ldt_raw(0x11, &d, sizeof(d));
	d.seg_not_present = 1;
	uint64_t conforming_old = modify_ldt_raw(1, &d, sizeof(d));
	uint64_t fault = modify_ldt_raw(0x11, (void *)8, sizeof(d));
	KTAP_CHECK(short_count == 0xffffffea && bad_func == 0xffffffda && too_high == 0xffffffea &&
			   conforming == 0xffffffea && conforming_old == 0xffffffea &&
			   fault == 0xfffffff2,
		   "errors_zero_extended",
		   "bytecount 15 %#llx, func 3 %#llx, entry 8192 %#llx, conforming %#llx, "
		   "old-mode conforming %#llx, bad pointer %#llx",
		   (unsigned long long)short_count, (unsigned long long)bad_func,
		   (unsigned long long)too_high, (unsigned long long)conforming,
		   (unsigned long long)conforming_old, (unsigned long long)fault);
	/* A not-present conforming segment is allowed in the new mode. */
	flat(&d, 1, 3);
	d.seg_not_present = 1;
	int ok = write_entry(0x11, &d) == 0;
	empty(&d, 1);
	ok &= write_entry(0x11, &d) == 0;
	KTAP_CHECK(ok, "not_present_conforming_allowed", "refused");
}

static void check_descriptor(void)
{
	struct user_desc d;
	memset(&d, 0, sizeof(d));
	d.entry_number = 3;
	d.base_addr = 0x12345678;
	d.limit = 0xabcde;
	d.seg_32bit = 1;
	d.limit_in_pages = 1;
	d.useable = 1;
	int w = write_entry(0x11, &d);
	memset(ldtbuf, 0xaa, sizeof(ldtbuf));
	uint64_t r = modify_ldt_raw(0, ldtbuf, 5 * 8);
	/* base 0x12345678, limit 0xabcde, type 3 (read-write data, accessed), S, DPL 3, P,
	 * AVL, D, G: Linux's fill_ldt. Entries 0-2 were never written: zero. Entry 4 lies
	 * past the table (4 entries) and is zero-filled. */
	const uint64_t want = 0x12daf3345678bcdeull;
	KTAP_CHECK(w == 0 && r == 40 && ldtbuf[3] == want && ldtbuf[0] == 0 && ldtbuf[2] == 0 &&
			   ldtbuf[4] == 0 && ldtbuf[5] == 0xaaaaaaaaaaaaaaaaull,
		   "descriptor_read_back", "write %d, read %#llx, entry 3 %#llx, entry 4 %#llx", w,
		   (unsigned long long)r, (unsigned long long)ldtbuf[3],
		   (unsigned long long)ldtbuf[4]);
	r = modify_ldt_raw(0, ldtbuf, 16);
	KTAP_CHECK(r == 16, "read_truncated", "read %#llx", (unsigned long long)r);
	/* Old mode: `useable` is dropped (AVL clear). */
	w = write_entry(1, &d);
	r = modify_ldt_raw(0, ldtbuf, 4 * 8);
	KTAP_CHECK(w == 0 && r == 32 && ldtbuf[3] == (want & ~(1ull << 52)), "old_mode_drops_avl",
		   "write %d, entry 3 %#llx", w, (unsigned long long)ldtbuf[3]);
	/* Old mode: base 0 and limit 0 clear the entry whatever the flags say. */
	d.base_addr = 0;
	d.limit = 0;
	w = write_entry(1, &d);
	r = modify_ldt_raw(0, ldtbuf, 4 * 8);
	KTAP_CHECK(w == 0 && ldtbuf[3] == 0 && lar(LDT_SEL(3)) == 0, "old_mode_zero_clears",
		   "write %d, entry 3 %#llx", w, (unsigned long long)ldtbuf[3]);
	/* lm is ignored: a 32-bit code segment, never a 64-bit one. */
	flat(&d, 4, 2);
	d.lm = 1;
	w = write_entry(0x11, &d);
	uint32_t ar = lar(LDT_SEL(4));
	KTAP_CHECK(w == 0 && (ar & (1u << 21)) == 0 && (ar & (1u << 22)) && (ar & 0x8000),
		   "lm_ignored", "write %d, AR %#x", w, ar);
}

static uint32_t gs_data[4] = {0x11111111, 0x2468ace0, 0x33333333, 0x44444444};

static uint16_t get_gs(void)
{
	uint16_t s;
	__asm__ volatile("mov %%gs, %0" : "=r"(s));
	return s;
}

static uint16_t get_ds(void)
{
	uint16_t s;
	__asm__ volatile("mov %%ds, %0" : "=r"(s));
	return s;
}

static void check_segments(void)
{
	struct user_desc d;
	flat(&d, 5, 0);
	d.base_addr = (uint32_t)(uintptr_t)gs_data;
	int w = write_entry(0x11, &d);
	uint32_t v = 0;
	__asm__ volatile("mov %1, %%gs\n\tmovl %%gs:4, %0" : "=r"(v) : "r"(LDT_SEL(5)));
	KTAP_CHECK(w == 0 && v == 0x2468ace0, "gs_reads_segment_base", "write %d, %%gs:4 = %#x", w,
		   v);
	__asm__ volatile("mov %0, %%gs" : : "r"(0));

	/* DS names entry 6; clearing it reloads DS, which becomes null (Linux's
	 * refresh_ldt_segments and its fault fixup). */
	flat(&d, 6, 0);
	w = write_entry(0x11, &d);
	__asm__ volatile("mov %0, %%ds" : : "r"(LDT_SEL(6)));
	uint16_t before = get_ds();
	empty(&d, 6);
	int c = write_entry(0x11, &d);
	uint16_t after = get_ds();
	__asm__ volatile("mov %0, %%ds" : : "r"(0));
	KTAP_CHECK(w == 0 && c == 0 && before == LDT_SEL(6) && after == 0, "ds_nulled_by_clear",
		   "writes %d %d, DS %#x then %#x", w, c, before, after);

	/* GS names entry 7; after clearing it, a context switch must not load it: GS comes
	 * back null (on Linux: the switch's load faults and its fixup leaves null). */
	flat(&d, 7, 0);
	w = write_entry(0x11, &d);
	__asm__ volatile("mov %0, %%gs" : : "r"(LDT_SEL(7)));
	empty(&d, 7);
	c = write_entry(0x11, &d);
	struct timespec ts = {0, 2000000};
	nanosleep(&ts, NULL);
	uint16_t gs = get_gs();
	__asm__ volatile("mov %0, %%gs" : : "r"(0));
	KTAP_CHECK(w == 0 && c == 0 && gs == 0, "gs_nulled_at_switch", "writes %d %d, GS %#x", w, c,
		   gs);
}

static void *thread_writes(void *arg)
{
	struct user_desc d;
	flat(&d, 8, 0);
	return (void *)(intptr_t)write_entry(0x11, &d);
}

static void check_sharing(void)
{
	pthread_t t;
	void *ret = (void *)1;
	if (pthread_create(&t, NULL, thread_writes, NULL) == 0)
		pthread_join(t, &ret);
	uint32_t ar = lar(LDT_SEL(8));
	KTAP_CHECK(ret == NULL && (ar & 0x8000), "thread_write_seen_by_process", "ret %p, AR %#x",
		   ret, ar);

	pid_t pid = fork();
	if (pid == 0) {
		/* The parent's entry 8 is here; the child's clear stays its own. */
		struct user_desc d;
		empty(&d, 8);
		int ok = (lar(LDT_SEL(8)) & 0x8000) && write_entry(0x11, &d) == 0 &&
			 lar(LDT_SEL(8)) == 0;
		_exit(ok ? 0 : 1);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && (lar(LDT_SEL(8)) & 0x8000),
		   "fork_copies_ldt", "child status %#x, parent AR %#x", st, lar(LDT_SEL(8)));

	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	pid = fork();
	if (pid == 0) {
		execl(self, "ldt", "exec-child", (char *)NULL);
		_exit(2);
	}
	st = -1;
	waitpid(pid, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec_drops_ldt", "child status %#x",
		   st);
}

/* 32-bit code reached by IRET with CS from the LDT: copies SS to ECX and traps. */
__asm__(".pushsection .text\n\t"
	".code32\n\t"
	".globl ldt_code32\n\t"
	"ldt_code32:\n\t"
	"mov %ss, %ecx\n\t"
	"int3\n\t"
	".code64\n\t"
	".popsection");
extern char ldt_code32[];

static gregset_t saved_regs;
static volatile uint16_t trap_cs, trap_ss, trap_hw_ss, trap_ecx;
static volatile uint64_t trap_flags;

static void set_csss(ucontext_t *uc, uint16_t cs, uint16_t ss)
{
	/* REG_CSGSFS: cs, gs, fs, ss as four u16s. */
	uint16_t *s = (uint16_t *)&uc->uc_mcontext.gregs[REG_CSGSFS];
	s[0] = cs;
	s[3] = ss;
}

static void on_usr1(int sig, siginfo_t *si, void *p)
{
	ucontext_t *uc = p;
	memcpy(saved_regs, uc->uc_mcontext.gregs, sizeof(saved_regs));
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)ldt_code32;
	set_csss(uc, LDT_SEL(10), LDT_SEL(11));
}

static void on_trap(int sig, siginfo_t *si, void *p)
{
	ucontext_t *uc = p;
	uint16_t *s = (uint16_t *)&uc->uc_mcontext.gregs[REG_CSGSFS];
	uint16_t hw;
	__asm__ volatile("mov %%ss, %0" : "=r"(hw));
	trap_cs = s[0];
	trap_ss = s[3];
	trap_hw_ss = hw;
	trap_ecx = (uint16_t)uc->uc_mcontext.gregs[REG_RCX];
	trap_flags = uc->uc_flags;
	/* Back to the 64-bit code after raise(), every register as it was there (the 32-bit
	 * code leaves the upper halves undefined). */
	memcpy(uc->uc_mcontext.gregs, saved_regs, sizeof(saved_regs));
}

static void check_iret_to_ldt(void)
{
	struct user_desc d;
	flat(&d, 10, 2);
	int w = write_entry(0x11, &d);
	flat(&d, 11, 0);
	w |= write_entry(0x11, &d);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	/* The trap comes from 32-bit code, whose RSP's upper half the CPU need not keep: its
	 * handler runs on an alternate stack (as Linux's sigreturn selftest does). */
	static char altstack[65536];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	sigaltstack(&ss, NULL);
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sa.sa_sigaction = on_trap;
	sigaction(SIGTRAP, &sa, NULL);
	raise(SIGUSR1);
	/* The handler of the trap in 32-bit code: the frame holds the LDT CS and SS, the
	 * handler runs on that SS (a valid data segment is kept: Linux's force_valid_ss), and
	 * uc_flags has UC_SIGCONTEXT_SS (2) without UC_STRICT_RESTORE_SS (4). */
	KTAP_CHECK(w == 0 && trap_cs == LDT_SEL(10) && trap_ss == LDT_SEL(11) &&
			   trap_hw_ss == LDT_SEL(11) && trap_ecx == LDT_SEL(11) &&
			   (trap_flags & 6) == 2,
		   "iret_to_ldt_cs_ss", "write %d, frame CS %#x SS %#x, handler SS %#x, ECX %#x, "
		   "uc_flags %#llx", w, trap_cs, trap_ss, trap_hw_ss, trap_ecx,
		   (unsigned long long)trap_flags);
}

/* The cross-CPU case, after Linux's ldt_gdt do_multicpu_tests. */
static volatile unsigned int phase;
static sigjmp_buf jb;

static void on_segv(int sig, siginfo_t *si, void *p)
{
	siglongjmp(jb, 1);
}

static void *clearer(void *arg)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		return (void *)1;
	for (;;) {
		while (phase != 2)
			if (phase == 3)
				return NULL;
		struct user_desc d;
		empty(&d, 12);
		write_entry(0x11, &d);
		phase = 0;
	}
}

static void check_cross_cpu(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		ktap_skip("cross_cpu_clear_faults_ss", "no CPU 1");
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sa.sa_sigaction = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	pthread_t t;
	phase = 0;
	pthread_create(&t, NULL, clearer, NULL);
	uint16_t orig_ss;
	__asm__ volatile("mov %%ss, %0" : "=r"(orig_ss));
	int faults = 0, rounds = 5;
	for (volatile int i = 0; i < rounds; i++) {
		if (sigsetjmp(jb, 1)) {
			faults++;
			continue;
		}
		while (phase != 0)
			;
		struct user_desc d;
		flat(&d, 12, 0);
		write_entry(0x11, &d);
		__asm__ volatile("mov %0, %%ss" : : "r"(LDT_SEL(12)));
		phase = 2;
		while (phase != 0)
			;
		/* Still here: the clear did not reach this CPU. */
		__asm__ volatile("mov %0, %%ss" : : "r"(orig_ss));
	}
	/* The last clear's writer may still be on its way to `phase = 0`. */
	while (phase != 0)
		;
	phase = 3;
	pthread_join(t, NULL);
	KTAP_CHECK(faults == rounds, "cross_cpu_clear_faults_ss", "%d faults in %d rounds", faults,
		   rounds);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "exec-child") == 0) {
		/* A new program has no LDT: reading it returns 0, entry 8 is invalid. */
		return modify_ldt_raw(0, ldtbuf, sizeof(ldtbuf)) == 0 && lar(LDT_SEL(8)) == 0 ? 0 : 1;
	}
	ktap_plan(17);
	check_reads();
	check_errors();
	check_descriptor();
	check_segments();
	check_sharing();
	check_iret_to_ldt();
	check_cross_cpu();
	return ktap_finish();
}
