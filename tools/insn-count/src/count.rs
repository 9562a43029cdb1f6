//! The per-vCPU counting rule of the plugin, apart from QEMU so that host tests can drive it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The marker: `rdtsc` with a DS segment prefix (user/src/bench.rs `timed_asm!`).
pub const MARKER: [u8; 3] = [0x3e, 0x0f, 0x31];

/// vCPUs counted; a vCPU index beyond is not counted and its markers print nothing.
pub const MAX_VCPUS: usize = 64;

pub fn is_marker(bytes: &[u8]) -> bool {
    bytes == MARKER
}

/// The line printed at a marker: the vCPU's instructions before the marker.
pub fn marker_line(vcpu: u32, count: u64) -> String {
    format!("kentry-insn vcpu={vcpu} count={count}\n")
}

/// Virtual addresses are compared in their low 57 bits: a canonical x86-64 address (4- or
/// 5-level paging) is its low 57 bits sign-extended, so those bits tell addresses apart.
const ADDR_BITS: u32 = 57;
const ADDR_MASK: u64 = (1 << ADDR_BITS) - 1;

/// An instruction as its execution callback sees it: where it sits in its translation block,
/// whether it is a marker, and where it starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsnKind {
    pub first: bool,
    pub last: bool,
    pub marker: bool,
    /// Its length in bytes (x86: at most 15).
    pub size: u8,
    /// Its address, in its low [`ADDR_BITS`] bits.
    pub vaddr: u64,
}

impl InsnKind {
    /// As the callback's userdata word: 3 flag bits, 4 bits of size, 57 bits of address.
    pub fn encode(self) -> u64 {
        u64::from(self.first)
            | u64::from(self.last) << 1
            | u64::from(self.marker) << 2
            | u64::from(self.size & 0xf) << 3
            | (self.vaddr & ADDR_MASK) << 7
    }

    pub fn decode(word: u64) -> Self {
        Self {
            first: word & 1 != 0,
            last: word & 2 != 0,
            marker: word & 4 != 0,
            size: ((word >> 3) & 0xf) as u8,
            vaddr: word >> 7,
        }
    }

    /// The address after it (low [`ADDR_BITS`] bits).
    fn end(self) -> u64 {
        (self.vaddr + u64::from(self.size)) & ADDR_MASK
    }
}

/// One vCPU's count. Only that vCPU's thread touches it (QEMU runs a vCPU's callbacks on the
/// vCPU's own thread), so relaxed atomics are enough; they only make the sharing sound.
struct VcpuCount {
    /// Instructions started, less those recognised as faulted.
    started: AtomicU64,
    /// The previous instruction started was not the last of its block.
    mid_block: AtomicBool,
    /// The address after the previous instruction started.
    prev_end: AtomicU64,
}

/// The counts of every vCPU.
pub struct Counters {
    vcpus: [VcpuCount; MAX_VCPUS],
}

pub static COUNTERS: Counters = Counters::new();

impl Counters {
    pub const fn new() -> Self {
        Self {
            vcpus: [const {
                VcpuCount {
                    started: AtomicU64::new(0),
                    mid_block: AtomicBool::new(false),
                    prev_end: AtomicU64::new(0),
                }
            }; MAX_VCPUS],
        }
    }

    /// `vcpu` starts an instruction of `kind`. A block start right after an instruction from
    /// the middle of a block, elsewhere than at that instruction's end, means that instruction
    /// faulted: it leaves the count (its retry will count it). (A block that continues at the
    /// end of the previous one's seemingly middle instruction is a block QEMU cut short after
    /// the plugin saw it, as it does before an instruction that crosses a page.) Returns the
    /// count before this instruction if it is a marker.
    pub fn start(&self, vcpu: u32, kind: InsnKind) -> Option<u64> {
        let c = self.vcpus.get(vcpu as usize)?;
        let mut n = c.started.load(Ordering::Relaxed);
        if kind.first
            && c.mid_block.load(Ordering::Relaxed)
            && c.prev_end.load(Ordering::Relaxed) != kind.vaddr
        {
            n -= 1;
        }
        c.started.store(n + 1, Ordering::Relaxed);
        c.mid_block.store(!kind.last, Ordering::Relaxed);
        c.prev_end.store(kind.end(), Ordering::Relaxed);
        kind.marker.then_some(n)
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instruction of `size` bytes at `vaddr`, first/last in its block as said.
    fn insn(vaddr: u64, size: u8, first: bool, last: bool) -> InsnKind {
        InsnKind {
            first,
            last,
            marker: false,
            size,
            vaddr,
        }
    }

    /// A marker that ends its block.
    fn marker(vaddr: u64, first: bool) -> InsnKind {
        InsnKind {
            marker: true,
            ..insn(vaddr, 3, first, true)
        }
    }

    #[test]
    fn kind_round_trips() {
        let k = InsnKind {
            first: true,
            last: false,
            marker: true,
            size: 15,
            vaddr: 0x01ff_ffff_8010_60e0 & ADDR_MASK,
        };
        assert_eq!(InsnKind::decode(k.encode()), k);
        // A kernel address (sign-extended) keeps its low 57 bits.
        let k = insn(0xffff_ffff_8010_60e0, 2, false, true);
        assert_eq!(
            InsnKind::decode(k.encode()).vaddr,
            0xffff_ffff_8010_60e0 & ADDR_MASK
        );
    }

    #[test]
    fn counts_whole_blocks() {
        let c = Counters::new();
        c.start(0, marker(0x100, true));
        c.start(0, insn(0x103, 2, false, true));
        c.start(0, insn(0x200, 1, true, false));
        c.start(0, insn(0x201, 1, false, true));
        // marker, 2 instructions, 2 instructions before the next marker.
        assert_eq!(c.start(0, marker(0x100, true)), Some(4));
        // vCPU 1 counts on its own.
        assert_eq!(c.start(1, marker(0x100, false)), Some(0));
    }

    #[test]
    fn a_fault_in_mid_block_is_counted_once() {
        let c = Counters::new();
        c.start(0, marker(0x50, true));
        // Block: store (faults), add, jnz. The store starts, the block is left for the
        // handler (a block of its own), and the retry runs the whole block.
        c.start(0, insn(0x100, 3, true, false)); // the store, faulting
        c.start(0, insn(0x9000, 1, true, true)); // the handler
        c.start(0, insn(0x100, 3, true, false)); // retry: store, add, jnz
        c.start(0, insn(0x103, 4, false, false));
        c.start(0, insn(0x107, 2, false, true));
        // marker 1 + handler 1 + store 1 + add 1 + jnz 1
        assert_eq!(c.start(0, marker(0x50, true)), Some(5));
    }

    #[test]
    fn a_block_cut_short_is_no_fault() {
        let c = Counters::new();
        c.start(0, marker(0x50, true));
        // The plugin saw a block of 3, QEMU ran its first 2 and continued at the third.
        c.start(0, insn(0xffa, 2, true, false));
        c.start(0, insn(0xffc, 2, false, false));
        c.start(0, insn(0xffe, 4, true, true));
        // marker + 3
        assert_eq!(c.start(0, marker(0x50, true)), Some(4));
    }

    #[test]
    fn marker_lines() {
        assert!(is_marker(&[0x3e, 0x0f, 0x31]));
        assert!(!is_marker(&[0x0f, 0x31]));
        assert_eq!(marker_line(1, 42), "kentry-insn vcpu=1 count=42\n");
    }
}
