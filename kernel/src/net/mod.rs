//! Sockets. Today: AF_UNIX (`unix*.rs`, control messages in `scm.rs`); the syscalls are in
//! `syscall/net*.rs`.

pub mod scm;
pub mod unix;
pub mod unix_addr;
pub mod unix_conn;
pub mod unix_io;
