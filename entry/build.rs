//! Puts kentry's linker-script fragments (`link/`) on the linker's search path of every
//! binary that depends on kentry, so a host's linker script can `INCLUDE kentry-tables.ld`.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-search=native={dir}/link");
    println!("cargo:rerun-if-changed=link");
    println!("cargo:rerun-if-changed=build.rs");
}
