//! Copying to and from user memory. The only kernel code that touches user addresses: the
//! range is checked first (never past TASK_SIZE_MAX), SMAP is opened with `stac` around the
//! copy alone, and a fault inside the copy is fixed up through the exception table, so a bad
//! pointer becomes -EFAULT instead of a kernel fault.

use core::sync::atomic::{AtomicBool, Ordering};
use kentry::sysret::TASK_SIZE_MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Efault;

static SMAP: AtomicBool = AtomicBool::new(false);

pub fn init(smap: bool) {
    SMAP.store(smap, Ordering::Relaxed);
}

/// An exception-table entry: a fault at `insn` continues at `fixup`.
#[repr(C)]
pub struct ExTableEntry {
    pub insn: u64,
    pub fixup: u64,
}

unsafe extern "C" {
    static __ex_table_start: ExTableEntry;
    static __ex_table_end: ExTableEntry;
    /// Copies rdx bytes from rsi to rdi; returns the bytes left uncopied.
    fn kernel_copy_user_smap(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn kernel_copy_user_nosmap(dst: *mut u8, src: *const u8, len: usize) -> usize;
    static __uaccess_stac_sites_start: u64;
    static __uaccess_stac_sites_end: u64;
    static __uaccess_clac_sites_start: u64;
    static __uaccess_clac_sites_end: u64;
    static kernel_copy_user_text_start: u8;
    static kernel_copy_user_text_end: u8;
}

/// Whether `rip` lies in the user-copy routines (a user watchpoint's #DB in kernel mode
/// comes from there, x86/debugreg.rs).
pub fn in_copy_text(rip: u64) -> bool {
    let start = core::ptr::addr_of!(kernel_copy_user_text_start) as u64;
    let end = core::ptr::addr_of!(kernel_copy_user_text_end) as u64;
    (start..=end).contains(&rip)
}

// The copy moves 8 bytes per iteration (`rep movsq`) and the tail byte-wise: a signal frame
// plus its FXSAVE image is ~950 bytes, and `rep movsb` would iterate once per byte.
macro_rules! copy_user_body {
    ($open:literal, $close:literal, $l:literal) => {
        concat!(
            $open,
            "\n",
            "movq %rdx, %rcx\n",
            "shrq $3, %rcx\n",
            "andl $7, %edx\n",
            $l,
            "1: rep movsq\n",
            "movl %edx, %ecx\n",
            $l,
            "2: rep movsb\n",
            $close,
            "\n",
            "xorl %eax, %eax\n",
            "ret\n",
            // A fault in the quadword loop: rcx quadwords and the tail are left.
            $l,
            "3: leaq (%rdx,%rcx,8), %rax\n",
            $close,
            "\n",
            "ret\n",
            $l,
            "4: movq %rcx, %rax\n",
            $close,
            "\n",
            "ret\n",
            ".pushsection .ex_table, \"a\"\n",
            ".quad ",
            $l,
            "1, ",
            $l,
            "3\n",
            ".quad ",
            $l,
            "2, ",
            $l,
            "4\n",
            ".popsection\n",
        )
    };
}

core::arch::global_asm!(
    ".pushsection .text.uaccess, \"ax\"",
    ".globl kernel_copy_user_text_start",
    "kernel_copy_user_text_start:",
    ".globl kernel_copy_user_smap",
    "kernel_copy_user_smap:",
    copy_user_body!("stac", "clac", ".Lsmap"),
    ".globl kernel_copy_user_nosmap",
    "kernel_copy_user_nosmap:",
    copy_user_body!("", "", ".Lnosmap"),
    ".globl kernel_copy_user_text_end",
    "kernel_copy_user_text_end:",
    ".popsection",
    options(att_syntax)
);

/// The fixup address for a kernel fault at `rip`, if `rip` is a covered user access.
pub fn search_exception_table(rip: u64) -> Option<u64> {
    // SAFETY: the linker script bounds the table; entries are plain pairs of addresses.
    let table = unsafe {
        let start = core::ptr::addr_of!(__ex_table_start);
        let end = core::ptr::addr_of!(__ex_table_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    };
    table.iter().find(|e| e.insn == rip).map(|e| e.fixup)
}

/// Whether [addr, addr+len) lies entirely in user space.
pub fn access_ok(addr: u64, len: usize) -> bool {
    addr.checked_add(len as u64)
        .is_some_and(|end| end <= TASK_SIZE_MAX)
}

fn copy(dst: *mut u8, src: *const u8, len: usize) -> usize {
    // SAFETY: one side is a kernel buffer of `len` bytes owned by the caller; the other was
    // range-checked to be user space, and a fault on it is fixed up by the exception table.
    unsafe {
        if SMAP.load(Ordering::Relaxed) {
            kernel_copy_user_smap(dst, src, len)
        } else {
            kernel_copy_user_nosmap(dst, src, len)
        }
    }
}

pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), Efault> {
    if !access_ok(src, dst.len()) {
        return Err(Efault);
    }
    match copy(dst.as_mut_ptr(), src as *const u8, dst.len()) {
        0 => Ok(()),
        _ => Err(Efault),
    }
}

pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), Efault> {
    if !access_ok(dst, src.len()) {
        return Err(Efault);
    }
    match copy(dst as *mut u8, src.as_ptr(), src.len()) {
        0 => Ok(()),
        _ => Err(Efault),
    }
}

/// The 32-bit word at user address `src` (Linux's `get_user` of a `u32`), for the compat
/// fast system calls' sixth argument on every call: inline, `stac`, one load, `clac`, and an
/// exception-table entry whose fixup (out of line) sets the result to all ones and goes on at
/// the `clac`, so the fast path pays no call and one test of the sign (a zero-extended u32 is
/// never negative). The `stac` and `clac` are recorded: [`patch_smap_sites`] makes them NOPs on
/// a CPU without SMAP, where they are #UD. (An `asm!` goto, with the fixup at the caller's
/// -EFAULT branch, would spare the test, but Rust does not take one with an output yet.)
#[inline(always)]
pub fn get_user_u32(src: u32) -> Result<u32, Efault> {
    // Below 4 GiB, so always below TASK_SIZE_MAX: no range check to make.
    const _: () = assert!(TASK_SIZE_MAX > 1 << 32);
    let v: u64;
    // SAFETY: `src` is a user address (below 4 GiB, never kernel space); AC is open only
    // around the load, and a fault on it continues at the fixup, which returns to the `clac`.
    unsafe {
        core::arch::asm!(
            "2: stac",
            "3: mov {v:e}, dword ptr [{src}]",
            "4: clac",
            ".pushsection .text.uaccess_fixup, \"ax\"",
            "5: mov {v}, -1",
            "jmp 4b",
            ".popsection",
            ".pushsection .uaccess_stac_sites, \"a\"",
            ".quad 2b",
            ".popsection",
            ".pushsection .uaccess_clac_sites, \"a\"",
            ".quad 4b",
            ".popsection",
            ".pushsection .ex_table, \"a\"",
            ".quad 3b, 5b",
            ".popsection",
            src = in(reg) src as u64,
            v = out(reg) v,
            options(nostack, readonly),
        );
    }
    if (v as i64) < 0 {
        Err(Efault)
    } else {
        Ok(v as u32)
    }
}

fn sites(start: *const u64, end: *const u64) -> &'static [u64] {
    // SAFETY: the linker script bounds the table (kernel/linker.ld); entries are addresses.
    unsafe { core::slice::from_raw_parts(start, end.offset_from(start) as usize) }
}

fn stac_sites() -> &'static [u64] {
    sites(
        core::ptr::addr_of!(__uaccess_stac_sites_start),
        core::ptr::addr_of!(__uaccess_stac_sites_end),
    )
}

fn clac_sites() -> &'static [u64] {
    sites(
        core::ptr::addr_of!(__uaccess_clac_sites_start),
        core::ptr::addr_of!(__uaccess_clac_sites_end),
    )
}

/// Whether `rip` is the `clac` that ends an inline user access ([`get_user_u32`]): where a
/// user watchpoint's #DB (a trap, reported after the load) lands. On a CPU with SMAP AC is
/// still set there, which says the same; without SMAP (the `clac` patched) only this does.
pub fn at_inline_access_end(rip: u64) -> bool {
    clac_sites().contains(&rip)
}

/// Makes the inline user accesses' `stac` and `clac` 3-byte NOPs when the CPU lacks SMAP
/// (both are #UD there), as kentry's stubs' `clac` sites are.
///
/// # Safety
/// Kernel text must be writable, and no other CPU may run yet.
pub unsafe fn patch_smap_sites(has_smap: bool) {
    if has_smap {
        return;
    }
    const STAC: [u8; 3] = [0x0f, 0x01, 0xcb];
    const CLAC: [u8; 3] = [0x0f, 0x01, 0xca];
    const NOP3: [u8; 3] = [0x0f, 0x1f, 0x00];
    for (table, bytes) in [(stac_sites(), STAC), (clac_sites(), CLAC)] {
        for &site in table {
            let site = site as *mut [u8; 3];
            // SAFETY: each entry is the address of a 3-byte `stac`/`clac` in kernel text,
            // which the caller guarantees is writable and run by no other CPU.
            unsafe {
                assert_eq!(*site, bytes, "uaccess SMAP site table is stale");
                core::ptr::write_volatile(site, NOP3);
            }
        }
    }
}

pub fn put_user_u64(dst: u64, v: u64) -> Result<(), Efault> {
    copy_to_user(dst, &v.to_ne_bytes())
}
