//! mmap, mprotect and brk (where a mapping goes, and how far brk may move, are decided by
//! `kentry_kernel_logic::vma`).

use super::{
    AddressSpace, Backing, EACCES, EEXIST, EINVAL, ENOMEM, PROT_READ, PROT_WRITE, VM_GROWSDOWN,
    VM_NOMAYWRITE, VM_SHARED, Vma,
};
use kentry_kernel_logic::vma::BrkChange;

impl AddressSpace {
    /// Chooses where a new mapping of `len` bytes goes (Linux's get_unmapped_area for a
    /// 64-bit process; `kentry_kernel_logic::vma`): the hint if it is free, else the highest
    /// free range below the mmap base; MAP_32BIT searches [1 GiB, 2 GiB) bottom-up. `fixed`
    /// returns `hint` itself.
    pub fn get_unmapped_area(
        &self,
        hint: u64,
        len: u64,
        fixed: bool,
        map32: bool,
    ) -> Result<u64, i64> {
        self.vmas.get_unmapped_area(hint, len, fixed, map32)
    }

    // ---- system calls ------------------------------------------------------------------

    /// mmap's work once the arguments are checked: places and maps the region.
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        hint: u64,
        len: u64,
        prot: u32,
        flags: u32,
        backing: Backing,
        pgoff: u64,
        fixed: bool,
        noreplace: bool,
        map32: bool,
    ) -> Result<u64, i64> {
        let addr = self.get_unmapped_area(hint, len, fixed || noreplace, map32)?;
        if noreplace && !self.is_free(addr, addr + len) {
            return Err(EEXIST);
        }
        self.map_fixed(Vma {
            start: addr,
            end: addr + len,
            prot,
            flags,
            backing,
            pgoff,
        });
        Ok(addr)
    }

    /// mprotect over [start, end) (page-aligned, non-empty). `growsdown`: PROT_GROWSDOWN,
    /// extending the range down to the start of a VM_GROWSDOWN mapping.
    pub fn mprotect(
        &mut self,
        mut start: u64,
        end: u64,
        prot: u32,
        growsdown: bool,
    ) -> Result<(), i64> {
        let i = self.vmas.first_ending_after(start);
        let Some(first) = self.vmas.get(i) else {
            return Err(ENOMEM);
        };
        if growsdown {
            if first.start >= end {
                return Err(ENOMEM);
            }
            if first.flags & VM_GROWSDOWN == 0 {
                return Err(EINVAL);
            }
            start = first.start;
        } else if first.start > start {
            return Err(ENOMEM);
        }
        self.vmas.split_at_addr(start);
        self.vmas.split_at_addr(end);
        let mut k = self.vmas.first_ending_after(start);
        let mut pos = start;
        let mut result = Ok(());
        while pos < end {
            let Some(v) = self.vmas.get(k) else {
                result = Err(ENOMEM);
                break;
            };
            if v.start != pos {
                result = Err(ENOMEM);
                break;
            }
            // A shared file mapping without write-back, or one that may never be writable
            // (a memfd's from a read-only descriptor or under a write seal).
            let no_write = v.flags & VM_NOMAYWRITE != 0
                || (v.flags & VM_SHARED != 0 && matches!(v.backing, Backing::File { .. }));
            if no_write && prot & PROT_WRITE != 0 {
                result = Err(EACCES);
                break;
            }
            self.vmas[k].prot = prot;
            let v = self.vmas[k].clone();
            self.reprotect(&v);
            pos = v.end;
            k += 1;
        }
        self.vmas.merge_all();
        result
    }

    /// brk: moves the break (Linux's rules, `VmaList::brk_change`: below the start or into
    /// another mapping, it stays where it was). Returns the break.
    pub fn set_brk(&mut self, brk: u64) -> u64 {
        match self.vmas.brk_change(self.start_brk, self.brk, brk) {
            BrkChange::Refuse => return self.brk,
            BrkChange::Move => {}
            BrkChange::Shrink { from, to } => self.unmap(from, to),
            BrkChange::Grow { from, to } => {
                self.vmas
                    .insert(Vma::anon(from, to, PROT_READ | PROT_WRITE, 0));
            }
        }
        self.brk = brk;
        brk
    }
}
