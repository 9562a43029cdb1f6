/* The parts of <linux/seccomp.h>, <linux/filter.h> and <linux/audit.h> the C tests use,
 * spelled out: musl-gcc cannot see the kernel's headers. One copy for seccomp.c,
 * seccomp_notif.c and ptrace.c.
 */
#ifndef SECCOMP_ABI_H
#define SECCOMP_ABI_H

#include <stdint.h>

#define SECCOMP_SET_MODE_STRICT 0
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_GET_ACTION_AVAIL 2
#define SECCOMP_GET_NOTIF_SIZES 3
#define SECCOMP_MODE_STRICT 1
#define SECCOMP_RET_KILL_PROCESS 0x80000000u
#define SECCOMP_RET_KILL_THREAD 0x00000000u
#define SECCOMP_RET_TRAP 0x00030000u
#define SECCOMP_RET_ERRNO 0x00050000u
#define SECCOMP_RET_USER_NOTIF 0x7fc00000u
#define SECCOMP_RET_TRACE 0x7ff00000u
#define SECCOMP_RET_ALLOW 0x7fff0000u
#define AUDIT_ARCH_X86_64 0xc000003eu

/* Classic BPF. */
struct sock_filter {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};
struct sock_fprog {
	unsigned short len;
	struct sock_filter *filter;
};
#define LD_ABS 0x20
#define JEQ_K 0x15
#define RET_K 0x06
#define STMT(c, k) ((struct sock_filter){(c), 0, 0, (k)})
#define JUMP(c, k, t, f) ((struct sock_filter){(c), (t), (f), (k)})

struct seccomp_data {
	int nr;
	uint32_t arch;
	uint64_t instruction_pointer;
	uint64_t args[6];
};

#endif
