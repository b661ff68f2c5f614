//! Writes the reference series (`benches/common/reference.rs`) as CSV (`t,value`) to stdout.
//! Used by `benches/sweep_scaling.sh`.

#[path = "../benches/common/reference.rs"]
mod reference;

fn main() {
    print!("{}", reference::csv());
}
