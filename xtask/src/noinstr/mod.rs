//! The noinstr check of the entry text (E23): `noinstr_check` in `cargo xtask test`, on the
//! test kernel and the lean kernel, and its negative run `negative_noinstr_check`.
//!
//! It proves by disassembly (iced-x86) of the linked kernel that
//! - the entry text holds no breakpoint (`int3`, `int1`, `int n`, `into`) except at a
//!   static-key site ([`walk::scan`]), and
//! - every path from every symbol of the entry text stays in the entry text until an
//!   `instrumentation_begin!` marker, and from an `instrumentation_end!` marker on
//!   ([`walk::walk`]): before context tracking says "kernel" on the way in and after it says
//!   "user" on the way out, nothing is reached that could log, allocate, lock, trace or take
//!   a breakpoint. The rules a host kernel follows are in entry/README.md ("Entry text
//!   rules").
//!
//! The entry text is `__kentry_text_start .. __kentry_text_end` (entry/link/kentry-text.ld):
//! the stubs of `.text.kentry` and the Rust entry functions of `.text.kentry.noinstr`. The
//! roots are its symbols, and each IDT stub (one every 16 bytes from `kentry_idt_stubs`).

pub mod image;
mod suite;
#[cfg(test)]
mod tests;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

pub use image::Image;
pub use suite::{command, is_test_name, run_tests};
pub use walk::{RootStats, Violation};

/// The check's result name in `cargo xtask test` (the lean kernel's gets ` [lean]`, the
/// example kernel's ` [minimal]`).
pub const TEST_NAME: &str = "noinstr_check";
/// The kernels `cargo xtask test` checks, by the suffix of their result names: the test
/// kernel, the lean kernel, the example kernel (in this order).
pub const KERNELS: [&str; 3] = ["", " [lean]", " [minimal]"];
/// Its negative run: the check must fail on the example kernel built with kentry's
/// `noinstr-negative` feature (a logging call before the transition in the SYSCALL path), and
/// on a copy of the test kernel with an `int3` written into the SYSCALL stub.
pub const NEGATIVE_NAME: &str = "negative_noinstr_check";

/// The IDT stubs: 256 of them, `STUB_STRIDE` bytes apart, from this symbol to its `_end`.
const IDT_STUBS: &str = "kentry_idt_stubs";

/// What the check found in one image.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Per root, in address order; the IDT stubs one each.
    pub roots: Vec<RootStats>,
    pub violations: Vec<Violation>,
    /// Instructions decoded in the entry text, of which in the noinstr (Rust) part.
    pub decoded: usize,
    pub decoded_noinstr: usize,
    /// Static-key sites in the entry text (the breakpoint allow-list).
    pub key_sites: usize,
    /// `instrumentation_begin!` and `instrumentation_end!` markers in the entry text.
    pub markers: (usize, usize),
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line per root (the IDT stubs summed into one), for the test log.
    pub fn root_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let stubs: Vec<&RootStats> = self
            .roots
            .iter()
            .filter(|r| r.name.starts_with("idt stub "))
            .collect();
        for r in &self.roots {
            if r.name.starts_with("idt stub ") {
                continue;
            }
            lines.push(format!(
                "{}: {} instructions walked ({} noinstr), {} calls and {} jumps followed{}",
                r.name,
                r.insns,
                r.noinstr_insns,
                r.calls,
                r.jumps,
                match r.tables {
                    0 => String::new(),
                    n => format!(" ({n} jump tables)"),
                }
            ));
        }
        if let (Some(min), Some(max)) = (
            stubs.iter().map(|r| r.insns).min(),
            stubs.iter().map(|r| r.insns).max(),
        ) {
            let calls: usize = stubs.iter().map(|r| r.calls).sum();
            let jumps: usize = stubs.iter().map(|r| r.jumps).sum();
            lines.push(format!(
                "{} IDT stubs: {min}..{max} instructions walked each, {calls} calls and {jumps} jumps followed in all",
                stubs.len()
            ));
        }
        lines
    }

    /// The one-line summary of a result.
    pub fn summary(&self) -> String {
        let walked: usize = self.roots.iter().map(|r| r.insns).sum();
        format!(
            "{} roots, {} instructions of entry text ({} in noinstr Rust), {walked} walked; \
             {} static-key sites, {} begin and {} end markers",
            self.roots.len(),
            self.decoded,
            self.decoded_noinstr,
            self.key_sites,
            self.markers.0,
            self.markers.1
        )
    }
}

/// The walk's roots: every symbol of the entry text, and each IDT stub (in address order).
pub fn roots(img: &Image) -> Vec<(u64, String)> {
    let mut roots: Vec<(u64, String)> = Vec::new();
    for s in img.entry_symbols() {
        if !roots.iter().any(|(a, _)| *a == s.addr) {
            roots.push((s.addr, s.name.clone()));
        }
    }
    let stubs = img.symbols.iter().find(|s| s.name == IDT_STUBS);
    let stubs_end = img
        .symbols
        .iter()
        .find(|s| s.name == format!("{IDT_STUBS}_end"));
    if let (Some(a), Some(b)) = (stubs, stubs_end) {
        let stride = (b.addr - a.addr) / 256;
        roots.retain(|(addr, _)| *addr != a.addr);
        for v in 0..256u64 {
            roots.push((a.addr + v * stride, format!("idt stub {v:#04x}")));
        }
    }
    roots.sort();
    roots
}

/// The instructions of the Rust part (`.text.kentry.noinstr`) that run outside every
/// instrumentation region, as the walk sees them from the assembly stubs (the roots outside
/// the Rust part: the way the CPU gets there): address → the addresses of the roots that
/// reach it.
pub fn noinstr_rust_insns(img: &Image) -> BTreeMap<u64, BTreeSet<u64>> {
    let (dec, _) = walk::scan(img);
    let mut out: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for (addr, _) in roots(img) {
        if img.noinstr.contains(&addr) {
            continue;
        }
        for a in walk::noinstr_reach(img, &dec, addr) {
            if img.noinstr.contains(&a) {
                out.entry(a).or_default().insert(addr);
            }
        }
    }
    out
}

/// Runs both proofs on `img`.
pub fn check(img: &Image) -> Outcome {
    let (dec, mut violations) = walk::scan(img);
    let roots = roots(img);
    let mut seen = walk::Seen::new();
    let stats = roots
        .iter()
        .map(|(addr, name)| walk::walk(img, &dec, *addr, name, &mut seen, &mut violations))
        .collect();
    Outcome {
        roots: stats,
        violations,
        decoded: dec.insns.len(),
        decoded_noinstr: dec.insns.range(img.noinstr.clone()).count(),
        key_sites: img.key_sites.range(img.entry.clone()).count(),
        markers: (
            img.instr_begin.range(img.entry.clone()).count(),
            img.instr_end.range(img.entry.clone()).count(),
        ),
    }
}

/// Reads the ELF at `path` and checks it.
pub fn check_file(path: &Path) -> Result<Outcome> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let img = Image::from_elf(&data).with_context(|| format!("reading {}", path.display()))?;
    Ok(check(&img))
}
