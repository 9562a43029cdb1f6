//! Layout decisions of execve that depend only on numbers: where a static-pie is loaded,
//! where the program break starts, and where each part of the initial stack goes
//! (linux-abi.md §3.1, binfmt_elf's create_elf_tables).

use crate::page::{PAGE_SIZE, align_down, align_up};
use crate::vma::{ELF_ET_DYN_BASE, STACK_RLIMIT};
use alloc::vec::Vec;

/// How far the initial stack mapping reaches below the argument pages (Linux's
/// stack_expand); the stack grows further down on faults, up to RLIMIT_STACK.
pub const STACK_EXPAND: u64 = 128 * 1024;
/// Linux's MAX_ARG_STRLEN: the longest argument or environment string (with its NUL).
pub const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;

/// The arguments and environment do not fit (E2BIG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooBig;

/// The alignment a PT_LOAD asks for, folded into the largest so far: only a power of two
/// larger than a page counts (binfmt_elf's maximum_alignment).
#[inline]
pub fn fold_align(max_align: u64, p_align: u64) -> u64 {
    if p_align.is_power_of_two() && p_align > max_align {
        p_align
    } else {
        max_align
    }
}

/// The load bias of an ELF image whose first PT_LOAD is at `first_vaddr`: 0 for ET_EXEC;
/// for ET_DYN without an interpreter (static-pie), ELF_ET_DYN_BASE aligned down to the
/// segments' alignment (capped at 1 GiB), minus the first segment's address, page-aligned.
#[inline]
pub fn load_bias(et_dyn: bool, first_vaddr: u64, max_align: u64) -> u64 {
    if !et_dyn {
        return 0;
    }
    align_down(
        align_down(ELF_ET_DYN_BASE, max_align.min(1 << 30)).wrapping_sub(first_vaddr),
        PAGE_SIZE,
    )
}

/// Where the program break starts: the page after the highest byte of any segment.
#[inline]
pub fn brk_start(highest_segment_end: u64) -> u64 {
    align_up(highest_segment_end, PAGE_SIZE)
}

/// The string area at the top of the initial stack, lowest first: every argv string, every
/// envp string, then execfn, each with its NUL, then 8 zero bytes (the end marker Linux
/// leaves at the top). Returns the bytes and each string's offset in them (argv, envp,
/// execfn); TooBig when one string reaches MAX_ARG_STRLEN.
#[inline]
pub fn pack_strings(
    argv: &[&[u8]],
    envp: &[&[u8]],
    execfn: &[u8],
) -> Result<(Vec<u8>, Vec<u64>), TooBig> {
    let all = || {
        argv.iter()
            .chain(envp.iter())
            .chain(core::iter::once(&execfn))
    };
    // Sized once: no reallocation while packing (each string, its NUL, the end marker).
    let total = all().map(|s| s.len() + 1).sum::<usize>() + 8;
    let mut strings: Vec<u8> = Vec::with_capacity(total);
    let mut offsets: Vec<u64> = Vec::with_capacity(argv.len() + envp.len() + 1);
    for s in all() {
        if s.len() >= MAX_ARG_STRLEN {
            return Err(TooBig);
        }
        offsets.push(strings.len() as u64);
        strings.extend_from_slice(s);
        strings.push(0);
    }
    strings.extend_from_slice(&[0u8; 8]);
    Ok((strings, offsets))
}

/// Where the parts of the initial stack go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackLayout {
    /// The lowest byte of the string area (argv[0]).
    pub strings_low: u64,
    /// "x86_64\0" (AT_PLATFORM), 7 bytes just below the 16-aligned string area.
    pub platform: u64,
    /// The 16 random bytes (AT_RANDOM), just below the platform string.
    pub random: u64,
    /// The initial stack pointer, 16-aligned: argc, argv[], NULL, envp[], NULL, auxv.
    pub sp: u64,
    /// The lowest address of the initial stack mapping.
    pub map_start: u64,
}

/// The initial stack's layout below `top` for a string area of `strings_len` bytes, `argc`
/// arguments, `envc` environment strings and `auxv_pairs` auxiliary vector entries (AT_NULL
/// included). TooBig when it needs more than a quarter of RLIMIT_STACK (Linux's limit).
#[inline]
pub fn stack_layout(
    top: u64,
    strings_len: u64,
    argc: usize,
    envc: usize,
    auxv_pairs: usize,
) -> Result<StackLayout, TooBig> {
    layout_words(
        top,
        strings_len,
        argc,
        envc,
        auxv_pairs,
        b"x86_64\0".len() as u64,
        8,
    )
}

/// [`stack_layout`] for an i386 program (compat_binfmt_elf): "i686\0" as the platform string,
/// and argc, the pointers and the auxv pairs in 4-byte words.
#[inline]
pub fn stack_layout_ia32(
    top: u64,
    strings_len: u64,
    argc: usize,
    envc: usize,
    auxv_pairs: usize,
) -> Result<StackLayout, TooBig> {
    layout_words(
        top,
        strings_len,
        argc,
        envc,
        auxv_pairs,
        b"i686\0".len() as u64,
        4,
    )
}

#[inline]
fn layout_words(
    top: u64,
    strings_len: u64,
    argc: usize,
    envc: usize,
    auxv_pairs: usize,
    platform_len: u64,
    word: u64,
) -> Result<StackLayout, TooBig> {
    let strings_low = top - strings_len;
    let platform = (strings_low & !15) - platform_len;
    let random = platform - 16;
    // argc, argv[] and its NULL, envp[] and its NULL.
    let words = 1 + (argc + 1) + (envc + 1);
    let sp = (random - auxv_pairs as u64 * 2 * word - words as u64 * word) & !15;
    if top - sp > STACK_RLIMIT / 4 {
        return Err(TooBig);
    }
    let map_start =
        (align_down(strings_low, PAGE_SIZE) - STACK_EXPAND).min(align_down(sp, PAGE_SIZE));
    Ok(StackLayout {
        strings_low,
        platform,
        random,
        sp,
        map_start,
    })
}

#[cfg(test)]
mod tests;
