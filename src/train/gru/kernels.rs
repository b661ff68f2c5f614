//! The element-wise halves of a GRU step, forward and backward, over all batch rows at once.
//!
//! They are written as plain loops over slices of length `h` that the compiler vectorises.
//! Built for the baseline x86-64 target they get 4-lane SSE2; [`forward_step`] and
//! [`backward_step`] also carry an AVX2 build (8 lanes) chosen at run time. Both builds do
//! the same operations in the same order per lane (no fused multiply-add is ever formed), so
//! results are bit-identical whichever runs.

/// Per-step activations written by the forward pass, each `[B·H]` (row `b·H + j`).
pub(super) struct Activations<'a> {
    pub h_next: &'a mut [f32],
    pub r: &'a mut [f32],
    pub z: &'a mut [f32],
    pub n: &'a mut [f32],
    /// `h W_hnᵀ + b_hn`.
    pub hn: &'a mut [f32],
}

/// Per-step activations read by the backward pass, each `[B·H]`.
pub(super) struct Saved<'a> {
    pub r: &'a [f32],
    pub z: &'a [f32],
    pub n: &'a [f32],
    pub hn: &'a [f32],
    pub h_prev: &'a [f32],
}

/// Gates and new hidden state of one step for every batch row, from the step's input
/// projection `gi` and recurrent projection `gh` (both `[B·3H]`), `bias` (`[4H]`) and the
/// previous state `h_prev` (`[B·H]`).
pub(super) fn forward_step(
    h: usize,
    gi: &[f32],
    gh: &[f32],
    bias: &[f32],
    h_prev: &[f32],
    out: Activations,
) {
    for b in 0..h_prev.len() / h {
        let (o, o3) = (b * h..(b + 1) * h, b * 3 * h..(b + 1) * 3 * h);
        gate_row_any(
            &gi[o3.clone()],
            &gh[o3],
            bias,
            &h_prev[o.clone()],
            &mut out.h_next[o.clone()],
            &mut out.r[o.clone()],
            &mut out.z[o.clone()],
            &mut out.n[o.clone()],
            &mut out.hn[o],
        );
    }
}

/// Backward through one step for every batch row. `dh` (`[B·H]`) holds ∂L/∂h_t on entry and
/// the direct part of ∂L/∂h_{t−1} (through z) on return; the part through `W_hh` is added by
/// the caller from `dgh`. Writes the gradients of the gates' pre-activations on the input
/// side, `dgi`, and on the recurrent side, `dgh` (both `[B·3H]`; they differ in the n gate),
/// and adds to `dbias` (`[4H]`).
pub(super) fn backward_step(
    h: usize,
    saved: Saved,
    dh: &mut [f32],
    dgi: &mut [f32],
    dgh: &mut [f32],
    dbias: &mut [f32],
) {
    for b in 0..dh.len() / h {
        let (o, o3) = (b * h..(b + 1) * h, b * 3 * h..(b + 1) * 3 * h);
        grad_row_any(
            &saved.r[o.clone()],
            &saved.z[o.clone()],
            &saved.n[o.clone()],
            &saved.hn[o.clone()],
            &saved.h_prev[o.clone()],
            &mut dh[o],
            &mut dgi[o3.clone()],
            &mut dgh[o3],
            dbias,
        );
    }
}

/// Cached by the standard library after the first call: one atomic load per row.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

// Each row function is compiled twice, for the baseline target and for AVX2, and kept out of
// line: as separate functions their slice arguments are known not to overlap, so the loops
// vectorise without run-time overlap checks (inlined into the batch loop, LLVM's check
// failed and it ran the scalar loop).

/// Defines `$plain` and (on x86-64) `$avx2`, out-of-line builds of one row function with the
/// given slice arguments, both running `$body`, and `$any`, which calls the one the CPU runs.
macro_rules! two_builds {
    ($any:ident, $plain:ident, $avx2:ident, ($($arg:ident: $ty:ty),*) $body:block) => {
        #[allow(clippy::too_many_arguments)]
        #[inline(always)]
        fn $any($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU has AVX2, checked just above.
                return unsafe { $avx2($($arg),*) };
            }
            $plain($($arg),*)
        }

        #[allow(clippy::too_many_arguments)]
        #[inline(never)]
        fn $plain($($arg: $ty),*) $body

        #[cfg(target_arch = "x86_64")]
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx2")]
        #[inline(never)]
        fn $avx2($($arg: $ty),*) $body
    };
}

two_builds!(gate_row_any, gate_row_plain, gate_row_avx2, (
    gi: &[f32], gh: &[f32], bias: &[f32], hp: &[f32],
    h_next: &mut [f32], r: &mut [f32], z: &mut [f32], n: &mut [f32], hn: &mut [f32]
) {
    gate_row(hp.len(), gi, gh, bias, hp, h_next, (r, z, n, hn))
});

two_builds!(grad_row_any, grad_row_plain, grad_row_avx2, (
    r: &[f32], z: &[f32], n: &[f32], hn: &[f32], hp: &[f32],
    dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32], dbias: &mut [f32]
) {
    grad_row(hp.len(), (r, z, n, hn), hp, dh, dgi, dgh, dbias)
});

/// One batch row of one step: gates from the projections, the new hidden state, and the
/// activations backward needs. All slices have length `h` (`gi`, `gh`: `3h`; `bias`: `4h`),
/// which lets the compiler drop bounds checks and vectorise the loop (with [`exp`] inlined).
#[inline(always)]
fn gate_row(
    h: usize,
    gi: &[f32],
    gh: &[f32],
    bias: &[f32],
    hp: &[f32],
    h_next: &mut [f32],
    (r_o, z_o, n_o, hn_o): (&mut [f32], &mut [f32], &mut [f32], &mut [f32]),
) {
    let (gi_r, gi_z, gi_n) = (&gi[..h], &gi[h..2 * h], &gi[2 * h..3 * h]);
    let (gh_r, gh_z, gh_n) = (&gh[..h], &gh[h..2 * h], &gh[2 * h..3 * h]);
    let (b_r, b_z, b_in, b_hn) = (
        &bias[..h],
        &bias[h..2 * h],
        &bias[2 * h..3 * h],
        &bias[3 * h..4 * h],
    );
    let (hp, h_next) = (&hp[..h], &mut h_next[..h]);
    let (r_o, z_o, n_o, hn_o) = (&mut r_o[..h], &mut z_o[..h], &mut n_o[..h], &mut hn_o[..h]);
    // Three loops rather than one: each element's work is a long chain of dependent
    // operations (exp, then a division, then the n gate's exp on top of r), and in one loop
    // the out-of-order window held too few elements' chains to keep the units busy. Each gate
    // alone is a short chain, and the same operations in the same order per element.
    for j in 0..h {
        r_o[j] = sigmoid(gi_r[j] + b_r[j] + gh_r[j]);
    }
    for j in 0..h {
        z_o[j] = sigmoid(gi_z[j] + b_z[j] + gh_z[j]);
    }
    for j in 0..h {
        let hn = gh_n[j] + b_hn[j];
        let n = tanh(gi_n[j] + b_in[j] + r_o[j] * hn);
        h_next[j] = n + z_o[j] * (hp[j] - n);
        n_o[j] = n;
        hn_o[j] = hn;
    }
}

/// Backward through one batch row of one step. `dh` holds ∂L/∂h_t on entry and the direct
/// part of ∂L/∂h_{t−1} (through z) on return; the part through `W_hh` is added by the caller.
#[inline(always)]
fn grad_row(
    h: usize,
    (r, z, n, hn): (&[f32], &[f32], &[f32], &[f32]),
    hp: &[f32],
    dh: &mut [f32],
    dgi: &mut [f32],
    dgh: &mut [f32],
    dbias: &mut [f32],
) {
    let (r, z, n, hn, hp, dh) = (&r[..h], &z[..h], &n[..h], &hn[..h], &hp[..h], &mut dh[..h]);
    let (dgi_r, rest) = dgi[..3 * h].split_at_mut(h);
    let (dgi_z, dgi_n) = rest.split_at_mut(h);
    let (dgh_r, rest) = dgh[..3 * h].split_at_mut(h);
    let (dgh_z, dgh_n) = rest.split_at_mut(h);
    let (db_r, rest) = dbias[..4 * h].split_at_mut(h);
    let (db_z, rest) = rest.split_at_mut(h);
    let (db_in, db_hn) = rest.split_at_mut(h);
    for j in 0..h {
        let d = dh[j];
        let dn_pre = d * (1.0 - z[j]) * (1.0 - n[j] * n[j]);
        let dz_pre = d * (hp[j] - n[j]) * z[j] * (1.0 - z[j]);
        let dr_pre = dn_pre * hn[j] * r[j] * (1.0 - r[j]);
        let dhn = dn_pre * r[j];
        dgi_r[j] = dr_pre;
        dgi_z[j] = dz_pre;
        dgi_n[j] = dn_pre;
        dgh_r[j] = dr_pre;
        dgh_z[j] = dz_pre;
        dgh_n[j] = dhn;
        db_r[j] += dr_pre;
        db_z[j] += dz_pre;
        db_in[j] += dn_pre;
        db_hn[j] += dhn;
        dh[j] = d * z[j];
    }
}

/// e^x for f32, Cephes' `expf` polynomial (relative error ~1e-7 over the range used), written
/// without calls or branches so the gate loop vectorises; libm's `expf` is a call per element.
/// Inputs are clamped to [−87, 88], where e^x stays a normal f32.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let k = t - ROUND;
    // The integer k sits in the low mantissa bits of t; reading it from there rather than
    // with `k as i32` (which saturates, and so compiles to a scalar compare per lane) keeps
    // the whole function vectorisable.
    let ki = t.to_bits().wrapping_sub(ROUND.to_bits());
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(ki.wrapping_add(127) << 23)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh as 2·σ(2x) − 1: libm's `tanhf` (a call per element, via `expm1f`) was ~3× slower
/// than an `expf`-based form in `benches/tools/tanh_vs_sigmoid.rs`; this one also vectorises.
/// Absolute error stays below 1e-6.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-4.0f32..4.0)).collect()
    }

    /// The baseline and AVX2 builds give the same bits (so results do not depend on the CPU
    /// the run lands on), over a width with a remainder past the vector lanes.
    #[test]
    fn both_builds_give_identical_bits() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let h = 21;
        let (gi, gh, bias, hp) = (
            random(3 * h, 1),
            random(3 * h, 2),
            random(4 * h, 3),
            random(h, 4),
        );
        let forward = |avx2: bool| {
            let mut out = vec![vec![0f32; h]; 5];
            let [h_next, r, z, n, hn] = out.get_disjoint_mut([0, 1, 2, 3, 4]).unwrap();
            if avx2 {
                // SAFETY: AVX2 was detected above.
                unsafe { gate_row_avx2(&gi, &gh, &bias, &hp, h_next, r, z, n, hn) }
            } else {
                gate_row_plain(&gi, &gh, &bias, &hp, h_next, r, z, n, hn)
            }
            out
        };
        let (plain, avx2) = (forward(false), forward(true));
        assert_eq!(plain, avx2);
        let [_, r, z, n, hn] = [0, 1, 2, 3, 4].map(|i| plain[i].clone());
        let backward = |avx2: bool| {
            let (mut dh, mut dgi, mut dgh) = (random(h, 5), vec![0f32; 3 * h], vec![0f32; 3 * h]);
            let mut dbias = random(4 * h, 6);
            if avx2 {
                // SAFETY: AVX2 was detected above.
                unsafe {
                    grad_row_avx2(
                        &r, &z, &n, &hn, &hp, &mut dh, &mut dgi, &mut dgh, &mut dbias,
                    )
                }
            } else {
                grad_row_plain(
                    &r, &z, &n, &hn, &hp, &mut dh, &mut dgi, &mut dgh, &mut dbias,
                )
            }
            [dh, dgi, dgh, dbias]
        };
        let (plain, avx2) = (backward(false), backward(true));
        assert!(plain[1].iter().any(|v| *v != 0.0), "non-trivial gradients");
        assert_eq!(plain, avx2);
    }
}
