//! The binary's allocator options (`src/main.rs`) reach jemalloc: a typo in the option
//! string is only a warning on stderr at start, and the options would silently be the
//! defaults (BENCHMARKS.md measures what each one buys).

use std::process::Command;

#[test]
fn the_binary_starts_jemalloc_with_its_own_options() {
    // `stats_print` from the environment adds to the options compiled in, and prints them
    // (with the statistics) when the process exits.
    let out = Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .expect("run the shipper");
    assert!(out.status.success());
    let stats = String::from_utf8_lossy(&out.stderr);
    for option in [
        "opt.narenas: 1\n",
        "opt.tcache_nslots_small_max: 2000\n",
        "opt.tcache_gc_incr_bytes: 1048576\n",
    ] {
        assert!(stats.contains(option), "{option:?} not in:\n{stats}");
    }
    assert!(
        !stats.contains("Invalid conf"),
        "jemalloc refused an option:\n{stats}"
    );
}
