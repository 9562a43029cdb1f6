/* ptrace: a tracer and its tracee, each case in a forked child that the test traces.
 *
 * The tracee reports what it saw through its exit status (0: as expected); the tracer checks
 * the stops it waits for. The same binary gives the same results natively on Linux.
 *
 * - traceme_stop: PTRACE_TRACEME then raise(SIGSTOP): waitpid sees status 0x137f, and
 *   PTRACE_GETSIGINFO gives SIGSTOP with si_code SI_TKILL.
 * - syscall_stops: with TRACESYSGOOD, PTRACE_SYSCALL stops at the entry (status 0x857f,
 *   orig_rax getppid, rax -ENOSYS, GET_SYSCALL_INFO op ENTRY with nr and args, GETEVENTMSG 1)
 *   and at the exit (rax = the result, GET_SYSCALL_INFO op EXIT).
 * - change_syscall_nr: the tracer turns getppid into gettid at the entry stop.
 * - skip_syscall: orig_rax -1 skips the call: -ENOSYS; with rax set too, that value.
 * - sysemu: PTRACE_SYSEMU stops at the entry and never runs the call (the tracer's rax is
 *   the result).
 * - peek_poke_data: PEEKDATA reads a variable of the tracee, POKEDATA writes it, and a
 *   read-only (const) one is written too (a debugger's force).
 * - peek_poke_user: PEEKUSER of regs.rip equals GETREGS's; POKEUSER of rax at the exit stop
 *   is the call's result; an unaligned offset is EIO.
 * - setregs_refused: CS 0, SS with RPL 0, FS base past user space are EIO.
 * - setregs_bad_rip_segv: a non-canonical RIP set by the tracer gives the tracee SIGSEGV (a
 *   signal-delivery stop, then death when the tracer lets it through).
 * - setregs_bad_cs_segv: a data selector as CS, the same.
 * - signal_injection: the tracee's SIGUSR1 stops it; resumed with SIGUSR2, its SIGUSR2 handler
 *   runs, not SIGUSR1's; resumed with 0, no handler runs.
 * - setsiginfo: si_errno edited by PTRACE_SETSIGINFO reaches the handler.
 * - fpregs: GETFPREGS shows xmm0 as the tracee set it; SETFPREGS changes it; MXCSR with
 *   reserved bits is EINVAL.
 * - regset_prstatus: GETREGSET NT_PRSTATUS fills 216 bytes and agrees with GETREGS.
 * - trace_fork: TRACEFORK: PTRACE_EVENT_FORK (GETEVENTMSG = the new pid), the new process
 *   starts traced with SIGSTOP, and its end is reported to the tracer.
 * - trace_exec: TRACEEXEC: PTRACE_EVENT_EXEC; without it the old SIGTRAP stop.
 * - trace_exit: TRACEEXIT: PTRACE_EVENT_EXIT with GETEVENTMSG = the wait status to come.
 * - singlestep: PTRACE_SINGLESTEP stops with SIGTRAP after each instruction (RIP moves).
 * - attach_detach: PTRACE_ATTACH to a running child: SIGSTOP stop; DETACH: it runs on.
 * - seize_interrupt: PTRACE_SEIZE, PTRACE_INTERRUPT: a PTRACE_EVENT_STOP stop; PTRACE_KILL.
 * - waitid_trapped: waitid(WSTOPPED) reports a ptrace stop as CLD_TRAPPED.
 * - trace_clone: TRACECLONE: PTRACE_EVENT_CLONE for pthread_create, the thread starts traced
 *   (SIGSTOP, waited for by its tid with __WALL) and its end is reported.
 * - trace_vfork: TRACEVFORK and TRACEVFORKDONE: the vfork event, the traced child, then
 *   PTRACE_EVENT_VFORK_DONE once the child has exited.
 * - group_stop_listen: SEIZE; SIGSTOP's signal-delivery stop, then, resumed with SIGSTOP,
 *   the group stop (PTRACE_EVENT_STOP, GETSIGINFO works); LISTEN leaves nothing to wait for;
 *   INTERRUPT re-traps it.
 * - listen_sigcont_retraps: a LISTENed tracee traps again (PTRACE_EVENT_STOP, SIGTRAP) when
 *   SIGCONT ends its group stop.
 * - seize_stopped: SEIZE of a process stopped by job control traps at once (PTRACE_EVENT_STOP,
 *   SIGSTOP); PTRACE_CONT runs it while its group stays stopped.
 * - exitkill: a tracer that exits with PTRACE_O_EXITKILL takes its tracee with it.
 * - sigmask: PTRACE_GETSIGMASK / SETSIGMASK; a size other than 8 is EINVAL.
 * - seccomp_get_filter: PTRACE_SECCOMP_GET_FILTER gives the count and the program as installed,
 *   ENOENT past the last filter, EINVAL for a tracee without one.
 * - arch_prctl: PTRACE_ARCH_PRCTL reads the FS base (as PEEKUSER does), sets the GS base the
 *   tracee then reads, and refuses a kernel address (EPERM) and an unknown code (EINVAL).
 * - bad_selector_survives: POKEUSER of GS = 0x7 (an LDT selector; there is no LDT) is taken,
 *   and the tracee runs on to its end (the selector cannot be loaded: Linux's load faults
 *   and leaves null; kentry stores null at once).
 * - proc_pid_mem: /proc/PID/mem of a stopped tracee: pread at a variable's address, pwrite of
 *   it and of a const one, EIO at an unmapped address; /proc/self/mem reads this process.
 * - seccomp_trace: a filter's SECCOMP_RET_TRACE: with PTRACE_O_TRACESECCOMP the tracer gets
 *   PTRACE_EVENT_SECCOMP (GETEVENTMSG and GET_SYSCALL_INFO's ret_data = the filter's data), may
 *   change the call (judged again, allowed) or skip it with a result; without the option the
 *   call fails with ENOSYS.
 * - restart_syscall_seen: a traced nanosleep interrupted by SIGSTOP ends with
 *   -ERESTART_RESTARTBLOCK at its exit stop; with the signal cancelled it is resumed through
 *   restart_syscall, the call the tracer sees next, and sleeps out its time.
 * - errors: ESRCH for a tracee not traced by the caller, EPERM to attach to itself or twice,
 *   EIO for a bad resume signal, EINVAL for an unknown option.
 * - trace_clone_leader_first: TRACECLONE; the leader ends first (a bare thread exit), then
 *   the other thread, last: the tracer (the parent) gets the thread's end by its tid, then
 *   the process's end once (Linux's delay_group_leader).
 */
#include "ptrace.h"
#include "ptrace_events.h"

static void traceme_stop(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
			_exit(90);
		raise(SIGSTOP);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	siginfo_t si = {0};
	long r = ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
	int ok = st == 0x137f && r == 0 && si.si_signo == SIGSTOP && si.si_code == SI_TKILL;
	KTAP_CHECK(ok && exited_0(finish(pid)), "traceme_stop", "status %#x r %ld signo %d code %d",
		   st, r, si.si_signo, si.si_code);
}

static void syscall_stops(void)
{
	pid_t pid = start_traced(body_getppid);
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD);
	int st = step(pid, PTRACE_SYSCALL, 0);
	struct user_regs_struct r;
	struct syscall_info in = {0}, out = {0};
	unsigned long msg = 0;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	long isz = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof in, &in);
	ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
	int entry_ok = st == 0x857f && r.orig_rax == SYS_getppid && (long)r.rax == -ENOSYS &&
		       isz == 80 && in.op == INFO_OP_ENTRY && in.entry.nr == SYS_getppid &&
		       in.entry.args[0] == 11 && in.entry.args[2] == 33 && in.ip == r.rip &&
		       in.arch == 0xc000003e && msg == 1;
	int st2 = step(pid, PTRACE_SYSCALL, 0);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	long osz = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof out, &out);
	int exit_ok = st2 == 0x857f && (long)r.rax == getpid() && osz == 33 &&
		      out.op == INFO_OP_EXIT && out.exit.rval == getpid() && !out.exit.is_error;
	KTAP_CHECK(entry_ok && exit_ok && exited_0(finish(pid)), "syscall_stops",
		   "st %#x orig %lld rax %lld isz %ld op %d msg %lu / st %#x rax %lld osz %ld op %d",
		   st, r.orig_rax, r.rax, isz, in.op, msg, st2, r.rax, osz, out.op);
}

static int body_gettid_expected(void)
{
	return raw(SYS_getppid, 0, 0, 0) == getpid() ? 0 : 1;
}

static void change_syscall_nr(void)
{
	pid_t pid = start_traced(body_gettid_expected);
	int st = step(pid, PTRACE_SYSCALL, 0);
	struct user_regs_struct r;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	r.orig_rax = SYS_gettid;
	ptrace(PTRACE_SETREGS, pid, 0, &r);
	KTAP_CHECK(WIFSTOPPED(st) && exited_0(finish(pid)), "change_syscall_nr", "status %#x", st);
}

static int body_skipped(void)
{
	errno = 0;
	long a = raw(SYS_getppid, 0, 0, 0);
	if (a != -1 || errno != ENOSYS)
		return 1;
	return raw(SYS_getppid, 0, 0, 0) == 4242 ? 0 : 2;
}

static void skip_syscall(void)
{
	pid_t pid = start_traced(body_skipped);
	struct user_regs_struct r;
	int ok = 1;
	for (int i = 0; i < 2; i++) {
		int st = step(pid, PTRACE_SYSCALL, 0);
		ptrace(PTRACE_GETREGS, pid, 0, &r);
		ok &= WIFSTOPPED(st) && r.orig_rax == SYS_getppid;
		r.orig_rax = -1;
		if (i == 1)
			r.rax = 4242;
		ptrace(PTRACE_SETREGS, pid, 0, &r);
		st = step(pid, PTRACE_SYSCALL, 0); /* the exit stop */
		ok &= WIFSTOPPED(st);
	}
	KTAP_CHECK(ok && exited_0(finish(pid)), "skip_syscall", "stops went wrong");
}

static int body_sysemu(void)
{
	return raw(SYS_getpid, 0, 0, 0) == 1234 ? 0 : 1;
}

static void sysemu(void)
{
	pid_t pid = start_traced(body_sysemu);
	int st = step(pid, PTRACE_SYSEMU, 0);
	struct user_regs_struct r;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	int ok = WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP && r.orig_rax == SYS_getpid;
	r.rax = 1234;
	ptrace(PTRACE_SETREGS, pid, 0, &r);
	KTAP_CHECK(ok && exited_0(finish(pid)), "sysemu", "status %#x orig %lld", st, r.orig_rax);
}

static volatile long data_word = 0x1122334455667788L;
static const volatile long ro_word = 7;

static int body_poked(void)
{
	return data_word == 0x55 && ro_word == 99 ? 0 : 1;
}

static void peek_poke_data(void)
{
	pid_t pid = start_traced(body_poked);
	errno = 0;
	long v = ptrace(PTRACE_PEEKDATA, pid, (void *)&data_word, 0);
	int ok = v == 0x1122334455667788L && errno == 0;
	ok &= ptrace(PTRACE_POKEDATA, pid, (void *)&data_word, (void *)0x55L) == 0;
	ok &= ptrace(PTRACE_POKEDATA, pid, (void *)&ro_word, (void *)99L) == 0;
	errno = 0;
	long bad = ptrace(PTRACE_PEEKDATA, pid, (void *)8, 0);
	ok &= bad == -1 && errno == EIO;
	KTAP_CHECK(ok && exited_0(finish(pid)), "peek_poke_data", "peek %#lx bad %ld errno %d", v,
		   bad, errno);
}

static int body_rax_poked(void)
{
	return raw(SYS_getppid, 0, 0, 0) == 777 ? 0 : 1;
}

static void peek_poke_user(void)
{
	pid_t pid = start_traced(body_rax_poked);
	int st = step(pid, PTRACE_SYSCALL, 0);
	st = step(pid, PTRACE_SYSCALL, 0);
	struct user_regs_struct r;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	errno = 0;
	long rip = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user, regs.rip), 0);
	int ok = WIFSTOPPED(st) && errno == 0 && (unsigned long)rip == r.rip;
	ok &= ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, regs.rax), 777) == 0;
	errno = 0;
	ok &= ptrace(PTRACE_PEEKUSER, pid, 3, 0) == -1 && errno == EIO;
	KTAP_CHECK(ok && exited_0(finish(pid)), "peek_poke_user", "rip %#lx vs %#llx", rip, r.rip);
}

static void setregs_refused(void)
{
	pid_t pid = start_traced(body_nothing);
	struct user_regs_struct r, t;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	int ok = 1;
	t = r;
	t.cs = 0;
	ok &= ptrace(PTRACE_SETREGS, pid, 0, &t) == -1 && errno == EIO;
	t = r;
	t.ss = 0x10;
	ok &= ptrace(PTRACE_SETREGS, pid, 0, &t) == -1 && errno == EIO;
	t = r;
	t.fs_base = 0xffff800000000000UL;
	ok &= ptrace(PTRACE_SETREGS, pid, 0, &t) == -1 && errno == EIO;
	ok &= ptrace(PTRACE_SETREGS, pid, 0, &r) == 0;
	KTAP_CHECK(ok && exited_0(finish(pid)), "setregs_refused", "a bad value was taken");
}

static void setregs_segv(const char *name, int which)
{
	pid_t pid = start_traced(body_nothing);
	struct user_regs_struct r;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	if (which == 0)
		r.rip = 0x8000000000000000UL;
	else
		r.cs = 0x2b;
	long set = ptrace(PTRACE_SETREGS, pid, 0, &r);
	/* The fault stops it for the tracer first (SIGSEGV), then kills it when delivered. */
	int st = step(pid, PTRACE_CONT, 0);
	int end = step(pid, PTRACE_CONT, SIGSEGV);
	KTAP_CHECK(set == 0 && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSEGV && WIFSIGNALED(end) &&
			   WTERMSIG(end) == SIGSEGV,
		   name, "set %ld status %#x end %#x", set, st, end);
}

static volatile int got_usr1, got_usr2, got_errno;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGUSR1)
		got_usr1++;
	if (sig == SIGUSR2)
		got_usr2++;
	got_errno = si->si_errno;
}

static int body_signals(void)
{
	struct sigaction sa = {0};
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, 0);
	sigaction(SIGUSR2, &sa, 0);
	raise(SIGUSR1); /* replaced by SIGUSR2 */
	if (got_usr1 != 0 || got_usr2 != 1)
		return 1;
	raise(SIGUSR1); /* cancelled */
	if (got_usr1 != 0 || got_usr2 != 1)
		return 2;
	raise(SIGUSR1); /* si_errno edited */
	return got_usr1 == 1 && got_errno == 77 ? 0 : 3;
}

static void signal_injection(void)
{
	pid_t pid = start_traced(body_signals);
	int st1 = step(pid, PTRACE_CONT, 0);
	int st2 = step(pid, PTRACE_CONT, SIGUSR2);
	int st3 = step(pid, PTRACE_CONT, 0);
	siginfo_t si;
	long g = ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
	si.si_errno = 77;
	long s = ptrace(PTRACE_SETSIGINFO, pid, 0, &si);
	int stops = WSTOPSIG(st1) == SIGUSR1 && WSTOPSIG(st2) == SIGUSR1 && WSTOPSIG(st3) == SIGUSR1;
	int end = step(pid, PTRACE_CONT, SIGUSR1);
	KTAP_CHECK(stops && exited_0(end), "signal_injection", "stops %#x %#x %#x end %#x", st1, st2,
		   st3, end);
	KTAP_CHECK(g == 0 && s == 0 && si.si_signo == SIGUSR1 && exited_0(end), "setsiginfo",
		   "get %ld set %ld end %#x", g, s, end);
}

static int body_fp(void)
{
	uint64_t v[2] = {0x1111222233334444UL, 0x5555666677778888UL}, w[2];
	long nr = SYS_kill, pid = getpid();
	/* xmm0 set, kill(pid, SIGSTOP) as a bare syscall (no libc code between that could use
	 * xmm0), and read back after the tracer's SETFPREGS. */
	__asm__ volatile("movdqu %2, %%xmm0\n\t"
			 "syscall\n\t"
			 "movdqu %%xmm0, %1"
			 : "+a"(nr), "=m"(w)
			 : "m"(v), "D"(pid), "S"((long)SIGSTOP)
			 : "xmm0", "rcx", "r11", "memory");
	return w[0] == 0xabcdef && w[1] == 0x1234 ? 0 : 1;
}

static void fpregs(void)
{
	pid_t pid = start_traced(body_fp);
	int st = step(pid, PTRACE_CONT, 0); /* its second SIGSTOP */
	struct user_fpregs_struct f;
	ptrace(PTRACE_GETFPREGS, pid, 0, &f);
	uint64_t *x0 = (uint64_t *)&f.xmm_space[0];
	int ok = WSTOPSIG(st) == SIGSTOP && x0[0] == 0x1111222233334444UL &&
		 x0[1] == 0x5555666677778888UL;
	struct user_fpregs_struct bad = f;
	bad.mxcsr = 0xffff0000;
	ok &= ptrace(PTRACE_SETFPREGS, pid, 0, &bad) == -1 && errno == EINVAL;
	x0[0] = 0xabcdef;
	x0[1] = 0x1234;
	ok &= ptrace(PTRACE_SETFPREGS, pid, 0, &f) == 0;
	KTAP_CHECK(ok && exited_0(step(pid, PTRACE_CONT, 0)), "fpregs", "status %#x", st);
}

static void regset_prstatus(void)
{
	pid_t pid = start_traced(body_nothing);
	struct user_regs_struct a, b;
	struct iovec iov = {&b, sizeof b + 64};
	ptrace(PTRACE_GETREGS, pid, 0, &a);
	long r = ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &iov);
	int ok = r == 0 && iov.iov_len == sizeof b && a.rip == b.rip && a.rsp == b.rsp;
	KTAP_CHECK(ok && exited_0(finish(pid)), "regset_prstatus", "r %ld len %zu", r, iov.iov_len);
}

static void singlestep(void)
{
	pid_t pid = start_traced(body_nothing);
	struct user_regs_struct r;
	unsigned long last = 0;
	int ok = 1;
	for (int i = 0; i < 5; i++) {
		int st = step(pid, PTRACE_SINGLESTEP, 0);
		ptrace(PTRACE_GETREGS, pid, 0, &r);
		ok &= WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP && r.rip != last &&
		      !(r.eflags & 0x100);
		last = r.rip;
	}
	KTAP_CHECK(ok && exited_0(finish(pid)), "singlestep", "a step went wrong");
}

static void get_set_sigmask(void)
{
	pid_t pid = start_traced(body_nothing);
	uint64_t m = 0, set = 1UL << (SIGUSR1 - 1), got = 0;
	long a = ptrace(PTRACE_GETSIGMASK, pid, sizeof m, &m);
	long b = ptrace(PTRACE_SETSIGMASK, pid, sizeof set, &set);
	long c = ptrace(PTRACE_GETSIGMASK, pid, sizeof got, &got);
	long d = ptrace(PTRACE_GETSIGMASK, pid, 4, &got);
	int ok = a == 0 && m == 0 && b == 0 && c == 0 && got == set && d == -1 && errno == EINVAL;
	KTAP_CHECK(ok && exited_0(finish(pid)), "sigmask", "%ld %ld %ld %ld mask %#lx", a, b, c, d,
		   (unsigned long)got);
}

/* The GS base the tracer sets with PTRACE_ARCH_PRCTL, as the tracee reads it. */
#define TRACER_GS_BASE 0x12345000UL

static int body_gs_base(void)
{
	unsigned long v = 0;
	return raw(SYS_arch_prctl, 0x1004 /* ARCH_GET_GS */, (long)&v, 0) == 0 &&
			       v == TRACER_GS_BASE
		       ? 0
		       : 1;
}

/* PTRACE_ARCH_PRCTL: ARCH_GET_FS agrees with the fs_base of the user area, ARCH_SET_GS sets
 * the base the tracee then reads, a kernel address is EPERM, an unknown code EINVAL. */
static void arch_prctl_tracee(void)
{
	pid_t pid = start_traced(body_gs_base);
	unsigned long fs = 1, peek;
	long g = ptrace(PTRACE_ARCH_PRCTL, pid, &fs, 0x1003 /* ARCH_GET_FS */);
	peek = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user_regs_struct, fs_base), 0);
	long s = ptrace(PTRACE_ARCH_PRCTL, pid, TRACER_GS_BASE, 0x1001 /* ARCH_SET_GS */);
	long k = ptrace(PTRACE_ARCH_PRCTL, pid, 0xffff800000000000UL, 0x1001);
	int ke = errno;
	long b = ptrace(PTRACE_ARCH_PRCTL, pid, 0, 0x1999);
	int be = errno;
	int ok = g == 0 && fs == peek && fs != 0 && s == 0 && k == -1 && ke == EPERM && b == -1 &&
		 be == EINVAL;
	KTAP_CHECK(ok && exited_0(finish(pid)), "arch_prctl",
		   "get %ld fs %#lx peek %#lx set %ld kernel %ld/%d bad %ld/%d", g, fs, peek, s, k,
		   ke, b, be);
}

static void errors(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	int ok = 1;
	ok &= ptrace(PTRACE_GETREGS, pid, 0, 0) == -1 && errno == ESRCH;
	ok &= ptrace(PTRACE_ATTACH, getpid(), 0, 0) == -1 && errno == EPERM;
	ok &= ptrace(PTRACE_SEIZE, pid, 0, 1 << 30) == -1 && errno == EIO;
	kill(pid, SIGKILL);
	waitpid(pid, 0, 0);
	pid = start_traced(body_nothing);
	ok &= ptrace(PTRACE_CONT, pid, 0, 100) == -1 && errno == EIO;
	ok &= ptrace(PTRACE_SETOPTIONS, pid, 0, 1 << 30) == -1 && errno == EINVAL;
	KTAP_CHECK(ok && exited_0(finish(pid)), "errors", "an error was not as Linux's");
}

static volatile long mem_word = 0x0102030405060708L;
static const volatile long mem_ro = 5;

static int body_mem(void)
{
	return mem_word == 0x1111 && mem_ro == 6 ? 0 : 1;
}

static void proc_pid_mem(void)
{
	char path[64];
	long v = 0, own = 0, w = 0x1111, r6 = 6;
	pid_t pid = start_traced(body_mem);
	snprintf(path, sizeof path, "/proc/%d/mem", pid);
	int fd = open(path, O_RDWR);
	int ok = fd >= 0 && pread(fd, &v, 8, (off_t)(uintptr_t)&mem_word) == 8 &&
		 v == 0x0102030405060708L;
	ok &= pwrite(fd, &w, 8, (off_t)(uintptr_t)&mem_word) == 8;
	ok &= pwrite(fd, &r6, 8, (off_t)(uintptr_t)&mem_ro) == 8;
	errno = 0;
	ok &= pread(fd, &v, 8, 8) == -1 && errno == EIO;
	close(fd);
	int self = open("/proc/self/mem", O_RDONLY);
	ok &= self >= 0 && pread(self, &own, 8, (off_t)(uintptr_t)&mem_word) == 8 &&
	      own == 0x0102030405060708L;
	close(self);
	KTAP_CHECK(ok && exited_0(finish(pid)), "proc_pid_mem", "fd %d v %#lx own %#lx", fd, v, own);
}

/* A filter: getppid -> SECCOMP_RET_TRACE | 0x42, anything else allowed. */
static struct sock_filter trace_getppid_prog[] = {
	STMT(LD_ABS, 0), /* seccomp_data.nr */
	JUMP(JEQ_K, SYS_getppid, 0, 1),
	STMT(RET_K, SECCOMP_RET_TRACE | 0x42),
	STMT(RET_K, SECCOMP_RET_ALLOW),
};

static int trace_getppid(void)
{
	struct sock_fprog prog = {4, trace_getppid_prog};
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

static int body_seccomp_traced(void)
{
	if (!trace_getppid())
		return 1;
	if (raw(SYS_getppid, 0, 0, 0) != raw(SYS_gettid, 0, 0, 0))
		return 2;
	return raw(SYS_getppid, 0, 0, 0) == 55 ? 0 : 3;
}

static int body_seccomp_untraced(void)
{
	if (!trace_getppid())
		return 1;
	errno = 0;
	return raw(SYS_getppid, 0, 0, 0) == -1 && errno == ENOSYS ? 0 : 2;
}

static void seccomp_trace(void)
{
	pid_t pid;
	unsigned long msg;
	int st = start_to_event(body_seccomp_traced, PTRACE_O_TRACESECCOMP, &pid, &msg);
	struct user_regs_struct r;
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	uint8_t info[88] = {0};
	long isz = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, info);
	uint32_t ret_data;
	memcpy(&ret_data, info + 80, 4);
	int ok = st >> 8 == (SIGTRAP | PTRACE_EVENT_SECCOMP << 8) && msg == 0x42 &&
		 r.orig_rax == SYS_getppid && isz == 84 && info[0] == 3 && ret_data == 0x42;
	r.orig_rax = SYS_gettid; /* judged again: allowed */
	ptrace(PTRACE_SETREGS, pid, 0, &r);
	int st2 = step(pid, PTRACE_CONT, 0);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	r.orig_rax = -1; /* skipped, with this result */
	r.rax = 55;
	ptrace(PTRACE_SETREGS, pid, 0, &r);
	ok &= st2 >> 8 == (SIGTRAP | PTRACE_EVENT_SECCOMP << 8);
	int end = finish(pid);
	/* Without PTRACE_O_TRACESECCOMP nobody takes the event: ENOSYS. */
	pid_t other = start_traced(body_seccomp_untraced);
	int end2 = finish(other);
	KTAP_CHECK(ok && exited_0(end) && exited_0(end2), "seccomp_trace",
		   "st %#x msg %#lx orig %lld isz %ld op %d data %#x st2 %#x end %#x end2 %#x", st,
		   msg, r.orig_rax, isz, info[0], ret_data, st2, end, end2);
}

/* PTRACE_SECCOMP_GET_FILTER: the count, the program as installed, ENOENT past the last
 * filter, EINVAL for a tracee without filters. */
static void seccomp_get_filter(void)
{
	pid_t pid;
	unsigned long msg;
	start_to_event(body_seccomp_traced, PTRACE_O_TRACESECCOMP, &pid, &msg);
	struct sock_filter got[8];
	memset(got, 0xa5, sizeof got);
	long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, NULL);
	long m = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, got);
	long past = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 1, NULL);
	int pe = errno;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	pid_t plain = start_traced(body_nothing);
	long none = ptrace(PTRACE_SECCOMP_GET_FILTER, plain, 0, NULL);
	int ne = errno;
	int ok = n == 4 && m == 4 && !memcmp(got, trace_getppid_prog, sizeof trace_getppid_prog) &&
		 past == -1 && pe == ENOENT && none == -1 && ne == EINVAL;
	KTAP_CHECK(ok && exited_0(finish(plain)), "seccomp_get_filter",
		   "count %ld %ld past %ld/%d none %ld/%d", n, m, past, pe, none, ne);
}

static int body_nanosleep(void)
{
	struct timespec t = {0, 300 * 1000 * 1000};
	return raw(SYS_nanosleep, (long)&t, 0, 0) == 0 ? 0 : 1;
}

static void restart_syscall_seen(void)
{
	pid_t pid = start_traced(body_nanosleep);
	struct user_regs_struct r;
	int st = step(pid, PTRACE_SYSCALL, 0);
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	int ok = WIFSTOPPED(st) && r.orig_rax == SYS_nanosleep;
	ptrace(PTRACE_SYSCALL, pid, 0, 0);
	usleep(50 * 1000);
	kill(pid, SIGSTOP);
	int st2 = -1, st3, st4;
	waitpid(pid, &st2, 0); /* the exit stop of the interrupted sleep */
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	ok &= WSTOPSIG(st2) == SIGTRAP && (long)r.rax == -516 && r.orig_rax == SYS_nanosleep;
	st3 = step(pid, PTRACE_SYSCALL, 0); /* SIGSTOP's delivery stop */
	st4 = step(pid, PTRACE_SYSCALL, 0); /* cancelled: the restart's entry */
	ptrace(PTRACE_GETREGS, pid, 0, &r);
	ok &= WSTOPSIG(st3) == SIGSTOP && WSTOPSIG(st4) == SIGTRAP &&
	      r.orig_rax == SYS_restart_syscall;
	KTAP_CHECK(ok && exited_0(finish(pid)), "restart_syscall_seen",
		   "st %#x st2 %#x st3 %#x st4 %#x orig %lld rax %lld", st, st2, st3, st4,
		   r.orig_rax, r.rax);
}

static void bad_selector_survives(void)
{
	pid_t pid = start_traced(body_nothing);
	long p = ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, regs.gs), 0x7);
	KTAP_CHECK(p == 0 && exited_0(finish(pid)), "bad_selector_survives", "poke %ld", p);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exit0") == 0)
		return 0;
	self_path = "/proc/self/exe";
	static char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n > 0) {
		path[n] = 0;
		self_path = path;
	}
	ktap_plan(36);
	traceme_stop();
	syscall_stops();
	change_syscall_nr();
	skip_syscall();
	sysemu();
	peek_poke_data();
	peek_poke_user();
	setregs_refused();
	setregs_segv("setregs_bad_rip_segv", 0);
	setregs_segv("setregs_bad_cs_segv", 1);
	signal_injection();
	fpregs();
	regset_prstatus();
	trace_fork();
	trace_exec();
	trace_exit();
	singlestep();
	attach_detach();
	seize_interrupt();
	waitid_trapped();
	trace_clone();
	trace_vfork();
	group_stop_listen();
	listen_sigcont_retraps();
	seize_stopped();
	exitkill();
	get_set_sigmask();
	arch_prctl_tracee();
	proc_pid_mem();
	seccomp_trace();
	seccomp_get_filter();
	restart_syscall_seen();
	errors();
	trace_clone_leader_first();
	/* Last: with the kernel's selector check broken (negative run), it kills the kernel. */
	bad_selector_survives();
	return ktap_finish();
}
