//! The terminal's pure parts: the termios and winsize layouts and Linux's N_TTY line
//! discipline (the kernel's tty/ module wraps them with locking, waiting and signals).

pub mod ldisc;
pub mod termios;

#[cfg(test)]
mod tests;
