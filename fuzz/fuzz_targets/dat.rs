//! Fuzzes the `.dat` reader: the input is written to a temporary file and
//! read back; any bytes give a `DatFile` or an `OutputError`, never a panic
//! and never an allocation larger than the file justifies.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netspectra::output::dat::{read_dat, record_len};

/// One file per fuzzing process, rewritten for every input.
fn scratch_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("netspectra-fuzz-{}.dat", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_path();
    std::fs::write(path, data).expect("scratch file is writable");
    if let Ok(dat) = read_dat(path) {
        assert!(dat.records.len() * record_len(dat.schema) <= data.len());
    }
});
