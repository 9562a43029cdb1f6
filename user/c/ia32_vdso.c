/* The 32-bit vDSO, from an i386 program (gcc -m32 -static, glibc), the same checks natively:
 *
 * - AT_SYSINFO_EHDR is an ELF32 i386 shared object below 4 GiB, AT_SYSINFO is its
 *   __kernel_vsyscall (looked up through DT_HASH at version LINUX_2.5, as Linux's
 *   parse_vdso.c), and the clock functions are there at LINUX_2.6;
 * - __kernel_vsyscall holds the CPU vendor's fast entry (SYSENTER on Intel, SYSCALL on AMD)
 *   and makes system calls with every register but EAX given back, including
 *   the second argument (ECX) and the sixth (EBP: mmap2's page offset) whatever fast entry
 *   it uses;
 * - each clock it answers lies between two system-call readings (clock_gettime64, 403),
 *   with 64-bit and 32-bit timespecs, gettimeofday and time; clock_getres; fallbacks;
 *   monotonic over 100,000 calls;
 * - the default signal restorers hold Linux's bytes, and their unwind info (an interpreter
 *   of the DWARF CFA rules in the image's .eh_frame, run against a fake signal frame) gives
 *   back the interrupted context's registers from the frame's sigcontext: what a debugger or
 *   unwind_vdso_32 needs; a handler installed without SA_RESTORER returns through them;
 * - [vvar] r--p adjoins [vdso] r-xp at AT_SYSINFO_EHDR in /proc/self/maps;
 * - vvar and vDSO moved by mremap keep working at the new place, __kernel_vsyscall included
 *   (the kernel's fast-entry return goes to the moved landing pad), and moved back.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <elf.h>
#include <cpuid.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NR_getpid 20
#define NR_mmap2 192
#define NR_mremap 163
#define NR_clock_gettime64 403

struct ts64 {
	int64_t tv_sec;
	int64_t tv_nsec;
};
struct ts32 {
	int32_t tv_sec;
	int32_t tv_nsec;
};

static uintptr_t base, load_offset;
static const Elf32_Sym *symtab;
static const char *strtab;
static const Elf32_Word *hashtab;
static const Elf32_Half *versym;
static const Elf32_Verdef *verdef;

static int vdso_init(void)
{
	const Elf32_Ehdr *eh = (const Elf32_Ehdr *)base;
	const Elf32_Phdr *ph = (const Elf32_Phdr *)(base + eh->e_phoff);
	const Elf32_Dyn *dyn = NULL;
	int found_load = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !found_load) {
			found_load = 1;
			load_offset = base + ph[i].p_offset - ph[i].p_vaddr;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const Elf32_Dyn *)(base + ph[i].p_offset);
		}
	}
	if (!found_load || !dyn)
		return 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = load_offset + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = (const void *)p; break;
		case DT_STRTAB: strtab = (const void *)p; break;
		case DT_HASH: hashtab = (const void *)p; break;
		case DT_VERSYM: versym = (const void *)p; break;
		case DT_VERDEF: verdef = (const void *)p; break;
		}
	}
	return symtab && strtab && hashtab && versym && verdef;
}

static unsigned long elf_hash(const char *name)
{
	unsigned long h = 0, g;
	while (*name) {
		h = (h << 4) + (unsigned char)*name++;
		if ((g = h & 0xf0000000))
			h ^= g >> 24;
		h &= ~g;
	}
	return h;
}

static int version_is(unsigned i, const char *ver)
{
	unsigned idx = versym[i] & 0x7fff;
	const Elf32_Verdef *d = verdef;
	for (;;) {
		if (!(d->vd_flags & VER_FLG_BASE) && (d->vd_ndx & 0x7fff) == idx) {
			const Elf32_Verdaux *a = (const void *)((const char *)d + d->vd_aux);
			return strcmp(strtab + a->vda_name, ver) == 0;
		}
		if (!d->vd_next)
			return 0;
		d = (const void *)((const char *)d + d->vd_next);
	}
}

static void *vdso_sym(const char *name, const char *ver)
{
	Elf32_Word nbucket = hashtab[0];
	const Elf32_Word *bucket = &hashtab[2], *chain = &hashtab[2 + nbucket];
	for (Elf32_Word i = bucket[elf_hash(name) % nbucket]; i; i = chain[i]) {
		const Elf32_Sym *s = &symtab[i];
		if (ELF32_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF)
			continue;
		if (strcmp(strtab + s->st_name, name) || !version_is(i, ver))
			continue;
		return (void *)(load_offset + s->st_value);
	}
	return NULL;
}

/*
 * vs_call(in, out, entry): loads EAX, EBX, ECX, EDX, ESI, EDI, EBP from in[0..7], calls
 * `entry` (__kernel_vsyscall), stores the seven registers after it in out[0..7].
 */
void vs_call(const uint32_t *in, uint32_t *out, void *entry);
__asm__(".text\n"
	".globl vs_call\n"
	"vs_call:\n"
	"	push %ebp\n	push %ebx\n	push %esi\n	push %edi\n"
	"	mov 20(%esp), %eax\n"
	"	mov 4(%eax), %ebx\n	mov 8(%eax), %ecx\n	mov 12(%eax), %edx\n"
	"	mov 16(%eax), %esi\n	mov 20(%eax), %edi\n	mov 24(%eax), %ebp\n"
	"	mov 0(%eax), %eax\n"
	"	call *28(%esp)\n"
	"	push %eax\n"
	"	mov 28(%esp), %eax\n"
	"	popl 0(%eax)\n"
	"	mov %ebx, 4(%eax)\n	mov %ecx, 8(%eax)\n	mov %edx, 12(%eax)\n"
	"	mov %esi, 16(%eax)\n	mov %edi, 20(%eax)\n	mov %ebp, 24(%eax)\n"
	"	pop %edi\n	pop %esi\n	pop %ebx\n	pop %ebp\n"
	"	ret\n");

static long int80_2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
	return ret;
}

static uint64_t ns64(const struct ts64 *t)
{
	return (uint64_t)t->tv_sec * 1000000000ull + t->tv_nsec;
}

static long sys_cgt(long id, struct ts64 *ts)
{
	return int80_2(NR_clock_gettime64, id, (long)ts);
}

typedef int (*cgt64_t)(long, struct ts64 *);
typedef int (*cgt32_t)(long, struct ts32 *);
typedef int (*gtod_t)(struct timeval *, void *);
typedef int32_t (*time_fn)(int32_t *);
typedef int (*getres_t)(long, struct ts32 *);

static cgt64_t v_cgt64;
static cgt32_t v_cgt32;
static gtod_t v_gtod;
static time_fn v_time;
static getres_t v_getres;
static void *v_vsyscall, *v_sigreturn, *v_rt_sigreturn;

static void bracket64(long id, const char *name)
{
	struct ts64 a, v, b;
	int ok = 1, r = 0;
	for (int i = 0; i < 100 && ok; i++) {
		sys_cgt(id, &a);
		r = v_cgt64(id, &v);
		sys_cgt(id, &b);
		ok = r == 0 && ns64(&a) <= ns64(&v) && ns64(&v) <= ns64(&b) && v.tv_nsec < 1000000000;
	}
	KTAP_CHECK(ok, name, "r=%d %lld.%09lld <= %lld.%09lld <= %lld.%09lld", r,
		   (long long)a.tv_sec, (long long)a.tv_nsec, (long long)v.tv_sec,
		   (long long)v.tv_nsec, (long long)b.tv_sec, (long long)b.tv_nsec);
}

static void bracket32(long id, const char *name)
{
	struct ts64 a, b;
	struct ts32 v;
	int ok = 1, r = 0;
	for (int i = 0; i < 100 && ok; i++) {
		sys_cgt(id, &a);
		r = v_cgt32(id, &v);
		sys_cgt(id, &b);
		struct ts64 v64 = {v.tv_sec, v.tv_nsec};
		ok = r == 0 && ns64(&a) <= ns64(&v64) && ns64(&v64) <= ns64(&b);
	}
	KTAP_CHECK(ok, name, "r=%d %ld.%09ld", r, (long)v.tv_sec, (long)v.tv_nsec);
}

static void check_vsyscall(void)
{
	uint32_t in[7] = {NR_getpid, 0x11111111, 0x22222222, 0x33333333,
			  0x44444444, 0x55555555, 0x66666666};
	uint32_t out[7];
	vs_call(in, out, v_vsyscall);
	KTAP_CHECK((pid_t)out[0] == getpid(), "vsyscall_getpid", "%d vs %d", (int)out[0], getpid());
	KTAP_CHECK(!memcmp(in + 1, out + 1, 6 * 4), "vsyscall_regs_preserved",
		   "ebx %x ecx %x edx %x esi %x edi %x ebp %x", out[1], out[2], out[3], out[4],
		   out[5], out[6]);
	/* mmap2(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 1): ECX is the length, EBP the page
	 * offset; the page must be the file's second one. */
	int fd = open("/proc/self/exe", O_RDONLY);
	static char want[8192];
	int ok = fd >= 0 && read(fd, want, sizeof want) == (ssize_t)sizeof want;
	uint32_t m[7] = {NR_mmap2, 0, 4096, PROT_READ, MAP_PRIVATE, (uint32_t)fd, 1};
	vs_call(m, out, v_vsyscall);
	ok = ok && out[0] < 0xfffff000u && !memcmp((void *)out[0], want + 4096, 4096);
	KTAP_CHECK(ok, "vsyscall_six_args", "fd %d mmap2 %x", fd, out[0]);
	if (out[0] < 0xfffff000u)
		munmap((void *)out[0], 4096);
	close(fd);
}

/* __kernel_vsyscall uses the CPU's fast entry before its int $0x80: SYSCALL (0f 05) on AMD
 * and Hygon, SYSENTER (0f 34) on the others (Linux: X86_FEATURE_SYSCALL32/SYSENTER32). */
static void check_fast_entry(void)
{
	unsigned a, b, c, d;
	__cpuid(0, a, b, c, d);
	int amd = (b == 0x68747541 && c == 0x444d4163 && d == 0x69746e65) || /* AuthenticAMD */
		  (b == 0x6f677948 && c == 0x656e6975 && d == 0x6e65476e);   /* HygonGenuine */
	const uint8_t *p = v_vsyscall;
	int found = 0, i;
	for (i = 0; i < 64 && !(p[i] == 0xcd && p[i + 1] == 0x80); i++)
		if (p[i] == 0x0f && p[i + 1] == (amd ? 0x05 : 0x34))
			found = 1;
	KTAP_CHECK(found, "vsyscall_fast_entry", "%s: no %s before int $0x80 (%d bytes)",
		   amd ? "AMD" : "Intel", amd ? "syscall" : "sysenter", i);
}

static void check_clocks(void)
{
	bracket64(CLOCK_REALTIME, "clock_gettime64_realtime");
	bracket64(CLOCK_MONOTONIC, "clock_gettime64_monotonic");
	bracket64(CLOCK_MONOTONIC_RAW, "clock_gettime64_monotonic_raw");
	bracket64(CLOCK_BOOTTIME, "clock_gettime64_boottime");
	bracket64(CLOCK_REALTIME_COARSE, "clock_gettime64_realtime_coarse");
	bracket64(CLOCK_MONOTONIC_COARSE, "clock_gettime64_monotonic_coarse");
	bracket32(CLOCK_REALTIME, "clock_gettime32_realtime");
	bracket32(CLOCK_MONOTONIC, "clock_gettime32_monotonic");
	struct ts64 a, b, fb;
	struct timeval tv;
	sys_cgt(CLOCK_REALTIME, &a);
	int r = v_gtod(&tv, NULL);
	sys_cgt(CLOCK_REALTIME, &b);
	uint64_t us = (uint64_t)(uint32_t)tv.tv_sec * 1000000ull + tv.tv_usec;
	KTAP_CHECK(r == 0 && ns64(&a) / 1000 <= us && us <= ns64(&b) / 1000, "gettimeofday",
		   "r=%d %ld.%06ld", r, (long)tv.tv_sec, (long)tv.tv_usec);
	int32_t t1 = 0;
	sys_cgt(CLOCK_REALTIME, &a);
	int32_t t0 = v_time(&t1);
	sys_cgt(CLOCK_REALTIME, &b);
	KTAP_CHECK(t0 == t1 && a.tv_sec <= t0 && t0 <= b.tv_sec, "time", "%d %d", t0, t1);
	struct ts32 res = {-1, -1}, cres = {-1, -1};
	int r1 = v_getres(CLOCK_MONOTONIC, &res), r2 = v_getres(CLOCK_MONOTONIC_COARSE, &cres);
	KTAP_CHECK(r1 == 0 && r2 == 0 && res.tv_sec == 0 && res.tv_nsec == 1 && cres.tv_sec == 0 &&
			   cres.tv_nsec >= 1000000 && cres.tv_nsec <= 10000000,
		   "clock_getres", "%d %d.%d %d %d.%d", r1, res.tv_sec, res.tv_nsec, r2,
		   cres.tv_sec, cres.tv_nsec);
	/* CPU-time clock: answered by the system call from inside the vDSO; an unknown id is
	 * the system call's -EINVAL. */
	int rc = v_cgt64(CLOCK_PROCESS_CPUTIME_ID, &fb);
	int bad = v_cgt64(100, &fb);
	KTAP_CHECK(rc == 0 && bad == -22, "fallbacks", "cputime %d unknown %d", rc, bad);
	uint64_t last = 0;
	int back = 0;
	for (int i = 0; i < 100000; i++) {
		v_cgt64(CLOCK_MONOTONIC, &a);
		if (ns64(&a) < last)
			back++;
		last = ns64(&a);
	}
	KTAP_CHECK(!back, "monotonic_100000", "went back %d times", back);
}

/* ---- the signal trampolines' CFI, interpreted ---- */

static uint32_t uleb(const uint8_t **p)
{
	uint32_t v = 0;
	int shift = 0;
	uint8_t b;
	do {
		b = *(*p)++;
		v |= (uint32_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	return v;
}

static int32_t sleb(const uint8_t **p)
{
	int32_t v = 0;
	int shift = 0;
	uint8_t b;
	do {
		b = *(*p)++;
		v |= (int32_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 32 && (b & 0x40))
		v |= -(1 << shift);
	return v;
}

/* A DWARF expression with ESP = `esp`; 0 on an op this interpreter does not know. */
static int eval(const uint8_t *p, const uint8_t *end, uint32_t esp, uint32_t *out)
{
	uint32_t st[8];
	int n = 0;
	while (p < end) {
		uint8_t op = *p++;
		if (op == 0x74 && n < 8) /* DW_OP_breg4 */
			st[n++] = esp + sleb(&p);
		else if (op == 0x06 && n > 0) /* DW_OP_deref */
			st[n - 1] = *(uint32_t *)st[n - 1];
		else if (op == 0x23 && n > 0) /* DW_OP_plus_uconst */
			st[n - 1] += uleb(&p);
		else
			return 0;
	}
	if (n != 1)
		return 0;
	*out = st[0];
	return 1;
}

struct eh {
	const uint8_t *start;
	size_t len;
};

/* The image's .eh_frame through PT_GNU_EH_FRAME's eh_frame_ptr. */
static int find_eh_frame(struct eh *e)
{
	const Elf32_Ehdr *eh = (const Elf32_Ehdr *)base;
	const Elf32_Phdr *ph = (const Elf32_Phdr *)(base + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_GNU_EH_FRAME)
			continue;
		const uint8_t *hdr = (const uint8_t *)(load_offset + ph[i].p_vaddr);
		if (hdr[0] != 1 || hdr[1] != 0x1b) /* version, pcrel|sdata4 */
			return 0;
		e->start = hdr + 4 + *(const int32_t *)(hdr + 4);
		e->len = 0x10000;
		return 1;
	}
	return 0;
}

/*
 * Unwinds one step at `pc` with ESP = `esp` through the FDE covering pc: fills regs[0..8]
 * (DWARF numbers: eax ecx edx ebx esp ebp esi edi eip; esp is the CFA). Returns 0 if no FDE
 * covers pc, the CIE is not a signal frame ('S'), or an instruction is unknown.
 */
static int unwind_at(const struct eh *e, uint32_t pc, uint32_t esp, uint32_t regs[9],
		     char *why, size_t whylen)
{
	const uint8_t *p = e->start;
	while (p < e->start + e->len) {
		const uint8_t *rec = p;
		uint32_t len = *(const uint32_t *)p;
		if (!len)
			break;
		const uint8_t *body = p + 4, *next = body + len;
		p = next;
		uint32_t id = *(const uint32_t *)body;
		if (!id)
			continue; /* a CIE */
		const uint8_t *cie = body - id;
		const uint8_t *q = body + 4;
		uint32_t begin = (uint32_t)(uintptr_t)q + *(const int32_t *)q;
		uint32_t range = *(const uint32_t *)(q + 4);
		if (pc < begin || pc >= begin + range)
			continue;
		(void)rec;
		/* The CIE: version, augmentation (must hold 'S'), factors, RA column. */
		const char *aug = (const char *)cie + 4 + 4 + 1; /* length, id, version */
		if (!strchr(aug, 'S')) {
			snprintf(why, whylen, "augmentation %s has no S", aug);
			return 0;
		}
		const uint8_t *c = (const uint8_t *)aug + strlen(aug) + 1;
		uleb(&c);
		sleb(&c);
		uint32_t ra = uleb(&c);
		if (ra != 8) {
			snprintf(why, whylen, "return column %u", ra);
			return 0;
		}
		q += 8;
		q += uleb(&q); /* augmentation data */
		uint32_t loc = begin;
		uint32_t cfa = 0;
		int have_cfa = 0, have[9] = {0};
		uint32_t addr[9] = {0};
		while (q < next && loc <= pc) {
			uint8_t op = *q++;
			if ((op & 0xc0) == 0x40) {
				loc += op & 0x3f;
				if (loc > pc)
					break;
			} else if (op == 0x02) {
				loc += *q++;
				if (loc > pc)
					break;
			} else if (op == 0) {
			} else if (op == 0x0f) {
				uint32_t l = uleb(&q);
				if (!eval(q, q + l, esp, &cfa)) {
					snprintf(why, whylen, "cfa expression");
					return 0;
				}
				have_cfa = 1;
				q += l;
			} else if (op == 0x10) {
				uint32_t reg = uleb(&q), l = uleb(&q), a;
				if (!eval(q, q + l, esp, &a)) {
					snprintf(why, whylen, "expression for r%u", reg);
					return 0;
				}
				if (reg < 9) {
					addr[reg] = a;
					have[reg] = 1;
				}
				q += l;
			} else {
				snprintf(why, whylen, "CFA op %#x", op);
				return 0;
			}
		}
		if (!have_cfa) {
			snprintf(why, whylen, "no CFA rule");
			return 0;
		}
		for (int r = 0; r < 9; r++) {
			if (r == 4)
				regs[r] = cfa;
			else if (have[r])
				regs[r] = *(uint32_t *)addr[r];
			else {
				snprintf(why, whylen, "no rule for r%d", r);
				return 0;
			}
		}
		return 1;
	}
	snprintf(why, whylen, "no FDE covers %#x", pc);
	return 0;
}

/* The i386 struct sigcontext's offsets of the nine registers, by DWARF number. */
static const int sc_off[9] = {44, 40, 36, 32, 28, 24, 20, 16, 56};

/*
 * A fake frame: ESP as a handler's `ret` into the trampoline leaves it (pointing at `sig`),
 * a sigcontext at `sc` bytes above it filled with distinct values; unwinding at the
 * trampoline's first byte minus one (what unwinders look up for a return address) and, for
 * sigreturn, after its `popl %eax`, must give the sigcontext's registers.
 */
static void check_cfi(const char *name, uint8_t *fn, int sc, int pop)
{
	struct eh e;
	static uint32_t frame[256];
	char why[96] = "";
	int ok = find_eh_frame(&e);
	if (!ok)
		snprintf(why, sizeof why, "no eh_frame");
	uint32_t esp = (uint32_t)(uintptr_t)frame;
	for (int r = 0; r < 9; r++)
		*(uint32_t *)((char *)frame + sc + sc_off[r]) = 0x1000 * (r + 1) + 0x44;
	for (int step = 0; ok && step < 1 + pop; step++) {
		uint32_t regs[9];
		uint32_t pc = step == 0 ? (uint32_t)(uintptr_t)fn - 1 : (uint32_t)(uintptr_t)fn + 1;
		uint32_t sp = step == 0 ? esp : esp + 4;
		ok = unwind_at(&e, pc, sp, regs, why, sizeof why);
		for (int r = 0; ok && r < 9; r++) {
			if (regs[r] != 0x1000u * (r + 1) + 0x44) {
				snprintf(why, sizeof why, "step %d r%d = %#x", step, r, regs[r]);
				ok = 0;
			}
		}
	}
	KTAP_CHECK(ok, name, "%s", why);
}

static void check_sigreturn(void)
{
	static const uint8_t sig[] = {0x58, 0xb8, 0x77, 0, 0, 0, 0xcd, 0x80};
	static const uint8_t rt[] = {0xb8, 0xad, 0, 0, 0, 0xcd, 0x80};
	KTAP_CHECK(v_sigreturn && !memcmp(v_sigreturn, sig, sizeof sig), "sigreturn_bytes",
		   "%p", v_sigreturn);
	KTAP_CHECK(v_rt_sigreturn && !memcmp(v_rt_sigreturn, rt, sizeof rt),
		   "rt_sigreturn_bytes", "%p", v_rt_sigreturn);
	/* sigframe_ia32: pretcode, sig, then the sigcontext (ESP at sig: +4); rt_sigframe_ia32:
	 * pretcode, sig, pinfo, puc, 128 bytes of siginfo, uc_flags, uc_link, uc_stack (12),
	 * then uc_mcontext (ESP at sig: +160). */
	if (v_sigreturn)
		check_cfi("sigreturn_cfi", v_sigreturn, 4, 1);
	else
		KTAP_CHECK(0, "sigreturn_cfi", "no symbol");
	if (v_rt_sigreturn)
		check_cfi("rt_sigreturn_cfi", v_rt_sigreturn, 160, 0);
	else
		KTAP_CHECK(0, "rt_sigreturn_cfi", "no symbol");
}

struct region {
	uintptr_t start, end;
	char perms[5];
};

static int find_region(const char *name, struct region *r)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		size_t n = strlen(line), k = strlen(name);
		if (n >= k && !strcmp(line + n - k, name) &&
		    sscanf(line, "%x-%x %4s", &r->start, &r->end, r->perms) == 3)
			found = 1;
	}
	fclose(f);
	return found;
}

static long raw_mremap(uintptr_t old, size_t len, uintptr_t to)
{
	long ret;
	__asm__ volatile("push %%ebx\n\tmov %2, %%ebx\n\tint $0x80\n\tpop %%ebx"
			 : "=a"(ret)
			 : "a"(NR_mremap), "r"(old), "c"(len), "d"(len),
			   "S"(MREMAP_MAYMOVE | MREMAP_FIXED), "D"(to)
			 : "memory");
	return ret;
}

/*
 * Moves [vvar] (and [vvar_vclock] on newer Linux) and [vdso] together to `to`, by raw
 * int $0x80 (glibc's own calls go through its cached AT_SYSINFO, which is the old place).
 */
static int move_all(struct region *vv, struct region *vc, int has_vc, struct region *vd,
		    uintptr_t to)
{
	uintptr_t base0 = vv->start;
	if (raw_mremap(vv->start, vv->end - vv->start, to) != (long)to)
		return 0;
	if (has_vc && raw_mremap(vc->start, vc->end - vc->start, to + (vc->start - base0)) !=
			      (long)(to + (vc->start - base0)))
		return 0;
	return raw_mremap(vd->start, vd->end - vd->start, to + (vd->start - base0)) ==
	       (long)(to + (vd->start - base0));
}

static void check_maps_and_mremap(void)
{
	struct region vv, vc, vd;
	int ok = find_region("[vvar]", &vv) && find_region("[vdso]", &vd);
	int has_vc = find_region("[vvar_vclock]", &vc);
	ok = ok && vd.start == base && !strcmp(vv.perms, "r--p") && !strcmp(vd.perms, "r-xp") &&
	     (has_vc ? vv.end == vc.start && vc.end == vd.start : vv.end == vd.start);
	KTAP_CHECK(ok, "maps_vvar_vdso", "vvar %x-%x %s vdso %x-%x %s base %x", vv.start, vv.end,
		   vv.perms, vd.start, vd.end, vd.perms, base);
	if (!ok) {
		KTAP_CHECK(0, "mremap_moves_vdso", "no maps");
		return;
	}
	size_t span = vd.end - vv.start;
	char *area = mmap(NULL, span + 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t to = (uintptr_t)area + 4096;
	struct region nv = {to, to + (vv.end - vv.start), ""},
		      nc = {to + (vc.start - vv.start), to + (vc.end - vv.start), ""},
		      nd = {to + (vd.start - vv.start), to + (vd.end - vv.start), ""};
	uint32_t out[7] = {0};
	struct ts64 a = {0}, v = {0}, b = {0};
	int moved = area != MAP_FAILED && move_all(&vv, &vc, has_vc, &vd, to), rc = -1;
	if (moved) {
		uintptr_t delta = nd.start - vd.start;
		uint32_t in[7] = {NR_getpid, 1, 2, 3, 4, 5, 6};
		/* The moved entry: its fast return must land on the moved landing pad. */
		vs_call(in, out, (char *)v_vsyscall + delta);
		sys_cgt(CLOCK_MONOTONIC, &a);
		rc = ((cgt64_t)((uintptr_t)v_cgt64 + delta))(CLOCK_MONOTONIC, &v);
		sys_cgt(CLOCK_MONOTONIC, &b);
		moved = move_all(&nv, &nc, has_vc, &nd, vv.start);
	}
	ok = moved && (pid_t)out[0] == getpid() && out[1] == 1 && out[6] == 6 && rc == 0 &&
	     ns64(&a) <= ns64(&v) && ns64(&v) <= ns64(&b);
	KTAP_CHECK(ok, "mremap_moves_vdso", "moved %d getpid %d rc %d", moved, (int)out[0], rc);
	if (area != MAP_FAILED)
		munmap(area, span + 8192);
}

/* A handler installed without SA_RESTORER (raw rt_sigaction, 174) returns through the
 * kernel's default restorer: the vDSO's __kernel_rt_sigreturn for an SA_SIGINFO frame,
 * __kernel_sigreturn for the old sigframe (Linux's ia32_setup_rt_frame/ia32_setup_frame).
 * Without them the frame's retcode on the (non-executable) stack is the return address. */
static void *volatile restorer_seen;
static void restorer_handler(int sig)
{
	(void)sig;
	restorer_seen = __builtin_return_address(0);
}

static void *restorer_for(unsigned long flags)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint32_t mask[2];
	} act = {(void *)restorer_handler, flags, 0, {0, 0}};
	restorer_seen = 0;
	long r;
	/* rt_sigaction(SIGUSR1, &act, NULL, 8) */
	__asm__ volatile("int $0x80"
			 : "=a"(r)
			 : "a"(174), "b"(SIGUSR1), "c"(&act), "d"(0), "S"(8)
			 : "memory");
	if (r == 0)
		raise(SIGUSR1);
	signal(SIGUSR1, SIG_DFL);
	return r == 0 ? restorer_seen : (void *)-1;
}

static void check_default_restorers(void)
{
	void *rt = restorer_for(SA_SIGINFO);
	void *old = restorer_for(0);
	KTAP_CHECK(rt == v_rt_sigreturn && old == v_sigreturn, "default_restorers_vdso",
		   "rt %p (vdso %p) sigframe %p (vdso %p)", rt, v_rt_sigreturn, old, v_sigreturn);
}

int main(void)
{
	ktap_plan(28);
	base = getauxval(AT_SYSINFO_EHDR);
	const Elf32_Ehdr *eh = (const Elf32_Ehdr *)base;
	int elf = base && !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
		  eh->e_ident[EI_CLASS] == ELFCLASS32 && eh->e_type == ET_DYN &&
		  eh->e_machine == EM_386;
	KTAP_CHECK(elf, "sysinfo_ehdr_elf32", "base %x", base);
	int init = elf && vdso_init();
	if (init) {
		v_vsyscall = vdso_sym("__kernel_vsyscall", "LINUX_2.5");
		v_sigreturn = vdso_sym("__kernel_sigreturn", "LINUX_2.5");
		v_rt_sigreturn = vdso_sym("__kernel_rt_sigreturn", "LINUX_2.5");
		v_cgt64 = (cgt64_t)vdso_sym("__vdso_clock_gettime64", "LINUX_2.6");
		v_cgt32 = (cgt32_t)vdso_sym("__vdso_clock_gettime", "LINUX_2.6");
		v_gtod = (gtod_t)vdso_sym("__vdso_gettimeofday", "LINUX_2.6");
		v_time = (time_fn)vdso_sym("__vdso_time", "LINUX_2.6");
		v_getres = (getres_t)vdso_sym("__vdso_clock_getres", "LINUX_2.6");
	}
	int all = v_vsyscall && v_sigreturn && v_rt_sigreturn && v_cgt64 && v_cgt32 && v_gtod &&
		  v_time && v_getres;
	KTAP_CHECK(init && all, "symbols_versioned", "init %d", init);
	KTAP_CHECK(all && getauxval(AT_SYSINFO) == (uintptr_t)v_vsyscall, "at_sysinfo",
		   "AT_SYSINFO %lx __kernel_vsyscall %p", getauxval(AT_SYSINFO), v_vsyscall);
	if (!all) {
		printf("# symbols missing: stopping\n");
		return 1;
	}
	check_fast_entry();	  /* 1 */
	check_vsyscall();	  /* 3 */
	check_clocks();		  /* 13 */
	check_sigreturn();	  /* 4 */
	check_default_restorers(); /* 1 */
	check_maps_and_mremap(); /* 2 */
	/* glibc's clocks after the move back still work (its cached entry points are valid). */
	struct timespec t;
	KTAP_CHECK(clock_gettime(CLOCK_MONOTONIC, &t) == 0 && getpid() > 0, "libc_after_mremap",
		   "errno %d", errno);
	return ktap_finish();
}
