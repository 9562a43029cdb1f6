//! ptrace's pure rules (Linux 6.1, x86-64): request and option numbers, the wait statuses a
//! tracer sees, `struct user` and its register block, and the checks a tracer's register
//! writes pass (arch/x86/kernel/ptrace.c `putreg`, `set_segment_reg`, `set_flags`).

/// Request numbers (include/uapi/linux/ptrace.h and the x86 ones of asm/ptrace-abi.h).
pub mod req {
    pub const TRACEME: u64 = 0;
    pub const PEEKTEXT: u64 = 1;
    pub const PEEKDATA: u64 = 2;
    pub const PEEKUSR: u64 = 3;
    pub const POKETEXT: u64 = 4;
    pub const POKEDATA: u64 = 5;
    pub const POKEUSR: u64 = 6;
    pub const CONT: u64 = 7;
    pub const KILL: u64 = 8;
    pub const SINGLESTEP: u64 = 9;
    pub const GETREGS: u64 = 12;
    pub const SETREGS: u64 = 13;
    pub const GETFPREGS: u64 = 14;
    pub const SETFPREGS: u64 = 15;
    pub const ATTACH: u64 = 16;
    pub const DETACH: u64 = 17;
    pub const SYSCALL: u64 = 24;
    pub const GET_THREAD_AREA: u64 = 25;
    pub const SET_THREAD_AREA: u64 = 26;
    pub const ARCH_PRCTL: u64 = 30;
    pub const SYSEMU: u64 = 31;
    pub const SYSEMU_SINGLESTEP: u64 = 32;
    pub const SETOPTIONS: u64 = 0x4200;
    pub const GETEVENTMSG: u64 = 0x4201;
    pub const GETSIGINFO: u64 = 0x4202;
    pub const SETSIGINFO: u64 = 0x4203;
    pub const GETREGSET: u64 = 0x4204;
    pub const SETREGSET: u64 = 0x4205;
    pub const SEIZE: u64 = 0x4206;
    pub const INTERRUPT: u64 = 0x4207;
    pub const LISTEN: u64 = 0x4208;
    pub const PEEKSIGINFO: u64 = 0x4209;
    pub const GETSIGMASK: u64 = 0x420a;
    pub const SETSIGMASK: u64 = 0x420b;
    pub const SECCOMP_GET_FILTER: u64 = 0x420c;
    pub const SECCOMP_GET_METADATA: u64 = 0x420d;
    pub const GET_SYSCALL_INFO: u64 = 0x420e;
}

/// PTRACE_O_* options.
pub mod opt {
    pub const TRACESYSGOOD: u32 = 1;
    pub const TRACEFORK: u32 = 1 << 1;
    pub const TRACEVFORK: u32 = 1 << 2;
    pub const TRACECLONE: u32 = 1 << 3;
    pub const TRACEEXEC: u32 = 1 << 4;
    pub const TRACEVFORKDONE: u32 = 1 << 5;
    pub const TRACEEXIT: u32 = 1 << 6;
    pub const TRACESECCOMP: u32 = 1 << 7;
    pub const EXITKILL: u32 = 1 << 20;
    pub const SUSPEND_SECCOMP: u32 = 1 << 21;
    /// Every option Linux knows; SETOPTIONS with any other bit is -EINVAL.
    pub const MASK: u32 = 0x0000_00ff | EXITKILL | SUSPEND_SECCOMP;
}

/// PTRACE_EVENT_* numbers: a stop for event `e` reports `SIGTRAP | e << 8`.
pub mod event {
    pub const FORK: u32 = 1;
    pub const VFORK: u32 = 2;
    pub const CLONE: u32 = 3;
    pub const EXEC: u32 = 4;
    pub const VFORK_DONE: u32 = 5;
    pub const EXIT: u32 = 6;
    pub const SECCOMP: u32 = 7;
    /// A group-stop or PTRACE_INTERRUPT of a PTRACE_SEIZEd tracee.
    pub const STOP: u32 = 128;

    /// The option that asks for event `e` (EXEC: its absence gives the old SIGTRAP instead).
    pub const fn option(e: u32) -> u32 {
        if e >= FORK && e <= SECCOMP { 1 << e } else { 0 }
    }
}

/// PTRACE_SYSCALL_INFO_* ops (what GET_SYSCALL_INFO describes).
pub mod info_op {
    pub const NONE: u8 = 0;
    pub const ENTRY: u8 = 1;
    pub const EXIT: u8 = 2;
    pub const SECCOMP: u8 = 3;
}

const SIGTRAP: u32 = 5;

/// The event message of a syscall-entry stop (Linux's PTRACE_EVENTMSG_SYSCALL_ENTRY).
pub const SYSCALL_ENTRY_MSG: u64 = 1;
/// The event message of a syscall-exit stop.
pub const SYSCALL_EXIT_MSG: u64 = 2;

/// What PTRACE_GET_SYSCALL_INFO describes for a stop with siginfo code `si_code` and event
/// message `msg` (Linux's `ptrace_get_syscall_info`: only the stops of a tracee with
/// TRACESYSGOOD, and the seccomp event, describe a syscall), and the size of its answer.
pub const fn syscall_info_op(si_code: Option<i32>, msg: u64) -> (u8, usize) {
    const HEADER: usize = 24;
    match si_code {
        Some(c) if c == (SIGTRAP | 0x80) as i32 => match msg {
            SYSCALL_ENTRY_MSG => (info_op::ENTRY, HEADER + 7 * 8),
            SYSCALL_EXIT_MSG => (info_op::EXIT, HEADER + 8 + 1),
            _ => (info_op::NONE, HEADER),
        },
        Some(c) if c == (SIGTRAP | event::SECCOMP << 8) as i32 => {
            (info_op::SECCOMP, HEADER + 7 * 8 + 4)
        }
        _ => (info_op::NONE, HEADER),
    }
}

/// The code ("exit_code") of a syscall stop: SIGTRAP, with bit 7 under TRACESYSGOOD.
pub const fn syscall_stop_code(options: u32) -> u32 {
    if options & opt::TRACESYSGOOD != 0 {
        SIGTRAP | 0x80
    } else {
        SIGTRAP
    }
}

/// The code of an event stop: `SIGTRAP | event << 8` (for STOP, the stopping signal).
pub const fn event_stop_code(sig: u32, event: u32) -> u32 {
    sig | event << 8
}

/// The wait4 status of a stop with `code`: WIFSTOPPED, WSTOPSIG = code & 0xff, and the event
/// in bits 16–23.
pub const fn stopped_status(code: u32) -> i32 {
    ((code << 8) | 0x7f) as i32
}

/// The wait4 status of a continued child (WIFCONTINUED).
pub const CONTINUED_STATUS: i32 = 0xffff;

/// Registers of `struct user_regs_struct`, by index (offset / 8).
pub mod reg {
    pub const R15: usize = 0;
    pub const R14: usize = 1;
    pub const R13: usize = 2;
    pub const R12: usize = 3;
    pub const RBP: usize = 4;
    pub const RBX: usize = 5;
    pub const R11: usize = 6;
    pub const R10: usize = 7;
    pub const R9: usize = 8;
    pub const R8: usize = 9;
    pub const RAX: usize = 10;
    pub const RCX: usize = 11;
    pub const RDX: usize = 12;
    pub const RSI: usize = 13;
    pub const RDI: usize = 14;
    pub const ORIG_RAX: usize = 15;
    pub const RIP: usize = 16;
    pub const CS: usize = 17;
    pub const EFLAGS: usize = 18;
    pub const RSP: usize = 19;
    pub const SS: usize = 20;
    pub const FS_BASE: usize = 21;
    pub const GS_BASE: usize = 22;
    pub const DS: usize = 23;
    pub const ES: usize = 24;
    pub const FS: usize = 25;
    pub const GS: usize = 26;
    /// Registers in `user_regs_struct`.
    pub const COUNT: usize = 27;
}

/// `sizeof(struct user_regs_struct)`.
pub const USER_REGS_SIZE: u64 = reg::COUNT as u64 * 8;
/// `sizeof(struct user_fpregs_struct)`: the FXSAVE image.
pub const USER_FPREGS_SIZE: usize = 512;
/// `offsetof(struct user, u_debugreg)`.
pub const USER_DEBUGREG_OFFSET: u64 = 848;
/// `sizeof(struct user)`.
pub const USER_SIZE: u64 = 912;

/// What a PEEKUSR/POKEUSR offset names in `struct user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserField {
    /// A register of `user_regs_struct`, by index.
    Reg(usize),
    /// `u_debugreg[n]`.
    DebugReg(usize),
    /// Anything else inside `struct user`: peeks read 0, pokes are -EIO.
    Other,
}

/// The field at `offset` of `struct user`, or None (-EIO) when the offset is unaligned or
/// past the end (Linux's `arch_ptrace` PEEKUSR/POKEUSR checks).
pub const fn user_field(offset: u64) -> Option<UserField> {
    if !offset.is_multiple_of(8) || offset >= USER_SIZE {
        return None;
    }
    Some(if offset < USER_REGS_SIZE {
        UserField::Reg((offset / 8) as usize)
    } else if offset >= USER_DEBUGREG_OFFSET && offset <= USER_DEBUGREG_OFFSET + 7 * 8 {
        UserField::DebugReg(((offset - USER_DEBUGREG_OFFSET) / 8) as usize)
    } else {
        UserField::Other
    })
}

pub const EIO: i64 = 5;

/// RFLAGS bits a tracer may change (Linux's 64-bit FLAG_MASK: CF PF AF ZF SF TF DF OF NT RF
/// AC); the others (IF, IOPL, VM, VIF…) keep the tracee's values.
pub const FLAG_MASK: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4000 | 0x1_0000 | 0x4_0000;
const TF: u64 = 0x100;

/// The highest user address plus one (TASK_SIZE_MAX): FS and GS bases must be below it.
pub const TASK_SIZE_MAX: u64 = (1 << 47) - 4096;

/// The value register `index` takes when a tracer writes `value` (Linux's `putreg`), given
/// the register's current value `cur` (RFLAGS keeps what is outside [`FLAG_MASK`]) and
/// whether the tracer's single-step forced TF (`forced_tf`: TF stays set while it lasts).
/// Err(EIO) for a selector or base the tracee could not run with (Linux's
/// `invalid_selector`: not null and not RPL 3). A data selector that passes may still name
/// no usable segment; the kernel then stores null, as Linux's fault-fixed load would leave.
pub const fn put_reg(index: usize, value: u64, cur: u64, forced_tf: bool) -> Result<u64, i64> {
    match index {
        reg::CS | reg::SS => {
            let sel = value & 0xffff;
            // A null CS or SS is refused; any other RPL-3 selector is taken (a bad one ends
            // in the IRET's #GP, which is the tracee's SIGSEGV).
            if sel == 0 || sel & 3 != 3 {
                Err(EIO)
            } else {
                Ok(sel)
            }
        }
        reg::DS | reg::ES | reg::FS | reg::GS => {
            let sel = value & 0xffff;
            if sel != 0 && sel & 3 != 3 {
                Err(EIO)
            } else {
                Ok(sel)
            }
        }
        reg::EFLAGS => {
            let mut v = value;
            if v & TF == 0 && forced_tf {
                v |= TF;
            }
            Ok((cur & !FLAG_MASK) | (v & FLAG_MASK))
        }
        reg::FS_BASE | reg::GS_BASE => {
            if value >= TASK_SIZE_MAX {
                Err(EIO)
            } else {
                Ok(value)
            }
        }
        _ => Ok(value),
    }
}

/// Whether a write of RFLAGS `value` ends a forced TF (the tracer set TF itself: it is the
/// tracee's now, Linux's `set_flags`).
pub const fn put_flags_clears_forced_tf(value: u64) -> bool {
    value & TF != 0
}

/// RFLAGS as a tracer reads it: without the TF its own single-step forced.
pub const fn get_flags(flags: u64, forced_tf: bool) -> u64 {
    if forced_tf { flags & !TF } else { flags }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_match_the_c_macros() {
        // glibc's <sys/wait.h>: WIFSTOPPED(s) = (s & 0xff) == 0x7f, WSTOPSIG = (s >> 8) & 0xff,
        // and strace's event test (s >> 16). Values as Linux reports them.
        assert_eq!(stopped_status(19), 0x137f); // SIGSTOP
        assert_eq!(stopped_status(syscall_stop_code(opt::TRACESYSGOOD)), 0x857f);
        assert_eq!(stopped_status(syscall_stop_code(0)), 0x057f);
        assert_eq!(stopped_status(event_stop_code(5, event::FORK)), 0x1057f);
        assert_eq!(stopped_status(event_stop_code(19, event::STOP)), 0x80137f);
        assert_eq!(event::option(event::EXEC), opt::TRACEEXEC);
        assert_eq!(event::option(event::EXIT), opt::TRACEEXIT);
        assert_eq!(event::option(event::SECCOMP), opt::TRACESECCOMP);
        assert_eq!(event::option(event::STOP), 0);
        assert_eq!(opt::MASK, 0x3000ff);
    }

    #[test]
    fn syscall_info_sizes() {
        // include/uapi/linux/ptrace.h: a 24-byte header; entry {nr, args[6]}; exit {rval,
        // is_error} up to is_error; seccomp {nr, args[6], ret_data}.
        assert_eq!(syscall_info_op(Some(0x85), 1), (info_op::ENTRY, 80));
        assert_eq!(syscall_info_op(Some(0x85), 2), (info_op::EXIT, 33));
        assert_eq!(syscall_info_op(Some(0x705), 0), (info_op::SECCOMP, 84));
        // Without TRACESYSGOOD a syscall stop is not described.
        assert_eq!(syscall_info_op(Some(5), 1), (info_op::NONE, 24));
        assert_eq!(syscall_info_op(None, 1), (info_op::NONE, 24));
    }

    #[test]
    fn struct_user_layout() {
        // x86-64 <sys/user.h>: regs (27 longs), u_fpvalid, i387 (512), three sizes, two
        // addresses, signal, reserved, two pointers, magic, u_comm[32], u_debugreg[8].
        let fpvalid = 27 * 8;
        let i387 = fpvalid + 8;
        let after = i387 + 512 + 3 * 8 + 2 * 8 + 8 + 8 + 2 * 8 + 8 + 32;
        assert_eq!(after, USER_DEBUGREG_OFFSET);
        assert_eq!(after + 64, USER_SIZE);
        assert_eq!(user_field(0), Some(UserField::Reg(reg::R15)));
        assert_eq!(user_field(15 * 8), Some(UserField::Reg(reg::ORIG_RAX)));
        assert_eq!(user_field(26 * 8), Some(UserField::Reg(reg::GS)));
        assert_eq!(user_field(27 * 8), Some(UserField::Other));
        assert_eq!(user_field(848), Some(UserField::DebugReg(0)));
        assert_eq!(user_field(848 + 7 * 8), Some(UserField::DebugReg(7)));
        assert_eq!(user_field(3), None);
        assert_eq!(user_field(912), None);
    }

    #[test]
    fn segment_writes() {
        assert_eq!(put_reg(reg::CS, 0x33, 0x33, false), Ok(0x33));
        assert_eq!(put_reg(reg::CS, 0x23, 0x33, false), Ok(0x23));
        assert_eq!(put_reg(reg::CS, 0, 0x33, false), Err(EIO));
        assert_eq!(put_reg(reg::CS, 0x10, 0x33, false), Err(EIO)); // kernel RPL
        assert_eq!(put_reg(reg::SS, 0x2b, 0x2b, false), Ok(0x2b));
        assert_eq!(put_reg(reg::SS, 0x18, 0x2b, false), Err(EIO));
        // Truncated to 16 bits, as Linux's u16 argument.
        assert_eq!(put_reg(reg::SS, 0x1_002b, 0x2b, false), Ok(0x2b));
        assert_eq!(put_reg(reg::DS, 0, 0x2b, false), Ok(0));
        assert_eq!(put_reg(reg::FS, 0x2b, 0, false), Ok(0x2b));
        assert_eq!(put_reg(reg::GS, 0x10, 0, false), Err(EIO));
        // An LDT selector with RPL 3 is taken (fsgsbase pokes 0x7); whether it can be loaded
        // is the kernel's question.
        assert_eq!(put_reg(reg::GS, 0x7, 0, false), Ok(0x7));
    }

    #[test]
    fn flags_and_bases() {
        // IF (0x200), IOPL (0x3000) and the always-1 bit 1 are the tracee's; CF, TF, DF, AC
        // the tracer's (PF and ZF of `cur` are cleared by a value without them).
        let cur = 0x246;
        assert_eq!(
            put_reg(
                reg::EFLAGS,
                0x3000 | 0x1 | 0x100 | 0x400 | 0x4_0000,
                cur,
                false
            ),
            Ok(0x202 | 0x1 | 0x100 | 0x400 | 0x4_0000)
        );
        assert_eq!(put_reg(reg::EFLAGS, 0, cur, false), Ok(0x202));
        // A forced TF survives a write without it; the tracer does not see it.
        assert_eq!(put_reg(reg::EFLAGS, 0x202, 0x302, true), Ok(0x302));
        assert_eq!(get_flags(0x302, true), 0x202);
        assert_eq!(get_flags(0x302, false), 0x302);
        assert!(put_flags_clears_forced_tf(0x302));
        assert_eq!(
            put_reg(reg::FS_BASE, 0x7fff_ffff_e000, 0, false),
            Ok(0x7fff_ffff_e000)
        );
        assert_eq!(put_reg(reg::FS_BASE, 0x7fff_ffff_f000, 0, false), Err(EIO));
        assert_eq!(put_reg(reg::GS_BASE, u64::MAX, 0, false), Err(EIO));
        assert_eq!(put_reg(reg::RIP, u64::MAX, 0, false), Ok(u64::MAX));
        assert_eq!(put_reg(reg::ORIG_RAX, u64::MAX, 0, false), Ok(u64::MAX));
    }
}
