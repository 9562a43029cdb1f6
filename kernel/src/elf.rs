//! Loading a static x86-64 Linux ELF executable into a fresh user address space.

use crate::mm::PAGE_SIZE;
use crate::mm::aspace::AddressSpace;
use crate::mm::paging::{PTE_NX, PTE_U, PTE_W};
use kentry::sysret::TASK_SIZE_MAX;
use xmas_elf::ElfFile;
use xmas_elf::header::{Class, Machine, Type};
use xmas_elf::program::{ProgramHeader, Type as PType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Not64Bit,
    NotX86_64,
    NotExecutable,
    Dynamic,
    BadSegment,
    NoMemory,
}

impl ElfError {
    pub fn describe(self) -> &'static str {
        match self {
            ElfError::NotElf => "not an ELF file",
            ElfError::Not64Bit => "not a 64-bit ELF (32-bit programs are not supported yet)",
            ElfError::NotX86_64 => "not an x86-64 ELF",
            ElfError::NotExecutable => "not an executable (ET_EXEC)",
            ElfError::Dynamic => "dynamically linked (has PT_INTERP); only static programs run",
            ElfError::BadSegment => "a segment lies outside user space or past the file",
            ElfError::NoMemory => "out of memory",
        }
    }
}

/// Where the loaded image lives, for the auxiliary vector.
pub struct LoadedImage {
    pub entry: u64,
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
}

pub fn load(data: &[u8], aspace: &mut AddressSpace) -> Result<LoadedImage, ElfError> {
    let elf = ElfFile::new(data).map_err(|_| ElfError::NotElf)?;
    let h = &elf.header;
    if h.pt1.class() != Class::SixtyFour {
        return Err(ElfError::Not64Bit);
    }
    if h.pt2.machine().as_machine() != Machine::X86_64 {
        return Err(ElfError::NotX86_64);
    }
    if h.pt2.type_().as_type() != Type::Executable {
        return Err(ElfError::NotExecutable);
    }
    let mut phdr = 0;
    for ph in elf.program_iter() {
        let ProgramHeader::Ph64(ph) = ph else {
            return Err(ElfError::Not64Bit);
        };
        match ph.get_type() {
            Ok(PType::Interp) => return Err(ElfError::Dynamic),
            Ok(PType::Load) => {}
            _ => continue,
        }
        let (va, memsz, filesz, off) = (ph.virtual_addr, ph.mem_size, ph.file_size, ph.offset);
        let seg_end = va.checked_add(memsz).ok_or(ElfError::BadSegment)?;
        if seg_end > TASK_SIZE_MAX
            || va < PAGE_SIZE
            || filesz > memsz
            || off
                .checked_add(filesz)
                .is_none_or(|e| e > data.len() as u64)
        {
            return Err(ElfError::BadSegment);
        }
        let mut flags = PTE_U;
        if ph.flags.is_write() {
            flags |= PTE_W;
        }
        if !ph.flags.is_execute() {
            flags |= PTE_NX;
        }
        aspace
            .map_zeroed(va, memsz, flags)
            .map_err(|_| ElfError::NoMemory)?;
        aspace.write(va, &data[off as usize..(off + filesz) as usize]);
        if (off..off + filesz).contains(&h.pt2.ph_offset()) {
            phdr = va + (h.pt2.ph_offset() - off);
        }
    }
    Ok(LoadedImage {
        entry: h.pt2.entry_point(),
        phdr,
        phent: h.pt2.ph_entry_size() as u64,
        phnum: h.pt2.ph_count() as u64,
    })
}
