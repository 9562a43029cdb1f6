//! Hardware breakpoints in the kernel (x86/hwbp.rs, x86/debugreg.rs):
//! - `hwbp_refuses_*`: the in-kernel API refuses each region no #DB may come from, by name
//!   (each has a negative run, `kentry.break=hwbp_<region>`, in which it must fail);
//! - `hwbp_kernel_watchpoint`: a write watchpoint on ordinary kernel data is accepted, fires
//!   at the write (a kernel-mode #DB, counted as the breakpoint's hit) and is survived;
//! - `kernel_db_stray_survived`: a single-step trap in kernel code (TF set by `popfq`), a #DB
//!   nothing explains, is reported and survived, with TF cleared;
//! - `debugreg_ptrace_api`: the API ptrace calls, on the running task: what it refuses, what
//!   reads back, and that the CPU holds the new values before the task runs on;
//! - `debugreg_context_switch`: the switch loads a task's breakpoints (set while it was
//!   off-CPU too) and takes them away for a task without any.

use super::{Ctx, Outcome};
use crate::x86::debugreg::{STRAY_KERNEL_DB, ptrace_get_debugreg, ptrace_set_debugreg};
use crate::x86::hwbp::{self, HITS, HwbpKind, Refusal};
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

/// Tries a breakpoint at `addr` and wants `want` for an answer. A breakpoint the API
/// accepts is disarmed at once (interrupts stay off meanwhile, so nothing but this test runs
/// while it is armed).
fn refused(addr: u64, len: u64, kind: HwbpKind, want: Refusal) -> Outcome {
    let got = x86_64::instructions::interrupts::without_interrupts(|| {
        hwbp::install(addr, len, kind).map(drop)
    });
    crate::kprint!(
        "# hwbp: {kind:?} breakpoint, {len} bytes at {addr:#x} ({}): {got:?}\n",
        want.name()
    );
    match got {
        Err(r) if r == want => Outcome::Pass,
        Err(r) => Outcome::Fail(format!("refused as {}, not as {}", r.name(), want.name())),
        Ok(()) => Outcome::Fail(format!("a breakpoint on the {} was accepted", want.name())),
    }
}

unsafe extern "C" {
    static __kentry_text_start: u8;
}

pub fn refuses_entry_text(_: &Ctx) -> Outcome {
    // The first instruction of the entry stubs: a #DB there would come before any stack
    // switch or swapgs.
    let at = core::ptr::addr_of!(__kentry_text_start) as u64;
    refused(at, 1, HwbpKind::Execute, Refusal::EntryText)
}

pub fn refuses_percpu_entry_data(_: &Ctx) -> Outcome {
    let entry = &crate::percpu::this_cpu().entry as *const _ as u64;
    refused(entry, 8, HwbpKind::Write, Refusal::PerCpuEntryData)
}

pub fn refuses_gdt(_: &Ctx) -> Outcome {
    let tables = crate::percpu::this_cpu().tables.get();
    // SAFETY: only the address is taken.
    let gdt = unsafe { core::ptr::addr_of!((*tables).gdt) } as u64;
    refused(gdt + 8, 8, HwbpKind::ReadWrite, Refusal::Gdt)
}

pub fn refuses_idt(_: &Ctx) -> Outcome {
    let mut d = [0u8; 10];
    // SAFETY: SIDT stores 10 bytes into the buffer.
    unsafe { core::arch::asm!("sidt [{}]", in(reg) d.as_mut_ptr(), options(nostack)) };
    let base = u64::from_le_bytes(d[2..10].try_into().unwrap_or([0; 8]));
    // The #DB gate itself (vector 1, 16 bytes a gate).
    refused(base + 16, 8, HwbpKind::Write, Refusal::Idt)
}

pub fn refuses_tss(_: &Ctx) -> Outcome {
    let tables = crate::percpu::this_cpu().tables.get();
    // SAFETY: only the address is taken.
    let tss = unsafe { core::ptr::addr_of!((*tables).tss) } as u64;
    // RSP0, at offset 4 (4-byte aligned: a 4-byte watchpoint).
    refused(tss + 4, 4, HwbpKind::Write, Refusal::Tss)
}

pub fn refuses_ist_stack(_: &Ctx) -> Outcome {
    // SAFETY: this CPU's IST stack records are written once at its setup.
    let ist = unsafe { &*crate::percpu::this_cpu().ist_stacks.get() };
    let Some(db) = ist.iter().flatten().find(|s| s.name.starts_with("#DB")) else {
        return Outcome::Fail("this CPU has no #DB IST stack".into());
    };
    // Where the CPU pushes the #DB frame: the top quadword.
    refused(db.top - 8, 8, HwbpKind::Write, Refusal::IstStack)
}

pub fn refuses_task_stack(_: &Ctx) -> Outcome {
    let bottom = crate::task::current().kstack.bottom;
    // The running task's stack, its lowest quadword (unused by this test: the watchpoint
    // would not fire in the negative run either, where it is accepted and disarmed at once).
    refused(bottom, 8, HwbpKind::Write, Refusal::TaskStack)
}

/// Ordinary kernel data, watched by `hwbp_kernel_watchpoint`.
static WATCHED: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn write_watched(v: u64) {
    WATCHED.store(v, Ordering::SeqCst);
}

pub fn kernel_watchpoint(_: &Ctx) -> Outcome {
    let addr = WATCHED.as_ptr() as u64;
    let (hits0, stray0) = (
        HITS.load(Ordering::SeqCst),
        STRAY_KERNEL_DB.load(Ordering::SeqCst),
    );
    let bp = match hwbp::install(addr, 8, HwbpKind::Write) {
        Ok(bp) => bp,
        Err(r) => return Outcome::Fail(format!("refused as {}", r.name())),
    };
    write_watched(1);
    write_watched(2);
    let armed_hits = HITS.load(Ordering::SeqCst) - hits0;
    drop(bp);
    write_watched(3);
    let hits = HITS.load(Ordering::SeqCst) - hits0;
    let stray = STRAY_KERNEL_DB.load(Ordering::SeqCst) - stray0;
    crate::kprint!(
        "# hwbp: write watchpoint on {addr:#x}: {armed_hits} #DB for 2 writes while armed, {hits} in all, {stray} unexplained\n"
    );
    check!(armed_hits == 2, "{armed_hits} #DB for 2 watched writes");
    check!(hits == 2, "the watchpoint fired after it was dropped");
    check!(
        stray == 0,
        "{stray} kernel-mode #DB the handler did not explain"
    );
    check!(
        WATCHED.load(Ordering::SeqCst) == 3,
        "the watched writes did not all land"
    );
    Outcome::Pass
}

pub fn kernel_db_stray_survived(_: &Ctx) -> Outcome {
    let stray0 = STRAY_KERNEL_DB.load(Ordering::SeqCst);
    let flags_after: u64;
    // SAFETY: TF set by popfq traps after the next instruction (a nop); the kernel-mode #DB
    // handler clears TF in the frame it returns to, so the pushfq sees it clear. The asm
    // pushes and pops its own stack slots and changes no register but `f` and the flags.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "orq $0x100, (%rsp)",
            "popfq",
            "nop",
            "pushfq",
            "popq {f}",
            f = out(reg) flags_after,
            options(att_syntax)
        );
    }
    let stray = STRAY_KERNEL_DB.load(Ordering::SeqCst) - stray0;
    // Expected here: not the test harness's business (it fails a test with a stray #DB).
    STRAY_KERNEL_DB.fetch_sub(stray.min(1), Ordering::SeqCst);
    crate::kprint!(
        "# kernel single-step: {stray} kernel-mode #DB reported, RFLAGS after it {flags_after:#x}\n"
    );
    check!(
        stray == 1,
        "{stray} kernel-mode #DB reported for one single-step trap"
    );
    check!(
        flags_after & 0x100 == 0,
        "TF still set after the #DB: the handler did not clear it"
    );
    Outcome::Pass
}

fn read_dr(n: u8) -> u64 {
    let v: u64;
    // SAFETY: reading a debug register at CPL 0 has no side effect.
    unsafe {
        match n {
            0 => core::arch::asm!("mov {}, dr0", out(reg) v, options(nostack, nomem)),
            _ => core::arch::asm!("mov {}, dr7", out(reg) v, options(nostack, nomem)),
        }
    }
    v
}

pub fn ptrace_api(_: &Ctx) -> Outcome {
    const EINVAL: i64 = -22;
    const EIO: i64 = -5;
    let t = crate::task::current();
    let user = 0x7000_0000_1000u64;
    let refusals = [
        (4, 0, EIO),
        (5, 0, EIO),
        (8, 0, EIO),
        (0, 0x7fff_ffff_f000, EINVAL),
        (0, 0xffff_8000_0000_0000, EINVAL),
    ];
    for (n, v, want) in refusals {
        let got = ptrace_set_debugreg(t, n, v);
        check!(
            got == Err(want),
            "u_debugreg[{n}] = {v:#x}: {got:?}, not Err({want})"
        );
    }
    check!(
        ptrace_set_debugreg(t, 0, user + 4).is_ok(),
        "DR0 {:#x} refused",
        user + 4
    );
    // 8 bytes, write, enabled: DR0 must be 8-aligned.
    let dr7 = 1 | 0b1001 << 16;
    let got = ptrace_set_debugreg(t, 7, dr7);
    check!(
        got == Err(EINVAL),
        "DR7 {dr7:#x} with DR0 unaligned: {got:?}"
    );
    check!(
        ptrace_set_debugreg(t, 0, user).is_ok(),
        "DR0 {user:#x} refused"
    );
    check!(
        ptrace_set_debugreg(t, 7, dr7).is_ok(),
        "DR7 {dr7:#x} refused"
    );
    let (cpu_dr0, cpu_dr7) = (read_dr(0), read_dr(7));
    let back = [0, 6, 7].map(|n| ptrace_get_debugreg(t, n));
    // Off again: the kernel task must not keep a breakpoint.
    let off = ptrace_set_debugreg(t, 7, 0);
    let cpu_dr7_off = read_dr(7);
    crate::kprint!(
        "# debugreg: read back DR0 {:#x} DR6 {:#x} DR7 {:#x}; CPU DR0 {cpu_dr0:#x} DR7 {cpu_dr7:#x}, after DR7=0: {cpu_dr7_off:#x}\n",
        back[0],
        back[1],
        back[2]
    );
    check!(off.is_ok(), "DR7 0 refused");
    check!(back == [user, 0xffff_0ff0, dr7], "read back {back:x?}");
    check!(cpu_dr0 == user, "the CPU's DR0 is {cpu_dr0:#x}");
    // encode_dr7(0, LEN_8, WRITE) | GE: G0, R/W0 01, LEN0 10.
    check!(
        cpu_dr7 & !(1 << 10) == 2 | 0b1001 << 16 | 0x200,
        "the CPU's DR7 is {cpu_dr7:#x}"
    );
    check!(
        cpu_dr7_off & 0xff == 0,
        "the CPU's DR7 is {cpu_dr7_off:#x} after DR7 0"
    );
    Outcome::Pass
}

/// What each helper task of `debugreg_context_switch` found in the CPU: DR1, DR7.
static SEEN: [[AtomicU64; 2]; 2] = [const { [const { AtomicU64::new(u64::MAX) }; 2] }; 2];
static HELPERS_DONE: AtomicU64 = AtomicU64::new(0);

fn read_dr1() -> u64 {
    let v: u64;
    // SAFETY: reading DR1 at CPL 0 has no side effect.
    unsafe { core::arch::asm!("mov {}, dr1", out(reg) v, options(nostack, nomem)) };
    v
}

fn helper(i: usize) -> ! {
    crate::sched::kernel_thread_prologue();
    SEEN[i][0].store(read_dr1(), Ordering::SeqCst);
    SEEN[i][1].store(read_dr(7), Ordering::SeqCst);
    HELPERS_DONE.fetch_add(1, Ordering::SeqCst);
    // Kernel threads do not exit: it stays blocked.
    let never = crate::sched::WaitQueue::new();
    never.wait_until(|| false, || false);
    unreachable!("the finished helper was woken")
}

extern "C" fn helper_with_breakpoint() -> ! {
    helper(0)
}

extern "C" fn helper_without() -> ! {
    helper(1)
}

/// The context switch loads a task's breakpoints and takes them away again: this task arms
/// DR0 (loaded at once: it is the running task); a new task given DR1 while off-CPU must find
/// DR1 and its enable in the CPU when it runs; a task without breakpoints must find DR7 off;
/// and this task must find its own again when it runs after them. All on one CPU.
pub fn context_switch(_: &Ctx) -> Outcome {
    let cpu = (0..crate::percpu::MAX_CPUS)
        .rev()
        .find(|&c| crate::smp::is_online(c))
        .unwrap_or(0);
    let old_mask = crate::sched::pin_current(1 << cpu);
    let me = crate::task::current();
    let (mine, theirs) = (0x7000_0000_2000u64, 0x7000_0000_3008u64);
    // DR0: 4-byte read/write watchpoint; DR1 (the helper's): 8-byte write watchpoint.
    let my_dr7 = 1 | 0b1111 << 16;
    let their_dr7 = 1 << 2 | 0b1001 << 20;
    HELPERS_DONE.store(0, Ordering::SeqCst);
    let a = crate::task::Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "debugreg_context_switch helper stack",
        helper_with_breakpoint,
    );
    let b = crate::task::Task::new_kernel(
        0,
        crate::process::kernel_process(),
        "debugreg_context_switch helper stack",
        helper_without,
    );
    let set = ptrace_set_debugreg(me, 0, mine)
        .and(ptrace_set_debugreg(me, 7, my_dr7))
        .and(ptrace_set_debugreg(&a, 1, theirs))
        .and(ptrace_set_debugreg(&a, 7, their_dr7));
    crate::sched::spawn(a);
    crate::sched::spawn(b);
    while HELPERS_DONE.load(Ordering::SeqCst) < 2 {
        crate::sched::schedule();
    }
    let (back_dr0, back_dr7) = (read_dr(0), read_dr(7));
    let off = ptrace_set_debugreg(me, 7, 0);
    crate::sched::pin_current(old_mask);
    let seen = SEEN
        .each_ref()
        .map(|s| s.each_ref().map(|v| v.load(Ordering::SeqCst)));
    crate::kprint!(
        "# debugreg_context_switch: cpu {cpu}: helper with DR1: DR1 {:#x} DR7 {:#x}; helper without: DR7 {:#x}; back: DR0 {back_dr0:#x} DR7 {back_dr7:#x}\n",
        seen[0][0],
        seen[0][1],
        seen[1][1]
    );
    check!(
        set.is_ok() && off.is_ok(),
        "a ptrace_set_debugreg failed: {set:?} {off:?}"
    );
    check!(
        seen[0][0] == theirs && seen[0][1] & 0xff == 0b1000,
        "the helper given DR1 while off-CPU ran with DR1 {:#x}, DR7 {:#x}",
        seen[0][0],
        seen[0][1]
    );
    check!(
        seen[1][1] & 0xff == 0,
        "the helper without breakpoints ran with DR7 {:#x}",
        seen[1][1]
    );
    check!(
        back_dr0 == mine && back_dr7 & 0xff == 0b10,
        "back on this task: DR0 {back_dr0:#x}, DR7 {back_dr7:#x}"
    );
    Outcome::Pass
}

/// After the programs: if a user breakpoint fired in user mode this boot (c_debugreg's), the
/// kernel's read(2) into its watched buffer must have fired it in kernel mode too, and the
/// handler must have dropped that hit as a user copy's (the program checks that no signal
/// came of it; this checks the #DB really happened, so that check means something).
pub fn user_copy_hit(_: &Ctx) -> Outcome {
    use crate::x86::debugreg::{USER_BP_KERNEL_HITS, USER_BP_USER_HITS};
    let user = USER_BP_USER_HITS.load(Ordering::SeqCst);
    let kernel = USER_BP_KERNEL_HITS.load(Ordering::SeqCst);
    crate::kprint!(
        "# debugreg: user breakpoints hit {user} times in user mode, {kernel} times by user copies\n"
    );
    if user == 0 {
        return Outcome::Skip("no user breakpoint fired in this boot (c_debugreg did not run)");
    }
    check!(
        kernel > 0,
        "user watchpoints fired {user} times in user mode, never in a user copy: c_debugreg's read(2) into its watched buffer raised no kernel-mode #DB"
    );
    Outcome::Pass
}
