//! Writes the issue-4 reference series (`aerocast::reference`) as CSV (`t,value`) to stdout.
//! Used by `benches/sweep_scaling.sh`.

fn main() {
    print!("{}", aerocast::reference::csv());
}
