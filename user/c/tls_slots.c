/* set_thread_area's GDT TLS slots from a 64-bit program (through int $0x80, as Linux's
 * ldt_gdt and fsgsbase selftests use them), and the case that must not crash the kernel:
 * a tracer that has slot 12 sets GS = 0x63 in a tracee whose slot 12 is empty. The tracer's
 * own GDT accepts the selector; when the tracee runs again its GS must come back null
 * (Linux's fault fixup of the segment load), never a kernel fault.
 *
 * PTRACE_GET_THREAD_AREA and PTRACE_SET_THREAD_AREA from a 64-bit tracer: a tracee's slot 13
 * read back as the user_desc it was set from, an empty slot as read_exec_only and
 * seg_not_present, the refusals (slot 11: EINVAL, a negative index: EIO, a 16-bit segment:
 * EINVAL); a slot set by the tracer while the tracee's GS holds it is what GS then reads.
 *
 * Needs a static non-PIE build: the user_desc is passed to the i386 call through EBX, so it
 * must lie below 4 GiB (it does, in .data/.bss).
 */
#include "ktap.h"
#include <signal.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

/* Linux's struct user_desc (asm/ldt.h, which musl's headers lack). */
struct user_desc {
	unsigned int entry_number;
	unsigned int base_addr;
	unsigned int limit;
	unsigned int seg_32bit : 1;
	unsigned int contents : 2;
	unsigned int read_exec_only : 1;
	unsigned int limit_in_pages : 1;
	unsigned int seg_not_present : 1;
	unsigned int useable : 1;
	unsigned int lm : 1;
};

static struct user_desc desc;
static uint32_t buf[2] = {0xabcd1234, 0x5678ef01};
static uint32_t buf2[2] = {0x2468ace0, 0x13579bdf};

static long int80_set_thread_area(struct user_desc *d)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(243L), "b"((long)(uintptr_t)d)
			 : "rcx", "r8", "r9", "r10", "r11", "memory");
	return ret;
}

static void fill(struct user_desc *d, int entry, void *base)
{
	memset(d, 0, sizeof(*d));
	d->entry_number = entry;
	d->base_addr = (uint32_t)(uintptr_t)base;
	d->limit = 0xfffff;
	d->seg_32bit = 1;
	d->limit_in_pages = 1;
	d->useable = 1;
}

static void empty(struct user_desc *d, int entry)
{
	memset(d, 0, sizeof(*d));
	d->entry_number = entry;
	d->read_exec_only = 1;
	d->seg_not_present = 1;
}

static uint16_t gs_sel(void)
{
	uint16_t s;
	__asm__ volatile("mov %%gs, %0" : "=r"(s));
	return s;
}

static void check_ptrace_thread_area(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* Slot 13 at buf; the tracer moves it to buf2 while this child is stopped. */
		fill(&desc, 13, buf);
		if (int80_set_thread_area(&desc) != 0)
			_exit(100);
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
			_exit(101);
		/* GS holds slot 13 while stopped: the tracer's change must reach the live
		 * selector's base too (Linux sets the saved gsbase of a task not running). */
		__asm__ volatile("mov %0, %%gs" ::"r"(0x6b) : "memory");
		raise(SIGSTOP);
		uint32_t w;
		__asm__ volatile("movl %%gs:0, %0; mov %1, %%gs" : "=r"(w) : "r"(0) : "memory");
		_exit(w == buf2[0] ? 0 : 102);
	}
	int st = 0;
	if (pid <= 0 || waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
		KTAP_CHECK(0, "ptrace_get_thread_area", "child status %#x", st);
		KTAP_CHECK(0, "ptrace_set_thread_area", "child status %#x", st);
		return;
	}
	struct user_desc got, none;
	memset(&got, 0xff, sizeof(got));
	memset(&none, 0xff, sizeof(none));
	long g13 = ptrace(PTRACE_GET_THREAD_AREA, pid, (void *)13, &got);
	long g14 = ptrace(PTRACE_GET_THREAD_AREA, pid, (void *)14, &none);
	errno = 0;
	long g11 = ptrace(PTRACE_GET_THREAD_AREA, pid, (void *)11, &none);
	int e11 = errno;
	errno = 0;
	long gneg = ptrace(PTRACE_GET_THREAD_AREA, pid, (void *)-1L, &none);
	int eneg = errno;
	KTAP_CHECK(g13 == 0 && got.entry_number == 13 && got.base_addr == (uint32_t)(uintptr_t)buf &&
			   got.limit == 0xfffff && got.seg_32bit && got.contents == 0 &&
			   !got.read_exec_only && got.limit_in_pages && !got.seg_not_present &&
			   got.useable && !got.lm && g14 == 0 && none.entry_number == 14 &&
			   none.base_addr == 0 && none.read_exec_only && none.seg_not_present &&
			   g11 == -1 && e11 == EINVAL && gneg == -1 && eneg == EIO,
		   "ptrace_get_thread_area",
		   "13: %ld entry %u base %#x limit %#x flags %d%d%d%d%d%d%d; 14: %ld ro %d np %d; "
		   "11: %ld/%d; -1: %ld/%d",
		   g13, got.entry_number, got.base_addr, got.limit, got.seg_32bit, got.contents,
		   got.read_exec_only, got.limit_in_pages, got.seg_not_present, got.useable, got.lm,
		   g14, none.read_exec_only, none.seg_not_present, g11, e11, gneg, eneg);
	struct user_desc d;
	fill(&d, 13, buf2);
	d.seg_32bit = 0; /* a 16-bit segment: refused */
	errno = 0;
	long s16 = ptrace(PTRACE_SET_THREAD_AREA, pid, (void *)13, &d);
	int e16 = errno;
	fill(&d, 0, buf2); /* the index is the request's address, not entry_number */
	long s13 = ptrace(PTRACE_SET_THREAD_AREA, pid, (void *)13, &d);
	ptrace(PTRACE_CONT, pid, 0, 0);
	int ok = waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	KTAP_CHECK(s16 == -1 && e16 == EINVAL && s13 == 0 && ok, "ptrace_set_thread_area",
		   "16-bit %ld/%d, set %ld, child status %#x", s16, e16, s13, st);
}

int main(void)
{
	ktap_plan(5);
	fill(&desc, -1, buf);
	long r = int80_set_thread_area(&desc);
	KTAP_CHECK(r == 0 && desc.entry_number == 12, "slot_12_from_64bit", "ret %ld entry %u", r,
		   desc.entry_number);
	uint32_t w;
	__asm__ volatile("mov %1, %%gs; movl %%gs:0, %0; mov %2, %%gs"
			 : "=r"(w)
			 : "r"(0x63), "r"(0)
			 : "memory");
	KTAP_CHECK(w == buf[0], "gs_reads_slot_base", "gs:0 %#x", w);

	pid_t pid = fork();
	if (pid == 0) {
		/* The child empties its own slot 12, then stops for the tracer. */
		empty(&desc, 12);
		if (int80_set_thread_area(&desc) != 0)
			_exit(100);
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
			_exit(101);
		raise(SIGSTOP);
		_exit(gs_sel() == 0 ? 0 : 102);
	}
	int st = 0, ok = 0;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFSTOPPED(st)) {
		struct user_regs_struct regs;
		if (ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0) {
			regs.gs = 0x63;
			long set = ptrace(PTRACE_SETREGS, pid, 0, &regs);
			ptrace(PTRACE_CONT, pid, 0, 0);
			if (waitpid(pid, &st, 0) == pid)
				ok = set == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
	}
	KTAP_CHECK(ok, "tracee_gs_of_empty_slot_null", "status %#x", st);
	check_ptrace_thread_area();
	return ktap_finish();
}
