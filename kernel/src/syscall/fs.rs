//! File and directory syscalls.

use super::table::Table;

pub const fn register(t: Table) -> Table {
    t
}
