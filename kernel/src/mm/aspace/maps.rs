//! The text of `/proc/self/maps`.

use super::{AddressSpace, Backing, PROT_EXEC, PROT_READ, PROT_WRITE, PTE_PROTNONE, VM_SHARED};
use crate::mm::paging::PTE_P;
use alloc::string::String;
use core::fmt::Write;

impl AddressSpace {
    /// The text of `/proc/self/maps` for this address space, exactly in Linux's format.
    #[allow(dead_code, reason = "for other kernel areas: /proc, readlink, loaders")]
    pub fn proc_maps(&self) -> String {
        let mut s = String::new();
        for v in self.vmas.iter() {
            let line_start = s.len();
            let (pgoff, dev, ino, name): (u64, (u32, u32), u64, Option<&str>) = match &v.backing {
                Backing::File { file, .. } => (
                    v.pgoff,
                    file.dev,
                    file.ino,
                    Some(file.path.as_str()).filter(|p| !p.is_empty()),
                ),
                Backing::Shared(o) => (
                    v.pgoff,
                    (0, 1),
                    o.ino,
                    Some(o.name.as_deref().unwrap_or("/dev/zero (deleted)")),
                ),
                // Linux shows special mappings with offset, device and inode 0.
                Backing::Special(sm) => (0, (0, 0), 0, Some(sm.name())),
                Backing::Anon => {
                    let name =
                        if v.start <= self.brk && v.end >= self.start_brk && self.start_brk != 0 {
                            Some("[heap]")
                        } else if v.start <= self.start_stack && v.end >= self.start_stack {
                            Some("[stack]")
                        } else {
                            None
                        };
                    (0, (0, 0), 0, name)
                }
            };
            let _ = write!(
                s,
                "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
                v.start,
                v.end,
                if v.prot & PROT_READ != 0 { 'r' } else { '-' },
                if v.prot & PROT_WRITE != 0 { 'w' } else { '-' },
                if v.prot & PROT_EXEC != 0 { 'x' } else { '-' },
                if v.flags & VM_SHARED != 0 { 's' } else { 'p' },
                pgoff,
                dev.0,
                dev.1,
                ino
            );
            if let Some(name) = name {
                // seq_pad: pad to 25 + 6 * sizeof(void *) - 1 columns, then one space.
                while s.len() - line_start < 72 {
                    s.push(' ');
                }
                s.push(' ');
                s.push_str(name);
            }
            s.push('\n');
        }
        s
    }

    /// The figures /proc/PID/stat and status show of this address space.
    pub fn summary(&self) -> MemSummary {
        let mut m = MemSummary {
            start_brk: self.start_brk,
            brk: self.brk,
            start_stack: self.start_stack,
            args: self.args,
            env: self.env,
            ..MemSummary::default()
        };
        for v in self.vmas.iter() {
            m.vsize += v.end - v.start;
            // Frames mapped (a PROT_NONE page keeps its frame: Linux counts it too).
            self.pt.for_each_leaf_mut(v.start, v.end, |_, e| {
                if *e & (PTE_P | PTE_PROTNONE) != 0 {
                    m.rss_pages += 1;
                }
            });
            // The executable's mappings: its code (the executable ones) and data (the rest
            // after it), as binfmt_elf's start_code..end_data — page-rounded here, since the
            // mappings are all that is kept of the segments.
            let exe = match (&v.backing, &self.exe) {
                (Backing::File { file, .. }, Some(e)) => alloc::sync::Arc::ptr_eq(file, e),
                _ => false,
            };
            if exe {
                if v.prot & PROT_EXEC != 0 {
                    if m.start_code == 0 || v.start < m.start_code {
                        m.start_code = v.start;
                    }
                    m.end_code = m.end_code.max(v.end);
                } else if v.start >= m.end_code {
                    if m.start_data == 0 {
                        m.start_data = v.start;
                    }
                    m.end_data = m.end_data.max(v.end);
                }
            }
        }
        m
    }
}

/// An address space's figures for /proc (Linux's mm_struct fields of the same names).
#[derive(Clone, Copy, Default, Debug)]
pub struct MemSummary {
    /// Bytes mapped.
    pub vsize: u64,
    /// Pages with a frame.
    pub rss_pages: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub args: (u64, u64),
    pub env: (u64, u64),
}
