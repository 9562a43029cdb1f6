//! An i386 program's initial stack and first frame (compat_binfmt_elf's create_elf_tables
//! and start_thread_ia32): the same layout as a 64-bit program's, in 4-byte words, below
//! the i386 stack top (docs/compat.md).

use crate::elf::LoadedImage;
use crate::exec::*;
use crate::mm::aspace::AddressSpace;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_kernel_logic::exec_layout::{self as layout, StackLayout};
use kentry_kernel_logic::vma::IA32_STACK_TOP;

/// The first user frame of an i386 program: CS = __USER32_CS (compat mode), SS = __USER_DS
/// (Linux's start_thread_ia32; the data selectors are the task's, set by its creator).
pub fn start_regs(entry: u64, sp: u64) -> Regs {
    let mut regs = Regs::new_user(entry, sp);
    regs.cs = kentry::gdt::USER32_CS as u64;
    regs
}

/// Lays out the initial stack below IA32_STACK_TOP as Linux does for an i386 program: the
/// strings as for a 64-bit one, "i686" as AT_PLATFORM, and argc, argv[], envp[] and the auxv
/// pairs as 32-bit words at the 16-aligned stack pointer. The auxv starts as Linux's
/// ARCH_DLINFO_IA32: AT_SYSINFO (`__kernel_vsyscall` in the 32-bit vDSO at `vdso`, which
/// libc calls for every system call), then AT_SYSINFO_EHDR. Returns the stack pointer.
pub fn build_stack(
    aspace: &mut AddressSpace,
    img: &LoadedImage,
    vdso: u64,
    path: &str,
    argv: &[&[u8]],
    envp: &[&[u8]],
) -> Result<u64, ExecError> {
    let top = IA32_STACK_TOP;
    let (strings, offsets) =
        layout::pack_strings(argv, envp, path.as_bytes()).map_err(|_| ExecError::TooBig)?;
    let (argc, envc) = (argv.len(), envp.len());
    const AUXV_PAIRS: usize = 22;
    let StackLayout {
        strings_low,
        platform,
        random,
        sp,
        map_start,
    } = layout::stack_layout_ia32(top, strings.len() as u64, argc, envc, AUXV_PAIRS)
        .map_err(|_| ExecError::TooBig)?;
    let ptr = |i: usize| strings_low + offsets[i];
    let execfn = ptr(argc + envc);
    let mut auxv = auxv_pairs(img, Some(vdso), random, execfn, platform);
    let entry = vdso + crate::vdso::ia32::VDSO32_SYM_KERNEL_VSYSCALL;
    auxv.insert(0, (AT_SYSINFO, entry));
    debug_assert_eq!(auxv.len(), AUXV_PAIRS);
    map_stack(aspace, img, map_start, top);
    let mut block: Vec<u32> = Vec::with_capacity(3 + argc + envc + auxv.len() * 2);
    // Every value is below 4 GiB: addresses lie under IA32_STACK_TOP, the rest are small.
    block.push(argc as u32);
    block.extend((0..argc).map(|i| ptr(i) as u32));
    block.push(0);
    block.extend((argc..argc + envc).map(|i| ptr(i) as u32));
    block.push(0);
    for (k, v) in auxv {
        block.push(k as u32);
        block.push(v as u32);
    }
    let bytes: Vec<u8> = block.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let nomem = |_| ExecError::NoMemory;
    aspace.write(strings_low, &strings).map_err(nomem)?;
    aspace.write(platform, b"i686\0").map_err(nomem)?;
    aspace
        .write(random, &crate::random::bytes16())
        .map_err(nomem)?;
    aspace.write(sp, &bytes).map_err(nomem)?;
    aspace.start_stack = sp;
    Ok(sp)
}
