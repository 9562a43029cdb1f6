//! The ring-3 workload of `cargo xtask verify` (docs/verify.md): it runs the register checkers
//! over and over — each a child process (fork, execve, wait4), its output captured through a
//! pipe and shown only when it fails — so that every entry path keeps being exercised while
//! the host stops the guest at one entry instruction after another and injects an NMI there.
//!
//! | child | status | what it drives |
//! |---|---|---|
//! | `syscall_regs` | 0 | SYSCALL → SYSRET with every GPR checked; timer IRQs in a register loop |
//! | `syscall_flags` | 0 | DF, AC, NT across SYSCALL; the IRET way back |
//! | `sig_regs` | 0 | #BP, #UD, #PF, #GP, #DE to handlers, rt_sigreturn, GPRs intact |
//! | `fault tf` | 133 | TF → #DB from ring 3 (the IST entry from user) |
//! | `fault ud` | 132 | #UD killing the task |
//! | `sigreturn_bad once` | 0 | hostile rt_sigreturn frames: the IRET to user faults (the bad-IRET fixup) |
//! | `hwbp_armed` | 0 | a traced child with a write watchpoint armed (DR7 live in user mode and in its syscalls), hit 8 times: #DB from user with DR7 armed, and the entries' DR7 save/restore under the NMIs and #MCs injected meanwhile |
//! | `ia32_fast-glibc32 vsyscall-regs` | 0 | an i386 program: 100 getpids through its 32-bit vDSO's `__kernel_vsyscall` (SYSCALL on an AMD-vendor CPU, SYSENTER on an Intel one; back by SYSRETL), EBX..EBP checked |
//!
//! Before the first round the loop has a child arm a write watchpoint on a word of the loop's
//! own (`arm_own_watchpoint`, result `own_watchpoint_armed`): the host's NMIs and #MCs,
//! injected into this process in ring 3 and in its syscalls, then find DR7 armed. With a
//! host, once a round, getrandom(2) writes that word: the kernel's copy raises a #DB in
//! kernel mode (the paranoid path's #DB arm), which the kernel drops as a user copy's hit. Every fork also returns through `ret_from_fork`. After each round the loop sleeps
//! ([`IDLE_NS`]): the one CPU goes idle, and the timer IRQ that wakes it takes the entry from
//! the idle loop and the way back to it. Before each child, the loop makes two SYSCALLs
//! from 32-bit code (the CSTAR entry): an i386 getpid, which must return the pid and comes
//! back by SYSRETL (`compat_syscall_enosys`, a name from when it was -ENOSYS), and the same
//! with ESP unmapped, which must return -EFAULT by IRET (`compat_syscall_bad_esp_efault`);
//! and one `int $0x80` getpid with every other register holding a
//! pattern, which must return the pid and give every register back (`int80_regs`).
//!
//! With a host and more than one CPU, the loop pins itself to CPU 0 and forks one worker per
//! other CPU, pinned there, running the same rounds (its children inherit the pin) until the
//! loop, told to stop, sets the stop word of a page they share (MAP_SHARED); each worker
//! leaves its tally there, and the results count every CPU's runs (`every_cpu_ran_rounds`:
//! each worker ran, armed its own watchpoint and ended with 0). So an injection stopped on
//! any CPU finds the same workload there. A worker also calls the poll after each child,
//! with `rdi` = [`POLL_WORKER`]: the host never answers it, but stops there when it wants
//! the worker's CPU in ring 3.
//!
//! The host talks to the loop through one syscall that does not exist ([`POLL_NR`], -ENOSYS
//! here and on Linux): `rdi` goes in as [`POLL_LOOP`] (0), and the kernel gives every register but RAX, RCX
//! and R11 back as it was — unless the host, stopped at that `syscall` instruction (the label
//! `verify_loop_poll_syscall`), wrote one there.
//! [`HOST_ATTACHED`] in the first poll: keep running rounds until [`HOST_STOP`]. Without a host
//! (an ordinary test boot) rdi stays 0 and the loop runs one round.
//!
//! KTAP: one result per child program, ok when every run of it ended with its status.
//! Syscalls: pipe2, fork, dup2, close, execve, read, wait4, nanosleep, 0x4b56 (the poll),
//! sched_getaffinity, sched_setaffinity, mmap, getrandom,
//! getpid (and i386 getpid by `int $0x80`), write, exit_group.

#![no_std]
#![no_main]

use core::arch::naked_asm;

use kentry_user::ktap::Ktap;
use kentry_user::rt::Args;
use kentry_user::sys::{self, nr};
use kentry_user::{diag, entry};

entry!(main);

mod workers;
use workers::{MAX_CPUS, map_shared, online_cpus, pin, worker};

/// The poll syscall: a number no kernel implements (xtask/src/verify/mod.rs has the same).
const POLL_NR: usize = 0x4b56;
/// The host's answer in rdi: it is there, and the loop runs until [`HOST_STOP`].
const HOST_ATTACHED: u64 = 1;
/// The host's answer in rdi: finish now.
const HOST_STOP: u64 = 2;
/// [`poll`]'s argument from the loop itself: the host answers it.
const POLL_LOOP: u64 = 0;
/// [`poll`]'s argument from a worker: the host never answers it, but may stop there, at a
/// known user instruction on the worker's CPU (where it injects into ring 3).
const POLL_WORKER: u64 = 0x57;
/// Rounds at most, host or not: the loop always ends.
const MAX_ROUNDS: u64 = 100_000;

/// One checker: its name (the KTAP result), argv (NUL-terminated strings) and exit status.
struct Child {
    name: &'static str,
    argv: &'static [&'static core::ffi::CStr],
    status: i32,
}

const CHILDREN: &[Child] = &[
    Child {
        name: "syscall_regs",
        argv: &[c"/bin/syscall_regs"],
        status: 0,
    },
    Child {
        name: "syscall_flags",
        argv: &[c"/bin/syscall_flags"],
        status: 0,
    },
    Child {
        name: "sig_regs",
        argv: &[c"/bin/sig_regs"],
        status: 0,
    },
    Child {
        name: "fault_tf",
        argv: &[c"/bin/fault", c"tf"],
        status: 133,
    },
    Child {
        name: "fault_ud",
        argv: &[c"/bin/fault", c"ud"],
        status: 132,
    },
    Child {
        name: "sigreturn_bad",
        argv: &[c"/bin/sigreturn_bad", c"once"],
        status: 0,
    },
    Child {
        name: "hwbp_armed",
        argv: &[c"/bin/hwbp_armed"],
        status: 0,
    },
    Child {
        // An i386 program: getpids through its 32-bit vDSO's __kernel_vsyscall, registers
        // checked, so the compat fast entry of the CPU (SYSCALL on the AMD model, SYSENTER on
        // the Intel one) and the SYSRETL way back run each round.
        name: "vsyscall_regs",
        argv: &[c"/bin/ia32_fast-glibc32", c"vsyscall-regs"],
        status: 0,
    },
];

/// The sleep after each round: long enough that the CPU idles until a timer IRQ.
const IDLE_NS: i64 = 2_000_000;

/// nanosleep for [`IDLE_NS`]; its result (0, or -EINTR) does not matter.
fn idle() {
    let req: [i64; 2] = [0, IDLE_NS];
    // SAFETY: nanosleep reads a live timespec; no remainder is asked for.
    unsafe { sys::syscall2(nr::NANOSLEEP, req.as_ptr() as usize, 0) };
}

/// The poll: the host's word, or `who` (a worker's poll is never answered). Naked, so that
/// its `syscall` has a symbol the host can break on (`verify_loop_poll_syscall`, a user
/// address: no other syscall stops there).
#[unsafe(naked)]
extern "sysv64" fn poll(who: u64) -> u64 {
    naked_asm!(
        // rdi = who: the host answers only the loop's own poll (POLL_LOOP).
        "mov eax, {nr}",
        ".globl verify_loop_poll_syscall",
        "verify_loop_poll_syscall:",
        "syscall",
        "mov rax, rdi",
        "ret",
        nr = const POLL_NR,
    )
}

/// The RSP of [`compat_syscall`] while it runs 32-bit code (which cannot hold it in a
/// register: 32-bit mode leaves the upper halves undefined).
static mut COMPAT_RSP: u64 = 0;

/// An ESP no page is mapped at: [`compat_syscall`]'s sixth-argument read there faults.
const COMPAT_BAD_ESP: u32 = 0x10;

/// The stack of [`compat_syscall`]'s 32-bit code: the compat SYSCALL entry reads its sixth
/// argument at [ESP], which must lie below 4 GiB (this static program's data does).
static mut COMPAT_STACK: [u32; 16] = [0; 16];

/// SYSCALL from 32-bit code, the CSTAR entry (`kentry_syscall_compat`): a far jump to the
/// 32-bit user code segment (0x23), `syscall` there with the i386 getpid (20) and ESP = `esp`,
/// a far jump back to 0x33. Returns EAX: the pid when `esp` is in [`COMPAT_STACK`] (the way
/// back is SYSRETL), -EFAULT when it is an unmapped address (the sixth-argument read faults,
/// and the way back is IRET). The callee-saved registers are kept on the 64-bit stack across
/// it.
#[unsafe(naked)]
extern "sysv64" fn compat_syscall(esp: u32) -> u32 {
    naked_asm!(
        "push %rbx",
        "push %rbp",
        "push %r12",
        "push %r13",
        "push %r14",
        "push %r15",
        "movq %rsp, {rsp}(%rip)",
        "ljmpl *2f(%rip)",
        "2: .long 3f",
        ".word 0x23",
        ".code32",
        "3: movl %edi, %esp",
        "movl ${nr}, %eax",
        "syscall",
        "ljmpl $0x33, $4f",
        ".code64",
        "4: movq {rsp}(%rip), %rsp",
        "pop %r15",
        "pop %r14",
        "pop %r13",
        "pop %r12",
        "pop %rbp",
        "pop %rbx",
        "ret",
        rsp = sym COMPAT_RSP,
        // The i386 getpid.
        nr = const 20,
        options(att_syntax),
    )
}

/// The 14 registers other than RAX before `int $0x80` in [`int80_getpid`], in the order of
/// [`INT80_REGS`]' slots 1..: rbx, rcx, rdx, rsi, rdi, rbp, r8–r15. High halves set, so a
/// 32-bit truncation shows.
const INT80_PATTERNS: [u64; 14] = [
    0x1b1b_1b1b_0101_0101,
    0x1c1c_1c1c_0202_0202,
    0x1d1d_1d1d_0303_0303,
    0x1e1e_1e1e_0404_0404,
    0x1f1f_1f1f_0505_0505,
    0x2020_2020_0606_0606,
    0x8888_8888_0808_0808,
    0x9999_9999_0909_0909,
    0xaaaa_aaaa_0a0a_0a0a,
    0xbbbb_bbbb_0b0b_0b0b,
    0xcccc_cccc_0c0c_0c0c,
    0xdddd_dddd_0d0d_0d0d,
    0xeeee_eeee_0e0e_0e0e,
    0xffff_ffff_0f0f_0f0f,
];

/// RAX and the 14 other registers as `int $0x80` in [`int80_getpid`] left them.
static mut INT80_REGS: [u64; 15] = [0; 15];

/// `int $0x80` with the i386 getpid (20) and [`INT80_PATTERNS`] in the other registers; stores
/// every register after it in [`INT80_REGS`]. The callee-saved ones are kept on the stack.
#[unsafe(naked)]
extern "sysv64" fn int80_getpid() {
    naked_asm!(
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "movabs rbx, {p0}",
        "movabs rcx, {p1}",
        "movabs rdx, {p2}",
        "movabs rsi, {p3}",
        "movabs rdi, {p4}",
        "movabs rbp, {p5}",
        "movabs r8, {p6}",
        "movabs r9, {p7}",
        "movabs r10, {p8}",
        "movabs r11, {p9}",
        "movabs r12, {p10}",
        "movabs r13, {p11}",
        "movabs r14, {p12}",
        "movabs r15, {p13}",
        "mov eax, 20",
        "int 0x80",
        "mov qword ptr [rip + {regs}], rax",
        "mov qword ptr [rip + {regs} + 8], rbx",
        "mov qword ptr [rip + {regs} + 16], rcx",
        "mov qword ptr [rip + {regs} + 24], rdx",
        "mov qword ptr [rip + {regs} + 32], rsi",
        "mov qword ptr [rip + {regs} + 40], rdi",
        "mov qword ptr [rip + {regs} + 48], rbp",
        "mov qword ptr [rip + {regs} + 56], r8",
        "mov qword ptr [rip + {regs} + 64], r9",
        "mov qword ptr [rip + {regs} + 72], r10",
        "mov qword ptr [rip + {regs} + 80], r11",
        "mov qword ptr [rip + {regs} + 88], r12",
        "mov qword ptr [rip + {regs} + 96], r13",
        "mov qword ptr [rip + {regs} + 104], r14",
        "mov qword ptr [rip + {regs} + 112], r15",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "ret",
        p0 = const INT80_PATTERNS[0],
        p1 = const INT80_PATTERNS[1],
        p2 = const INT80_PATTERNS[2],
        p3 = const INT80_PATTERNS[3],
        p4 = const INT80_PATTERNS[4],
        p5 = const INT80_PATTERNS[5],
        p6 = const INT80_PATTERNS[6],
        p7 = const INT80_PATTERNS[7],
        p8 = const INT80_PATTERNS[8],
        p9 = const INT80_PATTERNS[9],
        p10 = const INT80_PATTERNS[10],
        p11 = const INT80_PATTERNS[11],
        p12 = const INT80_PATTERNS[12],
        p13 = const INT80_PATTERNS[13],
        regs = sym INT80_REGS,
    )
}

/// One [`int80_getpid`]: whether RAX is `pid` and every other register came back.
fn int80_regs_ok(pid: isize) -> bool {
    int80_getpid();
    // SAFETY: written by int80_getpid just now; this program has one thread.
    let regs = unsafe { *core::ptr::addr_of!(INT80_REGS) };
    regs[0] as isize == pid && regs[1..] == INT80_PATTERNS
}

/// The child's output, kept for the report when it fails (the rest is dropped).
const OUTPUT_MAX: usize = 8192;

/// Runs one child to its end: its status as a shell shows it (128 + signal when killed),
/// and how many bytes of its output `out` holds. Negative: a syscall failed (-errno).
fn run_child(c: &Child, out: &mut [u8; OUTPUT_MAX]) -> (i32, usize) {
    let mut argv: [*const u8; 4] = [core::ptr::null(); 4];
    for (slot, a) in argv.iter_mut().zip(c.argv) {
        *slot = a.as_ptr().cast();
    }
    let envp: [*const u8; 1] = [core::ptr::null()];
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into a live local array.
    let r = unsafe { sys::syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, 0) };
    if r < 0 {
        return (r as i32, 0);
    }
    // SAFETY: fork; the child only rearranges descriptors and execs (or exits).
    let pid = unsafe { sys::syscall0(nr::FORK) };
    if pid == 0 {
        // SAFETY: descriptor syscalls on this process's own descriptors, then execve with
        // NUL-terminated strings and null-terminated pointer arrays that live until it.
        unsafe {
            sys::syscall2(nr::DUP2, fds[1] as usize, 1);
            sys::syscall2(nr::DUP2, fds[1] as usize, 2);
            sys::syscall1(nr::CLOSE, fds[0] as usize);
            sys::syscall1(nr::CLOSE, fds[1] as usize);
            sys::syscall3(
                nr::EXECVE,
                argv[0] as usize,
                argv.as_ptr() as usize,
                envp.as_ptr() as usize,
            );
        }
        sys::exit_group(127);
    }
    // SAFETY: closes this process's own write end.
    unsafe { sys::syscall1(nr::CLOSE, fds[1] as usize) };
    if pid < 0 {
        // SAFETY: closes this process's own read end.
        unsafe { sys::syscall1(nr::CLOSE, fds[0] as usize) };
        return (pid as i32, 0);
    }
    let mut len = 0;
    let mut sink = [0u8; 512];
    loop {
        let buf: &mut [u8] = if len < OUTPUT_MAX {
            &mut out[len..]
        } else {
            &mut sink
        };
        // SAFETY: read writes at most `buf.len()` bytes into a live buffer.
        let n = unsafe {
            sys::syscall3(
                nr::READ,
                fds[0] as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
            )
        };
        if n == -sys::errno::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        if len < OUTPUT_MAX {
            len += n as usize;
        }
    }
    // SAFETY: closes this process's own read end.
    unsafe { sys::syscall1(nr::CLOSE, fds[0] as usize) };
    let mut wstatus: i32 = 0;
    // SAFETY: wait4 writes the status into a live local.
    let r = unsafe { sys::syscall4(nr::WAIT4, pid as usize, &raw mut wstatus as usize, 0, 0) };
    if r < 0 {
        return (r as i32, len);
    }
    let status = if wstatus & 0x7f == 0 {
        (wstatus >> 8) & 0xff
    } else {
        128 + (wstatus & 0x7f)
    };
    (status, len)
}

/// The word this process's own watchpoint watches. Only the kernel writes it
/// ([`kernel_writes_watched`]).
static mut WATCHED: u32 = 0;

/// With a host, once a round: getrandom(2) writes 4 bytes into [`WATCHED`]. The kernel's
/// copy to user memory hits this process's watchpoint: a #DB in kernel mode, which takes the
/// paranoid path's #DB arm (the kernel drops the hit as a user copy's, as Linux does:
/// docs/debug-registers.md), so the host injects at those instructions too. Not in an
/// ordinary test boot, where `debugreg_user_copy_hit` counts such hits for c_debugreg.
fn kernel_writes_watched() {
    const GRND_NONBLOCK: usize = 1;
    // SAFETY: getrandom writes 4 bytes into a static of this process that nothing else uses.
    unsafe {
        sys::syscall3(
            nr::GETRANDOM,
            (&raw mut WATCHED) as usize,
            core::mem::size_of::<u32>(),
            GRND_NONBLOCK,
        )
    };
}

/// Arms a write watchpoint on [`WATCHED`] in this process, as a debugger would: a child
/// attaches to it (PTRACE_ATTACH), waits for its stop, sets DR0 and DR7 (PTRACE_POKEUSER),
/// detaches and exits; the breakpoint stays, as in Linux. From then on every entry this process
/// makes — and every NMI and #MC the host injects into it, in ring 3 at the poll or in its
/// syscalls — finds DR7 armed, and takes the entries' DR7 save/clear and restore (E22).
/// Returns whether the child did all of it (exit 0).
fn arm_own_watchpoint() -> bool {
    const PTRACE_POKEUSER: usize = 6;
    const PTRACE_ATTACH: usize = 16;
    const PTRACE_DETACH: usize = 17;
    /// `offsetof(struct user, u_debugreg)` on x86-64.
    const U_DEBUGREG: usize = 848;
    /// DR7: L0, RW0 = 01 (data writes), LEN0 = 11 (4 bytes).
    const DR7_WRITE4_L0: usize = 0x000d_0001;
    const WALL: usize = 0x4000_0000;
    let parent = sys::getpid() as usize;
    // SAFETY: fork; the child runs the block below and exits.
    let child = unsafe { sys::syscall0(nr::FORK) };
    if child == 0 {
        let mut status = 0i32;
        // SAFETY: ptrace requests on the parent and wait4 into a local.
        let ok = unsafe {
            sys::syscall4(nr::PTRACE, PTRACE_ATTACH, parent, 0, 0) == 0
                && sys::syscall4(nr::WAIT4, parent, &raw mut status as usize, WALL, 0)
                    == parent as isize
                && status & 0xff == 0x7f
                && sys::syscall4(
                    nr::PTRACE,
                    PTRACE_POKEUSER,
                    parent,
                    U_DEBUGREG,
                    &raw const WATCHED as usize,
                ) == 0
                && sys::syscall4(
                    nr::PTRACE,
                    PTRACE_POKEUSER,
                    parent,
                    U_DEBUGREG + 7 * 8,
                    DR7_WRITE4_L0,
                ) == 0
                && sys::syscall4(nr::PTRACE, PTRACE_DETACH, parent, 0, 0) == 0
        };
        sys::exit_group(if ok { 0 } else { 1 });
    }
    let mut status = 0i32;
    // SAFETY: wait4 into a local; this process stops meanwhile (the attach's SIGSTOP) and the
    // call restarts when the child detaches.
    let r = unsafe { sys::syscall4(nr::WAIT4, child as usize, &raw mut status as usize, 0, 0) };
    r == child && status == 0
}

/// What one CPU's rounds found: failed runs per child and per in-loop check.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Tally {
    rounds: u64,
    failures: [u64; CHILDREN.len()],
    compat: u64,
    compat_fault: u64,
    int80: u64,
    /// The worker's own watchpoint was armed (workers only: the parent reports its own).
    armed: bool,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.rounds += o.rounds;
        for (a, b) in self.failures.iter_mut().zip(o.failures) {
            *a += b;
        }
        self.compat += o.compat;
        self.compat_fault += o.compat_fault;
        self.int80 += o.int80;
    }
}

/// One round: the in-loop checks and each child once, and with a host (`hosted`) the kernel's
/// write into the watched word. `stop` is asked after each child; true ends the round and
/// tells the caller to stop.
fn round(
    t: &mut Tally,
    pid: isize,
    out: &mut [u8; OUTPUT_MAX],
    hosted: bool,
    stop: &mut dyn FnMut() -> bool,
) -> bool {
    t.rounds += 1;
    let rounds = t.rounds;
    for (i, c) in CHILDREN.iter().enumerate() {
        // The address of a static: below 4 GiB in this static program.
        let stack_top = (&raw const COMPAT_STACK) as u64 as u32 + 32;
        let eax = compat_syscall(stack_top);
        if eax as i32 != pid as i32 {
            t.compat += 1;
            diag!("round {rounds}: SYSCALL from 32-bit code returned {eax:#x}");
        }
        let eax = compat_syscall(COMPAT_BAD_ESP);
        if eax as i32 != -14 {
            t.compat_fault += 1;
            diag!("round {rounds}: SYSCALL with ESP unmapped returned {eax:#x}, not -EFAULT");
        }
        if !int80_regs_ok(pid) {
            t.int80 += 1;
            // SAFETY: as in int80_regs_ok.
            let regs = unsafe { *core::ptr::addr_of!(INT80_REGS) };
            diag!("round {rounds}: int $0x80 getpid left {regs:#x?} (pid {pid})");
        }
        let (status, len) = run_child(c, out);
        if status != c.status {
            t.failures[i] += 1;
            diag!(
                "round {rounds}: {} ended with {status}, want {}; its output:",
                c.name,
                c.status
            );
            for line in out[..len].split(|&b| b == b'\n') {
                diag!("  {}", kentry_user::fmt::Bytes(line));
            }
        }
        if stop() {
            return true;
        }
    }
    if hosted {
        kernel_writes_watched();
    }
    idle();
    false
}

fn main(_: Args) -> i32 {
    let mut k = Ktap::new(CHILDREN.len() as u32 + 5);
    let hosted = poll(POLL_LOOP) == HOST_ATTACHED;
    diag!(
        "verify_loop: {}",
        if hosted {
            "host attached, running until it says stop"
        } else {
            "no host, one round"
        }
    );
    // With a host and several CPUs: one worker per other CPU, this process on CPU 0.
    let cpus = if hosted {
        online_cpus().min(MAX_CPUS)
    } else {
        1
    };
    let shared = if cpus > 1 {
        map_shared()
    } else {
        core::ptr::null_mut()
    };
    let mut workers = [0isize; MAX_CPUS];
    if !shared.is_null() {
        pin(0);
        for (cpu, w) in workers.iter_mut().enumerate().take(cpus).skip(1) {
            // SAFETY: fork; the child only runs `worker`, which never returns.
            let pid = unsafe { sys::syscall0(nr::FORK) };
            if pid == 0 {
                // SAFETY: the mapping lives as long as the process (MAP_SHARED, inherited).
                worker(cpu, unsafe { &*shared });
            }
            *w = pid;
        }
    }
    let armed = arm_own_watchpoint();
    let pid = sys::getpid();
    let mut t = Tally::default();
    let mut out = [0u8; OUTPUT_MAX];
    while t.rounds < MAX_ROUNDS {
        if round(&mut t, pid, &mut out, hosted, &mut || {
            hosted && poll(POLL_LOOP) == HOST_STOP
        }) || !hosted
        {
            break;
        }
    }
    diag!("verify_loop: CPU 0: {} rounds", t.rounds);
    let mut workers_ok = true;
    if !shared.is_null() {
        // SAFETY: the shared page is mapped; the workers poll its stop word.
        let sh = unsafe { &*shared };
        sh.stop.store(1, core::sync::atomic::Ordering::Release);
        for (cpu, &w) in workers.iter().enumerate().take(cpus).skip(1) {
            let mut status = 0i32;
            // SAFETY: wait4 on our own child, writing `status`.
            let r = unsafe { sys::syscall4(nr::WAIT4, w as usize, &raw mut status as usize, 0, 0) };
            // SAFETY: the worker has exited: its slot is written and no longer changes.
            let wt = unsafe { (&sh.tally[cpu] as *const Tally).read_volatile() };
            diag!(
                "verify_loop: CPU {cpu}: {} rounds, exit status {status:#x}",
                wt.rounds
            );
            if w <= 0 || r != w || status != 0 || wt.rounds == 0 || !wt.armed {
                workers_ok = false;
            }
            t.add(&wt);
        }
    }
    diag!("verify_loop: {} rounds on {cpus} CPU(s)", t.rounds);
    for (c, f) in CHILDREN.iter().zip(t.failures) {
        if f != 0 {
            diag!("{}: {f} of {} runs failed", c.name, t.rounds);
        }
        k.result(f == 0, c.name);
    }
    k.result(t.compat == 0, "compat_syscall_enosys");
    k.result(t.compat_fault == 0, "compat_syscall_bad_esp_efault");
    k.result(t.int80 == 0, "int80_regs");
    k.result(armed, "own_watchpoint_armed");
    if cpus > 1 {
        k.result(workers_ok, "every_cpu_ran_rounds");
    } else {
        k.skip("every_cpu_ran_rounds", "one CPU (or no host): no workers");
    }
    k.finish()
}
