/*
 * The vvar page: what the kernel's timekeeping publishes for the vDSO. Its Rust twin is
 * `VdsoData` in kernel/src/vdso/mod.rs; both check the offsets (a change to one without the
 * other fails the build).
 */
#ifndef KENTRY_VVAR_H
#define KENTRY_VVAR_H

#include <stdint.h>

/* clock_mode: how user code may read the clock. */
#define VDSO_CLOCKMODE_NONE 0 /* not started yet: every clock through the syscall */
#define VDSO_CLOCKMODE_TSC 1

/* getcpu_mode: where the CPU number comes from. */
#define VDSO_GETCPU_SYSCALL 0
#define VDSO_GETCPU_RDTSCP 1 /* IA32_TSC_AUX through RDTSCP */
#define VDSO_GETCPU_RDPID 2 /* IA32_TSC_AUX through RDPID */

struct vdso_data {
	/* Odd while the kernel rewrites the fields below it. */
	uint32_t seq;
	uint32_t clock_mode;
	/* CLOCK_MONOTONIC = base_ns + ((tsc - base_tsc) * mult) >> 32 (tsc < base_tsc: base_ns). */
	uint64_t base_tsc;
	uint64_t base_ns;
	uint64_t mult;
	/* CLOCK_REALTIME = CLOCK_MONOTONIC + realtime_offset_ns. */
	uint64_t realtime_offset_ns;
	uint32_t getcpu_mode;
	uint32_t pad;
};

_Static_assert(__builtin_offsetof(struct vdso_data, seq) == 0, "vvar layout");
_Static_assert(__builtin_offsetof(struct vdso_data, clock_mode) == 4, "vvar layout");
_Static_assert(__builtin_offsetof(struct vdso_data, base_tsc) == 8, "vvar layout");
_Static_assert(__builtin_offsetof(struct vdso_data, base_ns) == 16, "vvar layout");
_Static_assert(__builtin_offsetof(struct vdso_data, mult) == 24, "vvar layout");
_Static_assert(__builtin_offsetof(struct vdso_data, realtime_offset_ns) == 32, "vvar layout");
_Static_assert(__builtin_offsetof(struct vdso_data, getcpu_mode) == 40, "vvar layout");
_Static_assert(sizeof(struct vdso_data) == 48, "vvar layout");

#endif
