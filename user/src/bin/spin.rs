//! `spin`: spins in ring 3 with no system call until a signal kills it. The RCU self-tests
//! run it on one CPU, so that grace periods must complete while that CPU stays in user mode
//! (kernel/src/test/selftests/rcu.rs).
//!
//! Syscalls: none (it never returns on its own).

#![no_std]
#![no_main]

use kentry_user::entry;
use kentry_user::rt::Args;

entry!(main);

fn main(_args: Args) -> i32 {
    loop {
        core::hint::spin_loop();
    }
}
