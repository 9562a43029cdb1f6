//! Sockets: AF_UNIX (`unix*.rs`, control messages in `scm.rs`), and AF_INET/AF_INET6 over
//! loopback on the same machinery (`inet.rs`); the syscalls are in
//! `syscall/net*.rs`.

pub mod inet;
pub mod scm;
pub mod unix;
pub mod unix_addr;
pub mod unix_conn;
pub mod unix_io;
