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
    ///
    /// An i386 process (`ia32`) gets the 32-bit image, placed as Linux's compat map_vdso
    /// does: with no hint, so top-down below the i386 mmap base (its stack top is the end of
    /// its address space, with no room above).
    pub fn map_vdso(&mut self, ia32: bool) -> Result<u64, i64> {
        let (pages, image, hint) = if ia32 {
            (crate::vdso::ia32::IMAGE_PAGES, SpecialMapping::Vdso32, 0)
        } else {
            (
                crate::vdso::IMAGE_PAGES,
                SpecialMapping::Vdso,
                super::STACK_TOP,
            )
        };
        let text = pages as u64 * PAGE_SIZE;
        let base = self.get_unmapped_area(hint, PAGE_SIZE + text, false, false)?;
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
        self.map_fixed(special(vdso, vdso + text, PROT_READ | PROT_EXEC, image));
        self.vdso = vdso;
        Ok(vdso)
    }

    /// Where the 32-bit vDSO image is, if this (i386) process has it mapped (moved by
    /// mremap or not): the base of `__kernel_vsyscall` and its landing pad.
    pub fn vdso32(&self) -> Option<u64> {
        match self.special_at(self.vdso)? {
            (s, _, SpecialMapping::Vdso32) => Some(s),
            _ => None,
        }
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
        Ok(matches!(sm, SpecialMapping::Vdso | SpecialMapping::Vdso32))
    }
}
