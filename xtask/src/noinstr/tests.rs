//! The walker on small hand-assembled images: each rule, and each rule broken.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::symbols::Symbol;

const BASE: u64 = 0xffff_ffff_8010_0000;
/// Outside the entry text: stands for a logging function of the host.
const LOG: u64 = 0xffff_ffff_8020_0000;

/// One function of a test image: its name, offset from [`BASE`] and code.
struct Func {
    name: &'static str,
    at: u64,
    code: Vec<u8>,
}

fn call(from: u64, to: u64) -> Vec<u8> {
    rel32(0xe8, from, to)
}

fn jmp(from: u64, to: u64) -> Vec<u8> {
    rel32(0xe9, from, to)
}

fn rel32(op: u8, from: u64, to: u64) -> Vec<u8> {
    let rel = to.wrapping_sub(from + 5) as i64 as i32;
    let mut v = vec![op];
    v.extend_from_slice(&rel.to_le_bytes());
    v
}

const SWAPGS: [u8; 3] = [0x0f, 0x01, 0xf8];
const SYSRETQ: [u8; 3] = [0x48, 0x0f, 0x07];
const RET: u8 = 0xc3;
const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/// An image whose entry text holds `funcs` (gaps filled with the linker's `int3`), whose
/// noinstr part starts at the first function named `rust_*`, with a `log` symbol outside.
fn image(funcs: Vec<Func>) -> Image {
    let end = funcs
        .iter()
        .map(|f| f.at + f.code.len() as u64)
        .max()
        .unwrap();
    let end = end.next_multiple_of(16);
    let mut bytes = vec![0xcc; end as usize];
    let mut symbols = vec![Symbol {
        addr: LOG,
        size: 16,
        name: "host::log".into(),
    }];
    for f in &funcs {
        bytes[f.at as usize..f.at as usize + f.code.len()].copy_from_slice(&f.code);
        symbols.push(Symbol {
            addr: BASE + f.at,
            size: f.code.len() as u64,
            name: f.name.into(),
        });
    }
    symbols.sort();
    let noinstr_start = funcs
        .iter()
        .find(|f| f.name.starts_with("rust_"))
        .map_or(end, |f| f.at);
    Image {
        entry: BASE..BASE + end,
        noinstr: BASE + noinstr_start..BASE + end,
        bytes,
        symbols,
        key_sites: BTreeMap::new(),
        instr_begin: BTreeSet::new(),
        instr_end: BTreeSet::new(),
        rodata: Vec::new(),
        text: Vec::new(),
    }
}

/// A SYSCALL-like stub at 0 that calls `rust_entry` at 0x40, whose code is `body` followed
/// by `ret`.
fn stub_and_entry(body: impl FnOnce(u64) -> Vec<u8>) -> Image {
    let mut stub = SWAPGS.to_vec();
    stub.extend(call(BASE + 3, BASE + 0x40));
    stub.extend(SWAPGS);
    stub.extend(SYSRETQ);
    let mut rust = body(BASE + 0x40);
    rust.push(RET);
    image(vec![
        Func {
            name: "entry_stub",
            at: 0,
            code: stub,
        },
        Func {
            name: "rust_entry",
            at: 0x40,
            code: rust,
        },
    ])
}

fn only(out: &Outcome) -> &Violation {
    assert_eq!(out.violations.len(), 1, "{:#?}", out.violations);
    &out.violations[0]
}

#[test]
fn clean_stub_passes_with_its_figures() {
    let img = stub_and_entry(|_| vec![0x90]);
    let out = check(&img);
    assert!(out.passed(), "{:#?}", out.violations);
    let stub = &out.roots[0];
    assert_eq!(stub.name, "entry_stub");
    // swapgs, call, (nop, ret in rust_entry), swapgs, sysretq
    assert_eq!((stub.insns, stub.calls, stub.jumps), (6, 1, 0));
    assert_eq!(out.decoded, 6);
}

#[test]
fn a_call_out_before_the_transition_is_named_with_its_path() {
    let img = stub_and_entry(|at| call(at, LOG));
    let v = only(&check(&img)).to_string();
    assert!(
        v.starts_with("entry_stub → rust_entry → rust_entry: calls host::log"),
        "{v}"
    );
}

#[test]
fn a_begin_marker_allows_the_call_and_an_end_marker_closes_the_region() {
    let mut img = stub_and_entry(|at| [call(at, LOG), call(at + 5, LOG)].concat());
    img.instr_begin.insert(BASE + 0x40);
    img.instr_end.insert(BASE + 0x4a); // before the ret
    assert!(check(&img).passed());
    // An end between the two calls: the second is out of the region.
    img.instr_end.insert(BASE + 0x45);
    let v = only(&check(&img)).to_string();
    assert!(v.contains("rust_entry+0x5: calls host::log"), "{v}");
    // A begin and an end on one address are an empty region: both calls are out.
    img.instr_end.clear();
    img.instr_end.insert(BASE + 0x40);
    assert_eq!(check(&img).violations.len(), 2);
}

#[test]
fn a_region_must_be_closed_before_the_return() {
    // rust_entry opens a region, calls the log, and returns with the region open.
    let mut img = stub_and_entry(|at| call(at, LOG));
    img.instr_begin.insert(BASE + 0x40);
    let v = only(&check(&img)).to_string();
    assert!(
        v.contains("rust_entry+0x5: returns inside an instrumentation region"),
        "{v}"
    );
    img.instr_end.insert(BASE + 0x45);
    assert!(check(&img).passed());
}

#[test]
fn a_callee_entered_in_a_region_may_close_it() {
    // rust_entry opens a region and calls rust_helper, which closes it and returns; then
    // rust_entry calls the log: refused, since the region is closed. Without the helper's
    // end marker the return is the violation.
    let helper = BASE + 0x60;
    let mut img = stub_and_entry(|at| [call(at, helper), call(at + 5, LOG)].concat());
    img.entry.end = img.entry.end.max(helper + 16);
    img.noinstr.end = img.entry.end;
    img.bytes.resize((img.entry.end - BASE) as usize, 0xcc);
    img.bytes[0x60] = RET;
    img.symbols.push(Symbol {
        addr: helper,
        size: 1,
        name: "rust_helper".into(),
    });
    img.symbols.sort();
    img.instr_begin.insert(BASE + 0x40);
    let v = only(&check(&img)).to_string();
    assert!(
        v.contains("returns inside an instrumentation region"),
        "{v}"
    );
    img.instr_end.insert(helper);
    let v = only(&check(&img)).to_string();
    assert!(v.contains("rust_entry+0x5: calls host::log"), "{v}");
}

#[test]
fn breakpoints_are_refused_except_at_a_static_key_site() {
    for (bp, name) in [
        (&[0xcc][..], "int3"),
        (&[0xf1][..], "int1"),
        (&[0xcd, 0x03][..], "int $3"),
    ] {
        let img = stub_and_entry(|_| bp.to_vec());
        let out = check(&img);
        let v = only(&out).to_string();
        assert!(v.contains(name) && v.contains("rust_entry"), "{v}");
    }
    // An int3 written over a static-key site (the documented exception) is allowed.
    let mut img = stub_and_entry(|_| NOP5.to_vec());
    img.key_sites.insert(BASE + 0x40, vec![BASE + 0x45]);
    assert!(check(&img).passed());
    img.bytes[0x40] = 0xcc;
    assert!(check(&img).passed());
    // Anything else there is not.
    img.bytes[0x40..0x45].copy_from_slice(&[0x90; 5]);
    assert!(only(&check(&img)).what.contains("static-key site"));
}

#[test]
fn both_ways_of_a_static_key_site_are_walked() {
    // site: NOP5 (disabled) falls through to `ret`; its target calls the log.
    let img_with = |target_calls: bool| {
        let mut img = stub_and_entry(|at| {
            let mut c = NOP5.to_vec();
            c.push(RET);
            if target_calls {
                c.extend(call(at + 6, LOG));
            } else {
                c.push(0x90);
            }
            c
        });
        img.key_sites.insert(BASE + 0x40, vec![BASE + 0x46]);
        img
    };
    assert!(check(&img_with(false)).passed());
    let out = check(&img_with(true));
    assert!(
        only(&out)
            .to_string()
            .contains("rust_entry+0x6: calls host::log")
    );
    assert!(out.roots[0].jumps >= 1);
}

#[test]
fn every_target_of_a_shared_static_key_site_is_walked() {
    // site (two keys): NOP5 falls through to `ret`; the first key's target is a `ret` too,
    // the second's calls the log.
    let img_with = |second_calls: bool| {
        let mut img = stub_and_entry(|at| {
            let mut c = NOP5.to_vec();
            c.push(RET);
            c.push(RET);
            if second_calls {
                c.extend(call(at + 7, LOG));
            } else {
                c.push(0x90);
            }
            c
        });
        img.key_sites
            .insert(BASE + 0x40, vec![BASE + 0x46, BASE + 0x47]);
        img
    };
    assert!(check(&img_with(false)).passed());
    let out = check(&img_with(true));
    assert!(
        only(&out)
            .to_string()
            .contains("rust_entry+0x7: calls host::log")
    );
    // A site holding the second key's jump is a site, not a foreign instruction.
    let mut img = img_with(false);
    img.bytes[0x40..0x45].copy_from_slice(&[0xe9, 0x02, 0, 0, 0]);
    assert!(check(&img).passed());
}

#[test]
fn indirect_calls_are_refused_before_the_transition_only() {
    let mut img = stub_and_entry(|_| vec![0xff, 0xd0]); // call *%rax
    assert!(only(&check(&img)).what.contains("indirect `call"));
    img.instr_begin.insert(BASE + 0x40);
    img.instr_end.insert(BASE + 0x42);
    assert!(check(&img).passed());
}

#[test]
fn jump_tables_are_followed_into_every_entry() {
    // jmp *TABLE(,%rax,8) with two entries: a ret, and a call out.
    const TABLE: u64 = 0xffff_ffff_8030_0000;
    let mut img = stub_and_entry(|at| {
        let mut c = vec![0xff, 0x24, 0xc5];
        c.extend(&(TABLE as u32).to_le_bytes());
        c.push(RET); // at + 7
        c.extend(call(at + 8, LOG)); // at + 8
        c
    });
    let entries = [BASE + 0x47, BASE + 0x48, 0];
    let table: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
    img.rodata.push((TABLE, table));
    let out = check(&img);
    assert!(
        only(&out)
            .to_string()
            .contains("rust_entry+0x8: calls host::log")
    );
    assert_eq!(out.roots[0].tables, 1);
    // Without the table in the image the jump is an indirect one.
    img.rodata.clear();
    assert!(only(&check(&img)).what.contains("indirect `jmp"));
}

#[test]
fn padding_is_allowed_but_never_reached() {
    // A jump from the stub into the int3 fill between the functions.
    let mut stub = SWAPGS.to_vec();
    stub.extend(jmp(BASE + 3, BASE + 0x20));
    let img = image(vec![
        Func {
            name: "entry_stub",
            at: 0,
            code: stub,
        },
        Func {
            name: "rust_entry",
            at: 0x40,
            code: vec![RET],
        },
    ]);
    let v = only(&check(&img)).to_string();
    assert!(v.contains("no instruction of the entry text"), "{v}");
    // Code between symbols is not padding.
    let mut img = stub_and_entry(|_| vec![0x90]);
    img.bytes[0x30] = 0x90;
    img.bytes[0x31] = RET;
    assert!(only(&check(&img)).what.contains("not padding"));
}

#[test]
fn running_off_the_end_of_a_function_is_a_violation() {
    // rust_entry ends in a nop, not a ret: it would run into the padding.
    let mut img = stub_and_entry(|_| vec![0x90]);
    img.bytes[0x41] = 0x90;
    let v = only(&check(&img)).to_string();
    assert!(v.contains("runs past the end"), "{v}");
    // Ending in a call (to a function that does not return, in a region) is fine.
    let mut img = stub_and_entry(|at| call(at, LOG));
    img.instr_begin.insert(BASE + 0x40);
    img.bytes[0x45] = 0xcc; // the `ret` becomes padding: the function is the call alone
    img.symbols
        .iter_mut()
        .find(|s| s.name == "rust_entry")
        .unwrap()
        .size = 5;
    let out = check(&img);
    assert!(out.passed(), "{:#?}", out.violations);
}

#[test]
fn nothing_follows_a_call_to_a_function_that_cannot_return() {
    // rust_entry: region, call PANIC, then `ret` with the region open — unreachable when PANIC
    // cannot return (its body is `jmp .`), a violation when it can (`ret`).
    const PANIC: u64 = 0xffff_ffff_8020_1000;
    let with_panic = |body: Vec<u8>| {
        let mut img = stub_and_entry(|at| call(at, PANIC));
        img.instr_begin.insert(BASE + 0x40);
        img.symbols.push(Symbol {
            addr: PANIC,
            size: body.len() as u64,
            name: "host::panic".into(),
        });
        img.symbols.sort();
        img.text.push((PANIC, body));
        img
    };
    let out = check(&with_panic(vec![0xeb, 0xfe]));
    assert!(out.passed(), "{:#?}", out.violations);
    let v = only(&check(&with_panic(vec![RET]))).to_string();
    assert!(
        v.contains("returns inside an instrumentation region"),
        "{v}"
    );
}

#[test]
fn a_jump_out_of_the_entry_text_is_a_violation_too() {
    let img = stub_and_entry(|at| jmp(at, LOG));
    let v = only(&check(&img)).to_string();
    assert!(v.contains("jumps to host::log"), "{v}");
}

#[test]
fn verify_gets_the_rust_instructions_outside_regions_only() {
    // rust_entry: nop; call log; nop; ret — a region around the call only.
    let mut img = stub_and_entry(|at| [vec![0x90], call(at + 1, LOG), vec![0x90]].concat());
    img.instr_begin.insert(BASE + 0x41);
    img.instr_end.insert(BASE + 0x46);
    let got = noinstr_rust_insns(&img);
    let addrs: Vec<u64> = got.keys().map(|a| a - BASE).collect();
    // The nop before the region, the nop after it and the ret; not the call, and nothing of
    // the stub (it is not the Rust part).
    assert_eq!(addrs, vec![0x40, 0x46, 0x47]);
    // Each reached from the stub (its address is the root).
    assert!(got.values().all(|r| r.iter().eq([&BASE])));
}
