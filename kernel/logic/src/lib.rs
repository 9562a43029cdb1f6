//! The kernel's pure logic: decisions that are functions of their inputs alone, kept where
//! host unit tests reach them.
//!
//! Why a separate crate: `kentry-kernel` is a `no_std`, `no_main` binary that only links for
//! `x86_64-unknown-none` with a linker script, so `cargo test` cannot build it on the host.
//! Rather than gate half the kernel behind `cfg(test)`, the decisions live here, in a
//! `no_std` library without `unsafe`, and the kernel calls these very functions (no twin
//! copies for the tests): `cargo test -p kentry-kernel-logic` exercises the code that runs
//! in the guest. The non-generic functions are `#[inline]`: then they (and the `core` and
//! `alloc` generics they use) are compiled into the kernel crate with the kernel's
//! inlining, as when they lived there, and `cargo xtask bench` counts the same instructions
//! (without it, path lookups and exec cost more).
//!
//! The parts:
//! - [`cpulist`]: Linux's cpulist syntax (`nohz_full=1-3,5`);
//! - [`debugreg`]: the debug registers through ptrace: validation, DR7, what a #DB means;
//! - [`page`]: page size and alignment;
//! - [`vma`]: one mapping, the sorted set of them (lookup, splitting, merging, stack growth)
//!   and where a new mapping goes (get_unmapped_area);
//! - [`prot`]: PROT_* and ELF segment flags → VMA protections → page-table entries;
//! - [`idmap`]: user-namespace id maps: a uid_map/gid_map write checked as Linux, ids mapped up;
//! - [`fcntl`]: open flags a description keeps, F_SETFL, access modes, modes under the umask;
//! - [`path`]: splitting a path into the components a lookup walks, and its parent;
//! - [`exec_layout`]: the ELF load bias, the program break and the initial stack's layout;
//! - [`ptrace`]: ptrace's numbers, wait statuses, `struct user` and the register-write checks;
//! - [`seccomp_bpf`]: seccomp's classic BPF filters, checked as Linux checks them, and run;
//! - [`signal`]: signal mask arithmetic, syscall restarts, and the pending queues (which signal
//!   is delivered next, coalescing, the RLIMIT_SIGPENDING rules);
//! - [`tty`]: the termios layout and the line discipline (Linux's N_TTY) of the terminal;
//! - [`vtime`]: nohz_full CPU time from a user-time accumulator's transitions.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpulist;
pub mod debugreg;
pub mod exec_layout;
pub mod fcntl;
pub mod idmap;
pub mod page;
pub mod path;
pub mod prot;
pub mod ptrace;
pub mod seccomp_bpf;
pub mod signal;
pub mod tty;
pub mod vma;
pub mod vtime;

/// Linux errno values (positive; callers negate): the one list in `kentry_abi`.
pub use kentry_abi::errno;
