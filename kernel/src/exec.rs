//! Building a program's initial image: ELF segments, the stack with argv/envp/auxv, and the
//! first user frame — execve's work, and the first program's.

use crate::elf::{self, ElfError, LoadedImage};
use crate::mm::PAGE_SIZE;
use crate::mm::aspace::AddressSpace;
use crate::mm::paging::{PTE_NX, PTE_U, PTE_W};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kentry::Regs;
use kentry::sysret::TASK_SIZE_MAX;

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

/// The bytes of a buffer from `fs::read_executable` (its last word holds the length).
pub fn file_bytes(buf: &[u64]) -> &[u8] {
    let len = buf[buf.len() - 1] as usize;
    // SAFETY: the buffer holds `len` bytes of file data before its length word.
    unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, len) }
}

/// The kernel's own program start (test harness, bench): the program at `path`, with its
/// absolute path for /proc/self/exe, or a message.
pub fn image_for_kernel(
    path: &str,
    argv: &[&str],
    envp: &[&str],
) -> Result<(Image, String), String> {
    let (buf, exe) = crate::fs::read_executable(path)
        .map_err(|e| format!("{path}: {}", crate::syscall::errno::describe(e)))?;
    let image = build_image(path, file_bytes(&buf), argv, envp)
        .map_err(|e| format!("{path}: {}", e.describe()))?;
    Ok((image, exe))
}

impl ExecError {
    pub fn describe(&self) -> &'static str {
        match self {
            ExecError::Elf(e) => e.describe(),
            ExecError::NoMemory => "out of memory",
            ExecError::TooBig => "arguments too long",
        }
    }
}

/// execve's loader: the program at `path` in the filesystem, as an errno on failure.
pub fn image_from_path(path: &str, argv: &[&str], envp: &[&str]) -> Result<Image, i64> {
    use crate::syscall::errno::*;
    let (buf, exe) = crate::fs::read_executable(path)?;
    let image = build_image(path, file_bytes(&buf), argv, envp).map_err(|e| match e {
        ExecError::NoMemory => -ENOMEM,
        ExecError::TooBig => -E2BIG,
        ExecError::Elf(_) => -ENOEXEC,
    })?;
    // Nothing fails past this point of execve: the program is the caller's from now on.
    crate::fs::set_exe(&crate::task::current().process, &exe);
    Ok(image)
}
