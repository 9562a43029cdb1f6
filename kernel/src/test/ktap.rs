//! Printing KTAP version 1.

use alloc::string::String;

pub enum Outcome {
    Pass,
    Fail(String),
    Skip(&'static str),
}

pub struct Ktap {
    next: usize,
    failed: usize,
}

impl Ktap {
    pub fn new(planned: usize) -> Self {
        crate::kprint!("KTAP version 1\n1..{planned}\n");
        Ktap { next: 1, failed: 0 }
    }

    pub fn subtest_header(&self, name: &str) {
        crate::kprint!("# Subtest: {name}\n");
    }

    pub fn result(&mut self, name: &str, outcome: Outcome) {
        let n = self.next;
        self.next += 1;
        match outcome {
            Outcome::Pass => crate::kprint!("ok {n} {name}\n"),
            Outcome::Skip(why) => crate::kprint!("ok {n} {name} # SKIP {why}\n"),
            Outcome::Fail(why) => {
                self.failed += 1;
                crate::kprint!("# {name}: {why}\nnot ok {n} {name}\n");
            }
        }
    }

    pub fn failed(&self) -> usize {
        self.failed
    }
}
