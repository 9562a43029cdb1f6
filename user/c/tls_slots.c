/* set_thread_area's GDT TLS slots from a 64-bit program (through int $0x80, as Linux's
 * ldt_gdt and fsgsbase selftests use them), and the case that must not crash the kernel:
 * a tracer that has slot 12 sets GS = 0x63 in a tracee whose slot 12 is empty. The tracer's
 * own GDT accepts the selector; when the tracee runs again its GS must come back null
 * (Linux's fault fixup of the segment load), never a kernel fault.
 *
 * Needs a static non-PIE build: the user_desc is passed to the i386 call through EBX, so it
 * must lie below 4 GiB (it does, in .data/.bss).
 */
#include "ktap.h"
#include <signal.h>
#include <stdint.h>
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

int main(void)
{
	ktap_plan(3);
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
	return ktap_finish();
}
