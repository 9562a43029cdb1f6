//! A dynamically linked host program's shared objects, for the guest: its loader (PT_INTERP)
//! and every library its DT_NEEDED entries name, recursively, found where the host's loader
//! would find them (DT_RUNPATH/DT_RPATH, then the system directories of its class). Each goes
//! into the guest at the path the guest's loader will look at: the loader at its PT_INTERP
//! path, a library in the first system directory that holds it on the host (or its RUNPATH
//! directory). The files are read through symlinks: the guest gets plain files.

use super::*;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, elf};

/// Where the host's loader looks for libraries of each class when a program has no RUNPATH
/// that holds them (Debian's multiarch directories first, then the generic ones).
const SYSTEM_DIRS_64: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];
const SYSTEM_DIRS_32: [&str; 6] = [
    "/lib/i386-linux-gnu",
    "/usr/lib/i386-linux-gnu",
    "/lib32",
    "/usr/lib32",
    "/lib",
    "/usr/lib",
];

/// What one ELF file asks of the dynamic loader.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct DynamicInfo {
    /// PT_INTERP, without its NUL.
    pub interp: Option<String>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_RUNPATH (or DT_RPATH when there is no RUNPATH), split at `:`.
    pub runpath: Vec<String>,
}

/// Reads PT_INTERP and the dynamic section of an ELF file of either class.
pub(super) fn dynamic_info(data: &[u8]) -> Result<DynamicInfo> {
    match data.get(4) {
        Some(1) => info_of::<elf::FileHeader32<Endianness>>(data),
        _ => info_of::<elf::FileHeader64<Endianness>>(data),
    }
}

fn info_of<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<DynamicInfo> {
    let header = Elf::parse(data).context("not an ELF file object can read")?;
    let endian = header.endian().context("the ELF header's byte order")?;
    let mut info = DynamicInfo::default();
    for ph in header
        .program_headers(endian, data)
        .context("the program headers")?
    {
        if let Some(i) = ph.interpreter(endian, data).context("PT_INTERP")? {
            info.interp = Some(String::from_utf8_lossy(i).into_owned());
        }
    }
    let sections = header
        .sections(endian, data)
        .context("the section headers")?;
    let Some((entries, link)) = sections
        .dynamic(endian, data)
        .context("the dynamic section")?
    else {
        return Ok(info);
    };
    let strings = sections
        .strings(endian, data, link)
        .context("the dynamic string table")?;
    let string = |v: u64| -> Result<String> {
        let s = strings
            .get(u32::try_from(v).context("a dynamic string offset")?)
            .ok()
            .context("a dynamic string outside its table")?;
        Ok(String::from_utf8_lossy(s).into_owned())
    };
    let (mut runpath, mut rpath) = (None, None);
    for d in entries {
        let tag: u64 = d.d_tag(endian).into();
        let val: u64 = d.d_val(endian).into();
        match tag as u32 {
            elf::DT_NEEDED => info.needed.push(string(val)?),
            elf::DT_RUNPATH => runpath = Some(string(val)?),
            elf::DT_RPATH => rpath = Some(string(val)?),
            _ => {}
        }
    }
    if let Some(p) = runpath.or(rpath) {
        info.runpath = p
            .split(':')
            .filter(|d| !d.is_empty())
            .map(String::from)
            .collect();
    }
    Ok(info)
}

/// The shared objects `exe` (at `exe_path` on this host) needs, as guest files: its loader
/// and its libraries; empty for a static program. Refused (status 126, as the loader would
/// fail) when one cannot be found.
pub fn shared_objects(exe_path: &Path, exe: &[u8]) -> Result<Vec<GuestFile>> {
    let shown = exe_path.display();
    let info = dynamic_info(exe).with_context(|| format!("{shown}: reading its ELF headers"))?;
    let Some(interp) = info.interp.clone() else {
        return Ok(Vec::new());
    };
    let mut files = vec![GuestFile {
        path: interp.trim_start_matches('/').to_string(),
        mode: 0o755,
        data: std::fs::read(&interp).map_err(|e| {
            refuse(
                STATUS_CANNOT_EXECUTE,
                format!("{shown}: its dynamic loader {interp}: {}", io_reason(&e)),
            )
        })?,
    }];
    files.extend(needed(exe_path, info, exe.get(4) == Some(&1))?);
    Ok(files)
}

/// The libraries an ELF file of a `--dir` tree needs (a Python extension module, a plugin):
/// empty for anything else.
pub(super) fn libraries_of(path: &Path, data: &[u8]) -> Result<Vec<GuestFile>> {
    if !data.starts_with(b"\x7fELF") {
        return Ok(Vec::new());
    }
    let Ok(info) = dynamic_info(data) else {
        return Ok(Vec::new());
    };
    needed(path, info, data.get(4) == Some(&1))
}

/// Libraries that a library loads with dlopen when it needs them, so no DT_NEEDED names them:
/// (the library, what it opens). glibc opens libgcc_s.so.1 for the unwinder of pthread_exit
/// and pthread_cancel ("libgcc_s.so.1 must be installed for pthread_exit to work", then
/// abort). Packed when found on this host.
const DLOPENED: [(&str, &str); 1] = [("libc.so.6", "libgcc_s.so.1")];

/// Every library `info`'s DT_NEEDED names, recursively, once each, and what [`DLOPENED`] says
/// those open.
fn needed(path: &Path, mut info: DynamicInfo, ia32: bool) -> Result<Vec<GuestFile>> {
    // The dlopen'd ones go after the rest, as optional: a host without them runs without.
    let mut optional = Vec::new();
    for (lib, opens) in DLOPENED {
        if !info.needed.iter().any(|n| n == opens) {
            optional.push((lib, opens));
        }
    }
    let wanted = |seen: &BTreeSet<String>| {
        optional
            .iter()
            .filter(|(lib, _)| seen.contains(*lib))
            .map(|(_, opens)| opens.to_string())
            .collect::<Vec<_>>()
    };
    info.needed
        .retain(|n| !optional.iter().any(|(_, o)| o == n));
    let shown = path.display();
    let dir_of = |p: &Path| {
        p.canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/"))
    };
    let mut files: Vec<GuestFile> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![(info, dir_of(path))];
    while let Some((info, origin)) = queue.pop() {
        for name in &info.needed {
            if !seen.insert(name.clone()) {
                continue;
            }
            let (guest, host) = find_library(name, &info.runpath, &origin, ia32).ok_or_else(|| {
                refuse(
                    STATUS_CANNOT_EXECUTE,
                    format!(
                        "{shown}: the shared library {name} is not found on this host (searched its RUNPATH and {})",
                        if ia32 { SYSTEM_DIRS_32 } else { SYSTEM_DIRS_64 }.join(", ")
                    ),
                )
            })?;
            let data =
                std::fs::read(&host).with_context(|| format!("reading {}", host.display()))?;
            let lib_info = dynamic_info(&data)
                .with_context(|| format!("{}: reading its ELF headers", host.display()))?;
            queue.push((lib_info, dir_of(&host)));
            if files.iter().all(|f| f.path != guest) {
                files.push(GuestFile {
                    path: guest,
                    mode: 0o755,
                    data,
                });
            }
        }
    }
    for name in wanted(&seen) {
        if seen.contains(&name) {
            continue;
        }
        if let Some((guest, host)) = find_library(&name, &[], Path::new("/"), ia32) {
            let data =
                std::fs::read(&host).with_context(|| format!("reading {}", host.display()))?;
            files.push(GuestFile {
                path: guest,
                mode: 0o755,
                data,
            });
        }
    }
    Ok(files)
}

/// Finds library `name` as the loader does: a name with a `/` as it is, else in the RUNPATH
/// directories (`$ORIGIN` standing for `origin`), then the system directories; only a file of
/// the program's class counts. Returns its guest path (without the leading `/`) and the host
/// file.
fn find_library(
    name: &str,
    runpath: &[String],
    origin: &Path,
    ia32: bool,
) -> Option<(String, PathBuf)> {
    let class_ok = |p: &Path| {
        let mut head = [0u8; 5];
        std::fs::File::open(p)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .is_ok()
            && head[..4] == *b"\x7fELF"
            && (head[4] == 1) == ia32
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return class_ok(&p).then(|| (name.trim_start_matches('/').to_string(), p));
    }
    let expanded: Vec<String> = runpath
        .iter()
        .map(|d| d.replace("$ORIGIN", &origin.to_string_lossy()))
        .collect();
    let system = if ia32 { SYSTEM_DIRS_32 } else { SYSTEM_DIRS_64 };
    expanded
        .iter()
        .map(String::as_str)
        .chain(system)
        .map(|d| Path::new(d).join(name))
        .find(|p| class_ok(p))
        .map(|p| (p.to_string_lossy().trim_start_matches('/').to_string(), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test binary itself: a dynamically linked x86-64 program (cargo's default).
    fn me() -> (PathBuf, Vec<u8>) {
        let p = std::env::current_exe().unwrap();
        let d = std::fs::read(&p).unwrap();
        (p, d)
    }

    #[test]
    fn a_dynamic_host_program_gets_its_loader_and_libc() {
        let (path, data) = me();
        let info = dynamic_info(&data).unwrap();
        let interp = info
            .interp
            .clone()
            .expect("cargo's test binary has PT_INTERP");
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{info:?}"
        );
        let files = shared_objects(&path, &data).unwrap();
        assert_eq!(files[0].path, interp.trim_start_matches('/'));
        assert_eq!(files[0].data, std::fs::read(&interp).unwrap());
        let libc = files
            .iter()
            .find(|f| f.path.ends_with("/libc.so.6"))
            .expect("libc packed");
        assert!(libc.path.starts_with("lib"), "{}", libc.path);
        assert!(libc.data.starts_with(b"\x7fELF\x02"));
        // Every file once.
        let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths.len(), files.len());
    }

    #[test]
    fn glibc_brings_the_unwinder_it_dlopens() {
        // A program that names only libc (as a C program does): libgcc_s.so.1 comes too, though
        // no DT_NEEDED names it.
        let info = DynamicInfo {
            needed: vec!["libc.so.6".into()],
            ..DynamicInfo::default()
        };
        let files = needed(Path::new("/bin/x"), info, false).unwrap();
        assert!(files.iter().any(|f| f.path.ends_with("/libc.so.6")));
        assert!(
            files.iter().any(|f| f.path.ends_with("/libgcc_s.so.1")),
            "{:?}",
            files.iter().map(|f| &f.path).collect::<Vec<_>>()
        );
        // Without libc, nothing is added.
        let none = needed(Path::new("/bin/x"), DynamicInfo::default(), false).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_static_program_needs_nothing_and_a_missing_library_is_refused() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        // Not an ELF at all: an error, not an empty list.
        assert!(shared_objects(&here, b"not elf").is_err());
        // An ELF64 header with no program or section headers: static, nothing to pack.
        let mut header = vec![0u8; 64];
        header[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        header[16] = 2; // ET_EXEC
        header[18] = 62; // EM_X86_64
        header[20] = 1; // EV_CURRENT
        header[52] = 64; // e_ehsize
        assert!(shared_objects(&here, &header).unwrap().is_empty());
        assert_eq!(
            find_library("libkentry-no-such.so.1", &[], Path::new("/"), false),
            None
        );
        // The 32-bit libc is not the 64-bit one.
        if let Some((_, p)) = find_library("libc.so.6", &[], Path::new("/"), true) {
            assert_eq!(std::fs::read(p).unwrap()[4], 1);
        }
    }
}
