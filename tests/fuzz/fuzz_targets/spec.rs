//! The spec parser and validator on arbitrary text: an error is fine, a panic or a hang is not.
#![no_main]

use aerocast::jobs::DataIdentity;
use aerocast::spec::Spec;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// Proposals checked per accepted spec: enough to cover every knob, bounded so a huge grid
/// cannot turn one input into a hang.
const MAX_TRIALS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Spec::parse(Path::new("fuzz/spec.toml"), text.to_string()) {
        Ok(spec) => {
            // A valid spec plans its trials as `aerocast sweep` does, and every proposal has a
            // usable training config and label.
            let identity = DataIdentity::new(&spec, "0");
            let mut trials = aerocast::search::trials(&spec, &identity);
            for slot in trials.slots.iter().take(MAX_TRIALS) {
                let params = match &slot.params {
                    Some(p) => p.clone(),
                    None => trials.sampler.propose(slot.index, &[]),
                };
                let _ = aerocast::train::TrainConfig::from_params(&params);
                let _ = aerocast::jobs::label(&params, &spec);
            }
        }
        Err(e) => {
            // Every error names the file.
            assert!(e.to_string().starts_with("fuzz/spec.toml"), "{e}");
        }
    }
});
