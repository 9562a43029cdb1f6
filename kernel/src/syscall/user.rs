//! Reading syscall arguments that live in user memory: strings and pointer arrays.

use super::errno::*;
use crate::uaccess::copy_from_user;
use alloc::string::String;
use alloc::vec::Vec;

/// A NUL-terminated user string of at most `max` bytes, as UTF-8 (paths).
pub fn read_cstr(addr: u64, max: usize) -> Result<String, i64> {
    String::from_utf8(read_cstr_bytes(addr, max)?).map_err(|_| -EINVAL)
}

/// A NUL-terminated user string of at most `max` bytes, any bytes (argv, envp).
pub fn read_cstr_bytes(addr: u64, max: usize) -> Result<Vec<u8>, i64> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 64];
    let mut at = addr;
    loop {
        // Read up to the end of the page so a string ending just before an unmapped page
        // does not fault.
        let room = (4096 - (at & 4095)) as usize;
        let n = room.min(chunk.len());
        copy_from_user(&mut chunk[..n], at).map_err(|_| -EFAULT)?;
        if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..z]);
            break;
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > max {
            return Err(-ENAMETOOLONG);
        }
        at += n as u64;
    }
    Ok(out)
}

/// A NULL-terminated array of user string pointers (argv/envp).
pub fn read_str_array(addr: u64, max_total: usize) -> Result<Vec<Vec<u8>>, i64> {
    let mut v = Vec::new();
    if addr == 0 {
        return Ok(v);
    }
    let mut total = 0;
    // An i386 execve's arrays hold 32-bit pointers (Linux's get_user_arg_ptr for compat).
    let width = if super::compat::in_ia32_syscall() {
        4
    } else {
        8
    };
    for i in 0.. {
        let mut p = [0u8; 8];
        copy_from_user(&mut p[..width], addr + i * width as u64).map_err(|_| -EFAULT)?;
        let p = u64::from_ne_bytes(p);
        if p == 0 {
            break;
        }
        let s = read_cstr_bytes(p, max_total)?;
        total += s.len() + 1;
        if total > max_total {
            return Err(-E2BIG);
        }
        v.push(s);
    }
    Ok(v)
}
