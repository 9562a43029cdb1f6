//! The two proofs of the noinstr check, on an [`Image`]:
//!
//! 1. [`scan`]: every instruction of the entry text, decoded linearly symbol by symbol, is
//!    free of `int3`, `int1`/`icebp`, `int n` and `into` — except at a static-key site, the
//!    one place a breakpoint could ever be written on purpose (the jump table is the
//!    allow-list). Bytes between symbols are padding and may only be `int3` or NOPs; the walk
//!    below shows nothing jumps there.
//! 2. [`walk`]: from every symbol of the entry text (the roots), every path is followed — both
//!    ways of each conditional jump and each static-key site, into every call and tail jump
//!    that lands in the entry text — carrying one bit of state: *noinstr* (the context-tracking
//!    transition has not been made yet on the way in, or has been made on the way out) or
//!    *instr* (between an `instrumentation_begin!` and an `instrumentation_end!` marker). In
//!    the noinstr state a call or jump must land in the entry text, and an indirect call or
//!    jump is refused (a jump table whose entries land in its own function is followed). A
//!    function entered in the noinstr state must not return (or leave by SYSRET/IRET) with a
//!    region open: its caller's tail would go unchecked. A call to a function that cannot
//!    return (no `ret` in its body or in the functions it tail-jumps to: a panic) ends its
//!    path, as the compiler may leave no `ud2` behind it. Like objtool's noinstr validation,
//!    which this follows, the markers are the documented exceptions; the walk proves that
//!    nothing else escapes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Formatter, GasFormatter, Instruction, Mnemonic,
};

use super::image::Image;

/// What a walk found along its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum State {
    /// Entry-only: calls and jumps must stay in the entry text.
    Noinstr,
    /// Inside an instrumentation region: anything may be called.
    Instr,
}

impl State {
    fn bit(self) -> u8 {
        match self {
            State::Noinstr => 1,
            State::Instr => 2,
        }
    }
}

/// Where control goes after one instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Jump(u64),
    CondJump(u64),
    Call(u64),
    IndirectJump,
    IndirectCall,
    /// `ret`: back to the caller.
    Return,
    /// `iretq`, `sysretq`: the path leaves the kernel code it started in.
    LeaveKernel,
    /// `ud2` and friends: the path stops.
    Trap,
    /// `int3`, `int1`, `int n`, `into`: never allowed in entry text.
    Breakpoint,
    /// A static-key site: falls through (disabled) or jumps to a target (enabled; one per
    /// key of the site, the last repeated where a site has one key).
    KeySite([u64; 2]),
}

/// A decoded instruction of the entry text.
#[derive(Debug, Clone, Copy)]
pub struct Insn {
    pub len: u64,
    flow: Flow,
    raw: Option<Instruction>,
}

fn classify(i: &Instruction) -> Flow {
    match i.mnemonic() {
        Mnemonic::Int3 | Mnemonic::Int1 | Mnemonic::Int | Mnemonic::Into => {
            return Flow::Breakpoint;
        }
        Mnemonic::Iret
        | Mnemonic::Iretd
        | Mnemonic::Iretq
        | Mnemonic::Sysret
        | Mnemonic::Sysretq
        | Mnemonic::Sysexit
        | Mnemonic::Sysexitq => {
            return Flow::LeaveKernel;
        }
        _ => {}
    }
    let direct = matches!(
        i.op0_kind(),
        iced_x86::OpKind::NearBranch16
            | iced_x86::OpKind::NearBranch32
            | iced_x86::OpKind::NearBranch64
    );
    match i.flow_control() {
        FlowControl::Next | FlowControl::XbeginXabortXend => Flow::Next,
        FlowControl::UnconditionalBranch if direct => Flow::Jump(i.near_branch_target()),
        FlowControl::ConditionalBranch if direct => Flow::CondJump(i.near_branch_target()),
        FlowControl::Call if direct => Flow::Call(i.near_branch_target()),
        FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch => Flow::IndirectJump,
        FlowControl::IndirectBranch => Flow::IndirectJump,
        FlowControl::Call | FlowControl::IndirectCall => Flow::IndirectCall,
        FlowControl::Return => Flow::Return,
        FlowControl::Interrupt => Flow::Breakpoint,
        FlowControl::Exception => Flow::Trap,
    }
}

/// One problem, with the path that reaches it (root first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: Vec<String>,
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.join(" → "), self.what)
    }
}

/// The figures of one root's walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootStats {
    pub name: String,
    pub addr: u64,
    /// Instructions visited (each address once per state).
    pub insns: usize,
    /// Of those, visited in the noinstr state (outside every instrumentation region).
    pub noinstr_insns: usize,
    /// Calls followed into the entry text (each callee once per state).
    pub calls: usize,
    /// Taken jumps followed (conditional and unconditional, tail jumps, static-key sites,
    /// each entry of a jump table).
    pub jumps: usize,
    /// Jump tables resolved (`jmp *table(,%reg,8)` whose entries land in its function).
    pub tables: usize,
}

/// The entry text decoded, and the ranges of its functions.
pub struct Decoded {
    pub insns: BTreeMap<u64, Insn>,
    /// (start, end) of each function: a sized symbol's extent, or up to the next symbol.
    ranges: Vec<(u64, u64)>,
}

/// Proof 1: decodes the entry text and reports every breakpoint-class instruction that is not
/// at a static-key site, every undecodable byte, and every gap between symbols that is not
/// padding.
pub fn scan(img: &Image) -> (Decoded, Vec<Violation>) {
    let mut violations = Vec::new();
    let mut starts: Vec<u64> = img.entry_symbols().map(|s| s.addr).collect();
    starts.push(img.entry.end);
    starts.sort();
    starts.dedup();
    let sized: Vec<(u64, u64)> = img
        .entry_symbols()
        .filter(|s| s.size > 0)
        .map(|s| (s.addr, (s.addr + s.size).min(img.entry.end)))
        .collect();
    let mut ranges = Vec::new();
    for w in starts.windows(2) {
        let (start, next) = (w[0], w[1]);
        let own = sized.iter().filter(|r| r.0 == start).map(|r| r.1).max();
        match own {
            Some(end) => ranges.push((start, end)),
            // A label inside a sized function (`kentry_nmi_repeat`) belongs to it.
            None if sized.iter().any(|r| r.0 < start && start < r.1) => {}
            None => ranges.push((start, next.min(img.entry.end))),
        }
    }
    let mut insns = BTreeMap::new();
    let mut covered_to = img.entry.start;
    for &(start, end) in &ranges {
        if start < covered_to {
            continue; // a label inside a function already decoded
        }
        check_padding(img, covered_to, start, &mut violations);
        decode_range(img, start, end, &mut insns, &mut violations);
        covered_to = end;
    }
    check_padding(img, covered_to, img.entry.end, &mut violations);
    (Decoded { insns, ranges }, violations)
}

fn slice(img: &Image, from: u64, to: u64) -> &[u8] {
    &img.bytes[(from - img.entry.start) as usize..(to - img.entry.start) as usize]
}

/// Bytes between symbols: `int3` (the linker's fill) or NOPs (the assembler's).
fn check_padding(img: &Image, from: u64, to: u64, out: &mut Vec<Violation>) {
    if from >= to {
        return;
    }
    let bytes = slice(img, from, to);
    let mut d = Decoder::with_ip(64, bytes, from, DecoderOptions::NONE);
    let mut i = Instruction::default();
    while d.can_decode() {
        d.decode_out(&mut i);
        if !matches!(i.mnemonic(), Mnemonic::Int3 | Mnemonic::Nop) {
            out.push(Violation {
                path: vec![img.describe(from)],
                what: format!(
                    "bytes outside every symbol are not padding at {:#x}",
                    i.ip()
                ),
            });
            return;
        }
    }
}

fn decode_range(
    img: &Image,
    start: u64,
    end: u64,
    insns: &mut BTreeMap<u64, Insn>,
    out: &mut Vec<Violation>,
) {
    let mut ip = start;
    while ip < end {
        if let Some(targets) = img.key_sites.get(&ip) {
            let site = slice(img, ip, (ip + 5).min(end));
            let jmp = |target: u64| {
                let rel = (target.wrapping_sub(ip + 5) as i64) as i32;
                [&[0xe9u8][..], &rel.to_le_bytes()].concat()
            };
            if site != [0x0f, 0x1f, 0x44, 0x00, 0x00]
                && !targets.iter().any(|&t| site == jmp(t))
                && site.first() != Some(&0xcc)
            {
                out.push(Violation {
                    path: vec![img.describe(ip)],
                    what: format!(
                        "static-key site holds {site:02x?}, not a 5-byte NOP or its jump"
                    ),
                });
            }
            insns.insert(
                ip,
                Insn {
                    len: 5,
                    flow: Flow::KeySite([targets[0], *targets.last().unwrap_or(&targets[0])]),
                    raw: None,
                },
            );
            ip += 5;
            continue;
        }
        let bytes = slice(img, ip, end);
        let mut d = Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE);
        let i = d.decode();
        if i.is_invalid() {
            out.push(Violation {
                path: vec![img.describe(ip)],
                what: format!("undecodable bytes at {ip:#x}"),
            });
            return;
        }
        let flow = classify(&i);
        if flow == Flow::Breakpoint {
            out.push(Violation {
                path: vec![img.describe(ip)],
                what: format!(
                    "`{}` at {ip:#x}: entry text must not take a breakpoint (or raise a software interrupt)",
                    format(&i)
                ),
            });
        }
        insns.insert(
            ip,
            Insn {
                len: i.len() as u64,
                flow,
                raw: Some(i),
            },
        );
        ip += i.len() as u64;
    }
}

/// AT&T text of one instruction, for reports.
pub fn format(i: &Instruction) -> String {
    let mut s = String::new();
    GasFormatter::new().format(i, &mut s);
    s
}

/// Violations found so far, each offending instruction once over all roots: (address, what)
/// → its index in the list and the rank of its path (a stub's path before a Rust function's,
/// then the shorter).
pub type Seen = HashMap<(u64, String), (usize, (bool, usize))>;

/// Proof 2: walks every path from `root` (module docs); returns its figures, and adds what it
/// finds to `out` (each offending instruction once over all roots, named by the shortest
/// path from a stub that reaches it, or else from a Rust entry function).
pub fn walk(
    img: &Image,
    dec: &Decoded,
    root: u64,
    name: &str,
    seen: &mut Seen,
    out: &mut Vec<Violation>,
) -> RootStats {
    let mut w = Walker::new(img, dec, root, name, seen, out);
    w.function(root, State::Noinstr);
    w.stats
}

/// The addresses the walk from `root` visits in the noinstr state — outside every
/// instrumentation region — anywhere in the entry text. `cargo xtask verify` injects at
/// those of the Rust part (xtask/src/verify/rust_text.rs): one source of truth for where the
/// regions are.
pub fn noinstr_reach(img: &Image, dec: &Decoded, root: u64) -> BTreeSet<u64> {
    let (mut seen, mut out) = (Seen::new(), Vec::new());
    let mut w = Walker::new(img, dec, root, "", &mut seen, &mut out);
    w.function(root, State::Noinstr);
    w.noinstr_at
}

struct Walker<'a> {
    img: &'a Image,
    dec: &'a Decoded,
    /// (entry, state in) → the states its returns leave with (a bit set); `None` while the
    /// function is being walked (a recursive call assumes it returns in the state it entered).
    summaries: HashMap<(u64, State), Option<u8>>,
    stats: RootStats,
    /// The functions entered on the current path, root first.
    chain: Vec<u64>,
    seen: &'a mut Seen,
    out: &'a mut Vec<Violation>,
    /// Every address visited in the noinstr state ([`noinstr_reach`]).
    noinstr_at: BTreeSet<u64>,
}

impl<'a> Walker<'a> {
    /// A walk from `root` (named `name` in its figures).
    fn new(
        img: &'a Image,
        dec: &'a Decoded,
        root: u64,
        name: &str,
        seen: &'a mut Seen,
        out: &'a mut Vec<Violation>,
    ) -> Self {
        Walker {
            img,
            dec,
            summaries: HashMap::new(),
            stats: RootStats {
                name: name.to_string(),
                addr: root,
                insns: 0,
                noinstr_insns: 0,
                calls: 0,
                jumps: 0,
                tables: 0,
            },
            chain: Vec::new(),
            seen,
            out,
            noinstr_at: BTreeSet::new(),
        }
    }

    fn range_of(&self, addr: u64) -> (u64, u64) {
        // The innermost range that contains addr: the latest start at or below it whose end
        // lies above it.
        let i = self.dec.ranges.partition_point(|r| r.0 <= addr);
        self.dec.ranges[..i]
            .iter()
            .rev()
            .find(|r| addr < r.1)
            .copied()
            .unwrap_or((addr, addr))
    }

    fn report(&mut self, at: u64, what: String) {
        let mut path: Vec<String> = self.chain.iter().map(|&a| self.img.describe(a)).collect();
        path[0] = self.stats.name.clone();
        path.push(self.img.describe(at));
        let rank = (self.img.noinstr.contains(&self.stats.addr), path.len());
        match self.seen.get(&(at, what.clone())).copied() {
            Some((_, best)) if best <= rank => {}
            Some((i, _)) => {
                self.out[i].path = path;
                self.seen.insert((at, what), (i, rank));
            }
            None => {
                self.seen.insert((at, what.clone()), (self.out.len(), rank));
                self.out.push(Violation { path, what });
            }
        }
    }

    /// Walks the function entered at `entry` in state `st`; returns the states its `ret`s
    /// leave with, as a bit set.
    fn function(&mut self, entry: u64, st: State) -> u8 {
        let entered = st;
        match self.summaries.get(&(entry, st)) {
            Some(Some(exits)) => return *exits,
            Some(None) => return st.bit(),
            None => {}
        }
        self.summaries.insert((entry, st), None);
        self.chain.push(entry);
        let (lo, hi) = self.range_of(entry);
        let mut exits = 0u8;
        let mut visited: HashSet<(u64, State)> = HashSet::new();
        let mut work = vec![(entry, st)];
        while let Some((addr, mut st)) = work.pop() {
            let begin = self.img.instr_begin.contains(&addr);
            let end = self.img.instr_end.contains(&addr);
            // A begin and an end on one address: an empty region, so noinstr (the stricter
            // reading, whichever came first in the source).
            if end {
                st = State::Noinstr;
            } else if begin {
                st = State::Instr;
            }
            if !visited.insert((addr, st)) {
                continue;
            }
            let Some(insn) = self.dec.insns.get(&addr).copied() else {
                self.report(
                    addr,
                    format!("control reaches {addr:#x}, which is no instruction of the entry text"),
                );
                continue;
            };
            self.stats.insns += 1;
            self.stats.noinstr_insns += usize::from(st == State::Noinstr);
            if st == State::Noinstr {
                self.noinstr_at.insert(addr);
            }
            let next = addr + insn.len;
            // Past the end of the function after a call: the callee does not return (the
            // compiler left no `ud2` behind a panic). Past it after anything else: the code
            // runs into whatever the linker put next, which the walk refuses.
            let is_call = matches!(insn.flow, Flow::Call(_) | Flow::IndirectCall);
            if next >= hi
                && !is_call
                && matches!(insn.flow, Flow::Next | Flow::CondJump(_) | Flow::KeySite(_))
            {
                self.report(
                    addr,
                    format!("runs past the end of its function at {next:#x}"),
                );
            }
            let fall = |work: &mut Vec<(u64, State)>, s: State| {
                if next < hi {
                    work.push((next, s));
                }
            };
            match insn.flow {
                Flow::Next => fall(&mut work, st),
                Flow::Return | Flow::LeaveKernel
                    if st == State::Instr && entered == State::Noinstr =>
                {
                    // objtool's "return with instrumentation enabled": the caller (a stub)
                    // would go on unchecked, and so would the interrupted context.
                    self.report(addr, "returns inside an instrumentation region".into());
                }
                Flow::Return => exits |= st.bit(),
                Flow::LeaveKernel | Flow::Trap | Flow::Breakpoint => {}
                Flow::KeySite([t, u]) if t != u => {
                    fall(&mut work, st);
                    for t in [t, u] {
                        self.stats.jumps += 1;
                        if (lo..hi).contains(&t) {
                            work.push((t, st));
                        } else {
                            exits |= self.transfer(addr, t, st, false);
                        }
                    }
                }
                Flow::KeySite([t, _]) | Flow::CondJump(t) => {
                    fall(&mut work, st);
                    self.stats.jumps += 1;
                    if (lo..hi).contains(&t) {
                        work.push((t, st));
                    } else {
                        exits |= self.transfer(addr, t, st, false);
                    }
                }
                Flow::Jump(t) => {
                    self.stats.jumps += 1;
                    if (lo..hi).contains(&t) {
                        work.push((t, st));
                    } else {
                        exits |= self.transfer(addr, t, st, false);
                    }
                }
                Flow::Call(t) => {
                    let back = self.transfer(addr, t, st, true);
                    for s in [State::Noinstr, State::Instr] {
                        if back & s.bit() != 0 {
                            fall(&mut work, s);
                        }
                    }
                }
                Flow::IndirectJump if !self.jump_table(&insn, lo, hi, st, &mut work) => {
                    // Refused in the noinstr state; in a region too, since the walk would
                    // lose the paths behind it (and the `instrumentation_end!` on them).
                    let text = insn.raw.map(|i| format(&i)).unwrap_or_default();
                    let what = match st {
                        State::Noinstr => {
                            format!("indirect `{text}` before the context-tracking transition")
                        }
                        State::Instr => {
                            format!("indirect `{text}` that the walk cannot follow (no jump table)")
                        }
                    };
                    self.report(addr, what);
                }
                Flow::IndirectJump => {}
                Flow::IndirectCall => {
                    if st == State::Noinstr {
                        let what = format!(
                            "indirect `{}` before the context-tracking transition",
                            insn.raw.map(|i| format(&i)).unwrap_or_default()
                        );
                        self.report(addr, what);
                    }
                    fall(&mut work, st);
                }
            }
        }
        self.chain.pop();
        self.summaries.insert((entry, st), Some(exits));
        exits
    }

    /// A jump table: `jmp *disp(,%reg,8)` with an absolute table of 8-byte entries in
    /// read-only data (the kernel code model). Its entries are read while they land inside
    /// the function `lo..hi` — a table's end is not recorded, so a neighbouring table of the
    /// same function may be read too: more paths, never fewer. Pushes every entry and returns
    /// true; false when the jump is no such table.
    fn jump_table(
        &mut self,
        insn: &Insn,
        lo: u64,
        hi: u64,
        st: State,
        work: &mut Vec<(u64, State)>,
    ) -> bool {
        let Some(i) = insn.raw else { return false };
        let table_form = i.op0_kind() == iced_x86::OpKind::Memory
            && i.memory_base() == iced_x86::Register::None
            && i.memory_index() != iced_x86::Register::None
            && i.memory_index_scale() == 8;
        if !table_form {
            return false;
        }
        let table = i.memory_displacement64();
        let mut n = 0;
        while n < 1024 {
            match self.img.rodata_u64(table + 8 * n) {
                Some(t) if (lo..hi).contains(&t) => work.push((t, st)),
                _ => break,
            }
            n += 1;
        }
        if n == 0 {
            return false;
        }
        self.stats.tables += 1;
        self.stats.jumps += n as usize;
        true
    }

    /// A call (or a jump out of the current function) from `at` to `target` in state `st`;
    /// returns the states control comes back in.
    fn transfer(&mut self, at: u64, target: u64, st: State, call: bool) -> u8 {
        if self.img.entry.contains(&target) {
            if call {
                self.stats.calls += 1;
            }
            return self.function(target, st);
        }
        if st == State::Noinstr {
            let kind = if call { "calls" } else { "jumps to" };
            let what = format!(
                "{kind} {} ({target:#x}), outside the entry text, before the context-tracking transition",
                self.img.describe(target)
            );
            self.report(at, what);
        }
        if returns(self.img, target, 0) {
            st.bit()
        } else {
            0 // a panic: the path ends here (the compiler may leave no `ud2` behind it)
        }
    }
}

/// Whether the function at `addr`, outside the entry text, can return to its caller: its body
/// has a `ret` (or an IRET/SYSRET, or an indirect jump), or a jump out of its extent to a
/// function that can. Unknown functions (no sized symbol there, no code, undecodable bytes,
/// a chain deeper than a few tail jumps) are taken to return: the walk then goes on after
/// the call, which can only find more.
fn returns(img: &Image, addr: u64, depth: u32) -> bool {
    if depth > 4 {
        return true;
    }
    let Some(sym) = img.symbols.iter().find(|s| s.addr == addr && s.size > 0) else {
        return true;
    };
    let Some(bytes) = img.code(addr, sym.size) else {
        return true;
    };
    let end = addr + sym.size;
    let mut d = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
    let mut i = Instruction::default();
    while d.can_decode() {
        d.decode_out(&mut i);
        if i.is_invalid() {
            return true;
        }
        match classify(&i) {
            Flow::Return | Flow::LeaveKernel | Flow::IndirectJump => return true,
            Flow::Jump(t) | Flow::CondJump(t)
                if !(addr..end).contains(&t) && returns(img, t, depth + 1) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}
