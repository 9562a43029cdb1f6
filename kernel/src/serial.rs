//! The 16550 UART at COM1: the console for the kernel log and for user output.

use crate::sync::Mutex;
use x86_64::instructions::port::Port;

pub struct Serial {
    data: Port<u8>,
    line_status: Port<u8>,
}

impl Serial {
    const fn new(base: u16) -> Self {
        Serial {
            data: Port::new(base),
            line_status: Port::new(base + 5),
        }
    }

    fn init(&mut self, base: u16) {
        let regs = [
            (1, 0x00),
            (3, 0x80),
            (0, 0x01),
            (1, 0x00),
            (3, 0x03),
            (2, 0xc7),
            (4, 0x03),
        ];
        for (off, val) in regs {
            // SAFETY: programming COM1's registers (no interrupts, 115200 8N1, FIFO on).
            unsafe { Port::<u8>::new(base + off).write(val) };
        }
    }

    /// A received byte, if the UART holds one (line status bit 0, data ready).
    pub fn read_byte(&mut self) -> Option<u8> {
        // SAFETY: COM1 ports; reading the receive buffer only when it holds a byte.
        unsafe { (self.line_status.read() & 0x01 != 0).then(|| self.data.read()) }
    }

    pub fn write_byte(&mut self, b: u8) {
        // SAFETY: COM1 ports; waiting for THR empty, then writing one byte.
        unsafe {
            while self.line_status.read() & 0x20 == 0 {}
            self.data.write(b);
        }
    }
}

pub static COM1: Mutex<Serial> = Mutex::new(Serial::new(0x3f8));

pub fn init() {
    COM1.lock().init(0x3f8);
}

/// Turns on COM1's receive interrupt (IER bit 0, "received data available") and OUT2 (MCR
/// bit 3), which gates the UART's interrupt line on PC boards; the tty's input path.
pub fn enable_receive_interrupt() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let _com1 = COM1.lock();
        // SAFETY: COM1's interrupt-enable and modem-control registers, under the COM1 lock.
        unsafe {
            Port::<u8>::new(0x3f8 + 1).write(0x01);
            Port::<u8>::new(0x3f8 + 4).write(0x0b);
        }
    });
}

/// Writes bytes with interrupts off, so an interrupt handler that logs cannot deadlock on the
/// lock held by the code it interrupted.
pub fn write_bytes(bytes: &[u8]) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut s = COM1.lock();
        for &b in bytes {
            s.write_byte(b);
        }
    });
}

/// How long a forced write waits for the lock (spins of `try_lock`) before it breaks it: a
/// line another CPU is printing ends well within it.
const FORCE_LOCK_SPINS: u32 = 100_000;

/// Output for fault reports, which may run where this CPU holds the lock (a fault or an
/// NMI-like entry inside a print) or where the lock's holder will never run again: waits a
/// little for the lock (another CPU finishing its line, so the two do not interleave byte by
/// byte) and then breaks it.
pub fn force_write_bytes(bytes: &[u8]) {
    // The kernel is on its way to powering off: its report may take locks anywhere, even in
    // an NMI-like handler, and the lock checks must not turn it into a recursion.
    #[cfg(feature = "test-hooks")]
    crate::lockcheck::fatal_report();
    let mut spins = 0;
    let mut s = loop {
        if let Some(g) = COM1.try_lock() {
            break g;
        }
        spins += 1;
        if spins >= FORCE_LOCK_SPINS {
            // SAFETY: whoever holds the lock is this CPU, interrupted inside a print (it
            // never gets back to it before this report ends), or a CPU that has not let go
            // in all this time.
            unsafe { COM1.force_unlock() };
        }
        core::hint::spin_loop();
    };
    for &b in bytes {
        s.write_byte(b);
    }
}
