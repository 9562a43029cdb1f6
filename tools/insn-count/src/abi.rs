//! The part of QEMU's plugin API (version 1, as QEMU 7.2 exports it) that this plugin calls,
//! declared from the API's documented behaviour. QEMU resolves these symbols in its own
//! executable when it loads the plugin with `-plugin`, so nothing is linked at build time.
//!
//! ABI facts (QEMU 7.2):
//! - a plugin id is a `u64`; the TB and instruction handles are opaque pointers, valid only
//!   during the translation callback;
//! - callback flags are a C enum (an `int`): 0 means the callback touches no guest register;
//! - an execution callback gets the vCPU index and the `userdata` it was registered with;
//! - `qemu_plugin_insn_data` points at the instruction's bytes, `qemu_plugin_insn_size` long;
//! - `qemu_plugin_outs` writes a NUL-terminated string to QEMU's log under `-d plugin`.

use core::ffi::{c_char, c_int, c_void};

/// The plugin API version this plugin was written against (QEMU_PLUGIN_VERSION of QEMU 7.2).
pub const API_VERSION: c_int = 1;

pub type PluginId = u64;

/// `QEMU_PLUGIN_CB_NO_REGS`: the callback reads no guest register.
pub const CB_NO_REGS: c_int = 0;

/// An opaque translation block handle.
#[repr(C)]
pub struct Tb {
    _opaque: [u8; 0],
}

/// An opaque translated-instruction handle.
#[repr(C)]
pub struct Insn {
    _opaque: [u8; 0],
}

/// The head of `qemu_info_t`: what this plugin reads of it.
#[repr(C)]
pub struct Info {
    pub target_name: *const c_char,
    pub version_min: c_int,
    pub version_cur: c_int,
    pub system_emulation: bool,
}

pub type TbTransCb = extern "C" fn(id: PluginId, tb: *mut Tb);
pub type VcpuUdataCb = extern "C" fn(vcpu_index: u32, userdata: *mut c_void);

unsafe extern "C" {
    pub fn qemu_plugin_register_vcpu_tb_trans_cb(id: PluginId, cb: TbTransCb);
    pub fn qemu_plugin_register_vcpu_insn_exec_cb(
        insn: *mut Insn,
        cb: VcpuUdataCb,
        flags: c_int,
        userdata: *mut c_void,
    );
    pub fn qemu_plugin_tb_n_insns(tb: *const Tb) -> usize;
    pub fn qemu_plugin_tb_get_insn(tb: *const Tb, idx: usize) -> *mut Insn;
    pub fn qemu_plugin_insn_data(insn: *const Insn) -> *const c_void;
    pub fn qemu_plugin_insn_size(insn: *const Insn) -> usize;
    pub fn qemu_plugin_insn_vaddr(insn: *const Insn) -> u64;
    pub fn qemu_plugin_outs(string: *const c_char);
}
