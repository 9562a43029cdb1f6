//! The SYSENTER entry and the 32-bit vDSO on an Intel-vendor CPU model. QEMU TCG's default
//! `-cpu max` reports AMD, where SYSENTER raises #UD in long mode (and `__kernel_vsyscall`
//! uses SYSCALL); `-cpu max,vendor=GenuineIntel` makes the same model Intel, where kentry
//! points `__kernel_vsyscall` at SYSENTER. The main test boot covers the AMD side. Then the
//! negative runs of the SYSENTER checks (`kentry.break=<check>`).

use super::BootTest;

/// The Intel-vendor model.
const INTEL: &[&str] = &["-cpu", "max,vendor=GenuineIntel", "-smp", "2"];

pub const SYSENTER_BOOTS: &[BootTest] = &[
    BootTest {
        // The compat fast entries under a tracer with SYSENTER present (and SYSCALL from
        // compat mode: TCG runs it whatever the vendor, measured), and the 32-bit vDSO whose
        // __kernel_vsyscall now enters by SYSENTER (and leaves by SYSRETL), also from its moved
        // place; glibc's own calls go through it too (signals, a restart through the
        // landing pad's int $0x80, threads).
        name: "sysenter_intel_vendor",
        cmdline: &[
            "kentry.mode=test",
            "kentry.only=c_fast32_musl,c_ia32_vdso_glibc32,c_ia32_glibc32,\
             c_ia32_signals_glibc32,c_threads_glibc32",
        ],
        expect_status: 1,
        expect_log: &[
            "vdso32: __kernel_vsyscall uses Sysenter",
            "ok 1 sysenter_fault_efault",
            "ok 2 sysenter_fault_tf_efault",
            "ok 5 vsyscall_tf",
            "ok 6 vsyscall_nt",
            "ok 3 c_fast32_musl",
            "ok 4 vsyscall_fast_entry",
            "ok 27 mremap_moves_vdso",
            "ok 2 c_ia32_vdso_glibc32",
            "ok 1 c_ia32_glibc32",
            "ok 23 vsyscall_read_restarted",
        ],
        qemu_args: INTEL,
        or_endings: &[],
    },
    BootTest {
        // A single-step of the SYSENTER stub by the user's TF is not recognised
        // (`kentry.break=sysenter_step`): the kernel reports a stray kernel-mode #DB and
        // clears TF in the stub, so the user's TF is gone after the call.
        name: "negative_sysenter_step",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysenter_step",
            "kentry.only=c_fast32_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: single-steps of the SYSENTER stub are not recognised",
            "KERNEL-MODE #DB (survived)",
            "not ok 5 vsyscall_tf",
            "not ok 1 c_fast32_musl",
        ],
        qemu_args: INTEL,
        or_endings: &[],
    },
    BootTest {
        // __kernel_vsyscall without its fast entry (`kentry.break=vsyscall_int80`): every
        // call still works through int $0x80, but the vendor's entry is missing.
        name: "negative_vsyscall_int80",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=vsyscall_int80",
            "kentry.only=c_ia32_vdso_glibc32",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: __kernel_vsyscall keeps int $0x80 (no fast entry)",
            "not ok 4 vsyscall_fast_entry",
            "ok 5 vsyscall_getpid",
            "not ok 1 c_ia32_vdso_glibc32",
        ],
        qemu_args: INTEL,
        or_endings: &[],
    },
    BootTest {
        // A SYSENTER whose sixth argument cannot be read runs anyway
        // (`kentry.break=arg6_fault`, E30): getpid with every register -1 returns the pid.
        name: "negative_arg6_fault_sysenter",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=arg6_fault",
            "kentry.only=c_fast32_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: a compat SYSCALL runs although its sixth argument is unreadable",
            "not ok 1 sysenter_fault_efault",
            "not ok 1 c_fast32_musl",
        ],
        qemu_args: INTEL,
        or_endings: &[],
    },
    BootTest {
        // The compat fast entries' sixth-argument read on a CPU without SMAP: its inline
        // `stac`/`clac` are #UD there unless patched to NOPs at boot
        // (uaccess::patch_smap_sites), and its fault still ends in -EFAULT through the
        // exception table (E30, both entries: TCG runs SYSCALL from compat mode under the
        // Intel vendor too). Unpatched, the first fast call is a kernel-mode #UD.
        name: "compat_fast_nosmap",
        cmdline: &[
            "kentry.mode=test",
            "kentry.only=c_fast32_musl,c_ia32_vdso_glibc32",
        ],
        expect_status: 1,
        expect_log: &[
            "vdso32: __kernel_vsyscall uses Sysenter",
            "ok 1 sysenter_fault_efault",
            "ok 3 syscall_fault_efault",
            "ok 2 c_fast32_musl",
            "ok 4 vsyscall_fast_entry",
            "ok 1 c_ia32_vdso_glibc32",
        ],
        qemu_args: &["-cpu", "max,vendor=GenuineIntel,-smap", "-smp", "2"],
        or_endings: &[],
    },
];
