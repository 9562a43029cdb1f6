//! The forked child of one case: it loads the random state, makes the one entry, and checks
//! what comes back — after a returning entry in [`after_entry`], in a signal's frame in
//! [`on_signal`]. It always ends by `exit` (60): 0 = the returning entry's checks passed,
//! 64 + signal = the handler caught that signal and its frame was right, 1 = a check failed
//! (the reason is printed first, with the seed and iteration that replay it).

use core::arch::global_asm;
use core::mem::{MaybeUninit, offset_of};

use kentry_user::fmt::print_to;
use kentry_user::sys::{self, nr};

use super::cases::{self, CAUGHT_SIGNALS, Case, Kind, Outcome, Stage, fl};

/// Register indices of [`Gprs::g`].
pub const RAX: usize = 0;
pub const RBX: usize = 1;
pub const RCX: usize = 2;
pub const RDX: usize = 3;
pub const RSI: usize = 4;
pub const RDI: usize = 5;
pub const RBP: usize = 6;
pub const R8: usize = 7;
pub const R9: usize = 8;
pub const R10: usize = 9;
pub const R11: usize = 10;
/// The faulting load and store gadgets take their address from R15.
pub const FAULT_ADDR_REG: usize = 14;
const NAMES: [&str; 17] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15", "rsp", "rflags",
];
/// sigcontext order (linux-abi.md §6.1): r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, then rsp,
/// rip, eflags; as indices of [`Gprs::g`].
const SC_ORDER: [usize; 15] = [
    7, 8, 9, 10, 11, 12, 13, 14, RDI, RSI, RBP, RBX, RDX, RAX, RCX,
];
const SC: usize = 40;
const SC_RSP: usize = SC + 120;
const SC_RIP: usize = SC + 128;
const SC_EFLAGS: usize = SC + 136;
const SC_CS: usize = SC + 144;
const SC_FPSTATE: usize = SC + 184;
const UC_SIGMASK: usize = SC + 256;

/// The descriptor the child prints on: fds 0, 1 and 2 are closed, so that random syscalls on
/// small fds do not write into the fuzzer's output.
pub const DIAG_FD: i32 = 63;

/// General registers in [`Gprs::g`]'s order, then RSP and RFLAGS.
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct Gprs {
    pub g: [u64; 15],
    pub rsp: u64,
    pub rflags: u64,
}

/// What the entry code reads and writes (one static; the asm reaches it RIP-relative, so it
/// needs no stack and no usable register).
#[repr(C)]
struct EntryState {
    set: Gprs,
    iret_frame: u64,
    /// 1: IRETQ loads RIP, RSP, RFLAGS and SS at once; 0: MOV to SS, POPFQ, MOV to RSP and
    /// an indirect JMP (QEMU 7.2 TCG makes a ring-3 IRETQ read its frame as a supervisor
    /// access, which SMAP faults: there the probe picks this way).
    use_iret: u64,
    ss: u64,
    /// Where the POPF way jumps: the gadget.
    gadget: u64,
    sel: [u64; 4],
    use_wrbase: u64,
    have_rdbase: u64,
    fsbase: u64,
    gsbase: u64,
    saved_rsp: u64,
    before_fs: u64,
    before_gs: u64,
    got: Gprs,
    got_sel: [u64; 4],
    got_fs: u64,
    got_gs: u64,
}

static mut ST: EntryState = EntryState {
    set: Gprs {
        g: [0; 15],
        rsp: 0,
        rflags: 0,
    },
    iret_frame: 0,
    use_iret: 0,
    ss: 0,
    gadget: 0,
    sel: [0; 4],
    use_wrbase: 0,
    have_rdbase: 0,
    fsbase: 0,
    gsbase: 0,
    saved_rsp: 0,
    before_fs: 0,
    before_gs: 0,
    got: Gprs {
        g: [0; 15],
        rsp: 0,
        rflags: 0,
    },
    got_sel: [0; 4],
    got_fs: 0,
    got_gs: 0,
};

static mut CASE: MaybeUninit<Case> = MaybeUninit::uninit();

#[repr(C, align(64))]
struct Area<const N: usize>([u8; N]);
/// The stack of the "valid RSP" cases (a signal frame, XSAVE state included, fits below).
static mut STACK: Area<65536> = Area([0; 65536]);
static mut ALTSTACK: Area<65536> = Area([0; 65536]);
/// The IRETQ frame sits at its top: a fault of the IRETQ itself (bad SS) puts the signal
/// frame here, not over other statics.
static mut IRET_STACK: Area<16384> = Area([0; 16384]);
/// rt_sigreturn's ucontext, at [`sigframe_addr`] (the kernel reads from RSP - 8).
static mut SIGFRAME: Area<4096> = Area([0; 4096]);
/// Random bytes that syscall pointer arguments point into.
static mut SCRATCH: Area<8192> = Area([0; 8192]);

pub fn valid_stack_top() -> u64 {
    (&raw const STACK) as u64 + 65536 - 64
}
pub fn scratch_addr() -> u64 {
    (&raw const SCRATCH) as u64
}
pub fn sigframe_addr() -> u64 {
    (&raw const SIGFRAME) as u64 + 64
}

pub const SLOT_SYSCALL: usize = 0;
pub const SLOT_INT3: usize = 1;
pub const SLOT_INTO: usize = 2;
pub const SLOT_UD2: usize = 3;
pub const SLOT_LOAD: usize = 4;
pub const SLOT_STORE: usize = 5;
const SLOT_INT_BASE: usize = 16;
const SLOT_SIZE: u64 = 16;

pub fn slot_int(n: u8) -> usize {
    SLOT_INT_BASE + n as usize
}
pub fn slot_vector(slot: usize) -> u8 {
    (slot - SLOT_INT_BASE) as u8
}
pub fn slot_addr(slot: usize) -> u64 {
    (&raw const fuzz_gadgets) as u64 + SLOT_SIZE * slot as u64
}
/// Where the single-step trap of a POPF that set TF lands (before the entry).
pub fn popf_trap_addr() -> u64 {
    (&raw const fuzz_popf_jmp) as u64
}

/// Whether a ring-3 IRETQ works here (it faults under QEMU 7.2 TCG with SMAP): tried in a
/// child, which the fault kills.
pub fn probe_iret() -> bool {
    // SAFETY: fork duplicates this single-threaded process.
    let pid = unsafe { sys::syscall0(nr::FORK) };
    if pid == 0 {
        // SAFETY: the probe returns to its caller with the same RSP, RFLAGS, CS and SS.
        unsafe { fuzz_probe_iret() };
        sys::exit(0);
    }
    let mut status: i32 = -1;
    // SAFETY: wait4 writes the status to a live local.
    unsafe { sys::syscall4(nr::WAIT4, pid as usize, &raw mut status as usize, 0, 0) };
    status == 0
}

/// Where a returning entry lands: the gadget's `jmp` goes here.
pub fn landing_addr() -> u64 {
    fuzz_after as *const () as u64
}
/// The instruction of a set-up stage that faults.
pub fn stage_rip(stage: Stage, use_iret: bool) -> u64 {
    let labels = [
        &raw const fuzz_load_ds,
        &raw const fuzz_load_es,
        &raw const fuzz_load_fs,
        &raw const fuzz_load_gs,
    ];
    match stage {
        Stage::SegLoad(i) => labels[i] as u64,
        Stage::WrBase(0) => (&raw const fuzz_wrfsbase) as u64,
        Stage::WrBase(_) => (&raw const fuzz_wrgsbase) as u64,
        Stage::Iret if use_iret => (&raw const fuzz_iret) as u64,
        Stage::Iret => (&raw const fuzz_load_ss) as u64,
        Stage::Entry => 0,
    }
}

unsafe extern "C" {
    static fuzz_gadgets: u8;
    static fuzz_load_ds: u8;
    static fuzz_load_es: u8;
    static fuzz_load_fs: u8;
    static fuzz_load_gs: u8;
    static fuzz_wrfsbase: u8;
    static fuzz_wrgsbase: u8;
    static fuzz_iret: u8;
    static fuzz_load_ss: u8;
    static fuzz_popf_jmp: u8;
    fn fuzz_probe_iret();
    fn fuzz_enter() -> !;
    fn fuzz_after() -> !;
    fn fuzz_sig_entry(sig: i32, info: *const u8, uc: *mut u8);
    /// The runtime's rt_sigreturn restorer (user/src/signal.rs).
    fn kentry_user_sigreturn_restorer();
}

// fuzz_enter: selectors, then the bases, then every general register, then IRETQ to the
// gadget with the case's RSP, RFLAGS and SS. Each gadget (16 bytes apart) is one entry
// instruction and a jump to fuzz_after, which stores every register RIP-relative before it
// touches anything, restores the child's stack and calls after_entry.
global_asm!(
    ".globl fuzz_enter",
    "fuzz_enter:",
    "movq %rsp, {st}+{saved}(%rip)",
    "movw {st}+{sel}+0(%rip), %ax",
    ".globl fuzz_load_ds",
    "fuzz_load_ds: movw %ax, %ds",
    "movw {st}+{sel}+8(%rip), %ax",
    ".globl fuzz_load_es",
    "fuzz_load_es: movw %ax, %es",
    "movw {st}+{sel}+16(%rip), %ax",
    ".globl fuzz_load_fs",
    "fuzz_load_fs: movw %ax, %fs",
    "movw {st}+{sel}+24(%rip), %ax",
    ".globl fuzz_load_gs",
    "fuzz_load_gs: movw %ax, %gs",
    "cmpq $0, {st}+{use_wr}(%rip)",
    "je 1f",
    "movq {st}+{fsb}(%rip), %rax",
    ".globl fuzz_wrfsbase",
    "fuzz_wrfsbase: wrfsbase %rax",
    "movq {st}+{gsb}(%rip), %rax",
    ".globl fuzz_wrgsbase",
    "fuzz_wrgsbase: wrgsbase %rax",
    "1:",
    "cmpq $0, {st}+{have_rd}(%rip)",
    "je 2f",
    "rdfsbase %rax",
    "movq %rax, {st}+{bfs}(%rip)",
    "rdgsbase %rax",
    "movq %rax, {st}+{bgs}(%rip)",
    "2:",
    "cmpq $0, {st}+{use_iret}(%rip)",
    "jne 4f",
    "movw {st}+{ss}(%rip), %ax",
    ".globl fuzz_load_ss",
    "fuzz_load_ss: movw %ax, %ss",
    "4:",
    "movq {st}+{frame}(%rip), %rsp",
    "movq {st}+{set}+8*0(%rip), %rax",
    "movq {st}+{set}+8*1(%rip), %rbx",
    "movq {st}+{set}+8*2(%rip), %rcx",
    "movq {st}+{set}+8*3(%rip), %rdx",
    "movq {st}+{set}+8*4(%rip), %rsi",
    "movq {st}+{set}+8*5(%rip), %rdi",
    "movq {st}+{set}+8*6(%rip), %rbp",
    "movq {st}+{set}+8*7(%rip), %r8",
    "movq {st}+{set}+8*8(%rip), %r9",
    "movq {st}+{set}+8*9(%rip), %r10",
    "movq {st}+{set}+8*10(%rip), %r11",
    "movq {st}+{set}+8*11(%rip), %r12",
    "movq {st}+{set}+8*12(%rip), %r13",
    "movq {st}+{set}+8*13(%rip), %r14",
    "movq {st}+{set}+8*14(%rip), %r15",
    // Flags untouched since the CMP above: test the mode with a flag-free instruction pair.
    "jne 5f",
    // The POPF way: RSP at the frame's RFLAGS, then its RSP, then the frame's RIP.
    "addq $16, %rsp",
    "popfq",
    "movq (%rsp), %rsp",
    ".globl fuzz_popf_jmp",
    "fuzz_popf_jmp: jmpq *{st}+{frame_rip}(%rip)",
    "5:",
    ".globl fuzz_iret",
    "fuzz_iret: iretq",
    "",
    // The probe: one IRETQ to the next instruction, same state.
    ".globl fuzz_probe_iret",
    "fuzz_probe_iret:",
    "movq %rsp, %rax",
    "pushq ${user_ds}",
    "pushq %rax",
    "pushfq",
    "pushq ${user_cs}",
    "leaq 6f(%rip), %rax",
    "pushq %rax",
    "iretq",
    "6: ret",
    "",
    ".p2align 4",
    ".globl fuzz_gadgets",
    "fuzz_gadgets:",
    "syscall",
    "jmp fuzz_after",
    ".p2align 4",
    "int3",
    "jmp fuzz_after",
    ".p2align 4",
    // INTO: #UD in 64-bit mode (the assembler refuses the mnemonic there).
    ".byte 0xce",
    "jmp fuzz_after",
    ".p2align 4",
    "ud2",
    "jmp fuzz_after",
    ".p2align 4",
    "movq (%r15), %rax",
    "jmp fuzz_after",
    ".p2align 4",
    "movq %rax, (%r15)",
    "jmp fuzz_after",
    ".p2align 4",
    ".fill 16*10, 1, 0xcc",
    ".set fuzz_vector, 0",
    ".rept 256",
    ".p2align 4",
    ".byte 0xcd, fuzz_vector",
    "jmp fuzz_after",
    ".set fuzz_vector, fuzz_vector + 1",
    ".endr",
    "",
    ".p2align 4",
    ".globl fuzz_after",
    "fuzz_after:",
    "movq %rax, {st}+{got}+8*0(%rip)",
    "movq %rbx, {st}+{got}+8*1(%rip)",
    "movq %rcx, {st}+{got}+8*2(%rip)",
    "movq %rdx, {st}+{got}+8*3(%rip)",
    "movq %rsi, {st}+{got}+8*4(%rip)",
    "movq %rdi, {st}+{got}+8*5(%rip)",
    "movq %rbp, {st}+{got}+8*6(%rip)",
    "movq %r8, {st}+{got}+8*7(%rip)",
    "movq %r9, {st}+{got}+8*8(%rip)",
    "movq %r10, {st}+{got}+8*9(%rip)",
    "movq %r11, {st}+{got}+8*10(%rip)",
    "movq %r12, {st}+{got}+8*11(%rip)",
    "movq %r13, {st}+{got}+8*12(%rip)",
    "movq %r14, {st}+{got}+8*13(%rip)",
    "movq %r15, {st}+{got}+8*14(%rip)",
    "movq %rsp, {st}+{got_rsp}(%rip)",
    "movw %ds, {st}+{got_sel}+0(%rip)",
    "movw %es, {st}+{got_sel}+8(%rip)",
    "movw %fs, {st}+{got_sel}+16(%rip)",
    "movw %gs, {st}+{got_sel}+24(%rip)",
    "movq {st}+{saved}(%rip), %rsp",
    "pushfq",
    "popq {st}+{got_flags}(%rip)",
    // AC and DF off for the Rust code.
    "pushq $0x202",
    "popfq",
    "cmpq $0, {st}+{have_rd}(%rip)",
    "je 3f",
    "rdfsbase %rax",
    "movq %rax, {st}+{got_fs}(%rip)",
    "rdgsbase %rax",
    "movq %rax, {st}+{got_gs}(%rip)",
    "3:",
    "andq $-16, %rsp",
    "call {after}",
    "ud2",
    "",
    // The signal handler: AC off first (Linux leaves the interrupted AC set in a handler, and
    // Rust code may make unaligned accesses), then Rust.
    ".globl fuzz_sig_entry",
    "fuzz_sig_entry:",
    "pushfq",
    "andq $-262145, (%rsp)",
    "popfq",
    "jmp {on_signal}",
    st = sym ST,
    saved = const offset_of!(EntryState, saved_rsp),
    sel = const offset_of!(EntryState, sel),
    use_wr = const offset_of!(EntryState, use_wrbase),
    have_rd = const offset_of!(EntryState, have_rdbase),
    fsb = const offset_of!(EntryState, fsbase),
    gsb = const offset_of!(EntryState, gsbase),
    bfs = const offset_of!(EntryState, before_fs),
    bgs = const offset_of!(EntryState, before_gs),
    frame = const offset_of!(EntryState, iret_frame),
    use_iret = const offset_of!(EntryState, use_iret),
    ss = const offset_of!(EntryState, ss),
    frame_rip = const offset_of!(EntryState, gadget),
    user_ds = const cases::USER_DS,
    user_cs = const cases::USER_CS,
    set = const offset_of!(EntryState, set) + offset_of!(Gprs, g),
    got = const offset_of!(EntryState, got) + offset_of!(Gprs, g),
    got_rsp = const offset_of!(EntryState, got) + offset_of!(Gprs, rsp),
    got_flags = const offset_of!(EntryState, got) + offset_of!(Gprs, rflags),
    got_sel = const offset_of!(EntryState, got_sel),
    got_fs = const offset_of!(EntryState, got_fs),
    got_gs = const offset_of!(EntryState, got_gs),
    after = sym after_entry,
    on_signal = sym on_signal,
    options(att_syntax)
);

fn put(buf: *mut u8, off: usize, v: u64) {
    // SAFETY: the callers pass offsets inside the 4 KiB SIGFRAME area.
    unsafe { core::ptr::write_unaligned(buf.add(off) as *mut u64, v) }
}

fn get(buf: *const u8, off: usize) -> u64 {
    // SAFETY: the callers read a ucontext the kernel built (or SIGFRAME).
    unsafe { core::ptr::read_unaligned(buf.add(off) as *const u64) }
}

/// Runs the case in this (forked) child. Never returns.
pub fn run(c: &Case, have_fsgsbase: bool) -> ! {
    // SAFETY: this process is single-threaded, and from here on only this function, the entry
    // asm and the two checkers touch the statics.
    unsafe {
        let case_slot = &raw mut CASE;
        (*case_slot).write(*c);
        sys::syscall2(nr::DUP2, 1, DIAG_FD as usize);
        for fd in 0..3 {
            sys::syscall1(nr::CLOSE, fd);
        }
        let mut r = cases::Rng::for_iteration(c.scratch_seed, 0, 0);
        let scratch = &raw mut SCRATCH;
        for b in (*scratch).0.iter_mut() {
            let v = r.next() as u8;
            // No '/' and no '.': a path made of scratch bytes names nothing outside the
            // working directory.
            *b = if v == b'/' || v == b'.' { b'x' } else { v };
        }
        if c.handler {
            if c.altstack {
                let ss: [u64; 3] = [(&raw const ALTSTACK) as u64, 0, 65536];
                sys::syscall2(nr::SIGALTSTACK, ss.as_ptr() as usize, 0);
            }
            const SA_SIGINFO: u64 = 4;
            const SA_ONSTACK: u64 = 0x0800_0000;
            // x86-64 Linux refuses to deliver without a restorer (the handler never returns
            // through it: it exits).
            const SA_RESTORER: u64 = 0x0400_0000;
            let flags = SA_SIGINFO | SA_RESTORER | if c.altstack { SA_ONSTACK } else { 0 };
            let act: [u64; 4] = [
                fuzz_sig_entry as *const () as u64,
                flags,
                kentry_user_sigreturn_restorer as *const () as u64,
                0,
            ];
            for sig in CAUGHT_SIGNALS {
                sys::syscall4(nr::RT_SIGACTION, sig as usize, act.as_ptr() as usize, 0, 8);
            }
        }
        if !c.use_wrbase {
            // Before the selector loads: Linux's arch_prctl also zeroes the selector.
            sys::arch_prctl_set(sys::arch::SET_FS, c.fsbase as usize);
            sys::arch_prctl_set(sys::arch::SET_GS, c.gsbase as usize);
        }
        if c.kind == Kind::Sigreturn {
            build_sigframe(c);
        }
        let st_ptr = &raw mut ST;
        let st = &mut *st_ptr;
        st.set = c.set;
        st.sel = c.sel;
        st.use_wrbase = c.use_wrbase as u64;
        st.use_iret = c.use_iret as u64;
        st.ss = c.ss;
        st.gadget = slot_addr(c.slot);
        st.have_rdbase = have_fsgsbase as u64;
        st.fsbase = c.fsbase;
        st.gsbase = c.gsbase;
        let top = (&raw mut IRET_STACK) as u64 + 16384 - 64;
        let frame = top as *mut u64;
        *frame = slot_addr(c.slot);
        *frame.add(1) = cases::USER_CS;
        *frame.add(2) = c.set.rflags;
        *frame.add(3) = c.set.rsp;
        *frame.add(4) = c.ss;
        st.iret_frame = top;
        fuzz_enter()
    }
}

fn build_sigframe(c: &Case) {
    let uc = sigframe_addr() as *mut u8;
    put(uc, 0, c.frame_uc_flags);
    for (i, &reg) in SC_ORDER.iter().enumerate() {
        put(uc, SC + 8 * i, c.frame.g[reg]);
    }
    put(uc, SC_RSP, c.frame.rsp);
    put(uc, SC_RIP, c.frame_rip);
    put(uc, SC_EFLAGS, c.frame.rflags);
    // cs, gs, fs, ss: four u16 at SC_CS (gs and fs are not restored; 0).
    put(uc, SC_CS, c.frame_cs | (c.frame_ss << 48));
    put(uc, SC_FPSTATE, c.frame_fpstate);
    put(uc, UC_SIGMASK, 0);
}

fn case() -> &'static Case {
    let p = &raw const CASE;
    // SAFETY: `run` wrote CASE before anything that can call this.
    unsafe { (*p).assume_init_ref() }
}

fn fail_line(c: &Case, what: core::fmt::Arguments) {
    print_to(
        DIAG_FD,
        format_args!(
            "entry_fuzz: FAIL seed={:#x} cpu={} iter={} kind={} slot={}: {}\n",
            c.seed,
            c.cpu,
            c.iter,
            c.kind.name(),
            c.slot,
            what
        ),
    );
}

/// Compares `got` with the case's expectation; prints every difference. `r11_flags`: R11 holds
/// RFLAGS (after SYSCALL), compared under the same mask.
fn compare(c: &Case, got: &Gprs, r11_flags: bool, at: &str) -> bool {
    let mut ok = true;
    let want = &c.expect;
    for (i, name) in NAMES.iter().enumerate() {
        if c.care & (1 << i) == 0 {
            continue;
        }
        let (g, w) = match i {
            15 => (got.rsp, want.rsp),
            16 => (got.rflags & fl::CHECKED, want.rflags & fl::CHECKED),
            R11 if r11_flags => (got.g[i] & fl::CHECKED, want.g[i] & fl::CHECKED),
            _ => (got.g[i], want.g[i]),
        };
        if g != w {
            fail_line(c, format_args!("{at}: {name} = {g:#x}, want {w:#x}"));
            ok = false;
        }
    }
    ok
}

/// After an entry that returned (or rt_sigreturn's landing).
extern "C" fn after_entry() -> ! {
    let c = case();
    let st_ptr = &raw const ST;
    // SAFETY: fuzz_after wrote ST before calling here; single-threaded.
    let st = unsafe { &*st_ptr };
    if c.outcome == Outcome::Any {
        sys::exit(0);
    }
    let r11_flags = c.kind == Kind::Syscall;
    let mut ok = compare(c, &st.got, r11_flags, "after the entry");
    for i in 0..4 {
        if st.got_sel[i] & 0xffff != c.sel[i] {
            fail_line(
                c,
                format_args!(
                    "after the entry: {} = {:#x}, want {:#x}",
                    ["ds", "es", "fs", "gs"][i],
                    st.got_sel[i] & 0xffff,
                    c.sel[i]
                ),
            );
            ok = false;
        }
    }
    if st.have_rdbase != 0 && (st.got_fs != st.before_fs || st.got_gs != st.before_gs) {
        fail_line(
            c,
            format_args!(
                "after the entry: fs/gs base {:#x}/{:#x}, want {:#x}/{:#x}",
                st.got_fs, st.got_gs, st.before_fs, st.before_gs
            ),
        );
        ok = false;
    }
    sys::exit(if ok { 0 } else { 1 })
}

/// The handler of every exception signal (entered through fuzz_sig_entry).
extern "C" fn on_signal(sig: i32, _info: *const u8, uc: *mut u8) -> ! {
    let c = case();
    let rip = get(uc, SC_RIP);
    let mut ok = true;
    if c.expect_rip != 0 && rip != c.expect_rip {
        fail_line(
            c,
            format_args!("signal {sig} at rip {rip:#x}, want {:#x}", c.expect_rip),
        );
        ok = false;
    } else {
        let mut got = Gprs::default();
        for (i, &reg) in SC_ORDER.iter().enumerate() {
            got.g[reg] = get(uc, SC + 8 * i);
        }
        got.rsp = get(uc, SC_RSP);
        got.rflags = get(uc, SC_EFLAGS);
        let mut care_case = *c;
        if c.stage == Stage::Iret {
            // RSP is the IRETQ frame's address, the flags are the child's own.
            care_case.care &= !(3 << 15);
        }
        ok &= compare(
            &care_case,
            &got,
            c.kind == Kind::Syscall,
            "in the signal frame",
        );
        let cs = get(uc, SC_CS) & 0xffff;
        if cs != cases::USER_CS {
            fail_line(c, format_args!("in the signal frame: cs = {cs:#x}"));
            ok = false;
        }
    }
    sys::exit(if ok { 64 + sig } else { 1 })
}
