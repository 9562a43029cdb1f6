//! User address spaces and starting a program: ELF image, stack with argv/envp/auxv.

use crate::elf::{self, ElfError, LoadedImage};
use crate::mm::paging::{MapError, PTE_NX, PTE_U, PTE_W, PageTable};
use crate::mm::{PAGE_SIZE, align_down, align_up, frame, phys_to_virt};
use alloc::vec::Vec;
use kentry::Regs;
use kentry::sysret::TASK_SIZE_MAX;

/// A process's user address space.
pub struct AddressSpace {
    pub pt: PageTable,
}

impl AddressSpace {
    pub fn new() -> Result<Self, MapError> {
        Ok(AddressSpace {
            pt: PageTable::new_user()?,
        })
    }

    /// Maps fresh zeroed pages over [va, va+len) (pages already mapped are kept).
    pub fn map_zeroed(&mut self, va: u64, len: u64, flags: u64) -> Result<(), MapError> {
        let mut page = align_down(va, PAGE_SIZE);
        let end = align_up(va + len, PAGE_SIZE);
        while page < end {
            if self.pt.translate(page).is_some() {
                // Two segments sharing a page: the page gets the union of their rights.
                self.pt.widen_flags_4k(page, flags);
                page += PAGE_SIZE;
                continue;
            }
            let f = frame::alloc_frame().ok_or(MapError::NoMemory)?;
            self.pt.map_4k(page, f, flags)?;
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Writes into this (possibly inactive) address space through the direct map.
    pub fn write(&mut self, mut va: u64, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (pa, _) = self
                .pt
                .translate(va)
                .expect("write to an unmapped user page");
            let room = (PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize;
            let n = room.min(bytes.len());
            // SAFETY: `pa` is a frame of this address space, visible through the direct map.
            unsafe {
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), phys_to_virt(pa) as *mut u8, n)
            };
            va += n as u64;
            bytes = &bytes[n..];
        }
    }
}

pub const STACK_TOP: u64 = TASK_SIZE_MAX;
pub const STACK_SIZE: u64 = 256 * 1024;

// Auxiliary vector types (linux-abi.md §3.2).
const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

/// A program ready to run: its address space and its first user frame.
pub struct Image {
    pub aspace: AddressSpace,
    pub regs: Regs,
}

#[derive(Debug)]
pub enum ExecError {
    Elf(ElfError),
    NoMemory,
    TooBig,
}

/// Builds a process image from ELF bytes, argv and envp.
pub fn build_image(
    path: &str,
    data: &[u8],
    argv: &[&str],
    envp: &[&str],
) -> Result<Image, ExecError> {
    let mut aspace = AddressSpace::new().map_err(|_| ExecError::NoMemory)?;
    let img = elf::load(data, &mut aspace).map_err(ExecError::Elf)?;
    aspace
        .map_zeroed(STACK_TOP - STACK_SIZE, STACK_SIZE, PTE_U | PTE_W | PTE_NX)
        .map_err(|_| ExecError::NoMemory)?;
    let rsp = build_stack(&mut aspace, &img, path, argv, envp)?;
    Ok(Image {
        aspace,
        regs: Regs::new_user(img.entry, rsp),
    })
}

/// Lays out the initial stack as Linux does: strings at the top, 16 random bytes, then
/// (16-byte aligned) argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL.
fn build_stack(
    aspace: &mut AddressSpace,
    img: &LoadedImage,
    path: &str,
    argv: &[&str],
    envp: &[&str],
) -> Result<u64, ExecError> {
    let mut sp = STACK_TOP;
    let push_str = |aspace: &mut AddressSpace, s: &str, sp: &mut u64| -> u64 {
        *sp -= s.len() as u64 + 1;
        aspace.write(*sp, s.as_bytes());
        aspace.write(*sp + s.len() as u64, &[0]);
        *sp
    };
    let execfn = push_str(aspace, path, &mut sp);
    let platform = push_str(aspace, "x86_64", &mut sp);
    let argv_ptrs: Vec<u64> = argv.iter().map(|a| push_str(aspace, a, &mut sp)).collect();
    let envp_ptrs: Vec<u64> = envp.iter().map(|e| push_str(aspace, e, &mut sp)).collect();
    sp &= !15;
    sp -= 16;
    let random = sp;
    aspace.write(random, &crate::random::bytes16());

    let auxv: [(u64, u64); 16] = [
        (AT_PHDR, img.phdr),
        (AT_PHENT, img.phent),
        (AT_PHNUM, img.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_ENTRY, img.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_PLATFORM, platform),
        (AT_HWCAP, 0),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_EXECFN, execfn),
        (AT_NULL, 0),
    ];
    let words = 1 + argv_ptrs.len() + 1 + envp_ptrs.len() + 1 + auxv.len() * 2;
    if (words as u64) * 8 + (STACK_TOP - sp) > STACK_SIZE / 2 {
        return Err(ExecError::TooBig);
    }
    sp -= words as u64 * 8;
    sp &= !15;
    let mut block: Vec<u64> = Vec::with_capacity(words);
    block.push(argv_ptrs.len() as u64);
    block.extend_from_slice(&argv_ptrs);
    block.push(0);
    block.extend_from_slice(&envp_ptrs);
    block.push(0);
    for (k, v) in auxv {
        block.push(k);
        block.push(v);
    }
    let bytes: Vec<u8> = block.iter().flat_map(|w| w.to_ne_bytes()).collect();
    aspace.write(sp, &bytes);
    Ok(sp)
}
