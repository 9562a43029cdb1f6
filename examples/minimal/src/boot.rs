//! PVH entry: QEMU jumps to `pvh_start32` in 32-bit protected mode with paging off. This maps
//! the first GiB twice (identity, and at -2 GiB where the kernel is linked), maps one 2 MiB
//! user page (physical [`USER_PHYS`]) at [`USER_BASE`], the only memory ring 3 can reach,
//! and the local APIC's page, enters long mode and calls `kernel_main`.

/// Where the user program runs: PML4 slot 1, the first address past 512 GiB.
pub const USER_BASE: u64 = 0x80_0000_0000;
/// Size of the user mapping (one 2 MiB page).
pub const USER_SIZE: u64 = 2 << 20;
/// The physical page behind it (below it: the kernel image, asserted by the linker script).
pub const USER_PHYS: u64 = 0x200_0000;

core::arch::global_asm!(
    // XEN_ELFNOTE_PHYS32_ENTRY: QEMU reads an 8-byte descriptor for ELF64 kernels.
    ".pushsection .note.Xen, \"a\", @note",
    ".balign 4",
    ".long 4, 8, 18",
    ".asciz \"Xen\"",
    ".balign 4",
    ".quad pvh_start32",
    ".popsection",
    ".pushsection .boot32, \"awx\"",
    ".code32",
    ".globl pvh_start32",
    "pvh_start32:",
    "cli",
    "cld",
    "movl $boot_pml4, %edi", // zero the 7 table pages
    "xorl %eax, %eax",
    "movl $(7 * 4096 / 4), %ecx",
    "rep stosl",
    "movl $boot_pd, %edi", // PD: 512 × 2 MiB, the first GiB, supervisor only
    "xorl %ecx, %ecx",
    "1:",
    "movl %ecx, %eax",
    "shll $21, %eax",
    "orl $0x83, %eax", // present, writable, 2 MiB
    "movl %eax, (%edi,%ecx,8)",
    "incl %ecx",
    "cmpl $512, %ecx",
    "jne 1b",
    "movl $(boot_pd + 3), boot_pdpt_low",
    "movl $(boot_pd + 3), boot_pdpt_high + 510 * 8",
    "movl $(boot_pdpt_low + 3), boot_pml4",
    "movl $(boot_pdpt_high + 3), boot_pml4 + 511 * 8",
    // The user page: every level present, writable, user (7); the leaf 2 MiB (0x80).
    "movl $({user_phys} + 0x87), user_pd",
    "movl $(user_pd + 7), user_pdpt",
    "movl $(user_pdpt + 7), boot_pml4 + 8",
    // The local APIC's page, identity-mapped uncached (PWT, PCD), supervisor only.
    "movl $({apic} + 0x9b), apic_pd + (({apic} >> 21) & 511) * 8",
    "movl $(apic_pd + 3), boot_pdpt_low + ({apic} >> 30) * 8",
    "movl $boot_pml4, %eax",
    "movl %eax, %cr3",
    "movl %cr4, %eax",
    "orl $(1 << 5), %eax", // PAE
    "movl %eax, %cr4",
    "movl $0xc0000080, %ecx",
    "rdmsr",
    "orl $((1 << 8) | (1 << 11)), %eax", // LME, NXE
    "wrmsr",
    "movl %cr0, %eax",
    "orl $((1 << 31) | (1 << 16) | 1), %eax", // PG, WP, PE
    "movl %eax, %cr0",
    "lgdt boot_gdt_ptr",
    "ljmp $0x10, $2f",
    ".code64",
    "2:",
    "movl $0x18, %eax",
    "movl %eax, %ds",
    "movl %eax, %es",
    "movl %eax, %ss",
    "movabsq $boot_stack_top, %rsp",
    "movabsq $kernel_main, %rax",
    "callq *%rax",
    "3: hlt",
    "jmp 3b",
    ".balign 8",
    "boot_gdt:",
    ".quad 0, 0x00cf9b000000ffff, 0x00af9b000000ffff, 0x00cf93000000ffff",
    "boot_gdt_ptr:",
    ".word 4 * 8 - 1",
    ".long boot_gdt",
    ".popsection",
    ".pushsection .boot32.pagetables, \"aw\", @nobits",
    ".balign 4096",
    "boot_pml4: .skip 4096",
    "boot_pdpt_low: .skip 4096",
    "boot_pdpt_high: .skip 4096",
    "boot_pd: .skip 4096",
    "user_pdpt: .skip 4096",
    "user_pd: .skip 4096",
    "apic_pd: .skip 4096",
    ".popsection",
    ".pushsection .bss.boot_stack, \"aw\", @nobits",
    ".balign 16",
    "boot_stack: .skip 16384",
    "boot_stack_top:",
    ".popsection",
    user_phys = const USER_PHYS,
    apic = const XAPIC_PHYS,
    options(att_syntax)
);

/// The local APIC's registers (xAPIC mode), identity-mapped.
pub const XAPIC_PHYS: u64 = 0xfee0_0000;

/// The kernel's view of a user address: the same physical page through the identity map
/// (the kernel never dereferences user addresses directly).
pub fn user_alias(addr: u64) -> Option<*mut u8> {
    let off = addr.checked_sub(USER_BASE)?;
    (off < USER_SIZE).then_some((USER_PHYS + off) as *mut u8)
}
