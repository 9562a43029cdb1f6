//! E18: a nested NMI, delivered after something inside an NMI handler executed IRET, is
//! latched and handled after the NMI it interrupted, whose frame stays intact.
//!
//! The outer NMI comes from the host (QMP `inject-nmi`) while this CPU runs a kernel register
//! loop. Its handler (the NMI hook below) sends a self-NMI through the ICR — pending, since
//! NMIs are blocked — then takes a #PF that the exception table fixes up (its IRET opens
//! NMIs: the pending NMI arrives right there and must be latched) and a kernel `int3` (a
//! second IRET inside the handler while the latch is set). kentry then runs the handler a
//! second time on the outer frame, and the loop resumes with every register intact.
//! `nmi_nested_latched_user` does the same with the outer NMI taken in a ring-3 register
//! loop, whose handler runs on the task stack.

use super::super::Outcome;
use super::super::regcheck::{
    REGCHECK_STOP, kernel_fixup_register_check, kernel_int3_register_check,
    kernel_register_loop_until_stop, kernel_register_loop_until_stop_end,
};
use crate::percpu::this_cpu;
use alloc::format;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kentry::Regs;
use kentry::arch::nmi::{NMI_EXECUTING, NMI_IDLE, NMI_LATCHED, nmi_state};

/// What the hook saw, written only by this CPU's NMI handler while the test thread spins in
/// the register loop, and read by the test after the loop has stopped.
struct Seen {
    /// The frame of the first and of the second run.
    frames: [Regs; 2],
    /// The NMI state: at the first run's start, after its #PF, after its `int3`, and at the
    /// second run's start.
    states: [u64; 4],
    /// Results of the #PF and the `int3` register checks (0: fine).
    checks: [u64; 2],
    /// Kernel exceptions counted across the #PF and across the `int3`.
    exceptions: [u64; 2],
}

struct SeenCell(UnsafeCell<Seen>);
// SAFETY: written by one CPU's NMI handler only, read by that CPU's test thread after the
// handler has finished (see `Seen`).
unsafe impl Sync for SeenCell {}

static SEEN: SeenCell = SeenCell(UnsafeCell::new(Seen {
    frames: [Regs {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        rbp: 0,
        rbx: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rax: 0,
        rcx: 0,
        rdx: 0,
        rsi: 0,
        rdi: 0,
        orig_rax: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    }; 2],
    states: [u64::MAX; 4],
    checks: [u64::MAX; 2],
    exceptions: [0; 2],
}));

/// Runs of the handler that took part in the test (the first landed in the loop).
static RUNS: AtomicU32 = AtomicU32::new(0);
/// NMIs that landed outside the loop (the attempt is repeated).
static STRAY: AtomicU32 = AtomicU32::new(0);
/// Set while the hook runs; REENTERED records a hook call made while it was set.
static IN_HOOK: AtomicBool = AtomicBool::new(false);
static REENTERED: AtomicBool = AtomicBool::new(false);
/// Whether the outer NMI is to come from user mode (else from the kernel register loop).
static FROM_USER: AtomicBool = AtomicBool::new(false);
/// Top of this CPU's NMI stack, for the state word.
static NMI_TOP: AtomicU64 = AtomicU64::new(0);

const PATTERNS: [u64; 14] = {
    let mut p = [0u64; 14];
    let mut i = 0;
    while i < 14 {
        p[i] = 0x4e4d_4900_0000_0000 | ((i as u64 + 1) * 0x0101_0101);
        i += 1;
    }
    p
};

fn loop_range() -> core::ops::Range<u64> {
    kernel_register_loop_until_stop as *const () as u64
        ..core::ptr::addr_of!(kernel_register_loop_until_stop_end) as u64
}

fn state() -> u64 {
    // SAFETY: NMI_TOP is this CPU's NMI stack top (set by the test before the hook runs).
    unsafe { nmi_state(NMI_TOP.load(Ordering::Relaxed)) }
}

fn kernel_exceptions() -> u64 {
    this_cpu()
        .counters
        .exceptions_from_kernel
        .load(Ordering::Relaxed)
}

fn hook(regs: &Regs) {
    if IN_HOOK.swap(true, Ordering::Relaxed) {
        REENTERED.store(true, Ordering::Relaxed);
    }
    hook_body(regs);
    IN_HOOK.store(false, Ordering::Relaxed);
}

fn hook_body(regs: &Regs) {
    // SAFETY: see `Seen`: only this handler writes, and the test reads after the loop.
    let seen = unsafe { &mut *SEEN.0.get() };
    match RUNS.load(Ordering::Relaxed) {
        0 => {
            let wanted = if FROM_USER.load(Ordering::Relaxed) {
                regs.user_mode()
            } else {
                !regs.user_mode() && loop_range().contains(&regs.rip)
            };
            if !wanted {
                STRAY.fetch_add(1, Ordering::Relaxed);
                REGCHECK_STOP.store(1, Ordering::Release); // try again
                return;
            }
            RUNS.store(1, Ordering::Relaxed);
            seen.frames[0] = *regs;
            seen.states[0] = state();
            crate::x86::apic::send_self_nmi();
            let before = kernel_exceptions();
            // SAFETY: a self-contained SysV function; its load faults and is fixed up.
            seen.checks[0] = unsafe { kernel_fixup_register_check(0, &PATTERNS) };
            seen.exceptions[0] = kernel_exceptions() - before;
            seen.states[1] = state();
            let before = kernel_exceptions();
            // SAFETY: as above; its `int3` is covered by the exception table.
            seen.checks[1] = unsafe { kernel_int3_register_check(0, &PATTERNS) };
            seen.exceptions[1] = kernel_exceptions() - before;
            seen.states[2] = state();
            REGCHECK_STOP.store(1, Ordering::Release);
        }
        1 => {
            RUNS.store(2, Ordering::Relaxed);
            seen.frames[1] = *regs;
            seen.states[3] = state();
        }
        n => RUNS.store(n + 1, Ordering::Relaxed),
    }
}

/// Arms the hook for one attempt (an outer NMI from user mode when `from_user`, else one
/// that lands in the kernel register loop); returns the NMI count before it.
fn arm(from_user: bool) -> u64 {
    let cpu = this_cpu();
    // SAFETY: this CPU's IST stack records are written once at CPU setup.
    let stacks = unsafe { &*cpu.ist_stacks.get() };
    let nmi_top = stacks[kentry::gdt::ist::NMI as usize - 1].map_or(0, |s| s.top);
    NMI_TOP.store(nmi_top, Ordering::Relaxed);
    FROM_USER.store(from_user, Ordering::Relaxed);
    RUNS.store(0, Ordering::Relaxed);
    STRAY.store(0, Ordering::Relaxed);
    IN_HOOK.store(false, Ordering::Relaxed);
    REENTERED.store(false, Ordering::Relaxed);
    REGCHECK_STOP.store(0, Ordering::Relaxed);
    // SAFETY: single aligned store of the hook pointer, read by this CPU's NMI handler.
    unsafe { *cpu.nmi_hook.get() = Some(hook) };
    cpu.counters.nmis.load(Ordering::Relaxed)
}

fn disarm() {
    // SAFETY: as in arm().
    unsafe { *this_cpu().nmi_hook.get() = None };
}

/// The verdict on an attempt whose outer NMI took part (`runs` > 0): `nmis` counted since
/// `arm`.
fn judge(runs: u32, nmis: u64) -> Outcome {
    let cpu = this_cpu();
    // SAFETY: the handler is done: the outer NMI has returned (the loop saw the stop byte
    // after it, or the program ran on to its end), and the second run came before that.
    let seen = unsafe { &*SEEN.0.get() };
    crate::kprint!(
        "# {runs} run(s), {nmis} NMI(s); states {:?}; outer rip {:#x} rsp {:#x}\n",
        seen.states,
        seen.frames[0].rip,
        seen.frames[0].rsp
    );
    check!(
        !REENTERED.load(Ordering::Relaxed),
        "the NMI handler was re-entered by the nested NMI"
    );
    check!(
        seen.checks == [0, 0],
        "registers across the #PF / int3 inside the NMI: {:?} (0: intact, 2: no fault)",
        seen.checks
    );
    check!(
        seen.exceptions == [1, 1],
        "kernel exceptions across the #PF / int3: {:?}, want one each",
        seen.exceptions
    );
    check!(
        seen.states[0] == NMI_EXECUTING,
        "NMI state in the handler: {}",
        seen.states[0]
    );
    check!(
        seen.states[1] == NMI_LATCHED && seen.states[2] == NMI_LATCHED,
        "the self-NMI was not latched at the #PF's IRET: states {:?}",
        seen.states
    );
    check!(
        runs == 2 && nmis == 2,
        "{runs} handler run(s), {nmis} NMI(s) counted: want exactly 2 (outer + latched)"
    );
    check!(
        seen.states[3] == NMI_EXECUTING,
        "NMI state in the re-run: {}",
        seen.states[3]
    );
    check!(
        seen.frames[1] == seen.frames[0],
        "the re-run saw another frame: {:#x?} vs {:#x?}",
        seen.frames[1],
        seen.frames[0]
    );
    check!(state() == NMI_IDLE, "NMI state after the test: {}", state());
    super::nmi_left_no_trace(cpu)
}

/// The outer NMI lands in a kernel register loop (on the NMI IST stack: kentry_nmi_entry).
pub fn nmi_nested_latched(_: &super::Ctx) -> Outcome {
    // QEMU's inject-nmi reaches the CPUs through LINT1, which only CPU 0 leaves unmasked.
    super::on_cpu0(nested_latched_on_cpu0)
}

fn nested_latched_on_cpu0() -> Outcome {
    for attempt in 1..=4 {
        let nmis_before = arm(false);
        crate::klog!("host-request: after 10ms inject-nmi");
        // SAFETY: a self-contained SysV function that reads PATTERNS, its own stack and the
        // stop byte.
        let r = unsafe { kernel_register_loop_until_stop(30_000_000, &PATTERNS) };
        disarm();
        let runs = RUNS.load(Ordering::Relaxed);
        let nmis = this_cpu().counters.nmis.load(Ordering::Relaxed) - nmis_before;
        check!(r != 1, "a register changed in the loop");
        if runs == 0 {
            crate::kprint!(
                "# attempt {attempt}: loop result {r}, {} NMI(s) outside the loop\n",
                STRAY.load(Ordering::Relaxed)
            );
            continue;
        }
        check!(r == 0, "the register loop never saw the stop byte");
        // SAFETY: as in judge().
        let outer = unsafe { &*SEEN.0.get() }.frames[0];
        check!(
            crate::percpu::on_kernel_stack(outer.rsp),
            "outer RSP {:#x} is no kernel stack",
            outer.rsp
        );
        return judge(runs, nmis);
    }
    Outcome::Fail("no injected NMI landed in the register loop in 4 attempts".into())
}

/// The outer NMI lands in a ring-3 register loop: kentry moves it to the task stack
/// (kentry_ist_entry, E19), and the nested one, taken in kernel mode inside its handler, must
/// latch there too.
pub fn nmi_nested_latched_user(_: &super::Ctx) -> Outcome {
    super::on_cpu0(nested_latched_user_on_cpu0)
}

fn nested_latched_user_on_cpu0() -> Outcome {
    for attempt in 1..=4 {
        let nmis_before = arm(true);
        crate::trap::set_host_request_from_user_tick(Some("after 10ms inject-nmi"));
        crate::console::set_user_output(crate::console::UserOutput::Discard);
        let r = super::super::run_program("/bin/syscall_regs", &["loop"]);
        crate::console::set_user_output(crate::console::UserOutput::Plain);
        crate::trap::set_host_request_from_user_tick(None);
        disarm();
        let runs = RUNS.load(Ordering::Relaxed);
        let nmis = this_cpu().counters.nmis.load(Ordering::Relaxed) - nmis_before;
        match r {
            Ok(reason) => check!(
                reason.shell_status() == 0,
                "the ring-3 register loop failed (status {})",
                reason.shell_status()
            ),
            Err(e) => return Outcome::Fail(e),
        }
        if runs == 0 {
            crate::kprint!(
                "# attempt {attempt}: {} NMI(s) outside user mode\n",
                STRAY.load(Ordering::Relaxed)
            );
            continue;
        }
        // SAFETY: as in judge().
        let outer = unsafe { &*SEEN.0.get() }.frames[0];
        check!(outer.user_mode(), "the outer NMI's frame is not a user one");
        return judge(runs, nmis);
    }
    Outcome::Fail("no injected NMI landed in ring 3 in 4 attempts".into())
}
