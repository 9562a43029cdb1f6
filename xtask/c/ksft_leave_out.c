/*
 * A main() for a kselftest_harness.h selftest that can leave named test cases out, as the
 * harness of later Linux releases can (`-t`/`-T`); Linux 6.1's harness ignores its argv.
 * The selftest's source is compiled unchanged as part of this file (KSFT_SOURCE names it);
 * only its `main` is renamed.
 *
 * Usage: PROGRAM [NAME...]: each NAME ("fixture.test" or "fixture.variant.test") is left
 * out, and said so on stdout ("# kentry: left out NAME") before the TAP header. A test with
 * variants is left out only when all of them are named. An unknown NAME, or one variant of
 * several alone, stops it with status 2, so a stale list cannot go unseen.
 *
 * xtask leaves out only the cases whose table entry says they cannot end without a
 * capability kentry lacks (xtask/src/linux_selftests/kselftest_expected.rs).
 */
#define main ksft_selftest_main
#include KSFT_SOURCE
#undef main

#include <stdio.h>
#include <string.h>

static int named(int argc, char **argv, const char *name, int *used)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], name) == 0) {
			used[i] = 1;
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int used[argc > 0 ? argc : 1];
	memset(used, 0, sizeof(used));
	for (struct __fixture_metadata *f = __fixture_list; f; f = f->next) {
		struct __test_metadata *kept = NULL, *last = NULL;
		struct __test_metadata *t = f->tests;
		while (t) {
			struct __test_metadata *next = t->next;
			char name[512];
			int out = 0, variants = 0, named_variants = 0;
			snprintf(name, sizeof(name), "%s.%s", f->name, t->name);
			if (named(argc, argv, name, used))
				out = 1;
			for (struct __fixture_variant_metadata *v = f->variant; v; v = v->next) {
				variants++;
				snprintf(name, sizeof(name), "%s.%s.%s", f->name, v->name, t->name);
				named_variants += named(argc, argv, name, used);
			}
			if (named_variants && named_variants != variants) {
				printf("# kentry: %s.%s: only %d of its %d variants named; "
				       "this main leaves out all of them or none\n",
				       f->name, t->name, named_variants, variants);
				return 2;
			}
			if (named_variants)
				out = 1;
			if (out) {
				if (!variants)
					printf("# kentry: left out %s.%s\n", f->name, t->name);
				for (struct __fixture_variant_metadata *v = f->variant; v; v = v->next)
					printf("# kentry: left out %s.%s.%s\n", f->name, v->name, t->name);
			} else {
				t->prev = last ? last : t;
				t->next = NULL;
				if (last)
					last->next = t;
				else
					kept = t;
				last = t;
			}
			t = next;
		}
		if (kept)
			kept->prev = last;
		f->tests = kept;
	}
	for (int i = 1; i < argc; i++) {
		if (!used[i]) {
			printf("# kentry: no test case %s\n", argv[i]);
			return 2;
		}
	}
	fflush(stdout);
	return ksft_selftest_main(argc, argv);
}
