//! Products with the recurrent weights, which are the same for every step of a batch.
//!
//! The general gemm (`matmul::gemm`) repacks both operands and plans its blocking on every
//! call; at a GRU step's size (`[64, 64] × [64, 192]`) that bookkeeping cost about a third
//! of the product itself, 48 times forward and 48 times backward per batch. Here the weights
//! are packed once per batch into column panels, and each step runs only the micro-kernel:
//! 6 rows × 16 columns of the result held in 12 AVX2 registers, one fused multiply-add per
//! register per element of the shared dimension.
//!
//! Each result element is summed over the shared dimension in order, from zero, and then
//! added to the destination when accumulating: the same order as `gemm`'s own kernels.

/// Columns per panel: two AVX2 registers of 8 lanes.
const NR: usize = 16;
/// Rows of the result per micro-kernel call.
const MR: usize = 6;

/// `rhs[k, n]` in panels of [`NR`] columns, each panel `[k][NR]` contiguous, the last one
/// zero-padded.
pub(super) struct PackedRhs {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedRhs {
    /// Packs `rhs[k, n]` given as (slice, row stride, column stride).
    pub fn new(k: usize, n: usize, (rhs, rs, cs): (&[f32], usize, usize)) -> Self {
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * k * NR];
        for p in 0..panels {
            let panel = &mut data[p * k * NR..][..k * NR];
            for (row, out) in panel.chunks_exact_mut(NR).enumerate() {
                for (c, o) in out.iter_mut().enumerate() {
                    let col = p * NR + c;
                    if col < n {
                        *o = rhs[row * rs + col * cs];
                    }
                }
            }
        }
        Self { k, n, data }
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * NR..][..self.k * NR]
    }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs`, with `lhs` and `dst` row-major (row strides given, unit
/// column stride) and `m = lhs.len() / lhs_rs`.
pub(super) fn gemm_packed(
    m: usize,
    (dst, dst_rs): (&mut [f32], usize),
    accumulate: bool,
    (lhs, lhs_rs): (&[f32], usize),
    rhs: &PackedRhs,
) {
    let (k, n) = (rhs.k, rhs.n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(lhs.len() >= (m - 1) * lhs_rs + k && lhs_rs >= k);
    assert!(dst.len() >= (m - 1) * dst_rs + n && dst_rs >= n);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA; the asserts keep every access inside the slices.
        return unsafe { avx2::gemm(m, (dst, dst_rs), accumulate, (lhs, lhs_rs), rhs) };
    }
    portable(m, (dst, dst_rs), accumulate, (lhs, lhs_rs), rhs)
}

/// The same product without SIMD intrinsics, for CPUs without AVX2 (and as the tests'
/// second opinion). `f32::mul_add` keeps the rounding of the AVX2 kernel.
fn portable(
    m: usize,
    (dst, dst_rs): (&mut [f32], usize),
    accumulate: bool,
    (lhs, lhs_rs): (&[f32], usize),
    rhs: &PackedRhs,
) {
    let (k, n) = (rhs.k, rhs.n);
    for p in 0..n.div_ceil(NR) {
        let panel = rhs.panel(p);
        let cols = NR.min(n - p * NR);
        for i in 0..m {
            let a = &lhs[i * lhs_rs..][..k];
            let mut acc = [0f32; NR];
            for (kk, &av) in a.iter().enumerate() {
                let b = &panel[kk * NR..][..NR];
                for c in 0..NR {
                    acc[c] = av.mul_add(b[c], acc[c]);
                }
            }
            let out = &mut dst[i * dst_rs + p * NR..][..cols];
            for (o, a) in out.iter_mut().zip(acc) {
                *o = if accumulate { *o + a } else { a };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR, PackedRhs};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm(
        m: usize,
        (dst, dst_rs): (&mut [f32], usize),
        accumulate: bool,
        (lhs, lhs_rs): (&[f32], usize),
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
                    let args = (rhs.k, a, lhs_rs, panel, c, dst_rs, cols, accumulate);
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

    type Args = (
        usize,
        *const f32,
        usize,
        *const f32,
        *mut f32,
        usize,
        usize,
        bool,
    );

    /// `R` rows × one panel of the result.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize>((k, a, a_rs, panel, c, c_rs, cols, accumulate): Args) {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for kk in 0..k {
                let b0 = _mm256_loadu_ps(panel.add(kk * NR));
                let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*a.add(i * a_rs + kk));
                    acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                }
            }
            for (i, acc) in acc.iter().enumerate() {
                let row = c.add(i * c_rs);
                if cols == NR {
                    for (v, &sum) in acc.iter().enumerate() {
                        let at = row.add(8 * v);
                        let sum = if accumulate {
                            _mm256_add_ps(_mm256_loadu_ps(at), sum)
                        } else {
                            sum
                        };
                        _mm256_storeu_ps(at, sum);
                    }
                } else {
                    let mut sums = [0f32; NR];
                    _mm256_storeu_ps(sums.as_mut_ptr(), acc[0]);
                    _mm256_storeu_ps(sums.as_mut_ptr().add(8), acc[1]);
                    for (j, &s) in sums.iter().take(cols).enumerate() {
                        let at = row.add(j);
                        *at = if accumulate { *at + s } else { s };
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

    /// Both builds against the general gemm, for shapes with and without remainders, with
    /// the right-hand side read row- and column-major, overwriting and accumulating.
    #[test]
    fn packed_products_match_the_general_gemm() {
        for (m, k, n) in [
            (64, 64, 192),
            (13, 7, 30),
            (1, 1, 1),
            (7, 48, 16),
            (5, 33, 17),
        ] {
            for transposed in [false, true] {
                for accumulate in [false, true] {
                    let lhs = random(m * k, 1);
                    let rhs = random(k * n, 2);
                    // rhs[kk, j] at kk·n + j, or (transposed storage) at j·k + kk.
                    let (rs, cs) = if transposed { (1, k) } else { (n, 1) };
                    let packed = PackedRhs::new(k, n, (&rhs, rs, cs));
                    let start = random(m * n, 3);
                    let mut expect = start.clone();
                    let mode = (&lhs[..], k, 1);
                    super::super::matmul::gemm(
                        (m, n, k),
                        (&mut expect, n),
                        accumulate,
                        mode,
                        (&rhs, rs, cs),
                    );
                    let mut fast = start.clone();
                    gemm_packed(m, (&mut fast, n), accumulate, (&lhs, k), &packed);
                    let mut plain = start.clone();
                    portable(m, (&mut plain, n), accumulate, (&lhs, k), &packed);
                    for (what, got) in [("dispatched", &fast), ("portable", &plain)] {
                        for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
                            assert!(
                                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                                "{what} {m}x{k}x{n} t={transposed} acc={accumulate} [{i}]: {g} vs {e}"
                            );
                        }
                    }
                    assert_eq!(fast, plain, "the two builds round identically");
                }
            }
        }
    }
}
