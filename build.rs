//! Links the binary with packed relative relocations (`DT_RELR`, `-z
//! pack-relative-relocs`) when it is built on and for glibc 2.36 or later,
//! whose loader applies them (issue 13: binary size, memory at start). A
//! position-independent executable carries a 24-byte relocation for every
//! pointer in its read-only data (vtables, string tables): 0.63 MB in the
//! release binary, all of it read by the loader at every start; packed, a
//! few kilobytes. The binary then needs glibc 2.36 or later where it runs
//! (it names `GLIBC_ABI_DT_RELR`, so an older loader refuses it with that
//! name instead of crashing). Elsewhere (another C library, an older glibc,
//! a cross build) it links as before.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("TARGET") == var("HOST");
    if native
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && glibc_loads_relr()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc (the one the binary links against) is 2.36
/// or later, read from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_loads_relr() -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
