//! Loading an x86-64 or i386 Linux ELF executable (ET_EXEC, or ET_DYN: static-pie or PIE)
//! into a fresh user address space, as Linux's binfmt_elf (and its compat build,
//! compat_binfmt_elf) does (linux-abi.md §3.4), and the dynamic loader a PT_INTERP names
//! ([`load_interp`]). An i386 program gets an i386 address space: everything below 4 GiB
//! (docs/compat.md).

use crate::mm::aspace::{
    AddressSpace, Backing, MMAP_MIN_ADDR, MappedFile, PROT_EXEC, PROT_READ, PROT_WRITE, Vma,
};
use crate::mm::{PAGE_SIZE, align_down, align_up};
use alloc::sync::Arc;
use kentry_kernel_logic::exec_layout::{brk_start, fold_align, load_bias};
use kentry_kernel_logic::prot::{PF_X, prot_of_segment};
use kentry_kernel_logic::vma::IA32_ELF_ET_DYN_BASE;
use xmas_elf::ElfFile;
use xmas_elf::header::{Class, Machine, Type};
use xmas_elf::program::{ProgramHeader, Type as PType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    BadClass,
    NotX86_64,
    NotI386,
    NotExecutable,
    /// A PT_INTERP that is not a NUL-terminated path of at most PATH_MAX bytes.
    BadInterp,
    /// The dynamic loader is of the other class than the program.
    InterpClass,
    BadSegment,
    NoMemory,
}

impl ElfError {
    pub fn describe(self) -> &'static str {
        match self {
            ElfError::NotElf => "not an ELF file",
            ElfError::BadClass => "neither a 64-bit nor a 32-bit ELF",
            ElfError::NotX86_64 => "a 64-bit ELF, but not for x86-64",
            ElfError::NotI386 => "a 32-bit ELF, but not for i386",
            ElfError::NotExecutable => "not an executable (ET_EXEC or ET_DYN)",
            ElfError::BadInterp => "a PT_INTERP that is not a NUL-terminated path",
            ElfError::InterpClass => "a dynamic loader (PT_INTERP) of the other ELF class",
            ElfError::BadSegment => "a segment lies outside user space or past the file",
            ElfError::NoMemory => "out of memory",
        }
    }
}

/// Where the loaded image lives, for the auxiliary vector and the process's layout.
pub struct LoadedImage {
    /// e_entry + load bias.
    pub entry: u64,
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// Where the program break starts: page-aligned end of the highest segment.
    pub brk: u64,
    /// PT_GNU_STACK asked for an executable stack.
    pub exec_stack: bool,
    /// An i386 program (ELFCLASS32, EM_386): the address space was made an i386 one.
    pub ia32: bool,
    /// PT_INTERP: the dynamic loader the program asks for (the caller loads it).
    pub interp: Option<alloc::string::String>,
    /// Where the dynamic loader was mapped (AT_BASE); 0 without one.
    pub interp_base: u64,
    /// Where the program starts running: the dynamic loader's entry, or [`Self::entry`].
    pub start: u64,
}

/// Linux's PATH_MAX: the longest PT_INTERP path, its NUL included.
const PATH_MAX: u64 = 4096;

const PT_GNU_STACK: u32 = 0x6474_e551;
/// sizeof(Elf64_Phdr).
const PHENT: u64 = 56;
/// sizeof(Elf32_Phdr).
const PHENT32: u64 = 32;

/// Maps every PT_LOAD segment of `data` into `aspace`: the file part as a private mapping of
/// `file` (filled now), the rest of the segment (bss) as anonymous memory.
pub fn load(
    data: &[u8],
    aspace: &mut AddressSpace,
    file: &Arc<MappedFile>,
) -> Result<LoadedImage, ElfError> {
    let elf = ElfFile::new(data).map_err(|_| ElfError::NotElf)?;
    let h = &elf.header;
    let ia32 = match h.pt1.class() {
        Class::SixtyFour => false,
        Class::ThirtyTwo => true,
        _ => return Err(ElfError::BadClass),
    };
    match (ia32, h.pt2.machine().as_machine()) {
        (false, Machine::X86_64) | (true, Machine::X86) => {}
        (false, _) => return Err(ElfError::NotX86_64),
        (true, _) => return Err(ElfError::NotI386),
    }
    let phent = if ia32 { PHENT32 } else { PHENT };
    if ia32 {
        // Before any mapping: the bounds every segment is checked against below.
        aspace.set_ia32();
    }
    let dyn_ = match h.pt2.type_().as_type() {
        Type::Executable => false,
        Type::SharedObject => true,
        _ => return Err(ElfError::NotExecutable),
    };
    if h.pt2.ph_entry_size() as u64 != phent || h.pt2.ph_count() == 0 {
        return Err(ElfError::NotExecutable);
    }
    // First pass: interpreter, stack flags, the extent and alignment of the PT_LOADs.
    let mut exec_stack = false;
    let mut first_vaddr = None;
    let mut max_align = PAGE_SIZE;
    let mut phdr_vaddr = None;
    let mut interp = None;
    for ph in elf.program_iter() {
        if matches!(ph, ProgramHeader::Ph32(_)) != ia32 {
            return Err(ElfError::BadClass);
        }
        match ph.get_type() {
            Ok(PType::Interp) => interp = Some(interp_path(data, ph.offset(), ph.file_size())?),
            Ok(PType::OsSpecific(PT_GNU_STACK)) => exec_stack = ph.flags().0 & PF_X != 0,
            Ok(PType::Phdr) => phdr_vaddr = Some(ph.virtual_addr()),
            Ok(PType::Load) => {
                first_vaddr.get_or_insert(ph.virtual_addr());
                max_align = fold_align(max_align, ph.align());
            }
            _ => {}
        }
    }
    let first_vaddr = first_vaddr.ok_or(ElfError::NotExecutable)?;
    // static-pie: at ELF_ET_DYN_BASE (aligned for the segments), like Linux's PIE base.
    // An i386 one at Linux's ia32 ELF_ET_DYN_BASE (4 MiB).
    let bias = if ia32 {
        load_bias_ia32(dyn_, first_vaddr, max_align)
    } else {
        load_bias(dyn_, first_vaddr, max_align)
    };

    let (from_load, brk) = map_segments(&elf, data, aspace, file, bias)?;
    let phdr = phdr_vaddr.map(|v| v.wrapping_add(bias)).or(from_load);
    let entry = h.pt2.entry_point().wrapping_add(bias);
    Ok(LoadedImage {
        entry,
        phdr: phdr.unwrap_or(0),
        phent,
        phnum: h.pt2.ph_count() as u64,
        brk: brk_start(brk),
        exec_stack,
        ia32,
        interp,
        interp_base: 0,
        start: entry,
    })
}

/// PT_INTERP's path: NUL-terminated within the segment, at most PATH_MAX bytes, inside the
/// file (Linux's load_elf_binary: ENOEXEC otherwise).
fn interp_path(data: &[u8], off: u64, size: u64) -> Result<alloc::string::String, ElfError> {
    if !(2..=PATH_MAX).contains(&size) {
        return Err(ElfError::BadInterp);
    }
    let end = off.checked_add(size).ok_or(ElfError::BadInterp)?;
    let bytes = data
        .get(off as usize..end as usize)
        .ok_or(ElfError::BadInterp)?;
    let (last, path) = bytes.split_last().ok_or(ElfError::BadInterp)?;
    if *last != 0 || path.contains(&0) {
        return Err(ElfError::BadInterp);
    }
    core::str::from_utf8(path)
        .map(alloc::string::String::from)
        .map_err(|_| ElfError::BadInterp)
}

/// Maps the dynamic loader `data` (the file `file`) of a program of class `ia32` into
/// `aspace`: an ET_DYN where the mmap area has room for all of its segments (Linux maps the
/// whole span first, then the segments inside it), an ET_EXEC where it says. Returns its
/// entry and where it was mapped (AT_BASE).
pub fn load_interp(
    data: &[u8],
    aspace: &mut AddressSpace,
    file: &Arc<MappedFile>,
    ia32: bool,
) -> Result<(u64, u64), ElfError> {
    let elf = ElfFile::new(data).map_err(|_| ElfError::NotElf)?;
    let h = &elf.header;
    let class32 = match h.pt1.class() {
        Class::SixtyFour => false,
        Class::ThirtyTwo => true,
        _ => return Err(ElfError::BadClass),
    };
    if class32 != ia32 {
        return Err(ElfError::InterpClass);
    }
    match (ia32, h.pt2.machine().as_machine()) {
        (false, Machine::X86_64) | (true, Machine::X86) => {}
        (false, _) => return Err(ElfError::NotX86_64),
        (true, _) => return Err(ElfError::NotI386),
    }
    let dyn_ = match h.pt2.type_().as_type() {
        Type::Executable => false,
        Type::SharedObject => true,
        _ => return Err(ElfError::NotExecutable),
    };
    let (mut low, mut high) = (u64::MAX, 0u64);
    for ph in elf.program_iter() {
        if matches!(ph, ProgramHeader::Ph32(_)) != ia32 {
            return Err(ElfError::BadClass);
        }
        if ph.get_type() == Ok(PType::Load) {
            low = low.min(align_down(ph.virtual_addr(), PAGE_SIZE));
            let end = ph
                .virtual_addr()
                .checked_add(ph.mem_size())
                .ok_or(ElfError::BadSegment)?;
            high = high.max(align_up(end, PAGE_SIZE));
        }
    }
    if low >= high {
        return Err(ElfError::NotExecutable);
    }
    let bias = if dyn_ {
        let at = aspace
            .get_unmapped_area(0, high - low, false, false)
            .map_err(|_| ElfError::NoMemory)?;
        at.wrapping_sub(low)
    } else {
        0
    };
    map_segments(&elf, data, aspace, file, bias)?;
    Ok((
        h.pt2.entry_point().wrapping_add(bias),
        low.wrapping_add(bias),
    ))
}

/// Maps every PT_LOAD segment of `elf` at `bias`: the file part as a private mapping of
/// `file` (filled now), the rest of the segment (bss) as anonymous memory. Returns where the
/// program headers landed if a segment holds them, and the end of the highest segment.
fn map_segments(
    elf: &ElfFile,
    data: &[u8],
    aspace: &mut AddressSpace,
    file: &Arc<MappedFile>,
    bias: u64,
) -> Result<(Option<u64>, u64), ElfError> {
    let task_size = aspace.task_size();
    let h = &elf.header;
    let mut phdr = None;
    let mut brk = 0;
    let mut prev_end = 0u64;
    for ph in elf.program_iter() {
        if ph.get_type() != Ok(PType::Load) {
            continue;
        }
        let (vaddr, memsz, filesz, off) = (
            ph.virtual_addr(),
            ph.mem_size(),
            ph.file_size(),
            ph.offset(),
        );
        let va = vaddr.wrapping_add(bias);
        if filesz > memsz
            || memsz > task_size
            || va > task_size - memsz
            || va < MMAP_MIN_ADDR
            || (vaddr.wrapping_sub(off)) % PAGE_SIZE != 0
            || off
                .checked_add(filesz)
                .is_none_or(|e| e > data.len() as u64)
        {
            return Err(ElfError::BadSegment);
        }
        let prot = prot_of_segment(ph.flags().0);
        let map_start = align_down(va, PAGE_SIZE);
        let file_end = align_up(va + filesz, PAGE_SIZE);
        let map_end = align_up(va + memsz, PAGE_SIZE);
        // A page shared with the previous segment keeps its content and gets the union of
        // both segments' rights.
        let mut start = map_start;
        if start < prev_end {
            aspace.widen_prot(start, prev_end.min(map_end), prot);
            start = prev_end;
        }
        if filesz > 0 && start < file_end {
            aspace.map_fixed(Vma {
                start,
                end: file_end,
                prot,
                flags: 0,
                backing: Backing::File {
                    file: file.clone(),
                    limit: off + filesz,
                },
                pgoff: align_down(off, PAGE_SIZE) + (start - map_start),
            });
        }
        let bss_start = if filesz > 0 {
            file_end.max(start)
        } else {
            start
        };
        if bss_start < map_end {
            // Linux maps a segment's bss with vm_brk_flags: read-write, exec if the segment is.
            aspace.map_fixed(Vma {
                start: bss_start,
                end: map_end,
                prot: PROT_READ | PROT_WRITE | (prot & PROT_EXEC),
                flags: 0,
                backing: Backing::Anon,
                pgoff: 0,
            });
        }
        if filesz > 0 {
            // The file bytes from the start of the first page (as mapping the file page would
            // show them), unless that page belongs to the previous segment too.
            let from = if map_start < start { va } else { map_start };
            let src = &data[(off - (va - from)) as usize..(off + filesz) as usize];
            aspace.write(from, src).map_err(|_| ElfError::NoMemory)?;
        }
        let ph_off = h.pt2.ph_offset();
        if phdr.is_none() && off <= ph_off && ph_off < off + filesz {
            phdr = Some(va + (ph_off - off));
        }
        prev_end = prev_end.max(map_end);
        brk = brk.max(va + memsz);
    }
    Ok((phdr, brk))
}

/// An i386 static-pie's load bias: its first segment at IA32_ELF_ET_DYN_BASE (aligned for
/// the segments, as Linux's), an ET_EXEC's none.
fn load_bias_ia32(et_dyn: bool, first_vaddr: u64, max_align: u64) -> u64 {
    if !et_dyn {
        return 0;
    }
    let base = align_down(IA32_ELF_ET_DYN_BASE, max_align.min(1 << 30));
    align_down(base.wrapping_sub(first_vaddr), PAGE_SIZE)
}
