//! The ring-3 program: position-independent machine code that the kernel copies to
//! [`USER_BASE`](crate::boot::USER_BASE). It makes Linux-numbered syscalls (write, getpid,
//! exit), executes `ud2` (the kernel reports the #UD and skips it), calls `sched_yield` (on
//! which the kernel asks the host for an NMI), then spins until the kernel's NMI handler has
//! seen an NMI arrive in user mode — which it learns from a word the handler sets in the user
//! page ([`NMI_FLAG_OFFSET`]) — bounded by a TSC deadline, and exits with 0 if the NMI came,
//! 1 if not.

use kentry_abi::nr;

/// Offset in the user page of the word the NMI handler sets (the program only reads it).
pub const NMI_FLAG_OFFSET: u64 = 0x1000;
/// Offset in the user page of the initial stack top.
pub const STACK_TOP_OFFSET: u64 = 0x20_0000 - 64;
/// getpid's answer in this kernel, which the program hands back as the `write` length check.
pub const PID: u64 = 1;

core::arch::global_asm!(
    ".pushsection .rodata.user_program, \"a\"",
    ".balign 16",
    ".globl minimal_user_start",
    "minimal_user_start:",
    // write(1, hello, len)
    "movl ${write}, %eax",
    "movl $1, %edi",
    "leaq 9f(%rip), %rsi",
    "movl $(10f - 9f), %edx",
    "syscall",
    // getpid(): kept in r12 across everything below
    "movl ${getpid}, %eax",
    "syscall",
    "movq %rax, %r12",
    // a fault the kernel handles and resumes past
    ".globl minimal_user_ud2",
    "minimal_user_ud2:",
    "ud2",
    // sched_yield(): in this kernel, the cue to ask the host for an NMI
    "movl ${sched_yield}, %eax",
    "syscall",
    // wait for the NMI: until the flag is set or about 2^34 TSC ticks have passed
    "rdtsc",
    "shlq $32, %rdx",
    "orq %rax, %rdx",
    "movabsq $(1 << 34), %rbx",
    "addq %rdx, %rbx",
    "movabsq ${flag}, %r13",
    "1:",
    "pause",
    "cmpq $0, (%r13)",
    "jne 2f",
    "rdtsc",
    "shlq $32, %rdx",
    "orq %rax, %rdx",
    "cmpq %rbx, %rdx",
    "jb 1b",
    "movl $1, %edi", // no NMI: exit(1)
    "jmp 3f",
    "2:",
    "movl ${write}, %eax", // write(1, seen, len)
    "movl $1, %edi",
    "leaq 11f(%rip), %rsi",
    "movl $(12f - 11f), %edx",
    "syscall",
    "xorl %edi, %edi", // exit(getpid() == PID ? 0 : 2)
    "movl $2, %eax",
    "cmpq ${pid}, %r12",
    "cmovne %eax, %edi",
    "3:",
    "movl ${exit}, %eax",
    "syscall",
    "ud2", // exit does not return
    "9: .ascii \"hello from ring 3\\n\"",
    "10:",
    "11: .ascii \"ring 3 saw the NMI flag\\n\"",
    "12:",
    ".globl minimal_user_end",
    "minimal_user_end:",
    ".popsection",
    flag = const crate::boot::USER_BASE + NMI_FLAG_OFFSET,
    pid = const PID,
    write = const nr::WRITE,
    getpid = const nr::GETPID,
    sched_yield = const nr::SCHED_YIELD,
    exit = const nr::EXIT,
    options(att_syntax)
);

unsafe extern "C" {
    static minimal_user_start: u8;
    static minimal_user_end: u8;
    static minimal_user_ud2: u8;
}

/// The program's bytes (to copy to the user page).
pub fn image() -> &'static [u8] {
    let start = core::ptr::addr_of!(minimal_user_start);
    let end = core::ptr::addr_of!(minimal_user_end);
    // SAFETY: the two labels bracket the program in read-only data.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}

/// Offset in the program of the `ud2` whose #UD the kernel expects.
pub fn ud2_offset() -> u64 {
    core::ptr::addr_of!(minimal_user_ud2) as u64 - core::ptr::addr_of!(minimal_user_start) as u64
}
