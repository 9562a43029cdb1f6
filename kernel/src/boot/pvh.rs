//! PVH entry: QEMU jumps to `pvh_start32` in 32-bit protected mode, paging off, with `%ebx`
//! pointing at the `hvm_start_info`. This stub builds just enough paging to reach 64-bit mode
//! in the higher half (an identity map of the first GiB, and the same GiB at KERNEL_VMA),
//! then calls `kernel_main`, which builds the real page tables.

// XEN_ELFNOTE_PHYS32_ENTRY: QEMU 7.2 reads an 8-byte descriptor for ELF64 kernels.
core::arch::global_asm!(
    ".pushsection .note.Xen, \"a\", @note",
    ".balign 4",
    ".long 4",  // namesz
    ".long 8",  // descsz
    ".long 18", // type: PHYS32_ENTRY
    ".asciz \"Xen\"",
    ".balign 4",
    ".quad pvh_start32",
    ".balign 4",
    ".popsection",
);

core::arch::global_asm!(
    ".pushsection .boot32, \"awx\"",
    ".code32",
    ".globl pvh_start32",
    "pvh_start32:",
    "cli",
    "cld",
    "movl %ebx, %esi", // start_info, kept for kernel_main
    // Zero the boot page tables (4 pages).
    "movl $boot_pml4, %edi",
    "xorl %eax, %eax",
    "movl $(4 * 4096 / 4), %ecx",
    "rep stosl",
    // PD: 512 × 2 MiB, the first GiB.
    "movl $boot_pd, %edi",
    "xorl %ecx, %ecx",
    "1:",
    "movl %ecx, %eax",
    "shll $21, %eax",
    "orl $0x83, %eax", // present, writable, 2 MiB
    "movl %eax, (%edi,%ecx,8)",
    "incl %ecx",
    "cmpl $512, %ecx",
    "jne 1b",
    "movl $boot_pd, %eax",
    "orl $3, %eax",
    "movl %eax, boot_pdpt_low",            // [0]: identity
    "movl %eax, boot_pdpt_high + 510 * 8", // [510]: 0xffffffff80000000
    "movl $boot_pdpt_low, %eax",
    "orl $3, %eax",
    "movl %eax, boot_pml4",
    "movl $boot_pdpt_high, %eax",
    "orl $3, %eax",
    "movl %eax, boot_pml4 + 511 * 8",
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
    "xorl %eax, %eax",
    "movl %eax, %fs",
    "movl %eax, %gs",
    "movabsq $boot_stack_top, %rsp",
    "movl %esi, %edi", // start_info (physical)
    "movabsq $kernel_main, %rax",
    "callq *%rax",
    "3: hlt",
    "jmp 3b",
    ".balign 8",
    "boot_gdt:",
    ".quad 0",
    ".quad 0x00cf9b000000ffff",
    ".quad 0x00af9b000000ffff",
    ".quad 0x00cf93000000ffff",
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
    ".popsection",
    ".pushsection .bss.boot_stack, \"aw\", @nobits",
    ".balign 16",
    ".globl boot_stack",
    "boot_stack: .skip 65536",
    ".globl boot_stack_top",
    "boot_stack_top:",
    ".popsection",
    options(att_syntax)
);

/// `struct hvm_start_info` (Xen's PVH ABI), version 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartInfo {
    pub magic: u32,
    pub version: u32,
    pub flags: u32,
    pub nr_modules: u32,
    pub modlist_paddr: u64,
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    pub reserved: u32,
}

pub const START_INFO_MAGIC: u32 = 0x336e_c578;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModuleEntry {
    pub paddr: u64,
    pub size: u64,
    pub cmdline_paddr: u64,
    pub reserved: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MemmapEntry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
    pub reserved: u32,
}

pub const MEMMAP_RAM: u32 = 1;
