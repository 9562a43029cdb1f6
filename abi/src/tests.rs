//! The list against Linux: a few numbers written down by hand (from the x86-64 ABI, not from
//! this crate), then every `common`/`64` row of the installed Linux 6.1 source's syscall_64.tbl.

extern crate std;

use super::{NR_SYSCALLS, NR_SYSCALLS_32, name, name32, nr, nr32};
use std::process::Command;
use std::string::String;
use std::vec::Vec;

#[test]
fn well_known_numbers() {
    let known: [(usize, usize, &str); 12] = [
        (nr::READ, 0, "read"),
        (nr::WRITE, 1, "write"),
        (nr::MMAP, 9, "mmap"),
        (nr::RT_SIGRETURN, 15, "rt_sigreturn"),
        (nr::GETPID, 39, "getpid"),
        (nr::CLONE, 56, "clone"),
        (nr::EXECVE, 59, "execve"),
        (nr::EXIT, 60, "exit"),
        (nr::ARCH_PRCTL, 158, "arch_prctl"),
        (nr::EXIT_GROUP, 231, "exit_group"),
        (nr::CLONE3, 435, "clone3"),
        (nr::SET_MEMPOLICY_HOME_NODE, 450, "set_mempolicy_home_node"),
    ];
    for (constant, number, linux_name) in known {
        assert_eq!(constant, number, "{linux_name}");
        assert_eq!(name(number), linux_name);
    }
    assert_eq!(NR_SYSCALLS, 451);
}

#[test]
fn unassigned_numbers_have_no_name() {
    // 335..=423 are unassigned on x86-64 (the hole before the common numbers at 424), and
    // past the table there is nothing.
    assert_eq!(name(335), "?");
    assert_eq!(name(423), "?");
    assert_eq!(name(NR_SYSCALLS), "?");
    assert_eq!(name(usize::MAX), "?");
}

const LINUX_SOURCE: &str = "/usr/src/linux-source-6.1.tar.xz";
const TBL: &str = "linux-source-6.1/arch/x86/entry/syscalls/syscall_64.tbl";
const TBL_32: &str = "linux-source-6.1/arch/x86/entry/syscalls/syscall_32.tbl";

/// syscall_64.tbl from the Linux source tarball. Its absence fails the test rather than
/// passing it unchecked: `cargo xtask test` (with `--host` too) installs the package first.
fn linux_tbl() -> String {
    linux_file(TBL)
}

fn linux_file(path: &str) -> String {
    assert!(
        std::path::Path::new(LINUX_SOURCE).exists(),
        "{LINUX_SOURCE} is missing: install the package linux-source-6.1 (cargo xtask test does)"
    );
    let out = Command::new("tar")
        .args(["-xJf", LINUX_SOURCE, path, "-O"])
        .output()
        .expect("running tar");
    assert!(out.status.success(), "tar failed: {:?}", out);
    String::from_utf8(out.stdout).expect("the tbl file is UTF-8")
}

#[test]
fn every_number_and_name_matches_linux_6_1() {
    let tbl = linux_tbl();
    let mut rows = Vec::new();
    for line in tbl.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let number: usize = f[0].parse().expect("syscall number");
        if f[1] == "common" || f[1] == "64" {
            rows.push((number, f[2]));
        }
    }
    assert!(rows.len() > 350, "only {} rows parsed", rows.len());
    for &(number, linux_name) in &rows {
        assert_eq!(name(number), linux_name, "syscall {number}");
    }
    // And nothing more: every number with a name here is a row there.
    let named = (0..NR_SYSCALLS).filter(|&n| name(n) != "?").count();
    assert_eq!(named, rows.len());
    assert_eq!(NR_SYSCALLS, rows.iter().map(|r| r.0).max().unwrap() + 1);
}

#[test]
fn well_known_i386_numbers() {
    // From the i386 ABI (the numbers `int $0x80` users hard-code), not from this crate.
    let known: [(usize, usize, &str); 8] = [
        (nr32::RESTART_SYSCALL, 0, "restart_syscall"),
        (nr32::EXIT, 1, "exit"),
        (nr32::READ, 3, "read"),
        (nr32::GETPID, 20, "getpid"),
        (nr32::KILL, 37, "kill"),
        (nr32::SIGRETURN, 119, "sigreturn"),
        (nr32::GETTID, 224, "gettid"),
        (nr32::EXIT_GROUP, 252, "exit_group"),
    ];
    for (constant, number, linux_name) in known {
        assert_eq!(constant, number, "{linux_name}");
        assert_eq!(name32(number), linux_name);
    }
    assert_eq!(NR_SYSCALLS_32, 451);
}

#[test]
fn every_i386_number_and_name_matches_linux_6_1() {
    let tbl = linux_file(TBL_32);
    let mut rows = Vec::new();
    for line in tbl.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[1], "i386", "{line}");
        rows.push((f[0].parse::<usize>().expect("syscall number"), f[2]));
    }
    assert!(rows.len() > 400, "only {} rows parsed", rows.len());
    for &(number, linux_name) in &rows {
        assert_eq!(name32(number), linux_name, "i386 syscall {number}");
    }
    let named = (0..NR_SYSCALLS_32).filter(|&n| name32(n) != "?").count();
    assert_eq!(named, rows.len());
    assert_eq!(NR_SYSCALLS_32, rows.iter().map(|r| r.0).max().unwrap() + 1);
}
