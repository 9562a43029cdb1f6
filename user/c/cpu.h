/* Small helpers shared by the C test programs that place threads on CPUs and time them. */
#ifndef CPU_H
#define CPU_H

#include <sched.h>
#include <time.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Pins the calling thread to `cpu`; 0 or -1 as sched_setaffinity. */
static inline int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

#endif
