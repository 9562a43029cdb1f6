//! Process start, arguments and the panic handler.
//!
//! The kernel (Linux or kentry) starts a static ELF at `e_entry` = [`_start`] with RSP pointing at
//! `argc`, followed by `argv[0..argc]`, a NULL, `envp[..]`, a NULL and the auxiliary vector
//! (linux-abi.md §3.1). `_start` hands that pointer to Rust, runs the program's `main` (declared
//! with [`crate::entry!`]) and ends the process with `exit_group(main's return value)`.

use core::arch::naked_asm;

use crate::sys;

/// The program's arguments, read from the initial stack.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Args {
    argc: usize,
    argv: *const *const u8,
}

impl Args {
    /// The number of arguments, `argv[0]` included.
    pub fn len(&self) -> usize {
        self.argc
    }

    /// True when there is no argument at all (not even `argv[0]`).
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// Argument `i` without its terminating NUL, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: `argv` points at `argc` valid pointers (the kernel built the initial stack,
        // see `start_rust`), and `i < argc`.
        let p = unsafe { *self.argv.add(i) };
        if p.is_null() {
            return None;
        }
        let mut n = 0;
        // SAFETY: each argument is a NUL-terminated string on the initial stack, which stays
        // mapped and unmodified for the whole life of the process.
        unsafe {
            while *p.add(n) != 0 {
                n += 1;
            }
            Some(core::slice::from_raw_parts(p, n))
        }
    }

    /// Argument `i` as UTF-8 (`"?"` when it is not valid UTF-8), or `None` past the end.
    pub fn get_str(&self, i: usize) -> Option<&'static str> {
        self.get(i).map(|b| core::str::from_utf8(b).unwrap_or("?"))
    }

    /// The auxiliary-vector entry `key` (AT_*), or `None` if the kernel gave none.
    pub fn auxv(&self, key: u64) -> Option<u64> {
        // SAFETY: the initial stack holds argv[0..argc], NULL, envp[..], NULL, then the
        // (key, value) pairs ending with AT_NULL (linux-abi.md §3.1); it stays mapped and
        // unmodified for the whole life of the process.
        unsafe {
            let mut p = self.argv.add(self.argc + 1) as *const u64;
            while *p != 0 {
                p = p.add(1);
            }
            p = p.add(1);
            while *p != 0 {
                if *p == key {
                    return Some(*p.add(1));
                }
                p = p.add(2);
            }
        }
        None
    }

    /// All arguments, `argv[0]` first.
    pub fn iter(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        (0..self.argc).filter_map(|i| self.get(i))
    }
}

unsafe extern "C" {
    /// Defined in each program by [`crate::entry!`].
    safe fn kentry_user_main(args: Args) -> i32;
}

/// The ELF entry point.
///
/// Clears RBP (the outermost frame), passes the initial RSP to `start_rust` and aligns the stack to
/// 16 bytes before the call, as the SysV ABI requires at a call site.
///
/// # Safety
/// Only the kernel may enter here, once, at process start, with RSP at the initial stack.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "xor ebp, ebp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {start}",
        "ud2",
        start = sym start_rust,
    )
}

/// Reads `argc`/`argv` from the initial stack, runs `main`, exits with its status.
extern "C" fn start_rust(sp: *const usize) -> ! {
    // SAFETY: `sp` is the initial RSP given by the kernel: it points at `argc`, and `argv[]`
    // follows it directly (linux-abi.md §3.1).
    let args = unsafe {
        Args {
            argc: *sp,
            argv: sp.add(1).cast(),
        }
    };
    let status = kentry_user_main(args);
    sys::exit_group(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::eprintln!("panic: {}", info);
    sys::exit_group(1)
}
