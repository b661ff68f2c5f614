//! The CSV loader on arbitrary bytes, under each missing-value policy: an error is fine, a panic
//! is not, and a loaded dataset is rectangular and finite.
#![no_main]

use aerocast::spec::Spec;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::LazyLock;

static SPECS: LazyLock<Vec<Spec>> = LazyLock::new(|| {
    ["error", "drop", "ffill"]
        .iter()
        .map(|missing| {
            let text = format!(
                "[experiment]\nname = \"fuzz\"\n[data]\npath = \"d.csv\"\ntarget = \"y\"\n\
                 features = [\"x\", \"y\"]\ntime = \"t\"\nwindow = 2\nmissing = \"{missing}\"\n\
                 [train]\nepochs = 1\nhidden_dim = 2\nlr = 0.1\n"
            );
            Spec::parse(Path::new("fuzz/s.toml"), text).expect("the fuzz spec is valid")
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&policy, csv)) = data.split_first() else {
        return;
    };
    let spec = &SPECS[policy as usize % SPECS.len()];
    match aerocast::data::load_bytes(&spec.data, &spec.lines, csv) {
        Ok(d) => {
            assert_eq!(d.inputs.len(), d.rows() * d.features.len());
            assert!(d.inputs.iter().chain(&d.targets).all(|v| v.is_finite()));
            assert_eq!(d.times.as_ref().map(Vec::len), Some(d.rows()));
            assert!(d.breaks.windows(2).all(|w| w[0] < w[1]));
            assert!(d.breaks.iter().all(|&b| b > 0 && b < d.rows()));
            // The rest of planning works on whatever loaded.
            let p = aerocast::train::Prepared::new(&d, spec.data.train_fraction);
            let _ = p.train_targets(2, 1).len();
        }
        Err(e) => {
            let e = e.to_string();
            assert!(e.starts_with("fuzz/d.csv") || e.starts_with("fuzz/s.toml"), "{e}");
        }
    }
});
