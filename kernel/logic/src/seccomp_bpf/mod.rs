//! Seccomp filters: classic BPF programs over `struct seccomp_data`, checked as Linux checks
//! them (`bpf_check_classic` and `seccomp_check_filter`) and run by a small interpreter.
//!
//! Why an interpreter and not a JIT: a filter runs only on the syscall slow path of a thread
//! that has one (kentry's `SECCOMP` syscall-work flag); threads without a filter never reach
//! it. Linux also interprets classic seccomp filters on kernels without the BPF JIT.
//!
//! Checking rejects, with EINVAL, everything Linux rejects: an empty or too long program,
//! an opcode outside seccomp's list, a load that is not an aligned 32-bit word inside
//! `seccomp_data`, a scratch slot outside 0..16 or read before any path wrote it, a jump
//! out of the program, a division by a constant 0, a shift by a constant of 32 or more, a last
//! instruction that is not a return.
//! A checked program always terminates (jumps go forward only) and never reads outside its
//! input.

use alloc::vec::Vec;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl SockFilter {
    /// Size of `struct sock_filter` in user memory.
    pub const SIZE: usize = 8;

    /// The instruction's 8 bytes in user memory.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.code.to_le_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..8].copy_from_slice(&self.k.to_le_bytes());
        b
    }

    /// Decodes one instruction from its 8 bytes (little-endian, as in user memory).
    pub fn from_bytes(b: [u8; 8]) -> Self {
        SockFilter {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// `struct seccomp_data`: what a filter sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    /// The system call number (as `int`).
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the calling convention.
    pub arch: u32,
    /// The address after the system call instruction.
    pub instruction_pointer: u64,
    /// The six arguments.
    pub args: [u64; 6],
}

/// `sizeof(struct seccomp_data)`.
pub const SECCOMP_DATA_SIZE: u32 = 64;
/// `AUDIT_ARCH_X86_64` and `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// Longest program (`BPF_MAXINSNS`).
pub const BPF_MAXINSNS: usize = 4096;
/// Scratch memory words (`BPF_MEMWORDS`).
const BPF_MEMWORDS: u32 = 16;

impl SeccompData {
    /// The 32-bit word at byte offset `off` (a multiple of 4 below 64), as Linux's
    /// `populate_seccomp_data` lays it out: nr, arch, ip (low, high), args (low, high each).
    fn word(&self, off: u32) -> u32 {
        let i = (off / 4) as usize;
        let half = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
        match i {
            0 => self.nr as u32,
            1 => self.arch,
            2 | 3 => half(self.instruction_pointer, i == 3),
            _ => half(self.args[(i - 4) / 2], i % 2 == 1),
        }
    }
}

// Classic BPF opcode fields (linux/filter.h, linux/bpf_common.h).
const CLASS: u16 = 0x07;
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const K: u16 = 0x00;
const X: u16 = 0x08;
const A: u16 = 0x10;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;

/// A checked filter: runs with [`Filter::run`]. Kept decoded ([`Op`]): the opcode's fields
/// are taken apart once, at the check, not at every run (about 21 instructions per BPF
/// instruction run straight from `sock_filter`, about 11 decoded: `cargo xtask bench`'s
/// `getpid-seccomp`, docs/seccomp.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    ops: Vec<Op>,
    /// The program as the user gave it (before `LEN` loads are rewritten): what
    /// PTRACE_SECCOMP_GET_FILTER hands a checkpointing tracer, as Linux keeps `orig_prog`.
    orig: Vec<SockFilter>,
}

/// One checked instruction, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A = the `seccomp_data` word at this index (0..16).
    LdAbs(u8),
    LdImm(u32),
    LdMem(u8),
    LdxImm(u32),
    LdxMem(u8),
    St(u8),
    Stx(u8),
    Alu(Alu, Src),
    Neg,
    Tax,
    Txa,
    Ja(u32),
    Jump(Cond, Src, u8, u8),
    RetK(u32),
    RetA,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    And,
    Or,
    Xor,
    Lsh,
    Rsh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
}

/// An ALU or jump operand: the constant, or X.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    K(u32),
    X,
}

/// Decodes a checked instruction (only opcodes [`Filter::new`] accepted reach here).
fn decode(ins: SockFilter) -> Op {
    let op = ins.code;
    let src = if op & X != 0 { Src::X } else { Src::K(ins.k) };
    let slot = (ins.k & (BPF_MEMWORDS - 1)) as u8;
    match op & CLASS {
        LD => match op & 0xe0 {
            ABS => Op::LdAbs((ins.k / 4) as u8),
            MEM => Op::LdMem(slot),
            _ => Op::LdImm(ins.k),
        },
        LDX if op & 0xe0 == MEM => Op::LdxMem(slot),
        LDX => Op::LdxImm(ins.k),
        ST => Op::St(slot),
        STX => Op::Stx(slot),
        ALU => {
            let f = match op & 0xf0 {
                ADD => Alu::Add,
                SUB => Alu::Sub,
                MUL => Alu::Mul,
                DIV => Alu::Div,
                AND => Alu::And,
                OR => Alu::Or,
                XOR => Alu::Xor,
                LSH => Alu::Lsh,
                RSH => Alu::Rsh,
                _ => return Op::Neg,
            };
            Op::Alu(f, src)
        }
        JMP => {
            let c = match op & 0xf0 {
                JA => return Op::Ja(ins.k),
                JEQ => Cond::Eq,
                JGT => Cond::Gt,
                JGE => Cond::Ge,
                _ => Cond::Set,
            };
            Op::Jump(c, src, ins.jt, ins.jf)
        }
        RET if op & 0x18 == A => Op::RetA,
        RET => Op::RetK(ins.k),
        _ if op & 0xf8 == TXA => Op::Txa,
        _ => Op::Tax,
    }
}

/// Why a program was refused (every reason is EINVAL to the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// Empty or longer than [`BPF_MAXINSNS`].
    Length,
    /// Instruction `at` has an opcode seccomp does not allow.
    Opcode { at: usize },
    /// Instruction `at` loads outside `seccomp_data` or unaligned.
    Load { at: usize },
    /// Instruction `at` uses a scratch slot outside 0..16.
    Slot { at: usize },
    /// Instruction `at` jumps out of the program.
    Jump { at: usize },
    /// Instruction `at` divides by a constant 0.
    DivByZero { at: usize },
    /// Instruction `at` shifts by a constant of 32 or more.
    Shift { at: usize },
    /// The last instruction is not a return.
    NoReturn,
    /// Instruction `at` may read a scratch slot no path wrote before it.
    UninitSlot { at: usize },
}

impl Filter {
    /// Checks `prog` as Linux does and keeps it (with `LEN` loads made immediate loads of 64,
    /// as Linux rewrites them).
    pub fn new(prog: &[SockFilter]) -> Result<Filter, CheckError> {
        if prog.is_empty() || prog.len() > BPF_MAXINSNS {
            return Err(CheckError::Length);
        }
        let mut insns = prog.to_vec();
        for (at, ins) in insns.iter_mut().enumerate() {
            let op = ins.code;
            match op {
                // Loads from seccomp_data: aligned 32-bit words inside it.
                _ if op == LD | W | ABS => {
                    if ins.k >= SECCOMP_DATA_SIZE || ins.k % 4 != 0 {
                        return Err(CheckError::Load { at });
                    }
                }
                _ if op == LD | W | LEN => {
                    *ins = SockFilter {
                        code: LD | IMM,
                        k: SECCOMP_DATA_SIZE,
                        ..*ins
                    }
                }
                _ if op == LDX | W | LEN => {
                    *ins = SockFilter {
                        code: LDX | IMM,
                        k: SECCOMP_DATA_SIZE,
                        ..*ins
                    }
                }
                _ if op == RET | K || op == RET | A => {}
                _ if op == ALU | DIV | K => {
                    if ins.k == 0 {
                        return Err(CheckError::DivByZero { at });
                    }
                }
                _ if op == ALU | LSH | K || op == ALU | RSH | K => {
                    if ins.k >= 32 {
                        return Err(CheckError::Shift { at });
                    }
                }
                _ if [ADD, SUB, MUL, DIV, AND, OR, XOR, LSH, RSH]
                    .iter()
                    .any(|&f| op == ALU | f | K || op == ALU | f | X)
                    || op == ALU | NEG => {}
                _ if op == LD | IMM || op == LDX | W | IMM => {}
                _ if op == MISC | TAX || op == MISC | TXA => {}
                _ if op == LD | W | MEM || op == LDX | W | MEM || op == ST || op == STX => {
                    if ins.k >= BPF_MEMWORDS {
                        return Err(CheckError::Slot { at });
                    }
                }
                _ if op == JMP | JA => {
                    if ins.k as usize >= prog.len() - at - 1 {
                        return Err(CheckError::Jump { at });
                    }
                }
                _ if [JEQ, JGE, JGT, JSET]
                    .iter()
                    .any(|&f| op == JMP | f | K || op == JMP | f | X) =>
                {
                    let left = prog.len() - at - 1;
                    if ins.jt as usize >= left || ins.jf as usize >= left {
                        return Err(CheckError::Jump { at });
                    }
                }
                _ => return Err(CheckError::Opcode { at }),
            }
        }
        if insns.last().is_none_or(|l| l.code & CLASS != RET) {
            return Err(CheckError::NoReturn);
        }
        check_slots(&insns)?;
        Ok(Filter {
            ops: insns.into_iter().map(decode).collect(),
            orig: prog.to_vec(),
        })
    }

    /// The program as it was installed.
    pub fn program(&self) -> &[SockFilter] {
        &self.orig
    }

    /// How many instructions the filter has (Linux's per-path limit counts them).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the filter has no instruction (never: [`Filter::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Runs the filter on `data`; returns its 32-bit verdict.
    pub fn run(&self, data: &SeccompData) -> u32 {
        let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; BPF_MEMWORDS as usize]);
        let mut pc = 0usize;
        loop {
            // In bounds: checking proved every jump lands inside and the last op returns.
            let op = self.ops[pc];
            pc += 1;
            match op {
                Op::LdAbs(i) => a = data.word(i as u32 * 4),
                Op::LdImm(k) => a = k,
                Op::LdMem(i) => a = mem[i as usize],
                Op::LdxImm(k) => x = k,
                Op::LdxMem(i) => x = mem[i as usize],
                Op::St(i) => mem[i as usize] = a,
                Op::Stx(i) => mem[i as usize] = x,
                Op::Alu(f, src) => {
                    let v = match src {
                        Src::K(k) => k,
                        Src::X => x,
                    };
                    a = match f {
                        Alu::Add => a.wrapping_add(v),
                        Alu::Sub => a.wrapping_sub(v),
                        Alu::Mul => a.wrapping_mul(v),
                        // Division by a register holding 0 ends the program with 0 (Linux).
                        Alu::Div => match a.checked_div(v) {
                            Some(q) => q,
                            None => return 0,
                        },
                        Alu::And => a & v,
                        Alu::Or => a | v,
                        Alu::Xor => a ^ v,
                        Alu::Lsh => a.checked_shl(v).unwrap_or(0),
                        Alu::Rsh => a.checked_shr(v).unwrap_or(0),
                    }
                }
                Op::Neg => a = a.wrapping_neg(),
                Op::Tax => x = a,
                Op::Txa => a = x,
                Op::Ja(k) => pc += k as usize,
                Op::Jump(c, src, jt, jf) => {
                    let v = match src {
                        Src::K(k) => k,
                        Src::X => x,
                    };
                    let taken = match c {
                        Cond::Eq => a == v,
                        Cond::Gt => a > v,
                        Cond::Ge => a >= v,
                        Cond::Set => a & v != 0,
                    };
                    pc += if taken { jt } else { jf } as usize;
                }
                Op::RetK(k) => return k,
                Op::RetA => return a,
            }
        }
    }
}

/// Linux's `check_load_and_stores`: along every path, a scratch slot is written before it is
/// read. A forward pass keeps, per instruction, the slots written on every path to it.
fn check_slots(insns: &[SockFilter]) -> Result<(), CheckError> {
    let n = insns.len();
    let mut written: Vec<u16> = alloc::vec![u16::MAX; n];
    written[0] = 0;
    for at in 0..n {
        let ins = insns[at];
        let mut w = written[at];
        let op = ins.code;
        if op == LD | W | MEM || op == LDX | W | MEM {
            if w & (1 << ins.k) == 0 {
                return Err(CheckError::UninitSlot { at });
            }
        } else if op == ST || op == STX {
            w |= 1 << ins.k;
        }
        let mut flow = |to: usize| {
            if to < n {
                written[to] &= w;
            }
        };
        match op & CLASS {
            RET => {}
            JMP if op == JMP | JA => flow(at + 1 + ins.k as usize),
            JMP => {
                flow(at + 1 + ins.jt as usize);
                flow(at + 1 + ins.jf as usize);
            }
            _ => flow(at + 1),
        }
    }
    Ok(())
}

/// Seccomp return actions (`SECCOMP_RET_*`, the top 16 bits of a verdict).
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
    /// The action part of a verdict.
    pub const ACTION_FULL: u32 = 0xffff_0000;
    /// The data part.
    pub const DATA: u32 = 0x0000_ffff;
}

/// Whether `action` (a verdict's top 16 bits) is one Linux knows (`SECCOMP_GET_ACTION_AVAIL`).
pub fn action_known(action: u32) -> bool {
    use ret::*;
    matches!(
        action,
        KILL_PROCESS | KILL_THREAD | TRAP | ERRNO | USER_NOTIF | TRACE | LOG | ALLOW
    )
}

/// Runs every filter of a thread's chain (newest first, as Linux walks it) and keeps the
/// verdict of highest precedence: the lowest action taken as a signed number (KILL_PROCESS
/// first, ALLOW last); among equal actions the first seen.
pub fn run_chain<'a>(chain: impl IntoIterator<Item = &'a Filter>, data: &SeccompData) -> u32 {
    let mut verdict = ret::ALLOW;
    for f in chain {
        let v = f.run(data);
        if ((v & ret::ACTION_FULL) as i32) < ((verdict & ret::ACTION_FULL) as i32) {
            verdict = v;
        }
    }
    verdict
}

/// The position in `chain` of the filter whose verdict [`run_chain`] kept, given the action
/// it decided (Linux's `match`: the filter USER_NOTIF asks for a listener and whose
/// SECCOMP_FILTER_FLAG_LOG counts). Run again only for the actions that need it, so that the
/// ALLOW path pays nothing: the first filter returning that action, as run_chain keeps the
/// first among equals.
pub fn matching_filter<'a>(
    chain: impl IntoIterator<Item = &'a Filter>,
    data: &SeccompData,
    action: u32,
) -> Option<usize> {
    chain
        .into_iter()
        .position(|f| f.run(data) & ret::ACTION_FULL == action & ret::ACTION_FULL)
}

#[cfg(test)]
mod tests;
