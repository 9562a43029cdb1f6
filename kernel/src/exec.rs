//! Building a program's initial image: ELF segments, the stack with argv/envp/auxv, and the
//! first user frame — execve's work, and the first program's.

use crate::elf::{self, ElfError, LoadedImage};
use crate::mm::PAGE_SIZE;
use crate::mm::aspace::{self, AddressSpace, Backing, MappedFile, Vma};
use crate::process::user_ns::IdMap;
use crate::syscall::cred;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kentry::Regs;
use kentry_kernel_logic::exec_layout::{self as layout, StackLayout};

/// The top of the initial stack (see `aspace::STACK_TOP`).
pub const STACK_TOP: u64 = aspace::STACK_TOP;

// Auxiliary vector types (linux-abi.md §3.2).
pub(crate) const AT_NULL: u64 = 0;
pub(crate) const AT_PHDR: u64 = 3;
pub(crate) const AT_PHENT: u64 = 4;
pub(crate) const AT_PHNUM: u64 = 5;
pub(crate) const AT_PAGESZ: u64 = 6;
pub(crate) const AT_BASE: u64 = 7;
pub(crate) const AT_FLAGS: u64 = 8;
pub(crate) const AT_ENTRY: u64 = 9;
pub(crate) const AT_UID: u64 = 11;
pub(crate) const AT_EUID: u64 = 12;
pub(crate) const AT_GID: u64 = 13;
pub(crate) const AT_EGID: u64 = 14;
pub(crate) const AT_PLATFORM: u64 = 15;
pub(crate) const AT_HWCAP: u64 = 16;
pub(crate) const AT_CLKTCK: u64 = 17;
pub(crate) const AT_SECURE: u64 = 23;
pub(crate) const AT_SYSINFO: u64 = 32;
pub(crate) const AT_SYSINFO_EHDR: u64 = 33;
pub(crate) const AT_RANDOM: u64 = 25;
pub(crate) const AT_HWCAP2: u64 = 26;
pub(crate) const AT_EXECFN: u64 = 31;
pub(crate) const AT_MINSIGSTKSZ: u64 = 51;

/// A program ready to run: its address space and its first user frame.
pub struct Image {
    pub aspace: AddressSpace,
    pub regs: Regs,
}

#[derive(Debug)]
pub enum ExecError {
    Elf(ElfError),
    /// The dynamic loader (PT_INTERP) could not be opened: the errno (ENOENT, EACCES, …).
    Interp(i64),
    NoMemory,
    TooBig,
}

/// Builds a process image from the executable `node` (named `path`), argv and envp: the
/// segments (read from the file as they are touched), the brk start, the initial stack and the
/// first user frame (all GPRs 0 but rsp and rip, RFLAGS 0x202).
pub fn build_image(
    path: &str,
    node: &crate::fs::InodeRef,
    argv: &[&[u8]],
    envp: &[&[u8]],
) -> Result<Image, ExecError> {
    let mut aspace = AddressSpace::new().map_err(|_| ExecError::NoMemory)?;
    let built = (|| {
        let exe = MappedFile::demand_paged(path, node.clone());
        let head = elf::header_bytes(&exe).map_err(ExecError::Elf)?;
        let mut img = elf::load(&head, &mut aspace, &exe).map_err(ExecError::Elf)?;
        if let Some(interp) = img.interp.take() {
            load_interp(&interp, &mut aspace, &mut img)?;
        }
        aspace.exe = Some(exe);
        aspace.start_brk = img.brk;
        aspace.brk = img.brk;
        let rsp = if img.ia32 {
            // i386 programs get the 32-bit vDSO (docs/vdso.md, "The 32-bit vDSO").
            let vdso = aspace.map_vdso(true).map_err(|_| ExecError::NoMemory)?;
            crate::exec_ia32::build_stack(&mut aspace, &img, vdso, path, argv, envp)?
        } else {
            // Every 64-bit program gets the vDSO (docs/vdso.md).
            let vdso = aspace.map_vdso(false).map_err(|_| ExecError::NoMemory)?;
            build_stack(&mut aspace, &img, vdso, path, argv, envp)?
        };
        Ok((img.start, rsp, img.ia32))
    })();
    match built {
        Ok((entry, rsp, ia32)) => Ok(Image {
            aspace,
            regs: if ia32 {
                crate::exec_ia32::start_regs(entry, rsp)
            } else {
                Regs::new_user(entry, rsp)
            },
        }),
        Err(e) => {
            aspace.destroy();
            Err(e)
        }
    }
}

/// Maps the dynamic loader at `interp` (a program's PT_INTERP) next to the program in `img`:
/// the program then starts at the loader's entry, which finds the program through AT_PHDR and
/// AT_ENTRY and itself through AT_BASE (Linux's load_elf_binary with load_elf_interp).
fn load_interp(
    interp: &str,
    aspace: &mut AddressSpace,
    img: &mut LoadedImage,
) -> Result<(), ExecError> {
    let (node, abs) = crate::fs::open_executable(interp).map_err(ExecError::Interp)?;
    let file = MappedFile::demand_paged(&abs, node);
    let head = elf::header_bytes(&file).map_err(ExecError::Elf)?;
    let (entry, base) = elf::load_interp(&head, aspace, &file, img.ia32).map_err(ExecError::Elf)?;
    img.start = entry;
    img.interp_base = base;
    Ok(())
}

/// AT_HWCAP: CPUID.1:EDX, as Linux gives it.
pub(crate) fn hwcap() -> u64 {
    core::arch::x86_64::__cpuid(1).edx as u64
}

fn cr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr4", out(reg) v, options(nomem, nostack)) };
    v
}

/// AT_HWCAP2: bit 1 (HWCAP2_FSGSBASE) when user code may use the FS/GS base instructions.
pub(crate) fn hwcap2() -> u64 {
    const CR4_FSGSBASE: u64 = 1 << 16;
    if cr4() & CR4_FSGSBASE != 0 { 1 << 1 } else { 0 }
}

/// AT_MINSIGSTKSZ: Linux's get_sigframe_size() — the rt_sigframe (440 bytes) and its
/// alignment slack (15), the FPU state (the FXSAVE image, or the XSAVE area plus its end
/// marker when XSAVE is on) and its 64-byte alignment slack (63), rounded up to 16.
pub(crate) fn minsigstksz() -> u64 {
    const CR4_OSXSAVE: u64 = 1 << 18;
    let fpstate = if cr4() & CR4_OSXSAVE != 0 {
        // CPUID leaf 0xD exists when XSAVE is enabled.
        core::arch::x86_64::__cpuid_count(0xd, 0).ebx as u64 + 4
    } else {
        512
    };
    (440 + 15 + fpstate + 63 + 15) & !15
}

/// The auxv of a program's first stack, in Linux's order (`create_elf_tables`): ARCH_DLINFO
/// first (AT_SYSINFO_EHDR when there is a vDSO, AT_MINSIGSTKSZ), AT_NULL last. `random`,
/// `execfn` and `platform` are where the stack layout put those.
pub(crate) fn auxv_pairs(
    img: &LoadedImage,
    sysinfo_ehdr: Option<u64>,
    random: u64,
    execfn: u64,
    platform: u64,
) -> Vec<(u64, u64)> {
    let me = &crate::task::current().process;
    let (uid, gid) = (
        cred::ids_seen_by_caller(me, IdMap::Uid),
        cred::ids_seen_by_caller(me, IdMap::Gid),
    );
    let mut v = Vec::with_capacity(21);
    if let Some(vdso) = sysinfo_ehdr {
        v.push((AT_SYSINFO_EHDR, vdso));
    }
    v.extend_from_slice(&[
        (AT_MINSIGSTKSZ, minsigstksz()),
        (AT_HWCAP, hwcap()),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, crate::sched::cputime::USER_HZ),
        (AT_PHDR, img.phdr),
        (AT_PHENT, img.phent),
        (AT_PHNUM, img.phnum),
        (AT_BASE, img.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, img.entry),
        // The exec'ing process's ids as its namespace sees them (exec changes none: no
        // set-user-ID files here).
        (AT_UID, u64::from(uid[0])),
        (AT_EUID, u64::from(uid[1])),
        (AT_GID, u64::from(gid[0])),
        (AT_EGID, u64::from(gid[1])),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_HWCAP2, hwcap2()),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_NULL, 0),
    ]);
    v
}

/// Maps a program's stack, `map_start..top`, growing down on demand (executable when the
/// program's PT_GNU_STACK asks for it).
pub(crate) fn map_stack(aspace: &mut AddressSpace, img: &LoadedImage, map_start: u64, top: u64) {
    let prot =
        aspace::PROT_READ | aspace::PROT_WRITE | if img.exec_stack { aspace::PROT_EXEC } else { 0 };
    aspace.map_fixed(Vma {
        start: map_start,
        end: top,
        prot,
        flags: aspace::VM_GROWSDOWN,
        backing: Backing::Anon,
        pgoff: 0,
    });
}

/// Lays out the initial stack exactly as Linux does (linux-abi.md §3.1), from the top:
/// 8 zero bytes, the execfn string, the envp and argv strings (argv[0] lowest), then
/// (16-aligned) "x86_64", 16 random bytes, padding, and at the 16-aligned stack pointer argc,
/// argv[], NULL, envp[], NULL and the auxv pairs ending with AT_NULL. The stack mapping
/// reaches 128 KiB below the strings and grows down on demand. Returns the stack pointer.
fn build_stack(
    aspace: &mut AddressSpace,
    img: &LoadedImage,
    vdso: u64,
    path: &str,
    argv: &[&[u8]],
    envp: &[&[u8]],
) -> Result<u64, ExecError> {
    let top = STACK_TOP;
    // The strings, lowest first: argv[0..], envp[0..], execfn, 8 zero bytes.
    let (strings, offsets) =
        layout::pack_strings(argv, envp, path.as_bytes()).map_err(|_| ExecError::TooBig)?;
    let (argc, envc) = (argv.len(), envp.len());
    // Where the strings go is fixed by their length; the auxv (which points into them) is
    // built from the layout of an auxv of this size.
    const AUXV_PAIRS: usize = 21;
    let StackLayout {
        strings_low,
        platform,
        random,
        sp,
        map_start,
    } = layout::stack_layout(top, strings.len() as u64, argc, envc, AUXV_PAIRS)
        .map_err(|_| ExecError::TooBig)?;
    let ptr = |i: usize| strings_low + offsets[i];
    let execfn = ptr(argc + envc);

    let auxv = auxv_pairs(img, Some(vdso), random, execfn, platform);
    debug_assert_eq!(auxv.len(), AUXV_PAIRS);
    map_stack(aspace, img, map_start, top);

    let mut block: Vec<u64> = Vec::with_capacity(3 + argc + envc + auxv.len() * 2);
    block.push(argv.len() as u64);
    block.extend((0..argv.len()).map(ptr));
    block.push(0);
    block.extend((argv.len()..argv.len() + envp.len()).map(ptr));
    block.push(0);
    for (k, v) in auxv {
        block.push(k);
        block.push(v);
    }
    let bytes: Vec<u8> = block.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let nomem = |_| ExecError::NoMemory;
    aspace.write(strings_low, &strings).map_err(nomem)?;
    aspace.write(platform, b"x86_64\0").map_err(nomem)?;
    aspace
        .write(random, &crate::random::bytes16())
        .map_err(nomem)?;
    aspace.write(sp, &bytes).map_err(nomem)?;
    aspace.start_stack = sp;
    // The strings are packed in order, each with its NUL: argv's end where envp's begin.
    aspace.args = (ptr(0), ptr(argc));
    aspace.env = (ptr(argc), ptr(argc + envc));
    Ok(sp)
}

/// The kernel's own program start (test harness, bench): the program at `path`, with its
/// absolute path for /proc/self/exe, or a message.
pub fn image_for_kernel(
    path: &str,
    argv: &[&[u8]],
    envp: &[&[u8]],
) -> Result<(Image, String), String> {
    let (node, exe) = crate::fs::open_executable(path)
        .map_err(|e| format!("{path}: {}", crate::syscall::errno::describe(e)))?;
    let image =
        build_image(path, &node, argv, envp).map_err(|e| format!("{path}: {}", e.describe()))?;
    Ok((image, exe))
}

impl ExecError {
    pub fn describe(&self) -> &'static str {
        match self {
            ExecError::Elf(e) => e.describe(),
            ExecError::Interp(_) => "its dynamic loader (PT_INTERP) cannot be opened",
            ExecError::NoMemory => "out of memory",
            ExecError::TooBig => "arguments too long",
        }
    }
}

/// execve's loader: the program at `path` in the filesystem, as an errno on failure.
pub fn image_from_path(path: &str, argv: &[&[u8]], envp: &[&[u8]]) -> Result<Image, i64> {
    use crate::syscall::errno::*;
    let (node, exe) = crate::fs::open_executable(path)?;
    let image = build_image(path, &node, argv, envp).map_err(|e| match e {
        ExecError::NoMemory => -ENOMEM,
        ExecError::TooBig => -E2BIG,
        ExecError::Elf(_) => -ENOEXEC,
        ExecError::Interp(e) => e,
    })?;
    // Nothing fails past this point of execve: the program is the caller's from now on.
    crate::fs::set_exe(&crate::task::current().process, &exe);
    Ok(image)
}
