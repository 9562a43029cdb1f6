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
    /// Reads the 32-bit word at rdi: its value zero-extended, or `u64::MAX` on a fault.
    fn kernel_get_user_u32_smap(src: *const u32) -> u64;
    fn kernel_get_user_u32_nosmap(src: *const u32) -> u64;
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

// One 32-bit load, for the compat SYSCALL's sixth argument on every call: the copy routine's
// setup and its byte loop cost more than the load itself.
macro_rules! get_user_u32_body {
    ($open:literal, $close:literal, $l:literal) => {
        concat!(
            $open,
            "\n",
            $l,
            "1: movl (%rdi), %eax\n", // zero-extends: a value never reads as the fault's
            $close,
            "\n",
            "ret\n",
            $l,
            "2: movq $-1, %rax\n",
            $close,
            "\n",
            "ret\n",
            ".pushsection .ex_table, \"a\"\n",
            ".quad ",
            $l,
            "1, ",
            $l,
            "2\n",
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
    ".globl kernel_get_user_u32_smap",
    "kernel_get_user_u32_smap:",
    get_user_u32_body!("stac", "clac", ".Lget32_smap"),
    ".globl kernel_get_user_u32_nosmap",
    "kernel_get_user_u32_nosmap:",
    get_user_u32_body!("", "", ".Lget32_nosmap"),
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

/// The 32-bit word at user address `src` (Linux's `get_user` of a `u32`): one load, with the
/// exception table's fixup for a fault.
pub fn get_user_u32(src: u64) -> Result<u32, Efault> {
    if !access_ok(src, 4) {
        return Err(Efault);
    }
    // SAFETY: `src` was range-checked to be user space; a fault on it is fixed up by the
    // exception table and reported as u64::MAX, which no zero-extended u32 equals.
    let v = unsafe {
        if SMAP.load(Ordering::Relaxed) {
            kernel_get_user_u32_smap(src as *const u32)
        } else {
            kernel_get_user_u32_nosmap(src as *const u32)
        }
    };
    u32::try_from(v).map_err(|_| Efault)
}

pub fn put_user_u64(dst: u64, v: u64) -> Result<(), Efault> {
    copy_to_user(dst, &v.to_ne_bytes())
}
