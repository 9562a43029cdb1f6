//! Sockets. Today: AF_UNIX pairs from socketpair(2) (`unix.rs`); the syscalls are in
//! `syscall/net.rs`.

pub mod unix;
