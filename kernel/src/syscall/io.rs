//! Reading and writing descriptors (the console for now).

use super::errno::*;
use super::table::Table;
use crate::fs::File;
use crate::uaccess::{copy_from_user, copy_to_user};
use kentry::Regs;

pub const fn register(mut t: Table) -> Table {
    t[0] = sys_read;
    t[1] = sys_write;
    t
}

fn file(fd: u64) -> Result<alloc::sync::Arc<File>, i64> {
    crate::task::current()
        .process
        .files
        .lock()
        .get(fd)
        .map(|e| e.file.clone())
        .ok_or(-EBADF)
}

fn sys_read(regs: &mut Regs) -> i64 {
    let (fd, buf, len) = (regs.rdi, regs.rsi, regs.rdx as usize);
    match &*match file(fd) {
        Ok(f) => f,
        Err(e) => return e,
    } {
        File::Console => {
            let mut chunk = [0u8; 256];
            let n = crate::console::stdin_read(&mut chunk[..len.min(256)]);
            if n > 0 && copy_to_user(buf, &chunk[..n]).is_err() {
                return -EFAULT;
            }
            n as i64
        }
    }
}

fn sys_write(regs: &mut Regs) -> i64 {
    let (fd, buf, len) = (regs.rdi, regs.rsi, regs.rdx as usize);
    match &*match file(fd) {
        Ok(f) => f,
        Err(e) => return e,
    } {
        File::Console => {
            let mut chunk = [0u8; 256];
            let mut done = 0usize;
            while done < len {
                let n = (len - done).min(chunk.len());
                if copy_from_user(&mut chunk[..n], buf + done as u64).is_err() {
                    return if done == 0 { -EFAULT } else { done as i64 };
                }
                crate::console::user_write(fd as u32, &chunk[..n]);
                done += n;
            }
            done as i64
        }
    }
}
