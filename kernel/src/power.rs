//! Leaving QEMU through isa-debug-exit with a status xtask understands (docs/harness.md).

use x86_64::instructions::port::Port;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Done = 0,
    Failed = 1,
    Panic = 2,
    DoubleFault = 3,
}

pub fn power_off(code: ExitCode) -> ! {
    crate::kprint!("[kentry] power off: v={}\n", code as u32);
    exit_qemu(code)
}

/// [`power_off`] for NMI context: its line goes out through `ForcedWriter`, never waiting for
/// the console lock (which the CPU being reported on may hold for ever).
pub fn power_off_forced(code: ExitCode) -> ! {
    use core::fmt::Write;
    let _ = writeln!(
        crate::log::ForcedWriter::new(),
        "[kentry] power off: v={}",
        code as u32
    );
    exit_qemu(code)
}

fn exit_qemu(code: ExitCode) -> ! {
    // SAFETY: the isa-debug-exit device at 0xf4 ends QEMU with (v << 1) | 1.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    // Without the device (e.g. another machine type), stop here.
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
