//! Placing new mappings (get_unmapped_area), mmap, mprotect and brk.

use super::{
    AddressSpace, Backing, EACCES, EEXIST, EINVAL, ENOMEM, EPERM, LEGACY_MMAP_BASE, MAP32_BASE,
    MAP32_END, MMAP_BASE, MMAP_MIN_ADDR, PROT_READ, PROT_WRITE, TASK_SIZE, VM_GROWSDOWN, VM_SHARED,
    Vma,
};
use crate::mm::{PAGE_SIZE, align_up};

impl AddressSpace {
    // ---- placement ---------------------------------------------------------------------

    /// Chooses where a new mapping of `len` bytes goes (Linux's get_unmapped_area for a
    /// 64-bit process): the hint if it is free, else the highest free range below the mmap
    /// base; MAP_32BIT searches [1 GiB, 2 GiB) bottom-up. `fixed` returns `hint` itself.
    pub fn get_unmapped_area(
        &self,
        hint: u64,
        len: u64,
        fixed: bool,
        map32: bool,
    ) -> Result<u64, i64> {
        if len > TASK_SIZE {
            return Err(ENOMEM);
        }
        let addr = if fixed {
            hint
        } else if map32 {
            self.bottom_up(hint, len, MAP32_BASE, MAP32_END)?
        } else {
            let h = align_up(hint.min(TASK_SIZE), PAGE_SIZE);
            if hint != 0 && h <= TASK_SIZE - len && self.fits_before_next(h, h + len) {
                h
            } else {
                match self.top_down(len, PAGE_SIZE, MMAP_BASE) {
                    Some(a) => a,
                    None => self.bottom_up(hint, len, LEGACY_MMAP_BASE, TASK_SIZE)?,
                }
            }
        };
        if addr > TASK_SIZE - len {
            return Err(ENOMEM);
        }
        if addr & (PAGE_SIZE - 1) != 0 {
            return Err(EINVAL);
        }
        if addr < MMAP_MIN_ADDR {
            return Err(EPERM);
        }
        Ok(addr)
    }

    /// The highest `len`-byte free range inside [low, high).
    fn top_down(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let n = self.vmas.len();
        for i in (0..=n).rev() {
            let gap_start = if i == 0 { 0 } else { self.vmas[i - 1].end };
            let gap_end = if i == n {
                TASK_SIZE
            } else {
                self.vmas[i].start_gap()
            };
            let end = gap_end.min(high);
            let start = gap_start.max(low);
            if end >= start && end - start >= len {
                return Some(end - len);
            }
            if gap_start <= low {
                break;
            }
        }
        None
    }

    /// The hint if free, else the lowest `len`-byte free range inside [begin, end).
    fn bottom_up(&self, hint: u64, len: u64, begin: u64, end: u64) -> Result<u64, i64> {
        if len > end {
            return Err(ENOMEM);
        }
        if hint != 0 {
            let h = align_up(hint.min(TASK_SIZE), PAGE_SIZE);
            if end - len >= h && self.fits_before_next(h, h + len) {
                return Ok(h);
            }
        }
        let n = self.vmas.len();
        for i in self.first_ending_after(begin)..=n {
            let gap_start = if i == 0 { 0 } else { self.vmas[i - 1].end };
            let gap_end = if i == n {
                TASK_SIZE
            } else {
                self.vmas[i].start_gap()
            };
            let start = gap_start.max(begin);
            let e = gap_end.min(end);
            if e >= start && e - start >= len {
                return Ok(start);
            }
            if gap_end >= end {
                break;
            }
        }
        Err(ENOMEM)
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
        let i = self.first_ending_after(start);
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
        self.split_at(start);
        self.split_at(end);
        let mut k = self.first_ending_after(start);
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
            if v.flags & VM_SHARED != 0
                && matches!(v.backing, Backing::File { .. })
                && prot & PROT_WRITE != 0
            {
                result = Err(EACCES);
                break;
            }
            self.vmas[k].prot = prot;
            let v = self.vmas[k].clone();
            self.reprotect(&v);
            pos = v.end;
            k += 1;
        }
        self.merge_all();
        result
    }

    /// brk: moves the break (Linux's rules: below the start or into another mapping, it stays
    /// where it was). Returns the break.
    pub fn set_brk(&mut self, brk: u64) -> u64 {
        if brk < self.start_brk || brk > TASK_SIZE {
            return self.brk;
        }
        let newbrk = align_up(brk, PAGE_SIZE);
        let oldbrk = align_up(self.brk, PAGE_SIZE);
        if newbrk == oldbrk {
            self.brk = brk;
            return brk;
        }
        if brk <= self.brk {
            self.unmap(newbrk, oldbrk);
            self.brk = brk;
            return brk;
        }
        // A page of gap must stay below the next mapping (and its guard gap).
        let i = self.first_ending_after(oldbrk);
        if let Some(next) = self.vmas.get(i)
            && newbrk + PAGE_SIZE > next.start_gap()
        {
            return self.brk;
        }
        if newbrk > TASK_SIZE {
            return self.brk;
        }
        self.insert_vma(Vma::anon(oldbrk, newbrk, PROT_READ | PROT_WRITE, 0));
        self.brk = brk;
        brk
    }
}
