//! A GRU layer that is fast at forecasting sizes (hidden 16–64, batch 64, tens of steps).
//!
//! candle-nn's `GRU` steps through time with ~16 small tensor ops per step, and backward
//! roughly triples that; at these sizes per-op overhead (allocation, zero-filled gradient
//! buffers, gradient accumulation, `narrow` backward padding) dominates the arithmetic.
//! This layer keeps candle's autograd and does the same arithmetic in far fewer kernels:
//!
//! * the recurrence is one candle op ([`GruSeq`], a `CustomOp3` with a hand-written backward);
//! * forward, per step and gate (r, z, n): the input projection `x_t W_iᵀ` and the
//!   recurrent one `h W_hᵀ` (`[B,H]×[H,H]`), on weights packed once per batch ([`packed`]),
//!   written with their biases straight into the gate's `[B, H]` block; then one vectorised
//!   pass over whole blocks ([`kernels`]) computing r, z (sigmoid), `n = tanh(x_n + r ⊙
//!   (h W_hnᵀ + b_hn))` and `h' = n + z ⊙ (h − n)`; `b_ih` and the r/z parts of `b_hh` are
//!   one bias;
//! * backward (BPTT), per step: one fused pass, then `∂h_{t−1} += dgh W_hh` on packed `W_hh`
//!   and the step's share of `∂W_hh`, `∂W_ih` (and `∂x` for a stacked layer), so the gate
//!   gradients never leave the cache as whole-sequence buffers.
//!
//! Large buffers come from a per-thread pool ([`pool`]), so batches neither allocate nor zero
//! them. Variables have candle-nn's (and PyTorch's) names, shapes and gate order (r, z, n), so
//! models saved with `candle_nn::rnn::gru` load unchanged. The tests below check outputs and
//! gradients against candle-nn's GRU.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use candle_nn::VarBuilder;
use std::sync::Mutex;

mod kernels;
mod packed;
mod pool;

use kernels::{Activations, Saved};
use packed::{Out, PackedRhs, gemm_packed};
use pool::{Buf, take};

#[cfg(test)]
thread_local! {
    /// Set by tests to run this thread's products and gate passes on the portable builds.
    static PORTABLE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the AVX2 + FMA builds of the kernels run: the CPU has both (detection is cached
/// by the standard library: one atomic load per call), and no test asked for the portable
/// builds on this thread.
#[cfg(target_arch = "x86_64")]
fn avx2_fma() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

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
    r: Buf,
    z: Buf,
    n: Buf,
    /// `h W_hnᵀ + b_hn`.
    hn: Buf,
    hs: Buf,
}

/// A whole GRU layer as one candle op: `(x [T·B, F], [W_ih | W_hh] [3H, F+H], bias [4H])`
/// → `hs [T·B, H]` (or only the last step, `[B, H]`), with
/// `bias = [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`.
///
/// Every large buffer stays inside the op (and is reused across batches), so candle's
/// autograd only ever sees the small weight and bias tensors.
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

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("GruSeq: {what} must be f32")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("GruSeq: {what} must be contiguous"),
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
        // One packed right-hand side per gate (r, z, n), so each product writes its gate's
        // `[B, H]` block and the gate pass runs over whole blocks: W_ihᵀ ([F, H]) and W_hhᵀ
        // ([H, H]).
        let w_ih_t: [PackedRhs; 3] =
            std::array::from_fn(|g| PackedRhs::new(f, h, (&w[g * h * wc..], 1, wc)));
        let w_hh_t: [PackedRhs; 3] =
            std::array::from_fn(|g| PackedRhs::new(h, h, (&w[g * h * wc + f..], 1, wc)));
        let gate_bias: [&[f32]; 4] = std::array::from_fn(|g| &bias[g * h..(g + 1) * h]);
        let mut hs = take(len);
        let mut cache = self.keep.then(|| Cache {
            r: take(len),
            z: take(len),
            n: take(len),
            hn: take(len),
            hs: take(0),
        });
        // The state before the first step, and where activations go when nothing will be
        // differentiated.
        let mut zeros = take(b_n * h);
        zeros.fill(0.0);
        let mut scratch = take(if cache.is_some() { 0 } else { 4 * b_n * h });
        for t in 0..t_n {
            let (done, rest) = hs.split_at_mut(t * b_n * h);
            let h_prev = match t {
                0 => &zeros[..],
                _ => &done[(t - 1) * b_n * h..],
            };
            let step = t * b_n * h..(t + 1) * b_n * h;
            let [r, z, n, hn] = match cache.as_mut() {
                Some(c) => [
                    &mut c.r[step.clone()],
                    &mut c.z[step.clone()],
                    &mut c.n[step.clone()],
                    &mut c.hn[step],
                ],
                None => {
                    let mut parts = scratch.chunks_exact_mut(b_n * h);
                    std::array::from_fn(|_| parts.next().expect("four parts"))
                }
            };
            // Pre-activations, in place: r and z get bias + x_t W_iᵀ + h W_hᵀ, n gets
            // b_in + x_t W_inᵀ, hn gets b_hn + h W_hnᵀ (the state is zero at the first step).
            let x_t = (&x[t * b_n * f..], f, 1);
            for (g, dst) in [&mut *r, &mut *z, &mut *n].into_iter().enumerate() {
                gemm_packed(b_n, (dst, h), Out::Row(gate_bias[g]), x_t, &w_ih_t[g]);
            }
            if t == 0 {
                for row in hn.chunks_exact_mut(h) {
                    row.copy_from_slice(gate_bias[3]);
                }
            } else {
                let hp = (h_prev, h, 1);
                gemm_packed(b_n, (r, h), Out::Add, hp, &w_hh_t[0]);
                gemm_packed(b_n, (z, h), Out::Add, hp, &w_hh_t[1]);
                gemm_packed(b_n, (hn, h), Out::Row(gate_bias[3]), hp, &w_hh_t[2]);
            }
            let h_next = &mut rest[..b_n * h];
            kernels::forward_step(
                h_prev,
                Activations {
                    h_next,
                    r,
                    z,
                    n,
                    hn,
                },
            );
        }
        let (out, shape) = if self.last_only {
            (hs[(t_n - 1) * b_n * h..].to_vec(), Shape::from((b_n, h)))
        } else {
            (hs.to_vec(), Shape::from((t_n * b_n, h)))
        };
        if let Some(mut c) = cache {
            c.hs = hs;
            *self.cache.lock().expect("gru cache") = Some(c);
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
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let mut dbias = vec![0f32; 4 * h];
        // ∂W_ihᵀ ([F, 3H]); ∂W_hh accumulates straight into the last H columns of ∂W.
        let mut dw_ih_t = vec![0f32; f * 3 * h];
        let mut dw = vec![0f32; 3 * h * wc];
        // ∂x, and W_ih packed for it, only when the input is itself trained (a lower layer's
        // output).
        let mut dx = x.track_op().then(|| {
            (
                vec![0f32; t_n * b_n * f],
                PackedRhs::new(3 * h, f, (&wv, wc, 1)),
            )
        });
        // This step's gate gradients, input side and recurrent side.
        let (mut dgi, mut dgh) = (take(b_n * 3 * h), take(b_n * 3 * h));
        // ∂L/∂h_t flowing back from later steps, then from this step's own output.
        let mut dh = vec![0f32; b_n * h];
        let zeros = vec![0f32; b_n * h];
        let w_hh = PackedRhs::new(3 * h, h, (&wv[f..], wc, 1));
        // Per-step right-hand sides of the weight gradients, packed into reused storage.
        let mut dgi_packed = PackedRhs::default();
        let mut h_prev_packed = PackedRhs::default();
        for t in (0..t_n).rev() {
            let step = t * b_n * h..(t + 1) * b_n * h;
            let own = if self.last_only {
                (t + 1 == t_n).then_some(&dout[..])
            } else {
                Some(&dout[step.clone()])
            };
            if let Some(g) = own {
                for (d, g) in dh.iter_mut().zip(g) {
                    *d += g;
                }
            }
            let h_prev = match t {
                0 => &zeros[..],
                _ => &c.hs[step.start - b_n * h..step.start],
            };
            let saved = Saved {
                r: &c.r[step.clone()],
                z: &c.z[step.clone()],
                n: &c.n[step.clone()],
                hn: &c.hn[step],
                h_prev,
            };
            kernels::backward_step(h, saved, &mut dh, &mut dgi, &mut dgh, &mut dbias);
            // ∂W_ihᵀ += x_tᵀ · dgi ([F, B] × [B, 3H]).
            let x_t = &xv[t * b_n * f..][..b_n * f];
            dgi_packed.repack(b_n, 3 * h, (&dgi, 3 * h, 1));
            gemm_packed(f, (&mut dw_ih_t, 3 * h), Out::Add, (x_t, 1, f), &dgi_packed);
            if let Some((dx, w_ih)) = dx.as_mut() {
                // ∂x_t = dgi · W_ih ([B, 3H] × [3H, F]).
                let dx_t = &mut dx[t * b_n * f..][..b_n * f];
                gemm_packed(b_n, (dx_t, f), Out::Set, (&dgi, 3 * h, 1), w_ih);
            }
            if t > 0 {
                // ∂W_hh += dghᵀ · h_{t−1} ([3H, B] × [B, H]).
                h_prev_packed.repack(b_n, h, (h_prev, h, 1));
                let dst = (&mut dw[f..], wc);
                gemm_packed(3 * h, dst, Out::Add, (&dgh, 1, 3 * h), &h_prev_packed);
                // dh_prev += dgh · W_hh ([B, 3H] × [3H, H]).
                gemm_packed(b_n, (&mut dh, h), Out::Add, (&dgh, 3 * h, 1), &w_hh);
            }
        }
        for (j, row) in dw.chunks_exact_mut(wc).enumerate() {
            for (c, d) in row[..f].iter_mut().enumerate() {
                *d = dw_ih_t[c * 3 * h + j];
            }
        }
        let dx = match dx {
            Some((dx, _)) => Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            None => None,
        };
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

    /// The whole layer, forward and backward, one and two layers, gives the same bits on the
    /// portable builds of every kernel as on the AVX2 + FMA builds (when the CPU has them).
    #[test]
    fn portable_and_avx2_builds_give_identical_layers() {
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("fma") {
            return;
        }
        for (layers, last_only) in [(1, false), (1, true), (2, false), (2, true)] {
            let fast = run(layers, true, last_only);
            PORTABLE_ONLY.with(|p| p.set(true));
            let portable = run(layers, true, last_only);
            PORTABLE_ONLY.with(|p| p.set(false));
            assert!(fast.1.iter().all(|(_, g)| g.iter().any(|v| *v != 0.0)));
            assert_eq!(fast, portable, "{layers} layer(s), last only: {last_only}");
        }
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
