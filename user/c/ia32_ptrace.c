/* ptrace from an i386 tracer (gcc -m32 -static, glibc) of an i386 tracee: the FPU images,
 * the register sets and the siginfo queue, as Linux's ia32_arch_ptrace, user_x86_32_view and
 * the compat half of ptrace_peek_siginfo give them.
 *
 * The child (PTRACE_TRACEME) blocks SIGUSR1, queues one with value 42, pushes pi then 1.0 on
 * the x87 stack and stops itself with a raw int $0x80 kill(SIGSTOP), its x87 stack still
 * loaded. The tracer then checks:
 * - GETFPREGS: the 108-byte i387 image (user_fpregs_struct): control word 0x37f with 0xffff
 *   above it, TOP 6 in the status word, the full tag word (registers 6 and 7 valid, the
 *   others empty), st(0) 1.0 and st(1) pi as 80-bit values, fcs the task's CS (0x23) and fos
 *   its DS with 0xffff above;
 * - GETFPXREGS: the 512-byte FXSAVE image (abridged tag 0xc0, st(0) at byte 32); SETFPXREGS
 *   refuses an MXCSR bit the CPU lacks (EINVAL);
 * - GETREGSET with the tracee's i386 view: NT_PRSTATUS is 68 bytes (user_regs_struct,
 *   EIP as GETREGS's), a length not a multiple of 4 is EINVAL; NT_PRFPREG is the 108-byte
 *   image, NT_PRXFPREG the 512-byte one; an unknown note EINVAL;
 * - PEEKSIGINFO of the shared queue: one record, SIGUSR1, SI_QUEUE, the child's pid, value 42, in the
 *   i386 siginfo layout;
 * - SETFPREGS writing st(0) = 2.0 and SETREGSET NT_PRSTATUS writing ESI: the child, resumed,
 *   pops 2.0 then pi and sees its ESI changed.
 *
 * Runs natively on Linux with the same results.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <elf.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_GETFPXREGS
#define PTRACE_GETFPXREGS 18
#define PTRACE_SETFPXREGS 19
#endif
#ifndef NT_PRXFPREG
#define NT_PRXFPREG 0x46e62b7f
#endif

/* The value the tracer writes into the child's ESI through SETREGSET. */
#define ESI_MARK 0x5a5a1234u

/* 80-bit x87 values: 8 bytes of significand, 2 of sign and exponent. */
static const unsigned char X87_ONE[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
static const unsigned char X87_TWO[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0x40};
static const unsigned char X87_PI[10] = {0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40};

/* The tracee: exits 0 when it popped 2.0 then pi and saw ESI_MARK. */
static void child(void)
{
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
		_exit(20);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, 0);
	union sigval v = {.sival_int = 42};
	if (sigqueue(getpid(), SIGUSR1, v) != 0)
		_exit(21);
	unsigned char top[10], next[10];
	unsigned int esi = 0;
	long pid = getpid(), ret;
	/* Everything between the pushes and the pops in one asm block: the x87 stack is the
	 * tracer's to read and change while the child is stopped in the kill. */
	__asm__ volatile("fldpi\n\t"
			 "fld1\n\t"
			 "int $0x80\n\t"
			 "fstpt %0\n\t"
			 "fstpt %1\n\t"
			 : "=m"(top), "=m"(next), "+S"(esi), "=a"(ret)
			 : "a"(SYS_kill), "b"(pid), "c"(SIGSTOP)
			 : "memory");
	int bad = ret == 0 ? 0 : 8;
	if (memcmp(top, X87_TWO, 10) != 0)
		bad |= 1;
	if (memcmp(next, X87_PI, 10) != 0)
		bad |= 2;
	if (esi != ESI_MARK)
		bad |= 4;
	_exit(bad);
}

static int pid;

static void check_fpregs(struct user_fpregs_struct *fp)
{
	unsigned int top = ((unsigned long)fp->swd >> 11) & 7;
	KTAP_CHECK((fp->cwd & 0xffff) == 0x37f && ((unsigned long)fp->cwd >> 16) == 0xffff && top == 6 &&
			   (unsigned int)fp->twd == 0xffff0fffu &&
			   memcmp(&fp->st_space[0], X87_ONE, 10) == 0 &&
			   memcmp((char *)fp->st_space + 10, X87_PI, 10) == 0 &&
			   (fp->fcs & 0xffff) == 0x23 && (unsigned int)fp->fos == 0xffff002bu,
		   "fpregs_i387_image", "cwd %#lx swd %#lx twd %#lx fcs %#lx fos %#lx st1 %02x %02x..%02x",
		   fp->cwd, fp->swd, fp->twd, fp->fcs, fp->fos, ((unsigned char *)fp->st_space)[10],
		   ((unsigned char *)fp->st_space)[11], ((unsigned char *)fp->st_space)[19]);
}

static void check_fpxregs(struct user_fpxregs_struct *fx)
{
	const unsigned char *b = (const unsigned char *)fx;
	KTAP_CHECK(fx->cwd == 0x37f && (fx->twd & 0xff) == 0xc0 && ((fx->swd >> 11) & 7) == 6 &&
			   memcmp(b + 32, X87_ONE, 10) == 0 && memcmp(b + 48, X87_PI, 10) == 0,
		   "fpxregs_fxsave_image", "cwd %#x swd %#x twd %#x", fx->cwd, fx->swd, fx->twd);
	struct user_fpxregs_struct bad = *fx;
	bad.mxcsr |= 1u << 31;
	errno = 0;
	long r = ptrace(PTRACE_SETFPXREGS, pid, 0, &bad);
	KTAP_CHECK(r == -1 && errno == EINVAL, "fpxregs_bad_mxcsr_einval", "%ld errno %d", r,
		   errno);
}

static long regset(int req, unsigned int note, void *buf, size_t *len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = *len};
	errno = 0;
	long r = ptrace(req, pid, (void *)(uintptr_t)note, &iov);
	*len = iov.iov_len;
	return r;
}

static void check_regsets(struct user_fpregs_struct *fp, struct user_fpxregs_struct *fx)
{
	struct user_regs_struct regs;
	ptrace(PTRACE_GETREGS, pid, 0, &regs);
	unsigned char buf[1024];
	size_t len = 200;
	long r = regset(PTRACE_GETREGSET, NT_PRSTATUS, buf, &len);
	struct user_regs_struct *got = (struct user_regs_struct *)buf;
	size_t odd = 6;
	long r_odd = regset(PTRACE_GETREGSET, NT_PRSTATUS, buf + 512, &odd);
	int e_odd = errno;
	KTAP_CHECK(r == 0 && len == sizeof(regs) && len == 68 && got->eip == regs.eip &&
			   got->esi == regs.esi && got->xcs == 0x23 && r_odd == -1 && e_odd == EINVAL,
		   "regset_prstatus_i386_view", "%ld len %zu eip %#lx/%#lx cs %#lx; odd length %ld errno %d",
		   r, len, got->eip, regs.eip, got->xcs, r_odd, e_odd);

	size_t flen = sizeof(buf), xlen = sizeof(buf);
	unsigned char xbuf[1024];
	long rf = regset(PTRACE_GETREGSET, NT_PRFPREG, buf, &flen);
	long rx = regset(PTRACE_GETREGSET, NT_PRXFPREG, xbuf, &xlen);
	size_t ulen = 64;
	long ru = regset(PTRACE_GETREGSET, 0x999, buf + 512, &ulen);
	int eu = errno;
	KTAP_CHECK(rf == 0 && flen == 108 && memcmp(buf, fp, 108) == 0 && rx == 0 &&
			   xlen == 512 && memcmp(xbuf, fx, 160) == 0 && ru == -1 && eu == EINVAL,
		   "regset_fp_images", "PRFPREG %ld len %zu, PRXFPREG %ld len %zu, unknown %ld errno %d",
		   rf, flen, rx, xlen, ru, eu);
}

static void check_peeksiginfo(void)
{
	/* sigqueue() to the process queues on the shared queue. */
	struct __ptrace_peeksiginfo_args a = {.off = 0, .flags = PTRACE_PEEKSIGINFO_SHARED, .nr = 4};
	siginfo_t si[4];
	memset(si, 0, sizeof(si));
	errno = 0;
	long r = ptrace(PTRACE_PEEKSIGINFO, pid, &a, si);
	KTAP_CHECK(r == 1 && si[0].si_signo == SIGUSR1 && si[0].si_code == SI_QUEUE &&
			   si[0].si_pid == pid && si[0].si_value.sival_int == 42,
		   "peeksiginfo_compat_layout", "%ld errno %d signo %d code %d pid %d value %d", r,
		   errno, si[0].si_signo, si[0].si_code, si[0].si_pid, si[0].si_value.sival_int);
}

int main(void)
{
	ktap_plan(7);
	pid = fork();
	if (pid == 0)
		child();
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
		printf("# the child did not stop: %#x\n", st);
		return 1;
	}
	struct user_fpregs_struct fp;
	struct user_fpxregs_struct fx;
	long r1 = ptrace(PTRACE_GETFPREGS, pid, 0, &fp);
	long r2 = ptrace(PTRACE_GETFPXREGS, pid, 0, &fx);
	if (r1 != 0 || r2 != 0) {
		printf("# GETFPREGS %ld, GETFPXREGS %ld (errno %d)\n", r1, r2, errno);
		memset(&fp, 0, sizeof(fp));
		memset(&fx, 0, sizeof(fx));
	}
	check_fpregs(&fp);
	check_fpxregs(&fx);
	check_regsets(&fp, &fx);
	check_peeksiginfo();

	/* st(0) = 2.0 through the i387 image; ESI through the i386 NT_PRSTATUS. */
	struct user_fpregs_struct set = fp;
	memcpy(&set.st_space[0], X87_TWO, 10);
	long rs = ptrace(PTRACE_SETFPREGS, pid, 0, &set);
	struct user_regs_struct regs;
	size_t len = sizeof(regs);
	long rg = regset(PTRACE_GETREGSET, NT_PRSTATUS, &regs, &len);
	regs.esi = ESI_MARK;
	len = sizeof(regs);
	long rr = regset(PTRACE_SETREGSET, NT_PRSTATUS, &regs, &len);
	ptrace(PTRACE_CONT, pid, 0, 0);
	int end = -1;
	waitpid(pid, &end, 0);
	KTAP_CHECK(rs == 0 && rg == 0 && rr == 0 && WIFEXITED(end) && WEXITSTATUS(end) == 0,
		   "setfpregs_and_setregset_taken",
		   "SETFPREGS %ld, GETREGSET %ld, SETREGSET %ld, child status %#x (1: st0, 2: st1, 4: esi, 8: kill)",
		   rs, rg, rr, end);
	return ktap_finish();
}
