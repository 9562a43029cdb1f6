//! Finding a function of the vDSO the kernel mapped (AT_SYSINFO_EHDR): the image's dynamic
//! symbols through DT_HASH, as Linux's tools/testing/selftests/vDSO/parse_vdso.c does, without
//! a loader. Versions are not checked: the bench only asks for names the LINUX_2.6 node has.

/// AT_SYSINFO_EHDR: the vDSO's ELF header.
pub const AT_SYSINFO_EHDR: u64 = 33;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: i64 = 0;
const DT_HASH: i64 = 4;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;

/// SysV ELF hash of a symbol name.
fn elf_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(c as u32);
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// The address of the defined function `name` in the vDSO image at `base`, or `None`.
///
/// # Safety
/// `base` must be the AT_SYSINFO_EHDR the kernel gave this process (a mapped, well-formed
/// image).
pub unsafe fn lookup(base: u64, name: &[u8]) -> Option<u64> {
    // SAFETY (the three readers): every address read is inside the image at `base`, as its
    // own headers and tables locate them (the caller vouches for the image).
    let rd16 = |a: u64| unsafe { (a as *const u16).read_unaligned() };
    // SAFETY: as above.
    let rd32 = |a: u64| unsafe { (a as *const u32).read_unaligned() };
    // SAFETY: as above.
    let rd64 = |a: u64| unsafe { (a as *const u64).read_unaligned() };
    let (phoff, phentsize, phnum) = (rd64(base + 32), rd16(base + 54), rd16(base + 56));
    let (mut load, mut dynamic) = (None, None);
    for i in 0..phnum as u64 {
        let ph = base + phoff + i * phentsize as u64;
        let (ty, off, vaddr) = (rd32(ph), rd64(ph + 8), rd64(ph + 16));
        if ty == PT_LOAD && load.is_none() {
            load = Some(base + off - vaddr);
        } else if ty == PT_DYNAMIC {
            dynamic = Some(base + off);
        }
    }
    let (load, mut d) = (load?, dynamic?);
    let (mut hash, mut strtab, mut symtab) = (0, 0, 0);
    loop {
        let (tag, val) = (rd64(d) as i64, rd64(d + 8));
        match tag {
            DT_NULL => break,
            DT_HASH => hash = load + val,
            DT_STRTAB => strtab = load + val,
            DT_SYMTAB => symtab = load + val,
            _ => {}
        }
        d += 16;
    }
    if hash == 0 || strtab == 0 || symtab == 0 {
        return None;
    }
    let nbucket = rd32(hash) as u64;
    let mut i = rd32(hash + 8 + (elf_hash(name) as u64 % nbucket) * 4) as u64;
    while i != 0 {
        let sym = symtab + i * 24;
        let (st_name, st_shndx, st_value) = (rd32(sym), rd16(sym + 6), rd64(sym + 8));
        let first = strtab + st_name as u64;
        let matches = st_shndx != 0
            && name
                .iter()
                .chain(core::iter::once(&0))
                .zip(first..)
                // SAFETY: the string table of the image the kernel mapped.
                .all(|(&c, a)| unsafe { *(a as *const u8) } == c);
        if matches {
            return Some(load + st_value);
        }
        i = rd32(hash + 8 + nbucket * 4 + i * 4) as u64;
    }
    None
}
