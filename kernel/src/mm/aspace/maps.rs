//! The text of `/proc/self/maps`.

use super::{AddressSpace, Backing, PROT_EXEC, PROT_READ, PROT_WRITE, VM_SHARED};
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
                Backing::Shared(o) => (v.pgoff, (0, 1), o.ino, Some("/dev/zero (deleted)")),
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
}
