/* The 64-bit vDSO: found through AT_SYSINFO_EHDR, its symbols looked up in the image as
 * Linux's selftests/vDSO/parse_vdso.c does (DT_HASH, versioned LINUX_2.6), called directly and
 * compared with the system calls, and used by the C library without any system call (a seccomp
 * filter fails the clock calls with EPERM while libc's clock_gettime keeps working). Also: the
 * [vvar] and [vdso] lines of /proc/self/maps, fork keeping the mapping, mremap of the whole
 * vDSO (with its vvar) working at the new place, and Linux's refusals for parts of it. */
#define _GNU_SOURCE
#include <elf.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "ktap.h"
#include "seccomp_abi.h"

typedef long (*cgt_t)(long, struct timespec *);
typedef long (*gtod_t)(struct timeval *, void *);
typedef long (*time_t_fn)(long *);
typedef long (*getcpu_t)(unsigned *, unsigned *, void *);
typedef long (*getres_t)(long, struct timespec *);

static uintptr_t base;
static const Elf64_Sym *symtab;
static const char *strtab;
static const Elf64_Word *hashtab;
static const Elf64_Half *versym;
static const Elf64_Verdef *verdef;
static uintptr_t load_offset;

/* Finds the dynamic tables of the image at `base`; 0 if something is missing. */
static int vdso_init(void)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	const Elf64_Dyn *dyn = NULL;
	int found_load = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !found_load) {
			found_load = 1;
			load_offset = base + ph[i].p_offset - ph[i].p_vaddr;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
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
	return symtab && strtab && hashtab;
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

/* Whether symbol `i` has version `ver` (no version table: any). */
static int version_is(unsigned i, const char *ver)
{
	if (!versym || !verdef)
		return 1;
	unsigned idx = versym[i] & 0x7fff;
	const Elf64_Verdef *d = verdef;
	for (;;) {
		if (!(d->vd_flags & VER_FLG_BASE) && (d->vd_ndx & 0x7fff) == idx) {
			const Elf64_Verdaux *a = (const void *)((const char *)d + d->vd_aux);
			return strcmp(strtab + a->vda_name, ver) == 0;
		}
		if (!d->vd_next)
			return 0;
		d = (const void *)((const char *)d + d->vd_next);
	}
}

/* The address of `name`@LINUX_2.6 through DT_HASH, or NULL. */
static void *vdso_sym(const char *name)
{
	Elf64_Word nbucket = hashtab[0];
	const Elf64_Word *bucket = &hashtab[2], *chain = &hashtab[2 + nbucket];
	for (Elf64_Word i = bucket[elf_hash(name) % nbucket]; i; i = chain[i]) {
		const Elf64_Sym *s = &symtab[i];
		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF)
			continue;
		if (ELF64_ST_BIND(s->st_info) != STB_GLOBAL && ELF64_ST_BIND(s->st_info) != STB_WEAK)
			continue;
		if (strcmp(strtab + s->st_name, name) || !version_is(i, "LINUX_2.6"))
			continue;
		return (void *)(load_offset + s->st_value);
	}
	return NULL;
}

static uint64_t ns_of(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000ull + t->tv_nsec;
}

static long sys_cgt(long id, struct timespec *ts)
{
	return syscall(SYS_clock_gettime, id, ts);
}

static cgt_t v_cgt;
static gtod_t v_gtod;
static time_t_fn v_time;
static getcpu_t v_getcpu;
static getres_t v_getres;

/* syscall <= vDSO <= syscall for clock `id`. */
static void bracket(long id, const char *name)
{
	struct timespec a, v, b;
	int ok = 1;
	long r = 0;
	for (int i = 0; i < 100 && ok; i++) {
		sys_cgt(id, &a);
		r = v_cgt(id, &v);
		sys_cgt(id, &b);
		ok = r == 0 && ns_of(&a) <= ns_of(&v) && ns_of(&v) <= ns_of(&b) && v.tv_nsec < 1000000000;
	}
	KTAP_CHECK(ok, name, "r=%ld %lld.%09ld <= %lld.%09ld <= %lld.%09ld", r, (long long)a.tv_sec,
		   a.tv_nsec, (long long)v.tv_sec, v.tv_nsec, (long long)b.tv_sec, b.tv_nsec);
}

/* Two threads pinned to two CPUs hand a reading to each other; the other's reading must never
 * be later than one's own taken after seeing it. */
static volatile uint64_t handoff;
static volatile int turn, xcpu_bad;
static int xcpus[2];
#define XCPU_ROUNDS 2000

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static void *xcpu_thread(void *arg)
{
	int me = (int)(long)arg;
	pin(xcpus[me]);
	for (int i = 0; i < XCPU_ROUNDS; i++) {
		while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) % 2 != me)
			sched_yield();
		struct timespec t;
		v_cgt(CLOCK_MONOTONIC, &t);
		if (ns_of(&t) < handoff)
			xcpu_bad++;
		handoff = ns_of(&t);
		__atomic_store_n(&turn, turn + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int two_cpus(int *c0, int *c1)
{
	cpu_set_t s;
	if (sched_getaffinity(0, sizeof(s), &s))
		return 0;
	int n = 0;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &s))
			*(n++ ? c1 : c0) = i;
	return n == 2;
}

/* The [vvar] and [vdso] lines: start, end, permissions. */
struct region {
	uintptr_t start, end;
	char perms[5];
};

static int find_region(const char *name, struct region *r);

/* The vvar pages end where the vDSO starts (directly, or through [vvar_vclock]). */
static int vvar_adjoins(const struct region *vv, const struct region *vd)
{
	struct region vc;
	if (find_region("[vvar_vclock]", &vc))
		return vv->end == vc.start && vc.end == vd->start;
	return vv->end == vd->start;
}

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
		    sscanf(line, "%lx-%lx %4s", &r->start, &r->end, r->perms) == 3)
			found = 1;
	}
	fclose(f);
	return found;
}

/* In a child: fails clock_gettime, gettimeofday and time with EPERM through seccomp; libc's
 * clock_gettime, gettimeofday and time must still work (the vDSO), the raw syscall must not. */
static int libc_without_syscalls(void)
{
	struct sock_filter f[] = {
		STMT(LD_ABS, 0), /* nr */
		JUMP(JEQ_K, SYS_clock_gettime, 3, 0),
		JUMP(JEQ_K, SYS_gettimeofday, 2, 0),
		JUMP(JEQ_K, SYS_time, 1, 0),
		STMT(RET_K, SECCOMP_RET_ALLOW),
		STMT(RET_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	/* prctl's SECCOMP_MODE_FILTER is 2. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, 2, &prog))
		return 1;
	struct timespec t;
	errno = 0;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t) != -1 || errno != EPERM)
		return 2; /* the filter does not bite: the point would not be exercised */
	struct timespec m1, m2, r;
	struct timeval tv;
	if (clock_gettime(CLOCK_MONOTONIC, &m1) || clock_gettime(CLOCK_REALTIME, &r))
		return 3;
	if (clock_gettime(CLOCK_MONOTONIC, &m2) || ns_of(&m2) < ns_of(&m1))
		return 4;
	if (gettimeofday(&tv, NULL) || tv.tv_sec < r.tv_sec)
		return 5;
	if (time(NULL) < r.tv_sec)
		return 6;
	if (r.tv_sec < 1577836800) /* after 2020 */
		return 7;
	return 0;
}

static int in_child(int (*fn)(void))
{
	pid_t p = fork();
	if (p == 0)
		_exit(fn());
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* In a child: the vDSO is where the parent had it, and works. */
static int fork_keeps(void)
{
	struct region r;
	struct timespec a, v;
	if (getauxval(AT_SYSINFO_EHDR) != base || !find_region("[vdso]", &r) || r.start != base)
		return 1;
	sys_cgt(CLOCK_MONOTONIC, &a);
	if (v_cgt(CLOCK_MONOTONIC, &v) || ns_of(&v) < ns_of(&a))
		return 2;
	return 0;
}

/* In a child: vvar and vDSO moved together by mremap keep working at the new place; parts of
 * them and growing them are refused as Linux refuses them. */
static int mremap_vdso(void)
{
	struct region vv, vc, vd;
	if (!find_region("[vvar]", &vv) || !find_region("[vdso]", &vd) || !vvar_adjoins(&vv, &vd))
		return 1;
	/* Newer Linux splits the clock pages off as [vvar_vclock], between the two. */
	int has_vc = find_region("[vvar_vclock]", &vc);
	size_t vvl = vv.end - vv.start, vdl = vd.end - vd.start, span = vd.end - vv.start;
	if (mremap((void *)vd.start, vdl, vdl + 4096, MREMAP_MAYMOVE) != MAP_FAILED || errno != EFAULT)
		return 2;
	if (mprotect((void *)vv.start, vvl, PROT_READ | PROT_WRITE) == 0 || errno != EACCES)
		return 3;
	/* A special mapping cannot be split (checked where it has more than one page; mremap of a
	 * part is left out: Linux 6.1 refuses it, later ones move it). */
	if (vdl > 4096 && (munmap((void *)(vd.start + 4096), 4096) == 0 || errno != EINVAL))
		return 4;
	if (vvl > 4096 && (munmap((void *)(vv.start + 4096), 4096) == 0 || errno != EINVAL))
		return 4;
	char *area = mmap(NULL, span + 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return 5;
	char *nv = area + 4096, *nd = nv + (vd.start - vv.start);
	if (mremap((void *)vv.start, vvl, vvl, MREMAP_MAYMOVE | MREMAP_FIXED, nv) != nv)
		return 6;
	char *nc = nv + (vc.start - vv.start);
	if (has_vc && mremap((void *)vc.start, vc.end - vc.start, vc.end - vc.start,
			     MREMAP_MAYMOVE | MREMAP_FIXED, nc) != nc)
		return 6;
	if (mremap((void *)vd.start, vdl, vdl, MREMAP_MAYMOVE | MREMAP_FIXED, nd) != nd)
		return 7;
	struct region r;
	if (!find_region("[vdso]", &r) || r.start != (uintptr_t)nd)
		return 8;
	cgt_t moved = (cgt_t)((uintptr_t)v_cgt - base + (uintptr_t)nd);
	struct timespec a, v, b;
	sys_cgt(CLOCK_REALTIME, &a);
	long rc = moved(CLOCK_REALTIME, &v);
	sys_cgt(CLOCK_REALTIME, &b);
	if (rc || ns_of(&v) < ns_of(&a) || ns_of(&v) > ns_of(&b))
		return 9;
	return 0;
}

/* In a child: a write to [vvar] must kill it (SIGSEGV). */
static int write_vvar(void)
{
	struct region vv;
	if (!find_region("[vvar]", &vv))
		return 1;
	*(volatile char *)vv.start = 1;
	return 2; /* survived the write */
}

/* In a child: the vDSO made writable and filled with int3 is the child's own copy. */
static int write_vdso(void)
{
	struct region vd;
	if (!find_region("[vdso]", &vd))
		return 1;
	if (mprotect((void *)vd.start, vd.end - vd.start, PROT_READ | PROT_WRITE | PROT_EXEC))
		return 2;
	memset((void *)vd.start, 0xcc, vd.end - vd.start);
	return 0;
}

int main(void)
{
	ktap_plan(21);
	base = getauxval(AT_SYSINFO_EHDR);
	const unsigned char *e = (const unsigned char *)base;
	int elf_ok = base && !memcmp(e, ELFMAG, SELFMAG) && e[EI_CLASS] == ELFCLASS64 &&
		     ((const Elf64_Ehdr *)base)->e_type == ET_DYN && vdso_init();
	KTAP_CHECK(elf_ok, "auxv_sysinfo_ehdr_elf", "AT_SYSINFO_EHDR %#lx", (unsigned long)base);
	if (!elf_ok)
		return ktap_finish();
	v_cgt = vdso_sym("__vdso_clock_gettime");
	v_gtod = vdso_sym("__vdso_gettimeofday");
	v_time = vdso_sym("__vdso_time");
	v_getcpu = vdso_sym("__vdso_getcpu");
	v_getres = vdso_sym("__vdso_clock_getres");
	int syms = v_cgt && v_gtod && v_time && v_getcpu && v_getres && vdso_sym("clock_gettime") &&
		   vdso_sym("gettimeofday") && vdso_sym("time") && vdso_sym("getcpu") &&
		   vdso_sym("clock_getres") && !vdso_sym("__vdso_nonexistent");
	KTAP_CHECK(syms, "symbols_linux_2_6", "%p %p %p %p %p", v_cgt, v_gtod, v_time, v_getcpu,
		   v_getres);
	if (!syms)
		return ktap_finish();

	struct timespec t;
	sys_cgt(CLOCK_MONOTONIC, &t); /* starts kentry's clock */
	bracket(CLOCK_MONOTONIC, "monotonic_bracketed");
	bracket(CLOCK_REALTIME, "realtime_bracketed");
	bracket(CLOCK_MONOTONIC_RAW, "monotonic_raw_bracketed");
	bracket(CLOCK_BOOTTIME, "boottime_bracketed");
	bracket(CLOCK_MONOTONIC_COARSE, "monotonic_coarse_bracketed");
	bracket(CLOCK_REALTIME_COARSE, "realtime_coarse_bracketed");

	/* Clocks the vvar page cannot give go to the system call from inside the vDSO. */
	long bad = v_cgt(12345, &t);
	long cpu = v_cgt(CLOCK_PROCESS_CPUTIME_ID, &t);
	KTAP_CHECK(bad == -EINVAL && cpu == 0, "fallback_clocks", "bad id %ld, cputime %ld", bad, cpu);

	int res_ok = 1;
	for (long id = 0; id <= 11 && res_ok; id++) {
		struct timespec a = {-1, -1}, b = {-1, -1};
		long ra = syscall(SYS_clock_getres, id, &a), rb = v_getres(id, &b);
		if (ra == -1)
			ra = -errno; /* the vDSO returns the raw -errno */
		res_ok = ra == rb && (ra || (a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec));
		if (!res_ok)
			ktap_diag("clock_getres_agrees", "id %ld: %ld %ld.%ld vs %ld %ld.%ld", id, ra,
				  (long)a.tv_sec, a.tv_nsec, rb, (long)b.tv_sec, b.tv_nsec);
	}
	ktap_result(res_ok, "clock_getres_agrees");

	struct timespec a, b;
	struct timeval tv;
	sys_cgt(CLOCK_REALTIME, &a);
	long gr = v_gtod(&tv, NULL);
	sys_cgt(CLOCK_REALTIME, &b);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	KTAP_CHECK(gr == 0 && us >= ns_of(&a) / 1000 && us <= ns_of(&b) / 1000 && tv.tv_usec < 1000000,
		   "gettimeofday_bracketed", "%ld %lld.%06ld", gr, (long long)tv.tv_sec, tv.tv_usec);
	long tt = -1;
	sys_cgt(CLOCK_REALTIME, &a);
	long tr = v_time(&tt);
	sys_cgt(CLOCK_REALTIME, &b);
	KTAP_CHECK(tr == tt && tr >= a.tv_sec && tr <= b.tv_sec, "time_bracketed", "%ld %ld", tr, tt);

	/* getcpu on each allowed CPU, pinned there: the vDSO's answer is the syscall's. */
	cpu_set_t all;
	int getcpu_ok = sched_getaffinity(0, sizeof all, &all) == 0, tried = 0;
	for (int c = 0; c < 64 && getcpu_ok; c++) {
		if (!CPU_ISSET(c, &all))
			continue;
		pin(c);
		unsigned vc = 999, vn = 999, sc = 998, sn = 998;
		long rv = v_getcpu(&vc, &vn, NULL);
		syscall(SYS_getcpu, &sc, &sn, NULL);
		getcpu_ok = rv == 0 && vc == (unsigned)c && sc == (unsigned)c && vn == sn;
		tried++;
		if (!getcpu_ok)
			ktap_diag("getcpu_agrees", "cpu %d: vdso %ld %u/%u, syscall %u/%u", c, rv, vc, vn, sc,
				  sn);
	}
	sched_setaffinity(0, sizeof all, &all);
	ktap_result(getcpu_ok && tried > 0, "getcpu_agrees");

	uint64_t prev = 0;
	int mono = 1;
	for (int i = 0; i < 200000 && mono; i++) {
		v_cgt(CLOCK_MONOTONIC, &t);
		mono = ns_of(&t) >= prev;
		prev = ns_of(&t);
	}
	KTAP_CHECK(mono, "monotonic_many_calls", "went back at %llu", (unsigned long long)prev);

	int c0, c1;
	if (two_cpus(&c0, &c1)) {
		pthread_t th[2];
		xcpus[0] = c0;
		xcpus[1] = c1;
		pthread_create(&th[0], NULL, xcpu_thread, (void *)0L);
		pthread_create(&th[1], NULL, xcpu_thread, (void *)1L);
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
		KTAP_CHECK(!xcpu_bad, "monotonic_across_cpus", "%d readings earlier than the other CPU's",
			   xcpu_bad);
	} else {
		ktap_skip("monotonic_across_cpus", "one CPU");
	}

	struct region vv, vd;
	int maps = find_region("[vdso]", &vd) && find_region("[vvar]", &vv);
	KTAP_CHECK(maps && vd.start == base && !strcmp(vd.perms, "r-xp") && !strcmp(vv.perms, "r--p") &&
			   vvar_adjoins(&vv, &vd),
		   "proc_maps_vvar_vdso", "found %d vdso %lx %s vvar %lx-%lx %s", maps, vd.start, vd.perms,
		   vv.start, vv.end, vv.perms);

	int rc = in_child(libc_without_syscalls);
	KTAP_CHECK(rc == 0, "libc_clocks_without_syscall", "child returned %d", rc);
	rc = in_child(fork_keeps);
	KTAP_CHECK(rc == 0, "fork_keeps_vdso", "child returned %d", rc);
	rc = in_child(write_vvar);
	KTAP_CHECK(rc == 100 + SIGSEGV, "vvar_write_segv", "child returned %d", rc);
	/* The parent's vDSO (and every other process's) still works after the child's writes. */
	rc = in_child(write_vdso);
	struct timespec a2, v2;
	sys_cgt(CLOCK_MONOTONIC, &a2);
	long r2 = v_cgt(CLOCK_MONOTONIC, &v2);
	KTAP_CHECK(rc == 0 && r2 == 0 && ns_of(&v2) >= ns_of(&a2) &&
			   !memcmp((void *)base, ELFMAG, SELFMAG),
		   "vdso_write_is_private", "child returned %d, vdso %ld", rc, r2);
	rc = in_child(mremap_vdso);
	KTAP_CHECK(rc == 0, "mremap_vdso_whole", "child returned %d", rc);
	return ktap_finish();
}
