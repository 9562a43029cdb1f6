//! mremap: resizing a mapping in place, or moving it with its pages.

use super::backing::page_put;
use super::{AddressSpace, Backing, EFAULT, EINVAL, ENOMEM, PTE_PROTNONE, TASK_SIZE};
use crate::mm::PAGE_SIZE;
use crate::mm::paging::{PTE_ADDR, PTE_P};
use alloc::vec::Vec;

impl AddressSpace {
    /// mremap (arguments checked by the caller: page-aligned, `new_len` > 0; `old_len` may be
    /// 0 for a shared mapping). `new_addr` is the target with `fixed`, a hint with
    /// `dontunmap`. Returns the new address.
    #[allow(clippy::too_many_arguments)]
    pub fn mremap(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        maymove: bool,
        fixed: bool,
        dontunmap: bool,
        new_addr: u64,
    ) -> Result<u64, i64> {
        let Some(i) = self.vmas.find(addr) else {
            return Err(EFAULT);
        };
        if self.check_special_mremap(addr, old_len, new_len)? {
            // The vDSO moves whole (Linux's vdso_mremap): record where it went.
            let r = self.mremap_inner(
                i, addr, old_len, new_len, maymove, fixed, dontunmap, new_addr,
            );
            if let Ok(dest) = r {
                self.vdso = dest;
            }
            return r;
        }
        self.mremap_inner(
            i, addr, old_len, new_len, maymove, fixed, dontunmap, new_addr,
        )
    }

    /// mremap once the special mappings' rules are checked; `i` is the VMA at `addr`.
    #[allow(clippy::too_many_arguments)]
    fn mremap_inner(
        &mut self,
        i: usize,
        addr: u64,
        old_len: u64,
        new_len: u64,
        maymove: bool,
        fixed: bool,
        dontunmap: bool,
        new_addr: u64,
    ) -> Result<u64, i64> {
        let mut old_len = old_len;
        if fixed || dontunmap {
            // Linux's mremap_to.
            if fixed {
                if new_addr & (PAGE_SIZE - 1) != 0 {
                    return Err(EINVAL);
                }
                if new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len {
                    return Err(EINVAL);
                }
                if addr + old_len > new_addr && new_addr + new_len > addr {
                    return Err(EINVAL);
                }
                self.unmap(new_addr, new_addr + new_len);
            }
            if old_len > new_len {
                self.unmap(addr + new_len, addr + old_len);
                old_len = new_len;
            }
            let i = self.vmas.find(addr).ok_or(EFAULT)?;
            self.check_resize(i, addr, old_len)?;
            let dest = self.get_unmapped_area(new_addr, new_len, fixed, false)?;
            let i = self.vmas.find(addr).ok_or(EFAULT)?;
            self.move_range(i, addr, old_len, new_len, dest, dontunmap)?;
            return Ok(dest);
        }
        if old_len >= new_len {
            self.unmap(addr + new_len, addr + old_len);
            return Ok(addr);
        }
        self.check_resize(i, addr, old_len)?;
        let v = &self.vmas[i];
        if old_len == v.end - addr {
            let (vend, delta) = (v.end, new_len - old_len);
            if vend.checked_add(delta).is_some_and(|e| e <= TASK_SIZE)
                && self.is_free(vend, vend + delta)
            {
                // Grow in place.
                self.vmas[i].end = vend + delta;
                self.vmas.merge_all();
                return Ok(addr);
            }
        }
        if !maymove {
            return Err(ENOMEM);
        }
        let dest = self.get_unmapped_area(0, new_len, false, false)?;
        self.move_range(i, addr, old_len, new_len, dest, false)?;
        Ok(dest)
    }

    /// Linux's vma_to_resize checks for [addr, addr+old_len) in VMA `i`.
    fn check_resize(&self, i: usize, addr: u64, old_len: u64) -> Result<(), i64> {
        let v = &self.vmas[i];
        if old_len == 0 && !v.is_shared() {
            return Err(EINVAL);
        }
        if old_len > v.end - addr {
            return Err(EFAULT);
        }
        Ok(())
    }

    /// Moves [addr, addr+old_len) of VMA `i` to a new mapping [new_addr, new_addr+new_len)
    /// (free, or cleared by the caller), pages included. With `old_len` 0 (shared memory) the
    /// new mapping is a second view of the same pages. `keep_old`: MREMAP_DONTUNMAP, the old
    /// range stays mapped, empty.
    fn move_range(
        &mut self,
        i: usize,
        addr: u64,
        old_len: u64,
        new_len: u64,
        new_addr: u64,
        keep_old: bool,
    ) -> Result<(), i64> {
        let mut nv = self.vmas[i].clone();
        if !matches!(nv.backing, Backing::Anon) {
            nv.pgoff += addr - nv.start;
        }
        nv.start = new_addr;
        nv.end = new_addr + new_len;
        self.unmap(new_addr, new_addr + new_len);
        // Move the page-table entries.
        let mut moved: Vec<(u64, u64)> = Vec::new();
        if old_len != 0 {
            self.pt.for_each_leaf_mut(addr, addr + old_len, |va, e| {
                let old = core::mem::replace(e, 0);
                if old & (PTE_P | PTE_PROTNONE) != 0 {
                    moved.push((va - addr + new_addr, old));
                }
            });
            self.flush_range(addr, addr + old_len);
        }
        let mut failed = false;
        for (va, e) in moved {
            match self.pt.leaf_entry(va) {
                Ok(slot) => *slot = e,
                Err(_) => {
                    page_put(e & PTE_ADDR);
                    failed = true;
                }
            }
        }
        // The new mapping first: unmapping the old range frees page tables no mapping covers,
        // and the moved entries may sit in a table the two ranges share.
        self.vmas.insert(nv);
        if old_len != 0 && !keep_old {
            self.unmap(addr, addr + old_len);
        }
        // With keep_old the old range stays, its pages gone (they read as fresh memory).
        if failed { Err(ENOMEM) } else { Ok(()) }
    }
}
