/* ptrace.c's shared part: the headers, the ABI bits older headers lack, and the helpers
 * every case uses (a traced child, resuming it, waiting for its end). Included by ptrace.c
 * only (static functions).
 */
#ifndef PTRACE_TEST_H
#define PTRACE_TEST_H

#define _GNU_SOURCE
#include "ktap.h"
#include "seccomp_abi.h"
#include <elf.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#define INFO_OP_ENTRY 1
#define INFO_OP_EXIT 2
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef PTRACE_EVENT_SECCOMP
#define PTRACE_EVENT_SECCOMP 7
#endif
#ifndef PTRACE_O_TRACESECCOMP
#define PTRACE_O_TRACESECCOMP 0x80
#endif

/* struct ptrace_syscall_info, spelled out (older headers lack it). */
struct syscall_info {
	uint8_t op;
	uint8_t pad[3];
	uint32_t arch;
	uint64_t ip, sp;
	union {
		struct {
			uint64_t nr, args[6];
		} entry;
		struct {
			int64_t rval;
			uint8_t is_error;
		} exit;
	};
};

static long raw(long nr, long a, long b, long c)
{
	return syscall(nr, a, b, c);
}

/* Forks a child that asks to be traced and stops itself; returns it stopped. */
static pid_t start_traced(int (*body)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
			_exit(90);
		/* A bare kill: musl's raise() makes more syscalls after its tgkill, which the
		 * cases would otherwise see first. */
		syscall(SYS_kill, getpid(), SIGSTOP);
		_exit(body());
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
		printf("# start_traced: status %#x\n", st);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	return pid;
}

/* Resumes with `req` and waits for the next event; returns the status. */
static int step(pid_t pid, int req, int sig)
{
	int st = -1;
	if (ptrace(req, pid, 0, sig) != 0)
		return -1;
	if (waitpid(pid, &st, __WALL) != pid)
		return -1;
	return st;
}

/* Starts `body` traced with `options` and continues it to its next stop after the initial
 * SIGSTOP (the event the options ask for): returns the wait status; *msg is the stop's
 * GETEVENTMSG. */
static int start_to_event(int (*body)(void), int options, pid_t *pid, unsigned long *msg)
{
	*pid = start_traced(body);
	ptrace(PTRACE_SETOPTIONS, *pid, 0, options);
	int st = step(*pid, PTRACE_CONT, 0);
	*msg = 0;
	ptrace(PTRACE_GETEVENTMSG, *pid, 0, msg);
	return st;
}

/* Continues to the end; returns the wait status. */
static int finish(pid_t pid)
{
	int st = step(pid, PTRACE_CONT, 0);
	while (st != -1 && WIFSTOPPED(st))
		st = step(pid, PTRACE_CONT, 0);
	return st;
}

static int exited_0(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int body_getppid(void)
{
	return raw(SYS_getppid, 11, 22, 33) == getppid() ? 0 : 1;
}

static int body_nothing(void)
{
	return 0;
}

#endif
