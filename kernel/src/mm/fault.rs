//! User page faults the kernel resolves itself (demand paging). Until mappings are tracked,
//! none are: every user #PF is the program's error.

/// Tries to resolve a user #PF at `addr` with error code `err`; true when the access can be
/// retried.
pub fn handle_user_fault(addr: u64, err: u64) -> bool {
    let _ = (addr, err);
    false
}
