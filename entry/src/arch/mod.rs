//! Everything that must be assembly, and the CPU setup that points the hardware at it.
//!
//! Assembly is confined to this module: the SYSCALL stub ([`syscall_64`]), the `int $0x80`
//! stub ([`entry_64_compat`]), the compat SYSCALL and SYSENTER stubs ([`syscall_compat`],
//! [`sysenter_compat`]), the 256 IDT stubs
//! and their common path ([`idt_stubs`]), the paranoid IST path ([`paranoid`]) and the NMI
//! latch in front of it ([`nmi`]), and the one IRET return ([`iret`]); and, for the bench
//! only, the floor stubs ([`bench_floor`]). All of it lives in the `.text.kentry` section, so
//! the kernel can tell entry code apart (no breakpoints there, E23).

pub mod bench_floor;
pub mod entry_64_compat;
pub mod idt_stubs;
pub mod iret;
pub mod nmi;
pub mod paranoid;
pub mod setup;
pub mod smap;
pub mod switch;
pub mod syscall_64;
pub mod syscall_compat;
pub mod sysenter_compat;

unsafe extern "C" {
    /// Linker-script markers around the asm stubs (entry/link/kentry-text.ld): `.text.kentry`
    /// starts at the first, and its Rust part (`.text.kentry.noinstr`) at the second.
    static __kentry_text_start: u8;
    static __kentry_noinstr_text_start: u8;
}

/// Whether `addr` is an instruction of the asm entry stubs (`.text.kentry`, not its Rust
/// part). A kernel-mode fault there is tripwire T3's case: the stubs run in windows where the
/// stack or GS may be the user's, and their window tables say that no fault may arrive
/// except the few they name (the `iretq` to user's, E14). The host's fault report names the
/// stub and the window.
pub fn in_entry_stubs(addr: u64) -> bool {
    let (start, end) = (
        core::ptr::addr_of!(__kentry_text_start) as u64,
        core::ptr::addr_of!(__kentry_noinstr_text_start) as u64,
    );
    (start..end).contains(&addr)
}

/// The asm stubs' window tables, row by row, as the comments of this module's files write
/// them (`entry/build.rs` compiles them in; `entry/window_tables.rs` says the format). A host's
/// fault report finds the row of a RIP inside a stub with [`windows::row_of`].
pub mod windows {
    /// One row of a window table: a run of a stub's instructions and why what can arrive
    /// there is safe.
    #[derive(Debug)]
    pub struct WindowRow {
        /// The file under `entry/src/arch/` whose comment holds the table.
        pub file: &'static str,
        /// The row's line in that file.
        pub line: usize,
        /// The asm labels at which the window starts.
        pub from: &'static [&'static str],
        /// What the window's instructions are.
        pub instructions: &'static str,
        /// Which RSP and GS are live.
        pub rsp_gs: &'static str,
        /// What can arrive (interrupts, exceptions).
        pub can_arrive: &'static str,
        /// Why that is safe.
        pub why: &'static str,
    }

    include!(concat!(env!("OUT_DIR"), "/windows.rs"));

    /// The row whose window holds `rip`, inside the stub that spans `stub`: the row with the
    /// highest start label at or below `rip` in that range, with that label and `rip`'s offset
    /// from it. `address_of` resolves a label (the host's symbol table); labels it does not
    /// know (a test kernel's stub in a lean kernel) are skipped.
    pub fn row_of(
        rip: u64,
        stub: core::ops::Range<u64>,
        address_of: impl Fn(&str) -> Option<u64>,
    ) -> Option<(&'static WindowRow, &'static str, u64)> {
        let mut best: Option<(&'static WindowRow, &'static str, u64)> = None;
        for row in ROWS {
            for &label in row.from {
                let Some(at) = address_of(label) else {
                    continue;
                };
                if stub.contains(&at) && at <= rip && best.is_none_or(|(_, _, b)| at > b) {
                    best = Some((row, label, at));
                }
            }
        }
        best.map(|(row, label, at)| (row, label, rip - at))
    }
}

// The `pt_regs` order of the 15 general registers exists once, in the two macros below: every
// stub that builds or unwinds a [`Regs`](crate::Regs) uses them (frame.rs checks the layout).

/// Pushes the 14 general registers below the `rdi` slot, in `pt_regs` order, taking the value
/// of the `rax` slot from `$rax` (an asm operand: `"%rax"`, or the SYSCALL stub's preset
/// `"${enosys}"`). The caller has already filled the `rdi` slot and everything above it.
macro_rules! push_gprs_below_rdi {
    ($rax:literal) => {
        concat!(
            "pushq %rsi\n",
            "pushq %rdx\n",
            "pushq %rcx\n",
            "pushq ",
            $rax,
            "\n",
            "pushq %r8\n",
            "pushq %r9\n",
            "pushq %r10\n",
            "pushq %r11\n",
            "pushq %rbx\n",
            "pushq %rbp\n",
            "pushq %r12\n",
            "pushq %r13\n",
            "pushq %r14\n",
            "pushq %r15\n",
        )
    };
}

/// Pops the 15 general registers of a frame at RSP, in `pt_regs` order: RSP then points at
/// the `orig_rax` slot.
macro_rules! pop_gprs {
    () => {
        concat!(
            "popq %r15\n",
            "popq %r14\n",
            "popq %r13\n",
            "popq %r12\n",
            "popq %rbp\n",
            "popq %rbx\n",
            "popq %r11\n",
            "popq %r10\n",
            "popq %r9\n",
            "popq %r8\n",
            "popq %rax\n",
            "popq %rcx\n",
            "popq %rdx\n",
            "popq %rsi\n",
            "popq %rdi\n",
        )
    };
}

/// Completes a [`Regs`](crate::Regs) below an IDT stub's frame ([`StubFrame`](crate::frame::StubFrame)).
/// Entry: the vector sits where `rdi` belongs; it ends up in `%rsi` (the second argument of
/// the Rust half), and the slot gets the interrupted `rdi`.
macro_rules! save_gprs_vector_in_rsi {
    () => {
        concat!(
            "xchgq %rdi, (%rsp)\n",
            $crate::arch::push_gprs_below_rdi!("%rax"),
            "movq %rdi, %rsi\n",
        )
    };
}

/// Restores the 15 general registers and drops the `orig_rax` slot: RSP then points at the
/// hardware IRET frame.
macro_rules! restore_gprs_for_iret {
    () => {
        concat!($crate::arch::pop_gprs!(), "addq $8, %rsp\n")
    };
}

pub(crate) use pop_gprs;
pub(crate) use push_gprs_below_rdi;
pub(crate) use restore_gprs_for_iret;
pub(crate) use save_gprs_vector_in_rsi;
