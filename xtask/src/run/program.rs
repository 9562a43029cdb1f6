//! The program to run: finding it (a host path or a kentry user program), reading it, and
//! judging from its ELF header whether kentry can run it.

use super::*;

/// defence (the kernel's loader is the second). `None`: it may run.
pub(super) fn elf_problem(data: &[u8]) -> Option<String> {
    if data.starts_with(b"#!") {
        return Some(
            "a script (#!), not an ELF executable; kentry runs static ELF programs".into(),
        );
    }
    if !data.starts_with(b"\x7fELF") {
        return Some("not an ELF file".into());
    }
    // ELFCLASS64 (x86-64) or ELFCLASS32 (i386): the header fields this reads sit at different
    // offsets and have different widths.
    let ia32 = match data.get(4) {
        Some(2) => false,
        Some(1) => true,
        _ => return Some("not a valid ELF file (bad class byte)".into()),
    };
    let (ehsize, phsize) = if ia32 { (52, 32) } else { (64, 56) };
    if data.len() < ehsize {
        return Some("a truncated ELF file (the header is cut short)".into());
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap());
    // An address-sized field: 4 bytes in ELFCLASS32, 8 in ELFCLASS64.
    let word_at = |o: usize| {
        if ia32 {
            u64::from(u32_at(o))
        } else {
            u64_at(o)
        }
    };
    if data[5] != 1 {
        return Some("a big-endian ELF, not an x86-64 or i386 program".into());
    }
    let machine = u16_at(18);
    match (ia32, machine) {
        (false, 62) | (true, 3) => {}
        (false, _) => {
            return Some(format!(
                "an ELF for another machine (e_machine {machine}), not x86-64"
            ));
        }
        (true, _) => {
            return Some(format!(
                "a 32-bit ELF for another machine (e_machine {machine}), not for i386"
            ));
        }
    }
    match u16_at(16) {
        // ET_EXEC, or ET_DYN: a static-pie program, or a dynamic one (its PT_INTERP says).
        2 | 3 => {}
        1 => return Some("a relocatable object (ET_REL), not an executable".into()),
        4 => return Some("a core dump (ET_CORE), not an executable".into()),
        t => return Some(format!("not an executable (e_type {t})")),
    }
    let (phoff, phentsize, phnum) = if ia32 {
        (word_at(28), usize::from(u16_at(42)), u16_at(44))
    } else {
        (word_at(32), usize::from(u16_at(54)), u16_at(56))
    };
    let corrupt = || Some("a corrupt ELF file (its program headers lie outside it)".into());
    if phnum > 0 && phentsize < phsize {
        return corrupt();
    }
    // Every program header inside the file. A PT_INTERP is fine: run/dynamic.rs packs the
    // loader and the libraries.
    let inside = (0..usize::from(phnum)).all(|i| {
        usize::try_from(phoff)
            .ok()
            .and_then(|o| o.checked_add(i * phentsize)?.checked_add(phsize))
            .is_some_and(|end| end <= data.len())
    });
    if !inside {
        return corrupt();
    }
    None
}

/// Reads a host program, refusing what cannot run (status 126, as a shell).
fn read_program(path: &Path, shown: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| refuse(STATUS_NOT_FOUND, format!("{shown}: {}", io_reason(&e))))?;
    if meta.is_dir() {
        return Err(refuse(
            STATUS_CANNOT_EXECUTE,
            format!("{shown}: is a directory"),
        ));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(refuse(
            STATUS_CANNOT_EXECUTE,
            format!("{shown}: permission denied (not executable; chmod +x it)"),
        ));
    }
    let data = std::fs::read(path)
        .map_err(|e| refuse(STATUS_CANNOT_EXECUTE, format!("{shown}: {}", io_reason(&e))))?;
    if let Some(why) = elf_problem(&data) {
        return Err(refuse(STATUS_CANNOT_EXECUTE, format!("{shown}: {why}")));
    }
    Ok(data)
}

/// Where the program comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A file on this host, already read and checked.
    Host(PathBuf, Vec<u8>),
    /// A kentry user program, by name (built before the boot).
    User(String),
}

/// Resolves PROGRAM: a host path, or else the name of a kentry user program (as a shell finds
/// a name without `/` on PATH).
pub(super) fn resolve(
    program: &OsStr,
    user_names: impl FnOnce() -> Result<Vec<String>>,
) -> Result<Source> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        return Err(refuse(STATUS_NOT_FOUND, "the program name is empty"));
    }
    let path = Path::new(program);
    let has_slash = program.as_bytes().contains(&b'/');
    if has_slash || path.symlink_metadata().is_ok() {
        return Ok(Source::Host(
            path.to_path_buf(),
            read_program(path, &shown)?,
        ));
    }
    let names = user_names()?;
    if names.iter().any(|n| *n == shown) {
        return Ok(Source::User(shown.into_owned()));
    }
    Err(refuse(
        STATUS_NOT_FOUND,
        format!(
            "{shown}: no such file, nor a kentry user program ({})",
            names.join(", ")
        ),
    ))
}

/// Reads this process's stdin to its end, for the program; a terminal gives nothing (the run
/// is not interactive: all of stdin must be known before the boot).
pub(super) fn read_own_stdin() -> Result<Vec<u8>> {
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        return Ok(Vec::new());
    }
    let mut data = Vec::new();
    stdin.read_to_end(&mut data).context("reading stdin")?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 x86-64 header with `phnum` program headers right after it.
    fn elf64(e_type: u16, phdrs: &[(u32, u64, u64)]) -> Vec<u8> {
        let mut d = vec![0u8; 64];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[6] = 1;
        d[16..18].copy_from_slice(&e_type.to_le_bytes());
        d[18..20].copy_from_slice(&62u16.to_le_bytes());
        d[32..40].copy_from_slice(&64u64.to_le_bytes());
        d[54..56].copy_from_slice(&56u16.to_le_bytes());
        d[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for &(p_type, off, size) in phdrs {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            ph[8..16].copy_from_slice(&off.to_le_bytes());
            ph[32..40].copy_from_slice(&size.to_le_bytes());
            d.extend(ph);
        }
        d
    }

    #[test]
    fn elf_checks() {
        assert_eq!(elf_problem(&elf64(2, &[(1, 0, 0)])), None);
        // ET_DYN without PT_INTERP: static-pie; the kernel decides.
        assert_eq!(elf_problem(&elf64(3, &[(1, 0, 0)])), None);
        let mut dynamic = elf64(3, &[(1, 0, 0), (3, 0, 0)]);
        let at = dynamic.len() as u64;
        dynamic.extend_from_slice(b"/lib64/ld-linux-x86-64.so.2\0");
        dynamic[64 + 56 + 8..64 + 56 + 16].copy_from_slice(&at.to_le_bytes());
        dynamic[64 + 56 + 32..64 + 56 + 40].copy_from_slice(&28u64.to_le_bytes());
        // Dynamically linked: runs (with its loader and libraries packed).
        assert_eq!(elf_problem(&dynamic), None);
        assert!(elf_problem(b"hello").unwrap().contains("not an ELF"));
        assert!(elf_problem(b"").unwrap().contains("not an ELF"));
        assert!(elf_problem(b"#!/bin/sh\n").unwrap().contains("script"));
        // A 32-bit ELF for i386 may run; one for another machine may not.
        let mut elf32 = vec![0u8; 52];
        elf32[..4].copy_from_slice(b"\x7fELF");
        elf32[4] = 1;
        elf32[5] = 1;
        elf32[16] = 2;
        elf32[18] = 3;
        assert_eq!(elf_problem(&elf32), None);
        elf32[18] = 40;
        assert!(elf_problem(&elf32).unwrap().contains("not for i386"));
        let mut arm = elf64(2, &[]);
        arm[18] = 183;
        assert!(elf_problem(&arm).unwrap().contains("e_machine 183"));
        assert!(elf_problem(&elf64(1, &[])).unwrap().contains("ET_REL"));
        assert!(
            elf_problem(&elf64(2, &[])[..40])
                .unwrap()
                .contains("truncated")
        );
        let mut cut = elf64(2, &[(1, 0, 0)]);
        cut.truncate(100);
        assert!(elf_problem(&cut).unwrap().contains("corrupt"));
    }

    #[test]
    fn resolves_programs() {
        let names = || Ok(vec!["hello".to_string(), "fault".to_string()]);
        assert_eq!(
            resolve(OsStr::new("hello"), names).unwrap(),
            Source::User("hello".into())
        );
        let status = |r: Result<Source>| r.unwrap_err().downcast_ref::<Refused>().unwrap().status;
        assert_eq!(status(resolve(OsStr::new("nope"), names)), STATUS_NOT_FOUND);
        assert_eq!(
            status(resolve(OsStr::new("./no/such/file"), names)),
            STATUS_NOT_FOUND
        );
        assert_eq!(status(resolve(OsStr::new(""), names)), STATUS_NOT_FOUND);
        assert_eq!(
            status(resolve(OsStr::new("/"), names)),
            STATUS_CANNOT_EXECUTE
        );
        // Cargo.toml: a file, not executable.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(
            status(resolve(manifest.as_os_str(), names)),
            STATUS_CANNOT_EXECUTE
        );
    }
}
