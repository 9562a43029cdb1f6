//! The kernel's symbol table as `boot/kernel.sym`: one function per line,
//! `<address, 16 hex digits> <size hex> <demangled name>`, sorted by address.

use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// One function of the kernel image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Symbol {
    pub addr: u64,
    pub size: u64,
    pub name: String,
}

/// Reads the function symbols of the ELF file at `path`.
pub fn read(path: &Path) -> Result<Vec<Symbol>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    from_elf(&data).with_context(|| format!("reading the symbols of {}", path.display()))
}

/// Reads the function symbols of an ELF image: `STT_FUNC` symbols, and the untyped labels that
/// assembly (`global_asm!`) defines in executable sections, such as entry stubs. Compiler-local
/// labels (`.L…`), linker-script markers (`__text_start`) and zero-address symbols are left
/// out. The result is sorted by address (then
/// name), without duplicates.
pub fn from_elf(data: &[u8]) -> Result<Vec<Symbol>> {
    let file = object::File::parse(data).context("not an ELF file object can read")?;
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.is_undefined() {
            continue;
        }
        let in_text = sym
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .is_some_and(|s| s.kind() == SectionKind::Text);
        let wanted = match sym.kind() {
            SymbolKind::Text => true,
            SymbolKind::Label | SymbolKind::Unknown => in_text,
            _ => false,
        };
        if !wanted || sym.address() == 0 {
            continue;
        }
        let Ok(raw) = sym.name() else { continue };
        if raw.is_empty() || raw.starts_with(".L") || raw.starts_with('$') {
            continue;
        }
        if sym.kind() != SymbolKind::Text && is_boundary_marker(raw) {
            continue;
        }
        out.push(Symbol {
            addr: sym.address(),
            size: sym.size(),
            name: demangle(raw),
        });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Linker-script markers such as `__text_start` or `__ex_table_end` (and the `__start_<sec>` /
/// `__stop_<sec>` symbols the linker defines): they label addresses, not functions.
fn is_boundary_marker(name: &str) -> bool {
    name.starts_with("__start_")
        || name.starts_with("__stop_")
        || (name.starts_with("__") && (name.ends_with("_start") || name.ends_with("_end")))
}

/// Demangles a Rust symbol name (legacy or v0) without the trailing hash; other names are
/// returned as they are.
pub fn demangle(raw: &str) -> String {
    match rustc_demangle::try_demangle(raw) {
        Ok(d) => format!("{d:#}"),
        Err(_) => raw.to_string(),
    }
}

/// Formats the symbols as the content of `boot/kernel.sym`.
pub fn format(symbols: &[Symbol]) -> String {
    let mut s = String::with_capacity(symbols.len() * 48);
    for sym in symbols {
        // Names cannot contain a newline in a sane image; keep the file line-based regardless.
        let name = sym.name.replace(['\n', '\r'], " ");
        s.push_str(&format!("{:016x} {:x} {}\n", sym.addr, sym.size, name));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demangles_rust_names() {
        assert_eq!(
            demangle("_ZN12kentry_entry7syscall6handle17h0123456789abcdefE"),
            "kentry_entry::syscall::handle"
        );
        assert_eq!(demangle("entry_syscall_64"), "entry_syscall_64");
    }

    #[test]
    fn format_lines() {
        let syms = vec![
            Symbol {
                addr: 0xffff_ffff_8000_1000,
                size: 0x2a,
                name: "kentry_kernel::main".into(),
            },
            Symbol {
                addr: 0x10_0000,
                size: 0,
                name: "pvh_start".into(),
            },
        ];
        assert_eq!(
            format(&syms),
            "ffffffff80001000 2a kentry_kernel::main\n0000000000100000 0 pvh_start\n"
        );
    }

    #[test]
    fn boundary_markers() {
        for m in [
            "__text_start",
            "__entry_text_end",
            "__start_ex_table",
            "__stop_x",
        ] {
            assert!(is_boundary_marker(m), "{m}");
        }
        for f in [
            "pvh_start32",
            "entry_syscall_64",
            "__kentry_entry",
            "_start",
        ] {
            assert!(!is_boundary_marker(f), "{f}");
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(from_elf(b"not an elf").is_err());
    }

    #[test]
    fn reads_own_executable() {
        // The test binary itself is an ELF file with function symbols (unless stripped).
        let exe = std::env::current_exe().unwrap();
        let syms = read(&exe).unwrap();
        assert!(syms.windows(2).all(|w| w[0] <= w[1]), "not sorted");
        assert!(syms.iter().all(|s| s.addr != 0 && !s.name.is_empty()));
    }
}
