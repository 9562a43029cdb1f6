//! Marking where entry code may call out (E23): Linux's `noinstr` with
//! `instrumentation_begin()` / `instrumentation_end()`, for kentry's Rust entry functions.
//!
//! The `extern "C"` functions the stubs call ([`entry_points!`](crate::entry_points)) live in
//! `.text.kentry.noinstr`, inside the entry text (`entry/link/kentry-text.ld`). Everything
//! they inline runs *noinstr* — it may call or jump only into the entry text — except between
//! an [`instrumentation_begin!`](crate::instrumentation_begin) and an
//! [`instrumentation_end!`](crate::instrumentation_end), where it may call anything: the
//! host's handlers, the exit-work loop, a panic. On the way in, the region begins right after
//! context tracking says "kernel" (or after an NMI-like entry made RCU watch); on the way out
//! it ends right before context tracking says "user" (or idle, or the NMI nesting drops).
//! A report that ends the kernel (a context-tracking violation, a tripwire) opens a region
//! just before it calls out, as Linux's `noinstr` code does around a `WARN`.
//!
//! `cargo xtask test` proves it on every kernel it builds (`noinstr_check`,
//! `xtask/src/noinstr/`): it walks every path from every symbol of the entry text through
//! the disassembly and fails, naming the path, if one leaves the entry text outside a region,
//! or if entry text holds an `int3`. Each marker is one label, emitted into a non-allocated
//! section (`.kentry.instr_begin` or `.kentry.instr_end`): no instruction, no byte of the
//! loaded image. A begin and an end that fall on one address count as an end (an empty
//! region), the stricter reading.

/// From here on, this path may call out of the entry text (module docs). Place it after the
/// context-tracking transition on the way in, and before any report that ends the kernel.
#[macro_export]
macro_rules! instrumentation_begin {
    () => {
        // SAFETY: emits a label and its address into a non-allocated section: no instruction,
        // no register or memory is touched. It is not `pure`/`nomem`, so the compiler keeps
        // it in order with the calls around it.
        unsafe {
            ::core::arch::asm!(
                "7:",
                ".pushsection .kentry.instr_begin, \"\", @progbits",
                ".balign 8",
                ".quad 7b",
                ".popsection",
                options(nostack, preserves_flags),
            )
        }
    };
}

/// From here on, this path stays in the entry text until it returns (module docs). Place it
/// before the context-tracking transition on the way out.
#[macro_export]
macro_rules! instrumentation_end {
    () => {
        // SAFETY: as in `instrumentation_begin!`: a label recorded in a non-allocated section.
        unsafe {
            ::core::arch::asm!(
                "7:",
                ".pushsection .kentry.instr_end, \"\", @progbits",
                ".balign 8",
                ".quad 7b",
                ".popsection",
                options(nostack, preserves_flags),
            )
        }
    };
}
