//! What the noinstr check reads from a kernel ELF: the entry text's bytes and bounds, the
//! function symbols, the static-key sites of kentry's jump table, and the instrumentation
//! markers (`kentry::instrumentation_begin!` / `instrumentation_end!`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use anyhow::{Context, Result, bail};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::symbols::{self, Symbol};

/// Where the instrumentation markers are recorded: non-allocated sections, one address per
/// marker (entry/src/noinstr.rs).
pub const BEGIN_SECTION: &str = ".kentry.instr_begin";
pub const END_SECTION: &str = ".kentry.instr_end";

/// One kernel image, as far as the check needs it.
#[derive(Debug, Clone)]
pub struct Image {
    /// `__kentry_text_start .. __kentry_text_end`: all of kentry's entry text (the stubs of
    /// `.text.kentry` and the Rust of `.text.kentry.noinstr`).
    pub entry: Range<u64>,
    /// `__kentry_noinstr_text_start .. _end`, inside `entry`: the Rust entry functions.
    pub noinstr: Range<u64>,
    /// The bytes of `entry`.
    pub bytes: Vec<u8>,
    /// Every function symbol of the image (for naming targets), sorted by address.
    pub symbols: Vec<Symbol>,
    /// Static-key sites (site → targets, one per key of the site) from `__kentry_jump_table`.
    pub key_sites: BTreeMap<u64, Vec<u64>>,
    /// Addresses of `instrumentation_begin!`: from here a path may call anything.
    pub instr_begin: BTreeSet<u64>,
    /// Addresses of `instrumentation_end!`: from here a path is entry-only again.
    pub instr_end: BTreeSet<u64>,
    /// The allocated, non-executable sections but `.data` (start, bytes): where jump tables
    /// are read. (`.rodata` is writable in these kernels: kentry's static-key table is `aw`.)
    pub rodata: Vec<(u64, Vec<u8>)>,
    /// The executable sections (start, bytes): where the walk looks into a function outside
    /// the entry text to learn whether it can return at all (a panic cannot).
    pub text: Vec<(u64, Vec<u8>)>,
}

impl Image {
    /// Reads the image from ELF bytes.
    pub fn from_elf(data: &[u8]) -> Result<Image> {
        let file = object::File::parse(data).context("not an ELF file object can read")?;
        let marker = |name: &str| -> Result<u64> {
            file.symbols()
                .find(|s| s.name() == Ok(name))
                .map(|s| s.address())
                .with_context(|| {
                    format!(
                        "no symbol {name}: is entry/link/kentry-text.ld (or -tables.ld) linked?"
                    )
                })
        };
        let entry = marker("__kentry_text_start")?..marker("__kentry_text_end")?;
        let noinstr = marker("__kentry_noinstr_text_start")?..marker("__kentry_noinstr_text_end")?;
        if entry.is_empty() || noinstr.start < entry.start || noinstr.end > entry.end {
            bail!("entry text {entry:x?} does not contain the noinstr text {noinstr:x?}");
        }
        let bytes = read_at(&file, entry.start, entry.end - entry.start)?;
        let table = marker("__kentry_jump_table_start")?..marker("__kentry_jump_table_end")?;
        let raw = read_at(&file, table.start, table.end - table.start)?;
        let mut key_sites = BTreeMap::<u64, Vec<u64>>::new();
        for e in raw.chunks_exact(24) {
            key_sites
                .entry(le64(&e[0..8]))
                .or_default()
                .push(le64(&e[8..16]));
        }
        Ok(Image {
            entry,
            noinstr,
            bytes,
            symbols: symbols::from_elf(data)?,
            key_sites,
            instr_begin: addresses(&file, BEGIN_SECTION)?,
            instr_end: addresses(&file, END_SECTION)?,
            text: file
                .sections()
                .filter(|s| s.kind() == object::SectionKind::Text)
                .filter_map(|s| Some((s.address(), s.data().ok()?.to_vec())))
                .collect(),
            rodata: file
                .sections()
                .filter(|s| {
                    let flags = match s.flags() {
                        object::SectionFlags::Elf { sh_flags } => sh_flags,
                        _ => 0,
                    };
                    flags & u64::from(object::elf::SHF_ALLOC) != 0
                        && flags & u64::from(object::elf::SHF_EXECINSTR) == 0
                        && s.name() != Ok(".data")
                })
                .filter_map(|s| Some((s.address(), s.data().ok()?.to_vec())))
                .collect(),
        })
    }

    /// The code bytes of `addr .. addr + len`, if an executable section holds them.
    pub fn code(&self, addr: u64, len: u64) -> Option<&[u8]> {
        self.text.iter().find_map(|(start, bytes)| {
            let off = usize::try_from(addr.checked_sub(*start)?).ok()?;
            bytes.get(off..off + usize::try_from(len).ok()?)
        })
    }

    /// The 8-byte little-endian word at `addr` in read-only data.
    pub fn rodata_u64(&self, addr: u64) -> Option<u64> {
        self.rodata.iter().find_map(|(start, bytes)| {
            let off = usize::try_from(addr.checked_sub(*start)?).ok()?;
            Some(le64(bytes.get(off..off + 8)?))
        })
    }

    /// The function symbols that lie in the entry text.
    pub fn entry_symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.symbols.iter().filter(|s| self.entry.contains(&s.addr))
    }

    /// `name+0xoff` for an address (or the bare address when no symbol precedes it).
    pub fn describe(&self, addr: u64) -> String {
        let i = self.symbols.partition_point(|s| s.addr <= addr);
        // Prefer a sized symbol that contains the address (a label inside a function and the
        // function itself may precede it).
        let containing = self.symbols[..i]
            .iter()
            .rev()
            .take_while(|s| addr - s.addr < 0x10_0000)
            .find(|s| s.size > 0 && addr < s.addr + s.size);
        match containing.or_else(|| i.checked_sub(1).map(|j| &self.symbols[j])) {
            Some(s) if s.addr == addr => s.name.clone(),
            Some(s) if addr - s.addr < 0x10_0000 => format!("{}+{:#x}", s.name, addr - s.addr),
            _ => format!("{addr:#x}"),
        }
    }
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("8 bytes"))
}

/// `len` bytes at virtual address `addr`, from the allocated section that holds them.
fn read_at(file: &object::File, addr: u64, len: u64) -> Result<Vec<u8>> {
    for s in file.sections() {
        if s.address() <= addr && addr + len <= s.address() + s.size() && s.size() > 0 {
            let data = s.data().context("reading a section")?;
            let off = (addr - s.address()) as usize;
            if off + len as usize > data.len() {
                bail!("{addr:#x}+{len:#x} lies in a section without file data");
            }
            return Ok(data[off..off + len as usize].to_vec());
        }
    }
    bail!("no section holds {addr:#x}..{:#x}", addr + len)
}

/// The addresses recorded in the marker section `name` (none if the section is absent; zero
/// entries are markers whose code the linker dropped).
fn addresses(file: &object::File, name: &str) -> Result<BTreeSet<u64>> {
    let Some(s) = file.section_by_name(name) else {
        return Ok(BTreeSet::new());
    };
    let data = s.data().with_context(|| format!("reading {name}"))?;
    Ok(data.chunks_exact(8).map(le64).filter(|&a| a != 0).collect())
}
