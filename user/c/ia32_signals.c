/* i386 signal frames (gcc -m32 -static, glibc): what Linux's ia32_setup_frame,
 * ia32_setup_rt_frame and the two i386 sigreturns give and take.
 *
 * - an SA_SIGINFO handler gets sig, a compat siginfo (si_code SI_TKILL, si_pid) and the
 *   ucontext; the frame is 4 mod 16 at entry (the i386 ABI) and CS/SS/DS are the flat ones;
 * - a fault's frame: EIP of the faulting instruction, trapno 14, cr2, error code; the handler
 *   moves EIP past it and sets EAX, and the code sees both (rt_sigreturn, 173);
 * - a handler without SA_SIGINFO (glibc's restorer calls sigreturn, 119): its sigcontext right
 *   after `sig` on the stack, an edited ESI comes back, and the old mask returns;
 * - the mask: sa_mask and the signal itself blocked in the handler, an edit of uc_sigmask
 *   taking effect on return;
 * - sigaltstack + SA_ONSTACK: the handler's stack is the alternate one, uc_stack as saved;
 * - the FPU image: the FSAVE header (cw, magic 0 "FXSR follows") and the XSAVE area after it
 *   with FP_XSTATE_MAGIC1/2 when the CPU uses XSAVE; the handler starts with FCW 0x37f and
 *   MXCSR 0x1f80, and the interrupted values come back; a cw edited in the header wins
 *   (Linux folds the header over the FXSAVE area);
 * - sigreturn sanitises EFLAGS (IOPL and NT never taken, IF kept) and data selectors (one
 *   that cannot be loaded becomes null, the kernel never faults on it);
 * - a CS that is not a code segment, and a frame that cannot be read, end in SIGSEGV;
 * - an int $0x80 read interrupted by a handled signal: restarted with SA_RESTART (by the
 *   i386 number again), -EINTR without it; the same read through __kernel_vsyscall
 *   (AT_SYSINFO: SYSENTER or SYSCALL), whose restart goes through the vDSO's int $0x80
 *   before its landing pad, with EBP given back.
 *
 * Runs natively on Linux with the same results.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int hits;
static volatile uint32_t seen[8];
static volatile void *seen_ptr[4];

static void handler_info(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uint32_t esp;
	__asm__ volatile("mov %%esp, %0" : "=r"(esp));
	seen[0] = sig;
	seen[1] = si->si_signo;
	seen[2] = si->si_code;
	seen[3] = si->si_pid;
	seen[4] = uc->uc_mcontext.gregs[REG_CS];
	seen[5] = uc->uc_mcontext.gregs[REG_SS];
	seen[6] = uc->uc_mcontext.gregs[REG_DS];
	seen_ptr[0] = si;
	seen_ptr[1] = uc;
	seen_ptr[2] = (void *)(uintptr_t)esp;
	hits++;
}

static void check_siginfo(void)
{
	struct sigaction sa = {.sa_sigaction = handler_info, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	hits = 0;
	raise(SIGUSR1);
	KTAP_CHECK(hits == 1 && seen[0] == SIGUSR1 && seen[1] == SIGUSR1 && (int)seen[2] == SI_TKILL &&
			   (pid_t)seen[3] == getpid(),
		   "siginfo_handler_args", "hits %d sig %u signo %u code %d pid %u", hits, seen[0],
		   seen[1], (int)seen[2], seen[3]);
	/* The frame is below the handler's locals, the siginfo and ucontext inside it. */
	uintptr_t sp = (uintptr_t)seen_ptr[2], si = (uintptr_t)seen_ptr[0],
		  uc = (uintptr_t)seen_ptr[1];
	KTAP_CHECK(si > sp && uc > si && uc - si == 128 && seen[4] == 0x23 && seen[5] == 0x2b &&
			   seen[6] == 0x2b,
		   "rt_frame_layout", "sp %#lx si %#lx uc %#lx cs %#x ss %#x ds %#x",
		   (unsigned long)sp, (unsigned long)si, (unsigned long)uc, seen[4], seen[5], seen[6]);
}

/* The ESP a handler starts with: a naked entry records it before any push. */
static volatile uint32_t entry_esp;
void aligned_probe(int sig);
__asm__(".text\n.globl aligned_probe\naligned_probe:\n"
	"  mov %esp, entry_esp\n"
	"  ret\n");

static void check_alignment(void)
{
	struct sigaction sa = {.sa_handler = aligned_probe};
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR2);
	/* At entry ESP points at the return address: (esp + 4) % 16 == 0. */
	KTAP_CHECK(entry_esp != 0 && (entry_esp + 4) % 16 == 0, "frame_abi_aligned",
		   "entry esp %#x", entry_esp);
}

/* A load from address 0 at a known place; the handler moves EIP to `fault_done` and sets EAX. */
extern char fault_insn[], fault_done[];
static void handler_fault(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	seen[0] = sig;
	seen[1] = si->si_code;
	seen_ptr[0] = si->si_addr;
	seen[2] = uc->uc_mcontext.gregs[REG_EIP];
	seen[3] = uc->uc_mcontext.gregs[REG_TRAPNO];
	seen[4] = uc->uc_mcontext.gregs[REG_ERR];
	seen[5] = uc->uc_mcontext.cr2;
	uc->uc_mcontext.gregs[REG_EIP] = (greg_t)(uintptr_t)fault_done;
	uc->uc_mcontext.gregs[REG_EAX] = 0x1234abcd;
	uc->uc_mcontext.gregs[REG_ESI] = 0x51515151;
}

static void check_fault(void)
{
	struct sigaction sa = {.sa_sigaction = handler_fault, .sa_flags = SA_SIGINFO};
	sigaction(SIGSEGV, &sa, NULL);
	uint32_t eax, esi, edi;
	__asm__ volatile("mov $0x11111111, %%esi\n"
			 "mov $0x22222222, %%edi\n"
			 "xor %%eax, %%eax\n"
			 ".globl fault_insn\nfault_insn: mov (%%eax), %%eax\n"
			 ".globl fault_done\nfault_done:\n"
			 : "=a"(eax), "=S"(esi), "=D"(edi)
			 :
			 : "memory");
	signal(SIGSEGV, SIG_DFL);
	KTAP_CHECK(seen[0] == SIGSEGV && seen[1] == SEGV_MAPERR && seen_ptr[0] == NULL &&
			   seen[2] == (uint32_t)(uintptr_t)fault_insn && seen[3] == 14 &&
			   (seen[4] & 5) == 4 && seen[5] == 0,
		   "fault_frame", "sig %u code %u addr %p eip %#x (want %p) trapno %u err %#x cr2 %#x",
		   seen[0], seen[1], seen_ptr[0], seen[2], (void *)fault_insn, seen[3], seen[4],
		   seen[5]);
	KTAP_CHECK(eax == 0x1234abcd && esi == 0x51515151 && edi == 0x22222222,
		   "rt_sigreturn_takes_edits", "eax %#x esi %#x edi %#x", eax, esi, edi);
}

/* A handler without SA_SIGINFO: the sigcontext follows `sig` on the stack (the i386
 * sigframe: pretcode, sig, sigcontext), so an entry stub passes ESP + 8 on to C. glibc's
 * restorer returns through sigreturn (119). */
void handler_old(int sig);
__asm__(".text\n.globl handler_old\nhandler_old:\n"
	"  lea 8(%esp), %eax\n"
	"  push %eax\n"
	"  call handler_old_c\n"
	"  add $4, %esp\n"
	"  ret\n");

void handler_old_c(struct sigcontext *sc);
void handler_old_c(struct sigcontext *sc)
{
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	seen[0] = ((int *)sc)[-1];
	seen[1] = sc->cs;
	seen[2] = sc->eip;
	seen[3] = sc->oldmask;
	seen[4] = sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGTRAP);
	sc->esi = 0x77777777;
	hits++;
}

extern char trap_after[];
static void check_sigreturn(void)
{
	struct sigaction sa = {.sa_handler = handler_old};
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaction(SIGTRAP, &sa, NULL);
	sigset_t before, after;
	sigemptyset(&before);
	sigaddset(&before, SIGUSR2);
	sigprocmask(SIG_SETMASK, &before, NULL);
	hits = 0;
	uint32_t esi, ebx;
	__asm__ volatile("mov $0x33333333, %%esi\n"
			 "mov $0x44444444, %%ebx\n"
			 "int3\n"
			 ".globl trap_after\ntrap_after:\n"
			 : "=S"(esi), "=b"(ebx)
			 :
			 : "memory");
	sigprocmask(SIG_SETMASK, NULL, &after);
	KTAP_CHECK(hits == 1 && seen[0] == SIGTRAP && seen[1] == 0x23 &&
			   seen[2] == (uint32_t)(uintptr_t)trap_after &&
			   seen[3] == (1u << (SIGUSR2 - 1)) && seen[4],
		   "sigframe_sigcontext", "hits %d sig %u cs %#x eip %#x (want %p) oldmask %#x blocked %u",
		   hits, seen[0], seen[1], seen[2], (void *)trap_after, seen[3], seen[4]);
	KTAP_CHECK(esi == 0x77777777 && ebx == 0x44444444 && sigismember(&after, SIGUSR2) &&
			   !sigismember(&after, SIGUSR1) && !sigismember(&after, SIGTRAP),
		   "sigreturn_restores", "esi %#x ebx %#x usr2 %d usr1 %d trap %d", esi, ebx,
		   sigismember(&after, SIGUSR2), sigismember(&after, SIGUSR1),
		   sigismember(&after, SIGTRAP));
	sigprocmask(SIG_SETMASK, &(sigset_t){0}, NULL);
	signal(SIGTRAP, SIG_DFL);
}

static void handler_mask(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	sigaddset(&uc->uc_sigmask, SIGUSR2);
	sigaddset(&uc->uc_sigmask, SIGRTMIN + 3);
}

static void check_mask_edit(void)
{
	struct sigaction sa = {.sa_sigaction = handler_mask, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	sigprocmask(SIG_SETMASK, &(sigset_t){0}, NULL);
	raise(SIGUSR1);
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	/* The real-time signal's bit is in the mask's high word (extramask's half). */
	KTAP_CHECK(sigismember(&now, SIGUSR2) && sigismember(&now, SIGRTMIN + 3) &&
			   !sigismember(&now, SIGUSR1),
		   "uc_sigmask_edit_applies", "usr2 %d rt3 %d usr1 %d", sigismember(&now, SIGUSR2),
		   sigismember(&now, SIGRTMIN + 3), sigismember(&now, SIGUSR1));
	sigprocmask(SIG_SETMASK, &(sigset_t){0}, NULL);
}

static char altstack[16384] __attribute__((aligned(16)));
static void handler_alt(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	int local;
	stack_t now;
	sigaltstack(NULL, &now);
	seen_ptr[0] = &local;
	seen_ptr[1] = uc->uc_stack.ss_sp;
	seen[0] = uc->uc_stack.ss_size;
	seen[1] = uc->uc_stack.ss_flags;
	seen[2] = now.ss_flags;
}

static void check_altstack(void)
{
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	KTAP_CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack_set", "errno %d", errno);
	struct sigaction sa = {.sa_sigaction = handler_alt, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	char *p = (char *)seen_ptr[0];
	KTAP_CHECK(p > altstack && p < altstack + sizeof(altstack) && seen_ptr[1] == altstack &&
			   seen[0] == sizeof(altstack) && seen[1] == 0 && seen[2] == SS_ONSTACK,
		   "altstack_frame", "local %p alt %p..%p uc_stack %p size %u flags %u now %u", p,
		   (void *)altstack, (void *)(altstack + sizeof(altstack)), seen_ptr[1], seen[0],
		   seen[1], seen[2]);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
}

static uint16_t fnstcw(void)
{
	uint16_t cw;
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static uint32_t stmxcsr(void)
{
	uint32_t m;
	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return m;
}

static int os_xsave(void)
{
	unsigned a = 0, b = 0, c = 0, d = 0;
	__get_cpuid(1, &a, &b, &c, &d);
	return !!(c & bit_OSXSAVE);
}

static volatile int edit_cw;
static void handler_fp(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
	seen[0] = fnstcw();
	seen[1] = stmxcsr();
	seen[2] = fp ? *(uint32_t *)fp & 0xffff : 0;		 /* cw, high half 0xffff */
	seen[3] = fp ? *(uint16_t *)(fp + 110) : 0xbad;		 /* magic */
	seen[4] = fp ? *(uint32_t *)(fp + 112 + 24) : 0;	 /* mxcsr in the FXSAVE area */
	seen[5] = fp ? *(uint32_t *)(fp + 112 + 464) : 0;	 /* sw_reserved.magic1 */
	seen[6] = uc->uc_flags;
	seen[7] = fp ? *(uint32_t *)fp >> 16 : 0;
	if (fp && os_xsave()) {
		uint32_t size = *(uint32_t *)(fp + 112 + 464 + 16); /* xstate_size */
		seen_ptr[0] = (void *)(uintptr_t)(*(uint32_t *)(fp + 112 + size) == 0x46505845);
	}
	if (edit_cw && fp)
		*(uint16_t *)fp = 0x7f; /* the FSAVE header's cw: all exceptions masked, single */
}

static void check_fpstate(void)
{
	struct sigaction sa = {.sa_sigaction = handler_fp, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	uint16_t cw = 0x27f;
	uint32_t mx = 0x1f80 | 0x8040; /* FTZ and DAZ */
	__asm__ volatile("fldcw %0" ::"m"(cw));
	__asm__ volatile("ldmxcsr %0" ::"m"(mx));
	seen_ptr[0] = 0;
	edit_cw = 0;
	raise(SIGUSR1);
	uint16_t cw_after = fnstcw();
	uint32_t mx_after = stmxcsr();
	KTAP_CHECK(seen[0] == 0x37f && seen[1] == 0x1f80, "handler_starts_clean_fpu",
		   "fcw %#x mxcsr %#x", seen[0], seen[1]);
	KTAP_CHECK(seen[2] == 0x27f && seen[7] == 0xffff && seen[3] == 0 && seen[4] == mx,
		   "fsave_header_and_fxsave", "cw %#x hi %#x magic %#x mxcsr %#x", seen[2], seen[7],
		   seen[3], seen[4]);
	if (os_xsave())
		KTAP_CHECK(seen[5] == 0x46505853 && (seen[6] & 1) && seen_ptr[0],
			   "xstate_magic_words", "magic1 %#x uc_flags %#x magic2 %d", seen[5], seen[6],
			   seen_ptr[0] != 0);
	else
		ktap_skip("xstate_magic_words", "no XSAVE (CPUID.1:ECX.OSXSAVE)");
	KTAP_CHECK(cw_after == 0x27f && mx_after == mx, "fpu_restored", "fcw %#x mxcsr %#x",
		   cw_after, mx_after);
	edit_cw = 1;
	raise(SIGUSR1);
	cw_after = fnstcw();
	KTAP_CHECK(cw_after == 0x7f, "fsave_header_edit_wins", "fcw %#x", cw_after);
	cw = 0x37f;
	mx = 0x1f80;
	__asm__ volatile("fldcw %0" ::"m"(cw));
	__asm__ volatile("ldmxcsr %0" ::"m"(mx));
}

static void handler_flags(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	/* IOPL 3, NT on, IF off, and AC on (AC is one a user may change). */
	uc->uc_mcontext.gregs[REG_EFL] =
		(uc->uc_mcontext.gregs[REG_EFL] | 0x3000 | 0x4000 | 0x40000) & ~0x200;
}

static void check_eflags(void)
{
	struct sigaction sa = {.sa_sigaction = handler_flags, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	uint32_t fl;
	__asm__ volatile("pushf\npop %0" : "=r"(fl));
	/* Clear AC again before anything else runs. */
	__asm__ volatile("pushf\nandl $~0x40000, (%%esp)\npopf" ::: "memory", "cc");
	KTAP_CHECK((fl & 0x3000) == 0 && !(fl & 0x4000) && (fl & 0x200) && (fl & 0x40000),
		   "sigreturn_eflags_sanitised", "eflags %#x", fl);
}

static void handler_fs(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	/* GDT entry 0x1ff does not exist: a selector no one can load. */
	uc->uc_mcontext.gregs[REG_FS] = 0xfff8;
}

static void check_bad_selector(void)
{
	struct sigaction sa = {.sa_sigaction = handler_fs, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	uint16_t ds = 0x2b;
	__asm__ volatile("mov %0, %%fs" ::"r"(ds));
	raise(SIGUSR1);
	uint16_t fs;
	__asm__ volatile("mov %%fs, %0" : "=r"(fs));
	KTAP_CHECK(fs == 0, "sigreturn_bad_fs_null", "fs %#x", fs);
}

static void handler_cs(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uc->uc_mcontext.gregs[REG_CS] = 0x2b; /* a data segment */
}

static int child_status(void (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static void bad_cs_child(void)
{
	struct sigaction sa = {.sa_sigaction = handler_cs, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
}

static void bad_frame_child(void)
{
	/* rt_sigreturn with ESP at an unmapped page: no frame to read. */
	__asm__ volatile("mov $0x1000, %%esp\nmov $173, %%eax\nint $0x80\n" ::: "memory");
}

static void check_bad_frames(void)
{
	int st = child_status(bad_cs_child);
	KTAP_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "bad_cs_sigsegv", "status %#x", st);
	st = child_status(bad_frame_child);
	KTAP_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "unreadable_frame_sigsegv",
		   "status %#x", st);
}

static void handler_nothing(int sig) { hits++; }

static long int80_read(int fd, void *buf, long n)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(SYS_read), "b"(fd), "c"(buf), "d"(n)
			 : "memory");
	return ret;
}

/* The same read through __kernel_vsyscall (AT_SYSINFO): the fast entry of the CPU, whose
 * return goes to the vDSO's landing pad, so a restart backs up onto the `int $0x80` before
 * the pad and runs it with the frame's registers. EBP (SYSCALL's second argument, the
 * sixth on the way back) must come back as it was. */
static long vsyscall_read(int fd, void *buf, long n)
{
	long ret, ebp;
	void *vs = (void *)getauxval(AT_SYSINFO);
	if (!vs)
		return -ENOSYS;
	__asm__ volatile("push %%ebp\n\tmovl $0x5a5a5a5a, %%ebp\n\tcall *%%esi\n\t"
			 "movl %%ebp, %%edi\n\tpop %%ebp"
			 : "=a"(ret), "=D"(ebp)
			 : "a"(SYS_read), "b"(fd), "c"(buf), "d"(n), "S"(vs)
			 : "memory");
	return ebp == 0x5a5a5a5a ? ret : -1000;
}

static void check_restart(void)
{
	for (int i = 0; i < 4; i++) {
		int restart = i & 1, vsyscall = i >> 1;
		int p[2];
		pipe(p);
		struct sigaction sa = {.sa_handler = handler_nothing,
				       .sa_flags = restart ? SA_RESTART : 0};
		sigaction(SIGALRM, &sa, NULL);
		pid_t pid = fork();
		if (pid == 0) {
			/* The byte comes well after the alarm has interrupted the read. */
			struct timespec t = {0, 600 * 1000 * 1000};
			nanosleep(&t, NULL);
			write(p[1], "x", 1);
			_exit(0);
		}
		hits = 0;
		struct itimerval it = {.it_value = {0, 150 * 1000}};
		setitimer(ITIMER_REAL, &it, NULL);
		char c = 0;
		long r = vsyscall ? vsyscall_read(p[0], &c, 1) : int80_read(p[0], &c, 1);
		waitpid(pid, NULL, 0);
		close(p[0]);
		close(p[1]);
		if (restart)
			KTAP_CHECK(r == 1 && c == 'x' && hits == 1,
				   vsyscall ? "vsyscall_read_restarted" : "int80_read_restarted",
				   "ret %ld c %d hits %d", r, c, hits);
		else
			KTAP_CHECK(r == -EINTR && hits == 1,
				   vsyscall ? "vsyscall_read_eintr" : "int80_read_eintr",
				   "ret %ld hits %d", r, hits);
	}
	signal(SIGALRM, SIG_DFL);
}

int main(void)
{
	ktap_plan(23);
	check_siginfo();
	check_alignment();
	check_fault();
	check_sigreturn();
	check_mask_edit();
	check_altstack();
	check_fpstate();
	check_eflags();
	check_bad_selector();
	check_bad_frames();
	check_restart();
	return ktap_finish();
}
