/* hello: the smallest real program.  printf through a fully buffered stdout (a pipe under the
 * harness), argc/argv/envp as the kernel laid them out, getenv, atexit, and exit() flushing
 * stdio.  Nothing is flushed explicitly: the whole output reaches fd 1 when exit() flushes it,
 * so a kernel that loses the exit-time flush (or the write) loses every result line.
 *
 * KTAP: argv_ok, env_ok, stdout_buffered_flush_ok.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void at_exit_handler(void)
{
	/* Runs inside exit(), before stdio is flushed. */
	printf("# atexit handler ran\n");
}

/* getenv must agree with a plain scan of environ. */
static int env_agrees(const char *name)
{
	size_t n = strlen(name);
	const char *scan = NULL;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
			scan = *e + n + 1;
			break;
		}
	const char *g = getenv(name);
	if (!g || !scan)
		return g == scan;
	return strcmp(g, scan) == 0;
}

int main(int argc, char **argv, char **envp)
{
	int failed = 0;

	if (atexit(at_exit_handler) != 0)
		failed = 1;

	printf("hello, world\n");
	printf("KTAP version 1\n1..3\n");
	for (int i = 1; i < argc; i++)
		printf("# argv[%d] = \"%s\"\n", i, argv[i]);

	/* argv: argc >= 1, NULL-terminated, every entry a string; envp follows argv's NULL. */
	int argv_ok = argc >= 1 && argv[argc] == NULL && argv[0] != NULL;
	for (int i = 0; argv_ok && i < argc; i++)
		argv_ok = argv[i] != NULL;
	argv_ok = argv_ok && envp == argv + argc + 1 && environ == envp;
	if (!argv_ok)
		printf("# argv_ok: argc=%d layout wrong\n", argc);
	printf("%sok 1 argv_ok\n", argv_ok ? "" : "not ");
	failed |= !argv_ok;

	/* env: every entry NAME=VALUE; getenv(PATH/HOME) agrees with environ; HOME, when set, is
	 * absolute; setenv/unsetenv round trip.  (The host harness runs with an empty
	 * environment, the kernel with PATH/HOME/TERM: both must pass.) */
	int env_ok = 1;
	for (char **e = environ; *e; e++)
		if (!strchr(*e, '='))
			env_ok = 0;
	env_ok = env_ok && env_agrees("PATH") && env_agrees("HOME") && env_agrees("TERM");
	const char *home = getenv("HOME");
	if (home && home[0] != '/')
		env_ok = 0;
	const char *path = getenv("PATH");
	if (path && path[0] == '\0')
		env_ok = 0;
	if (setenv("KENTRY_HELLO", "42", 1) != 0 || !getenv("KENTRY_HELLO") ||
	    strcmp(getenv("KENTRY_HELLO"), "42") != 0 || unsetenv("KENTRY_HELLO") != 0 ||
	    getenv("KENTRY_HELLO") != NULL)
		env_ok = 0;
	if (!env_ok)
		printf("# env_ok: environment inconsistent\n");
	printf("%sok 2 env_ok\n", env_ok ? "" : "not ");
	failed |= !env_ok;

	/* stdio buffering on a pipe: a stream on our own pipe holds the text until fflush. */
	int fl_ok = 0;
	int p[2];
	if (pipe(p) == 0) {
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		FILE *f = fdopen(p[1], "w");
		char buf[64];
		if (f) {
			fprintf(f, "buffered %d", 42);
			ssize_t before = read(p[0], buf, sizeof buf); /* -1/EAGAIN: still buffered */
			int flushed = fflush(f) == 0;
			ssize_t after = read(p[0], buf, sizeof buf);
			fl_ok = before < 0 && flushed && after == 11 && memcmp(buf, "buffered 42", 11) == 0;
			fclose(f);
		}
		close(p[0]);
	}
	fl_ok = fl_ok && !ferror(stdout);
	if (!fl_ok)
		printf("# stdout_buffered_flush_ok: stdio buffering wrong\n");
	/* This line, like all above, is written by exit()'s flush. */
	printf("%sok 3 stdout_buffered_flush_ok\n", fl_ok ? "" : "not ");
	failed |= !fl_ok;

	exit(failed ? 1 : 0);
}
