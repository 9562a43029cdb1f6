//! `insn-count`: a QEMU TCG plugin (plugin API v1, QEMU 7.2) that counts the instructions each
//! vCPU executes and, at every marker instruction a vCPU executes, prints that vCPU's count:
//! `kentry-insn vcpu=<index> count=<instructions before the marker>`.
//!
//! It stands in for `-icount shift=0` (one TSC tick per instruction), which hangs Linux's SMP
//! bring-up on QEMU 7.2: the bench program marks the two `rdtsc` reads around each timed
//! loop, and xtask takes the difference of the two counts where the guest takes the difference
//! of the two reads (docs/bench.md "Counting with the plugin").
//!
//! The marker is `rdtsc` with a DS segment prefix (`3e 0f 31`): a segment prefix on an
//! instruction without a memory operand is ignored by the CPU, so the marked read behaves and
//! counts like a plain `rdtsc` on real hardware, under `-icount` and here.
//!
//! Counting matches icount's rule: an instruction that faults is counted once, when its retry
//! completes. QEMU calls an instruction's execution callback before the instruction runs, so
//! a faulting instruction has had its callback when the fault leaves the translation block.
//! A fault is recognised when the next instruction this vCPU starts is the first of a block
//! although the previous one was not the last of its block, and is not at that one's end: the
//! block was left in its middle, which only an exception does (interrupts are taken between
//! blocks). That instruction is then taken back out of the count (count.rs). A fault on the
//! last instruction of a block cannot be told apart from a jump and would be counted twice;
//! on the bench's marked paths the plugin's figures equal icount's (docs/bench.md), so such
//! faults are absent there or too rare to move a figure.

pub mod abi;
pub mod count;

use core::ffi::{c_char, c_int, c_void};

use count::{InsnKind, is_marker};

/// What QEMU reads to check the API version this plugin was built against.
#[unsafe(no_mangle)]
pub static qemu_plugin_version: c_int = abi::API_VERSION;

/// Loads the plugin: registers the translation callback, which instruments every block.
///
/// # Safety
/// Called by QEMU with a valid `info` (or none) for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qemu_plugin_install(
    id: abi::PluginId,
    info: *const abi::Info,
    _argc: c_int,
    _argv: *mut *mut c_char,
) -> c_int {
    // SAFETY: QEMU passes a valid info block that lives for the duration of this call.
    if let Some(info) = unsafe { info.as_ref() }
        && !info.system_emulation
    {
        return 1; // vCPU indices and the bench only make sense for full-system emulation
    }
    // SAFETY: registering a callback with the id QEMU gave this plugin.
    unsafe { abi::qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate) };
    0
}

/// Instruments each instruction of a new translation block with [`on_exec`], telling it the
/// instruction's place in the block and whether it is a marker.
extern "C" fn on_translate(_id: abi::PluginId, tb: *mut abi::Tb) {
    // SAFETY: `tb` is valid for the duration of this callback, and so are the instruction
    // handles and instruction bytes obtained from it; each byte slice is the instruction's
    // size long.
    unsafe {
        let n = abi::qemu_plugin_tb_n_insns(tb);
        for i in 0..n {
            let insn = abi::qemu_plugin_tb_get_insn(tb, i);
            let data = abi::qemu_plugin_insn_data(insn) as *const u8;
            let size = abi::qemu_plugin_insn_size(insn);
            let bytes = core::slice::from_raw_parts(data, size);
            let kind = InsnKind {
                first: i == 0,
                last: i + 1 == n,
                marker: is_marker(bytes),
                size: size as u8,
                vaddr: abi::qemu_plugin_insn_vaddr(insn),
            };
            abi::qemu_plugin_register_vcpu_insn_exec_cb(
                insn,
                on_exec,
                abi::CB_NO_REGS,
                kind.encode() as usize as *mut c_void,
            );
        }
    }
}

/// Counts one started instruction on `vcpu`; at a marker, prints the count.
extern "C" fn on_exec(vcpu: u32, userdata: *mut c_void) {
    let kind = InsnKind::decode(userdata as usize as u64);
    if let Some(count) = count::COUNTERS.start(vcpu, kind)
        && let Ok(line) = std::ffi::CString::new(count::marker_line(vcpu, count))
    {
        // SAFETY: a NUL-terminated string that lives across the call.
        unsafe { abi::qemu_plugin_outs(line.as_ptr()) };
    }
}
