//! Fuzzes the config loader: any text is a `Config` or a `ConfigError`
//! whose message names the origin, never a panic or a hang.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netspectra::config::{Config, ConfigError};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(ConfigError::Invalid { origin, .. }) = Config::from_yaml(&text, "fuzz.yaml") {
        assert_eq!(origin, "fuzz.yaml");
    }
});
