//! An id → object map read under RCU: lookups by pid and tid.
//!
//! The map is an immutable sorted vector of `(id, Weak<T>)` behind an [`RcuBox`]. A reader
//! binary-searches the published vector under [`read_lock`] and upgrades the `Weak` (an
//! atomic increment-if-not-zero on the object's count, Linux's `get_task_struct_rcu` idea):
//! no lock, no write to the map. A writer, under the map's own lock, copies the vector,
//! changes the copy and publishes it (copy, update, publish); the old vector is freed after
//! a grace period. Holding `Weak`s, the map never keeps an object alive: an object whose last
//! strong reference went is simply not found, as before.

use super::{RcuBox, read_lock};
use crate::sync::Mutex;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

/// The published form: sorted by id.
type Entries<T> = Vec<(u32, Weak<T>)>;

pub struct RcuIdMap<T: Send + Sync + 'static> {
    /// Serialises writers.
    writer: Mutex<()>,
    /// Built on first use (an `RcuBox` allocates).
    published: spin::Once<RcuBox<Entries<T>>>,
}

impl<T: Send + Sync + 'static> RcuIdMap<T> {
    pub const fn new() -> Self {
        RcuIdMap {
            writer: Mutex::new(()),
            published: spin::Once::new(),
        }
    }

    fn published(&self) -> &RcuBox<Entries<T>> {
        self.published.call_once(|| RcuBox::new(Vec::new()))
    }

    /// The live object with this id, found without a lock.
    pub fn get(&self, id: u32) -> Option<Arc<T>> {
        let g = read_lock();
        let v = self.published().get(&g);
        let i = v.binary_search_by_key(&id, |e| e.0).ok()?;
        v[i].1.upgrade()
    }

    /// Every live object, in id order (a snapshot).
    pub fn live(&self) -> Vec<Arc<T>> {
        let g = read_lock();
        self.published()
            .get(&g)
            .iter()
            .filter_map(|e| e.1.upgrade())
            .collect()
    }

    /// Copies the published vector, lets `f` change the copy, publishes it. Entries whose
    /// object is gone are dropped on the way. Interrupts off: the lock is also taken by
    /// writers that run with them off.
    fn update(&self, f: impl FnOnce(&mut Entries<T>)) {
        x86_64::instructions::interrupts::without_interrupts(|| {
            let _w = self.writer.lock();
            let b = self.published();
            let mut v: Entries<T> = b
                .get_for_writer()
                .iter()
                .filter(|e| e.1.strong_count() > 0)
                .cloned()
                .collect();
            f(&mut v);
            b.replace(v);
        });
    }

    /// Maps `id` to `obj` (replacing any entry of that id).
    pub fn insert(&self, id: u32, obj: Weak<T>) {
        self.update(|v| match v.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => v[i].1 = obj,
            Err(i) => v.insert(i, (id, obj)),
        });
    }

    /// Removes `id`'s entry if it maps to `obj` (a newer object of the same id stays).
    pub fn remove(&self, id: u32, obj: &Weak<T>) {
        self.update(|v| {
            if let Ok(i) = v.binary_search_by_key(&id, |e| e.0)
                && Weak::ptr_eq(&v[i].1, obj)
            {
                v.remove(i);
            }
        });
    }
}

impl<T: Send + Sync + 'static> Default for RcuIdMap<T> {
    fn default() -> Self {
        Self::new()
    }
}
