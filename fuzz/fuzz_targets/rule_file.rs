//! Rule files: the TOML comment header and the SQL body, with error positions. Any text
//! must give a rule or a positioned error, never a panic.
#![no_main]

// The module is pure (engine, serde and toml only); included as source so that fuzzing
// does not build the whole service.
#[allow(dead_code)]
#[path = "../../src/rulefile.rs"]
mod rulefile;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("rules/fuzz.sql");
    if let Err(e) = rulefile::parse("fuzz", path, text) {
        assert!(e.line >= 1 && e.col >= 1, "{e}");
        assert!(!e.message.is_empty());
    }
});
