//! What one run's artifacts cost, part by part: the weights, the model card and the loss plot
//! rendered in memory (as a sweep does), and for comparison the same written as files, an
//! fsync and a folder, each timed over many repetitions in a temporary folder on the file
//! system of the current directory (where a store would live).
//!
//! `cargo run --release --example artifact_cost -- [repetitions=200]`

#[path = "../benches/common/reference.rs"]
mod reference;

use aerocast::artifacts::{self, ModelCard};
use std::path::Path;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .map_or(200, |a| a.parse().expect("repetitions"));
    // A tiny 1-epoch model, like the runs of benches/many_runs.sh.
    let data = reference::dataset();
    let prepared = reference::prepared();
    let mut cfg = reference::config(4, 3, 1e-3, 0);
    cfg.window = 7;
    let trained = aerocast::train::train(&cfg, &prepared, &mut |_| {
        Ok(aerocast::train::Next::Continue)
    })?;
    let params = Default::default();
    let card = ModelCard::new("run", &cfg, &params, &data, &prepared);
    let tmp = tempfile::tempdir_in(".")?;
    let dir = tmp.path();

    let time = |what: &str, f: &mut dyn FnMut(&Path) -> anyhow::Result<()>| {
        let start = Instant::now();
        for i in 0..reps {
            f(&dir.join(format!("{what}-{i}"))).expect(what);
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!("{what:>14}: {ms:.3} ms");
    };
    time("empty file", &mut |p| Ok(std::fs::write(p, b"")?));
    time("weights", &mut |p| Ok(trained.varmap.save(p)?));
    time("card", &mut |p| {
        Ok(std::fs::write(p, serde_json::to_vec_pretty(&card)?)?)
    });
    time("loss plot", &mut |p| {
        let svg = aerocast::plot::loss_curve("title", &trained.history)?;
        Ok(std::fs::write(p.with_extension("svg"), svg)?)
    });
    time("fsync (1 KiB)", &mut |p| {
        let mut f = std::fs::File::create(p)?;
        std::io::Write::write_all(&mut f, &[0u8; 1024])?;
        Ok(f.sync_all()?)
    });
    time("folder + rename", &mut |p| {
        std::fs::create_dir(p)?;
        std::fs::write(p.join("a"), b"x")?;
        Ok(std::fs::rename(p.join("a"), p.join("b"))?)
    });
    time("all, in memory", &mut |_| {
        artifacts::render(&trained, &card, "title")?;
        Ok(())
    });
    for a in artifacts::render(&trained, &card, "title")? {
        println!("{:>14}: {} bytes", a.name, a.content.len());
    }
    time("all, as files", &mut |p| {
        std::fs::create_dir(p)?;
        for a in artifacts::render(&trained, &card, "title")? {
            std::fs::write(p.join(a.name), &a.content)?;
        }
        Ok(())
    });
    Ok(())
}
