//! Kernel self-tests: what can only be checked from inside the kernel. Each proves its event
//! really happened (counts it) before it calls the kernel's handling of it a pass.

use super::Outcome;
use crate::mm::paging::{PTE_NX, PTE_P, PTE_U, PTE_W, kernel_sections, kernel_table};
use crate::percpu::this_cpu;
use alloc::format;
use core::sync::atomic::Ordering;

/// What every self-test is handed. (Empty: a test decides what it can provoke by a probe of
/// its own, never by the platform's name.)
pub struct Ctx;

pub struct SelfTest {
    pub name: &'static str,
    pub run: fn(&Ctx) -> Outcome,
    /// Part of the default run (false: only with `kentry.only=<name>`, e.g. a test that ends
    /// the boot).
    pub default: bool,
}

const fn t(name: &'static str, run: fn(&Ctx) -> Outcome) -> SelfTest {
    SelfTest {
        name,
        run,
        default: true,
    }
}

/// A test that ends the boot (run only when named with `kentry.only=`).
const fn ending(name: &'static str, run: fn(&Ctx) -> Outcome) -> SelfTest {
    SelfTest {
        name,
        run,
        default: false,
    }
}

pub static ALL: &[SelfTest] = &[
    t("boot_page_tables", boot_page_tables),
    t("percpu_gs_base", percpu_gs_base),
    t("idt_gates", idt_gates),
    t("int80_from_kernel", int80_from_kernel),
    t("gdt_layout", gdt_layout),
    t("syscall_msrs", syscall_msrs),
    t("control_registers", control_registers),
    t("static_keys", static_keys),
    t("irq_from_kernel", irq_from_kernel),
    t("bench_fast_timer", bench_timer::fast_timer),
    t("kernel_pf_fixup", kernel_pf_fixup),
    t("nmi_self_ipi", nmi_self_ipi),
    t("nmi_nested_latched", nmi_nested_latched),
    t("smp_all_cpus_online", smp::all_cpus_online),
    t("smp_call_function", smp::call_function),
    t("smp_nmi_ipi", smp::nmi_ipi),
    t("smp_reschedule_ipi", smp::reschedule_ipi),
    t("smp_proc_interrupts", smp::proc_interrupts),
    t("smp_apic_mode", smp::apic_mode),
    // Test kernels only: the lock checks are theirs.
    #[cfg(feature = "test-hooks")]
    t("lockcheck_nmi_lock", lockcheck::nmi_lock),
    #[cfg(feature = "test-hooks")]
    t("lockcheck_irq_unsafe_lock", lockcheck::irq_unsafe_lock),
    t("static_key_flips_smp", static_key_smp::static_key_flips_smp),
    t(
        "sleep_until_restores_interrupts",
        sched::sleep_until_restores_interrupts,
    ),
    t(
        "interrupted_raises_sigpending",
        sched::interrupted_raises_sigpending,
    ),
    t("rcu_irq_in_idle", rcu::rcu_irq_in_idle),
    t("rcu_gp_user_spin", rcu::rcu_gp_user_spin),
    t("rcu_stress", rcu_stress::rcu_stress),
    t("stack_map_smp", stack_map::stack_map_smp),
    t("preempt_count_rules", preempt::preempt_count_rules),
    t("kernel_preemption", preempt::kernel_preemption),
    t("hwbp_refuses_entry_text", hwbp::refuses_entry_text),
    t(
        "hwbp_refuses_percpu_entry_data",
        hwbp::refuses_percpu_entry_data,
    ),
    t("hwbp_refuses_gdt", hwbp::refuses_gdt),
    t("hwbp_refuses_idt", hwbp::refuses_idt),
    t("hwbp_refuses_tss", hwbp::refuses_tss),
    t("hwbp_refuses_ist_stack", hwbp::refuses_ist_stack),
    t("hwbp_refuses_task_stack", hwbp::refuses_task_stack),
    t("hwbp_kernel_watchpoint", hwbp::kernel_watchpoint),
    t("kernel_db_stray_survived", hwbp::kernel_db_stray_survived),
    t("debugreg_ptrace_api", hwbp::ptrace_api),
    t("debugreg_context_switch", hwbp::context_switch),
    t("e01_sysret_noncanonical", e01_sysret_noncanonical),
    t("e01_sysret_cpl0_gp", e01_sysret_cpl0_gp),
    ending("e26_stack_overflow", e26_stack_overflow),
    ending("kernel_fault_report", kernel_fault_report),
    ending("watchdog_hard_lockup", watchdog::hard_lockup),
    ending("spinlock_lockup", watchdog::spinlock_lockup),
    // Not a boot-ending test, but one that takes 3 s: run only when named.
    ending("clock_against_rtc", clock::clock_against_rtc),
    // Not a boot-ending test, but one that needs `nohz_full=1`: run only when named.
    ending("nohz_full_spin", nohz::nohz_full_spin),
];

/// Run after the manifest's programs: checks over what they caused.
pub static AFTER_PROGRAMS: &[SelfTest] = &[
    t("irq_from_user", irq_from_user),
    t("nmi_from_user", nmi_from_user),
    t("nmi_nested_latched_user", nmi_nested_latched_user),
    t("e25_mce_from_user", mce_from_user),
    t("no_leaks", no_leaks),
    t("context_tracking_balanced", context_tracking_balanced),
    t("nmi_flood", nmi_flood::nmi_flood),
    t("nmi_keeps_cr2", nmi_paranoid::nmi_keeps_cr2),
    t("nmi_user_gs_base", nmi_paranoid::nmi_user_gs_base),
    t("nmi_clears_dr7", cr2_dr7::nmi_clears_dr7),
    t("debugreg_user_copy_hit", hwbp::user_copy_hit),
    #[cfg(feature = "test-hooks")]
    t("pf_cr2_read_first", cr2_dr7::pf_cr2_read_first),
];

macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Outcome::Fail(format!($($msg)*));
        }
    };
}

mod bench_timer;
mod clock;
mod cpu_tables;
mod cr2_dr7;
mod hwbp;
#[cfg(feature = "test-hooks")]
mod lockcheck;
mod nmi_flood;
mod nmi_nested;
mod nmi_paranoid;
mod nohz;
mod preempt;
mod rcu;
mod rcu_stress;
mod sched;
mod smp;
mod stack_map;
mod static_key_smp;
mod watchdog;
use cpu_tables::{control_registers, gdt_layout, idt_gates, int80_from_kernel, syscall_msrs};
use nmi_nested::{nmi_nested_latched, nmi_nested_latched_user};

/// W^X for the kernel image, an empty user half in the kernel's table, the top user page
/// never mapped, and a guard page under the running stack.
fn boot_page_tables(_: &Ctx) -> Outcome {
    let kt = kernel_table();
    let [text, rodata, data] = kernel_sections();
    for (name, (start, _, _), want_w, want_x) in [
        ("text", text, false, true),
        ("rodata", rodata, false, false),
        ("data", data, true, false),
    ] {
        let Some((_, flags)) = kt.translate(start) else {
            return Outcome::Fail(format!("{name} is not mapped"));
        };
        check!(
            (flags & PTE_W != 0) == want_w,
            "{name}: writable={} flags={flags:#x}",
            !want_w
        );
        check!(
            (flags & PTE_NX == 0) == want_x,
            "{name}: executable={} flags={flags:#x}",
            !want_x
        );
        check!(flags & PTE_U == 0, "{name} is user-accessible");
    }
    // SAFETY: reading the root of the kernel table through the direct map.
    let root = unsafe { &*(crate::mm::phys_to_virt(kt.root) as *const [u64; 512]) };
    check!(
        root[..256].iter().all(|e| e & PTE_P == 0),
        "the kernel table maps user space"
    );
    let sp: u64;
    // SAFETY: reading RSP.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp) };
    match crate::mm::stack::find(sp) {
        Some((s, false)) => check!(
            kt.translate(s.guard).is_none(),
            "guard page of {} is mapped",
            s.name
        ),
        _ => return Outcome::Fail(format!("running on an unregistered stack {sp:#x}")),
    }
    Outcome::Pass
}

fn percpu_gs_base(_: &Ctx) -> Outcome {
    let live = x86_64::registers::model_specific::GsBase::read().as_u64();
    let cpu = this_cpu();
    check!(
        live == cpu as *const _ as u64,
        "GS base {live:#x} is not the per-CPU area"
    );
    check!(cpu.entry.self_ptr() == live, "self pointer is stale");
    // SAFETY: reading this CPU's TSS.
    let rsp0 = unsafe { (*cpu.tables.get()).tss.interrupt_stack_table };
    let ist = &rsp0[..kentry::gdt::ist::COUNT];
    check!(
        ist.iter().all(|p| p.as_u64() % 16 == 0 && p.as_u64() != 0),
        "IST pointers not set/aligned"
    );
    for p in ist {
        // SAFETY: the slot above each IST pointer holds the per-CPU base (prepare_ist_stack).
        let parked = unsafe { *(p.as_u64() as *const u64) };
        check!(
            parked == live,
            "IST stack at {:#x} parks {parked:#x}",
            p.as_u64()
        );
    }
    Outcome::Pass
}

static TEST_KEY: kentry::static_key::StaticKey = kentry::static_key::StaticKey::new();

#[inline(never)]
fn test_key_branch() -> bool {
    kentry::static_branch!(TEST_KEY)
}

/// A static key flips its branch by rewriting the site (a NOP ↔ a jump), and context tracking
/// (on in test kernels) has its sites patched to jumps.
fn static_keys(_: &Ctx) -> Outcome {
    check!(!test_key_branch(), "a fresh key's branch is taken");
    let site = TEST_KEY.sites().next().map(|e| e.site);
    let Some(site) = site else {
        return Outcome::Fail("the test key has no site in the jump table".into());
    };
    // SAFETY: reading 5 bytes of kernel text.
    let bytes = || unsafe { core::ptr::read(site as *const [u8; 5]) };
    check!(
        bytes() == kentry::static_key::NOP5,
        "disabled site is not the 5-byte NOP"
    );
    let n = crate::text_poke::flip_key(&TEST_KEY, true);
    check!(n == 1, "enable patched {n} sites");
    check!(
        bytes()[0] == 0xe9 && test_key_branch(),
        "enabled key: no jump at the site"
    );
    crate::text_poke::flip_key(&TEST_KEY, false);
    check!(
        bytes() == kentry::static_key::NOP5 && !test_key_branch(),
        "disable did not restore the NOP"
    );
    let ct = &kentry::context_tracking::CONTEXT_TRACKING;
    check!(ct.is_enabled(), "context tracking is off in a test kernel");
    let ct_sites: alloc::vec::Vec<u64> = ct.sites().map(|e| e.site).collect();
    check!(
        !ct_sites.is_empty(),
        "context tracking has no static-branch sites"
    );
    for s in ct_sites {
        // SAFETY: reading one byte of kernel text.
        let b = unsafe { *(s as *const u8) };
        check!(b == 0xe9, "context-tracking site {s:#x} is not a jump");
    }
    Outcome::Pass
}

/// Timer interrupts taken in kernel mode, inside a register loop: counted, every register
/// intact, and context tracking stays "kernel".
fn irq_from_kernel(_: &Ctx) -> Outcome {
    let c = &this_cpu().counters;
    let patterns: [u64; 14] = core::array::from_fn(|i| {
        0x5a5a_0000_0000_0001u64.wrapping_mul(i as u64 + 3) ^ (0x1111 << i)
    });
    x86_64::instructions::interrupts::enable();
    let mut got = 0;
    let mut rounds = 0;
    while got < 3 && rounds < 100 {
        let before = c.irq_from_kernel.load(Ordering::Relaxed);
        // SAFETY: a self-contained SysV function that reads `patterns` and its own stack.
        let bad = unsafe { super::regcheck::kernel_register_loop(200_000, &patterns) };
        check!(
            bad == 0,
            "a register changed across a kernel-mode interrupt"
        );
        got += c.irq_from_kernel.load(Ordering::Relaxed) - before;
        rounds += 1;
    }
    crate::kprint!("# irq_from_kernel: {got} interrupts landed in {rounds} register loops\n");
    check!(got >= 3, "only {got} interrupts from kernel mode arrived");
    let ct = &this_cpu().entry.context_tracking;
    check!(
        ct.state() == 0 && ct.rcu_watching(),
        "context tracking not kernel/watching"
    );
    Outcome::Pass
}

/// A user copy from an unmapped user address really faults in the kernel and is fixed up to
/// -EFAULT; a kernel address is refused before any access.
fn kernel_pf_fixup(_: &Ctx) -> Outcome {
    // A user address space with nothing mapped: the copy's #PF is genuine.
    let aspace = match crate::mm::aspace::AddressSpace::new() {
        Ok(a) => a,
        Err(_) => return Outcome::Fail("no memory".into()),
    };
    let c = &this_cpu().counters;
    let mut buf = [0u8; 16];
    x86_64::instructions::interrupts::disable();
    // SAFETY: the table shares the kernel half; switched back before it is freed.
    unsafe { aspace.pt.activate() };
    let before = c.exceptions_from_kernel.load(Ordering::Relaxed);
    let r = crate::uaccess::copy_from_user(&mut buf, 0x40_0000);
    let w = crate::uaccess::copy_to_user(0x7fff_ffff_e000, &buf);
    let faults = c.exceptions_from_kernel.load(Ordering::Relaxed) - before;
    let k = crate::uaccess::copy_from_user(&mut buf, 0xffff_8880_0000_0000);
    let straddle = crate::uaccess::copy_from_user(&mut buf, kentry::sysret::TASK_SIZE_MAX - 8);
    let faults_after = c.exceptions_from_kernel.load(Ordering::Relaxed) - before;
    // SAFETY: back to the kernel table before the user table is destroyed.
    unsafe { kernel_table().activate() };
    x86_64::instructions::interrupts::enable();
    aspace.pt.destroy_user();
    check!(
        r.is_err() && w.is_err(),
        "copy to/from an unmapped page succeeded"
    );
    check!(faults == 2, "expected 2 fixed-up kernel #PFs, saw {faults}");
    check!(
        k.is_err() && straddle.is_err(),
        "a kernel address passed the range check"
    );
    check!(
        faults_after == 2,
        "the range check let a kernel address fault"
    );
    // And the fixup path returns every register as it was.
    let patterns: [u64; 14] =
        core::array::from_fn(|i| 0x0123_4567_89ab_cdefu64.rotate_left(i as u32 * 5));
    let before = c.exceptions_from_kernel.load(Ordering::Relaxed);
    // SAFETY: a self-contained SysV function; its only memory access outside its frame is the
    // covered load from user address 0x1000, which faults and is fixed up.
    let r = unsafe { super::regcheck::kernel_fixup_register_check(0, &patterns) };
    let faults = c.exceptions_from_kernel.load(Ordering::Relaxed) - before;
    check!(
        r != 2 && faults == 1,
        "the covered load did not fault (r={r}, faults={faults})"
    );
    check!(r == 0, "a register changed across a fixed-up kernel #PF");
    Outcome::Pass
}

fn nmi_hook_check(_: &kentry::Regs) {
    let ct = &this_cpu().entry.context_tracking;
    if ct.nmi_nesting() != 1 || !ct.rcu_watching() {
        crate::klog!(
            "nmi hook: nesting {} watching {}",
            ct.nmi_nesting(),
            ct.rcu_watching()
        );
        NMI_HOOK_BAD.store(true, Ordering::Relaxed);
    }
}

static NMI_HOOK_BAD: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// A self-NMI through the ICR arrives on the NMI IST stack, runs in NMI-like context (nesting
/// 1, RCU watching) and leaves nesting and the interrupted GS base as they were.
fn nmi_self_ipi(_: &Ctx) -> Outcome {
    let cpu = this_cpu();
    let before = cpu.counters.nmis.load(Ordering::Relaxed);
    // SAFETY: single aligned store of the hook pointer, read by this CPU's NMI handler.
    unsafe { *cpu.nmi_hook.get() = Some(nmi_hook_check) };
    crate::x86::apic::send_self_nmi();
    let mut spins = 0;
    while cpu.counters.nmis.load(Ordering::Relaxed) == before && spins < 10_000_000 {
        core::hint::spin_loop();
        spins += 1;
    }
    // SAFETY: as above.
    unsafe { *cpu.nmi_hook.get() = None };
    let got = cpu.counters.nmis.load(Ordering::Relaxed) - before;
    check!(got == 1, "expected 1 NMI, saw {got}");
    check!(
        !NMI_HOOK_BAD.load(Ordering::Relaxed),
        "NMI context was wrong inside the handler"
    );
    nmi_left_no_trace(cpu)
}

/// After NMIs are handled: context tracking's NMI nesting is back to 0 and the GS base is
/// still this CPU's.
fn nmi_left_no_trace(cpu: &crate::percpu::PerCpu) -> Outcome {
    check!(
        cpu.entry.context_tracking.nmi_nesting() == 0,
        "NMI nesting not restored"
    );
    let live = x86_64::registers::model_specific::GsBase::read().as_u64();
    check!(
        live == cpu as *const _ as u64,
        "GS base changed across the NMIs"
    );
    Outcome::Pass
}

/// E01 on the live path: a syscall whose return RIP is non-canonical — rt_sigreturn to
/// RIP = RCX = 2^n (n = 47…63) with R11 = RFLAGS, a frame SYSRET could otherwise restore —
/// must leave by IRET. Counted on the exit path from the decision the SYSCALL stub follows:
/// all 17 such exits by IRET, none by SYSRET; and the program gets its SIGSEGV at each RIP.
fn e01_sysret_noncanonical(_: &Ctx) -> Outcome {
    let Some((sysret0, iret0)) = kentry::test_hooks::syscall_exits_above_user_half() else {
        return Outcome::Skip("a kernel without test hooks does not count how syscalls leave");
    };
    crate::console::set_user_output(crate::console::UserOutput::Discard);
    let r = super::run_program("/bin/sigreturn_bad", &["sysret_rip"]);
    crate::console::set_user_output(crate::console::UserOutput::Plain);
    let (sysret1, iret1) =
        kentry::test_hooks::syscall_exits_above_user_half().unwrap_or((sysret0, iret0));
    let (sysret, iret) = (sysret1 - sysret0, iret1 - iret0);
    crate::kprint!("# e01: syscall exits to RIP >= 2^47: {iret} by IRET, {sysret} by SYSRET\n");
    check!(
        sysret == 0,
        "{sysret} syscall exit(s) to a non-canonical RIP went by SYSRET"
    );
    check!(iret == 17, "{iret} exits to RIP >= 2^47 by IRET, want 17");
    match r {
        Ok(reason) => check!(
            reason.shell_status() == 0,
            "sigreturn_bad sysret_rip ended with status {}",
            reason.shell_status()
        ),
        Err(e) => return Outcome::Fail(e),
    }
    Outcome::Pass
}

/// E01's hazard itself, the CPU's #GP at CPL0 on SYSRET to a non-canonical RCX, is not
/// provoked: the CPU's vendor (CPUID) says whether it exists here, and on Intel, where it
/// does, provoking it means running the exploit's first step on purpose.
fn e01_sysret_cpl0_gp(_: &Ctx) -> Outcome {
    let vendor = raw_cpuid::CpuId::new().get_vendor_info();
    match vendor.as_ref().map(|v| v.as_str()) {
        Some("AuthenticAMD") | Some("HygonGenuine") => Outcome::Skip(
            "AMD CPU (CPUID vendor): SYSRET to a non-canonical RCX faults in ring 3, not at CPL0",
        ),
        Some("GenuineIntel") => Outcome::Skip(
            "Intel CPU (CPUID vendor): the CPL0 #GP exists here; not provoked on purpose",
        ),
        _ => Outcome::Skip("unknown CPU vendor: cannot tell whether SYSRET faults at CPL0"),
    }
}

/// Unbounded recursion on a guarded task stack must end in the #DF report. Never returns.
fn e26_stack_overflow(_: &Ctx) -> Outcome {
    #[inline(never)]
    #[allow(unconditional_recursion)]
    fn recurse(depth: u64) -> u64 {
        let pad = [depth; 32];
        core::hint::black_box(&pad);
        recurse(depth + 1) + core::hint::black_box(pad[3])
    }
    crate::klog!("e26: recursing until the stack guard page is hit");
    let r = recurse(0);
    Outcome::Fail(format!("recursion returned {r}"))
}

/// A kernel bug: a write through a NULL pointer, not covered by the exception table. Must end
/// in the symbolized fault report and a panic exit. Never returns.
#[inline(never)]
fn kernel_fault_report(_: &Ctx) -> Outcome {
    let p = core::hint::black_box(core::ptr::null_mut::<u64>());
    // SAFETY: deliberately not safe: this test exists to fault.
    unsafe { core::ptr::write_volatile(p, 0xdead) };
    Outcome::Fail("a NULL write did not fault".into())
}

fn irq_from_user(_: &Ctx) -> Outcome {
    let n: u64 = crate::smp::ipi::online_cpus()
        .map(|(_, c)| c.counters.irq_from_user.load(Ordering::Relaxed))
        .sum();
    crate::kprint!("# irq_from_user: {n} interrupts taken in ring 3 so far\n");
    check!(n > 0, "no interrupt was ever taken in user mode");
    Outcome::Pass
}

/// NMIs injected by the host (QMP `inject-nmi`) land in a ring-3 register loop: the loop sees
/// every register intact, and the NMI really came from user mode (counted by the handler).
fn nmi_from_user(_: &Ctx) -> Outcome {
    // QEMU's inject-nmi reaches the CPUs through LINT1, which only CPU 0 leaves unmasked:
    // the loop runs there.
    on_cpu0(nmi_from_user_on_cpu0)
}

/// Runs `f` with this task (and the programs it starts) on CPU 0 only: for tests that read
/// one CPU's counters, or wait for a task to be freed where it switched away.
fn on_cpu0(f: fn() -> Outcome) -> Outcome {
    let old = crate::sched::pin_current(1);
    let r = f();
    crate::sched::pin_current(old);
    r
}

fn nmi_from_user_on_cpu0() -> Outcome {
    let c = &crate::percpu::cpu_area(0).counters;
    let before = c.nmis_from_user.load(Ordering::Relaxed);
    for attempt in 1..=5 {
        // The first timer tick in ring 3 asks the host; the loop runs long enough after that
        // for the NMI to land in it.
        // After a delay: an NMI asked for from the tick would otherwise often land before
        // the tick's handler is back in user mode.
        crate::trap::set_host_request_from_user_tick(Some("after 10ms inject-nmi"));
        crate::console::set_user_output(crate::console::UserOutput::Discard);
        let r = super::run_program("/bin/syscall_regs", &["loop"]);
        crate::console::set_user_output(crate::console::UserOutput::Plain);
        match r {
            Ok(reason) if reason.shell_status() == 0 => {}
            Ok(reason) => {
                return Outcome::Fail(format!(
                    "register loop failed (status {}) with NMIs landing in it",
                    reason.shell_status()
                ));
            }
            Err(e) => return Outcome::Fail(e),
        }
        let got = c.nmis_from_user.load(Ordering::Relaxed) - before;
        if got > 0 {
            crate::kprint!("# nmi_from_user: {got} NMI(s) from ring 3 after {attempt} run(s)\n");
            return Outcome::Pass;
        }
    }
    Outcome::Fail("no injected NMI arrived in user mode in 5 runs".into())
}

/// A machine check injected by the host (HMP `mce`: uncorrected, action required, RIPV) while
/// a ring-3 loop runs: the program dies by SIGBUS, and the kernel goes on (E25).
fn mce_from_user(_: &Ctx) -> Outcome {
    if !crate::x86::cpu::probe().mce {
        return Outcome::Skip("the CPU reports no machine-check architecture");
    }
    // HMP `mce 0 …` targets CPU 0: the loop runs there.
    on_cpu0(mce_from_user_on_cpu0)
}

fn mce_from_user_on_cpu0() -> Outcome {
    let c = &crate::percpu::cpu_area(0).counters;
    let before = c.machine_checks.load(Ordering::Relaxed);
    // cpu 0, bank 0; status VAL|UC|EN|MISCV|ADDRV|S|AR; MCG_STATUS RIPV|EIPV|MCIP. Injected
    // only with CPU 0 seen in ring 3 (`in-user 0`): in kernel mode it stops the machine.
    crate::trap::set_host_request_from_user_tick(Some(
        "in-user 0 mce 0 0 0xbd80000000000000 0x7 0x1234000 0",
    ));
    crate::console::set_user_output(crate::console::UserOutput::Discard);
    let r = super::run_program("/bin/syscall_regs", &["loop"]);
    crate::console::set_user_output(crate::console::UserOutput::Plain);
    crate::trap::set_host_request_from_user_tick(None);
    let got = c.machine_checks.load(Ordering::Relaxed) - before;
    check!(got == 1, "expected 1 machine check, saw {got}");
    match r {
        Ok(reason) => check!(
            reason.shell_status() == 128 + crate::signal::SIGBUS as i32,
            "the program ended with status {} (want SIGBUS, 135)",
            reason.shell_status()
        ),
        Err(e) => return Outcome::Fail(e),
    }
    Outcome::Pass
}

/// Running a program leaves nothing behind: no process structure, no frame (its stacks,
/// page tables and pages, kernel stack included, all come back).
fn no_leaks(_: &Ctx) -> Outcome {
    on_cpu0(no_leaks_on_cpu0)
}

fn no_leaks_on_cpu0() -> Outcome {
    let run = || {
        crate::console::set_user_output(crate::console::UserOutput::Discard);
        let r = super::run_program("/bin/hello", &[]);
        crate::console::set_user_output(crate::console::UserOutput::Plain);
        r
    };
    // The first run may allocate lasting kernel state (caches); the next two must not.
    if let Err(e) = run() {
        return Outcome::Fail(e);
    }
    // What the runs free through RCU callbacks (fd snapshots, the pid maps' old copies) is
    // freed at the tick after them: count it as freed before each count.
    crate::rcu::rcu_barrier();
    let procs_before = crate::process::count();
    let before = crate::mm::frame::stats().1;
    for _ in 0..2 {
        if let Err(e) = run() {
            return Outcome::Fail(e);
        }
    }
    crate::rcu::rcu_barrier();
    let after = crate::mm::frame::stats().1;
    check!(
        after == before,
        "two runs of /bin/hello leaked {} frames",
        before as i64 - after as i64
    );
    let live = crate::process::count();
    for (pid, name, threads, ended) in crate::process::list().into_iter().filter(|p| p.0 != 0) {
        // Left by an earlier test (a program's orphan still running, say): not this test's
        // leak, but worth seeing.
        crate::kprint!(
            "# no_leaks: process {pid} ({name}) exists: {threads} live threads, ended {ended}\n"
        );
    }
    // Fewer is fine: an earlier program's orphan may have ended and been reaped meanwhile.
    check!(
        live <= procs_before,
        "{} processes left behind by two runs of /bin/hello",
        live as i64 - procs_before as i64
    );
    Outcome::Pass
}

/// User-mode entries counted by the kernel's own handlers (dispatch, the interrupt and
/// exception handlers), not by context tracking: (syscalls, IRQs, exceptions, NMIs, #MCs).
fn user_entry_counts() -> [u64; 5] {
    let c = &this_cpu().counters;
    [
        &c.syscalls,
        &c.irq_from_user,
        &c.exceptions_from_user,
        &c.nmis,
        &c.machine_checks,
    ]
    .map(|a| a.load(Ordering::Relaxed))
}

/// Context tracking moved exactly twice per user-mode entry: once in (user → kernel) and once
/// out (kernel → user; a new task's first exit has no entry, an exiting task's last entry no
/// exit, and the two balance over a window that starts and ends in the kernel). Checked over a
/// run of /bin/hello against the kernel's independent counts of syscalls, IRQs and exceptions
/// from user mode, plus the moves of the idle loop's EQS on this CPU (its own entry and exit
/// and the interrupts that woke it, counted by rcu/idle.rs); a window an NMI or #MC landed in (those count only when RCU was not
/// watching) is run again.
fn context_tracking_balanced(_: &Ctx) -> Outcome {
    on_cpu0(context_tracking_balanced_on_cpu0)
}

fn context_tracking_balanced_on_cpu0() -> Outcome {
    let cpu = this_cpu();
    let ct = &cpu.entry.context_tracking;
    let c = &cpu.counters;
    crate::kprint!(
        "# entries: {} syscalls, {} irq/user, {} irq/kernel, {} exc/user, {} exc/kernel, {} nmi; rcu counter {}\n",
        c.syscalls.load(Ordering::Relaxed),
        c.irq_from_user.load(Ordering::Relaxed),
        c.irq_from_kernel.load(Ordering::Relaxed),
        c.exceptions_from_user.load(Ordering::Relaxed),
        c.exceptions_from_kernel.load(Ordering::Relaxed),
        c.nmis.load(Ordering::Relaxed),
        ct.rcu_counter()
    );
    check!(ct.state() == 0, "state {} after all programs", ct.state());
    check!(ct.rcu_watching(), "RCU not watching in kernel");
    check!(ct.nmi_nesting() == 0, "NMI nesting {}", ct.nmi_nesting());
    for _ in 0..3 {
        let before = user_entry_counts();
        let rcu_before = ct.rcu_counter();
        let idle_before = crate::rcu::idle_counter_moves(0);
        crate::console::set_user_output(crate::console::UserOutput::Discard);
        let r = super::run_program("/bin/hello", &[]);
        crate::console::set_user_output(crate::console::UserOutput::Plain);
        let rcu = ct.rcu_counter() - rcu_before;
        let idle = crate::rcu::idle_counter_moves(0) - idle_before;
        let after = user_entry_counts();
        let [sys, irq, exc, nmi, mce] = core::array::from_fn(|i| after[i] - before[i]);
        match r {
            Ok(reason) if reason.shell_status() == 0 => {}
            Ok(reason) => return Outcome::Fail(format!("hello ended {}", reason.shell_status())),
            Err(e) => return Outcome::Fail(e),
        }
        if nmi + mce != 0 {
            continue;
        }
        crate::kprint!(
            "# context_tracking_balanced: {sys} syscalls, {irq} irq/user, {exc} exc/user, {idle} idle-EQS moves; rcu counter +{rcu}\n"
        );
        // hello makes at least write and exit_group.
        check!(sys >= 2, "only {sys} syscalls counted in a run of hello");
        check!(
            rcu == 2 * (sys + irq + exc) + idle,
            "RCU counter moved {rcu} times for {} user entries (want 2 per entry) and {idle} moves in idle",
            sys + irq + exc
        );
        check!(
            ct.state() == 0 && ct.rcu_watching(),
            "not kernel/watching after the run"
        );
        return Outcome::Pass;
    }
    Outcome::Fail("an NMI or #MC landed in every window".into())
}
