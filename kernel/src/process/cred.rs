//! A process's credentials (Linux's `struct cred`, the id part): real, effective, saved and
//! filesystem uid and gid, the supplementary groups, and whether it holds its capabilities.
//!
//! What kentry keeps of Linux's model:
//! - ids are kernel ids (the initial namespace's); the calls read and set them through the
//!   caller's user namespace (user_ns.rs `from_kid`, `make_kid`);
//! - capabilities are one pair of flags, permitted and effective, for all of them together:
//!   every process starts with both (kentry's processes are root), and they follow Linux's
//!   `cap_emulate_setxuid` when the uids change (lost when no uid is root any more, the
//!   effective set dropped and regained with the effective uid) and `cap_bprm_creds_from_file`
//!   at execve of a file without file capabilities. A process that makes a user namespace has
//!   them all inside it;
//! - nothing but the id calls themselves and TIOCSTI ([`capable`]) asks for a capability yet:
//!   files, signals and sockets still let every process do what root may.
//!
//! Linux keeps credentials per thread (glibc's setxid broadcast makes them agree); kentry
//! keeps them per process, which is what that broadcast makes of them.

use super::user_ns::{IdMap, UserNamespace, make_kid};
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Linux's NGROUPS_MAX.
pub const NGROUPS_MAX: usize = 65536;

#[derive(Clone, Debug, Default)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    /// Supplementary groups, kernel ids, sorted (Linux's `groups_sort`).
    pub groups: Vec<u32>,
    /// The permitted and effective capability sets, all or nothing.
    pub cap_permitted: bool,
    pub cap_effective: bool,
}

impl Creds {
    /// The first process's: root, with every capability.
    pub fn root() -> Creds {
        Creds {
            cap_permitted: true,
            cap_effective: true,
            ..Creds::default()
        }
    }

    /// Linux's `cap_emulate_setxuid`, after a uid change from `old` (namespace `ns`): losing
    /// root in all three uids clears the capabilities, an effective uid leaving root clears
    /// the effective set, one coming back to root takes the permitted set again.
    pub fn fix_setuid(&mut self, old: &Creds, ns: Option<&Arc<UserNamespace>>) {
        let Some(root) = make_kid(ns, IdMap::Uid, 0) else {
            return;
        };
        let was_root = old.uid == root || old.euid == root || old.suid == root;
        let is_root = self.uid == root || self.euid == root || self.suid == root;
        if was_root && !is_root {
            self.cap_permitted = false;
            self.cap_effective = false;
        }
        if old.euid == root && self.euid != root {
            self.cap_effective = false;
        }
        if old.euid != root && self.euid == root {
            self.cap_effective = self.cap_permitted;
        }
    }

    /// At execve of a file without set-id bits or capabilities (Linux's
    /// `cap_bprm_creds_from_file` and `begin_new_exec`): root (real or effective) gets every
    /// capability permitted, effective with an effective uid of root; others get none. The
    /// saved and filesystem ids become the effective ones.
    pub fn exec(&mut self, ns: Option<&Arc<UserNamespace>>) {
        let root = make_kid(ns, IdMap::Uid, 0);
        let is = |id: u32| Some(id) == root;
        self.cap_permitted = is(self.euid) || is(self.uid);
        self.cap_effective = is(self.euid);
        self.suid = self.euid;
        self.fsuid = self.euid;
        self.sgid = self.egid;
        self.fsgid = self.egid;
    }
}

/// Linux's `capable(cap)`: whether `p` holds a capability in the initial user namespace
/// (kentry's all-or-nothing set, in a process that is not in a namespace of its own).
pub fn capable(p: &super::Process) -> bool {
    p.user_ns.lock().is_none() && p.creds.lock().cap_effective
}
