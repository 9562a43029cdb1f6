//! A KTAP version 1 printer (docs/harness.md: "User programs").
//!
//! ```text
//! KTAP version 1
//! 1..3
//! # a diagnostic line
//! ok 1 first_case
//! not ok 2 second_case
//! ok 3 third_case # SKIP why it could not run here
//! ```
//! The program exits with [`Ktap::finish`]'s value: 0 iff every planned result was printed and
//! none was `not ok`.

use core::fmt;

use crate::println;

/// The results of one test program.
pub struct Ktap {
    planned: u32,
    done: u32,
    failed: u32,
}

impl Ktap {
    /// Prints the header and the plan (`1..planned`).
    pub fn new(planned: u32) -> Self {
        println!("KTAP version 1");
        println!("1..{planned}");
        Self {
            planned,
            done: 0,
            failed: 0,
        }
    }

    /// Prints `ok N name` if `pass`, else `not ok N name`. Returns `pass`.
    pub fn result(&mut self, pass: bool, name: impl fmt::Display) -> bool {
        self.done += 1;
        if pass {
            println!("ok {} {}", self.done, name);
        } else {
            self.failed += 1;
            println!("not ok {} {}", self.done, name);
        }
        pass
    }

    /// Prints `ok N name # SKIP reason`.
    pub fn skip(&mut self, name: impl fmt::Display, reason: impl fmt::Display) {
        self.done += 1;
        println!("ok {} {} # SKIP {}", self.done, name, reason);
    }

    /// Checks `got == want`; on a mismatch prints both as a diagnostic before the result.
    pub fn eq<T: PartialEq + fmt::Debug>(
        &mut self,
        got: T,
        want: T,
        name: impl fmt::Display,
    ) -> bool {
        let pass = got == want;
        if !pass {
            diag(format_args!("{name}: got {got:?}, want {want:?}"));
        }
        self.result(pass, name)
    }

    /// Like [`Ktap::eq`] for raw 64-bit values, shown in hex.
    pub fn eq_hex(&mut self, got: u64, want: u64, name: impl fmt::Display) -> bool {
        let pass = got == want;
        if !pass {
            diag(format_args!("{name}: got {got:#x}, want {want:#x}"));
        }
        self.result(pass, name)
    }

    /// Number of `not ok` results so far.
    pub fn failures(&self) -> u32 {
        self.failed
    }

    /// Ends the run: the exit status, 0 iff every planned result was printed and all were ok.
    pub fn finish(self) -> i32 {
        if self.done != self.planned {
            diag(format_args!(
                "planned {} results, printed {}",
                self.planned, self.done
            ));
            return 1;
        }
        if self.failed != 0 {
            diag(format_args!("{} of {} failed", self.failed, self.planned));
            return 1;
        }
        0
    }
}

/// Prints a diagnostic line: `# <text>`.
pub fn diag(args: fmt::Arguments<'_>) {
    println!("# {args}");
}

/// Prints a KTAP diagnostic line (`# ...`) with `format!` syntax.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => { $crate::ktap::diag(format_args!($($arg)*)) };
}

/// Exit status of a program that could not provoke its case on this CPU (it printed a KTAP
/// SKIP saying why). The harness reports the manifest entry as skipped, never as passed.
pub const SKIP_STATUS: i32 = 77;
