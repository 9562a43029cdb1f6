//! The test manifest `/etc/kentry-tests`: `<name> <expected status> <argv0> [args…]`.

use super::Outcome;
use crate::console::UserOutput;
use crate::task::ExitReason;

/// A program's "cannot provoke it here" status (docs/harness.md).
const SKIP_STATUS: i32 = 77;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub struct Entry {
    pub name: String,
    pub expected: i32,
    pub argv: Vec<String>,
}

pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let mut w = l.split_ascii_whitespace();
            let name = w.next()?.into();
            let expected = w.next()?.parse().ok()?;
            let argv: Vec<String> = w.map(String::from).collect();
            (!argv.is_empty()).then_some(Entry {
                name,
                expected,
                argv,
            })
        })
        .collect()
}

pub fn load() -> Vec<Entry> {
    crate::INITRD
        .get()
        .and_then(|c| c.find("etc/kentry-tests"))
        .and_then(|d| core::str::from_utf8(d).ok())
        .map(parse)
        .unwrap_or_default()
}

impl Entry {
    /// Runs the program with its output nested under the kernel's KTAP. Its own KTAP results
    /// are judged by xtask (it sees every nested line); here the exit status must match.
    pub fn run(&self) -> Outcome {
        let args: Vec<&str> = self.argv[1..].iter().map(String::as_str).collect();
        crate::console::set_user_output(UserOutput::Nested);
        let r = super::run_program(&self.argv[0], &args);
        crate::console::set_user_output(UserOutput::Plain);
        match r {
            Ok(reason) if reason.shell_status() == self.expected => Outcome::Pass,
            Ok(ExitReason::Exited(SKIP_STATUS)) => {
                Outcome::Skip("the program cannot provoke its case on this CPU (status 77)")
            }
            Ok(reason) => Outcome::Fail(format!(
                "ended with status {}, expected {}",
                reason.shell_status(),
                self.expected
            )),
            Err(e) => Outcome::Fail(e),
        }
    }
}
