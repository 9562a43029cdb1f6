/* memfd: memfd_create(2) and file seals, as a tmpfs file (Linux's mm/memfd.c, mm/shmem.c).
 *  - flags: MFD_CLOEXEC sets close-on-exec; unknown flags EINVAL; a 249-byte name is fine, 250
 *    is EINVAL; an unreadable name EFAULT; the file is regular, mode 0777, size 0, O_RDWR;
 *  - write/pread/lseek/ftruncate (zeros past the old end);
 *  - MAP_SHARED: a store through the mapping is what pread sees, a pwrite is what the mapping
 *    sees, a second mapping and a forked child's stores share the same bytes; MAP_PRIVATE
 *    stores stay private; /proc/self/maps names the mapping "/memfd:NAME (deleted)";
 *  - seals: without MFD_ALLOW_SEALING F_SEAL_SEAL is set and F_ADD_SEALS is EPERM; with it,
 *    SHRINK and GROW refuse ftruncate (EPERM) and GROW a write past the end; WRITE is EBUSY
 *    while a shared mapping exists, then refuses write (EPERM), a shared writable mapping
 *    (EPERM) and mprotect to writable of a read-only shared one (EACCES); FUTURE_WRITE keeps an
 *    existing mapping writable; SEAL stops further seals; unknown seal bits are EINVAL;
 *    F_GET_SEALS on a pipe is EINVAL.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktap.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#define MFD_CLOEXEC_ 0x1u
#define MFD_ALLOW_SEALING_ 0x2u

static int memfd(const char *name, unsigned flags)
{
	return (int)syscall(SYS_memfd_create, name, flags);
}

/* The calling thread's errno after a call expected to fail with `e` and return -1. */
static int fails(long r, int e)
{
	return r == -1 && errno == e;
}

static void test_create(void)
{
	int fd = memfd("kentry-test", 0);
	struct stat st;
	int ok = fd >= 0 && fstat(fd, &st) == 0;
	KTAP_CHECK(ok && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0777 && st.st_size == 0,
		   "create_regular_0777_empty", "fd %d mode %o size %lld", fd, ok ? st.st_mode : 0,
		   ok ? (long long)st.st_size : -1);
	KTAP_CHECK(fd >= 0 && fcntl(fd, F_GETFD) == 0 && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR,
		   "create_rdwr_no_cloexec", "F_GETFD %d F_GETFL %#x", fcntl(fd, F_GETFD),
		   fcntl(fd, F_GETFL));
	close(fd);
	fd = memfd("x", MFD_CLOEXEC_);
	KTAP_CHECK(fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "create_cloexec", "F_GETFD %d",
		   fcntl(fd, F_GETFD));
	close(fd);
	errno = 0;
	KTAP_CHECK(fails(memfd("x", 0x100), EINVAL), "create_bad_flags_einval", "errno %d", errno);
	char name[251];
	memset(name, 'n', 249);
	name[249] = 0;
	fd = memfd(name, 0);
	KTAP_CHECK(fd >= 0, "create_name_249", "errno %d", errno);
	close(fd);
	name[249] = 'n';
	name[250] = 0;
	errno = 0;
	KTAP_CHECK(fails(memfd(name, 0), EINVAL), "create_name_250_einval", "errno %d", errno);
	errno = 0;
	KTAP_CHECK(fails(memfd((const char *)8, 0), EFAULT), "create_name_efault", "errno %d",
		   errno);
}

static void test_rw(void)
{
	int fd = memfd("rw", 0);
	char buf[16] = {0};
	int ok = write(fd, "hello", 5) == 5 && pread(fd, buf, sizeof(buf), 0) == 5 &&
		 memcmp(buf, "hello", 5) == 0 && lseek(fd, 0, SEEK_END) == 5;
	KTAP_CHECK(ok, "write_pread_lseek", "read back '%s'", buf);
	struct stat st;
	char z[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	ok = ftruncate(fd, 8192) == 0 && fstat(fd, &st) == 0 && st.st_size == 8192 &&
	     pread(fd, z, 8, 8000) == 8 && memcmp(z, "\0\0\0\0\0\0\0\0", 8) == 0;
	KTAP_CHECK(ok, "ftruncate_grow_zeros", "size %lld", (long long)st.st_size);
	ok = ftruncate(fd, 3) == 0 && pread(fd, buf, sizeof(buf), 0) == 3 && ftruncate(fd, 5) == 0 &&
	     pread(fd, buf, sizeof(buf), 0) == 5 && memcmp(buf, "hel\0\0", 5) == 0;
	KTAP_CHECK(ok, "ftruncate_shrink_regrow", "data after shrink and regrow differs");
	close(fd);
}

static void test_mmap(void)
{
	int fd = memfd("map-name", 0);
	if (fd < 0 || ftruncate(fd, 8192) != 0) {
		ktap_result(0, "mmap_shared_store_pread");
		ktap_result(0, "mmap_shared_pwrite_seen");
		ktap_result(0, "mmap_two_mappings");
		ktap_result(0, "mmap_shared_fork_child");
		ktap_result(0, "mmap_private_stays_private");
		ktap_result(0, "maps_memfd_name");
		return;
	}
	char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char buf[8] = {0};
	int ok = a != MAP_FAILED;
	if (ok)
		memcpy(a + 4096 + 10, "map!", 4);
	KTAP_CHECK(ok && pread(fd, buf, 4, 4096 + 10) == 4 && memcmp(buf, "map!", 4) == 0,
		   "mmap_shared_store_pread", "mmap %p, read '%.4s'", (void *)a, buf);
	ok = ok && pwrite(fd, "file", 4, 100) == 4 && memcmp(a + 100, "file", 4) == 0;
	KTAP_CHECK(ok, "mmap_shared_pwrite_seen", "the mapping does not see the write");
	char *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
	ok = a != MAP_FAILED && b != MAP_FAILED && memcmp(b + 10, "map!", 4) == 0;
	if (ok)
		b[20] = 'B';
	ok = ok && a[4096 + 20] == 'B';
	KTAP_CHECK(ok, "mmap_two_mappings", "second mapping (offset 4096) %p", (void *)b);
	pid_t c = fork();
	if (c == 0) {
		if (a != MAP_FAILED)
			a[200] = 'C';
		_exit(0);
	}
	int status;
	waitpid(c, &status, 0);
	ok = a != MAP_FAILED && a[200] == 'C' && pread(fd, buf, 1, 200) == 1 && buf[0] == 'C';
	KTAP_CHECK(ok, "mmap_shared_fork_child", "the child's store is not seen");
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ok = p != MAP_FAILED && memcmp(p + 100, "file", 4) == 0;
	if (ok)
		p[100] = 'P';
	ok = ok && pread(fd, buf, 1, 100) == 1 && buf[0] == 'f' && a[100] == 'f';
	KTAP_CHECK(ok, "mmap_private_stays_private", "a private store reached the file");
	/* /proc/self/maps: the line of mapping a names the memfd. */
	char maps[16384];
	int mfd = open("/proc/self/maps", O_RDONLY);
	ssize_t n = 0, k;
	while (mfd >= 0 && n < (ssize_t)sizeof(maps) - 1 &&
	       (k = read(mfd, maps + n, sizeof(maps) - 1 - (size_t)n)) > 0)
		n += k;
	maps[n > 0 ? n : 0] = 0;
	if (mfd >= 0)
		close(mfd);
	char start[32];
	snprintf(start, sizeof(start), "%lx-", (unsigned long)(uintptr_t)a);
	const char *line = strstr(maps, start);
	char one[256] = "";
	if (line) {
		size_t len = strcspn(line, "\n");
		snprintf(one, sizeof(one), "%.*s", (int)(len < 255 ? len : 255), line);
	}
	KTAP_CHECK(strstr(one, " rw-s ") && strstr(one, "/memfd:map-name (deleted)"), "maps_memfd_name",
		   "line '%s'", one);
	if (a != MAP_FAILED)
		munmap(a, 8192);
	if (b != MAP_FAILED)
		munmap(b, 4096);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	close(fd);
}

static void test_seals(void)
{
	int fd = memfd("noseal", 0);
	errno = 0;
	KTAP_CHECK(fcntl(fd, F_GET_SEALS) == F_SEAL_SEAL && fails(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), EPERM),
		   "no_sealing_seal_seal", "F_GET_SEALS %d errno %d", fcntl(fd, F_GET_SEALS), errno);
	close(fd);

	fd = memfd("seals", MFD_ALLOW_SEALING_);
	int ok = fd >= 0 && fcntl(fd, F_GET_SEALS) == 0 && write(fd, "0123456789", 10) == 10;
	KTAP_CHECK(ok, "sealing_starts_empty", "F_GET_SEALS %d", fcntl(fd, F_GET_SEALS));
	errno = 0;
	KTAP_CHECK(fails(fcntl(fd, F_ADD_SEALS, 0x100), EINVAL), "add_unknown_seal_einval",
		   "errno %d", errno);

	ok = fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0 && fails(ftruncate(fd, 5), EPERM) &&
	     ftruncate(fd, 20) == 0;
	KTAP_CHECK(ok, "seal_shrink", "errno %d", errno);
	char buf[4];
	ok = fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) == 0 && fails(ftruncate(fd, 30), EPERM) &&
	     fails(pwrite(fd, "xyz", 3, 19), EPERM) && pwrite(fd, "ab", 2, 18) == 2 &&
	     pread(fd, buf, 2, 18) == 2 && memcmp(buf, "ab", 2) == 0 && ftruncate(fd, 20) == 0;
	KTAP_CHECK(ok, "seal_grow", "errno %d", errno);

	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	errno = 0;
	ok = m != MAP_FAILED && fails(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
	KTAP_CHECK(ok, "seal_write_busy_while_mapped", "mmap %p errno %d", (void *)m, errno);
	if (m != MAP_FAILED)
		munmap(m, 4096);
	ok = fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0 && fails(write(fd, "w", 1), EPERM) &&
	     fails(pwrite(fd, "w", 1, 0), EPERM);
	KTAP_CHECK(ok, "seal_write_refuses_write", "errno %d", errno);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	KTAP_CHECK(m == MAP_FAILED && errno == EPERM, "seal_write_refuses_shared_rw_mmap",
		   "mmap %p errno %d", (void *)m, errno);
	char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	errno = 0;
	ok = r != MAP_FAILED && memcmp(r, "0123", 4) == 0 &&
	     fails(mprotect(r, 4096, PROT_READ | PROT_WRITE), EACCES);
	KTAP_CHECK(ok, "seal_write_readonly_map_stays_readonly", "mmap %p errno %d", (void *)r,
		   errno);
	if (r != MAP_FAILED)
		munmap(r, 4096);
	char *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ok = pm != MAP_FAILED;
	if (ok)
		pm[0] = 'p';
	KTAP_CHECK(ok && pread(fd, buf, 1, 0) == 1 && buf[0] == '0', "seal_write_private_map_ok",
		   "mmap %p", (void *)pm);
	if (pm != MAP_FAILED)
		munmap(pm, 4096);
	ok = fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) == 0 && fails(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), EPERM) &&
	     fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	KTAP_CHECK(ok, "seal_seal_final", "F_GET_SEALS %#x", fcntl(fd, F_GET_SEALS));
	close(fd);

	/* FUTURE_WRITE: the mapping made before stays writable; new ones and write(2) are not. */
	fd = memfd("future", MFD_ALLOW_SEALING_);
	ok = fd >= 0 && ftruncate(fd, 4096) == 0;
	m = ok ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	ok = m != MAP_FAILED && fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0;
	if (ok)
		m[0] = 'F';
	ok = ok && pread(fd, buf, 1, 0) == 1 && buf[0] == 'F' && fails(pwrite(fd, "x", 1, 0), EPERM);
	char *m2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	KTAP_CHECK(ok && m2 == MAP_FAILED && errno == EPERM, "seal_future_write",
		   "old mapping store/new mapping %p errno %d", (void *)m2, errno);
	if (m != MAP_FAILED)
		munmap(m, 4096);
	close(fd);

	int p[2];
	errno = 0;
	KTAP_CHECK(pipe(p) == 0 && fails(fcntl(p[0], F_GET_SEALS), EINVAL), "get_seals_pipe_einval",
		   "errno %d", errno);
}

int main(void)
{
	ktap_plan(29);
	test_create();
	test_rw();
	test_mmap();
	test_seals();
	return ktap_finish();
}
