//! A second kernel built on kentry, to prove the crate's contract is enough: it uses kentry
//! only through its public API and its linker fragments (entry/README.md), nothing from
//! `kernel/`. It boots by PVH, sets the CPU up with `init_cpu`, turns context tracking on
//! (a static key: the jump-table fragment at work), starts one user task from kentry's fork
//! frame, and serves it: write, getpid and exit, a #UD it resumes past, and an NMI the host
//! injects (QMP, through xtask's host-request line) while ring 3 spins. It prints KTAP and
//! leaves QEMU through isa-debug-exit.
#![no_std]
#![no_main]

mod boot;
mod user;

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use kentry::context_tracking::CtViolation;
use kentry::entry_percpu::EntryPerCpu;
use kentry::exit_work::ExitWork;
use kentry::irqentry::Fault;
use kentry::{Host, Regs, vectors};
use kentry_abi::{errno, nr};
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

/// COM1, written byte by byte with no lock: the NMI handler never prints, and only one CPU
/// and one task run.
struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: COM1's line status and data ports; QEMU's UART needs no set-up.
            unsafe {
                while Port::<u8>::new(0x3fd).read() & 0x20 == 0 {}
                Port::<u8>::new(0x3f8).write(b);
            }
        }
        Ok(())
    }
}

macro_rules! log {
    ($($t:tt)*) => {{
        let _ = writeln!(Serial, "[minimal] {}", format_args!($($t)*));
    }};
}

/// isa-debug-exit: QEMU ends with status `(v << 1) | 1`.
fn power_off(v: u32) -> ! {
    let _ = writeln!(Serial, "[kentry] power off: v={v}");
    // SAFETY: the isa-debug-exit device at 0xf4 ends QEMU.
    unsafe { Port::<u32>::new(0xf4).write(v) };
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// kentry's per-CPU area: the whole per-CPU state of this kernel (GS points at it).
static PERCPU: EntryPerCpu = EntryPerCpu::new(0);

/// A 16-byte aligned stack in .bss.
#[repr(C, align(16))]
struct Stack([u8; 16384]);

impl Stack {
    /// The address just past the stack.
    fn top(&'static mut self) -> u64 {
        self.0.as_ptr_range().end as u64
    }
}

/// What the run saw, checked when the program exits.
static SYSCALLS: AtomicU64 = AtomicU64::new(0);
static UD_AT: AtomicU64 = AtomicU64::new(0);
static NMIS: AtomicU64 = AtomicU64::new(0);
static NMIS_FROM_USER: AtomicU64 = AtomicU64::new(0);

struct Minimal;

kentry::entry_points!(Minimal);

impl Host for Minimal {
    fn syscall(regs: &mut Regs, nr: i32) {
        SYSCALLS.fetch_add(1, Ordering::Relaxed);
        let [a0, a1, a2, ..] = regs.syscall_args();
        regs.rax = match nr as usize {
            nr::WRITE => write(a0, a1, a2),
            nr::SCHED_YIELD => ask_for_nmi(),
            nr::GETPID => user::PID,
            nr::EXIT | nr::EXIT_GROUP => exit(a0 as i32),
            _ => (-errno::ENOSYS) as u64,
        };
    }

    fn exception(regs: &mut Regs, fault: Fault) {
        if regs.user_mode() && fault.vector == vectors::UD && UD_AT.load(Ordering::Relaxed) == 0 {
            log!(
                "user fault: {} at rip={:#x}, resuming past it",
                vectors::name(fault.vector),
                regs.rip
            );
            UD_AT.store(regs.rip, Ordering::Relaxed);
            regs.rip += 2; // ud2
            return;
        }
        log!(
            "unexpected {} in {} mode at rip={:#x} err={:#x} cr2={:#x}",
            vectors::name(fault.vector),
            if regs.user_mode() { "user" } else { "kernel" },
            regs.rip,
            fault.error_code,
            fault.cr2
        );
        power_off(1)
    }

    fn ist_exception_from_user(regs: &mut Regs, fault: Fault) {
        log!(
            "unexpected {} from user mode at rip={:#x}",
            vectors::name(fault.vector),
            regs.rip
        );
        power_off(1)
    }

    fn interrupt(regs: &mut Regs, vector: u8) {
        log!("unexpected interrupt {vector:#x} at rip={:#x}", regs.rip);
        power_off(1)
    }

    fn nmi_like(regs: &mut Regs, vector: u8, _error_code: u64) {
        if vector != vectors::NMI {
            // #DF, or #DB/#MC from kernel mode: nothing here raises them on purpose.
            log!(
                "unexpected {} at rip={:#x}",
                vectors::name(vector),
                regs.rip
            );
            power_off(3)
        }
        // NMI context: atomics only, and a store to the user page through the kernel's alias.
        NMIS.fetch_add(1, Ordering::Relaxed);
        if regs.user_mode() {
            let n = NMIS_FROM_USER.fetch_add(1, Ordering::Relaxed) + 1;
            let flag = boot::user_alias(boot::USER_BASE + user::NMI_FLAG_OFFSET);
            // SAFETY: an aligned word of the user page, which stays mapped for the whole run.
            unsafe { core::ptr::write_volatile(flag.expect("in the user page") as *mut u64, n) };
        }
    }

    fn exit_work(_regs: &mut Regs, work: ExitWork) {
        // Nothing here raises work; clear what is there so the loop ends.
        PERCPU.clear_work(work.bits());
    }

    fn context_violation(regs: &Regs, vector: Option<u8>, v: CtViolation) -> ! {
        log!(
            "context tracking violated at {:?} rip={:#x}: state {} user_mode {} nesting {}",
            vector,
            regs.rip,
            v.state,
            v.user_mode,
            v.nmi_nesting
        );
        power_off(2)
    }

    fn ist_recursion(_regs: &Regs, vector: u8) -> ! {
        log!("IST recursion: {}", vectors::name(vector));
        power_off(2)
    }
}

/// write(fd, buf, len) for fds 1 and 2: the bytes go to the serial port, indented as KTAP
/// nests a subtest's output.
fn write(fd: u64, buf: u64, len: u64) -> u64 {
    let end = buf.checked_add(len);
    let (Some(src), Some(_)) = (
        boot::user_alias(buf),
        end.and_then(|e| boot::user_alias(e - 1)),
    ) else {
        return (-errno::EFAULT) as u64;
    };
    if fd != 1 && fd != 2 {
        return (-9i64) as u64; // -EBADF
    }
    // SAFETY: the whole range lies in the user page (checked above), mapped for the run.
    let bytes = unsafe { core::slice::from_raw_parts(src, len as usize) };
    let _ = write!(
        Serial,
        "    {}",
        core::str::from_utf8(bytes).unwrap_or("<not UTF-8>\n")
    );
    len
}

/// sched_yield(): the one task has nothing to yield to, so this kernel gives the call another
/// meaning — the program is about to spin in ring 3, the moment to ask the host (xtask, over
/// QMP) for an NMI. The delay lets the program reach its loop first.
fn ask_for_nmi() -> u64 {
    let _ = writeln!(Serial, "[kentry] host-request: after 50ms inject-nmi");
    0
}

/// exit(code): the program is done; judge the run and power off.
fn exit(code: i32) -> ! {
    let ud_expected = boot::USER_BASE + user::ud2_offset();
    let checks = [
        (
            "syscalls",
            SYSCALLS.load(Ordering::Relaxed) == 5,
            "write, getpid, sched_yield, write and exit arrived",
        ),
        (
            "user_fault",
            UD_AT.load(Ordering::Relaxed) == ud_expected,
            "#UD at the program's ud2, resumed",
        ),
        (
            "nmi_from_user",
            NMIS_FROM_USER.load(Ordering::Relaxed) >= 1,
            "an NMI interrupted ring 3",
        ),
        (
            "exit_status",
            code == 0,
            "the program saw the NMI flag and getpid's answer",
        ),
    ];
    log!(
        "program exited with {code}; syscalls {}, #UD at {:#x} (expected {ud_expected:#x}), NMIs {} ({} from user)",
        SYSCALLS.load(Ordering::Relaxed),
        UD_AT.load(Ordering::Relaxed),
        NMIS.load(Ordering::Relaxed),
        NMIS_FROM_USER.load(Ordering::Relaxed)
    );
    let _ = writeln!(Serial, "KTAP version 1\n1..{}", checks.len());
    for (i, (name, ok, what)) in checks.iter().enumerate() {
        let _ = writeln!(
            Serial,
            "{}ok {} {name} # {what}",
            if *ok { "" } else { "not " },
            i + 1
        );
    }
    power_off(if checks.iter().all(|c| c.1) { 0 } else { 1 })
}

/// The local APIC (xAPIC, memory-mapped: QEMU 7.2's TCG has no x2APIC) with LINT1
/// delivering NMIs: QEMU's `inject-nmi` arrives there, and reset leaves it masked.
fn enable_nmi_input() -> bool {
    if core::arch::x86_64::__cpuid(1).edx & (1 << 9) == 0 {
        return false;
    }
    let reg = |off: u64| (boot::XAPIC_PHYS + off) as *mut u32;
    // SAFETY: IA32_APIC_BASE's enable bit, then the SVR and LVT LINT0/LINT1 registers of the
    // xAPIC page, which the boot tables map uncached.
    unsafe {
        let mut base = Msr::new(0x1b);
        let v = base.read();
        base.write(v | (1 << 11));
        core::ptr::write_volatile(reg(0xf0), 0x1ff); // software enable, spurious vector 0xff
        core::ptr::write_volatile(reg(0x350), 1 << 16); // LINT0 masked
        core::ptr::write_volatile(reg(0x360), 0b100 << 8); // LINT1: NMI
    }
    true
}

/// Static keys write kernel text; the boot map leaves it writable, so the writer is a copy.
///
/// # Safety
/// As kentry's `TextWriter`: whole instructions, no CPU executing them.
unsafe fn write_text(addr: u64, bytes: &[u8]) {
    // SAFETY: per the contract; the text is mapped writable by the boot page tables.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
}

#[unsafe(no_mangle)]
extern "C" fn kernel_main() -> ! {
    log!("booting (PVH); kentry through its public API only");
    let smap = core::arch::x86_64::__cpuid_count(7, 0).ebx & (1 << 20) != 0;
    // SAFETY: boot CPU, text still writable, no stub can run yet.
    unsafe { kentry::arch::smap::patch_clac_if_no_smap(smap) };

    static mut IST: [Stack; 4] = [const { Stack([0; 16384]) }; 4];
    static mut TABLES: kentry::gdt::CpuTables = kentry::gdt::CpuTables::new();
    // SAFETY: run once, before anything can enter kentry; the statics are this CPU's alone.
    unsafe {
        let [df, nmi, db, mc] = &mut *core::ptr::addr_of_mut!(IST);
        let ist = kentry::arch::setup::IstStacks {
            double_fault: df.top(),
            nmi: nmi.top(),
            debug: db.top(),
            machine_check: mc.top(),
        };
        kentry::arch::setup::init_cpu(0, &PERCPU, &mut *core::ptr::addr_of_mut!(TABLES), ist);
    }
    kentry::static_key::set_text_writer(write_text);
    let sites = kentry::context_tracking::CONTEXT_TRACKING.enable();
    log!("cpu set up by kentry::arch::setup::init_cpu; context tracking on ({sites} sites)");
    if !enable_nmi_input() {
        let _ = writeln!(
            Serial,
            "KTAP version 1\n1..0 # SKIP no local APIC to take NMIs on"
        );
        power_off(0)
    }

    let image = user::image();
    let dst = boot::user_alias(boot::USER_BASE).expect("user page");
    // SAFETY: the user page is ours, 2 MiB, and the image is a few hundred bytes.
    unsafe { core::ptr::copy_nonoverlapping(image.as_ptr(), dst, image.len()) };
    let regs = Regs::new_user(boot::USER_BASE, boot::USER_BASE + user::STACK_TOP_OFFSET);
    static mut TASK_STACK: Stack = Stack([0; 16384]);
    // SAFETY: a fresh 16 KiB stack only this task uses.
    let task = unsafe {
        kentry::task::TaskEntry::new_user((*core::ptr::addr_of_mut!(TASK_STACK)).top(), &regs)
    };
    log!(
        "starting the user program ({} bytes at {:#x})",
        image.len(),
        boot::USER_BASE
    );
    // SAFETY: interrupts are off (PVH entry, never enabled); `task` never ran, and lives for
    // ever in this frame, which is never left.
    unsafe { kentry::task::start_first(&PERCPU, &task) }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    log!("PANIC: {info}");
    power_off(2)
}
