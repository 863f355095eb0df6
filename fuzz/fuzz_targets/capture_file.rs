//! Fuzzes the capture-file path as `analyze` walks it: the input is written
//! to a temporary file, its link types are checked, then every packet is
//! read and parsed until the end or the first error. Neither step may
//! panic, hang or allocate without bound.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netspectra::capture::{CaptureFile, MAX_CAPTURED_LEN, check_link_types};
use netspectra::packet::parse;

/// One file per fuzzing process, rewritten for every input.
fn scratch_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("netspectra-fuzz-{}.cap", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_path();
    std::fs::write(path, data).expect("scratch file is writable");
    let _ = check_link_types(path);
    let Ok(mut capture) = CaptureFile::open(path) else {
        return;
    };
    let mut packets = 0u64;
    while let Ok(Some(packet)) = capture.next_packet() {
        assert!(packet.data.len() <= MAX_CAPTURED_LEN as usize);
        let _ = parse(packet.link_type, packet.data);
        packets += 1;
        // Every record takes at least 12 bytes of the file.
        assert!(
            packets <= data.len() as u64 / 12 + 1,
            "more packets than the file can hold"
        );
    }
});
