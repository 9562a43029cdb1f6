/*
 * The vvar clock reader both vDSOs use (vdso.c, vdso32.c): CLOCK_MONOTONIC in ns from one
 * seq window of the vvar page, as the kernel's clock computes it (kernel/src/time/clock.rs),
 * and the clocks made from it. Include after declaring `vvar_page`.
 */
#ifndef KENTRY_CLOCK_READ_H
#define KENTRY_CLOCK_READ_H

#include <stdint.h>
#include "vvar.h"

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define CLOCK_TAI 11

#ifndef __x86_64__
/* ns / div and ns % div for a 32-bit divisor: long division in two `divl` (each quotient fits
 * 32 bits because the remainder carried in EDX is below the divisor). i386 has no 64-bit
 * division without libgcc, which a vDSO cannot link. */
static inline uint64_t div_ns(uint64_t ns, uint32_t div, uint32_t *rem)
{
	uint32_t hi = ns >> 32, lo = ns, qh, ql, r;
	asm("divl %4" : "=a"(qh), "=d"(r) : "0"(hi), "1"(0), "rm"(div));
	asm("divl %4" : "=a"(ql), "=d"(r) : "0"(lo), "1"(r), "rm"(div));
	*rem = r;
	return ((uint64_t)qh << 32) | ql;
}
#endif

/* `ns` down to a whole millisecond (the coarse clocks' tick). */
static inline uint64_t ms_floor(uint64_t ns)
{
#ifdef __x86_64__
	return ns - ns % 1000000;
#else
	uint32_t rem;
	div_ns(ns, 1000000, &rem);
	return ns - rem;
#endif
}

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
		/* x86 keeps loads in order: the seq re-read is after the fields. It must also be
		 * after the TSC read, which later loads may pass: a TSC later than the kernel's new
		 * base then sees the odd seq it was read behind (kernel/src/vdso/mod.rs,
		 * ClockWrite). */
		asm volatile("lfence" ::: "memory");
		if (vd->seq != seq)
			continue;
		uint64_t d = tsc > bt ? tsc - bt : 0;
		*mono = bn + mul_shr32(d, m);
		*rt_off = off;
		return 1;
	}
}

/* Clock `id` in ns, or 0 if this page cannot give it (the caller then makes the syscall). */
static inline int clock_ns(long id, uint64_t *ns)
{
	uint64_t mono, off;
	switch (id) {
	case CLOCK_REALTIME:
	case CLOCK_TAI: /* kentry's TAI offset is 0, as Linux's until someone sets it */
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
	case CLOCK_MONOTONIC_COARSE:
		break;
	default:
		return 0;
	}
	if (!read_clock(&mono, &off))
		return 0;
	switch (id) {
	case CLOCK_REALTIME:
	case CLOCK_TAI:
		*ns = mono + off;
		break;
	case CLOCK_REALTIME_COARSE:
		*ns = ms_floor(mono + off);
		break;
	case CLOCK_MONOTONIC_COARSE:
		*ns = ms_floor(mono);
		break;
	default: /* MONOTONIC, MONOTONIC_RAW and BOOTTIME are one clock in kentry */
		*ns = mono;
	}
	return 1;
}

#endif
