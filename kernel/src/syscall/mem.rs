//! Memory syscalls: brk, mmap and friends.

use super::table::Table;

pub const fn register(t: Table) -> Table {
    t
}
