//! madvise and mincore.

use super::{
    AddressSpace, Backing, EINVAL, ENOMEM, PROT_RWX, PTE_PROTNONE, VM_DONTCOPY, VM_WIPEONFORK,
};
use crate::mm::PAGE_SIZE;
use crate::mm::paging::PTE_P;
use alloc::vec::Vec;

impl AddressSpace {
    /// madvise over [start, end) (page-aligned, non-empty), for the advice values that do
    /// something here. Unmapped parts give ENOMEM after the mapped ones are done.
    pub fn madvise(&mut self, start: u64, end: u64, advice: i32) -> Result<(), i64> {
        const MADV_DONTNEED: i32 = 4;
        const MADV_FREE: i32 = 8;
        const MADV_REMOVE: i32 = 9;
        const MADV_DONTFORK: i32 = 10;
        const MADV_DOFORK: i32 = 11;
        const MADV_WIPEONFORK: i32 = 18;
        const MADV_KEEPONFORK: i32 = 19;
        const MADV_POPULATE_READ: i32 = 22;
        const MADV_POPULATE_WRITE: i32 = 23;
        const MADV_DONTNEED_LOCKED: i32 = 24;
        // Validity first, over the whole range.
        let mut k = self.vmas.first_ending_after(start);
        let mut pos = start;
        let mut hole = false;
        while pos < end {
            match self.vmas.get(k) {
                Some(v) if v.start < end => {
                    if v.start > pos {
                        hole = true;
                    }
                    let anon_private = matches!(v.backing, Backing::Anon);
                    match advice {
                        MADV_FREE | MADV_WIPEONFORK if !anon_private => return Err(EINVAL),
                        MADV_REMOVE if !v.is_shared() => return Err(EINVAL),
                        _ => {}
                    }
                    pos = v.end;
                    k += 1;
                }
                _ => {
                    hole = true;
                    break;
                }
            }
        }
        match advice {
            MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE | MADV_REMOVE => {
                let mut k = self.vmas.first_ending_after(start);
                while let Some(v) = self.vmas.get(k) {
                    if v.start >= end {
                        break;
                    }
                    let (s, e) = (v.start.max(start), v.end.min(end));
                    let shm = match &v.backing {
                        Backing::Shared(o) if advice == MADV_REMOVE => {
                            Some((o.clone(), (v.pgoff + (s - v.start)) / PAGE_SIZE))
                        }
                        _ => None,
                    };
                    self.zap(s, e);
                    if let Some((o, first)) = shm {
                        o.remove(first, first + (e - s) / PAGE_SIZE);
                    }
                    k += 1;
                }
            }
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                let (set, clear) = match advice {
                    MADV_DONTFORK => (VM_DONTCOPY, 0),
                    MADV_DOFORK => (0, VM_DONTCOPY),
                    MADV_WIPEONFORK => (VM_WIPEONFORK, 0),
                    _ => (0, VM_WIPEONFORK),
                };
                self.vmas.split_at_addr(start);
                self.vmas.split_at_addr(end);
                let mut k = self.vmas.first_ending_after(start);
                while let Some(v) = self.vmas.get_mut(k) {
                    if v.start >= end {
                        break;
                    }
                    v.flags = (v.flags | set) & !clear;
                    k += 1;
                }
                self.vmas.merge_all();
            }
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                let mut k = self.vmas.first_ending_after(start);
                while let Some(v) = self.vmas.get(k) {
                    if v.start >= end {
                        break;
                    }
                    let (s, e) = (v.start.max(start), v.end.min(end));
                    if v.prot & PROT_RWX == 0 {
                        return Err(ENOMEM);
                    }
                    self.populate(s, e, advice == MADV_POPULATE_WRITE)?;
                    k = self.vmas.first_ending_after(e);
                }
            }
            _ => {}
        }
        if hole { Err(ENOMEM) } else { Ok(()) }
    }

    /// mincore for `pages` pages from `start`: one byte per page, 1 when resident. Err(ENOMEM)
    /// when a page is not mapped.
    pub fn mincore(&self, start: u64, pages: u64, out: &mut Vec<u8>) -> Result<(), i64> {
        for n in 0..pages {
            let va = start + n * PAGE_SIZE;
            let Some(i) = self.vmas.find(va) else {
                return Err(ENOMEM);
            };
            let e = self.pt.leaf_entry_existing(va).map_or(0, |e| *e);
            let v = &self.vmas[i];
            let resident = e & (PTE_P | PTE_PROTNONE) != 0
                || match &v.backing {
                    Backing::Shared(o) => o.has_page((v.pgoff + (va - v.start)) / PAGE_SIZE),
                    _ => false,
                };
            out.push(resident as u8);
        }
        Ok(())
    }
}
