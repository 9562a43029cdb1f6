/* espfix64 from an i386 program (gcc -m32 -static, glibc; issue 12, E16): an IRET to a
 * 16-bit stack segment loads only SP, so without espfix bits 31:16 of ESP after a return
 * from the kernel are the kernel stack's. Cases:
 * - a 16-bit data segment installed through modify_ldt (Linux with CONFIG_X86_16BIT);
 * - with that segment in SS and ESP = a pattern whose bits 31:16 are known, an `int $0x80`
 *   (getpid) comes back with ESP exactly as it was, for two patterns (a kernel stack's bits
 *   31:16 can equal at most one of them);
 * - the same across a #PF (a first touch of a fresh page), which returns by IRET too;
 * - a sigreturn to a frame whose SS is a not-present 16-bit segment ends in SIGSEGV with
 *   trapno 13 and error code 0: Linux's espfix IRET faults on a read-only stack and the
 *   double fault is turned into a #GP(0) from user mode.
 *
 * Every expected value is one the program chose. Where the kernel refuses 16-bit segments
 * (Linux without CONFIG_X86_16BIT) the cases SKIP, a capability probe; kentry allows them.
 */
#define _GNU_SOURCE
#include "ktap.h"
#include <asm/ldt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#define LDT_SEL(n) (((n) << 3) | 7)
#define USER_DS 0x2b
#define NR_GETPID_I386 20
#define DATA16 3     /* the present 16-bit data segment */
#define DATA16_NP 4  /* the not-present one */

static int install16(int entry, int not_present)
{
	struct user_desc d;
	memset(&d, 0, sizeof(d));
	d.entry_number = entry;
	d.base_addr = 0;
	d.limit = 0xfffff;
	d.seg_32bit = 0; /* 16-bit: the B bit clear, so an IRET loads only SP */
	d.contents = 0;  /* data, expand-up */
	d.read_exec_only = 0;
	d.limit_in_pages = 1;
	d.seg_not_present = not_present;
	d.useable = 0;
	return (int)syscall(SYS_modify_ldt, 0x11, &d, sizeof(d));
}

/* Written and read by the asm below with no stack in use (the stack is the 16-bit SS at a
 * made-up ESP meanwhile). */
static uint32_t saved_esp, esp_after;

/* Loads SS = the 16-bit segment and ESP = `esp`, makes an i386 getpid by `int $0x80`, and
 * records ESP as the kernel's IRET left it; then the flat SS and the real ESP are back. */
static uint32_t int80_on_16bit_ss(uint32_t esp)
{
	uint32_t eax;
	asm volatile("movl %%esp, %[saved]\n\t"
		     "movw %w[sel], %%ss\n\t"
		     "movl %[esp], %%esp\n\t"
		     "movl %[nr], %%eax\n\t"
		     "int $0x80\n\t"
		     "movl %%esp, %[after]\n\t"
		     "movl %[ds], %%ecx\n\t"
		     "movw %%cx, %%ss\n\t"
		     "movl %[saved], %%esp\n\t"
		     : "=&a"(eax), [saved] "+m"(saved_esp), [after] "=m"(esp_after)
		     : [sel] "r"(LDT_SEL(DATA16)), [esp] "r"(esp), [nr] "i"(NR_GETPID_I386),
		       [ds] "i"(USER_DS)
		     : "ecx", "memory");
	return eax;
}

/* The same around a first store to `page` (a #PF handled by the kernel, back by IRET). */
static void fault_on_16bit_ss(uint32_t esp, volatile uint32_t *page)
{
	asm volatile("movl %%esp, %[saved]\n\t"
		     "movw %w[sel], %%ss\n\t"
		     "movl %[esp], %%esp\n\t"
		     "movl $1, (%[page])\n\t"
		     "movl %%esp, %[after]\n\t"
		     "movl %[ds], %%ecx\n\t"
		     "movw %%cx, %%ss\n\t"
		     "movl %[saved], %%esp\n\t"
		     : [saved] "+m"(saved_esp), [after] "=m"(esp_after)
		     : [sel] "r"(LDT_SEL(DATA16)), [esp] "r"(esp), [page] "r"(page),
		       [ds] "i"(USER_DS)
		     : "ecx", "memory");
}

/* ESP values with known bits 31:16 (and 15:0); no byte is ever read or written there. */
static const uint32_t patterns[] = {0x1234fff0u, 0xedcb0ff0u};

static void check_int80(void)
{
	int ok = 1;
	for (unsigned i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		uint32_t pid = int80_on_16bit_ss(patterns[i]);
		if (pid != (uint32_t)getpid() || esp_after != patterns[i]) {
			ktap_diag("int80_keeps_esp_high", "ESP %#x, back %#x (getpid %u)",
				  patterns[i], esp_after, pid);
			ok = 0;
		}
	}
	ktap_result(ok, "int80_keeps_esp_high");
}

static void check_page_fault(void)
{
	unsigned n = sizeof(patterns) / sizeof(patterns[0]);
	char *pages = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	int ok = pages != MAP_FAILED;
	for (unsigned i = 0; ok && i < n; i++) {
		volatile uint32_t *p = (volatile uint32_t *)(pages + i * 4096);
		fault_on_16bit_ss(patterns[i], p);
		if (*p != 1 || esp_after != patterns[i]) {
			ktap_diag("page_fault_keeps_esp_high", "ESP %#x, back %#x (stored %u)",
				  patterns[i], esp_after, *p);
			ok = 0;
		}
	}
	ktap_result(ok, "page_fault_keeps_esp_high");
}

/* The bad frame: SIGUSR1's handler gives its frame the not-present 16-bit SS; the
 * sigreturn's IRET must then fault as the task's own #GP(0). */
static sigjmp_buf jb;
static volatile int segv_sig, segv_trapno, segv_err, segv_code;

static void on_usr1(int sig, siginfo_t *si, void *p)
{
	ucontext_t *uc = p;
	uc->uc_mcontext.gregs[REG_SS] = LDT_SEL(DATA16_NP);
}

static void on_segv(int sig, siginfo_t *si, void *p)
{
	ucontext_t *uc = p;
	segv_sig = sig;
	segv_code = si->si_code;
	segv_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	segv_err = uc->uc_mcontext.gregs[REG_ERR];
	siglongjmp(jb, 1);
}

static void check_bad_ss(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(jb, 1) == 0) {
		raise(SIGUSR1);
		segv_sig = -1; /* came back: the bad SS was taken */
	}
	KTAP_CHECK(segv_sig == SIGSEGV && segv_trapno == 13 && segv_err == 0 &&
			   segv_code == SI_KERNEL,
		   "sigreturn_not_present_ss16_gp0", "signal %d, trapno %d, err %#x, si_code %d",
		   segv_sig, segv_trapno, segv_err, segv_code);
}

int main(void)
{
	ktap_plan(4);
	int r = install16(DATA16, 0);
	int r2 = install16(DATA16_NP, 1);
	if (r != 0 || r2 != 0) {
		/* Linux without CONFIG_X86_16BIT answers EINVAL (-22 zero-extended). */
		const char *why = "16-bit segments refused (no CONFIG_X86_16BIT)";
		ktap_skip("install_16bit_segments", why);
		ktap_skip("int80_keeps_esp_high", why);
		ktap_skip("page_fault_keeps_esp_high", why);
		ktap_skip("sigreturn_not_present_ss16_gp0", why);
		return ktap_finish();
	}
	ktap_result(1, "install_16bit_segments");
	check_int80();
	check_page_fault();
	check_bad_ss();
	return ktap_finish();
}
