/* The i386 half of fast32.c (gcc -m32 -static): one fast-entry case per run, named by
 * argv[1], run under fast32's ptrace (fast32.c says what it checks in each):
 *
 *   sysenter-fault, syscall-fault: every register -1, EAX = 20 (getpid), the bare SYSENTER or
 *     SYSCALL instruction, as Linux's syscall_arg_fault_32: the sixth-argument read at
 *     [EBP] / [ESP] faults, the call must not run (EAX = -EFAULT), and the return to the
 *     vDSO's landing pad pops from the bad stack (SIGSEGV);
 *   sysenter-fault-tf, syscall-fault-tf: the same with TF set;
 *   vsyscall-tf: getpid through __kernel_vsyscall with TF set: it must work, and TF must
 *     still be set after it (the kernel drops the single-steps of its SYSENTER stub but keeps
 *     the user's TF); exit 0, else 2 (TF lost) or 3 (wrong result);
 *   vsyscall-nt: the same with NT set (SYSENTER does not clear NT: the kernel must, before an
 *     IRET of its own); exit 0 when getpid worked and NT came back as it was, else 4.
 */
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define TF 0x100u
#define NT 0x4000u

static void sysenter_fault(int tf)
{
	if (tf)
		__asm__ volatile("pushfl; orl $0x100, (%esp); popfl");
	__asm__ volatile("movl $20, %%eax\n\tmovl $-1, %%ebx\n\tmovl $-1, %%ecx\n\t"
			 "movl $-1, %%edx\n\tmovl $-1, %%esi\n\tmovl $-1, %%edi\n\t"
			 "movl $-1, %%ebp\n\tmovl $-1, %%esp\n\tsysenter"
			 ::: "memory");
}

static void syscall_fault(int tf)
{
	if (tf)
		__asm__ volatile("pushfl; orl $0x100, (%esp); popfl");
	__asm__ volatile("movl $20, %%eax\n\tmovl $-1, %%ebx\n\tmovl $-1, %%ecx\n\t"
			 "movl $-1, %%edx\n\tmovl $-1, %%esi\n\tmovl $-1, %%edi\n\t"
			 "movl $-1, %%ebp\n\tmovl $-1, %%esp\n\tsyscall\n\tud2"
			 ::: "memory");
}

/* getpid through `entry` with `set` ORed into EFLAGS; returns EAX, and EFLAGS right after
 * the call in *after; clears `set` again. */
static uint32_t vsyscall_with(void *entry, uint32_t set, uint32_t *after)
{
	uint32_t eax, fl;
	__asm__ volatile("pushfl\n\torl %3, (%%esp)\n\tpopfl\n\t"
			 "call *%2\n\t"
			 "pushfl\n\tpopl %1\n\t"
			 "pushfl\n\tandl %4, (%%esp)\n\tpopfl"
			 : "=a"(eax), "=&r"(fl)
			 : "r"(entry), "ir"(set), "ir"(~set), "0"(20)
			 : "memory", "cc");
	*after = fl;
	return eax;
}

static uint32_t int80_getpid(void)
{
	uint32_t r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(20) : "memory");
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 64;
	const char *m = argv[1];
	void *entry = (void *)getauxval(AT_SYSINFO);
	if (!strcmp(m, "sysenter-fault"))
		sysenter_fault(0);
	else if (!strcmp(m, "sysenter-fault-tf"))
		sysenter_fault(1);
	else if (!strcmp(m, "syscall-fault"))
		syscall_fault(0);
	else if (!strcmp(m, "syscall-fault-tf"))
		syscall_fault(1);
	else if (!strcmp(m, "vsyscall-tf") || !strcmp(m, "vsyscall-nt")) {
		uint32_t bit = m[9] == 't' ? TF : NT, after;
		if (!entry)
			return 5;
		uint32_t pid = vsyscall_with(entry, bit, &after);
		if (pid != int80_getpid())
			return 3;
		if (!(after & bit))
			return bit == TF ? 2 : 4;
		return 0;
	}
	return 65; /* the fault cases never get here */
}
