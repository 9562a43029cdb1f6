//! Where a new mapping goes (Linux's get_unmapped_area for a 64-bit process) and how far the
//! program break may move.

use super::{MAP32_BASE, MAP32_END, MMAP_MIN_ADDR, MapBacking, VmaList};
use crate::errno::{EINVAL, ENOMEM, EPERM};
use crate::page::{PAGE_SIZE, align_up};

/// What brk does to the mappings (Linux's brk rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrkChange {
    /// The request fails: the break stays where it was.
    Refuse,
    /// The break moves within the pages it already has.
    Move,
    /// The pages [from, to) go, and the break moves down.
    Shrink { from: u64, to: u64 },
    /// New anonymous read-write pages [from, to), and the break moves up.
    Grow { from: u64, to: u64 },
}

impl<B: MapBacking> VmaList<B> {
    /// Chooses where a new mapping of `len` bytes goes: the hint if it is free, else the
    /// highest free range below the mmap base; MAP_32BIT searches [1 GiB, 2 GiB) bottom-up.
    /// `fixed` returns `hint` itself. Errors are positive errno values.
    pub fn get_unmapped_area(
        &self,
        hint: u64,
        len: u64,
        fixed: bool,
        map32: bool,
    ) -> Result<u64, i64> {
        let task_size = self.limits.task_size;
        if len > task_size {
            return Err(ENOMEM);
        }
        let addr = if fixed {
            hint
        } else if map32 {
            self.bottom_up(hint, len, MAP32_BASE, MAP32_END)?
        } else {
            let h = align_up(hint.min(task_size), PAGE_SIZE);
            if hint != 0 && h <= task_size - len && self.fits_before_next(h, h + len) {
                h
            } else {
                match self.top_down(len, PAGE_SIZE, self.limits.mmap_base) {
                    Some(a) => a,
                    None => self.bottom_up(hint, len, self.limits.legacy_base, task_size)?,
                }
            }
        };
        if addr > task_size - len {
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
        let task_size = self.limits.task_size;
        let n = self.len();
        for i in (0..=n).rev() {
            let gap_start = if i == 0 { 0 } else { self[i - 1].end };
            let gap_end = if i == n {
                task_size
            } else {
                self[i].start_gap()
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
        let task_size = self.limits.task_size;
        if len > end {
            return Err(ENOMEM);
        }
        if hint != 0 {
            let h = align_up(hint.min(task_size), PAGE_SIZE);
            if end - len >= h && self.fits_before_next(h, h + len) {
                return Ok(h);
            }
        }
        let n = self.len();
        for i in self.first_ending_after(begin)..=n {
            let gap_start = if i == 0 { 0 } else { self[i - 1].end };
            let gap_end = if i == n {
                task_size
            } else {
                self[i].start_gap()
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

    /// What brk(`brk`) does when the break starts at `start_brk` and is now at `cur`: below
    /// the start or past user space it is refused; within the same pages only the break
    /// moves; down, the pages above the new break go; up, the new pages must leave a page of
    /// gap below the next mapping (and its guard gap), else it is refused.
    pub fn brk_change(&self, start_brk: u64, cur: u64, brk: u64) -> BrkChange {
        let task_size = self.limits.task_size;
        if brk < start_brk || brk > task_size {
            return BrkChange::Refuse;
        }
        let newbrk = align_up(brk, PAGE_SIZE);
        let oldbrk = align_up(cur, PAGE_SIZE);
        if newbrk == oldbrk {
            return BrkChange::Move;
        }
        if brk <= cur {
            return BrkChange::Shrink {
                from: newbrk,
                to: oldbrk,
            };
        }
        let i = self.first_ending_after(oldbrk);
        if let Some(next) = self.get(i)
            && newbrk + PAGE_SIZE > next.start_gap()
        {
            return BrkChange::Refuse;
        }
        if newbrk > task_size {
            return BrkChange::Refuse;
        }
        BrkChange::Grow {
            from: oldbrk,
            to: newbrk,
        }
    }
}
