/* The compat fast entries (SYSENTER, SYSCALL from 32-bit code) as Linux's
 * syscall_arg_fault_32 and single_step_syscall_32 exercise them, seen from a 64-bit tracer:
 * each case runs ia32_fast-glibc32 (next to this program) under PTRACE_TRACEME, resumes it
 * through its SIGTRAPs (suppressed, as those tests' handlers do) and judges where it ends.
 *
 * - {sysenter,syscall}_fault[_tf]: every register -1 and EAX = 20 (getpid), then the bare
 *   instruction, with and without TF. Where the CPU has the instruction (SYSENTER: not on
 *   AMD, which raises #UD in long mode; SYSCALL: not on Intel, #UD in compat mode) the
 *   sixth-argument read faults, so the call must not run: the tracee stops with SIGSEGV
 *   (the landing pad's pop from ESP -1) with EAX = -EFAULT and EIP inside its [vdso] (the
 *   kernel returned to the landing pad), TF kept in EFLAGS in the _tf cases (E30). Where
 *   the vendor lacks it: SIGILL at the instruction, or the above if the CPU model runs it.
 * - vsyscall_tf: getpid through __kernel_vsyscall with TF set returns the pid and TF is still
 *   set after it, having single-stepped (SIGTRAP stops); on SYSENTER the kernel drops the
 *   steps of its own stub.
 * - vsyscall_nt: the same with NT set: the call works and NT comes back (the kernel clears
 *   NT for itself after SYSENTER, which does not).
 *
 * Natively on an Intel host the SYSENTER cases run and the SYSCALL cases end in SIGILL.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <cpuid.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static char helper[PATH_MAX];

static int vendor_is(const char *v)
{
	unsigned a, b, c, d;
	char s[13];
	__cpuid(0, a, b, c, d);
	memcpy(s, &b, 4);
	memcpy(s + 4, &d, 4);
	memcpy(s + 8, &c, 4);
	s[12] = 0;
	return !strcmp(s, v);
}

static int in_vdso(pid_t pid, uint64_t ip)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "r");
	int in = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e;
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &s, &e) == 2)
			in = ip >= s && ip < e;
	}
	fclose(f);
	return in;
}

struct end {
	int exited, status, sig, traps;
	struct user_regs_struct regs;
	int in_vdso;
};

/* Runs the helper's `mode` traced to its end: its exit, or a stop for a signal other than
 * SIGTRAP (the state then recorded and the tracee killed). */
static int run(const char *mode, struct end *e)
{
	memset(e, 0, sizeof *e);
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execl(helper, helper, mode, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) /* the exec's SIGTRAP */
		return 0;
	for (int i = 0; i < 1000; i++) {
		if (ptrace(PTRACE_CONT, pid, 0, 0))
			return 0;
		if (waitpid(pid, &st, 0) != pid)
			return 0;
		if (WIFEXITED(st)) {
			e->exited = 1;
			e->status = WEXITSTATUS(st);
			return 1;
		}
		if (WIFSIGNALED(st))
			return 0;
		if (WSTOPSIG(st) == SIGTRAP) {
			e->traps++;
			continue;
		}
		e->sig = WSTOPSIG(st);
		ptrace(PTRACE_GETREGS, pid, 0, &e->regs);
		e->in_vdso = in_vdso(pid, e->regs.rip);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return 1;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 0;
}

static void fault_case(const char *mode, const char *name, int has_insn, int tf)
{
	struct end e;
	int ran = run(mode, &e);
	uint32_t eax = e.regs.rax;
	int ok;
	int efault = ran && e.sig == SIGSEGV && eax == (uint32_t)-EFAULT && e.in_vdso &&
		     (!tf || (e.regs.eflags & 0x100));
	/* Where the vendor says the instruction is #UD, a CPU model may still run it (QEMU TCG
	 * runs SYSCALL in compat mode under an Intel vendor): then it must fault as above. */
	if (has_insn)
		ok = efault;
	else
		ok = (ran && e.sig == SIGILL && !e.in_vdso) || efault;
	KTAP_CHECK(ok, name, "ran %d exited %d status %d sig %d eax %#x rip %#llx vdso %d flags %#llx traps %d",
		   ran, e.exited, e.status, e.sig, eax, (unsigned long long)e.regs.rip, e.in_vdso,
		   (unsigned long long)e.regs.eflags, e.traps);
}

int main(void)
{
	ktap_plan(6);
	ssize_t n = readlink("/proc/self/exe", helper, sizeof helper - 32);
	char *slash = n > 0 ? memrchr(helper, '/', n) : NULL;
	if (!slash) {
		printf("# no /proc/self/exe\n");
		return 1;
	}
	strcpy(slash + 1, "ia32_fast-glibc32");
	int amd = vendor_is("AuthenticAMD") || vendor_is("HygonGenuine");
	int intel = !amd;
	fault_case("sysenter-fault", "sysenter_fault_efault", intel, 0);
	fault_case("sysenter-fault-tf", "sysenter_fault_tf_efault", intel, 1);
	fault_case("syscall-fault", "syscall_fault_efault", amd, 0);
	fault_case("syscall-fault-tf", "syscall_fault_tf_efault", amd, 1);
	struct end e;
	int ran = run("vsyscall-tf", &e);
	KTAP_CHECK(ran && e.exited && e.status == 0 && e.traps >= 3, "vsyscall_tf",
		   "ran %d exited %d status %d sig %d traps %d rip %#llx", ran, e.exited, e.status,
		   e.sig, e.traps, (unsigned long long)e.regs.rip);
	ran = run("vsyscall-nt", &e);
	KTAP_CHECK(ran && e.exited && e.status == 0, "vsyscall_nt",
		   "ran %d exited %d status %d sig %d rip %#llx", ran, e.exited, e.status, e.sig,
		   (unsigned long long)e.regs.rip);
	return ktap_finish();
}
