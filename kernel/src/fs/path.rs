//! Path resolution and the namespace operations: lookup (following symlinks), create, mkdir,
//! unlink, rmdir, rename, link, symlink, and the canonical path of a directory (getcwd).

use super::node::{Body, DirData, FileData, Inode, InodeRef};
use super::root;
use crate::sync::Mutex;
use crate::syscall::errno::*;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use kentry_kernel_logic::path::{
    NAME_MAX, ParentDir, absolute_from_leaf_first, child_path, push_components, split_parent,
};

/// Symlinks followed in one lookup before ELOOP (Linux: 40).
const MAXSYMLINKS: u32 = 40;

/// The outcome of a lookup: the object, and the directory and name it was found under (after
/// following symlinks), for canonical paths.
pub struct Found {
    pub node: InodeRef,
    pub dir: InodeRef,
    pub name: String,
    /// The last component was a `/proc/PID/fd/N` link, followed: its description
    /// (proc_fd.rs). `node` is the description's inode, or the link's own when it has none
    /// (a pipe, a socket, the console): then only the description says what was found.
    pub magic: Option<alloc::sync::Arc<super::File>>,
}

/// Resolves `path` (relative paths from `base`). `follow`: follow a symlink in the last
/// component. A trailing slash requires a directory (and follows a last symlink).
pub fn lookup(base: &InodeRef, path: &str, follow: bool) -> Result<Found, i64> {
    if path.is_empty() {
        return Err(-ENOENT);
    }
    let mut node = if path.starts_with('/') {
        root().clone()
    } else {
        base.clone()
    };
    let mut dir = node.clone();
    let mut name = String::from(".");
    // Components still to walk, last one first.
    let mut pending: Vec<String> = Vec::new();
    push_components(&mut pending, path);
    let mut links = 0;
    while let Some(c) = pending.pop() {
        let Some(d) = node.dir() else {
            return Err(-ENOTDIR);
        };
        if c == "." {
            continue;
        }
        if c == ".." {
            node = node.parent();
            dir = node.clone();
            name = String::from(".");
            continue;
        }
        if c.len() > NAME_MAX {
            return Err(-ENAMETOOLONG);
        }
        let found = d.lock().entries.get(&c).cloned();
        let child = match found {
            Some(child) => child,
            None => super::proc_pid::lookup_missing(&node, &c).ok_or(-ENOENT)?,
        };
        let last = pending.is_empty();
        if child.is_symlink() && (!last || follow) {
            links += 1;
            if links > MAXSYMLINKS {
                return Err(-ELOOP);
            }
            if let Body::ProcFd(pid, fd) = child.body {
                // A magic link: to the description, not to the text it reads as.
                let file = super::proc_fd::target(pid, fd).ok_or(-ENOENT)?;
                match (file.node().cloned(), last) {
                    (Some(n), false) if n.is_dir() => {
                        node = n;
                        continue;
                    }
                    (_, false) => return Err(-ENOTDIR),
                    (n, true) => {
                        return Ok(Found {
                            node: n.unwrap_or(child),
                            dir: node,
                            name: c,
                            magic: Some(file),
                        });
                    }
                }
            }
            let target = child.link_target().unwrap_or_default();
            if target.is_empty() {
                return Err(-ENOENT);
            }
            if target.starts_with('/') {
                node = root().clone();
            }
            push_components(&mut pending, &target);
            continue;
        }
        dir = node;
        name = c;
        node = child;
    }
    Ok(Found {
        node,
        dir,
        name,
        magic: None,
    })
}

/// The directory that would hold the last component of `path`, and that component. The name
/// is `.` for `/`; `trailing_slash` tells whether the path ended in `/`.
pub struct Parent {
    pub dir: InodeRef,
    pub name: String,
    pub trailing_slash: bool,
}

impl Parent {
    /// The error for a new non-directory (symlink, hard link) named with a trailing slash:
    /// EEXIST when the name exists, else ENOENT, as Linux (a name that does not exist cannot
    /// be a directory).
    fn new_non_dir_with_slash(&self) -> i64 {
        if self.dir.lookup(&self.name).is_some() {
            -EEXIST
        } else {
            -ENOENT
        }
    }
}

pub fn lookup_parent(base: &InodeRef, path: &str) -> Result<Parent, i64> {
    if path.is_empty() {
        return Err(-ENOENT);
    }
    let split = split_parent(path);
    let (name, trailing_slash) = (split.name, split.trailing_slash);
    if split.dir == ParentDir::Root {
        return Ok(Parent {
            dir: root().clone(),
            name: String::from(name),
            trailing_slash,
        });
    }
    if name.len() > NAME_MAX {
        return Err(-ENAMETOOLONG);
    }
    let dir = match split.dir {
        ParentDir::Path(dir_part) => lookup(base, dir_part, true)?.node,
        _ => base.clone(),
    };
    if !dir.is_dir() {
        return Err(-ENOTDIR);
    }
    Ok(Parent {
        dir,
        name: String::from(name),
        trailing_slash,
    })
}

/// Whether entries may be added to or removed from `dir`.
fn check_mutable(dir: &InodeRef, d: &DirData) -> Result<(), i64> {
    if d.removed {
        return Err(-ENOENT);
    }
    if dir.readonly {
        return Err(-EACCES);
    }
    Ok(())
}

/// Adds a new object `name` to `dir` (EEXIST if the name is taken).
pub fn add_entry(dir: &InodeRef, name: &str, node: InodeRef) -> Result<(), i64> {
    if name == "." || name == ".." {
        return Err(-EEXIST);
    }
    let d = dir.dir().ok_or(-ENOTDIR)?;
    let mut d = d.lock();
    check_mutable(dir, &d)?;
    if d.entries.contains_key(name) {
        return Err(-EEXIST);
    }
    if let Some(sub) = node.dir() {
        sub.lock().parent = Arc::downgrade(dir);
    }
    d.entries.insert(String::from(name), node);
    drop(d);
    dir.touch_modified();
    Ok(())
}

/// A new empty regular file.
pub fn new_file(dir: &InodeRef, perm: u32) -> InodeRef {
    Inode::new(
        Body::Reg(Mutex::new(FileData::empty())),
        perm,
        dir.dev,
        false,
    )
}

pub fn mkdir(base: &InodeRef, path: &str, perm: u32) -> Result<(), i64> {
    let p = lookup_parent(base, path)?;
    let node = Inode::new_dir(Some(&p.dir), perm, p.dir.dev, false);
    add_entry(&p.dir, &p.name, node)
}

pub fn symlink(base: &InodeRef, target: &str, path: &str) -> Result<(), i64> {
    if target.is_empty() {
        return Err(-ENOENT);
    }
    let p = lookup_parent(base, path)?;
    if p.trailing_slash {
        return Err(p.new_non_dir_with_slash());
    }
    let node = Inode::new(Body::Symlink(String::from(target)), 0o777, p.dir.dev, false);
    add_entry(&p.dir, &p.name, node)
}

pub fn link(old: &Found, base: &InodeRef, newpath: &str) -> Result<(), i64> {
    if old.node.is_dir() {
        return Err(-EPERM);
    }
    let p = lookup_parent(base, newpath)?;
    if p.trailing_slash {
        return Err(p.new_non_dir_with_slash());
    }
    if old.node.dev != p.dir.dev {
        return Err(-EXDEV);
    }
    if old.node.readonly {
        return Err(-EPERM);
    }
    add_entry(&p.dir, &p.name, old.node.clone())?;
    old.node.meta.lock().nlink += 1;
    old.node.touch_changed();
    Ok(())
}

/// unlink (dir = false) or rmdir (dir = true).
pub fn remove(base: &InodeRef, path: &str, want_dir: bool) -> Result<(), i64> {
    let p = lookup_parent(base, path)?;
    if p.name == "." {
        return Err(if want_dir {
            if path.trim_matches('/').is_empty() {
                -EBUSY
            } else {
                -EINVAL
            }
        } else {
            -EISDIR
        });
    }
    if p.name == ".." {
        return Err(if want_dir { -ENOTEMPTY } else { -EISDIR });
    }
    let d = p.dir.dir().ok_or(-ENOTDIR)?;
    let mut d = d.lock();
    let victim = d.entries.get(&p.name).cloned().ok_or(-ENOENT)?;
    check_mutable(&p.dir, &d)?;
    if want_dir {
        let vd = victim.dir().ok_or(-ENOTDIR)?;
        if Arc::ptr_eq(&victim, root()) {
            return Err(-EBUSY);
        }
        let mut vd = vd.lock();
        if !vd.entries.is_empty() {
            return Err(-ENOTEMPTY);
        }
        if victim.readonly {
            return Err(-EACCES);
        }
        vd.removed = true;
    } else {
        if victim.is_dir() {
            return Err(-EISDIR);
        }
        if p.trailing_slash {
            return Err(-ENOTDIR);
        }
        if victim.readonly {
            return Err(-EACCES);
        }
        let mut m = victim.meta.lock();
        m.nlink = m.nlink.saturating_sub(1);
    }
    d.entries.remove(&p.name);
    drop(d);
    victim.touch_changed();
    p.dir.touch_modified();
    Ok(())
}

/// renameat2 flags.
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;

pub fn rename(
    old_base: &InodeRef,
    old_path: &str,
    new_base: &InodeRef,
    new_path: &str,
    flags: u32,
) -> Result<(), i64> {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
        || flags == RENAME_NOREPLACE | RENAME_EXCHANGE
    {
        return Err(-EINVAL);
    }
    let op = lookup_parent(old_base, old_path)?;
    let np = lookup_parent(new_base, new_path)?;
    if op.name == "." || op.name == ".." || np.name == "." || np.name == ".." {
        return Err(-EBUSY);
    }
    let src = op.dir.lookup(&op.name).ok_or(-ENOENT)?;
    if (op.trailing_slash || np.trailing_slash) && !src.is_dir() {
        return Err(-ENOTDIR);
    }
    if src.dev != np.dir.dev {
        return Err(-EXDEV);
    }
    let dst = np.dir.lookup(&np.name);
    if flags & RENAME_EXCHANGE != 0 {
        let dst = dst.ok_or(-ENOENT)?;
        return exchange(&op, src, &np, dst);
    }
    if let Some(dst) = &dst {
        if flags & RENAME_NOREPLACE != 0 {
            return Err(-EEXIST);
        }
        if Arc::ptr_eq(dst, &src) {
            return Ok(());
        }
        match (src.is_dir(), dst.is_dir()) {
            (true, false) => return Err(-ENOTDIR),
            (false, true) => return Err(-EISDIR),
            (true, true) if !dst.dir().is_some_and(|d| d.lock().entries.is_empty()) => {
                return Err(-ENOTEMPTY);
            }
            _ => {}
        }
    }
    // A directory cannot move below itself.
    if src.is_dir() && is_ancestor(&src, &np.dir) {
        return Err(-EINVAL);
    }
    for dir in [&op.dir, &np.dir] {
        let d = dir.dir().ok_or(-ENOTDIR)?.lock();
        check_mutable(dir, &d)?;
    }
    if src.readonly {
        return Err(-EACCES);
    }
    // Take the old name out, then put it under the new one.
    op.dir
        .dir()
        .ok_or(-ENOTDIR)?
        .lock()
        .entries
        .remove(&op.name);
    let replaced = np
        .dir
        .dir()
        .ok_or(-ENOTDIR)?
        .lock()
        .entries
        .insert(np.name.clone(), src.clone());
    if let Some(old) = replaced {
        if let Some(od) = old.dir() {
            od.lock().removed = true;
        } else {
            let mut m = old.meta.lock();
            m.nlink = m.nlink.saturating_sub(1);
        }
    }
    if let Some(sd) = src.dir() {
        sd.lock().parent = Arc::downgrade(&np.dir);
    }
    src.touch_changed();
    op.dir.touch_modified();
    np.dir.touch_modified();
    Ok(())
}

fn exchange(op: &Parent, src: InodeRef, np: &Parent, dst: InodeRef) -> Result<(), i64> {
    if Arc::ptr_eq(&src, &dst) {
        return Ok(());
    }
    if (src.is_dir() && is_ancestor(&src, &np.dir)) || (dst.is_dir() && is_ancestor(&dst, &op.dir))
    {
        return Err(-EINVAL);
    }
    if src.readonly || dst.readonly || op.dir.readonly || np.dir.readonly {
        return Err(-EACCES);
    }
    op.dir
        .dir()
        .ok_or(-ENOTDIR)?
        .lock()
        .entries
        .insert(op.name.clone(), dst.clone());
    np.dir
        .dir()
        .ok_or(-ENOTDIR)?
        .lock()
        .entries
        .insert(np.name.clone(), src.clone());
    if let Some(d) = src.dir() {
        d.lock().parent = Arc::downgrade(&np.dir);
    }
    if let Some(d) = dst.dir() {
        d.lock().parent = Arc::downgrade(&op.dir);
    }
    Ok(())
}

/// Whether `a` is `b` or one of its ancestors.
fn is_ancestor(a: &InodeRef, b: &InodeRef) -> bool {
    let mut n = b.clone();
    loop {
        if Arc::ptr_eq(&n, a) {
            return true;
        }
        let p = n.parent();
        if Arc::ptr_eq(&p, &n) {
            return false;
        }
        n = p;
    }
}

/// The absolute path of a directory; ENOENT once it was removed.
pub fn dir_path(dir: &InodeRef) -> Result<String, i64> {
    let mut parts: Vec<String> = Vec::new();
    let mut n = dir.clone();
    while !Arc::ptr_eq(&n, root()) {
        let d = n.dir().ok_or(-ENOTDIR)?;
        let parent = {
            let d = d.lock();
            if d.removed {
                return Err(-ENOENT);
            }
            d.parent.upgrade().ok_or(-ENOENT)?
        };
        let name = parent
            .dir()
            .ok_or(-ENOENT)?
            .lock()
            .entries
            .iter()
            .find(|(_, c)| Arc::ptr_eq(c, &n))
            .map(|(k, _)| k.clone())
            .ok_or(-ENOENT)?;
        parts.push(name);
        n = parent;
    }
    Ok(absolute_from_leaf_first(&parts))
}

/// The canonical absolute path of what a lookup found.
/// The absolute path of entry `name` of directory `dir` (None once `dir` is gone).
pub fn entry_path(dir: &InodeRef, name: &str) -> Option<String> {
    dir_path(dir).ok().map(|d| child_path(d, name))
}

pub fn found_path(f: &Found) -> Result<String, i64> {
    if f.node.is_dir() {
        return dir_path(&f.node);
    }
    Ok(child_path(dir_path(&f.dir)?, &f.name))
}
