//! User namespaces, the part kentry has (Linux's `kernel/user_namespace.c`): a namespace
//! below the caller's, its uid and gid maps (written once through /proc/PID/uid_map and
//! gid_map), and the ids getuid and friends report inside it.
//!
//! A process's ids are kernel ids (process/cred.rs), read and set through the maps of its
//! namespace ([`from_kid`], [`make_kid`]). Capabilities are one flag (cred.rs), so a user
//! namespace decides little permission here. It gives what programs observe: the call
//! succeeds unprivileged (as on Linux, where the creator gets every capability inside), the
//! ids read back through the maps (65534, Linux's overflow id, while unmapped), and a map may
//! be written once.

use crate::sync::Mutex;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry_kernel_logic::idmap::{self, Extent};

/// Linux's create_user_ns: a parent already at level 32 or deeper has no room (ENOSPC).
const MAX_USER_NS_LEVEL: usize = 32;

/// Linux's overflowuid/overflowgid: what an id without a mapping reads as.
pub const OVERFLOW_ID: u32 = 65534;

pub struct UserNamespace {
    /// 1 for a child of the initial namespace.
    pub level: usize,
    /// None: the initial namespace.
    pub parent: Option<Arc<UserNamespace>>,
    uid_map: Mutex<Option<Vec<Extent>>>,
    gid_map: Mutex<Option<Vec<Extent>>>,
    /// `setgroups` says "deny" (needed before an unprivileged gid_map write, as Linux).
    setgroups_denied: core::sync::atomic::AtomicBool,
}

/// Which map a /proc file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdMap {
    Uid,
    Gid,
}

impl UserNamespace {
    pub fn new(parent: Option<&Arc<UserNamespace>>) -> Result<Arc<UserNamespace>, i64> {
        let plevel = parent.map_or(0, |p| p.level);
        if plevel >= MAX_USER_NS_LEVEL {
            return Err(-crate::syscall::errno::ENOSPC);
        }
        Ok(Arc::new(UserNamespace {
            level: plevel + 1,
            parent: parent.cloned(),
            uid_map: Mutex::new(None),
            gid_map: Mutex::new(None),
            setgroups_denied: core::sync::atomic::AtomicBool::new(false),
        }))
    }

    fn map(&self, which: IdMap) -> &Mutex<Option<Vec<Extent>>> {
        match which {
            IdMap::Uid => &self.uid_map,
            IdMap::Gid => &self.gid_map,
        }
    }

    /// Whether `ns` is this namespace's ancestor (None: the initial one).
    fn is_below(&self, ns: Option<&Arc<UserNamespace>>) -> bool {
        let mut at = self.parent.as_ref();
        loop {
            match (at, ns) {
                (None, None) => return true,
                (None, Some(_)) => return false,
                (Some(a), Some(n)) if Arc::ptr_eq(a, n) => return true,
                (Some(a), _) => at = a.parent.as_ref(),
            }
        }
    }
}

/// Kernel id `kid` as seen inside `ns` (Linux's `from_kuid_munged`): mapped up level by
/// level from the initial namespace, [`OVERFLOW_ID`] once a level has no mapping for it.
pub fn from_kid(ns: Option<&Arc<UserNamespace>>, which: IdMap, kid: u32) -> u32 {
    map_up(ns, which, kid).unwrap_or(OVERFLOW_ID)
}

fn map_up(ns: Option<&Arc<UserNamespace>>, which: IdMap, kid: u32) -> Option<u32> {
    let Some(ns) = ns else {
        return Some(kid);
    };
    let outer = map_up(ns.parent.as_ref(), which, kid)?;
    ns.map(which)
        .lock()
        .as_deref()
        .and_then(|m| idmap::map_id_up(m, outer))
}

/// The kernel id that id `id` of namespace `ns` names (Linux's `make_kuid`): mapped down
/// level by level to the initial namespace; None (Linux's INVALID_UID) where a level has no
/// mapping for it, and for -1 itself.
pub fn make_kid(ns: Option<&Arc<UserNamespace>>, which: IdMap, id: u32) -> Option<u32> {
    let mut id = id;
    let mut at = ns;
    while let Some(n) = at {
        id = n
            .map(which)
            .lock()
            .as_deref()
            .and_then(|m| idmap::map_id_down(m, id))?;
        at = n.parent.as_ref();
    }
    (id != u32::MAX).then_some(id)
}

/// The text of `ns`'s map (the initial namespace's is the identity of all ids).
pub fn show_map(ns: Option<&Arc<UserNamespace>>, which: IdMap) -> alloc::string::String {
    match ns {
        None => idmap::show(&[Extent {
            first: 0,
            lower_first: 0,
            count: u32::MAX,
        }]),
        Some(ns) => ns
            .map(which)
            .lock()
            .as_deref()
            .map(idmap::show)
            .unwrap_or_default(),
    }
}

/// A write of `text` at `offset` to `ns`'s map by a process of user namespace `writer`
/// (Linux's `map_write` and `new_idmap_permitted`, with kentry's one identity, uid/gid 0):
/// - once only (EPERM), from offset 0 (EINVAL), shorter than a page (EINVAL), well formed
///   (EINVAL: `idmap::parse_map`);
/// - from a process of an ancestor namespace (privileged there: any map), or from inside `ns`
///   itself (its creator's unprivileged case: one extent of one id, the writer's own id
///   outside, 0; for gid_map only after `setgroups` was set to "deny"); else EPERM.
pub fn write_map(
    ns: Option<&Arc<UserNamespace>>,
    which: IdMap,
    writer: Option<&Arc<UserNamespace>>,
    text: &[u8],
    offset: u64,
) -> Result<usize, i64> {
    use crate::syscall::errno::{EINVAL, EPERM};
    // The initial namespace's maps are fixed.
    let ns = ns.ok_or(-EPERM)?;
    if offset != 0 || text.len() >= 4096 {
        return Err(-EINVAL);
    }
    let mut map = ns.map(which).lock();
    if map.is_some() {
        return Err(-EPERM);
    }
    let extents = idmap::parse_map(text).map_err(|_| -EINVAL)?;
    let privileged = ns.is_below(writer);
    let inside = writer.is_some_and(|w| Arc::ptr_eq(w, ns));
    let own_id_only = extents.len() == 1 && extents[0].count == 1 && extents[0].lower_first == 0;
    let permitted = privileged
        || (inside
            && own_id_only
            && (which == IdMap::Uid
                || ns
                    .setgroups_denied
                    .load(core::sync::atomic::Ordering::Acquire)));
    if !permitted {
        return Err(-EPERM);
    }
    *map = Some(extents);
    Ok(text.len())
}

/// `setgroups`: "allow" or "deny" (Linux's `proc_setgroups_write`); "deny" is final, and
/// "allow" after a gid_map was written is EPERM.
pub fn write_setgroups(ns: Option<&Arc<UserNamespace>>, text: &[u8]) -> Result<usize, i64> {
    use crate::syscall::errno::{EINVAL, EPERM};
    use core::sync::atomic::Ordering;
    let word = text.strip_suffix(b"\n").unwrap_or(text);
    let deny = match word {
        b"deny" => true,
        b"allow" => false,
        _ => return Err(-EINVAL),
    };
    let ns = ns.ok_or(-EPERM)?;
    let denied = ns.setgroups_denied.load(Ordering::Acquire);
    if deny {
        if !denied && ns.gid_map.lock().is_some() {
            return Err(-EPERM);
        }
        ns.setgroups_denied.store(true, Ordering::Release);
    } else if denied {
        return Err(-EPERM);
    }
    Ok(text.len())
}

/// Whether a process of `ns` with CAP_SETGID there may call setgroups (Linux's
/// `userns_may_setgroups`): always in the initial namespace; in another, once its gid map is
/// written and unless `setgroups` says "deny".
pub fn may_setgroups(ns: Option<&Arc<UserNamespace>>) -> bool {
    ns.is_none_or(|n| {
        n.gid_map.lock().is_some()
            && !n
                .setgroups_denied
                .load(core::sync::atomic::Ordering::Acquire)
    })
}

/// `setgroups`'s text.
pub fn show_setgroups(ns: Option<&Arc<UserNamespace>>) -> &'static str {
    if ns.is_some_and(|n| {
        n.setgroups_denied
            .load(core::sync::atomic::Ordering::Acquire)
    }) {
        "deny\n"
    } else {
        "allow\n"
    }
}
