//! The x86 debug registers as ptrace sees them (`struct user`'s `u_debugreg[8]`): which
//! values a tracer may write, what it reads back, the DR7 the CPU is given, and what a #DB's
//! DR6 means for the thread. The rules are Linux 6.1's: arch/x86/kernel/ptrace.c
//! (`ptrace_set_debugreg`, `ptrace_write_dr7`, `ptrace_get_debugreg`) over the perf
//! breakpoints of arch/x86/kernel/hw_breakpoint.c (`arch_bp_generic_fields`,
//! `arch_build_bp_info`, `hw_breakpoint_arch_parse`, `arch_check_bp_in_kernelspace`) and
//! kernel/events/hw_breakpoint.c (`hw_breakpoint_parse`: ptrace's breakpoints exclude the
//! kernel, so a kernel address is refused).
//!
//! Linux keeps one perf event per slot, created by the first write that needs it and never
//! freed until exec: a slot that has one is validated on every later write (even when DR7
//! leaves it disabled), a slot without one only when DR7 enables it. [`PtraceDebugRegs`]
//! keeps the same per-slot state, so the same writes succeed and fail.

/// The lowest address that is not user space (Linux's TASK_SIZE_MAX with 4-level paging:
/// the top user page is kept unmapped).
pub const TASK_SIZE_MAX: u64 = (1 << 47) - 4096;
/// DR6 bits that read as 1 with nothing to report; ptrace shows the virtual DR6 XORed with it.
pub const DR6_RESERVED: u64 = 0xffff_0ff0;
/// DR6 B0–B3: breakpoint `n` was hit.
pub const DR_TRAP_BITS: u64 = 0xf;
/// DR6 BS: a single-step trap.
pub const DR_STEP: u64 = 0x4000;
/// DR7 bits a ptrace write ignores (reserved, GD, and the upper half).
pub const DR_CONTROL_RESERVED: u64 = 0xffff_ffff_0000_fc00;
/// DR7 GE, which Linux sets with every breakpoint it arms.
pub const DR_GLOBAL_SLOWDOWN: u64 = 0x200;
/// DR7's bit 10 always reads as 1.
pub const DR7_FIXED_1: u64 = 1 << 10;

/// si_code values of a SIGTRAP from #DB.
pub const TRAP_BRKPT: i32 = 1;
pub const TRAP_TRACE: i32 = 2;
pub const TRAP_HWBKPT: i32 = 4;

/// What a breakpoint watches (DR7's R/W field: 00 execute, 01 write, 11 read or write; 10,
/// I/O, is refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpKind {
    Execute,
    Write,
    ReadWrite,
}

/// A failed write: EIO (no such register) or EINVAL (a value Linux refuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrError {
    Io,
    Invalid,
}

/// One slot's breakpoint (Linux's per-slot perf event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Breakpoint {
    pub addr: u64,
    /// Bytes watched: 1, 2, 4 or 8 (an execute breakpoint: 1).
    pub len: u64,
    pub kind: BpKind,
    /// DR7 leaves it off (the slot still holds it, and its address reads back).
    pub disabled: bool,
}

impl Breakpoint {
    /// DR7's 4-bit R/W + LEN field for this breakpoint.
    fn control_nibble(&self) -> u64 {
        let rw = match self.kind {
            BpKind::Execute => 0b00,
            BpKind::Write => 0b01,
            BpKind::ReadWrite => 0b11,
        };
        let len = match self.len {
            2 => 0b01,
            4 => 0b11,
            8 => 0b10,
            _ => 0b00,
        };
        rw | len << 2
    }
}

/// Linux's `arch_bp_generic_fields` + `hw_breakpoint_arch_parse` +
/// `arch_check_bp_in_kernelspace` for a breakpoint that excludes the kernel: the breakpoint
/// DR7 field `nibble` (R/W in bits 0–1, LEN in 2–3) describes, at `addr`, or EINVAL.
#[inline]
pub fn check_breakpoint(addr: u64, nibble: u64, disabled: bool) -> Result<Breakpoint, DrError> {
    let (kind, len) = match (nibble & 3, nibble >> 2 & 3) {
        // An execute breakpoint has LEN 00 and covers the instruction starting at `addr`.
        (0b00, 0b00) => (BpKind::Execute, 1),
        (0b00, _) => return Err(DrError::Invalid),
        // R/W 10: I/O breakpoints (CR4.DE), which Linux never offers.
        (0b10, _) => return Err(DrError::Invalid),
        (rw, l) => (
            if rw == 0b01 {
                BpKind::Write
            } else {
                BpKind::ReadWrite
            },
            [1, 2, 8, 4][l as usize],
        ),
    };
    // perf's length for an execute breakpoint is sizeof(long): the end must not wrap.
    let perf_len = if kind == BpKind::Execute { 8 } else { len };
    if addr.checked_add(perf_len - 1).is_none() {
        return Err(DrError::Invalid);
    }
    // Aligned to its length (an execute breakpoint: any address).
    if addr & (len - 1) != 0 {
        return Err(DrError::Invalid);
    }
    // User space only: every byte below TASK_SIZE_MAX.
    if addr >= TASK_SIZE_MAX || addr + len > TASK_SIZE_MAX {
        return Err(DrError::Invalid);
    }
    Ok(Breakpoint {
        addr,
        len,
        kind,
        disabled,
    })
}

/// Linux's `decode_dr7`: whether slot `i` is enabled (L or G), and its R/W + LEN field.
#[inline]
pub fn decode_dr7(dr7: u64, i: usize) -> (bool, u64) {
    (dr7 >> (2 * i) & 3 != 0, dr7 >> (16 + 4 * i) & 0xf)
}

/// A thread's debug registers as ptrace keeps them (DR6, which the #DB path also writes,
/// is kept apart by the kernel).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtraceDebugRegs {
    pub slots: [Option<Breakpoint>; 4],
    /// DR7 as the tracer last wrote it successfully (what PEEKUSER returns, upper bits and
    /// all).
    pub dr7: u64,
}

impl PtraceDebugRegs {
    /// PEEKUSER of `u_debugreg[n]` for n ≠ 6: a slot's address (0 for a slot never
    /// written), DR7 as written, 0 for DR4, DR5.
    #[inline]
    pub fn get(&self, n: usize) -> u64 {
        match n {
            0..4 => self.slots[n].map_or(0, |b| b.addr),
            7 => self.dr7,
            _ => 0,
        }
    }

    /// POKEUSER of `u_debugreg[n]` for n ≠ 6 (DR6 is the kernel's): an address for DR0–3,
    /// checked with the slot's current length and kind (a slot without a breakpoint gets a
    /// disabled 1-byte write watchpoint, as in Linux); DR7 for 7; EIO for DR4, DR5 and past
    /// the end. On an error nothing changes, except as Linux's DR7 rollback leaves it.
    #[inline]
    pub fn set(&mut self, n: usize, val: u64) -> Result<(), DrError> {
        match n {
            0..4 => {
                let slot = &mut self.slots[n];
                *slot = Some(match *slot {
                    None => check_breakpoint(val, 0b01, true)?,
                    Some(b) => check_breakpoint(val, b.control_nibble(), b.disabled)?,
                });
                Ok(())
            }
            7 => {
                self.write_dr7(val)?;
                self.dr7 = val;
                Ok(())
            }
            _ => Err(DrError::Io),
        }
    }

    /// `ptrace_write_dr7`: slot by slot; a slot without a breakpoint gets one (at address 0)
    /// only when enabled. At the first refusal the slots are put back to what the DR7 the
    /// enabled breakpoints had says, in a second pass over the same slots, as Linux does
    /// (a breakpoint the first pass created stays, disabled).
    fn write_dr7(&mut self, dr7: u64) -> Result<(), DrError> {
        let old = self.hw_dr7();
        let first = self.apply_dr7(dr7 & !DR_CONTROL_RESERVED);
        if first.is_err() {
            // Linux warns if this fails; it cannot for values its breakpoints already had.
            let _ = self.apply_dr7(old);
        }
        first
    }

    fn apply_dr7(&mut self, dr7: u64) -> Result<(), DrError> {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let (enabled, nibble) = decode_dr7(dr7, i);
            match *slot {
                None if !enabled => {}
                None => *slot = Some(check_breakpoint(0, nibble, false)?),
                Some(b) => *slot = Some(check_breakpoint(b.addr, nibble, !enabled)?),
            }
        }
        Ok(())
    }

    /// The DR7 the CPU runs this thread with (Linux's `ptrace_get_dr7`/`encode_dr7`: the
    /// global enable of each enabled breakpoint, its R/W and LEN, and GE), 0 with none.
    #[inline]
    pub fn hw_dr7(&self) -> u64 {
        let mut dr7 = 0;
        for (i, b) in self.slots.iter().enumerate() {
            if let Some(b) = b.filter(|b| !b.disabled) {
                dr7 |= b.control_nibble() << (16 + 4 * i) | 2 << (2 * i) | DR_GLOBAL_SLOWDOWN;
            }
        }
        dr7
    }

    /// DR0–DR3 for the CPU (0 for an empty slot).
    #[inline]
    pub fn hw_addrs(&self) -> [u64; 4] {
        self.slots.map(|b| b.map_or(0, |b| b.addr))
    }
}

/// Whether slot `i` of a DR7 the kernel built is an enabled execute breakpoint (a fault,
/// not a trap: the return must set RF so the instruction runs instead of trapping again).
#[inline]
pub fn is_execute_slot(hw_dr7: u64, i: usize) -> bool {
    let (enabled, nibble) = decode_dr7(hw_dr7, i);
    enabled && nibble & 3 == 0
}

/// What a #DB from user mode means for the thread (`exc_debug_user` and
/// `hw_breakpoint_handler`): `dr6` in positive polarity (the register XOR
/// [`DR6_RESERVED`]), `hw_dr7` the thread's breakpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserDb {
    /// The new virtual DR6 (what ptrace reads, XORed with [`DR6_RESERVED`]): BS as the CPU
    /// reported it, and B0–B3 of the thread's breakpoints that were hit.
    pub virtual_dr6: u64,
    /// Set RF in the frame: an execute breakpoint was hit.
    pub set_rf: bool,
    /// The SIGTRAP's si_code, if one is sent.
    pub si_code: Option<i32>,
}

#[inline]
pub fn user_db(dr6: u64, hw_dr7: u64) -> UserDb {
    // An INT1 (ICEBP) reports nothing in DR6; it still earns a SIGTRAP.
    let icebp = dr6 == 0;
    let mut virtual_dr6 = dr6 & DR_STEP;
    let mut rest = dr6;
    let mut set_rf = false;
    for i in 0..4 {
        let (enabled, _) = decode_dr7(hw_dr7, i);
        if dr6 & (1 << i) == 0 || !enabled {
            continue;
        }
        let exec = is_execute_slot(hw_dr7, i);
        // A single-step and an instruction breakpoint at once: the step first; the
        // breakpoint faults again after it (Linux leaves its bit for the next #DB).
        if exec && dr6 & DR_STEP != 0 {
            continue;
        }
        rest &= !(1 << i);
        virtual_dr6 |= 1 << i;
        set_rf |= exec;
    }
    let all = rest | virtual_dr6;
    let si_code = (all & (DR_STEP | DR_TRAP_BITS) != 0 || icebp).then(|| si_code_for(all));
    UserDb {
        virtual_dr6,
        set_rf,
        si_code,
    }
}

/// Linux's `get_si_code` for a #DB's DR6 (positive polarity).
#[inline]
pub fn si_code_for(dr6: u64) -> i32 {
    if dr6 & DR_STEP != 0 {
        TRAP_TRACE
    } else if dr6 & DR_TRAP_BITS != 0 {
        TRAP_HWBKPT
    } else {
        TRAP_BRKPT
    }
}

#[cfg(test)]
mod tests;
