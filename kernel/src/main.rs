//! The kentry kernel: boots under PVH, hosts the kentry entry layer, runs static Linux
//! programs in ring 3, and tests itself (docs/harness.md).
#![no_std]
#![no_main]

extern crate alloc;

mod bench;
mod bench_nohz;
mod bench_smp;
mod boot;
mod console;
mod cpio;
mod elf;
mod entry_host;
mod event;
mod exec;
mod exec_ia32;
mod fs;
mod futex;
mod hang_report;
#[cfg(feature = "test-hooks")]
mod lockcheck;
mod log;
mod mm;
mod net;
mod nohz;
mod percpu;
mod power;
mod preempt;
mod process;
mod ptrace;
mod random;
mod rcu;
mod runner;
mod sched;
mod serial;
mod signal;
mod smp;
mod symbols;
mod sync;
mod syscall;
mod task;
mod test;
mod text_poke;
mod time;
mod trap;
mod tty;
mod uaccess;
mod unwind;
mod vdso;
mod watchdog;
mod x86;

use core::fmt::Write;
use mm::{frame, paging};
use power::{ExitCode, power_off};
use spin::Once;

/// The kernel command line, kept for the whole run.
pub static CMDLINE: Once<&'static str> = Once::new();
/// The initrd, through the direct map.
pub static INITRD: Once<cpio::Cpio> = Once::new();

/// Timer period in APIC ticks (1 ns each under QEMU, one instruction under icount): 1 ms.
pub(crate) const TIMER_PERIOD: u32 = 1_000_000;

unsafe extern "C" {
    static __kernel_end: u8;
}

#[unsafe(no_mangle)]
extern "C" fn kernel_main(start_info: u64) -> ! {
    percpu::early_gs_base(0);
    serial::init();
    klog!("kentry: booting (PVH)");
    let info = boot::parse_start_info(start_info);
    CMDLINE.call_once(|| info.cmdline);
    // While low memory is identity mapped: the CPUs the firmware lists.
    smp::discover(info.rsdp);
    let f = *x86::cpu::probe();
    klog!(
        "cpu: {} smap={} smep={} fsgsbase={} x2apic={} amd={}",
        x86::cpu::brand(),
        f.smap,
        f.smep,
        f.fsgsbase,
        f.x2apic,
        f.vendor_amd
    );
    klog!("cmdline: {}", info.cmdline);

    let kernel_end_phys = mm::kernel_virt_to_phys(core::ptr::addr_of!(__kernel_end) as u64);
    let mut reserved = [
        boot::PhysRange {
            start: 0,
            end: kernel_end_phys,
        },
        info.start_info,
        boot::PhysRange { start: 0, end: 0 },
    ];
    if let Some(r) = info.initrd {
        reserved[2] = r;
    }
    let ram = &info.ram[..info.ram_count];
    let ram_end = ram.iter().map(|r| r.end).max().unwrap_or(0);
    frame::init(ram, &reserved);

    // While kernel text is still writable (boot map): drop `clac` where SMAP is missing.
    // SAFETY: boot CPU, before any stub can run; text is writable under the boot map.
    unsafe { kentry::arch::smap::patch_clac_if_no_smap(f.smap) };
    // SAFETY: as above; the inline user accesses' `stac`/`clac` likewise.
    unsafe { uaccess::patch_smap_sites(f.smap) };

    let kt = paging::build_kernel_table(ram_end);
    // SAFETY: the new table maps the kernel image at the same addresses, and the boot stack
    // (in .bss) with it; the identity map is no longer needed after this.
    unsafe { kt.activate() };
    mm::switch_to_direct_map();
    mm::heap::init();
    unwind::init();
    uaccess::init(f.smap);

    if let Some(r) = info.initrd {
        // SAFETY: the initrd frames are reserved from the allocator and visible through the
        // direct map for the whole run.
        let data = unsafe {
            core::slice::from_raw_parts(
                mm::phys_to_virt(r.start) as *const u8,
                (r.end - r.start) as usize,
            )
        };
        let cpio = INITRD.call_once(|| cpio::Cpio::new(data));
        if let Some(syms) = cpio.find("boot/kernel.sym") {
            symbols::init(syms);
        }
    }

    x86::cpu::setup_control_registers(&f);
    kentry::static_key::set_text_writer(text_poke::write_text);
    // nohz_full needs context tracking: decided first.
    nohz::init(info.cmdline);
    mm::espfix::configure(info.cmdline);
    text_poke::apply_context_tracking(info.cmdline);
    apply_test_breaks(info.cmdline);
    init_this_cpu(0);
    if f.mce {
        x86::mce::init();
    }
    x86::apic::init(f.x2apic, info.cmdline);
    x86::apic::start_timer(TIMER_PERIOD);
    let (total, free) = frame::stats();
    klog!(
        "memory: {} MiB RAM, {} MiB free; apic: {}",
        total * 4 / 1024,
        free * 4 / 1024,
        if x86::apic::is_x2apic() {
            "x2APIC"
        } else {
            "xAPIC"
        }
    );

    // Leave the unguarded boot stack: from here on everything runs in tasks, each on a
    // guarded stack (E26).
    let k = process::kernel_process();
    let main_thread =
        task::Task::new_kernel(0, k, "task stack (kernel main thread)", kernel_continue);
    sched::start(main_thread, sched::new_idle())
}

/// Test kernels: turns off the safety checks named by `kentry.break=` (negative tests), before
/// the CPU is set up with them.
fn apply_test_breaks(cmdline: &str) {
    #[cfg(feature = "test-hooks")]
    if let Some(n) = boot::cmdline_value(cmdline, "kentry.drop_ticks").and_then(|v| v.parse().ok())
    {
        klog!("test hook: every other one of the first {n} ticks is dropped");
        trap::DROP_TICKS.store(n, core::sync::atomic::Ordering::Relaxed);
    }
    #[cfg(feature = "test-hooks")]
    time::test_hooks_init(cmdline);
    #[cfg(feature = "test-hooks")]
    if let Some(name) = boot::cmdline_value(cmdline, "kentry.break") {
        if name == "clock_tsc_order" {
            klog!("test hook: the clock's rate changes read their TSC before the windows open");
            time::BREAK_TSC_ORDER.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "clock_apic_ref" {
            klog!("test hook: the clock's reference period is the median tick delta");
            time::BREAK_APIC_REFERENCE.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "rcu_qs" {
            klog!("test hook: RCU grace periods treat kernel-mode CPUs as quiescent");
            rcu::BREAK_QS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "key_park" {
            klog!("test hook: static-key flips skip the park of the other CPUs");
            text_poke::SKIP_PARK.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "preempt_count" {
            klog!("test hook: the IRQ-exit preemption test ignores the preempt count");
            preempt::BREAK_COUNT.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "kernel_preempt" {
            klog!("test hook: kernel code is never preempted");
            preempt::BREAK_PREEMPT.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "mce_severity" {
            klog!("test hook: machine checks skip the action-required rule");
            x86::mce::BREAK_SEVERITY.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "lockcheck" {
            klog!("test hook: the lock-context checks are off");
            lockcheck::BREAK.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "ts_compat" {
            klog!("test hook: no call is known as an i386 one (TS_COMPAT ignored)");
            syscall::compat::BREAK_TS_COMPAT.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "arg6_fault" {
            klog!("test hook: a compat SYSCALL runs although its sixth argument is unreadable");
            syscall::compat::BREAK_ARG6.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "tls_fit" {
            klog!("test hook: the switch loads selectors that name an empty TLS slot");
            task::tls::BREAK_FIT.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "int80_args" {
            klog!("test hook: i386 calls leave their arguments in the x86-64 registers");
            syscall::compat::BREAK_ARGS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "seccomp" {
            klog!("test hook: seccomp judges no syscall (strict mode and filters off)");
            syscall::seccomp::BREAK_CHECK.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "seccomp_notify" {
            klog!("test hook: the seccomp listener's argument and state checks are off");
            syscall::seccomp::notify::BREAK_CHECKS
                .store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "nohz" {
            klog!("test hook: nohz_full CPUs keep their tick");
            nohz::BREAK_KEEP_TICK.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "vtime_remote" {
            klog!("test hook: CPU-time readers ignore time pending on other nohz_full CPUs");
            nohz::vtime::BREAK_REMOTE.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "stack_map_lock" {
            klog!("test hook: kernel stacks are mapped without the stack area's lock");
            mm::stack::BREAK_MAP_LOCK.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "ptrace_regs" {
            klog!("test hook: a tracer's register writes are taken unchecked");
            ptrace::BREAK_REG_CHECKS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "sigqueue" {
            klog!("test hook: rt_sigqueueinfo takes forged si_codes and RLIMIT_SIGPENDING is off");
            crate::signal::BREAK_SIGQUEUE_CHECKS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "unix_scm" {
            klog!("test hook: AF_UNIX control data goes unchecked (cmsg_len, SCM_MAX_FD)");
            net::scm::BREAK_CHECKS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "unix_backlog" {
            klog!("test hook: AF_UNIX listeners queue connections without bound");
            net::unix_conn::BREAK_BACKLOG.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "memfd_seals" {
            klog!("test hook: memfd seals are recorded but enforce nothing");
            fs::memfd::BREAK_SEALS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "clone3_size" {
            klog!("test hook: clone3 reads its struct without the size rules");
            syscall::clone::BREAK_SIZE_RULES.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "vdso_publish" {
            klog!("test hook: the clock is never published to the vDSO's vvar page");
            vdso::BREAK_PUBLISH.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "vdso_special" {
            klog!("test hook: the vDSO's mappings may be split, grown and made writable");
            vdso::BREAK_SPECIAL.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "sigreturn_flags" {
            klog!("test hook: rt_sigreturn takes IF, IOPL and NT from the user's frame");
            crate::signal::BREAK_SIGRETURN_FLAGS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "xstate_header" {
            klog!("test hook: user XSAVE headers are repaired instead of refused");
            task::xstate::BREAK_HEADER.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        // The in-kernel breakpoint API's region refusals (x86/hwbp.rs), one at a time.
        if name == "hwbp_entry_text" {
            return x86::hwbp::break_refusal(x86::hwbp::Refusal::EntryText);
        }
        if name == "pidns" {
            klog!("test hook: a PID namespace's numbers are taken as global ids");
            process::pid_ns::BREAK_ISOLATION.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "hwbp_percpu_entry_data" {
            return x86::hwbp::break_refusal(x86::hwbp::Refusal::PerCpuEntryData);
        }
        if name == "hwbp_gdt" {
            return x86::hwbp::break_refusal(x86::hwbp::Refusal::Gdt);
        }
        if name == "hwbp_idt" {
            return x86::hwbp::break_refusal(x86::hwbp::Refusal::Idt);
        }
        if name == "hwbp_tss" {
            return x86::hwbp::break_refusal(x86::hwbp::Refusal::Tss);
        }
        if name == "hwbp_ist_stack" {
            return x86::hwbp::break_refusal(x86::hwbp::Refusal::IstStack);
        }
        if name == "hwbp_task_stack" {
            return x86::hwbp::break_refusal(x86::hwbp::Refusal::TaskStack);
        }
        if name == "sysenter_step" {
            klog!("test hook: single-steps of the SYSENTER stub are not recognised");
            x86::debugreg::BREAK_SYSENTER_STEP.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "vsyscall_int80" {
            klog!("test hook: __kernel_vsyscall keeps int $0x80 (no fast entry)");
            vdso::ia32::BREAK_FAST.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "epoll_edge" {
            klog!("test hook: epoll's edge-triggered and ONESHOT items act level-triggered");
            event::epoll::BREAK_EDGE.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "timerfd_overrun" {
            klog!("test hook: a timerfd read returns 1 however many periods passed");
            event::timerfd::BREAK_OVERRUN.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "ldt_fit" {
            klog!("test hook: the switch loads selectors that name an unusable LDT entry");
            task::ldt::BREAK_FIT.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "ldt_ipi" {
            klog!("test hook: an LDT write reloads no other CPU (the old table is leaked)");
            task::ldt::BREAK_IPI.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "sigreturn32_segs" {
            klog!("test hook: i386 sigreturn loads the frame's data selectors unchecked");
            crate::signal::BREAK_SIGRETURN32_SEGS
                .store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "socketcall_nargs" {
            klog!("test hook: socketcall reads six words of every call's argument block");
            syscall::compat::BREAK_SOCKETCALL_NARGS
                .store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "cred_checks" {
            klog!("test hook: the id calls grant every change (no capability asked)");
            syscall::cred::BREAK_CHECKS.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        if name == "tiocsti_perm" {
            klog!("test hook: TIOCSTI pushes input into any terminal (no permission asked)");
            tty::ioctl::BREAK_TIOCSTI_PERM.store(true, core::sync::atomic::Ordering::Relaxed);
            return;
        }
        match kentry::test_hooks::Check::from_name(name) {
            Some(c) => {
                klog!("test hook: safety check '{name}' is OFF");
                kentry::test_hooks::break_check(c);
            }
            None => klog!("test hook: unknown check '{name}' (ignored)"),
        }
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = cmdline;
}

/// GDT, TSS with IST stacks, IDT, per-CPU GS base and the SYSCALL MSRs for the boot CPU:
/// four fresh guarded IST stacks, then [`init_cpu_tables`].
fn init_this_cpu(n: usize) {
    let cpu = percpu::cpu_area(n);
    let alloc = |name| mm::stack::alloc_stack(4, name);
    let stacks = [
        Some(alloc("#DF IST stack")),
        Some(alloc("NMI IST stack")),
        Some(alloc("#DB IST stack")),
        Some(alloc("#MC IST stack")),
    ];
    // SAFETY: boot CPU, interrupts off, nothing reads the records yet.
    unsafe { *cpu.ist_stacks.get() = stacks };
    init_cpu_tables(n);
}

/// kentry's `init_cpu` for CPU `n`, run on that CPU with interrupts off, with the IST stacks
/// already recorded in its per-CPU area.
pub(crate) fn init_cpu_tables(n: usize) {
    let cpu = percpu::cpu_area(n);
    // SAFETY: written before this CPU runs (boot CPU: just above; an AP: by the boot CPU
    // before its STARTUP IPI).
    let stacks = unsafe { *cpu.ist_stacks.get() };
    let top = |i: usize| stacks[i].expect("IST stack").top;
    // SAFETY: CPU `n` itself, interrupts off, nothing can enter kentry on it yet; the per-CPU
    // area and tables are this CPU's and static; the IST stacks are fresh and only used as
    // such.
    unsafe {
        kentry::arch::setup::init_cpu(
            n as u32,
            &cpu.entry,
            &mut *cpu.tables.get(),
            kentry::arch::setup::IstStacks {
                double_fault: top(0),
                nmi: top(1),
                debug: top(2),
                machine_check: top(3),
            },
        );
    }
    vdso::init_cpu(n);
    mm::espfix::init_cpu(n, &cpu.entry);
}

/// The kernel's main thread: runs what the command line asks for, then powers off.
extern "C" fn kernel_continue() -> ! {
    sched::kernel_thread_prologue();
    // The filesystem (the initrd's tree, /dev, /proc) before any program runs.
    fs::init();
    rcu::init();
    let cmdline = CMDLINE.get().copied().unwrap_or("");
    watchdog::init(cmdline);
    // The 32-bit vDSO's fast entry, chosen once for the machine (before the other CPUs and
    // any user program run: the image is patched in place).
    let vsyscall = vdso::ia32::select_entry();
    klog!("vdso32: __kernel_vsyscall uses {vsyscall:?}");
    hang_report::init(cmdline);
    smp::start_aps(TIMER_PERIOD);
    let code = match boot::cmdline_value(cmdline, "kentry.mode").unwrap_or("run") {
        "test" => test::run_all(cmdline),
        "bench" => bench_smp::on_bench_cpu(cmdline, bench::run_bench),
        "bench-ipi" => bench_smp::run_ipi_bench(),
        "bench-nohz" => bench_nohz::run(),
        _ => runner::run(cmdline),
    };
    // Recovered machine checks since this CPU's last tick (the tick is their one consumer:
    // IRQs off here).
    x86_64::instructions::interrupts::without_interrupts(|| percpu::this_cpu().mce_log.drain());
    power_off(code)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    percpu::repair_gs_base_for_report();
    let mut w = log::ForcedWriter::new();
    let _ = writeln!(w, "[kentry] KERNEL PANIC: {}", info);
    let (rip, rsp, rbp): (u64, u64, u64);
    // SAFETY: reading this function's own RIP, RSP and RBP.
    unsafe {
        core::arch::asm!("lea {}, [rip]", "mov {}, rsp", "mov {}, rbp", out(reg) rip, out(reg) rsp, out(reg) rbp)
    };
    trap::backtrace(unwind::Frame { rip, rsp, rbp });
    power_off(ExitCode::Panic)
}
