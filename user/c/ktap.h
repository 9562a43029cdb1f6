/* Minimal KTAP (version 1) output for the kentry C test programs.
 *
 * Every result line is written with stdio and flushed at once, so that output interleaves
 * deterministically with forked children that share the same stdout pipe.  Result names are
 * fixed strings; diagnostics (lines starting with "# ") appear only on failure, so the output
 * of a passing run is identical on every kernel.
 */
#ifndef KTAP_H
#define KTAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KTAP_UNUSED __attribute__((unused))
static int ktap_planned, ktap_count, ktap_failed;

KTAP_UNUSED static void ktap_plan(int n)
{
	ktap_planned = n;
	printf("KTAP version 1\n1..%d\n", n);
	fflush(stdout);
}

/* Prints a diagnostic line "# name: ...". */
KTAP_UNUSED static void ktap_diag(const char *name, const char *fmt, ...)
{
	va_list ap;
	printf("# %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Records one result; returns cond so callers can chain. */
KTAP_UNUSED static int ktap_result(int cond, const char *name)
{
	ktap_count++;
	if (!cond)
		ktap_failed++;
	printf("%sok %d %s\n", cond ? "" : "not ", ktap_count, name);
	fflush(stdout);
	return cond;
}

/* A result with a diagnostic printed only when it fails. */
#define KTAP_CHECK(cond, name, ...)                                                               \
	do {                                                                                      \
		int ktap_c_ = !!(cond);                                                           \
		if (!ktap_c_)                                                                     \
			ktap_diag(name, __VA_ARGS__);                                             \
		ktap_result(ktap_c_, name);                                                       \
	} while (0)

KTAP_UNUSED static void ktap_skip(const char *name, const char *reason)
{
	ktap_count++;
	printf("ok %d %s # SKIP %s\n", ktap_count, name, reason);
	fflush(stdout);
}

/* Exit status: 0 iff every planned result was printed and ok. */
KTAP_UNUSED static int ktap_finish(void)
{
	if (ktap_count != ktap_planned) {
		printf("# planned %d results, printed %d\n", ktap_planned, ktap_count);
		fflush(stdout);
		return 1;
	}
	return ktap_failed ? 1 : 0;
}

#endif
