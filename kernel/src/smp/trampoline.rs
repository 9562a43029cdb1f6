//! The application processors' way from reset to Rust.
//!
//! A STARTUP IPI starts an AP in real mode at `vector × 4096` (CS = vector << 8, IP = 0). The
//! blob below is assembled here but never runs where it is linked: `start_aps` copies it to
//! [`TRAMPOLINE_PHYS`] (below 1 MiB, as real mode requires) and fills its data slots. Its
//! steps: real mode → 32-bit protected mode (its own flat GDT) → PAE, EFER.LME/NXE, paging
//! with the trampoline page table (the kernel's upper half plus an identity map of the first
//! 2 MiB, so the next instruction fetch still works) → 64-bit mode → a call into the kernel's
//! higher-half `ap_main(cpu, kernel_cr3)` on the AP's own guarded boot stack. `ap_main` then
//! loads the kernel's own page table, which has no identity map.
//!
//! The slots are written once per AP by the boot CPU before its STARTUP IPI, and the boot CPU
//! waits for that AP to report itself online before it writes them again.

/// Where the trampoline runs: page 8 (STARTUP vector 8). Low memory below the kernel is
/// reserved from the frame allocator, so nothing else lives there.
pub const TRAMPOLINE_PHYS: u64 = 0x8000;

core::arch::global_asm!(
    // Data, not code, as far as the kernel image is concerned: it is only copied.
    ".pushsection .rodata.ap_trampoline, \"a\"",
    ".balign 16",
    ".globl ap_trampoline_start",
    "ap_trampoline_start:",
    ".code16",
    "cli",
    "cld",
    "movw %cs, %ax",
    "movw %ax, %ds",
    "lgdtl (ap_tr_gdt_ptr - ap_trampoline_start)",
    "movl %cr0, %eax",
    "orl $1, %eax",
    "movl %eax, %cr0",
    "ljmpl $0x08, $(0x8000 + ap_tr_pm - ap_trampoline_start)",
    ".code32",
    "ap_tr_pm:",
    "movl $0x10, %eax",
    "movl %eax, %ds",
    "movl %eax, %es",
    "movl %eax, %ss",
    "movl %cr4, %eax",
    "orl $(1 << 5), %eax", // PAE
    "movl %eax, %cr4",
    "movl (0x8000 + ap_tr_pml4 - ap_trampoline_start), %eax",
    "movl %eax, %cr3",
    "movl $0xc0000080, %ecx",
    "rdmsr",
    "orl $((1 << 8) | (1 << 11)), %eax", // LME, NXE (the kernel's tables use NX)
    "wrmsr",
    "movl %cr0, %eax",
    "orl $((1 << 31) | (1 << 16)), %eax", // PG, WP
    "movl %eax, %cr0",
    "ljmpl $0x18, $(0x8000 + ap_tr_lm - ap_trampoline_start)",
    ".code64",
    "ap_tr_lm:",
    "movl $0x10, %eax",
    "movl %eax, %ds",
    "movl %eax, %es",
    "movl %eax, %ss",
    "xorl %eax, %eax",
    "movl %eax, %fs",
    "movl %eax, %gs",
    "movq (0x8000 + ap_tr_stack - ap_trampoline_start), %rsp",
    "movq (0x8000 + ap_tr_cpu - ap_trampoline_start), %rdi",
    "movq (0x8000 + ap_tr_kernel_cr3 - ap_trampoline_start), %rsi",
    "movq (0x8000 + ap_tr_entry - ap_trampoline_start), %rax",
    "callq *%rax",
    "1: hlt",
    "jmp 1b",
    ".balign 8",
    "ap_tr_gdt:",
    ".quad 0",
    ".quad 0x00cf9a000000ffff", // 0x08: 32-bit code
    ".quad 0x00cf92000000ffff", // 0x10: data
    ".quad 0x00af9a000000ffff", // 0x18: 64-bit code
    "ap_tr_gdt_ptr:",
    ".word 4 * 8 - 1",
    ".long 0x8000 + ap_tr_gdt - ap_trampoline_start",
    ".balign 8",
    ".globl ap_tr_pml4",
    "ap_tr_pml4: .quad 0",
    ".globl ap_tr_kernel_cr3",
    "ap_tr_kernel_cr3: .quad 0",
    ".globl ap_tr_stack",
    "ap_tr_stack: .quad 0",
    ".globl ap_tr_cpu",
    "ap_tr_cpu: .quad 0",
    ".globl ap_tr_entry",
    "ap_tr_entry: .quad 0",
    ".globl ap_trampoline_end",
    "ap_trampoline_end:",
    ".popsection",
    options(att_syntax)
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_tr_pml4: u8;
    static ap_tr_kernel_cr3: u8;
    static ap_tr_stack: u8;
    static ap_tr_cpu: u8;
    static ap_tr_entry: u8;
}

/// What one AP starts with.
pub struct ApStart {
    /// The trampoline page table (below 4 GiB: 32-bit code loads it).
    pub pml4: u64,
    pub kernel_cr3: u64,
    /// 16-byte aligned top of the AP's boot stack.
    pub stack_top: u64,
    pub cpu: u64,
    pub entry: extern "C" fn(u64, u64) -> !,
}

/// Copies the trampoline to [`TRAMPOLINE_PHYS`] with `s` in its slots.
///
/// # Safety
/// No AP is running the trampoline (the previous one reported online, or none was started).
pub unsafe fn install(s: &ApStart) {
    let start = core::ptr::addr_of!(ap_trampoline_start) as u64;
    let end = core::ptr::addr_of!(ap_trampoline_end) as u64;
    let dst = crate::mm::phys_to_virt(TRAMPOLINE_PHYS);
    assert!(end - start <= 4096, "AP trampoline larger than its page");
    assert!(s.pml4 < (1 << 32), "trampoline page table above 4 GiB");
    let slot = |sym: *const u8| (dst + (sym as u64 - start)) as *mut u64;
    // SAFETY: the trampoline page is reserved low RAM in the direct map; no CPU runs it now
    // (the contract); each slot is an aligned u64 inside the copied blob.
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, dst as *mut u8, (end - start) as usize);
        slot(core::ptr::addr_of!(ap_tr_pml4)).write_volatile(s.pml4);
        slot(core::ptr::addr_of!(ap_tr_kernel_cr3)).write_volatile(s.kernel_cr3);
        slot(core::ptr::addr_of!(ap_tr_stack)).write_volatile(s.stack_top);
        slot(core::ptr::addr_of!(ap_tr_cpu)).write_volatile(s.cpu);
        slot(core::ptr::addr_of!(ap_tr_entry)).write_volatile(s.entry as usize as u64);
    }
}
