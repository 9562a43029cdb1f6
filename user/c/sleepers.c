/* sleepers: two tasks asleep in the kernel for a while — a child in read() on a pipe, its parent
 * in nanosleep() — then both end. The hang-report boot test (xtask/src/boots/tests.rs) boots
 * with kentry.hang_report=2 and expects the report to show them asleep where they are.
 *
 * They sleep until two seconds after the report is due, by /proc/cmdline's
 * `kentry.hang_report=S` and /proc/uptime, when the boot runs this program alone
 * (`kentry.only=c_sleepers_`); in every other boot (each has a hang report due near its
 * timeout), and natively, for 50 ms only. (Waiting for the report in the main test boot kept
 * that boot asleep until its timeout was nearly spent.)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"

/* The report's time in seconds from /proc/cmdline when this program runs alone in the boot,
 * or -1. */
static double report_due(void)
{
	char buf[1024] = "";
	FILE *f = fopen("/proc/cmdline", "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *w = strstr(buf, "kentry.hang_report=");
	if (!w || !strstr(buf, "kentry.only=c_sleepers_"))
		return -1;
	return atof(w + strlen("kentry.hang_report="));
}

static double uptime(void)
{
	double up = 0;
	FILE *f = fopen("/proc/uptime", "r");
	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = 0;
		fclose(f);
	}
	return up;
}

int main(void)
{
	ktap_plan(1);
	double due = report_due();
	double secs = due < 0 ? 0.05 : due + 2 - uptime();
	if (secs < 0.05)
		secs = 0.05;
	int p[2];
	if (pipe(p)) {
		ktap_result(0, "child_woken");
		return ktap_finish();
	}
	pid_t c = fork();
	if (c == 0) {
		close(p[1]);
		char b;
		/* Asleep in read until the parent closes its end: EOF. */
		_exit(read(p[0], &b, 1) == 0 ? 0 : 1);
	}
	close(p[0]);
	struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
	while (nanosleep(&ts, &ts)) {
	}
	close(p[1]);
	int st = -1;
	waitpid(c, &st, 0);
	KTAP_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child_woken", "child status %#x", st);
	return ktap_finish();
}
