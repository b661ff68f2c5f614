//! Every matrix product of the layer, on a right-hand side packed for reuse.
//!
//! A general gemm repacks both operands and plans its blocking on every call; at a GRU
//! step's size (`[64, 64] × [64, 192]`) that bookkeeping cost about a third of the product
//! itself, several times per step. Here the weights are packed once per batch (and each
//! step's small gradient operand once per step) into column panels, and each product runs
//! only the micro-kernel: 6 rows × 16 columns of the result held in 12 AVX2 registers, one
//! fused multiply-add per register per element of the shared dimension. The left-hand side
//! is read in place through its strides, row- or column-major.
//!
//! Each result element is summed over the shared dimension in order, from zero, and then
//! added to the destination or to a bias row as [`Out`] says, so results do not depend on
//! the blocking.

/// Columns per panel: two AVX2 registers of 8 lanes.
const NR: usize = 16;
/// Rows of the result per micro-kernel call.
const MR: usize = 6;

/// `rhs[k, n]` in panels of [`NR`] columns, each panel `[k][NR]` contiguous, the last one
/// zero-padded.
#[derive(Default)]
pub(super) struct PackedRhs {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedRhs {
    /// Packs `rhs[k, n]` given as (slice, row stride, column stride).
    pub fn new(k: usize, n: usize, rhs: (&[f32], usize, usize)) -> Self {
        let mut packed = Self::default();
        packed.repack(k, n, rhs);
        packed
    }

    /// Packs another `rhs[k, n]` into the same storage (no allocation once it is big enough).
    pub fn repack(&mut self, k: usize, n: usize, (rhs, rs, cs): (&[f32], usize, usize)) {
        let panels = n.div_ceil(NR);
        self.data.resize(panels * k * NR, 0.0);
        for p in 0..panels {
            let panel = &mut self.data[p * k * NR..][..k * NR];
            let cols = NR.min(n - p * NR);
            for (row, out) in panel.chunks_exact_mut(NR).enumerate() {
                let from = row * rs + p * NR * cs;
                if cs == 1 && cols == NR {
                    // A fixed-length copy: two vector moves, not a call to memmove.
                    out.copy_from_slice(&rhs[from..][..NR]);
                } else if cs == 1 {
                    out[..cols].copy_from_slice(&rhs[from..from + cols]);
                } else {
                    for (c, o) in out[..cols].iter_mut().enumerate() {
                        *o = rhs[from + c * cs];
                    }
                }
                out[cols..].fill(0.0);
            }
        }
        (self.k, self.n) = (k, n);
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * NR..][..self.k * NR]
    }
}

/// What a product does with each row's sum `s = lhs[i, ·] · rhs`.
#[derive(Clone, Copy)]
pub(super) enum Out<'a> {
    /// `dst[i, ·] = s`.
    Set,
    /// `dst[i, ·] = dst[i, ·] + s`.
    Add,
    /// `dst[i, ·] = row + s`: a bias broadcast over the rows (`row` has `n` elements).
    Row(&'a [f32]),
}

impl Out<'_> {
    /// The value stored for sum `s` in column `j` over the previous value `old`.
    #[inline(always)]
    fn apply(self, old: f32, j: usize, s: f32) -> f32 {
        match self {
            Out::Set => s,
            Out::Add => old + s,
            Out::Row(row) => row[j] + s,
        }
    }
}

/// `dst[m, n] = out(lhs[m, k] · rhs)`, with `lhs` given as (slice, row stride, column stride)
/// and `dst` row-major (row stride given).
pub(super) fn gemm_packed(
    m: usize,
    (dst, dst_rs): (&mut [f32], usize),
    out: Out,
    lhs: (&[f32], usize, usize),
    rhs: &PackedRhs,
) {
    let (k, n) = (rhs.k, rhs.n);
    if m == 0 || n == 0 {
        return;
    }
    if let Out::Row(row) = out {
        assert_eq!(row.len(), n, "bias row length");
    }
    if k == 0 {
        for i in 0..m {
            let d = &mut dst[i * dst_rs..][..n];
            for (j, d) in d.iter_mut().enumerate() {
                *d = out.apply(*d, j, 0.0);
            }
        }
        return;
    }
    let (a, a_rs, a_cs) = lhs;
    assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    assert!(dst.len() >= (m - 1) * dst_rs + n && dst_rs >= n);
    #[cfg(target_arch = "x86_64")]
    if super::avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA; the asserts keep every access inside the slices.
        return unsafe { avx2::gemm(m, (dst, dst_rs), out, lhs, rhs) };
    }
    portable(m, (dst, dst_rs), out, lhs, rhs)
}

/// The same product without SIMD intrinsics, for CPUs without AVX2 (and as the tests'
/// second opinion). `f32::mul_add` keeps the rounding of the AVX2 kernel.
fn portable(
    m: usize,
    (dst, dst_rs): (&mut [f32], usize),
    out: Out,
    (lhs, lhs_rs, lhs_cs): (&[f32], usize, usize),
    rhs: &PackedRhs,
) {
    let (k, n) = (rhs.k, rhs.n);
    for p in 0..n.div_ceil(NR) {
        let panel = rhs.panel(p);
        let cols = NR.min(n - p * NR);
        for i in 0..m {
            let mut acc = [0f32; NR];
            for kk in 0..k {
                let av = lhs[i * lhs_rs + kk * lhs_cs];
                let b = &panel[kk * NR..][..NR];
                for c in 0..NR {
                    acc[c] = av.mul_add(b[c], acc[c]);
                }
            }
            let row = &mut dst[i * dst_rs + p * NR..][..cols];
            for (c, (o, a)) in row.iter_mut().zip(acc).enumerate() {
                *o = out.apply(*o, p * NR + c, a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR, Out, PackedRhs};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm(
        m: usize,
        (dst, dst_rs): (&mut [f32], usize),
        out: Out,
        (lhs, lhs_rs, lhs_cs): (&[f32], usize, usize),
        rhs: &PackedRhs,
    ) {
        let n = rhs.n;
        for p in 0..n.div_ceil(NR) {
            let panel = rhs.panel(p).as_ptr();
            let cols = NR.min(n - p * NR);
            let mut i = 0;
            while i < m {
                let rows = MR.min(m - i);
                // SAFETY (all arms): rows i..i+rows of lhs and dst, columns p·NR.. of dst,
                // lie inside the slices (checked by the caller's asserts).
                unsafe {
                    let a = lhs.as_ptr().add(i * lhs_rs);
                    let c = dst.as_mut_ptr().add(i * dst_rs + p * NR);
                    let args = (
                        rhs.k,
                        (a, lhs_rs, lhs_cs),
                        panel,
                        c,
                        dst_rs,
                        cols,
                        out,
                        p * NR,
                    );
                    match rows {
                        6 => block::<6>(args),
                        5 => block::<5>(args),
                        4 => block::<4>(args),
                        3 => block::<3>(args),
                        2 => block::<2>(args),
                        _ => block::<1>(args),
                    }
                }
                i += rows;
            }
        }
    }

    /// (k, lhs, panel, dst, dst row stride, columns in the panel, out, first column).
    type Args<'a> = (
        usize,
        (*const f32, usize, usize),
        *const f32,
        *mut f32,
        usize,
        usize,
        Out<'a>,
        usize,
    );

    /// `R` rows × one panel of the result.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize>((k, (a, a_rs, a_cs), panel, c, c_rs, cols, out, col0): Args) {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for kk in 0..k {
                let b0 = _mm256_loadu_ps(panel.add(kk * NR));
                let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*a.add(i * a_rs + kk * a_cs));
                    acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                let row = c.add(i * c_rs);
                if cols == NR {
                    for (v, &sum) in acc.iter().enumerate() {
                        let at = row.add(8 * v);
                        let sum = match out {
                            Out::Set => sum,
                            Out::Add => _mm256_add_ps(_mm256_loadu_ps(at), sum),
                            Out::Row(bias) => {
                                let b = bias[col0 + 8 * v..][..8].as_ptr();
                                _mm256_add_ps(_mm256_loadu_ps(b), sum)
                            }
                        };
                        _mm256_storeu_ps(at, sum);
                    }
                } else {
                    let mut sums = [0f32; NR];
                    _mm256_storeu_ps(sums.as_mut_ptr(), acc[0]);
                    _mm256_storeu_ps(sums.as_mut_ptr().add(8), acc[1]);
                    for (j, &s) in sums.iter().take(cols).enumerate() {
                        let at = row.add(j);
                        *at = out.apply(*at, col0 + j, s);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// `dst = out(lhs · rhs)` in f64 by the definition, lhs and rhs given with strides.
    fn reference(
        (m, n, k): (usize, usize, usize),
        dst: &mut [f32],
        out: Out,
        (a, a_rs, a_cs): (&[f32], usize, usize),
        (b, b_rs, b_cs): (&[f32], usize, usize),
    ) {
        for i in 0..m {
            for j in 0..n {
                let sum: f64 = (0..k)
                    .map(|kk| a[i * a_rs + kk * a_cs] as f64 * b[kk * b_rs + j * b_cs] as f64)
                    .sum();
                let d = &mut dst[i * n + j];
                *d = match out {
                    Out::Set => sum as f32,
                    Out::Add => (*d as f64 + sum) as f32,
                    Out::Row(row) => (row[j] as f64 + sum) as f32,
                };
            }
        }
    }

    /// Both builds against the definition, for shapes with and without remainders, with
    /// each operand stored row- or column-major, in every output mode.
    #[test]
    fn packed_products_match_the_definition() {
        let mut packed = PackedRhs::default();
        for (m, k, n) in [
            (64, 64, 192),
            (13, 7, 30),
            (1, 1, 1),
            (7, 48, 16),
            (5, 33, 17),
            (4, 0, 9),
        ] {
            let bias = random(n, 4);
            for (lhs_t, rhs_t) in [(false, false), (true, false), (false, true), (true, true)] {
                for out in [Out::Set, Out::Add, Out::Row(&bias)] {
                    let lhs = random(m * k, 1);
                    let rhs = random(k * n, 2);
                    let a = if lhs_t {
                        (&lhs[..], 1, m)
                    } else {
                        (&lhs[..], k.max(1), 1)
                    };
                    let b = if rhs_t {
                        (&rhs[..], 1, k)
                    } else {
                        (&rhs[..], n, 1)
                    };
                    // Reused storage, as the layer reuses it: stale panels must not leak in.
                    packed.repack(k, n, b);
                    let start = random(m * n, 3);
                    let mut expect = start.clone();
                    reference((m, n, k), &mut expect, out, a, b);
                    let mut fast = start.clone();
                    gemm_packed(m, (&mut fast, n), out, a, &packed);
                    let mut plain = start.clone();
                    portable(m, (&mut plain, n), out, a, &packed);
                    let mode = match out {
                        Out::Set => "set",
                        Out::Add => "add",
                        Out::Row(_) => "row",
                    };
                    for (what, got) in [("dispatched", &fast), ("portable", &plain)] {
                        for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
                            assert!(
                                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                                "{what} {m}x{k}x{n} {lhs_t}/{rhs_t} {mode} [{i}]: {g} vs {e}"
                            );
                        }
                    }
                    assert_eq!(fast, plain, "the two builds round identically");
                }
            }
        }
    }
}
