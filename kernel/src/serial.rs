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

/// Last-resort output for fault reports: takes the lock even if the faulting code held it.
pub fn force_write_bytes(bytes: &[u8]) {
    // SAFETY: only called on the way to powering off; whoever held the lock will never run.
    unsafe { COM1.force_unlock() };
    write_bytes(bytes);
}
