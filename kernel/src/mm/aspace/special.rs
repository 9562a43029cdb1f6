//! The special mappings: the vDSO image and its vvar page (`crate::vdso`), mapped at exec,
//! kept by fork, and taken whole by munmap, mprotect and mremap as Linux's
//! `vm_special_mapping`s are (they cannot be split).

use super::{AddressSpace, Backing, EACCES, EFAULT, EINVAL, PROT_EXEC, PROT_READ, PROT_WRITE};
use super::{SpecialMapping, Vma};
use crate::mm::PAGE_SIZE;

impl AddressSpace {
    /// Maps `[vvar]` (one read-only page) and right above it `[vdso]` (read and execute),
    /// as Linux's map_vdso: the image reaches the vvar page PC-relative at one page below
    /// itself. Returns the image's address (AT_SYSINFO_EHDR).
    ///
    /// Where: just above the stack's top, as Linux's vdso_addr places it (within the 2 MiB
    /// above the initial stack pointer; Linux draws the page at random, kentry takes the
    /// lowest, as it fixes the stack's own draw); if that is taken, the highest free place.
    /// kentry's stack top is one page below a 1 GiB boundary, so `[vdso]` starts a page
    /// directory and a page table of its own: once a process has touched it, each fork copies
    /// and each exit walks and frees those two tables (docs/vdso.md, "What it costs").
    pub fn map_vdso(&mut self) -> Result<u64, i64> {
        let text = crate::vdso::IMAGE_PAGES as u64 * PAGE_SIZE;
        let base = self.get_unmapped_area(super::STACK_TOP, PAGE_SIZE + text, false, false)?;
        let vdso = base + PAGE_SIZE;
        let special = |start, end, prot, sm| Vma {
            start,
            end,
            prot,
            flags: 0,
            backing: Backing::Special(sm),
            pgoff: 0,
        };
        self.map_fixed(special(base, vdso, PROT_READ, SpecialMapping::Vvar));
        self.map_fixed(special(
            vdso,
            vdso + text,
            PROT_READ | PROT_EXEC,
            SpecialMapping::Vdso,
        ));
        self.vdso = vdso;
        Ok(vdso)
    }

    /// The special mapping around `addr`, if any: (start, end, which).
    fn special_at(&self, addr: u64) -> Option<(u64, u64, SpecialMapping)> {
        let v = self.vma_at(addr)?;
        match v.backing {
            Backing::Special(sm) => Some((v.start, v.end, sm)),
            _ => None,
        }
    }

    /// munmap/mprotect's refusal to split a special mapping: EINVAL when `start` or `end`
    /// falls strictly inside one.
    pub fn check_special_split(&self, start: u64, end: u64) -> Result<(), i64> {
        if !crate::vdso::special_checks_on() {
            return Ok(());
        }
        for a in [start, end] {
            if let Some((s, _, _)) = self.special_at(a)
                && s != a
            {
                return Err(EINVAL);
            }
        }
        Ok(())
    }

    /// mprotect's extra rule: the vvar page can never be writable or executable (Linux maps
    /// it without VM_MAYWRITE and VM_MAYEXEC).
    pub fn check_special_prot(&self, start: u64, end: u64, prot: u32) -> Result<(), i64> {
        self.check_special_split(start, end)?;
        if prot & (PROT_WRITE | PROT_EXEC) == 0 || !crate::vdso::special_checks_on() {
            return Ok(());
        }
        let vvar = self
            .vmas()
            .iter()
            .filter(|v| v.start < end && v.end > start)
            .any(|v| matches!(v.backing, Backing::Special(SpecialMapping::Vvar)));
        if vvar { Err(EACCES) } else { Ok(()) }
    }

    /// mremap's rules for a special mapping at `addr`: only the whole of it may move, at its
    /// size (growing: EFAULT, as for Linux's VM_DONTEXPAND; a part: EINVAL, it cannot be
    /// split). Returns whether `addr` is the vDSO image, whose new place the caller records.
    pub fn check_special_mremap(&self, addr: u64, old_len: u64, new_len: u64) -> Result<bool, i64> {
        let Some((s, e, sm)) = self.special_at(addr) else {
            return Ok(false);
        };
        if !crate::vdso::special_checks_on() {
            return Ok(false);
        }
        if new_len > e - s {
            return Err(EFAULT);
        }
        if addr != s || old_len != e - s || new_len != old_len {
            return Err(EINVAL);
        }
        Ok(sm == SpecialMapping::Vdso)
    }
}
