//! Sockets: AF_UNIX (`unix*.rs`, control messages in `scm.rs`), and AF_INET/AF_INET6 over
//! loopback (`inet.rs` names and ports; TCP in `tcp.rs` on the smoltcp stack of
//! `stack.rs`, UDP still on the AF_UNIX datagram machinery); the syscalls are in
//! `syscall/net*.rs`.

pub mod inet;
pub mod scm;
mod stack;
mod tcp;
pub mod unix;
pub mod unix_addr;
pub mod unix_conn;
pub mod unix_io;
