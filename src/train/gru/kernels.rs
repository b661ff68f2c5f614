//! The element-wise halves of a GRU step, forward and backward, over all batch rows at once.
//!
//! They are written as plain loops over slices that the compiler vectorises: the forward
//! pass over each gate's whole `[B·H]` block (so even a tiny `H` fills the vector lanes), the
//! backward pass row by row (`H` elements). Built for the baseline x86-64 target they get
//! 4-lane SSE2; [`forward_step`] and [`backward_step`] also carry an AVX2 + FMA build (8
//! lanes) chosen at run time. Both builds do the same operations in the same order per lane,
//! so results are bit-identical whichever runs: where the forward pass fuses a multiply-add
//! it says so with `f32::mul_add`, which rounds once in every build (an FMA instruction in
//! the AVX2 build, a correctly rounded `fmaf` in the baseline one, where it is slow: machines
//! without AVX2 trade speed for the same numbers). No other multiply-add is fused (Rust does
//! not contract `a * b + c`).

/// One step's activations, each `[B·H]` (row `b·H + j`). The forward pass finds the
/// pre-activations in `r`, `z` (bias + input + recurrent projections), `n` (`b_in + x W_inᵀ`)
/// and `hn` (`h W_hnᵀ + b_hn`), and leaves the activations in place.
pub(super) struct Activations<'a> {
    pub h_next: &'a mut [f32],
    pub r: &'a mut [f32],
    pub z: &'a mut [f32],
    pub n: &'a mut [f32],
    /// `h W_hnᵀ + b_hn`.
    pub hn: &'a [f32],
}

/// Per-step activations read by the backward pass, each `[B·H]`.
pub(super) struct Saved<'a> {
    pub r: &'a [f32],
    pub z: &'a [f32],
    pub n: &'a [f32],
    pub hn: &'a [f32],
    pub h_prev: &'a [f32],
}

/// Gates and new hidden state of one step for every batch row at once, from the
/// pre-activations in `out` and the previous state `h_prev` (`[B·H]`). The blocks are
/// element-wise, so the loops run over all `B·H` elements, whatever `H`.
pub(super) fn forward_step(h_prev: &[f32], out: Activations) {
    let Activations {
        h_next,
        r,
        z,
        n,
        hn,
    } = out;
    gates_any(r, z, n, hn, h_prev, h_next);
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
    // One call per row: the row's slices, cut here and passed to an out-of-line function,
    // are known not to overlap there (the same loop inside one function ran scalar).
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

// Each kernel is compiled twice, for the baseline target and for AVX2, and kept out of line:
// as separate functions their slice arguments are known not to overlap, so the loops
// vectorise without run-time overlap checks (inlined into a caller that cut the slices from
// one struct, LLVM's check failed and it ran the scalar loop).

/// Defines `$plain` and (on x86-64) `$avx2`, out-of-line builds of one kernel with the
/// given slice arguments, both running `$body`, and `$any`, which calls the one the CPU runs.
macro_rules! two_builds {
    ($any:ident, $plain:ident, $avx2:ident, ($($arg:ident: $ty:ty),*) $body:block) => {
        #[allow(clippy::too_many_arguments)]
        #[inline(always)]
        fn $any($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if super::avx2_fma() {
                // SAFETY: the CPU has AVX2 and FMA, checked just above.
                return unsafe { $avx2($($arg),*) };
            }
            $plain($($arg),*)
        }

        #[allow(clippy::too_many_arguments)]
        #[inline(never)]
        fn $plain($($arg: $ty),*) $body

        #[cfg(target_arch = "x86_64")]
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx2,fma")]
        #[inline(never)]
        fn $avx2($($arg: $ty),*) $body
    };
}

two_builds!(gates_any, gates_plain, gates_avx2, (
    r: &mut [f32], z: &mut [f32], n: &mut [f32], hn: &[f32], hp: &[f32], h_next: &mut [f32]
) {
    gates(hp.len(), (r, z, n, hn), hp, h_next)
});

two_builds!(grad_row_any, grad_row_plain, grad_row_avx2, (
    r: &[f32], z: &[f32], n: &[f32], hn: &[f32], hp: &[f32],
    dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32], dbias: &mut [f32]
) {
    grad_row(hp.len(), (r, z, n, hn), hp, dh, dgi, dgh, dbias)
});

/// The gates of a whole step, in place over `len` elements: all slices are cut to `len`
/// first, which lets the compiler drop bounds checks and vectorise the loops (with [`exp`]
/// inlined).
#[inline(always)]
fn gates(
    len: usize,
    (r, z, n, hn): (&mut [f32], &mut [f32], &mut [f32], &[f32]),
    hp: &[f32],
    h_next: &mut [f32],
) {
    let (r, z, n, hn) = (&mut r[..len], &mut z[..len], &mut n[..len], &hn[..len]);
    let (hp, h_next) = (&hp[..len], &mut h_next[..len]);
    // Three loops rather than one: each element's work is a long chain of dependent
    // operations (exp, then a division, then the n gate's exp on top of r), and in one loop
    // the out-of-order window held too few elements' chains to keep the units busy. (Sharing
    // one division between r and z, `1 / ((1 + e^−r)(1 + e^−z))`, in one loop measured no
    // faster.)
    for v in r.iter_mut() {
        *v = sigmoid(*v);
    }
    for v in z.iter_mut() {
        *v = sigmoid(*v);
    }
    for j in 0..len {
        let nv = tanh(r[j].mul_add(hn[j], n[j]));
        h_next[j] = z[j].mul_add(hp[j] - nv, nv);
        n[j] = nv;
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
/// Inputs are clamped to [−87, 88], where e^x stays a normal f32. Every multiply-add is fused
/// (`f32::mul_add`: one rounding, the same in every build).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x.mul_add(LOG2E, ROUND);
    let k = t - ROUND;
    // The integer k sits in the low mantissa bits of t; reading it from there rather than
    // with `k as i32` (which saturates, and so compiles to a scalar compare per lane) keeps
    // the whole function vectorisable.
    let ki = t.to_bits().wrapping_sub(ROUND.to_bits());
    let r = (-k).mul_add(LN2_HI, x);
    let r = (-k).mul_add(LN2_LO, r);
    let p = 1.987_569_2e-4f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 0.5); // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let e = p.mul_add(r * r, r) + 1.0;
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
    /// the run lands on), over widths with a remainder past the vector lanes, and with
    /// pre-activations large enough to saturate every gate.
    #[test]
    fn both_builds_give_identical_bits() {
        if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("fma") {
            return;
        }
        for (rows, h) in [(3, 21), (5, 3), (2, 64)] {
            let len = rows * h;
            let mut pre = [1, 2, 3, 4].map(|seed| random(len, seed));
            // Saturating inputs (e^x would overflow or underflow without the clamp).
            pre[0][0] = 200.0;
            pre[1][1] = -200.0;
            pre[2][2] = 90.0;
            let hp = random(len, 5);
            let forward = |avx2: bool| {
                let [mut r, mut z, mut n, hn] = pre.clone();
                let mut h_next = vec![0f32; len];
                if avx2 {
                    // SAFETY: AVX2 and FMA were detected above.
                    unsafe { gates_avx2(&mut r, &mut z, &mut n, &hn, &hp, &mut h_next) }
                } else {
                    gates_plain(&mut r, &mut z, &mut n, &hn, &hp, &mut h_next)
                }
                [h_next, r, z, n, hn]
            };
            let (plain, avx2) = (forward(false), forward(true));
            assert!(plain.iter().flatten().all(|v| v.is_finite()));
            assert_eq!(plain, avx2, "forward, {rows} rows of {h}");
            let [_, r, z, n, hn] = plain;
            let backward = |avx2: bool| {
                let (mut dh, mut dgi, mut dgh) =
                    (random(len, 6), vec![0f32; 3 * len], vec![0f32; 3 * len]);
                let mut dbias = random(4 * h, 7);
                let saved = Saved {
                    r: &r,
                    z: &z,
                    n: &n,
                    hn: &hn,
                    h_prev: &hp,
                };
                if avx2 {
                    backward_step(h, saved, &mut dh, &mut dgi, &mut dgh, &mut dbias);
                } else {
                    for b in 0..rows {
                        let (o, o3) = (b * h..(b + 1) * h, b * 3 * h..(b + 1) * 3 * h);
                        grad_row_plain(
                            &r[o.clone()],
                            &z[o.clone()],
                            &n[o.clone()],
                            &hn[o.clone()],
                            &hp[o.clone()],
                            &mut dh[o],
                            &mut dgi[o3.clone()],
                            &mut dgh[o3],
                            &mut dbias,
                        );
                    }
                }
                [dh, dgi, dgh, dbias]
            };
            let (plain, avx2) = (backward(false), backward(true));
            assert!(plain[1].iter().any(|v| *v != 0.0), "non-trivial gradients");
            assert_eq!(plain, avx2, "backward, {rows} rows of {h}");
        }
    }
}
