/*
 * The vvar clock reader both vDSOs use (vdso.c, vdso32.c): CLOCK_MONOTONIC in ns from one
 * seq window of the vvar page, as the kernel's clock computes it (kernel/src/time/clock.rs).
 * Include after declaring `vvar_page`.
 */
#ifndef KENTRY_CLOCK_READ_H
#define KENTRY_CLOCK_READ_H

#include <stdint.h>
#include "vvar.h"

/* The TSC, not read before earlier loads (the seq load above all): as the kernel's rdtsc(). */
static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;
	asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

/* (d * m) >> 32 modulo 2^64: a 128-bit product on x86-64, 32x32 products on i386 (which has
 * no __int128). */
static inline uint64_t mul_shr32(uint64_t d, uint64_t m)
{
#ifdef __x86_64__
	return (uint64_t)(((unsigned __int128)d * m) >> 32);
#else
	uint32_t dl = d, dh = d >> 32, ml = m, mh = m >> 32;
	uint64_t low = ((uint64_t)dl * ml) >> 32;
	uint64_t mid = (uint64_t)dl * mh + (uint64_t)dh * ml;
	uint64_t high = (uint64_t)dh * mh << 32;
	return low + mid + high;
#endif
}

/*
 * CLOCK_MONOTONIC in ns, and the realtime offset read in the same window; 0 when the clock
 * has not started (then the caller makes the syscall, which starts it). On i386 each 64-bit
 * field is two loads: torn values are caught by the seq re-read.
 */
static inline int read_clock(uint64_t *mono, uint64_t *rt_off)
{
	const volatile struct vdso_data *vd = &vvar_page;
	for (;;) {
		uint32_t seq = vd->seq;
		if (seq & 1) {
			asm volatile("pause");
			continue;
		}
		asm volatile("" ::: "memory");
		if (vd->clock_mode != VDSO_CLOCKMODE_TSC)
			return 0;
		uint64_t bt = vd->base_tsc, bn = vd->base_ns, m = vd->mult;
		uint64_t off = vd->realtime_offset_ns;
		uint64_t tsc = rdtsc_ordered();
		/* x86 keeps loads in order: the seq re-read is after the fields. */
		asm volatile("" ::: "memory");
		if (vd->seq != seq)
			continue;
		uint64_t d = tsc > bt ? tsc - bt : 0;
		*mono = bn + mul_shr32(d, m);
		*rt_off = off;
		return 1;
	}
}

#endif
