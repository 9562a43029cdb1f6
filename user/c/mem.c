/* mem: the address space.  brk growth and shrink (raw brk: musl's sbrk refuses non-zero
 * increments), malloc of many sizes including large mmap-backed blocks, anonymous private and
 * shared mappings (shared across fork), hinted and MAP_FIXED mappings, munmap (whole and split)
 * then access -> SIGSEGV, mprotect PROT_READ then write -> SIGSEGV, mremap grow with
 * MREMAP_MAYMOVE keeping contents, madvise(MADV_DONTNEED) (zero-filling anonymous memory, and
 * giving back the file's bytes on a page of the program's own .data), a read-only file mapping of
 * /proc/self/exe, a file mapping read as it is touched (bytes written past the file's end
 * after mmap show; a 1 GiB sparse file maps and reads back one page), and a sparse walk over
 * a fresh 64 MiB demand-zero mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#define PAGE 4096UL

static sigjmp_buf jb;
static volatile int segv_count, segv_code, segv_sig;
static void *volatile segv_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	segv_count++;
	segv_sig = sig;
	segv_code = si->si_code;
	segv_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* Touch one byte; returns 1 if it faulted with SIGSEGV at that address. */
static int faults(volatile char *p, int write)
{
	segv_count = 0;
	segv_addr = NULL;
	if (sigsetjmp(jb, 1) == 0) {
		if (write)
			*p = 1;
		else
			(void)*p;
	}
	return segv_count == 1 && segv_sig == SIGSEGV && segv_addr == (void *)p;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/* Reads one byte into *out; returns the signal that stopped the read (its si_code in
 * segv_code), or 0. */
static int read_byte(volatile unsigned char *p, unsigned char *out)
{
	segv_count = 0;
	segv_sig = 0;
	if (sigsetjmp(jb, 1) == 0)
		*out = *p;
	return segv_count ? segv_sig : 0;
}

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 12) + 1);
}

/* Three pages of non-zero initialized data: in the executable, mapped privately from it. */
static unsigned char data_pages[3 * PAGE] __attribute__((aligned(4096))) = {[0 ... 3 * PAGE - 1] = 0x5a};

int main(void)
{
	ktap_plan(21);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	/* brk: query, grow by 10 pages + an unaligned tail, touch, query, shrink back. */
	uintptr_t b0 = (uintptr_t)syscall(SYS_brk, 0);
	void *s0 = sbrk(0);
	uintptr_t want = b0 + 10 * PAGE + 123;
	uintptr_t b1 = (uintptr_t)syscall(SYS_brk, want);
	int brk_ok = b0 != 0 && (void *)b0 == s0 && b1 == want;
	if (brk_ok) {
		brk_ok = all_bytes((unsigned char *)b0, 10 * PAGE + 123, 0);
		memset((void *)b0, 0xab, 10 * PAGE + 123);
		brk_ok = brk_ok && all_bytes((unsigned char *)b0, 10 * PAGE + 123, 0xab) &&
			 (uintptr_t)syscall(SYS_brk, 0) == want;
	}
	KTAP_CHECK(brk_ok, "brk_grow", "brk(0) %#lx -> %#lx (want %#lx)", (unsigned long)b0,
		   (unsigned long)b1, (unsigned long)want);
	uintptr_t b2 = (uintptr_t)syscall(SYS_brk, b0);
	/* A failing brk (below the start) returns the old break, not an error. */
	uintptr_t b3 = (uintptr_t)syscall(SYS_brk, 4096);
	KTAP_CHECK(b2 == b0 && b3 == b0 && faults((char *)((b0 + PAGE - 1) & ~(PAGE - 1)) + PAGE, 0),
		   "brk_shrink_and_fail", "brk back %#lx, brk(4096) %#lx", (unsigned long)b2,
		   (unsigned long)b3);

	/* malloc: many sizes, small to mmap-backed; patterns stay intact; calloc; realloc. */
	static const size_t sizes[] = {1, 7, 16, 24, 100, 255, 1000, 4095, 4096, 4097, 10000, 65536,
				       100000, 131072, 200000, 1 << 20, 3 << 20, 16 << 20};
	enum { NS = sizeof sizes / sizeof sizes[0] };
	unsigned char *blk[NS];
	int m_ok = 1;
	for (int i = 0; i < NS; i++) {
		blk[i] = malloc(sizes[i]);
		if (!blk[i] || ((uintptr_t)blk[i] & 15)) {
			m_ok = 0;
			continue;
		}
		for (size_t j = 0; j < sizes[i]; j++)
			blk[i][j] = pat(j + (size_t)i);
	}
	for (int i = 0; i < NS; i++) {
		for (size_t j = 0; m_ok && blk[i] && j < sizes[i]; j++)
			m_ok = blk[i][j] == pat(j + (size_t)i);
		free(blk[i]);
	}
	KTAP_CHECK(m_ok, "malloc_sizes", "a block lost its contents");
	int churn_ok = 1;
	for (int round = 0; round < 2000 && churn_ok; round++) {
		size_t n = (size_t)(round * 37 % 3000) + 1;
		char *x = malloc(n);
		churn_ok = x != NULL;
		if (x) {
			memset(x, round & 0xff, n);
			free(x);
		}
	}
	KTAP_CHECK(churn_ok, "malloc_free_churn", "malloc failed");
	unsigned char *c = calloc(1 << 20, 4);
	int c_ok = c && all_bytes(c, 4 << 20, 0);
	unsigned char *rr = malloc(1000);
	for (int i = 0; rr && i < 1000; i++)
		rr[i] = pat((size_t)i);
	rr = rr ? realloc(rr, 8 << 20) : NULL;
	int r_ok = rr != NULL;
	for (int i = 0; r_ok && i < 1000; i++)
		r_ok = rr[i] == pat((size_t)i);
	free(rr);
	free(c);
	KTAP_CHECK(c_ok && r_ok, "calloc_zero_realloc_keeps", "calloc %d realloc %d", c_ok, r_ok);

	/* Anonymous private mapping: zero-filled, writable; private across fork. */
	unsigned char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ap_ok = a != MAP_FAILED && ((uintptr_t)a & (PAGE - 1)) == 0 && all_bytes(a, 4 * PAGE, 0);
	if (ap_ok) {
		memset(a, 0x5c, 4 * PAGE);
		pid_t pid = fork();
		if (pid == 0) {
			a[0] = 1;
			_exit(0);
		}
		int st;
		ap_ok = waitpid(pid, &st, 0) == pid && all_bytes(a, 4 * PAGE, 0x5c);
	}
	KTAP_CHECK(ap_ok, "mmap_anon_private", "private mapping wrong");

	/* Anonymous shared mapping: the child's writes are seen by the parent. */
	volatile unsigned *sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int sh_ok = sh != MAP_FAILED;
	if (sh_ok) {
		sh[0] = 1;
		pid_t pid = fork();
		if (pid == 0) {
			sh[0] = 0xfeedu;
			sh[1000] = 0xbeefu;
			_exit(0);
		}
		int st;
		sh_ok = waitpid(pid, &st, 0) == pid && sh[0] == 0xfeedu && sh[1000] == 0xbeefu;
		munmap((void *)sh, PAGE);
	}
	KTAP_CHECK(sh_ok, "mmap_anon_shared_fork", "shared mapping not shared");

	/* A hint at a free address is honoured. */
	void *hint = (void *)0x200000000000UL;
	void *h = mmap(hint, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KTAP_CHECK(h == hint, "mmap_hint_honoured", "hint %p got %p", hint, h);
	if (h != MAP_FAILED)
		munmap(h, PAGE);

	/* MAP_FIXED over the middle page of an existing mapping replaces just that page. */
	int fx_ok = 0;
	if (a != MAP_FAILED) {
		unsigned char *mid = a + PAGE;
		unsigned char *f = mmap(mid, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
					-1, 0);
		fx_ok = f == mid && all_bytes(a, PAGE, 0x5c) && all_bytes(mid, PAGE, 0) &&
			all_bytes(a + 2 * PAGE, 2 * PAGE, 0x5c);
	}
	KTAP_CHECK(fx_ok, "mmap_fixed_replaces", "MAP_FIXED did not replace exactly one page");

	/* munmap of the middle page splits the mapping; the hole faults, the rest stays. */
	int un_ok = 0;
	if (a != MAP_FAILED) {
		un_ok = munmap(a + 2 * PAGE, PAGE) == 0 && faults((char *)a + 2 * PAGE + 8, 0) &&
			segv_code == SEGV_MAPERR && a[0] == 0x5c && a[3 * PAGE] == 0x5c;
		un_ok = un_ok && munmap(a, 4 * PAGE) == 0 && faults((char *)a, 1) && faults((char *)a + 3 * PAGE, 0);
	}
	KTAP_CHECK(un_ok, "munmap_then_access_segv", "munmap did not unmap exactly");

	/* mprotect to PROT_READ: reads work, writes fault with SEGV_ACCERR; back to RW. */
	unsigned char *pr = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int mp_ok = pr != MAP_FAILED;
	if (mp_ok) {
		memset(pr, 7, 2 * PAGE);
		mp_ok = mprotect(pr, PAGE, PROT_READ) == 0 && pr[10] == 7 && faults((char *)pr + 10, 1) &&
			segv_code == SEGV_ACCERR && pr[10] == 7;
		pr[PAGE + 10] = 8; /* the second page stays writable */
		mp_ok = mp_ok && mprotect(pr, PAGE, PROT_NONE) == 0 && faults((char *)pr, 0) &&
			segv_code == SEGV_ACCERR;
		mp_ok = mp_ok && mprotect(pr, PAGE, PROT_READ | PROT_WRITE) == 0 && (pr[10] = 9, pr[10] == 9) &&
			pr[11] == 7 && pr[PAGE + 10] == 8;
		munmap(pr, 2 * PAGE);
	}
	KTAP_CHECK(mp_ok, "mprotect_read_then_write_segv", "mprotect semantics wrong");

	/* mremap: grow with MREMAP_MAYMOVE keeps the contents; the new part is zero; shrink. */
	int mr_ok = 0;
	unsigned char *g = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g != MAP_FAILED) {
		for (size_t i = 0; i < 2 * PAGE; i++)
			g[i] = pat(i);
		/* Block growth in place so the mapping has to move. */
		void *blocker = mmap(g + 2 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				     -1, 0);
		unsigned char *n = mremap(g, 2 * PAGE, 64 * PAGE, MREMAP_MAYMOVE);
		mr_ok = n != MAP_FAILED;
		for (size_t i = 0; mr_ok && i < 2 * PAGE; i++)
			mr_ok = n[i] == pat(i);
		mr_ok = mr_ok && all_bytes(n + 2 * PAGE, 62 * PAGE, 0);
		if (mr_ok) {
			n[64 * PAGE - 1] = 1;
			/* The old range is gone when the mapping moved. */
			if (n != g)
				mr_ok = faults((char *)g, 0);
			unsigned char *s = mremap(n, 64 * PAGE, PAGE, 0);
			mr_ok = mr_ok && s == n && s[5] == pat(5) && faults((char *)n + PAGE, 0);
			munmap(n, PAGE);
		}
		if (blocker != MAP_FAILED)
			munmap(blocker, PAGE);
	}
	KTAP_CHECK(mr_ok, "mremap_grow_maymove", "mremap lost data or mapping");

	/* madvise(MADV_DONTNEED) is accepted; on private anonymous memory it zero-fills. */
	unsigned char *d = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int md_ok = 0, md_zero = 0;
	if (d != MAP_FAILED) {
		memset(d, 0x77, 4 * PAGE);
		md_ok = madvise(d, 4 * PAGE, MADV_DONTNEED) == 0;
		md_zero = all_bytes(d, 4 * PAGE, 0);
		d[0] = 3; /* still mapped and writable */
		md_ok = md_ok && d[0] == 3 && madvise(d, 4 * PAGE, MADV_WILLNEED) == 0 &&
			madvise(d, 4 * PAGE, MADV_NORMAL) == 0;
		munmap(d, 4 * PAGE);
	}
	KTAP_CHECK(md_ok, "madvise_accepted", "madvise failed");
	KTAP_CHECK(md_zero, "madvise_dontneed_zeroes", "MADV_DONTNEED kept the old contents");

	/* A page of the program's own initialized data (a private mapping of the executable):
	 * written, then dropped by MADV_DONTNEED, it is read from the file again (0x5a), neither
	 * the written bytes nor zeros. The middle of three aligned pages, so the page is wholly
	 * this array's. */
	unsigned char *mid = data_pages + PAGE;
	memset(mid, 0x11, PAGE);
	int dd_call = madvise(mid, PAGE, MADV_DONTNEED);
	KTAP_CHECK(dd_call == 0 && all_bytes(mid, PAGE, 0x5a) && all_bytes(data_pages, PAGE, 0x5a),
		   "madvise_dontneed_rereads_exe_data", "madvise %d, first byte after %#x", dd_call,
		   mid[0]);

	/* File-backed read-only mapping of our own executable: ELF magic; page 1 matches pread. */
	char exe[4096];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int fm_ok = 0, off_ok = 0;
	if (el > 0) {
		exe[el] = 0;
		int fd = open(exe, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			unsigned char *e = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
			fm_ok = e != MAP_FAILED && memcmp(e, "\177ELF", 4) == 0 && e[4] == 2 /* ELFCLASS64 */ &&
				e[18] == 62 /* EM_X86_64 */;
			if (e != MAP_FAILED)
				munmap(e, PAGE);
			unsigned char *e1 = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
			unsigned char buf[PAGE];
			off_ok = e1 != MAP_FAILED && pread(fd, buf, PAGE, PAGE) == (ssize_t)PAGE &&
				 memcmp(e1, buf, PAGE) == 0 && faults((char *)e1, 1);
			if (e1 != MAP_FAILED)
				munmap(e1, PAGE);
			close(fd);
		}
	}
	KTAP_CHECK(fm_ok, "mmap_file_elf_magic", "mapping of the executable failed or has no ELF magic");
	KTAP_CHECK(off_ok, "mmap_file_offset_readonly", "page 1 differs from pread or is writable");

	/* Demand zero: a fresh 64 MiB mapping reads zero wherever it is touched. */
	size_t big = 64UL << 20;
	unsigned char *z = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int dz_ok = z != MAP_FAILED;
	for (size_t off = 0; dz_ok && off < big; off += 256 * 1024 + 4096 + 8)
		dz_ok = z[off] == 0;
	for (size_t off = 0; dz_ok && off < big; off += 1 << 20)
		z[off + 17] = (unsigned char)(off >> 20);
	for (size_t off = 0; dz_ok && off < big; off += 1 << 20)
		dz_ok = z[off + 17] == (unsigned char)(off >> 20) && z[off + 18] == 0 && z[off + 4096] == 0;
	dz_ok = dz_ok && z[big - 1] == 0;
	if (z != MAP_FAILED)
		munmap(z, big);
	KTAP_CHECK(dz_ok, "demand_zero_64m", "a fresh page was not zero");

	/* A private file mapping reads the file as it is touched (Linux: the page cache until the
	 * first write): a page that lay past the file's end at mmap time shows what was written
	 * there since, and the page past the new end is SIGBUS. */
	int grow_ok = 0;
	unsigned char g0 = 0, g1 = 0, g2 = 0;
	int gsig = -1;
	char gpath[] = "/tmp/mem_grow_XXXXXX";
	int gfd = mkstemp(gpath);
	if (gfd >= 0) {
		unlink(gpath);
		unsigned char head[100], tail[PAGE];
		memset(head, 0x21, sizeof head);
		memset(tail, 0x42, sizeof tail);
		unsigned char *m = NULL;
		if (write(gfd, head, sizeof head) == (ssize_t)sizeof head)
			m = mmap(NULL, 3 * PAGE, PROT_READ, MAP_PRIVATE, gfd, 0);
		if (m && m != MAP_FAILED) {
			int ok = read_byte(m, &g0) == 0;
			ok = ok && pwrite(gfd, tail, sizeof tail, PAGE) == (ssize_t)sizeof tail;
			ok = ok && read_byte(m + PAGE + 4095, &g1) == 0 && read_byte(m + 99, &g2) == 0;
			gsig = read_byte(m + 2 * PAGE, &(unsigned char){0});
			grow_ok = ok && g0 == 0x21 && g1 == 0x42 && g2 == 0x21 && gsig == SIGBUS &&
				  segv_code == BUS_ADRERR;
			munmap(m, 3 * PAGE);
		}
		close(gfd);
	}
	KTAP_CHECK(grow_ok, "mmap_file_reads_as_touched", "bytes %#x %#x %#x, past the end: signal %d",
		   g0, g1, g2, gsig);

	/* A 1 GiB sparse file maps privately whole (more than this machine's memory, were it
	 * copied) and one touched page reads back what was written there. */
	int sparse_ok = 0;
	char spath[] = "/tmp/mem_sparse_XXXXXX";
	int sfd = mkstemp(spath);
	if (sfd >= 0) {
		unlink(spath);
		size_t gib = 1UL << 30;
		unsigned char mark = 0x5c;
		if (ftruncate(sfd, gib) == 0 && pwrite(sfd, &mark, 1, gib - PAGE + 7) == 1) {
			unsigned char *m = mmap(NULL, gib, PROT_READ, MAP_PRIVATE, sfd, 0);
			if (m != MAP_FAILED) {
				sparse_ok = m[gib - PAGE + 7] == 0x5c && m[gib - PAGE + 8] == 0 && m[0] == 0;
				munmap(m, gib);
			}
		}
		close(sfd);
	}
	KTAP_CHECK(sparse_ok, "mmap_file_sparse_1g", "the 1 GiB mapping failed or read wrong bytes");

	/* Errors: length 0, unaligned munmap, bad fd. */
	errno = 0;
	int e1 = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED && errno == EINVAL;
	errno = 0;
	int e2 = munmap((void *)(0x100000UL + 1), PAGE) == -1 && errno == EINVAL;
	errno = 0;
	int e3 = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 999, 0) == MAP_FAILED && errno == EBADF;
	KTAP_CHECK(e1 && e2 && e3, "mmap_munmap_errors", "EINVAL/EINVAL/EBADF: %d %d %d", e1, e2, e3);

	return ktap_finish();
}
