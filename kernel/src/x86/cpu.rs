//! CPU feature detection and control-register setup for the boot CPU.

use raw_cpuid::CpuId;
use spin::Once;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub smap: bool,
    pub smep: bool,
    pub fsgsbase: bool,
    pub x2apic: bool,
    pub mce: bool,
    pub vendor_amd: bool,
}

pub static FEATURES: Once<Features> = Once::new();

pub fn probe() -> &'static Features {
    FEATURES.call_once(|| {
        let id = CpuId::new();
        let ext = id.get_extended_feature_info();
        let f = id.get_feature_info();
        Features {
            smap: ext.as_ref().is_some_and(|e| e.has_smap()),
            smep: ext.as_ref().is_some_and(|e| e.has_smep()),
            fsgsbase: ext.as_ref().is_some_and(|e| e.has_fsgsbase()),
            x2apic: f.as_ref().is_some_and(|f| f.has_x2apic()),
            mce: f.as_ref().is_some_and(|f| f.has_mce()),
            vendor_amd: id
                .get_vendor_info()
                .is_some_and(|v| v.as_str() == "AuthenticAMD"),
        }
    })
}

pub fn brand() -> &'static str {
    static BRAND: Once<([u8; 48], usize)> = Once::new();
    let (buf, len) = BRAND.call_once(|| {
        let mut buf = [0u8; 48];
        let mut len = 0;
        if let Some(b) = CpuId::new().get_processor_brand_string() {
            for (i, c) in b.as_str().bytes().take(48).enumerate() {
                buf[i] = c;
                len = i + 1;
            }
        }
        (buf, len)
    });
    core::str::from_utf8(&buf[..*len]).unwrap_or("?").trim()
}

/// CR0/CR4 as the kernel runs: write protection, alignment checking for user code (so user
/// #AC works as on Linux), SSE and XSAVE for user programs, SMEP/SMAP/FSGSBASE/MCE where present.
pub fn setup_control_registers(f: &Features) {
    // SAFETY: enabling protections and features the CPU reports; the kernel does not depend
    // on their absence (SMAP: every user access is bracketed by stac/clac).
    unsafe {
        Cr0::update(|c| {
            c.insert(
                Cr0Flags::WRITE_PROTECT
                    | Cr0Flags::ALIGNMENT_MASK
                    | Cr0Flags::MONITOR_COPROCESSOR
                    | Cr0Flags::NUMERIC_ERROR,
            );
            c.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|c| {
            c.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
            if f.smep {
                c.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION);
            }
            if f.smap {
                c.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION);
            }
            if f.fsgsbase {
                c.insert(Cr4Flags::FSGSBASE);
            }
            if f.mce {
                c.insert(Cr4Flags::MACHINE_CHECK_EXCEPTION);
            }
        });
    }
    // CR4.OSXSAVE and XCR0: every user state component kentry supports (docs/xstate.md).
    crate::task::xstate::init_cpu();
}
