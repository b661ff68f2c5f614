//! The spec parser and validator on arbitrary text: an error is fine, a panic or a hang is not.
#![no_main]

use aerocast::spec::Spec;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Spec::parse(Path::new("fuzz/spec.toml"), text.to_string()) {
        Ok(spec) => {
            // A valid spec expands into its jobs, each with a usable training config.
            for job in aerocast::jobs::expand(&spec, "0") {
                let _ = aerocast::train::TrainConfig::from_params(&job.params);
                let _ = aerocast::jobs::label(&job.params, &spec);
            }
        }
        Err(e) => {
            // Every error names the file.
            assert!(e.to_string().starts_with("fuzz/spec.toml"), "{e}");
        }
    }
});
