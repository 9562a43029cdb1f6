//! fork's copy of an address space: private pages shared copy-on-write.

use super::backing::page_get;
use super::{AddressSpace, PTE_PROTNONE, VM_DONTCOPY, VM_WIPEONFORK};
use crate::mm::paging::{MapError, PTE_ADDR, PTE_P, PTE_W};

impl AddressSpace {
    /// A copy of this address space for fork: the same mappings; private pages shared
    /// copy-on-write (read-only in both until one writes), shared memory shared.
    pub fn fork_copy(&self) -> Result<AddressSpace, MapError> {
        let mut child = AddressSpace::new()?;
        child.start_brk = self.start_brk;
        child.brk = self.brk;
        child.start_stack = self.start_stack;
        child.args = self.args;
        child.env = self.env;
        child.exe = self.exe.clone();
        child.vdso = self.vdso;
        child.vmas.limits = self.vmas.limits;
        let mut err = None;
        for v in self.vmas.iter() {
            if v.flags & VM_DONTCOPY != 0 {
                continue;
            }
            child.vmas.push(v.clone());
            if v.is_shared() || v.flags & VM_WIPEONFORK != 0 {
                // Shared pages fault in from the object; wiped ones start empty.
                continue;
            }
            let cpt = &mut child.pt;
            self.pt.for_each_leaf_mut(v.start, v.end, |va, e| {
                if err.is_some() {
                    return;
                }
                let cur = *e;
                if cur & (PTE_P | PTE_PROTNONE) == 0 {
                    return;
                }
                let ro = cur & !PTE_W;
                match cpt.leaf_entry(va) {
                    Ok(slot) => {
                        page_get(cur & PTE_ADDR);
                        *e = ro;
                        *slot = ro;
                    }
                    Err(x) => err = Some(x),
                }
            });
        }
        // The parent's pages just lost their write right, here and where its other threads run.
        crate::smp::tlb::shootdown(self.pt.root);
        if self.is_active() {
            // SAFETY: reloading CR3 with its own value only flushes non-global entries.
            unsafe {
                core::arch::asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack))
            };
        }
        match err {
            Some(e) => {
                child.destroy();
                Err(e)
            }
            None => Ok(child),
        }
    }
}
