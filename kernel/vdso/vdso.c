/*
 * kentry's 64-bit vDSO: clock_gettime, gettimeofday, time, clock_getres and getcpu without
 * entering the kernel, from the vvar page the kernel's timekeeping keeps (vvar.h). Built by
 * xtask (build.rs `vdso`) with gcc as a position-independent shared object that needs no
 * loader (vdso.lds), and embedded in the kernel image.
 *
 * The clocks are the kernel's own formula (kernel/src/time/clock.rs) on the same TSC: the
 * same reading gives the same nanosecond. What the page cannot answer (the clock not started
 * yet, CPU-time and alarm clocks, unknown ids, getcpu without TSC_AUX) goes to the real
 * system call from here, so callers never need a fallback of their own.
 */
#include <stdint.h>
#include <stddef.h>
#include "vvar.h"

/* Placed by vdso.lds one page below the image: reached PC-relative, no relocation. */
extern const volatile struct vdso_data vvar_page __attribute__((visibility("hidden")));
#include "clock_read.h"

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MS 1000000ULL


#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
#define NR_clock_getres 229
#define NR_getcpu 309

struct kernel_timespec {
	int64_t tv_sec;
	long tv_nsec;
};
struct kernel_timeval {
	int64_t tv_sec;
	long tv_usec;
};
struct kernel_timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

static inline long syscall2(long nr, long a, long b)
{
	long ret;
	asm volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	asm volatile("syscall"
		     : "=a"(ret)
		     : "0"(nr), "D"(a), "S"(b), "d"(c)
		     : "rcx", "r11", "memory");
	return ret;
}

int __vdso_clock_gettime(long id, struct kernel_timespec *ts)
{
	uint64_t ns;
	if (!clock_ns(id, &ns))
		return syscall2(NR_clock_gettime, id, (long)ts);
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

int __vdso_gettimeofday(struct kernel_timeval *tv, struct kernel_timezone *tz)
{
	uint64_t ns;
	if (tv) {
		if (!clock_ns(CLOCK_REALTIME, &ns))
			return syscall2(NR_gettimeofday, (long)tv, (long)tz);
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	if (tz) {
		/* UTC, no DST: what the kernel's gettimeofday says. */
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

int64_t __vdso_time(int64_t *t)
{
	uint64_t ns;
	if (!clock_ns(CLOCK_REALTIME, &ns))
		return syscall2(NR_time, (long)t, 0);
	int64_t secs = ns / NSEC_PER_SEC;
	if (t)
		*t = secs;
	return secs;
}

int __vdso_clock_getres(long id, struct kernel_timespec *res)
{
	long ns;
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
		ns = NSEC_PER_MS; /* the tick */
		break;
	default:
		return syscall2(NR_clock_getres, id, (long)res);
	}
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = ns;
	}
	return 0;
}

/* IA32_TSC_AUX holds (node << 12) | cpu, as Linux's. */
int __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	uint32_t aux;
	switch (vvar_page.getcpu_mode) {
	case VDSO_GETCPU_RDPID: {
		uint64_t v;
		asm volatile("rdpid %0" : "=r"(v));
		aux = v;
		break;
	}
	case VDSO_GETCPU_RDTSCP:
		asm volatile("rdtscp" : "=c"(aux) : : "eax", "edx");
		break;
	default:
		return syscall3(NR_getcpu, (long)cpu, (long)node, (long)unused);
	}
	if (cpu)
		*cpu = aux & 0xfff;
	if (node)
		*node = aux >> 12;
	return 0;
}

/* The unprefixed names, weak, as Linux's vDSO exports them. */
int clock_gettime(long, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct kernel_timeval *, struct kernel_timezone *)
	__attribute__((weak, alias("__vdso_gettimeofday")));
int64_t time(int64_t *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(long, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
