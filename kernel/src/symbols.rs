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

/// The address of the symbol `name`, if the table has it.
pub fn address_of(name: &str) -> Option<u64> {
    let table = *SYMS.get()?;
    table
        .split(|&b| b == b'\n')
        .filter_map(parse_line)
        .find(|&(_, _, n)| n == name)
        .map(|(a, _, _)| a)
}

/// The sized symbol (an asm stub with its `.size`, or a function) that contains `addr`: its
/// name and address range.
pub fn sized_containing(addr: u64) -> Option<(&'static str, core::ops::Range<u64>)> {
    let table = *SYMS.get()?;
    let mut found = None;
    for (a, size, name) in table.split(|&b| b == b'\n').filter_map(parse_line) {
        if a > addr {
            break;
        }
        if size > 0 && addr < a + size {
            found = Some((name, a..a + size));
        }
    }
    found
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
