//! Which instructions `cargo xtask verify` stops at: every stub of the kernel's entry section
//! (`.text.kentry`, bracketed by `__kentry_text_start` and `__kentry_text_end`, see
//! entry/link/kentry-text.ld), decoded with iced-x86 into instruction boundaries.
//!
//! Every stub the section holds must have a role in [`ROLES`]; one that has none fails the run,
//! so an entry path added later cannot go unverified. Bytes between stubs must be alignment
//! padding (NOPs). Of the 256 IDT stubs, one representative of each kind is taken — a kind is
//! what a stub does: whether it pushes a dummy error code, and which path it jumps to.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter, Instruction, Mnemonic};
use object::{Object, ObjectSection, ObjectSymbol};

/// What a stub of the entry section is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An entry or exit path: verified.
    Path,
    /// The IDT stub array: verified through one representative per kind.
    IdtStubs,
    /// The bench's floor stubs (entry/src/arch/bench_floor.rs): never installed outside
    /// `kentry.mode=bench`, so no workload reaches them; left out, by name.
    BenchOnly,
    /// A test kernel's tripwire report (kentry's `test-hooks`): reached only when a check has
    /// already failed, and absent from the lean kernel that `verify` stops; left out, by name.
    TestOnly,
}

/// Every stub `.text.kentry` may hold, by symbol name.
pub const ROLES: &[(&str, Role)] = &[
    ("kentry_syscall_64", Role::Path),
    ("kentry_int80_compat", Role::Path),
    ("kentry_syscall_compat", Role::Path),
    ("kentry_sysenter_compat", Role::Path),
    ("kentry_sysret32_from_system_call", Role::Path),
    ("kentry_idt_stubs", Role::IdtStubs),
    ("kentry_idt_common", Role::Path),
    ("kentry_ist_entry", Role::Path),
    ("kentry_return_via_iret", Role::Path),
    ("kentry_ret_from_fork", Role::Path),
    ("kentry_nmi_entry", Role::Path),
    ("kentry_paranoid_common", Role::Path),
    ("kentry_syscall_t2_trip", Role::TestOnly),
    ("kentry_floor_bare", Role::BenchOnly),
    ("kentry_floor_frame", Role::BenchOnly),
    ("kentry_floor_int3", Role::BenchOnly),
    ("kentry_floor_callee", Role::BenchOnly),
    ("kentry_iret_espfix", Role::Path),
];

/// The representative of a kind of IDT stub is the first of these vectors that has that
/// kind (else its lowest vector): ones the workload reaches — the timer (0x20), #PF (14),
/// #DB from TF (1), NMI (2, by the injections themselves).
const PREFERRED_VECTORS: &[u8] = &[0x20, 14, 1, 2, 3, 6];

/// One instruction to stop at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insn {
    pub addr: u64,
    /// The stub it belongs to (`kentry_idt_stubs[14]` for an IDT stub).
    pub stub: String,
    /// AT&T text, for reports.
    pub text: String,
}

/// The entry section, decoded.
#[derive(Debug, Clone, Default)]
pub struct EntryText {
    /// Stubs in address order, each with its instructions (the verified ones only).
    pub stubs: Vec<(String, Vec<Insn>)>,
    /// Symbols by address, for symbolizing (every symbol of the section, labels included).
    pub labels: BTreeMap<u64, String>,
    /// The IDT stubs' kinds: (pushes a dummy error code, jump target) → vectors.
    pub idt_kinds: Vec<(String, Vec<u8>)>,
    /// The NMI IDT stub's address: where an NMI's delivery is caught.
    pub nmi_stub: u64,
    /// The #MC IDT stub's address: where a #MC's delivery is caught.
    pub mc_stub: u64,
    /// The timer's IDT stub: where the host provokes a double fault (df.rs).
    pub timer_stub: u64,
    /// `kentry_nmi_repeat` and `kentry_nmi_exit_window`: where a nested NMI is provoked
    /// (inside the handler, and in the exit window).
    pub nmi_repeat: u64,
    pub nmi_exit_window: u64,
    /// Every address from which an NMI is held back: the NMI stub and `kentry_nmi_entry`.
    pub nmi_text: (u64, u64),
    /// `kentry_syscall_64`: the kernel-mode place the run goes to before it sends an NMI
    /// meant to run the kernel-mode NMI path.
    pub syscall_entry: u64,
    /// `__kentry_noinstr_text_start .. _end`: the Rust part (rust_text.rs), whose stubs are
    /// its functions and whose instructions are those outside instrumentation regions.
    pub rust: std::ops::Range<u64>,
    /// Instructions of the Rust part in all: those inside instrumentation regions too.
    pub rust_total: usize,
    /// Rust instructions that only the NMI path reaches (NMIs blocked there).
    pub rust_nmi_only: std::collections::BTreeSet<u64>,
    /// Rust instructions the NMI path reaches (maybe other paths too).
    pub rust_nmi_reach: std::collections::BTreeSet<u64>,
    /// The Rust part's writes of CR2 (`mov %reg,%cr2`): the paranoid path's CR2 restore.
    pub cr2_restore: std::collections::BTreeSet<u64>,
    /// The host kernel's `Host::nmi_like`, if the image has it as a function of its own.
    pub host_nmi_like: Option<u64>,
}

impl EntryText {
    /// All verified instructions, in address order per stub.
    pub fn insns(&self) -> impl Iterator<Item = &Insn> {
        self.stubs.iter().flat_map(|(_, v)| v.iter())
    }

    /// `symbol+0xoff` for an address of the section.
    pub fn symbolize(&self, addr: u64) -> String {
        match self.labels.range(..=addr).next_back() {
            Some((a, n)) if *a == addr => n.clone(),
            Some((a, n)) => format!("{n}+{:#x}", addr - a),
            None => format!("{addr:#x}"),
        }
    }

    /// The address of the symbol `name` of the section (demangled, as in reports).
    pub fn label_addr(&self, name: &str) -> Option<u64> {
        self.labels
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(a, _)| *a)
    }

    /// Whether an NMI arriving at `addr` is held back by the CPU (the NMI path runs with
    /// NMIs blocked until its IRETQ).
    pub fn nmi_blocked_at(&self, addr: u64) -> bool {
        let (start, end) = self.nmi_text;
        (start..end).contains(&addr) || (self.nmi_stub..self.nmi_stub + STUB_STRIDE).contains(&addr)
    }
}

/// Bytes per IDT stub (entry/src/idt.rs `STUB_STRIDE`).
pub const STUB_STRIDE: u64 = 16;

/// Reads and decodes the entry section of the kernel ELF at `path`.
pub fn read(path: &Path) -> Result<EntryText> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    from_elf(&data).with_context(|| format!("the entry section of {}", path.display()))
}

struct Sym {
    addr: u64,
    size: u64,
    name: String,
}

/// Decodes the entry section of a kernel ELF image.
pub fn from_elf(data: &[u8]) -> Result<EntryText> {
    let file = object::File::parse(data).context("not an ELF file")?;
    let find = |name: &str| {
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .map(|s| s.address())
            .with_context(|| format!("no symbol {name}: is entry/link/kentry-text.ld linked?"))
    };
    let (start, text_end) = (find("__kentry_text_start")?, find("__kentry_text_end")?);
    // The entry text ends with kentry's Rust `noinstr` functions (`.text.kentry.noinstr`,
    // bracketed by `__kentry_noinstr_text_start/_end`; the noinstr check walks them). The
    // stubs are decoded up to there; rust_text.rs adds the Rust part.
    let end = find("__kentry_noinstr_text_start").unwrap_or(text_end);
    let mut syms: Vec<Sym> = file
        .symbols()
        .filter(|s| (start..end).contains(&s.address()) && !s.is_undefined())
        .filter_map(|s| {
            let name = s.name().ok()?;
            (!name.is_empty() && !name.starts_with(".L") && !name.starts_with("__kentry_text"))
                .then(|| Sym {
                    addr: s.address(),
                    size: s.size(),
                    name: name.to_string(),
                })
        })
        .collect();
    syms.sort_by_key(|s| (s.addr, std::cmp::Reverse(s.size), s.name.clone()));
    syms.dedup_by(|a, b| a.name == b.name);
    let section = file
        .sections()
        .find(|s| (s.address()..s.address() + s.size()).contains(&start))
        .context("no section holds __kentry_text_start")?;
    let bytes = section.data()?;
    let at = |a: u64, len: u64| -> Result<&[u8]> {
        let off = (a - section.address()) as usize;
        bytes
            .get(off..off + len as usize)
            .with_context(|| format!("{a:#x}+{len:#x} lies outside {:?}", section.name()))
    };

    let mut out = EntryText::default();
    for s in &syms {
        out.labels.entry(s.addr).or_insert_with(|| s.name.clone());
    }
    // The stubs: symbols not inside an earlier sized one (those are labels within a stub).
    // A stub without a size extends to the next stub (the IDT array: to its end label).
    let mut stubs: Vec<(u64, u64, String)> = Vec::new();
    for s in &syms {
        if stubs
            .last()
            .is_some_and(|(a, e, _)| *a <= s.addr && s.addr < *e)
        {
            continue;
        }
        if s.name == "kentry_idt_stubs_end" {
            continue;
        }
        stubs.push((s.addr, s.addr + s.size, s.name.clone()));
    }
    let idt_end = find("kentry_idt_stubs_end")?;
    for i in 0..stubs.len() {
        if stubs[i].1 == stubs[i].0 {
            let next = stubs.get(i + 1).map_or(end, |n| n.0);
            stubs[i].1 = if stubs[i].2 == "kentry_idt_stubs" {
                idt_end
            } else {
                next
            };
        }
    }
    let mut cursor = start;
    for (a, e, name) in &stubs {
        if *a > cursor {
            check_padding(cursor, at(cursor, a - cursor)?)?;
        }
        cursor = cursor.max(*e);
        let role = ROLES.iter().find(|(n, _)| n == name).map(|(_, r)| *r);
        match role {
            None => bail!(
                "{name} at {a:#x} in .text.kentry has no role in xtask/src/verify/enumerate.rs: \
                 a new entry stub must join `cargo xtask verify` (ROLES)"
            ),
            Some(Role::BenchOnly | Role::TestOnly) => {}
            Some(Role::Path) => {
                let insns = decode(*a, at(*a, e - a)?, name, |_| false);
                out.stubs.push((name.clone(), insns));
            }
            Some(Role::IdtStubs) => {
                if e - a != 256 * STUB_STRIDE {
                    bail!(
                        "kentry_idt_stubs spans {:#x} bytes, not 256 × {STUB_STRIDE}",
                        e - a
                    );
                }
                idt_stubs(&mut out, *a, at(*a, e - a)?)?;
            }
        }
    }
    if cursor < end {
        check_padding(cursor, at(cursor, end - cursor)?)?;
    }
    let nmi = stubs
        .iter()
        .find(|s| s.2 == "kentry_nmi_entry")
        .context("no kentry_nmi_entry")?;
    out.nmi_text = (nmi.0, nmi.1);
    out.syscall_entry = find("kentry_syscall_64")?;
    out.nmi_repeat = find("kentry_nmi_repeat")?;
    out.nmi_exit_window = find("kentry_nmi_exit_window")?;
    out.mc_stub = find("kentry_idt_stubs")? + 0x12 * STUB_STRIDE;
    out.timer_stub = find("kentry_idt_stubs")? + 0x20 * STUB_STRIDE;
    // The host kernel's NMI-like handler, which the paranoid path calls inside its region
    // (cr2.rs stops there).
    out.host_nmi_like = file
        .symbols()
        .find(|s| {
            s.name().is_ok_and(|n| {
                format!("{:#}", rustc_demangle::demangle(n))
                    .ends_with(" as kentry::host::Host>::nmi_like")
            })
        })
        .map(|s| s.address());
    super::rust_text::add(&mut out, data)?;
    Ok(out)
}

/// Decodes `code` at `addr` into the instructions of `stub`, up to the end or to the first
/// instruction for which `last` says so (included).
pub fn decode(
    addr: u64,
    code: &[u8],
    stub: &str,
    last: impl Fn(&Instruction) -> bool,
) -> Vec<Insn> {
    let mut d = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    let mut fmt = GasFormatter::new();
    let mut out = Vec::new();
    let mut ins = Instruction::default();
    while d.can_decode() {
        d.decode_out(&mut ins);
        let mut text = String::new();
        fmt.format(&ins, &mut text);
        out.push(Insn {
            addr: ins.ip(),
            stub: stub.to_string(),
            text,
        });
        if last(&ins) {
            break;
        }
    }
    out
}

/// Alignment padding must be NOPs (or INT3): anything else is code without a stub symbol.
fn check_padding(addr: u64, code: &[u8]) -> Result<()> {
    let mut d = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    for ins in &mut d {
        if !matches!(ins.mnemonic(), Mnemonic::Nop | Mnemonic::Int3) {
            bail!(
                "code at {:#x} in .text.kentry belongs to no stub symbol ({:?}): give it a \
                 global symbol with a .size and a role in xtask/src/verify/enumerate.rs",
                ins.ip(),
                ins.mnemonic()
            );
        }
    }
    Ok(())
}

/// Groups the 256 IDT stubs by kind and adds one representative of each.
fn idt_stubs(out: &mut EntryText, base: u64, code: &[u8]) -> Result<()> {
    let mut kinds: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut decoded: Vec<Vec<Insn>> = Vec::new();
    for v in 0..=255u8 {
        let addr = base + u64::from(v) * STUB_STRIDE;
        let slot = &code[usize::from(v) * STUB_STRIDE as usize..][..STUB_STRIDE as usize];
        let mut jump = None;
        let insns = decode(addr, slot, &format!("kentry_idt_stubs[{v:#x}]"), |i| {
            i.mnemonic() == Mnemonic::Jmp
        });
        let mut d = Decoder::with_ip(64, slot, addr, DecoderOptions::NONE);
        let mut pushes = 0;
        for i in &mut d {
            match i.mnemonic() {
                Mnemonic::Push => pushes += 1,
                Mnemonic::Jmp => {
                    jump = Some(i.near_branch_target());
                    break;
                }
                _ => {}
            }
        }
        let Some(target) = jump else {
            bail!("IDT stub {v:#x} at {addr:#x} has no jump to a common path");
        };
        let error_code = match pushes {
            1 => "CPU error code",
            2 => "dummy error code",
            n => bail!("IDT stub {v:#x} at {addr:#x} pushes {n} words, not 1 or 2"),
        };
        let to = out.symbolize(target);
        kinds
            .entry(format!("{error_code} → {to}"))
            .or_default()
            .push(v);
        decoded.push(insns);
    }
    for (kind, vectors) in &kinds {
        let rep = PREFERRED_VECTORS
            .iter()
            .copied()
            .find(|v| vectors.contains(v))
            .unwrap_or(vectors[0]);
        if rep == NMI_VECTOR {
            out.nmi_stub = base + u64::from(rep) * STUB_STRIDE;
        }
        out.stubs.push((
            format!("kentry_idt_stubs[{rep:#x}] ({kind})"),
            decoded[usize::from(rep)].clone(),
        ));
        out.idt_kinds.push((kind.clone(), vectors.clone()));
    }
    Ok(())
}

/// The NMI vector.
pub const NMI_VECTOR: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_nops() {
        assert!(check_padding(0x1000, &[0x90, 0x0f, 0x1f, 0x00, 0xcc]).is_ok());
        let err = check_padding(0x1000, &[0x90, 0x0f, 0x01, 0xf8]).unwrap_err();
        assert!(err.to_string().contains("0x1001"), "{err}");
    }

    #[test]
    fn decodes_boundaries() {
        // swapgs; movq %rsp, %gs:0x10; sysretq
        let code = [
            0x0f, 0x01, 0xf8, 0x65, 0x48, 0x89, 0x24, 0x25, 0x10, 0, 0, 0, 0x48, 0x0f, 0x07,
        ];
        let v = decode(0x100, &code, "s", |_| false);
        let addrs: Vec<u64> = v.iter().map(|i| i.addr).collect();
        assert_eq!(addrs, vec![0x100, 0x103, 0x10c]);
        assert_eq!(v[0].text, "swapgs");
        assert_eq!(v[2].text, "sysretq");
    }
}
