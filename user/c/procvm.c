/* procvm: process_vm_readv and process_vm_writev, on this process and on a child.
 *
 * - readv_self_scatter: two remote pieces of this process's own memory into three local
 *   buffers of other sizes; the bytes arrive in order and the count is their sum.
 * - readv_child: a value the child wrote after fork is read from the child, not from the
 *   parent's copy of the same address.
 * - writev_child_cow: a write into a page that parent and child share copy-on-write after
 *   fork changes the child's page only; the parent's stays as it was.
 * - child_untouched_pages: a page the child mapped and never touched reads as zeros, and a
 *   write into another such page is what the child then reads there.
 * - partial_then_efault: a readable piece followed by an unmapped one moves the first piece
 *   and returns its length; an unmapped first piece is -1/EFAULT.
 * - protections: a PROT_NONE page cannot be read, a PROT_READ page cannot be written
 *   (EFAULT), as the target's own accesses could not.
 * - bad_arguments: flags other than 0 and more than 1024 iovecs are EINVAL, a pid that does
 *   not exist is ESRCH, and an empty local side returns 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#define PAGE 4096

static char own[2 * PAGE];
static volatile uint64_t secret = 1;
static char shared_cow[PAGE];

/* The child: publishes addresses of its own mappings, then waits for the parent's command. */
struct child_info {
	uint64_t *fresh_read;  /* an untouched anonymous page */
	char *fresh_write;     /* another untouched page */
	char *prot_none;       /* a PROT_NONE page */
	char *read_only;       /* a PROT_READ page */
};

static int to_parent[2], to_child[2];
static pid_t child;
static struct child_info info;

static void child_main(void)
{
	secret = 0x5eC7e7;
	char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct child_info ci = {
		.fresh_read = (uint64_t *)m,
		.fresh_write = m + PAGE,
		.prot_none = m + 2 * PAGE,
		.read_only = m + 3 * PAGE,
	};
	mprotect(ci.prot_none, PAGE, PROT_NONE);
	mprotect(ci.read_only, PAGE, PROT_READ);
	if (write(to_parent[1], &ci, sizeof ci) != sizeof ci)
		_exit(2);
	/* Wait until the parent has written, then report what this process sees. */
	char cmd;
	if (read(to_child[0], &cmd, 1) != 1)
		_exit(3);
	char seen[2] = {shared_cow[0], ci.fresh_write[5]};
	if (write(to_parent[1], seen, 2) != 2)
		_exit(4);
	_exit(0);
}

static void readv_self_scatter(void)
{
	for (int i = 0; i < 2 * PAGE; i++)
		own[i] = (char)(i * 7 + 3);
	char a[100], b[5000], c[1000];
	struct iovec local[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
	/* 3000 bytes straddling the page boundary, then 3100 from the start. */
	struct iovec remote[2] = {{own + 3000, 3000}, {own, 3100}};
	ssize_t n = process_vm_readv(getpid(), local, 3, remote, 2, 0);
	char want[6100];
	memcpy(want, own + 3000, 3000);
	memcpy(want + 3000, own, 3100);
	char got[6100];
	memcpy(got, a, 100);
	memcpy(got + 100, b, 5000);
	memcpy(got + 5100, c, 1000);
	KTAP_CHECK(n == 6100 && memcmp(got, want, sizeof want) == 0, "readv_self_scatter",
		   "returned %zd (want 6100), bytes %s", n,
		   memcmp(got, want, sizeof want) == 0 ? "match" : "differ");
}

static void readv_child(void)
{
	uint64_t v = 0;
	struct iovec l = {&v, sizeof v}, r = {(void *)&secret, sizeof v};
	ssize_t n = process_vm_readv(child, &l, 1, &r, 1, 0);
	KTAP_CHECK(n == 8 && v == 0x5eC7e7 && secret == 1, "readv_child",
		   "returned %zd, read %#llx (want 0x5ec7e7), own copy %#llx", n,
		   (unsigned long long)v, (unsigned long long)secret);
}

static void child_untouched_and_cow(void)
{
	uint64_t z[4] = {1, 1, 1, 1};
	struct iovec l = {z, sizeof z}, r = {info.fresh_read, sizeof z};
	ssize_t nz = process_vm_readv(child, &l, 1, &r, 1, 0);
	char w = 'W';
	struct iovec lw = {&w, 1}, rw = {info.fresh_write + 5, 1};
	ssize_t nw = process_vm_writev(child, &lw, 1, &rw, 1, 0);
	char c = 'C';
	struct iovec lc = {&c, 1}, rc = {shared_cow, 1};
	ssize_t nc = process_vm_writev(child, &lc, 1, &rc, 1, 0);
	char go = 'g', seen[2] = {0, 0};
	int talk = write(to_child[1], &go, 1) == 1 && read(to_parent[0], seen, 2) == 2;
	KTAP_CHECK(nc == 1 && talk && seen[0] == 'C' && shared_cow[0] == 'p', "writev_child_cow",
		   "returned %zd, child sees %#x (want 'C'), parent's copy %#x (want 'p')", nc,
		   seen[0], shared_cow[0]);
	KTAP_CHECK(nz == 32 && !z[0] && !z[1] && !z[2] && !z[3] && nw == 1 && seen[1] == 'W',
		   "child_untouched_pages",
		   "read %zd bytes (want 32 zeros: %llx), write returned %zd, child sees %#x", nz,
		   (unsigned long long)(z[0] | z[1] | z[2] | z[3]), nw, seen[1]);
}

static void partial_then_efault(void)
{
	char *hole = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, PAGE);
	char buf[200];
	struct iovec l = {buf, sizeof buf};
	struct iovec r[2] = {{own, 100}, {hole, 50}};
	ssize_t n = process_vm_readv(getpid(), &l, 1, r, 2, 0);
	errno = 0;
	ssize_t n2 = process_vm_readv(getpid(), &l, 1, &r[1], 1, 0);
	int e2 = errno;
	KTAP_CHECK(n == 100 && n2 == -1 && e2 == EFAULT, "partial_then_efault",
		   "readable+unmapped returned %zd (want 100); unmapped alone %zd errno %d (want "
		   "-1, EFAULT)",
		   n, n2, e2);
}

static void protections(void)
{
	char buf[8] = "xxxxxxx";
	struct iovec l = {buf, 8};
	struct iovec none = {info.prot_none, 8}, ro = {info.read_only, 8};
	errno = 0;
	ssize_t a = process_vm_readv(child, &l, 1, &none, 1, 0);
	int ea = errno;
	errno = 0;
	ssize_t b = process_vm_writev(child, &l, 1, &ro, 1, 0);
	int eb = errno;
	ssize_t c = process_vm_readv(child, &l, 1, &ro, 1, 0);
	KTAP_CHECK(a == -1 && ea == EFAULT && b == -1 && eb == EFAULT && c == 8, "protections",
		   "read PROT_NONE %zd/%d, write PROT_READ %zd/%d (want -1/EFAULT each), read "
		   "PROT_READ %zd (want 8)",
		   a, ea, b, eb, c);
}

static void bad_arguments(pid_t gone)
{
	char buf[8];
	struct iovec l = {buf, 8}, r = {own, 8};
	errno = 0;
	ssize_t f = process_vm_readv(getpid(), &l, 1, &r, 1, 1);
	int ef = errno;
	static struct iovec many[1025];
	for (int i = 0; i < 1025; i++)
		many[i] = (struct iovec){own, 1};
	errno = 0;
	ssize_t m = process_vm_readv(getpid(), &l, 1, many, 1025, 0);
	int em = errno;
	errno = 0;
	ssize_t s = process_vm_readv(gone, &l, 1, &r, 1, 0);
	int es = errno;
	struct iovec empty = {buf, 0};
	ssize_t z = process_vm_readv(gone, &empty, 1, &r, 1, 0);
	KTAP_CHECK(f == -1 && ef == EINVAL && m == -1 && em == EINVAL && s == -1 && es == ESRCH &&
			   z == 0,
		   "bad_arguments",
		   "flags=1: %zd/%d (EINVAL), 1025 iovecs: %zd/%d (EINVAL), no such pid: %zd/%d "
		   "(ESRCH), empty local side: %zd (0)",
		   f, ef, m, em, s, es, z);
}

int main(void)
{
	ktap_plan(7);
	memset(shared_cow, 'p', sizeof shared_cow);
	if (pipe(to_parent) || pipe(to_child))
		return 1;
	child = fork();
	if (child == 0)
		child_main();
	int got = read(to_parent[0], &info, sizeof info) == sizeof info;
	readv_self_scatter();
	if (got) {
		readv_child();
		protections();
		partial_then_efault();
		/* Last: it lets the child go. */
		child_untouched_and_cow();
	} else {
		for (int i = 0; i < 4; i++)
			ktap_result(0, "child_setup");
	}
	int status;
	waitpid(child, &status, 0);
	bad_arguments(child);
	return ktap_failed ? 1 : 0;
}
