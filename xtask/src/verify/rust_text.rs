//! The Rust part of the entry text (`.text.kentry.noinstr`, between
//! `__kentry_noinstr_text_start` and `_end`): kentry's `extern "C"` entry functions and what
//! they did not inline. `cargo xtask verify` injects at each of their instructions that runs
//! outside every instrumentation region — before context tracking says "kernel" on the way
//! in, after it says "user" on the way out. Which ones those are is the noinstr check's walk
//! (xtask/src/noinstr/): the addresses it visits in its noinstr state from the assembly
//! stubs, so the verify run and the check read the `instrumentation_begin!/end!` markers one
//! way. Code inside a region may call anything (handlers, the exit-work loop) and is not
//! entry code in issue 10's sense; it is left out.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use super::enumerate::{EntryText, Insn, decode};
use crate::noinstr::{self, Image};

/// Adds the Rust functions' noinstr instructions to `out`, one stub per function (by its
/// symbol), after the assembly stubs.
pub fn add(out: &mut EntryText, data: &[u8]) -> Result<()> {
    let img = Image::from_elf(data).context("reading the image as the noinstr check does")?;
    let reach = noinstr::noinstr_rust_insns(&img);
    out.rust = img.noinstr.clone();
    // The functions of the Rust part, each with the addresses to inject at.
    let mut by_fn: BTreeMap<u64, (String, u64, BTreeSet<u64>)> = BTreeMap::new();
    for (&addr, roots) in &reach {
        let f = img
            .symbols
            .iter()
            .rev()
            .find(|s| s.addr <= addr && addr < s.addr + s.size.max(1))
            .with_context(|| format!("{addr:#x} in .text.kentry.noinstr lies in no function"))?;
        by_fn
            .entry(f.addr)
            .or_insert_with(|| (f.name.clone(), f.size, BTreeSet::new()))
            .2
            .insert(addr);
        // Reached from the NMI path only: runs with NMIs blocked (an NMI injected there is
        // held back until the NMI path's IRETQ).
        if roots.iter().all(|&r| out.nmi_blocked_at(r)) {
            out.rust_nmi_only.insert(addr);
        }
        if roots.iter().any(|&r| out.nmi_blocked_at(r)) {
            out.rust_nmi_reach.insert(addr);
        }
    }
    for (addr, (name, size, wanted)) in by_fn {
        let code = img
            .code(addr, size)
            .with_context(|| format!("no code for {name} at {addr:#x}"))?;
        let insns: Vec<Insn> = decode(addr, code, &name, |_| false)
            .into_iter()
            .filter(|i| wanted.contains(&i.addr))
            .collect();
        anyhow::ensure!(
            insns.len() == wanted.len(),
            "{name}: the walk's noinstr addresses are not all instruction boundaries of a linear decode"
        );
        out.cr2_restore.extend(
            insns
                .iter()
                .filter(|i| i.text.starts_with("mov ") && i.text.ends_with(",%cr2"))
                .map(|i| i.addr),
        );
        out.labels.entry(addr).or_insert_with(|| name.clone());
        out.rust_total += decode(addr, code, &name, |_| false).len();
        out.stubs.push((name, insns));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The lean kernel, when built: its Rust part must yield instructions for the SYSCALL
    /// entry function, all of them in the noinstr text.
    #[test]
    fn lean_kernel_rust_part() {
        let Ok(data) =
            std::fs::read("../target/kernel-lean/x86_64-unknown-none/release/kentry-kernel")
        else {
            return;
        };
        let text = super::super::enumerate::from_elf(&data).unwrap();
        let sys = text
            .stubs
            .iter()
            .find(|(n, _)| n == "kentry_rust_syscall")
            .expect("kentry_rust_syscall");
        assert!(!sys.1.is_empty());
        assert!(sys.1.iter().all(|i| text.rust.contains(&i.addr)));
    }
}
