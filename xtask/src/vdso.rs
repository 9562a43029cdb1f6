//! The 64-bit vDSO (`kernel/vdso/`): compiled and linked with gcc into a shared object, checked,
//! and handed to the kernel build, which embeds it (`include_bytes!(env!("KENTRY_VDSO"))`).
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
use object::read::elf::{Dyn, ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};

use crate::build::run_checked;
use crate::install;
use crate::workspace::Workspace;

/// The environment variable the kernel's `include_bytes!` reads the image's path from.
pub const ENV: &str = "KENTRY_VDSO";

/// The symbols the vDSO must export (Linux's vdso.lds), each also unprefixed.
pub const SYMBOLS: [&str; 5] = [
    "__vdso_clock_gettime",
    "__vdso_gettimeofday",
    "__vdso_time",
    "__vdso_getcpu",
    "__vdso_clock_getres",
];

const CFLAGS: &[&str] = &[
    "-fPIC",
    "-O2",
    "-g0",
    "-m64",
    "-mcmodel=small",
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
    "-Wl,-soname=linux-vdso.so.1",
];

/// The vDSO image's path (built if a source is newer).
pub fn image(ws: &Workspace) -> PathBuf {
    ws.target().join("vdso").join("vdso64.so")
}

/// Builds and checks the vDSO; returns its path.
pub fn build(ws: &Workspace) -> Result<PathBuf> {
    let src = ws.root.join("kernel").join("vdso");
    let out = image(ws);
    let dir = out.parent().expect("vdso dir");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let sources: Vec<PathBuf> = ["vdso.c", "note.S", "vvar.h", "vdso.lds"]
        .iter()
        .map(|f| src.join(f))
        .collect();
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh =
        mtime(&out).is_some_and(|o| sources.iter().all(|s| mtime(s).is_some_and(|m| m < o)));
    if !fresh {
        install::installed(install::NEED_GCC).context("setup for the vDSO")?;
        let tmp = dir.join("vdso64.so.tmp");
        run_checked(
            Command::new("gcc")
                .args(CFLAGS)
                .args(LDFLAGS)
                .arg(format!("-Wl,-T,{}", src.join("vdso.lds").display()))
                .arg("-o")
                .arg(&tmp)
                .arg(src.join("vdso.c"))
                .arg(src.join("note.S")),
            "building the vDSO (kernel/vdso, gcc -shared -T vdso.lds)",
        )?;
        let data = std::fs::read(&tmp).with_context(|| format!("reading {}", tmp.display()))?;
        check(&data).context("the vDSO image is unusable")?;
        std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(out)
}

/// What a vDSO must be for a loader-less mapping: an ELF64 shared object with one PT_LOAD at
/// address 0, PT_DYNAMIC and PT_NOTE, DT_HASH and DT_GNU_HASH, no relocation and no needed
/// library, and every symbol of [`SYMBOLS`] (prefixed and not) defined.
pub fn check(data: &[u8]) -> Result<()> {
    let file = ElfFile64::<Endianness>::parse(data).context("not an ELF64 file")?;
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
    if load.p_vaddr(e) != 0 || load.p_offset(e) != 0 || load.p_memsz(e) != load.p_filesz(e) {
        bail!("the PT_LOAD must map the file from offset 0 at address 0, with no bss");
    }
    let dynamic = phdrs
        .iter()
        .find(|p| p.p_type(e) == elf::PT_DYNAMIC)
        .unwrap();
    let dyns = dynamic
        .dynamic(e, data)?
        .context("PT_DYNAMIC has no entries")?;
    let tags: Vec<u32> = dyns.iter().map(|d| d.d_tag(e) as u32).collect();
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
    let names: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().map(String::from))
        .collect();
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
