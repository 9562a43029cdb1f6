//! SYSCALL register contract (linux-abi.md §2.4; entry-cases E02, E11, E38).
//!
//! 1. Thousands of `syscall`s (getpid, an invalid number, sched_yield) with every GPR holding a
//!    distinct pattern. After each: every register other than RAX, RCX and R11 is unchanged, RSP
//!    included; RAX is the expected result; RCX is the address after the `syscall` instruction;
//!    R11 is RFLAGS as they were at the `syscall` (taken with `pushfq` just before it); RFLAGS
//!    after the call equal RFLAGS before it.
//! 2. getpid with hostile user RSP values (0, misaligned, TASK_SIZE_MAX, non-canonical, kernel
//!    half, top of the address space) returns the pid and leaves RSP as it was (E11); RSP is
//!    restored right after.
//! 3. CS = 0x33 and SS = 0x2b after all of that; DS, ES, FS and GS are 0 as at exec.
//! 4. A pure register loop, no syscalls, ~2 million iterations, with the 14 GPRs other than RSP
//!    and the loop counter (RAX) holding patterns, DF and AC set, checked every iteration. Timer interrupts land
//!    in it on kentry: the interrupt return must restore every register and flag.
//!
//! Syscalls: getpid, sched_yield, 1000 (invalid), write, exit_group.

#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

use kentry_user::cpu::{self, rflags, sel};
use kentry_user::ktap::Ktap;
use kentry_user::sys::{self, errno, nr};
use kentry_user::{diag, entry};

entry!(main);

/// Patterns for rbx, rbp, r12, r13, r14, r15, rdi, rsi, rdx, r8, r9, r10 (syscall loop) and then
/// rcx, r11 (register loop only). Distinct in every byte, none a plausible address.
static PATTERNS: [u64; 14] = [
    0x0b0b_1111_b0b0_0101, // rbx
    0x0b0b_2222_b0b0_0202, // rbp
    0x1212_3333_2121_0303, // r12
    0x1313_4444_3131_0404, // r13
    0x1414_5555_4141_0505, // r14
    0x1515_6666_5151_0606, // r15
    0xd1d1_7777_1d1d_0707, // rdi
    0x5151_8888_1515_0808, // rsi
    0xd0d0_9999_0d0d_0909, // rdx
    0x0808_aaaa_8080_0a0a, // r8
    0x0909_bbbb_9090_0b0b, // r9
    0x1010_cccc_0101_0c0c, // r10
    0xc0c0_dddd_0c0c_0d0d, // rcx
    0x1111_eeee_1111_0e0e, // r11
];

const REG_NAMES: [&str; 14] = [
    "rbx", "rbp", "r12", "r13", "r14", "r15", "rdi", "rsi", "rdx", "r8", "r9", "r10", "rcx", "r11",
];

/// Shared between Rust and the assembly loops; offsets are hard-coded in the assembly.
#[repr(C)]
#[derive(Default)]
struct Ctx {
    /// 0: syscall number (syscall loop).
    nr: u64,
    /// 8: iterations left.
    iters: u64,
    /// 16: RSP at the top of the current iteration (syscall loop).
    loop_rsp: u64,
    /// 24: nonzero once a check failed; the dump below is then valid.
    failed: u64,
    /// 32..144: rbx, rbp, r12, r13, r14, r15, rdi, rsi, rdx, r8, r9, r10, rcx, r11 as found.
    got: [u64; 14],
    /// 144: RAX as found (syscall loop: the result; register loop: the counter).
    got_rax: u64,
    /// 152: RFLAGS pushed right after the syscall / in the register loop.
    flags_after: u64,
    /// 160: RFLAGS pushed right before the syscall.
    flags_before: u64,
    /// 168: RSP after the dump (the loop-level RSP when it was preserved).
    got_rsp: u64,
    /// 176: address of the instruction after `syscall`.
    rip_after: u64,
}

/// Runs `ctx.iters` syscalls of number `ctx.nr` with patterns in all GPRs, checking each.
/// Returns with `ctx.failed != 0` and the dump filled in at the first mismatch; `ctx.iters` is then
/// the number of iterations that were left.
///
/// Frame during the loop: `[rsp]` = ctx, then the six callee-saved registers. Around the
/// `syscall`: `[rsp]` = RFLAGS after, `[rsp+8]` = RFLAGS before, `[rsp+16]` = ctx.
/// Between the `pushfq` before the `syscall` and the `syscall` only `mov`s run, so the pushed
/// RFLAGS are exactly RFLAGS at the `syscall`. The expected RAX is checked by the caller (it is in
/// the dump whenever it differs) — see `check_syscall`.
#[unsafe(naked)]
unsafe extern "sysv64" fn syscall_loop(ctx: *mut Ctx, expect_rax: u64) {
    naked_asm!(
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "push rsi", // expected RAX at [rsp+8] in the loop
        "push rdi", // ctx at [rsp]
        "2:",
        "mov rax, [rsp]",
        "cmp qword ptr [rax + 8], 0",
        "je 9f",
        "dec qword ptr [rax + 8]",
        "mov [rax + 16], rsp",
        "pushfq",
        "mov rbx, [rip + {p}]",
        "mov rbp, [rip + {p} + 8]",
        "mov r12, [rip + {p} + 16]",
        "mov r13, [rip + {p} + 24]",
        "mov r14, [rip + {p} + 32]",
        "mov r15, [rip + {p} + 40]",
        "mov rdi, [rip + {p} + 48]",
        "mov rsi, [rip + {p} + 56]",
        "mov rdx, [rip + {p} + 64]",
        "mov r8,  [rip + {p} + 72]",
        "mov r9,  [rip + {p} + 80]",
        "mov r10, [rip + {p} + 88]",
        "mov rax, [rsp + 8]",
        "mov rax, [rax]",
        "syscall",
        "3:",
        "pushfq",
        // Preserved registers, compared with the table.
        "cmp rbx, [rip + {p}]",
        "jne 8f",
        "cmp rbp, [rip + {p} + 8]",
        "jne 8f",
        "cmp r12, [rip + {p} + 16]",
        "jne 8f",
        "cmp r13, [rip + {p} + 24]",
        "jne 8f",
        "cmp r14, [rip + {p} + 32]",
        "jne 8f",
        "cmp r15, [rip + {p} + 40]",
        "jne 8f",
        "cmp rdi, [rip + {p} + 48]",
        "jne 8f",
        "cmp rsi, [rip + {p} + 56]",
        "jne 8f",
        "cmp rdx, [rip + {p} + 64]",
        "jne 8f",
        "cmp r8,  [rip + {p} + 72]",
        "jne 8f",
        "cmp r9,  [rip + {p} + 80]",
        "jne 8f",
        "cmp r10, [rip + {p} + 88]",
        "jne 8f",
        // From here rdi and rsi (checked) are scratch; 7: puts their patterns back.
        "cmp rax, [rsp + 24]", // expected RAX
        "jne 7f",
        "lea rdi, [rip + 3b]",
        "cmp rcx, rdi",
        "jne 7f",
        "cmp r11, [rsp + 8]", // R11 == RFLAGS before
        "jne 7f",
        "mov rdi, [rsp]",
        "cmp rdi, [rsp + 8]", // RFLAGS after == before
        "jne 7f",
        "lea rdi, [rsp + 16]",
        "mov rsi, [rsp + 16]",
        "cmp rdi, [rsi + 16]", // RSP == loop RSP - 16
        "jne 7f",
        "add rsp, 16",
        "jmp 2b",
        "7:",
        "mov rdi, [rip + {p} + 48]",
        "mov rsi, [rip + {p} + 56]",
        "8:",
        "push rax", // [rsp] = rax, [rsp+8] = after, [rsp+16] = before, [rsp+24] = ctx
        "mov rax, [rsp + 24]",
        "mov [rax + 32], rbx",
        "mov [rax + 40], rbp",
        "mov [rax + 48], r12",
        "mov [rax + 56], r13",
        "mov [rax + 64], r14",
        "mov [rax + 72], r15",
        "mov [rax + 80], rdi",
        "mov [rax + 88], rsi",
        "mov [rax + 96], rdx",
        "mov [rax + 104], r8",
        "mov [rax + 112], r9",
        "mov [rax + 120], r10",
        "mov [rax + 128], rcx",
        "mov [rax + 136], r11",
        "pop qword ptr [rax + 144]",
        "pop qword ptr [rax + 152]",
        "pop qword ptr [rax + 160]",
        "mov [rax + 168], rsp",
        "lea rcx, [rip + 3b]",
        "mov [rax + 176], rcx",
        "mov qword ptr [rax + 24], 1",
        "9:",
        "add rsp, 16",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "ret",
        p = sym PATTERNS,
    )
}

/// Spins `ctx.iters` times with RAX as the counter and the 14 other GPRs (RSP aside) holding
/// [`PATTERNS`], DF and AC set, checking all of them every iteration. At the first mismatch it
/// fills in the dump (`got`, `got_rax` = iterations left, `flags_after`) and sets `failed`.
///
/// No memory access in the loop is misaligned, so AC = 1 cannot fault; DF is cleared before
/// returning, as the ABI requires.
#[unsafe(naked)]
unsafe extern "sysv64" fn register_loop(ctx: *mut Ctx) {
    naked_asm!(
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "push rdi", // ctx at [rsp] (after the pushfq/popfq pair below)
        "pushfq",
        "or qword ptr [rsp], {df_ac}",
        "popfq",
        "mov rax, [rdi + 8]",
        "test rax, rax",
        "jz 9f",
        "mov rbx, [rip + {p}]",
        "mov rbp, [rip + {p} + 8]",
        "mov r12, [rip + {p} + 16]",
        "mov r13, [rip + {p} + 24]",
        "mov r14, [rip + {p} + 32]",
        "mov r15, [rip + {p} + 40]",
        "mov rdi, [rip + {p} + 48]",
        "mov rsi, [rip + {p} + 56]",
        "mov rdx, [rip + {p} + 64]",
        "mov r8,  [rip + {p} + 72]",
        "mov r9,  [rip + {p} + 80]",
        "mov r10, [rip + {p} + 88]",
        "mov rcx, [rip + {p} + 96]",
        "mov r11, [rip + {p} + 104]",
        "2:",
        "cmp rbx, [rip + {p}]",
        "jne 8f",
        "cmp rbp, [rip + {p} + 8]",
        "jne 8f",
        "cmp r12, [rip + {p} + 16]",
        "jne 8f",
        "cmp r13, [rip + {p} + 24]",
        "jne 8f",
        "cmp r14, [rip + {p} + 32]",
        "jne 8f",
        "cmp r15, [rip + {p} + 40]",
        "jne 8f",
        "cmp rdi, [rip + {p} + 48]",
        "jne 8f",
        "cmp rsi, [rip + {p} + 56]",
        "jne 8f",
        "cmp rdx, [rip + {p} + 64]",
        "jne 8f",
        "cmp r8,  [rip + {p} + 72]",
        "jne 8f",
        "cmp r9,  [rip + {p} + 80]",
        "jne 8f",
        "cmp r10, [rip + {p} + 88]",
        "jne 8f",
        "cmp rcx, [rip + {p} + 96]",
        "jne 8f",
        "cmp r11, [rip + {p} + 104]",
        "jne 8f",
        "pushfq",
        "test qword ptr [rsp], {df}",
        "jz 7f",
        "test qword ptr [rsp], {ac}",
        "jz 7f",
        "add rsp, 8",
        "dec rax",
        "jnz 2b",
        "jmp 9f",
        "7:",
        "add rsp, 8",
        "8:",
        "pushfq",
        "push rax", // [rsp] = rax, [rsp+8] = rflags, [rsp+16] = ctx
        "mov rax, [rsp + 16]",
        "mov [rax + 32], rbx",
        "mov [rax + 40], rbp",
        "mov [rax + 48], r12",
        "mov [rax + 56], r13",
        "mov [rax + 64], r14",
        "mov [rax + 72], r15",
        "mov [rax + 80], rdi",
        "mov [rax + 88], rsi",
        "mov [rax + 96], rdx",
        "mov [rax + 104], r8",
        "mov [rax + 112], r9",
        "mov [rax + 120], r10",
        "mov [rax + 128], rcx",
        "mov [rax + 136], r11",
        "pop qword ptr [rax + 144]",
        "pop qword ptr [rax + 152]",
        "mov [rax + 168], rsp",
        "mov qword ptr [rax + 24], 1",
        "9:",
        "pushfq",
        "and qword ptr [rsp], {not_df_ac}",
        "popfq",
        "pop rdi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "ret",
        p = sym PATTERNS,
        df_ac = const rflags::DF | rflags::AC,
        df = const rflags::DF,
        ac = const rflags::AC,
        not_df_ac = const !((rflags::DF | rflags::AC) as i64),
    )
}

/// Runs [`syscall_loop`] for `count` calls of `number`, expecting RAX == `expect` each time.
fn check_syscall(t: &mut Ktap, name: &str, number: usize, expect: isize, count: u64) {
    let mut ctx = Ctx {
        nr: number as u64,
        iters: count,
        ..Ctx::default()
    };
    // SAFETY: `syscall_loop` follows the SysV ABI (it saves and restores the callee-saved
    // registers and leaves DF clear), writes only into `ctx`, and issues only `number`, which the
    // callers choose among getpid, sched_yield and an invalid number: none touches memory.
    unsafe { syscall_loop(&raw mut ctx, expect as u64) };
    if ctx.failed != 0 {
        let done = count - ctx.iters;
        diag!("{name}: mismatch after {done} of {count} syscalls");
        for (i, (&got, &want)) in ctx.got.iter().zip(PATTERNS.iter()).enumerate().take(12) {
            if got != want {
                diag!("  {} = {:#018x}, want {:#018x}", REG_NAMES[i], got, want);
            }
        }
        if ctx.got_rax != expect as u64 {
            diag!("  rax = {:#x}, want {:#x}", ctx.got_rax, expect as u64);
        }
        if ctx.got[12] != ctx.rip_after {
            diag!(
                "  rcx = {:#x}, want {:#x} (after the syscall)",
                ctx.got[12],
                ctx.rip_after
            );
        }
        if ctx.got[13] != ctx.flags_before {
            diag!(
                "  r11 = {:#x}, want RFLAGS {:#x}",
                ctx.got[13],
                ctx.flags_before
            );
        }
        if ctx.flags_after != ctx.flags_before {
            diag!(
                "  RFLAGS after = {:#x}, before = {:#x}",
                ctx.flags_after,
                ctx.flags_before
            );
        }
        if ctx.got_rsp != ctx.loop_rsp {
            diag!("  rsp = {:#x}, want {:#x}", ctx.got_rsp, ctx.loop_rsp);
        }
    }
    t.result(ctx.failed == 0, format_args!("{name}_preserves_registers"));
}

/// getpid with RSP = `bad`; returns RAX and RSP as the syscall left them. RSP is restored
/// before the block ends.
fn getpid_with_rsp(bad: u64) -> (u64, u64) {
    let (rax, rsp_after): (u64, u64);
    // SAFETY: the real RSP is kept in a register `syscall` preserves and put back right after the
    // call; nothing touches memory through `bad` in ring 3 (the kernel must not either: E11).
    // RCX and R11 (clobbered by `syscall`) are declared.
    unsafe {
        asm!(
            "mov {save}, rsp",
            "mov rsp, {bad}",
            "syscall",
            "mov {after}, rsp",
            "mov rsp, {save}",
            bad = in(reg) bad,
            save = out(reg) _,
            after = out(reg) rsp_after,
            inlateout("rax") nr::GETPID as u64 => rax,
            out("rcx") _,
            out("r11") _,
        );
    }
    (rax, rsp_after)
}

/// User RSP values the kernel must neither trust nor touch (entry-cases E11).
const HOSTILE_RSP: &[(u64, &str)] = &[
    (0, "zero"),
    (0x7, "null_page_misaligned"),
    (0x7fff_ffff_f000, "task_size_max"),
    (0x8000_0000_0000_1000, "noncanonical"),
    (0xffff_8000_0000_1000, "kernel_half"),
    (0xffff_ffff_ffff_fff8, "top_of_address_space"),
];

const SYSCALLS_EACH: u64 = 5_000;
const SPIN_ITERS: u64 = 2_000_000;
const INVALID_NR: usize = 1000;

fn main(args: kentry_user::rt::Args) -> i32 {
    // `syscall_regs loop`: only the register loop, for a kernel test that lands NMIs in it.
    if args.get(1) == Some(b"loop".as_slice()) {
        let mut t = Ktap::new(1);
        register_loop_test(&mut t);
        return t.finish();
    }
    // `syscall_regs loop-gs user|kernel`: the register loop with a user-chosen GS base (a user
    // address by arch_prctl, or a kernel-half address by WRGSBASE), for the NMI flood: a
    // paranoid entry that guessed which GS is live from the base's sign would take the
    // kernel-half one for the kernel's. The base must survive the loop.
    if args.get(1) == Some(b"loop-gs".as_slice()) {
        return loop_with_gs_base(args.get(2));
    }
    let mut t = Ktap::new(7 + HOSTILE_RSP.len() as u32);
    let pid = sys::getpid();
    diag!("{SYSCALLS_EACH} syscalls per case, all GPRs patterned");

    check_syscall(&mut t, "getpid", nr::GETPID, pid, SYSCALLS_EACH);
    check_syscall(&mut t, "enosys", INVALID_NR, -errno::ENOSYS, SYSCALLS_EACH);
    check_syscall(&mut t, "sched_yield", nr::SCHED_YIELD, 0, SYSCALLS_EACH);

    for &(rsp, what) in HOSTILE_RSP {
        let (rax, after) = getpid_with_rsp(rsp);
        if rax != pid as u64 || after != rsp {
            diag!("rsp {rsp:#x}: getpid returned {rax:#x} (want {pid:#x}), rsp after {after:#x}");
        }
        t.result(
            rax == pid as u64 && after == rsp,
            format_args!("getpid_with_rsp_{what}"),
        );
    }

    t.eq_hex(u64::from(cpu::cs()), u64::from(sel::USER_CS), "cs_is_0x33");
    t.eq_hex(u64::from(cpu::ss()), u64::from(sel::USER_DS), "ss_is_0x2b");
    let [ds, es, fs, gs] = cpu::data_selectors();
    if [ds, es, fs, gs] != [0; 4] {
        diag!("ds={ds:#x} es={es:#x} fs={fs:#x} gs={gs:#x}");
    }
    t.result([ds, es, fs, gs] == [0; 4], "data_selectors_zero");

    register_loop_test(&mut t);
    t.finish()
}

/// The register loop: interrupts (and NMIs) land in it; every GPR and DF/AC must survive.
fn register_loop_test(t: &mut Ktap) {
    let mut ctx = Ctx {
        iters: SPIN_ITERS,
        ..Ctx::default()
    };
    // SAFETY: `register_loop` follows the SysV ABI (callee-saved registers restored, DF and AC
    // cleared before it returns) and writes only into `ctx`.
    unsafe { register_loop(&raw mut ctx) };
    let left = if ctx.failed != 0 { ctx.got_rax } else { 0 };
    diag!("register loop: {} iterations", SPIN_ITERS - left);
    if ctx.failed != 0 {
        for (i, (&got, &want)) in ctx.got.iter().zip(PATTERNS.iter()).enumerate() {
            if got != want {
                diag!("  {} = {:#018x}, want {:#018x}", REG_NAMES[i], got, want);
            }
        }
        if ctx.flags_after & (rflags::DF | rflags::AC) != rflags::DF | rflags::AC {
            diag!("  RFLAGS = {:#x}: DF or AC lost", ctx.flags_after);
        }
    }
    t.result(
        ctx.failed == 0,
        "register_loop_preserves_registers_and_flags",
    );
}

/// A kernel-half address (the direct map's start): never this program's to use, only a value.
const KERNEL_HALF_GS: u64 = 0xffff_8880_0000_0000;
static GS_TARGET: [u64; 1] = [0x6773_6261_7365];

fn loop_with_gs_base(which: Option<&[u8]>) -> i32 {
    let mut t = Ktap::new(2);
    let want = match which {
        Some(b"user") => {
            let base = GS_TARGET.as_ptr() as usize;
            // SAFETY: nothing in this program uses the GS base.
            let r = unsafe { sys::arch_prctl_set(sys::arch::SET_GS, base) };
            t.eq(r, 0, "arch_prctl_set_gs_user");
            base as u64
        }
        Some(b"kernel") => {
            if !cpu::has_fsgsbase() {
                t.skip("wrgsbase_kernel_half", "the CPU has no FSGSBASE");
                t.skip(
                    "register_loop_preserves_registers_and_flags",
                    "no GS base set",
                );
                return t.finish();
            }
            // SAFETY: nothing in this program uses the GS base (and the kernel enabled
            // FSGSBASE where the CPU has it: a #UD here would be a kernel bug).
            unsafe { cpu::wrgsbase(KERNEL_HALF_GS) };
            t.result(cpu::rdgsbase() == KERNEL_HALF_GS, "wrgsbase_kernel_half");
            KERNEL_HALF_GS
        }
        _ => {
            diag!("usage: syscall_regs loop-gs user|kernel");
            return 2;
        }
    };
    register_loop_test(&mut t);
    let got = sys::arch_prctl_get(sys::arch::GET_GS).unwrap_or(0) as u64;
    if got != want {
        diag!("GS base after the loop {got:#x}, want {want:#x}");
        return 1;
    }
    t.finish()
}
