//! A GRU layer that is fast at forecasting sizes (hidden 16–64, batch 64, tens of steps).
//!
//! candle-nn's `GRU` steps through time with ~16 small tensor ops per step, and backward
//! roughly triples that; at these sizes per-op overhead (allocation, zero-filled gradient
//! buffers, gradient accumulation, `narrow` backward padding) dominates the arithmetic.
//! This layer keeps candle's autograd and does the same arithmetic in far fewer kernels:
//!
//! * the input projection of every time step is one matmul outside the recurrence
//!   (`[T·B, F] × W_ihᵀ`), with `b_ih` and the r/z parts of `b_hh` folded into its bias;
//! * the recurrence is one candle op ([`GruSeq`], a `CustomOp3` with a hand-written backward):
//!   per step one `[B,H]×[H,3H]` gemm, then one fused, vectorised pass computing r, z (sigmoid),
//!   `n = tanh(x_n + r ⊙ (h W_hnᵀ + b_hn))` and `h' = n + z ⊙ (h − n)`, with no allocation;
//! * backward (BPTT) is one `[B,3H]×[3H,H]` gemm and one fused pass per step, and a single
//!   `[3H, (T−1)·B] × [(T−1)·B, H]` gemm for `∂W_hh` after the loop.
//!
//! Variables have candle-nn's (and PyTorch's) names, shapes and gate order (r, z, n), so models
//! saved with `candle_nn::rnn::gru` load unchanged. The tests below check outputs and gradients
//! against candle-nn's GRU.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use candle_nn::VarBuilder;
use std::sync::Mutex;

#[derive(Debug, Clone)]
pub struct Gru {
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    hidden: usize,
}

impl Gru {
    /// Same variables and initialisers as `candle_nn::rnn::gru(in_dim, hidden, GRUConfig::default(), vb)`.
    pub fn new(in_dim: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        let init = candle_nn::init::DEFAULT_KAIMING_UNIFORM;
        let zero = candle_nn::Init::Const(0.);
        Ok(Self {
            w_ih: vb.get_with_hints((3 * hidden, in_dim), "weight_ih_l0", init)?,
            w_hh: vb.get_with_hints((3 * hidden, hidden), "weight_hh_l0", init)?,
            b_ih: vb.get_with_hints(3 * hidden, "bias_ih_l0", zero)?,
            b_hh: vb.get_with_hints(3 * hidden, "bias_hh_l0", zero)?,
            hidden,
        })
    }

    /// The same layer with its weights cut from the autograd graph: forward passes through it
    /// record nothing (for validation and prediction).
    pub fn detached(&self) -> Self {
        Self {
            w_ih: self.w_ih.detach(),
            w_hh: self.w_hh.detach(),
            b_ih: self.b_ih.detach(),
            b_hh: self.b_hh.detach(),
            hidden: self.hidden,
        }
    }

    /// Time-major input `[steps·batch, in_dim]` (row `t·batch + b` is step `t` of sequence `b`)
    /// → every hidden state, time-major `[steps·batch, hidden]`. The initial state is zero.
    pub fn forward_time_major(&self, x: &Tensor, steps: usize, batch: usize) -> Result<Tensor> {
        self.apply(x, steps, batch, false)
    }

    /// As [`Gru::forward_time_major`], but only the last step's hidden state, `[batch, hidden]`.
    pub fn forward_last(&self, x: &Tensor, steps: usize, batch: usize) -> Result<Tensor> {
        self.apply(x, steps, batch, true)
    }

    fn apply(&self, x: &Tensor, steps: usize, batch: usize, last_only: bool) -> Result<Tensor> {
        let h = self.hidden;
        let in_dim = self.w_ih.dim(1)?;
        // [W_ih | W_hh], [3H, F + H]: one argument for the op (candle's custom ops take three).
        let w = Tensor::cat(&[&self.w_ih, &self.w_hh], 1)?;
        // [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]: the r/z parts of b_hh are folded into the
        // input projection's bias; b_hn stays separate, inside r ⊙ (h W_hnᵀ + b_hn).
        let bias = Tensor::cat(
            &[
                (self.b_ih.narrow(0, 0, 2 * h)? + self.b_hh.narrow(0, 0, 2 * h)?)?,
                self.b_ih.narrow(0, 2 * h, h)?,
                self.b_hh.narrow(0, 2 * h, h)?,
            ],
            0,
        )?;
        let keep = x.track_op() || w.track_op() || bias.track_op();
        let op = GruSeq {
            steps,
            batch,
            in_dim,
            hidden: h,
            last_only,
            keep,
            cache: Mutex::new(None),
        };
        x.contiguous()?.apply_op3(&w, &bias, op)
    }
}

/// What the forward pass keeps for the backward pass, each `[T·B, ·]`: the input projection's
/// gate pre-activations are not needed, only the activations and hidden states.
struct Cache {
    r: Vec<f32>,
    z: Vec<f32>,
    n: Vec<f32>,
    /// `h W_hnᵀ + b_hn`.
    hn: Vec<f32>,
    hs: Vec<f32>,
}

/// A whole GRU layer as one candle op: `(x [T·B, F], [W_ih | W_hh] [3H, F+H], bias [4H])`
/// → `hs [T·B, H]` (or only the last step, `[B, H]`), with
/// `bias = [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`.
///
/// Forward: the input projection of all steps is one `[T·B, F] × [F, 3H]` gemm, then per
/// step one `[B, H] × [H, 3H]` gemm and one fused pass over the gates. Backward (BPTT): per
/// step one fused pass and one `[B, 3H] × [3H, H]` gemm; then `∂W_ih`, `∂W_hh` and `∂x` are
/// one gemm each over all steps. Every large buffer stays inside the op (and is reused across
/// batches), so candle's autograd only ever sees the small weight and bias tensors.
struct GruSeq {
    steps: usize,
    batch: usize,
    in_dim: usize,
    hidden: usize,
    last_only: bool,
    /// Whether to keep activations for a backward pass (false when nothing is tracked).
    keep: bool,
    cache: Mutex<Option<Cache>>,
}

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
    for j in 0..h {
        let r = sigmoid(gi_r[j] + b_r[j] + gh_r[j]);
        let z = sigmoid(gi_z[j] + b_z[j] + gh_z[j]);
        let hn = gh_n[j] + b_hn[j];
        let n = tanh(gi_n[j] + b_in[j] + r * hn);
        h_next[j] = n + z * (hp[j] - n);
        r_o[j] = r;
        z_o[j] = z;
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
    let k = (x * LOG2E + ROUND) - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh as 2·σ(2x) − 1: libm's `tanhf` (a call per element, via `expm1f`) was ~3× slower
/// than an `expf`-based form in `examples/tanh_vs_sigmoid.rs`; this one also vectorises.
/// Absolute error stays below 1e-6.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

thread_local! {
    /// Activation buffers of finished batches, reused so the next batch neither page-faults
    /// fresh memory in nor pays for zeroing it (they are multi-megabyte at hidden 64).
    static POOL: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `len` elements whose contents the caller overwrites in full (they are
/// arbitrary on return).
fn take(len: usize) -> Vec<f32> {
    // The smallest pooled buffer that is big enough, else the biggest (grown below).
    let mut v = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let fits = (0..p.len())
            .filter(|&i| p[i].len() >= len)
            .min_by_key(|&i| p[i].len());
        let pick = fits.or_else(|| (0..p.len()).max_by_key(|&i| p[i].len()));
        pick.map(|i| p.swap_remove(i)).unwrap_or_default()
    });
    // Old contents are left in place (callers overwrite every element): no memset per batch.
    if v.len() >= len {
        v.truncate(len);
    } else {
        v.resize(len, 0.0);
    }
    v
}

fn give(v: Vec<f32>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 16 {
            p.push(v);
        }
    });
}

impl Drop for Cache {
    fn drop(&mut self) {
        for v in [
            &mut self.r,
            &mut self.z,
            &mut self.n,
            &mut self.hn,
            &mut self.hs,
        ] {
            give(std::mem::take(v));
        }
    }
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("GruSeq: {what} must be f32")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("GruSeq: {what} must be contiguous"),
    }
}

/// `dst (+)= lhs[m,k] · rhs[k,n]`, every operand given as (slice, row stride, column stride);
/// one thread.
#[allow(clippy::too_many_arguments)]
fn gemm(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (&mut [f32], usize),
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): (&[f32], usize, usize),
    (rhs, rhs_rs, rhs_cs): (&[f32], usize, usize),
) {
    if m * n * k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_rs..][..n].fill(0.0);
            }
        }
        return;
    }
    assert!(dst.len() >= (m - 1) * dst_rs + n && n <= dst_rs);
    assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above keep every index gemm reads or writes inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

impl CustomOp3 for GruSeq {
    fn name(&self) -> &'static str {
        "gru-seq"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (t_n, b_n, f, h) = (self.steps, self.batch, self.in_dim, self.hidden);
        let x = f32_slice(s1, l1, "x")?;
        let w = f32_slice(s2, l2, "W")?;
        let bias = f32_slice(s3, l3, "bias")?;
        if x.len() != t_n * b_n * f || w.len() != 3 * h * (f + h) || bias.len() != 4 * h {
            bail!("GruSeq: shapes do not match steps {t_n}, batch {b_n}, in {f}, hidden {h}");
        }
        let wc = f + h; // row stride of [W_ih | W_hh]
        let len = t_n * b_n * h;
        // Input projection of every step: gi = x · W_ihᵀ ([T·B, F] × [F, 3H]).
        let mut gi = take(t_n * b_n * 3 * h);
        gemm(
            (t_n * b_n, 3 * h, f),
            (&mut gi, 3 * h),
            false,
            (x, f, 1),
            (w, 1, wc),
        );
        let mut hs = take(len);
        let mut cache = self.keep.then(|| Cache {
            r: take(len),
            z: take(len),
            n: take(len),
            hn: take(len),
            hs: Vec::new(),
        });
        let mut gh = take(b_n * 3 * h);
        let zeros = vec![0f32; h];
        let mut scratch = vec![0f32; 4 * h];
        for t in 0..t_n {
            let (done, rest) = hs.split_at_mut(t * b_n * h);
            let h_prev = if t == 0 {
                None
            } else {
                Some(&done[(t - 1) * b_n * h..])
            };
            match h_prev {
                // gh = h_prev · W_hhᵀ ([B, H] × [H, 3H]).
                Some(hp) => gemm(
                    (b_n, 3 * h, h),
                    (&mut gh, 3 * h),
                    false,
                    (hp, h, 1),
                    (&w[f..], 1, wc),
                ),
                None => gh.fill(0.0),
            }
            let h_next = &mut rest[..b_n * h];
            for b in 0..b_n {
                let o = b * h;
                let gi_row = &gi[(t * b_n + b) * 3 * h..][..3 * h];
                let gh_row = &gh[b * 3 * h..][..3 * h];
                let hp = match h_prev {
                    Some(hp) => &hp[o..o + h],
                    None => &zeros[..h],
                };
                // Where this row's activations go: the cache, or a scratch row when nothing
                // will be differentiated. Either way the loop below is branch-free.
                let (r_o, z_o, n_o, hn_o) = match cache.as_mut() {
                    Some(c) => {
                        let i = t * b_n * h + o;
                        (
                            &mut c.r[i..i + h],
                            &mut c.z[i..i + h],
                            &mut c.n[i..i + h],
                            &mut c.hn[i..i + h],
                        )
                    }
                    None => {
                        let (a, rest) = scratch.split_at_mut(h);
                        let (b2, rest) = rest.split_at_mut(h);
                        let (c2, d) = rest.split_at_mut(h);
                        (a, b2, c2, &mut d[..h])
                    }
                };
                gate_row(
                    h,
                    gi_row,
                    gh_row,
                    bias,
                    hp,
                    &mut h_next[o..o + h],
                    (r_o, z_o, n_o, hn_o),
                );
            }
        }
        give(gi);
        give(gh);
        let (out, shape) = if self.last_only {
            (hs[(t_n - 1) * b_n * h..].to_vec(), Shape::from((b_n, h)))
        } else {
            (hs.clone(), Shape::from((t_n * b_n, h)))
        };
        match cache {
            Some(mut c) => {
                c.hs = hs;
                *self.cache.lock().expect("gru cache") = Some(c);
            }
            None => give(hs),
        }
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (t_n, b_n, f, h) = (self.steps, self.batch, self.in_dim, self.hidden);
        let wc = f + h;
        let guard = self.cache.lock().expect("gru cache");
        let Some(c) = guard.as_ref() else {
            bail!("GruSeq: backward without a forward pass that kept its activations")
        };
        if grad_res.dtype() != DType::F32 {
            bail!("GruSeq: gradients must be f32")
        }
        let dout = grad_res.flatten_all()?.to_vec1::<f32>()?;
        let wv = w.flatten_all()?.to_vec1::<f32>()?;
        let mut dgi = take(t_n * b_n * 3 * h);
        let mut dgh = take(t_n * b_n * 3 * h);
        let mut dbias = vec![0f32; 4 * h];
        // ∂L/∂h_t flowing back from later steps, then from this step's own output.
        let mut dh = vec![0f32; b_n * h];
        let zeros = vec![0f32; h];
        for t in (0..t_n).rev() {
            let base = t * b_n * h;
            let own = if self.last_only {
                (t + 1 == t_n).then_some(&dout[..])
            } else {
                Some(&dout[base..base + b_n * h])
            };
            if let Some(g) = own {
                for (d, g) in dh.iter_mut().zip(g) {
                    *d += g;
                }
            }
            let dgi_t = &mut dgi[t * b_n * 3 * h..][..b_n * 3 * h];
            let dgh_t = &mut dgh[t * b_n * 3 * h..][..b_n * 3 * h];
            for b in 0..b_n {
                let (o, i) = (b * h, base + b * h);
                let hp = if t == 0 {
                    &zeros[..]
                } else {
                    &c.hs[i - b_n * h..i - b_n * h + h]
                };
                grad_row(
                    h,
                    (
                        &c.r[i..i + h],
                        &c.z[i..i + h],
                        &c.n[i..i + h],
                        &c.hn[i..i + h],
                    ),
                    hp,
                    &mut dh[o..o + h],
                    &mut dgi_t[3 * o..3 * o + 3 * h],
                    &mut dgh_t[3 * o..3 * o + 3 * h],
                    &mut dbias,
                );
            }
            if t > 0 {
                // dh_prev += dgh_t · W_hh ([B, 3H] × [3H, H]).
                gemm(
                    (b_n, h, 3 * h),
                    (&mut dh, h),
                    true,
                    (dgh_t, 3 * h, 1),
                    (&wv[f..], wc, 1),
                );
            }
        }
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let mut dw = vec![0f32; 3 * h * wc];
        // ∂W_ih = dgiᵀ · x ([3H, T·B] × [T·B, F]), into the first F columns of ∂W.
        gemm(
            (3 * h, f, t_n * b_n),
            (&mut dw, wc),
            false,
            (&dgi, 1, 3 * h),
            (&xv, f, 1),
        );
        // ∂W_hh = Σ_{t≥1} dgh_tᵀ · h_{t-1} ([3H, (T−1)·B] × [(T−1)·B, H]), the last H columns.
        let k = t_n.saturating_sub(1) * b_n;
        gemm(
            (3 * h, h, k),
            (&mut dw[f..], wc),
            false,
            (&dgh[b_n * 3 * h..], 1, 3 * h),
            (&c.hs, h, 1),
        );
        // ∂x = dgi · W_ih ([T·B, 3H] × [3H, F]), only when the input is itself trained (a
        // lower layer's output).
        let dx = if x.track_op() {
            let mut dx = vec![0f32; t_n * b_n * f];
            gemm(
                (t_n * b_n, f, 3 * h),
                (&mut dx, f),
                false,
                (&dgi, 3 * h, 1),
                (&wv, wc, 1),
            );
            Some(Tensor::from_vec(dx, x.shape(), x.device())?)
        } else {
            None
        };
        give(dgi);
        give(dgh);
        let dev = w.device();
        Ok((
            dx,
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(dbias, bias.shape(), dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};
    use candle_nn::rnn::{GRUConfig, RNN, gru};
    use candle_nn::{VarBuilder, VarMap};

    const B: usize = 5;
    const T: usize = 7;
    const F: usize = 3;
    const H: usize = 8;

    fn random(shape: &[usize], seed: u64) -> Vec<f32> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n = shape.iter().product();
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// Both stacks' hidden states of the top layer, batch-first `[B, T, H]`, and their
    /// gradients by variable name, for a loss that weights every output differently.
    /// With `last_only`, only the top layer's last hidden state `[B, H]`.
    fn run(layers: usize, ours: bool, last_only: bool) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let x = Tensor::from_vec(random(&[B, T, F], 1), (B, T, F), &dev).unwrap();
        let hs = if ours {
            let grus: Vec<Gru> = (0..layers)
                .map(|l| Gru::new(if l == 0 { F } else { H }, H, vb.pp(format!("gru{l}"))))
                .collect::<Result<_>>()
                .unwrap();
            crate::train::model::init_weights(&varmap, H, 7).unwrap();
            let mut input = x.transpose(0, 1).unwrap().contiguous().unwrap();
            input = input.reshape((T * B, F)).unwrap();
            for (l, g) in grus.iter().enumerate() {
                if last_only && l + 1 == layers {
                    return finish(&varmap, g.forward_last(&input, T, B).unwrap());
                }
                input = g.forward_time_major(&input, T, B).unwrap();
            }
            input.reshape((T, B, H)).unwrap().transpose(0, 1).unwrap()
        } else {
            let grus: Vec<_> = (0..layers)
                .map(|l| {
                    let in_dim = if l == 0 { F } else { H };
                    gru(in_dim, H, GRUConfig::default(), vb.pp(format!("gru{l}")))
                })
                .collect::<Result<_>>()
                .unwrap();
            crate::train::model::init_weights(&varmap, H, 7).unwrap();
            let mut input = x.clone();
            for (l, g) in grus.iter().enumerate() {
                let states = g.seq(&input).unwrap();
                let hs: Vec<Tensor> = states.iter().map(|s| s.h.clone()).collect();
                if last_only && l + 1 == layers {
                    return finish(&varmap, hs[T - 1].clone());
                }
                input = Tensor::stack(&hs, 1).unwrap();
            }
            input
        };
        finish(&varmap, hs)
    }

    fn finish(varmap: &VarMap, hs: Tensor) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
        let weights = Tensor::from_vec(random(hs.dims(), 2), hs.shape(), hs.device()).unwrap();
        let loss = (&hs * &weights).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let data = varmap.data().lock().unwrap();
        let mut named: Vec<(&String, &Var)> = data.iter().collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        let grads = named
            .into_iter()
            .map(|(name, var)| {
                let g = grads.get(var).expect("every variable gets a gradient");
                (name.clone(), g.flatten_all().unwrap().to_vec1().unwrap())
            })
            .collect();
        let out = hs
            .contiguous()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        (out, grads)
    }

    fn assert_close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5,
                "{what}[{i}]: ours {x}, candle-nn {y}"
            );
        }
    }

    fn matches_candle_nn(layers: usize, last_only: bool) {
        let (ours, our_grads) = run(layers, true, last_only);
        let (reference, ref_grads) = run(layers, false, last_only);
        assert_close("outputs", &ours, &reference);
        assert_eq!(our_grads.len(), 4 * layers);
        for ((name, g), (ref_name, rg)) in our_grads.iter().zip(&ref_grads) {
            assert_eq!(name, ref_name);
            assert!(rg.iter().any(|v| *v != 0.0), "{name}: non-trivial gradient");
            assert_close(name, g, rg);
        }
    }

    #[test]
    fn one_layer_outputs_and_gradients_match_candle_nn() {
        matches_candle_nn(1, false);
        matches_candle_nn(1, true);
    }

    #[test]
    fn two_layer_outputs_and_gradients_match_candle_nn() {
        matches_candle_nn(2, false);
        matches_candle_nn(2, true);
    }

    #[test]
    fn detached_layer_gives_the_same_outputs_and_records_nothing() {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let g = Gru::new(F, H, vb).unwrap();
        crate::train::model::init_weights(&varmap, H, 3).unwrap();
        let x = Tensor::from_vec(random(&[T * B, F], 4), (T * B, F), &dev).unwrap();
        let tracked = g.forward_time_major(&x, T, B).unwrap();
        let free = g.detached().forward_time_major(&x, T, B).unwrap();
        assert!(tracked.track_op());
        assert!(!free.track_op());
        let diff = (tracked - free)
            .unwrap()
            .abs()
            .unwrap()
            .max(D::Minus1)
            .unwrap();
        assert_eq!(diff.max(0).unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }
}
