//! Commits one fault, named by the first argument, and must die by the signal Linux sends for it
//! (entry-cases E11, E27; linux-abi §1.4, §6.5). There is no signal handler: the default action
//! kills the process, and the status a shell shows is 128 + the signal.
//!
//! | kind | what | status |
//! |---|---|---|
//! | `ud` | `ud2` (#UD) | SIGILL 132 |
//! | `gp` | `hlt` in ring 3 (#GP) | SIGSEGV 139 |
//! | `gp_cli` | `cli` with IOPL 0 (#GP) | SIGSEGV 139 |
//! | `gp_noncanon` | read of a non-canonical address (#GP) | SIGSEGV 139 |
//! | `pf_null` | write to address 0 (#PF) | SIGSEGV 139 |
//! | `pf_kernel` | read of 0xffffffff80000000 (#PF, U/S) | SIGSEGV 139 |
//! | `de` | `div` by zero (#DE) | SIGFPE 136 |
//! | `bp` | `int3` (#BP) | SIGTRAP 133 |
//! | `int_dpl0` | `int $0x81`, a DPL 0 gate (#GP) | SIGSEGV 139 |
//! | `of` | `int $4` (#OF through its DPL 3 gate) | SIGSEGV 139 |
//! | `ac` | AC set, misaligned 4-byte load (#AC) | SIGBUS 135 |
//! | `tf` | TF set by `popfq` (#DB after the next instruction) | SIGTRAP 133 |
//! | `rsp0_syscall` | RSP = 0, getpid, then a push (#PF at the top of the address space) | SIGSEGV 139 |
//! | `rsp_kernel_syscall` | RSP = 0xffff800000001000, getpid, then a push (#PF) | SIGSEGV 139 |
//! | `rsp_noncanon_syscall` | RSP = 0x8000000000001000, getpid, then a push (#SS) | SIGBUS 135 |
//!
//! The `rsp*_syscall` kinds check that the kernel never uses the user RSP (E11): the syscall must
//! return normally, and only the push in ring 3 faults. `rsp_noncanon_syscall` is not in the
//! manifest: QEMU TCG raises #GP, not #SS, for a non-canonical stack access (SIGSEGV 139 there,
//! SIGBUS 135 on hardware).
//!
//! If the process survives the fault it prints a line and exits 1; an unknown kind exits 2.
//! The `ac` kind is a probe as well: a CPU that does not check alignment at CPL 3 (QEMU TCG never
//! raises #AC) lets the load complete, and the program then prints a KTAP SKIP with the reason
//! and exits 77, the harness's "could not provoke it here" status (docs/harness.md).
//!
//! Syscalls: write, getpid, exit_group.

#![no_std]
#![no_main]

use core::arch::asm;

use kentry_user::cpu::rflags;
use kentry_user::fmt::Bytes;
use kentry_user::rt::Args;
use kentry_user::sys::nr;
use kentry_user::{entry, println};

entry!(main);

/// The fault kinds, each with a short description.
const KINDS: &[(&str, &str)] = &[
    ("ud", "ud2"),
    ("gp", "hlt in ring 3"),
    ("gp_cli", "cli in ring 3 with IOPL 0"),
    ("gp_noncanon", "read of non-canonical 0x8000000000000000"),
    ("pf_null", "write to address 0"),
    ("pf_kernel", "read of 0xffffffff80000000"),
    ("de", "div by zero"),
    ("bp", "int3"),
    ("int_dpl0", "int $0x81"),
    ("of", "int $4"),
    ("ac", "misaligned load with AC set"),
    ("tf", "TF set by popfq"),
    ("rsp0_syscall", "getpid with rsp = 0, then push"),
    (
        "rsp_kernel_syscall",
        "getpid with rsp = 0xffff800000001000, then push",
    ),
    (
        "rsp_noncanon_syscall",
        "getpid with rsp = 0x8000000000001000, then push",
    ),
];

/// An 8-byte-aligned buffer for the misaligned load.
#[repr(align(8))]
struct Aligned([u8; 16]);

static AC_BUF: Aligned = Aligned([0; 16]);

/// `getpid` with RSP = `bad_rsp`, then a `push` on it; RSP is restored if the push survives.
fn syscall_with_rsp(bad_rsp: u64) {
    // SAFETY: the real RSP is kept in a register (not RCX/R11, which `syscall` clobbers) and put
    // back before the block ends. No memory is accessed through `bad_rsp` except the one push,
    // which must fault; if it does not, it wrote only to the 8 bytes below `bad_rsp`, an address
    // Rust never uses (0, the kernel half, or non-canonical).
    unsafe {
        asm!(
            "mov {save}, rsp",
            "mov rsp, {bad}",
            "mov eax, {getpid}",
            "syscall",
            "push rax",
            "mov rsp, {save}",
            bad = in(reg) bad_rsp,
            save = out(reg) _,
            getpid = const nr::GETPID,
            out("rax") _,
            out("rcx") _,
            out("r11") _,
        );
    }
}

/// Commits fault `kind`. Returns if the process survived it, `false` for an unknown kind.
fn commit(kind: &[u8]) -> bool {
    // SAFETY: each arm executes one faulting instruction that, on Linux and on kentry, ends the
    // process by a signal. Should the kernel resume the process instead, the arms still leave the
    // machine state as Rust expects: declared clobbers only, flags that were set (AC, TF) cleared
    // again, and no write to memory Rust uses.
    unsafe {
        match kind {
            b"ud" => asm!("ud2", options(nomem, nostack)),
            b"gp" => asm!("hlt", options(nomem, nostack)),
            b"gp_cli" => asm!("cli", options(nomem, nostack)),
            b"gp_noncanon" => {
                asm!("mov {v}, qword ptr [{p}]", p = in(reg) 0x8000_0000_0000_0000u64,
                     v = out(reg) _, options(nostack, readonly))
            }
            b"pf_null" => {
                asm!("mov dword ptr [{p}], 0x2a", p = in(reg) 0u64, options(nostack))
            }
            b"pf_kernel" => {
                asm!("mov {v}, qword ptr [{p}]", p = in(reg) 0xffff_ffff_8000_0000u64,
                     v = out(reg) _, options(nostack, readonly))
            }
            b"de" => {
                asm!("div {d}", d = in(reg) 0u64, inout("rax") 1u64 => _, inout("rdx") 0u64 => _,
                     options(nomem, nostack))
            }
            b"bp" => asm!("int3", options(nomem, nostack)),
            b"int_dpl0" => asm!("int 0x81", options(nomem, nostack)),
            b"of" => asm!("int 4", options(nomem, nostack)),
            b"ac" => {
                asm!(
                    "pushfq",
                    "or qword ptr [rsp], {ac}",
                    "popfq",
                    "mov {v:e}, dword ptr [{p} + 1]",
                    "pushfq",
                    "and qword ptr [rsp], {not_ac}",
                    "popfq",
                    p = in(reg) AC_BUF.0.as_ptr(),
                    v = out(reg) _,
                    ac = const rflags::AC,
                    not_ac = const !(rflags::AC as i64),
                )
            }
            b"tf" => {
                asm!(
                    "pushfq",
                    "or qword ptr [rsp], {tf}",
                    "popfq",
                    "nop",
                    "pushfq",
                    "and qword ptr [rsp], {not_tf}",
                    "popfq",
                    tf = const rflags::TF,
                    not_tf = const !(rflags::TF as i64),
                )
            }
            b"rsp0_syscall" => syscall_with_rsp(0),
            b"rsp_kernel_syscall" => syscall_with_rsp(0xffff_8000_0000_1000),
            b"rsp_noncanon_syscall" => syscall_with_rsp(0x8000_0000_0000_1000),
            _ => return false,
        }
    }
    true
}

fn usage() -> i32 {
    println!("usage: fault <kind>; kinds:");
    for (kind, what) in KINDS {
        println!("  {kind:<22} {what}");
    }
    2
}

fn main(args: Args) -> i32 {
    let Some(kind) = args.get(1) else {
        return usage();
    };
    println!("# fault {}: {}", Bytes(kind), describe(kind));
    if !commit(kind) {
        println!("# unknown fault kind {}", Bytes(kind));
        return usage();
    }
    if kind == b"ac" {
        println!("KTAP version 1");
        println!("1..1");
        println!(
            "ok 1 fault_ac # SKIP no #AC raised: this CPU does not check alignment at CPL 3 \
             (QEMU TCG does not emulate #AC)"
        );
        return kentry_user::ktap::SKIP_STATUS;
    }
    println!("# fault {}: survived", Bytes(kind));
    1
}

fn describe(kind: &[u8]) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| k.as_bytes() == kind)
        .map_or("?", |(_, what)| what)
}
