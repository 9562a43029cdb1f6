//! The vDSOs (`kernel/vdso/`): the 64-bit one and the 32-bit one for i386 programs, each
//! compiled and linked with gcc into a shared object, checked, and handed to the kernel build,
//! which embeds them (`include_bytes!(env!("KENTRY_VDSO"))`, `KENTRY_VDSO32`). For the 32-bit
//! image xtask also writes the offsets of the symbols the kernel needs (the entry, its landing
//! pad, the site patched at boot, the signal restorers) as Rust constants
//! (`KENTRY_VDSO32_SYMS`, included by kernel/src/vdso/ia32.rs), as Linux's vdso2c does.
//!
//! Why C with gcc and not a Rust cdylib: gcc is already needed (the C test programs), a
//! freestanding C file plus a linker script gives exact control of what a vDSO must be (one
//! PT_LOAD, DT_HASH and DT_GNU_HASH, the LINUX_2.6 version node, the weak unprefixed aliases,
//! no relocation), as Linux's own vDSO is built; a Rust cdylib for a no_std target would need
//! build-std, a panic handler and the same linker script anyway.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use object::elf;
use object::read::elf::{Dyn, ElfFile, ElfFile32, ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};

use crate::build::run_checked;
use crate::install;
use crate::workspace::Workspace;

/// The environment variable the kernel's `include_bytes!` reads the image's path from.
pub const ENV: &str = "KENTRY_VDSO";
/// The same for the 32-bit image.
pub const ENV32: &str = "KENTRY_VDSO32";
/// The path of the generated constants (`include!`) for the 32-bit image's symbols.
pub const ENV32_SYMS: &str = "KENTRY_VDSO32_SYMS";

/// The symbols the vDSO must export (Linux's vdso.lds), each also unprefixed.
pub const SYMBOLS: [&str; 5] = [
    "__vdso_clock_gettime",
    "__vdso_gettimeofday",
    "__vdso_time",
    "__vdso_getcpu",
    "__vdso_clock_getres",
];

/// The symbols the 32-bit vDSO exports (Linux's vdso32.lds: LINUX_2.6 and LINUX_2.5).
pub const SYMBOLS32: [&str; 8] = [
    "__vdso_clock_gettime",
    "__vdso_gettimeofday",
    "__vdso_time",
    "__vdso_clock_getres",
    "__vdso_clock_gettime64",
    "__kernel_vsyscall",
    "__kernel_sigreturn",
    "__kernel_rt_sigreturn",
];

/// The 32-bit image's symbols whose offsets the kernel gets as constants (`VDSO32_SYM_*`,
/// upper case): AT_SYSINFO, the fast entries' return address, the boot-patched site, the
/// default signal restorers.
const KERNEL_SYMS32: [&str; 5] = [
    "__kernel_vsyscall",
    "int80_landing_pad",
    "vsyscall_fast",
    "__kernel_sigreturn",
    "__kernel_rt_sigreturn",
];

const CFLAGS: &[&str] = &[
    "-fPIC",
    "-O2",
    "-g0",
    "-ffreestanding",
    "-fno-stack-protector",
    "-fno-jump-tables",
    "-fasynchronous-unwind-tables",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
];

const LDFLAGS: &[&str] = &[
    "-nostdlib",
    "-shared",
    "-Wl,--hash-style=both",
    "-Wl,--build-id=sha1",
    "-Wl,-Bsymbolic",
    "-Wl,-z,noexecstack",
    "-Wl,-z,max-page-size=4096",
    "-Wl,--no-undefined",
];

/// The vDSO image's path (built if a source is newer).
pub fn image(ws: &Workspace) -> PathBuf {
    ws.target().join("vdso").join("vdso64.so")
}

/// The 32-bit vDSO image's path.
pub fn image32(ws: &Workspace) -> PathBuf {
    ws.target().join("vdso").join("vdso32.so")
}

/// The 32-bit image the kernel embeds: [`image32`] without its symbol table.
pub fn stripped32(ws: &Workspace) -> PathBuf {
    ws.target().join("vdso").join("vdso32-stripped.so")
}

/// The generated constants of the 32-bit image's symbols.
pub fn syms32(ws: &Workspace) -> PathBuf {
    ws.target().join("vdso").join("vdso32_syms.rs")
}

/// Builds and checks both vDSOs (and the 32-bit one's constants); returns the 64-bit one's
/// path.
pub fn build(ws: &Workspace) -> Result<PathBuf> {
    let src = ws.root.join("kernel").join("vdso");
    let out = image(ws);
    let dir = out.parent().expect("vdso dir");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let common = ["note.S", "vvar.h", "clock_read.h"];
    let link = |lds: &str, soname: &str, m: &str, srcs: &[&str], out: &Path| -> Result<()> {
        let inputs: Vec<PathBuf> = srcs.iter().chain(&common).map(|f| src.join(f)).collect();
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let script = src.join(lds);
        let fresh = mtime(out).is_some_and(|o| {
            inputs
                .iter()
                .chain([&script])
                .all(|s| mtime(s).is_some_and(|m| m < o))
        });
        if fresh {
            return Ok(());
        }
        install::installed(install::NEED_GCC).context("setup for the vDSO")?;
        let tmp = out.with_extension("so.tmp");
        run_checked(
            Command::new("gcc")
                .arg(m)
                .args(CFLAGS)
                .args(LDFLAGS)
                .arg(format!("-Wl,-soname={soname}"))
                .arg(format!("-Wl,-T,{}", src.join(lds).display()))
                .arg("-o")
                .arg(&tmp)
                .args(
                    inputs
                        .iter()
                        .filter(|p| p.extension().is_some_and(|e| e != "h")),
                ),
            &format!("building the vDSO (kernel/vdso, gcc {m} -shared -T {lds})"),
        )?;
        let data = std::fs::read(&tmp).with_context(|| format!("reading {}", tmp.display()))?;
        if m == "-m32" {
            check32(&data).context("the 32-bit vDSO image is unusable")?;
        } else {
            check(&data).context("the vDSO image is unusable")?;
        }
        std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
        Ok(())
    };
    link("vdso.lds", "linux-vdso.so.1", "-m64", &["vdso.c"], &out)?;
    let out32 = image32(ws);
    link(
        "vdso32.lds",
        "linux-gate.so.1",
        "-m32",
        &["vdso32.c", "vsyscall32.S"],
        &out32,
    )?;
    // The kernel embeds the image without its symbol table (one page, as Linux's stripped
    // image); the constants come from the full one.
    let data = std::fs::read(&out32).with_context(|| format!("reading {}", out32.display()))?;
    let consts = kernel_constants32(&data)?;
    let stripped = stripped32(ws);
    run_checked(
        Command::new("objcopy")
            .args(["--strip-all", "--remove-section=.comment"])
            .arg(&out32)
            .arg(&stripped),
        "stripping the 32-bit vDSO (objcopy --strip-all)",
    )?;
    let syms = syms32(ws);
    if std::fs::read_to_string(&syms).ok().as_deref() != Some(consts.as_str()) {
        std::fs::write(&syms, consts).with_context(|| format!("writing {}", syms.display()))?;
    }
    Ok(out)
}

/// The Rust constants of the 32-bit image (Linux's vdso2c): each of [`KERNEL_SYMS32`]'s
/// offsets from the image's `.symtab` (the landing pad and the patch site are local).
pub fn kernel_constants32(data: &[u8]) -> Result<String> {
    let file = ElfFile32::<Endianness>::parse(data).context("not an ELF32 file")?;
    let mut out = String::from(
        "// Generated by xtask (xtask/src/vdso.rs) from the 32-bit vDSO's symbol table.\n",
    );
    for name in KERNEL_SYMS32 {
        let sym = file
            .symbols()
            .find(|s| s.name() == Ok(name) && s.section_index().is_some())
            .with_context(|| format!("the 32-bit vDSO has no symbol {name}"))?;
        out += &format!(
            "pub const VDSO32_SYM_{}: u64 = {:#x};\n",
            name.trim_start_matches('_').to_uppercase(),
            sym.address()
        );
    }
    Ok(out)
}

/// What a vDSO must be for a loader-less mapping: an ELF64 shared object with one PT_LOAD at
/// address 0, PT_DYNAMIC and PT_NOTE, DT_HASH and DT_GNU_HASH, no relocation and no needed
/// library, and every symbol of [`SYMBOLS`] (prefixed and not) defined.
pub fn check(data: &[u8]) -> Result<()> {
    let file = ElfFile64::<Endianness>::parse(data).context("not an ELF64 file")?;
    check_layout(&file, data)?;
    let names = defined(&file);
    for s in SYMBOLS {
        for name in [s, s.trim_start_matches("__vdso_")] {
            if !names.iter().any(|n| n == name) {
                bail!("does not export {name}");
            }
        }
    }
    if !data.windows(10).any(|w| w == b"LINUX_2.6\0") {
        bail!("no LINUX_2.6 version node");
    }
    Ok(())
}

/// The 32-bit image: an ELF32 i386 shared object with [`check`]'s layout, every symbol of
/// [`SYMBOLS32`], both version nodes, and the patch site as the kernel expects it (a 4-byte
/// nop followed by `int $0x80`, the landing pad right after).
pub fn check32(data: &[u8]) -> Result<()> {
    let file = ElfFile32::<Endianness>::parse(data).context("not an ELF32 file")?;
    if file.elf_header().e_machine(file.endian()) != elf::EM_386 {
        bail!("not an i386 object");
    }
    check_layout(&file, data)?;
    let names = defined(&file);
    for s in SYMBOLS32 {
        if !names.iter().any(|n| n == s) {
            bail!("does not export {s}");
        }
    }
    for node in [&b"LINUX_2.6\0"[..], b"LINUX_2.5\0"] {
        if !data.windows(node.len()).any(|w| w == node) {
            bail!("no {} version node", String::from_utf8_lossy(&node[..9]));
        }
    }
    let addr = |name: &str| {
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .map(|s| s.address() as usize)
            .with_context(|| format!("no symbol {name}"))
    };
    let (site, pad) = (addr("vsyscall_fast")?, addr("int80_landing_pad")?);
    // The PT_LOAD maps the file from offset 0 at address 0: addresses are file offsets.
    if data.get(site..site + 6) != Some(&[0x0f, 0x1f, 0x40, 0x00, 0xcd, 0x80][..])
        || pad != site + 6
    {
        bail!("vsyscall_fast is not a 4-byte nop and int $0x80 right before int80_landing_pad");
    }
    Ok(())
}

/// The dynamic symbols an image defines.
fn defined<'d, E: FileHeader<Endian = Endianness>>(file: &ElfFile<'d, E>) -> Vec<String> {
    file.dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().map(String::from))
        .collect()
}

/// The layout rules both images follow (see [`check`]).
fn check_layout<E: FileHeader<Endian = Endianness>>(
    file: &ElfFile<'_, E>,
    data: &[u8],
) -> Result<()> {
    let hdr = file.elf_header();
    let e = file.endian();
    if hdr.e_type(e) != elf::ET_DYN {
        bail!("not a shared object (e_type {})", hdr.e_type(e));
    }
    let phdrs = hdr.program_headers(e, data)?;
    let count = |t: u32| phdrs.iter().filter(|p| p.p_type(e) == t).count();
    if count(elf::PT_LOAD) != 1 || count(elf::PT_DYNAMIC) != 1 || count(elf::PT_NOTE) == 0 {
        bail!("needs one PT_LOAD, one PT_DYNAMIC and a PT_NOTE");
    }
    let load = phdrs.iter().find(|p| p.p_type(e) == elf::PT_LOAD).unwrap();
    let (vaddr, offset): (u64, u64) = (load.p_vaddr(e).into(), load.p_offset(e).into());
    let (memsz, filesz): (u64, u64) = (load.p_memsz(e).into(), load.p_filesz(e).into());
    if vaddr != 0 || offset != 0 || memsz != filesz {
        bail!("the PT_LOAD must map the file from offset 0 at address 0, with no bss");
    }
    let dynamic = phdrs
        .iter()
        .find(|p| p.p_type(e) == elf::PT_DYNAMIC)
        .unwrap();
    let dyns = dynamic
        .dynamic(e, data)?
        .context("PT_DYNAMIC has no entries")?;
    let tags: Vec<u32> = dyns.iter().map(|d| d.tag32(e).unwrap_or(0)).collect();
    for (tag, what) in [(elf::DT_HASH, "DT_HASH"), (elf::DT_GNU_HASH, "DT_GNU_HASH")] {
        if !tags.contains(&tag) {
            bail!("no {what}");
        }
    }
    for (tag, what) in [
        (elf::DT_REL, "DT_REL"),
        (elf::DT_RELA, "DT_RELA"),
        (elf::DT_JMPREL, "DT_JMPREL"),
        (elf::DT_TEXTREL, "DT_TEXTREL"),
        (elf::DT_NEEDED, "DT_NEEDED"),
    ] {
        if tags.contains(&tag) {
            bail!("has {what}: a vDSO is mapped without a loader");
        }
    }
    Ok(())
}
