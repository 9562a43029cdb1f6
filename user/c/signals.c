/* signals: Linux signal delivery as libc programs use it (linux-abi.md §6).
 *
 * Synchronous signals from CPU exceptions with their si_code/si_addr and sigcontext (SIGSEGV
 * from #PF with cr2/err/trapno, SIGSEGV SI_KERNEL from #GP, SIGILL from ud2, SIGFPE from idiv by
 * zero, SIGTRAP from int3, SIGBUS from an mmap beyond EOF), siglongjmp out of handlers,
 * sigprocmask/sigpending, SA_RESETHAND, SA_NODEFER, SA_RESTART, sigaltstack + SA_ONSTACK (also
 * for a stack overflow), alarm + pause, setitimer + sigsuspend, kill/raise siginfo, and a handler
 * that edits uc_mcontext (RIP += 2, RAX) and returns: callee-saved registers, XMM state, MXCSR
 * and DF survive the round trip, and the handler itself starts with DF clear and MXCSR at its
 * default. A child's SIGCHLD reports its user and system time in the right fields.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "ktap.h"

/* Instructions at known addresses. */
__asm__(".text\n"
	".globl do_ud2, ud2_insn, do_div0, div0_insn, do_int3, int3_after, do_cli, cli_insn\n"
	"do_ud2:\n"
	"ud2_insn: ud2\n"
	"	ret\n"
	"do_div0:\n"
	"	xor %ecx, %ecx\n"
	"	mov $1, %eax\n"
	"	cltd\n"
	"div0_insn: idiv %ecx\n"
	"	ret\n"
	"do_int3:\n"
	"	int3\n"
	"int3_after:\n"
	"	ret\n"
	"do_cli:\n"
	"cli_insn: cli\n"
	"	ret\n"

	/* regs_test: loads known values into rbx, rbp, r12-r15, xmm6, MXCSR and DF, executes ud2
	 * (the SIGILL handler sets RAX = 0x5a5a and RIP += 2), and returns a bit mask of what did
	 * not survive: 1 RAX not set by the handler, 2 a callee-saved register, 4 xmm6, 8 DF,
	 * 16 MXCSR. */
	".globl regs_test, regs_ud2\n"
	"regs_test:\n"
	"	push %rbx\n"
	"	push %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	sub $24, %rsp\n"
	"	stmxcsr 0(%rsp)\n"
	"	movl $0x7f80, 8(%rsp)\n"
	"	ldmxcsr 8(%rsp)\n"
	"	movabs $0x6666666666666666, %rcx\n"
	"	movq %rcx, %xmm6\n"
	"	movabs $0x1111111111111111, %rbx\n"
	"	movabs $0x2222222222222222, %rbp\n"
	"	movabs $0x3333333333333333, %r12\n"
	"	movabs $0x4444444444444444, %r13\n"
	"	movabs $0x5555555555555555, %r14\n"
	"	movabs $0x7777777777777777, %r15\n"
	"	mov $0x1234, %eax\n"
	"	std\n"
	"regs_ud2: ud2\n"
	"	pushf\n"
	"	pop %rdx\n"
	"	cld\n"
	"	stmxcsr 8(%rsp)\n"
	"	ldmxcsr 0(%rsp)\n"
	"	xor %r8d, %r8d\n"
	"	cmp $0x5a5a, %rax\n"
	"	je 1f\n"
	"	or $1, %r8d\n"
	"1:	movabs $0x1111111111111111, %rcx\n"
	"	cmp %rcx, %rbx\n"
	"	jne 2f\n"
	"	movabs $0x2222222222222222, %rcx\n"
	"	cmp %rcx, %rbp\n"
	"	jne 2f\n"
	"	movabs $0x3333333333333333, %rcx\n"
	"	cmp %rcx, %r12\n"
	"	jne 2f\n"
	"	movabs $0x4444444444444444, %rcx\n"
	"	cmp %rcx, %r13\n"
	"	jne 2f\n"
	"	movabs $0x5555555555555555, %rcx\n"
	"	cmp %rcx, %r14\n"
	"	jne 2f\n"
	"	movabs $0x7777777777777777, %rcx\n"
	"	cmp %rcx, %r15\n"
	"	je 3f\n"
	"2:	or $2, %r8d\n"
	"3:	movq %xmm6, %rcx\n"
	"	movabs $0x6666666666666666, %r9\n"
	"	cmp %r9, %rcx\n"
	"	je 4f\n"
	"	or $4, %r8d\n"
	"4:	bt $10, %rdx\n"
	"	jc 5f\n"
	"	or $8, %r8d\n"
	"5:	cmpl $0x7f80, 8(%rsp)\n"
	"	je 6f\n"
	"	or $16, %r8d\n"
	"6:	mov %r8d, %eax\n"
	"	add $24, %rsp\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	"	ret\n");

void do_ud2(void), do_div0(void), do_int3(void), do_cli(void);
int regs_test(void);
extern char ud2_insn[], div0_insn[], int3_after[], cli_insn[], regs_ud2[];

/* What the handler saw. */
static volatile struct {
	int signo, code;
	void *addr;
	uint64_t rip, trapno, err, cr2;
	int count;
} seen;

enum mode { LONGJMP, RETURN, SKIP1, REGS };
static volatile enum mode mode;
static sigjmp_buf jb;

/* What the REGS handler checked of the frame and of its own state (bit = problem). */
static volatile int regs_frame_bad, regs_handler_bad;

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	seen.signo = sig;
	seen.code = si->si_code;
	seen.addr = si->si_addr;
	seen.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	seen.trapno = (uint64_t)uc->uc_mcontext.gregs[REG_TRAPNO];
	seen.err = (uint64_t)uc->uc_mcontext.gregs[REG_ERR];
	seen.cr2 = (uint64_t)uc->uc_mcontext.gregs[REG_CR2];
	seen.count++;
	switch (mode) {
	case LONGJMP:
		siglongjmp(jb, 1);
	case RETURN:
		return;
	case SKIP1:
		uc->uc_mcontext.gregs[REG_RIP] += 1;
		return;
	case REGS: {
		greg_t *g = uc->uc_mcontext.gregs;
		int bad = 0;
		if ((uint64_t)g[REG_RBX] != 0x1111111111111111ull || (uint64_t)g[REG_R15] != 0x7777777777777777ull)
			bad |= 1;
		if (!(g[REG_EFL] & 0x400))
			bad |= 2; /* the interrupted DF */
		if (!uc->uc_mcontext.fpregs || uc->uc_mcontext.fpregs->mxcsr != 0x7f80 ||
		    uc->uc_mcontext.fpregs->_xmm[6].element[0] != 0x66666666u)
			bad |= 4;
		regs_frame_bad = bad;
		/* The handler runs with DF clear and the default MXCSR. */
		uint64_t fl;
		uint32_t mx;
		__asm__ volatile("pushf; pop %0; stmxcsr %1" : "=r"(fl), "=m"(mx));
		regs_handler_bad = ((fl & 0x400) ? 1 : 0) | (mx != 0x1f80 ? 2 : 0);
		/* Clobber what sigreturn must restore. */
		uint32_t other = 0x3f80;
		__asm__ volatile("pcmpeqd %%xmm6, %%xmm6; ldmxcsr %0" ::"m"(other) : "xmm6");
		g[REG_RAX] = 0x5a5a;
		g[REG_RIP] += 2; /* ud2 */
		return;
	}
	}
}

static int install(int sig, void (*h)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

static void reset_seen(void)
{
	memset((void *)&seen, 0, sizeof seen);
}

static int blocked(int sig)
{
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, sig);
}

/* Simple counting handlers. */
static volatile int usr1_count, usr2_count, alrm_count, depth, max_depth, own_blocked;
static volatile int kill_code, kill_pid, kill_uid;

static void usr1_info(int sig, siginfo_t *si, void *uc)
{
	usr1_count++;
	kill_code = si->si_code;
	kill_pid = si->si_pid;
	kill_uid = (int)si->si_uid;
}

static void usr2_nested(int sig, siginfo_t *si, void *uc)
{
	usr2_count++;
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	own_blocked = blocked(SIGUSR2);
	if (usr2_count == 1)
		raise(SIGUSR2); /* nested at once with SA_NODEFER, after return without */
	depth--;
}

static volatile int chld_count;
static void chld(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	chld_count++;
}

static int alarm_pipe_wr = -1;
static void alrm(int sig, siginfo_t *si, void *uc)
{
	alrm_count++;
	if (alarm_pipe_wr >= 0) {
		char c = 'a';
		if (write(alarm_pipe_wr, &c, 1) != 1)
			alrm_count += 1000;
	}
}

static char altstack[64 * 1024] __attribute__((aligned(16)));
static volatile uintptr_t onstack_local;
static volatile int onstack_flag;
static volatile void *uc_stack_sp;

static void on_alt(int sig, siginfo_t *si, void *ucv)
{
	volatile char here;
	ucontext_t *uc = ucv;
	onstack_local = (uintptr_t)&here;
	stack_t cur;
	onstack_flag = sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_ONSTACK);
	uc_stack_sp = uc->uc_stack.ss_sp;
	if (mode == LONGJMP)
		siglongjmp(jb, 1);
}

static int in_altstack(uintptr_t a)
{
	return a >= (uintptr_t)altstack && a < (uintptr_t)altstack + sizeof altstack;
}

static int recurse(int n)
{
	volatile char buf[1024];
	if (n > 100000) /* 100 MB: far beyond any stack limit */
		return 0;
	buf[0] = (char)n;
	buf[1023] = (char)n;
	return recurse(n + 1) + buf[0] + buf[1023];
}

static int timer_ms(int ms)
{
	struct itimerval it = {{0, 0}, {0, ms * 1000}};
	return setitimer(ITIMER_REAL, &it, NULL);
}

int main(void)
{
	ktap_plan(27);

	install(SIGSEGV, handler, 0);
	install(SIGILL, handler, 0);
	install(SIGFPE, handler, 0);
	install(SIGTRAP, handler, 0);
	install(SIGBUS, handler, 0);

	/* SIGSEGV from a read of an unmapped address: SEGV_MAPERR, si_addr, cr2, err, trapno. */
	reset_seen();
	mode = LONGJMP;
	int *volatile bad = (int *)0x10;
	if (sigsetjmp(jb, 1) == 0)
		(void)*(volatile int *)bad;
	KTAP_CHECK(seen.signo == SIGSEGV && seen.code == SEGV_MAPERR && seen.addr == (void *)0x10,
		   "sigsegv_maperr_si_addr", "signo %d code %d addr %p", seen.signo, seen.code, seen.addr);
	KTAP_CHECK(seen.trapno == 14 && seen.cr2 == 0x10 && (seen.err & 7) == 4, "sigsegv_sigcontext_pf",
		   "trapno %lu cr2 %#lx err %#lx", (unsigned long)seen.trapno, (unsigned long)seen.cr2,
		   (unsigned long)seen.err);
	KTAP_CHECK(!blocked(SIGSEGV), "siglongjmp_restores_mask", "SIGSEGV still blocked after siglongjmp");

	/* SIGSEGV from a write to a read-only page: SEGV_ACCERR. */
	reset_seen();
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro != MAP_FAILED && sigsetjmp(jb, 1) == 0)
		*(volatile char *)ro = 1;
	KTAP_CHECK(ro != MAP_FAILED && seen.signo == SIGSEGV && seen.code == SEGV_ACCERR &&
			   seen.addr == ro && (seen.err & 6) == 6,
		   "sigsegv_accerr", "code %d err %#lx", seen.code, (unsigned long)seen.err);

	/* #GP (cli in ring 3): SIGSEGV, SI_KERNEL, si_addr 0; the handler skips the insn. */
	reset_seen();
	mode = SKIP1;
	do_cli();
	KTAP_CHECK(seen.signo == SIGSEGV && seen.code == SI_KERNEL && seen.addr == NULL &&
			   seen.rip == (uintptr_t)cli_insn && seen.trapno == 13,
		   "sigsegv_gp_si_kernel", "code %#x rip %#lx trapno %lu", seen.code,
		   (unsigned long)seen.rip, (unsigned long)seen.trapno);

	/* SIGILL from ud2. */
	reset_seen();
	mode = LONGJMP;
	if (sigsetjmp(jb, 1) == 0)
		do_ud2();
	KTAP_CHECK(seen.signo == SIGILL && seen.code == ILL_ILLOPN && seen.addr == ud2_insn &&
			   seen.rip == (uintptr_t)ud2_insn && seen.trapno == 6,
		   "sigill_ud2_illopn", "code %d addr %p trapno %lu", seen.code, seen.addr,
		   (unsigned long)seen.trapno);

	/* SIGFPE from an integer divide by zero. */
	reset_seen();
	if (sigsetjmp(jb, 1) == 0)
		do_div0();
	KTAP_CHECK(seen.signo == SIGFPE && seen.code == FPE_INTDIV && seen.addr == div0_insn &&
			   seen.rip == (uintptr_t)div0_insn && seen.trapno == 0,
		   "sigfpe_intdiv", "code %d addr %p", seen.code, seen.addr);

	/* SIGTRAP from int3: a trap, the handler sees RIP after the int3 and returns. */
	reset_seen();
	mode = RETURN;
	do_int3();
	KTAP_CHECK(seen.signo == SIGTRAP && seen.code == SI_KERNEL && seen.rip == (uintptr_t)int3_after &&
			   seen.trapno == 3,
		   "sigtrap_int3_rip_after", "code %#x rip %#lx want %p", seen.code,
		   (unsigned long)seen.rip, (void *)int3_after);

	/* SIGBUS: reading a file mapping beyond the end of the file. */
	reset_seen();
	mode = LONGJMP;
	char path[64];
	mkdir("/tmp", 01777);
	snprintf(path, sizeof path, "/tmp/kentry-sigbus-%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *fm = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	if (fm == MAP_FAILED) {
		ktap_skip("sigbus_beyond_eof", "no mmap of an empty file in /tmp");
	} else {
		if (sigsetjmp(jb, 1) == 0)
			(void)*(volatile char *)fm;
		KTAP_CHECK(seen.signo == SIGBUS && seen.code == BUS_ADRERR && seen.addr == fm,
			   "sigbus_beyond_eof", "signo %d code %d", seen.signo, seen.code);
		munmap(fm, 4096);
	}

	/* A handler that edits the frame and returns (RIP += 2 past ud2, RAX = 0x5a5a). */
	mode = REGS;
	int r = regs_test();
	KTAP_CHECK(!(r & 1) && regs_frame_bad == 0, "mcontext_edit_rip_rax",
		   "result %#x frame %#x", r, regs_frame_bad);
	KTAP_CHECK(!(r & 2), "callee_saved_preserved", "result %#x", r);
	KTAP_CHECK(!(r & 28), "fpu_df_restored_by_sigreturn", "result %#x (4 xmm6, 8 DF, 16 MXCSR)", r);
	KTAP_CHECK(regs_handler_bad == 0, "handler_df_clear_mxcsr_default", "handler state %#x",
		   regs_handler_bad);

	/* sigprocmask: a raised, blocked signal stays pending and arrives on unblock. */
	install(SIGUSR1, usr1_info, 0);
	sigset_t s1, old, pend;
	sigemptyset(&s1);
	sigaddset(&s1, SIGUSR1);
	usr1_count = 0;
	sigprocmask(SIG_BLOCK, &s1, &old);
	raise(SIGUSR1);
	int before = usr1_count;
	sigpending(&pend);
	int pending = sigismember(&pend, SIGUSR1);
	sigprocmask(SIG_SETMASK, &old, NULL);
	KTAP_CHECK(before == 0 && pending == 1 && usr1_count == 1, "blocked_pending_unblock",
		   "before %d pending %d after %d", before, pending, usr1_count);
	KTAP_CHECK(kill_code == SI_TKILL && kill_pid == getpid(), "raise_si_tkill", "si_code %d",
		   kill_code);

	/* kill(getpid()): delivered before kill returns, SI_USER with pid and uid. */
	usr1_count = 0;
	kill(getpid(), SIGUSR1);
	KTAP_CHECK(usr1_count == 1 && kill_code == SI_USER && kill_pid == getpid() &&
			   kill_uid == (int)getuid(),
		   "kill_self_si_user", "count %d code %d", usr1_count, kill_code);

	/* SA_RESETHAND: the handler runs once, then the disposition is SIG_DFL. */
	struct sigaction q;
	install(SIGUSR1, usr1_info, SA_RESETHAND);
	usr1_count = 0;
	raise(SIGUSR1);
	sigaction(SIGUSR1, NULL, &q);
	KTAP_CHECK(usr1_count == 1 && q.sa_handler == SIG_DFL, "sa_resethand", "count %d", usr1_count);

	/* Without SA_NODEFER the handler's own signal is blocked inside it: the raise from the
	 * handler waits until it returns. */
	install(SIGUSR2, usr2_nested, 0);
	usr2_count = depth = max_depth = 0;
	raise(SIGUSR2);
	KTAP_CHECK(usr2_count == 2 && max_depth == 1 && own_blocked, "handler_blocks_own_signal",
		   "count %d depth %d", usr2_count, max_depth);

	/* SA_NODEFER: it nests at once. */
	install(SIGUSR2, usr2_nested, SA_NODEFER);
	usr2_count = depth = max_depth = 0;
	raise(SIGUSR2);
	KTAP_CHECK(usr2_count == 2 && max_depth == 2 && !own_blocked, "sa_nodefer", "count %d depth %d",
		   usr2_count, max_depth);

	/* sigaltstack + SA_ONSTACK. */
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
	int alt_ok = sigaltstack(&ss, NULL) == 0;
	install(SIGUSR2, on_alt, SA_ONSTACK);
	mode = RETURN;
	onstack_local = 0;
	raise(SIGUSR2);
	KTAP_CHECK(alt_ok && in_altstack(onstack_local) && onstack_flag && uc_stack_sp == altstack,
		   "sigaltstack_sa_onstack", "handler stack %s the alt stack",
		   in_altstack(onstack_local) ? "in" : "not in");

	/* A stack overflow is caught on the alternate stack. */
	install(SIGSEGV, on_alt, SA_ONSTACK);
	mode = LONGJMP;
	onstack_local = 0;
	if (sigsetjmp(jb, 1) == 0)
		recurse(0);
	KTAP_CHECK(in_altstack(onstack_local), "stack_overflow_on_altstack", "handler not on alt stack");
	install(SIGSEGV, handler, 0);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);

	/* alarm(1) + pause(). */
	install(SIGALRM, alrm, 0);
	alrm_count = 0;
	alarm(1);
	errno = 0;
	int pr = pause();
	KTAP_CHECK(pr == -1 && errno == EINTR && alrm_count == 1, "alarm_pause", "pause %d errno %d count %d",
		   pr, errno, alrm_count);

	/* setitimer + sigsuspend: race-free wait with SIGALRM blocked outside. */
	sigset_t sa_set, wait_mask;
	sigemptyset(&sa_set);
	sigaddset(&sa_set, SIGALRM);
	sigprocmask(SIG_BLOCK, &sa_set, &old);
	alrm_count = 0;
	timer_ms(20);
	wait_mask = old;
	sigdelset(&wait_mask, SIGALRM);
	errno = 0;
	int sr = sigsuspend(&wait_mask);
	int sus_err = errno;
	int still_blocked = blocked(SIGALRM);
	sigprocmask(SIG_SETMASK, &old, NULL);
	KTAP_CHECK(sr == -1 && sus_err == EINTR && alrm_count == 1 && still_blocked, "setitimer_sigsuspend",
		   "ret %d errno %d count %d", sr, sus_err, alrm_count);

	/* sigsuspend with a signal already pending that its mask unblocks: the handler runs at
	 * once, sigsuspend fails with EINTR and the caller's mask (SIGCHLD blocked) is back. A
	 * kernel that forgets to look at pending signals after installing the mask hangs here or
	 * returns its internal restart code (514) with the temporary mask left in place. */
	sigset_t chld_set, chld_old, chld_wait, chld_pend;
	sigemptyset(&chld_set);
	sigaddset(&chld_set, SIGCHLD);
	install(SIGCHLD, chld, 0);
	sigprocmask(SIG_BLOCK, &chld_set, &chld_old);
	chld_count = 0;
	int chld_pending = 0, chld_ret = 0, chld_err = 0, chld_blocked = 0;
	pid_t kid = fork();
	if (kid == 0)
		_exit(0);
	if (kid > 0) {
		/* Wait until SIGCHLD is pending (bounded: 10 s), so the case is the one named. */
		for (int i = 0; i < 10000 && !chld_pending; i++) {
			sigpending(&chld_pend);
			chld_pending = sigismember(&chld_pend, SIGCHLD);
			if (!chld_pending)
				usleep(1000);
		}
		chld_wait = chld_old;
		sigdelset(&chld_wait, SIGCHLD);
		errno = 0;
		chld_ret = chld_pending ? sigsuspend(&chld_wait) : 0;
		chld_err = errno;
		chld_blocked = blocked(SIGCHLD);
		waitpid(kid, NULL, 0);
	}
	sigprocmask(SIG_SETMASK, &chld_old, NULL);
	signal(SIGCHLD, SIG_DFL);
	KTAP_CHECK(kid > 0 && chld_pending && chld_ret == -1 && chld_err == EINTR && chld_count == 1 &&
			   chld_blocked,
		   "sigsuspend_pending_unblocked", "fork %d pending %d ret %d errno %d count %d blocked %d",
		   (int)kid, chld_pending, chld_ret, chld_err, chld_count, chld_blocked);

	/* SA_RESTART: a read interrupted by a handler restarts; without it, EINTR. */
	int p[2];
	int restart_ok = 0, eintr_ok = 0;
	if (pipe(p) == 0) {
		char c;
		alarm_pipe_wr = p[1];
		install(SIGALRM, alrm, SA_RESTART);
		alrm_count = 0;
		timer_ms(50);
		ssize_t k = read(p[0], &c, 1); /* the handler writes the byte */
		restart_ok = k == 1 && alrm_count == 1;
		install(SIGALRM, alrm, 0);
		/* The signal must come while read() is blocked. If this process was held up for the
		 * timer's 50 ms before read() started (a loaded host), the handler's byte is already
		 * in the pipe and read() returns it: try again, up to 5 times. A kernel that restarts
		 * the read despite no SA_RESTART returns the byte every time, and fails. */
		for (int tries = 0; tries < 5 && !eintr_ok; tries++) {
			alrm_count = 0;
			timer_ms(50);
			errno = 0;
			k = read(p[0], &c, 1);
			eintr_ok = k == -1 && errno == EINTR && alrm_count == 1 && read(p[0], &c, 1) == 1;
		}
		alarm_pipe_wr = -1;
		close(p[0]);
		close(p[1]);
	}
	KTAP_CHECK(restart_ok, "sa_restart_read_restarts", "read not restarted");
	KTAP_CHECK(eintr_ok, "no_sa_restart_read_eintr", "read did not fail with EINTR");

	/* SIGCHLD of a child that spun 300 ms in user mode (the vDSO's clock: no syscalls):
	 * si_utime (clock ticks) holds that time, si_stime little. A kernel that swapped the two
	 * fields reported the user time as system time. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	pid_t spinner = fork();
	if (spinner == 0) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		do
			clock_gettime(CLOCK_MONOTONIC, &b);
		while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 300000000L);
		_exit(0);
	}
	siginfo_t ci = {0};
	struct timespec wait_max = {10, 0};
	int got = sigtimedwait(&chld, &ci, &wait_max);
	waitpid(spinner, NULL, 0);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	KTAP_CHECK(got == SIGCHLD && ci.si_pid == spinner && ci.si_utime >= 5 &&
			   ci.si_utime > ci.si_stime,
		   "sigchld_utime_stime", "sig %d pid %d utime %ld stime %ld", got, (int)ci.si_pid,
		   (long)ci.si_utime, (long)ci.si_stime);

	return ktap_finish();
}
