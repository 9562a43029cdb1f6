/* auxv: the process-start contract (linux-abi.md §3) as libc shows it, and /proc/self/maps.
 *
 * getauxval for the entries static musl and glibc read; the initial-stack layout visible
 * through main's arguments (argv = initial rsp + 8, so argv % 16 == 8; envp follows argv's NULL;
 * auxv follows envp's NULL and agrees with getauxval); /proc/self/maps parses, and main's text
 * and a local variable lie in mappings with the right permissions; MXCSR/FCW defaults; brk after
 * the image.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "ktap.h"

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

extern const Elf64_Ehdr __ehdr_start; /* the ELF header, mapped with the first PT_LOAD */
extern char _start[];                 /* the entry point (crt1) */
extern char **environ;
extern char _end[]; /* end of .bss */

/* getauxval with presence: musl and glibc both set errno = ENOENT for a missing entry. */
static int aux(unsigned long type, unsigned long *val)
{
	errno = 0;
	*val = getauxval(type);
	return !(*val == 0 && errno == ENOENT);
}

/* The raw auxv entry, found after envp's NULL as libc finds it. */
static int raw_aux(char **envp, unsigned long type, unsigned long *val)
{
	while (*envp)
		envp++;
	for (const Elf64_auxv_t *av = (const Elf64_auxv_t *)(envp + 1); av->a_type != AT_NULL; av++)
		if (av->a_type == type) {
			*val = av->a_un.a_val;
			return 1;
		}
	*val = 0;
	return 0;
}

struct map {
	uintptr_t start, end;
	char perms[5];
	unsigned long off, inode;
	unsigned dmaj, dmin;
	char path[512];
};

static struct map maps[512];
static int nmaps;

/* Parses /proc/self/maps; returns 1 if every line has the Linux format. */
static int read_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return 0;
	char line[1024];
	int ok = 1;
	while (fgets(line, sizeof line, f) && nmaps < 512) {
		struct map *m = &maps[nmaps];
		int n = 0;
		m->path[0] = 0;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s %lx %x:%x %lu%n", &m->start, &m->end,
			   m->perms, &m->off, &m->dmaj, &m->dmin, &m->inode, &n) != 7) {
			ok = 0;
			continue;
		}
		char *p = line + n;
		while (*p == ' ')
			p++;
		size_t l = strcspn(p, "\n");
		if (l >= sizeof m->path)
			l = sizeof m->path - 1;
		memcpy(m->path, p, l);
		m->path[l] = 0;
		if (!strchr(line, '\n'))
			ok = 0;
		const char *pr = m->perms;
		if (strlen(pr) != 4 || (pr[0] != 'r' && pr[0] != '-') || (pr[1] != 'w' && pr[1] != '-') ||
		    (pr[2] != 'x' && pr[2] != '-') || (pr[3] != 'p' && pr[3] != 's'))
			ok = 0;
		if (m->start >= m->end || (m->start & 4095) || (m->end & 4095))
			ok = 0;
		if (nmaps > 0 && m->start < maps[nmaps - 1].end)
			ok = 0; /* sorted, non-overlapping */
		nmaps++;
	}
	fclose(f);
	return ok && nmaps > 0;
}

static const struct map *find_map(uintptr_t a)
{
	for (int i = 0; i < nmaps; i++)
		if (a >= maps[i].start && a < maps[i].end)
			return &maps[i];
	return NULL;
}

int main(int argc, char **argv, char **envp)
{
	unsigned long v;
	volatile int local = 1;

	ktap_plan(24);

	KTAP_CHECK(aux(AT_PAGESZ, &v) && v == 4096 && sysconf(_SC_PAGESIZE) == 4096, "at_pagesz",
		   "AT_PAGESZ %lu", v);

	/* AT_PHDR/PHENT/PHNUM describe the program headers in memory: for a static binary they lie
	 * in the first PT_LOAD, right where __ehdr_start + e_phoff is. */
	unsigned long phdr = 0, phent = 0, phnum = 0;
	int have = aux(AT_PHDR, &phdr) & aux(AT_PHENT, &phent) & aux(AT_PHNUM, &phnum);
	int phdr_ok = have && phent == sizeof(Elf64_Phdr) && phnum == __ehdr_start.e_phnum &&
		      phdr == (uintptr_t)&__ehdr_start + __ehdr_start.e_phoff;
	int load = 0;
	for (unsigned long i = 0; phdr_ok && i < phnum; i++)
		load += ((const Elf64_Phdr *)phdr)[i].p_type == PT_LOAD;
	KTAP_CHECK(phdr_ok && load >= 1, "at_phdr_phent_phnum", "phdr %#lx phent %lu phnum %lu", phdr,
		   phent, phnum);

	KTAP_CHECK(aux(AT_ENTRY, &v) && v == (uintptr_t)_start, "at_entry", "AT_ENTRY %#lx _start %p", v,
		   (void *)_start);

	/* AT_RANDOM: 16 readable bytes, not all zero. */
	int rnd_ok = aux(AT_RANDOM, &v) && v != 0;
	if (rnd_ok) {
		unsigned char b[16], any = 0;
		memcpy(b, (void *)v, 16);
		for (int i = 0; i < 16; i++)
			any |= b[i];
		rnd_ok = any != 0;
	}
	KTAP_CHECK(rnd_ok, "at_random", "AT_RANDOM missing or zero");

	/* glibc's getauxval(AT_HWCAP) returns its own x86 HWCAP bits, so read the raw entry. */
	KTAP_CHECK(raw_aux(envp, AT_HWCAP, &v) && (v & 1), "at_hwcap",
		   "raw AT_HWCAP %#lx (CPUID.1:EDX, FPU bit expected)", v);
	KTAP_CHECK(aux(AT_SECURE, &v) && v == 0, "at_secure_0", "AT_SECURE %lu", v);

	int fn_ok = aux(AT_EXECFN, &v) && v != 0 && *(const char *)v != 0 &&
		    access((const char *)v, F_OK) == 0;
	KTAP_CHECK(fn_ok, "at_execfn", "AT_EXECFN missing, empty or not a file");

	KTAP_CHECK(aux(AT_PLATFORM, &v) && v && strcmp((const char *)v, "x86_64") == 0, "at_platform",
		   "AT_PLATFORM wrong");
	KTAP_CHECK(aux(AT_CLKTCK, &v) && v == 100 && sysconf(_SC_CLK_TCK) == 100, "at_clktck_100",
		   "AT_CLKTCK %lu", v);

	unsigned long uid, euid, gid, egid;
	int ids = aux(AT_UID, &uid) & aux(AT_EUID, &euid) & aux(AT_GID, &gid) & aux(AT_EGID, &egid);
	KTAP_CHECK(ids && uid == getuid() && euid == geteuid() && gid == getgid() && egid == getegid(),
		   "at_uid_euid_gid_egid", "auxv ids disagree with getuid() etc.");

	/* Optional entries: when present they must be sane (Linux 6.x gives all three). */
	int opt_ok = 1;
	if (aux(AT_MINSIGSTKSZ, &v) && (v < 1024 || v > 65536))
		opt_ok = 0;
	if (aux(AT_SYSINFO_EHDR, &v) && (v == 0 || memcmp((void *)v, ELFMAG, SELFMAG) != 0))
		opt_ok = 0;
	if (aux(AT_BASE, &v) && v != 0)
		opt_ok = 0; /* no interpreter */
	KTAP_CHECK(opt_ok, "optional_auxv_sane", "AT_MINSIGSTKSZ/SYSINFO_EHDR/BASE insane");

	/* Initial stack, as libc passes it on: argv = rsp + 8 with rsp % 16 == 0 at _start. */
	KTAP_CHECK(((uintptr_t)argv & 15) == 8, "initial_rsp_16_aligned", "argv %% 16 = %lu",
		   (unsigned long)((uintptr_t)argv & 15));
	KTAP_CHECK(argv[argc] == NULL && envp == argv + argc + 1, "envp_follows_argv",
		   "envp not at argv + argc + 1");

	/* auxv follows envp's NULL; walk it and compare with getauxval. */
	char **e = envp;
	while (*e)
		e++;
	const Elf64_auxv_t *av = (const Elf64_auxv_t *)(e + 1);
	int walk_ok = 1, n = 0, seen_pagesz = 0, seen_random = 0;
	for (; av->a_type != AT_NULL && n < 64; av++, n++) {
		if (av->a_type == AT_PAGESZ)
			seen_pagesz = av->a_un.a_val == 4096;
		if (av->a_type == AT_RANDOM)
			seen_random = 1;
		/* Every entry but the HWCAPs (glibc substitutes its own) reads back unchanged. */
		if (av->a_type != AT_HWCAP && av->a_type != AT_HWCAP2 &&
		    av->a_un.a_val != getauxval(av->a_type))
			walk_ok = 0;
	}
	KTAP_CHECK(walk_ok && n < 64 && seen_pagesz && seen_random, "auxv_follows_envp",
		   "auxv walk found %d entries", n);

	/* The strings the kernel put on the stack are readable: argv, envp, execfn. */
	int str_ok = 1;
	for (int i = 0; i < argc; i++)
		str_ok &= strlen(argv[i]) < 4096;
	for (e = envp; *e; e++)
		str_ok &= strchr(*e, '=') != NULL;
	KTAP_CHECK(str_ok, "stack_strings", "argv/envp strings malformed");

	/* /proc/self/maps */
	int parsed = read_maps();
	KTAP_CHECK(parsed, "maps_format", "/proc/self/maps unreadable or malformed (%d lines)", nmaps);

	const struct map *t = find_map((uintptr_t)main);
	KTAP_CHECK(t && strcmp(t->perms, "r-xp") == 0, "maps_text_r-xp", "main's mapping: %s",
		   t ? t->perms : "none");
	/* The text mapping names the executable, with its inode. */
	char exe[512];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (el > 0)
		exe[el] = 0;
	KTAP_CHECK(t && el > 0 && strcmp(t->path, exe) == 0 && t->inode != 0, "maps_text_names_exe",
		   "text mapping path \"%s\"", t ? t->path : "");

	const struct map *s = find_map((uintptr_t)&local);
	KTAP_CHECK(s && strcmp(s->perms, "rw-p") == 0, "maps_stack_rw-p", "stack mapping: %s",
		   s ? s->perms : "none");
	KTAP_CHECK(s && strcmp(s->path, "[stack]") == 0 && find_map((uintptr_t)argv) == s,
		   "maps_stack_named", "stack mapping named \"%s\"", s ? s->path : "");

	/* The AT_RANDOM bytes and the heap (a fresh malloc) are in readable, writable mappings. */
	const struct map *r = find_map(getauxval(AT_RANDOM));
	KTAP_CHECK(r && r->perms[0] == 'r', "maps_at_random_mapped", "AT_RANDOM not in a mapping");

	/* The data of a static binary: a writable global sits in an rw-p mapping. */
	static int global_data = 5;
	const struct map *d = find_map((uintptr_t)&global_data);
	KTAP_CHECK(d && strcmp(d->perms, "rw-p") == 0 && global_data == 5, "maps_data_rw-p",
		   "data mapping: %s", d ? d->perms : "none");

	/* FPU/SSE control state as the kernel starts a program (libc leaves it alone). */
	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("stmxcsr %0; fnstcw %1" : "=m"(mxcsr), "=m"(fcw));
	KTAP_CHECK(mxcsr == 0x1f80 && fcw == 0x037f, "fpu_defaults_at_main", "MXCSR %#x FCW %#x", mxcsr,
		   fcw);

	/* The break starts after the last segment (glibc has already moved it up a little). */
	KTAP_CHECK((uintptr_t)sbrk(0) >= (uintptr_t)_end, "brk_after_image", "brk %p below _end %p", sbrk(0),
		   (void *)_end);

	return ktap_finish();
}
