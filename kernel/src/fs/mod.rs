//! Files. This is the seed of the file layer: a per-process descriptor table whose first
//! three entries are the console. The in-memory filesystem, pipes, /dev and /proc grow here.

use alloc::sync::Arc;
use alloc::vec::Vec;

/// What a descriptor refers to.
pub enum File {
    /// The console: reads come from the run's stdin, writes go to the host's stdout/stderr.
    Console,
}

#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<File>,
    pub cloexec: bool,
}

/// A process's open files.
#[derive(Clone)]
pub struct FdTable {
    pub fds: Vec<Option<FdEntry>>,
}

impl FdTable {
    /// stdin, stdout and stderr on the console.
    pub fn new_console() -> Self {
        let c = Arc::new(File::Console);
        FdTable {
            fds: (0..3)
                .map(|_| {
                    Some(FdEntry {
                        file: c.clone(),
                        cloexec: false,
                    })
                })
                .collect(),
        }
    }

    pub fn get(&self, fd: u64) -> Option<&FdEntry> {
        self.fds.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    /// fork: the child shares every open file.
    pub fn fork_copy(&self) -> Self {
        self.clone()
    }

    /// execve: close-on-exec descriptors go.
    pub fn close_on_exec(&mut self) {
        for e in self.fds.iter_mut() {
            if e.as_ref().is_some_and(|x| x.cloexec) {
                *e = None;
            }
        }
    }

    pub fn close_all(&mut self) {
        self.fds.clear();
    }
}
