//! Symbolizing kernel addresses from `/boot/kernel.sym` (written by xtask from the kernel
//! ELF): lines of `<addr hex> <size hex> <name>`, sorted by address.

use spin::Once;

static SYMS: Once<&'static [u8]> = Once::new();

pub fn init(table: &'static [u8]) {
    SYMS.call_once(|| table);
}

fn parse_line(line: &[u8]) -> Option<(u64, u64, &str)> {
    let s = core::str::from_utf8(line).ok()?;
    let mut it = s.splitn(3, ' ');
    let addr = u64::from_str_radix(it.next()?, 16).ok()?;
    let size = u64::from_str_radix(it.next()?, 16).ok()?;
    Some((addr, size, it.next()?))
}

/// `(name, offset)` of the function containing `addr`.
pub fn lookup(addr: u64) -> Option<(&'static str, u64)> {
    let table = *SYMS.get()?;
    let mut best = None;
    for line in table.split(|&b| b == b'\n') {
        let Some((a, size, name)) = parse_line(line) else {
            continue;
        };
        if a > addr {
            break;
        }
        if addr < a + size.max(1) {
            best = Some((name, addr - a));
        }
    }
    best
}

/// A symbol's name and an address's offset from it.
pub type NameOffset = (&'static str, u64);

/// `(name, offset)` of the sized symbol (a function, or an asm stub with its `.size`) that
/// contains `addr`, and of the last symbol at or below `addr` inside it: for an entry stub, the
/// global label that opens the window `addr` is in (`kentry_iret_to_user`, say), or the stub
/// itself.
pub fn stub_and_label(addr: u64) -> Option<(NameOffset, NameOffset)> {
    let table = *SYMS.get()?;
    let (mut stub, mut label) = (None, None);
    for line in table.split(|&b| b == b'\n') {
        let Some((a, size, name)) = parse_line(line) else {
            continue;
        };
        if a > addr {
            break;
        }
        if size > 0 && addr < a + size {
            stub = Some((a, name));
        }
        label = Some((a, name));
    }
    let (start, stub) = stub?;
    let (at, label) = label.filter(|&(at, _)| at >= start)?;
    Some(((stub, addr - start), (label, addr - at)))
}

/// Writes `addr` as `name+0xoff` (or the bare address).
pub struct Sym(pub u64);

impl core::fmt::Display for Sym {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match lookup(self.0) {
            Some((name, off)) => write!(f, "{:#x} <{}+{:#x}>", self.0, name, off),
            None => write!(f, "{:#x}", self.0),
        }
    }
}
