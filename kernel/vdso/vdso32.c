/*
 * kentry's 32-bit vDSO, for i386 programs: the clock functions of the 64-bit one (vdso.c) with
 * i386 types, reading the same vvar page (vvar.h, the same offsets in both ABIs), and
 * __vdso_clock_gettime64 for the 64-bit time_t of time64 libcs. The entry and the signal
 * trampolines are in vsyscall32.S. Built by xtask (`vdso::build32`) with gcc -m32 as a
 * shared object that needs no loader (vdso32.lds).
 *
 * i386 has no 128-bit product and no 64-bit division without libgcc, which a vDSO cannot
 * link: the scaled TSC delta is made of four 32x32 products (mul_shr32, clock_read.h) and the split into
 * seconds is two `divl` (div_ns).
 */
#include <stdint.h>
#include <stddef.h>
#include "vvar.h"

/* Placed by vdso32.lds one page below the image: reached GOT-relative (no relocation). */
extern const volatile struct vdso_data vvar_page __attribute__((visibility("hidden")));
#include "clock_read.h"

#define NSEC_PER_SEC 1000000000U
#define NSEC_PER_MS 1000000U


/* i386 numbers (Linux's syscall_32.tbl). */
#define NR32_time 13
#define NR32_gettimeofday 78
#define NR32_clock_gettime 265
#define NR32_clock_getres 266
#define NR32_clock_gettime64 403

struct old_timespec32 {
	int32_t tv_sec;
	int32_t tv_nsec;
};
struct kernel_timespec {
	int64_t tv_sec;
	int64_t tv_nsec;
};
struct old_timeval32 {
	int32_t tv_sec;
	int32_t tv_usec;
};
struct kernel_timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

/* The fallback: `int $0x80` (always present; the fast entries need the landing pad's frame). */
static inline long syscall2(long nr, long a, long b)
{
	long ret;
	asm volatile("int $0x80" : "=a"(ret) : "0"(nr), "b"(a), "c"(b) : "memory");
	return ret;
}

/* The 64-bit time_t variant (time64 libcs: glibc >= 2.34 calls it first). */
int __vdso_clock_gettime64(long id, struct kernel_timespec *ts)
{
	uint64_t ns;
	uint32_t rem;
	if (!clock_ns(id, &ns))
		return syscall2(NR32_clock_gettime64, id, (long)ts);
	ts->tv_sec = div_ns(ns, NSEC_PER_SEC, &rem);
	ts->tv_nsec = rem;
	return 0;
}

/* The 32-bit time_t ones: seconds truncated to 32 bits, as Linux's (y2038). */
int __vdso_clock_gettime(long id, struct old_timespec32 *ts)
{
	uint64_t ns;
	uint32_t rem;
	if (!clock_ns(id, &ns))
		return syscall2(NR32_clock_gettime, id, (long)ts);
	ts->tv_sec = div_ns(ns, NSEC_PER_SEC, &rem);
	ts->tv_nsec = rem;
	return 0;
}

int __vdso_gettimeofday(struct old_timeval32 *tv, struct kernel_timezone *tz)
{
	uint64_t ns;
	uint32_t rem;
	if (tv) {
		if (!clock_ns(CLOCK_REALTIME, &ns))
			return syscall2(NR32_gettimeofday, (long)tv, (long)tz);
		tv->tv_sec = div_ns(ns, NSEC_PER_SEC, &rem);
		tv->tv_usec = rem / 1000;
	}
	if (tz) {
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

int32_t __vdso_time(int32_t *t)
{
	uint64_t ns;
	uint32_t rem;
	if (!clock_ns(CLOCK_REALTIME, &ns))
		return syscall2(NR32_time, (long)t, 0);
	int32_t secs = div_ns(ns, NSEC_PER_SEC, &rem);
	if (t)
		*t = secs;
	return secs;
}

int __vdso_clock_getres(long id, struct old_timespec32 *res)
{
	int32_t ns;
	switch (id) {
	case CLOCK_REALTIME:
	case CLOCK_TAI:
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		ns = 1;
		break;
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE:
		ns = NSEC_PER_MS;
		break;
	default:
		return syscall2(NR32_clock_getres, id, (long)res);
	}
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = ns;
	}
	return 0;
}
