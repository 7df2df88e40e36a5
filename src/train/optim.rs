//! AdamW over one flat buffer: every parameter is a view into a single tensor, so an
//! optimiser step is one pass over host memory on the CPU (see `fused`), or a handful of
//! whole-buffer operations on a GPU, however many tensors the model has. Weight decay
//! applies to matrices only.

use tch::{Device, Kind, Tensor};

use super::fused::{self, Coefficients};

/// The optimiser's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// AdamW with its moments; owns the flat parameter and gradient buffers.
pub struct AdamW {
    config: AdamWConfig,
    /// The named parameters, in buffer order (decayed ones first).
    params: Vec<(String, Tensor)>,
    params_flat: Tensor,
    grads_flat: Tensor,
    /// Elements at the front of the buffer that get weight decay.
    decayed: i64,
    first_moment: Tensor,
    second_moment: Tensor,
    /// Scratch space for the update's denominator, reused every step.
    denominator: Tensor,
    steps: u64,
    grads_bound: bool,
    /// The flat gradients are known to be zero (the host update clears them).
    grads_clear: bool,
}

impl AdamW {
    /// Moves `params` into one flat buffer; each tensor becomes a view of it, so the
    /// model keeps working unchanged.
    pub fn new(params: Vec<(String, Tensor)>, config: AdamWConfig) -> AdamW {
        let mut params = params;
        params.sort_by_key(|(name, tensor)| (tensor.dim() < 2, name.clone()));
        let device = params.first().map_or(Device::Cpu, |(_, t)| t.device());
        let total: i64 = params.iter().map(|(_, t)| t.numel() as i64).sum();
        let decayed: i64 =
            params.iter().filter(|(_, t)| t.dim() >= 2).map(|(_, t)| t.numel() as i64).sum();

        let params_flat = Tensor::zeros([total], (Kind::Float, device));
        tch::no_grad(|| {
            let mut offset = 0;
            for (_, tensor) in params.iter_mut() {
                let numel = tensor.numel() as i64;
                let mut view = params_flat.narrow(0, offset, numel).view(tensor.size().as_slice());
                view.copy_(tensor);
                tensor.set_data(&view);
                offset += numel;
            }
        });

        AdamW {
            config,
            params,
            grads_flat: Tensor::zeros([total], (Kind::Float, device)),
            decayed,
            first_moment: Tensor::zeros([total], (Kind::Float, device)),
            second_moment: Tensor::zeros([total], (Kind::Float, device)),
            denominator: Tensor::zeros([total], (Kind::Float, device)),
            params_flat,
            steps: 0,
            grads_bound: false,
            grads_clear: false,
        }
    }

    /// Clears the gradients before a backward pass.
    pub fn zero_grad(&mut self) {
        if self.grads_bound {
            if !self.grads_clear {
                let _ = self.grads_flat.zero_();
            }
            self.grads_clear = false;
        } else {
            for (_, tensor) in self.params.iter_mut() {
                tensor.zero_grad();
            }
        }
    }

    /// The total gradient norm, as a scalar tensor, without copying it to the host.
    /// Call after `backward`.
    pub fn grad_norm(&mut self) -> Tensor {
        self.bind_grads();
        self.grads_flat.norm()
    }

    /// One AdamW update at learning rate `lr`, with every gradient first multiplied by
    /// `grad_scale` (1 unless clipping).
    pub fn step(&mut self, lr: f64, grad_scale: f64) {
        let coefficients = self.begin_step(lr, grad_scale);
        if self.params_flat.device() == Device::Cpu {
            self.step_on_host(coefficients);
        } else {
            self.step_on_device(coefficients);
        }
    }

    /// Counts the step and works out its scalars, with weight decay's for the decayed
    /// parameters.
    fn begin_step(&mut self, lr: f64, grad_scale: f64) -> Coefficients {
        self.bind_grads();
        self.steps += 1;
        let AdamWConfig { beta1, beta2, eps, weight_decay } = self.config;
        let correction1 = 1.0 - beta1.powi(self.steps as i32);
        let correction2 = 1.0 - beta2.powi(self.steps as i32);

        // The second moment is kept without its (1 - beta2) factor, since libtorch's
        // addcmul takes no scale; the factor is folded into the step size and epsilon,
        // which gives exactly PyTorch's AdamW update.
        let unscale = (correction2 / (1.0 - beta2)).sqrt();
        Coefficients {
            grad_scale: grad_scale as f32,
            towards_gradient: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            eps: (eps * unscale) as f32,
            step_size: (lr * unscale / correction1) as f32,
            keep: (1.0 - lr * weight_decay) as f32,
        }
    }

    /// The update as one pass over the host buffers, which also clears the gradients.
    fn step_on_host(&mut self, coefficients: Coefficients) {
        let total = self.params_flat.numel();
        // SAFETY: the four buffers are distinct contiguous f32 tensors of `total` elements
        // on the CPU, made in `new` and owned by this optimiser; no backward pass or other
        // tensor operation runs while `&mut self` is held, so nothing else reads or
        // writes them during the update.
        let [params, grads, first, second] =
            [&self.params_flat, &self.grads_flat, &self.first_moment, &self.second_moment].map(
                |t| unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, total) },
            );
        let decayed = self.decayed as usize;
        let (params, params_rest) = params.split_at_mut(decayed);
        let (grads, grads_rest) = grads.split_at_mut(decayed);
        let (first, first_rest) = first.split_at_mut(decayed);
        let (second, second_rest) = second.split_at_mut(decayed);
        fused::update(params, grads, first, second, coefficients);
        let undecayed = Coefficients { keep: 1.0, ..coefficients };
        fused::update(params_rest, grads_rest, first_rest, second_rest, undecayed);
        self.grads_clear = true;
    }

    /// The update as whole-buffer libtorch operations, for GPU buffers.
    fn step_on_device(&mut self, c: Coefficients) {
        tch::no_grad(|| {
            if c.grad_scale != 1.0 {
                let _ = self.grads_flat.g_mul_scalar_(c.grad_scale as f64);
            }
            let grads = &self.grads_flat;
            let _ = self.first_moment.lerp_(grads, c.towards_gradient as f64);
            let _ = self.second_moment.g_mul_scalar_(c.beta2 as f64).addcmul_(grads, grads);
            let _ = self
                .second_moment
                .sqrt_out(&self.denominator)
                .g_add_scalar_(c.eps as f64)
                .g_mul_scalar_(-1.0 / c.step_size as f64);
            if c.keep != 1.0 && self.decayed > 0 {
                let _ = self.params_flat.narrow(0, 0, self.decayed).g_mul_scalar_(c.keep as f64);
            }
            let _ = self.params_flat.addcdiv_(&self.first_moment, &self.denominator);
        });
    }

    /// Makes every parameter's gradient a view of the flat gradient buffer. The first
    /// backward pass creates the gradients; from then on autograd adds into the buffer.
    fn bind_grads(&mut self) {
        if self.grads_bound {
            return;
        }
        tch::no_grad(|| {
            let mut offset = 0;
            for (_, tensor) in self.params.iter() {
                let numel = tensor.numel() as i64;
                let mut view =
                    self.grads_flat.narrow(0, offset, numel).view(tensor.size().as_slice());
                let mut grad = tensor.grad();
                if grad.defined() {
                    view.copy_(&grad);
                    grad.set_data(&view);
                }
                offset += numel;
            }
        });
        self.grads_bound = true;
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The optimiser state for a checkpoint: both moments and the step count.
    pub fn state(&self) -> (Tensor, Tensor, u64) {
        (self.first_moment.shallow_clone(), self.second_moment.shallow_clone(), self.steps)
    }

    /// Restores the state from a checkpoint; the moments must match the buffer's size.
    pub fn restore(&mut self, first: &Tensor, second: &Tensor, steps: u64) -> Result<(), String> {
        if first.size() != self.first_moment.size() || second.size() != self.second_moment.size() {
            return Err(format!(
                "its optimiser moments hold {:?} values, the model has {:?}",
                first.size(),
                self.first_moment.size()
            ));
        }
        tch::no_grad(|| {
            self.first_moment.copy_(first);
            self.second_moment.copy_(second);
        });
        self.steps = steps;
        Ok(())
    }

    /// A copy of the parameters and moments, to roll back to after a bad step.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            params: self.params_flat.copy(),
            first: self.first_moment.copy(),
            second: self.second_moment.copy(),
            steps: self.steps,
        }
    }

    pub fn roll_back(&mut self, snapshot: &Snapshot) {
        tch::no_grad(|| {
            self.params_flat.copy_(&snapshot.params);
            self.first_moment.copy_(&snapshot.first);
            self.second_moment.copy_(&snapshot.second);
        });
        self.steps = snapshot.steps;
    }
}

/// Parameters and moments at one moment of training.
pub struct Snapshot {
    params: Tensor,
    first: Tensor,
    second: Tensor,
    steps: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's AdamW update written out for one tensor, as torch.optim.AdamW documents it.
    fn reference_step(
        p: &Tensor,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
        t: i32,
        lr: f64,
        wd: f64,
    ) -> Tensor {
        let (b1, b2, eps) = (0.9, 0.99, 1e-8);
        let p = p * (1.0 - lr * wd);
        let m = m * b1 + g * (1.0 - b1);
        let v = v * b2 + g * g * (1.0 - b2);
        let m_hat = &m / (1.0 - f64::powi(b1, t));
        let v_hat = &v / (1.0 - f64::powi(b2, t));
        p - m_hat / (v_hat.sqrt() + eps) * lr
    }

    #[test]
    fn two_steps_match_the_reference_update_and_decay_only_matrices() {
        tch::manual_seed(0);
        let matrix = Tensor::randn([3, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let vector = Tensor::randn([4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let config = AdamWConfig { weight_decay: 0.1, ..AdamWConfig::default() };
        let mut optimizer = AdamW::new(
            vec![("v".into(), vector.shallow_clone()), ("m".into(), matrix.shallow_clone())],
            config,
        );
        let input = Tensor::randn([2, 3], (Kind::Float, Device::Cpu));

        let mut expected_matrix = matrix.detach().copy();
        let mut expected_vector = vector.detach().copy();
        let (mut mm, mut mv) = (expected_matrix.zeros_like(), expected_matrix.zeros_like());
        let (mut vm, mut vv) = (expected_vector.zeros_like(), expected_vector.zeros_like());
        for t in 1..=2 {
            optimizer.zero_grad();
            let loss = (input.matmul(&matrix) * &vector).square().sum(Kind::Float);
            loss.backward();
            let _ = optimizer.grad_norm();
            let (gm, gv) = (matrix.grad().copy(), vector.grad().copy());

            let new_matrix = reference_step(&expected_matrix, &gm, &mm, &mv, t, 0.01, 0.1);
            mm = &mm * 0.9 + &gm * 0.1;
            mv = &mv * 0.99 + &gm * &gm * 0.01;
            let new_vector = reference_step(&expected_vector, &gv, &vm, &vv, t, 0.01, 0.0);
            vm = &vm * 0.9 + &gv * 0.1;
            vv = &vv * 0.99 + &gv * &gv * 0.01;
            expected_matrix = new_matrix;
            expected_vector = new_vector;

            optimizer.step(0.01, 1.0);
            assert!(matrix.allclose(&expected_matrix, 1e-6, 1e-7, false), "matrix after step {t}");
            assert!(vector.allclose(&expected_vector, 1e-6, 1e-7, false), "vector after step {t}");
        }
    }

    #[test]
    fn gradients_land_in_the_flat_buffer_after_the_first_step() {
        let weight = Tensor::ones([2, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut optimizer =
            AdamW::new(vec![("w".into(), weight.shallow_clone())], AdamWConfig::default());
        for scale in [1.0, 3.0] {
            optimizer.zero_grad();
            (&weight * scale).sum(Kind::Float).backward();
            let norm = optimizer.grad_norm().double_value(&[]);
            assert!((norm - 2.0 * scale).abs() < 1e-6, "norm {norm} for scale {scale}");
        }
    }

    #[test]
    fn the_host_pass_and_the_tensor_operations_make_the_same_update() {
        tch::manual_seed(1);
        let options = (Kind::Float, Device::Cpu);
        let weights = [Tensor::randn([64, 32], options), Tensor::randn([32], options)];
        let input = Tensor::randn([8, 64], options);
        let config = AdamWConfig { weight_decay: 0.1, ..AdamWConfig::default() };
        let copies = || -> Vec<(String, Tensor)> {
            let names = ["matrix", "vector"];
            let copied = weights.iter().map(|w| w.copy().set_requires_grad(true));
            names.iter().map(|n| n.to_string()).zip(copied).collect()
        };
        let (host_weights, tensor_weights) = (copies(), copies());
        let shallow = |w: &[(String, Tensor)]| -> Vec<(String, Tensor)> {
            w.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect()
        };
        let mut host = AdamW::new(shallow(&host_weights), config);
        let mut tensors = AdamW::new(shallow(&tensor_weights), config);
        let loss = |w: &[(String, Tensor)]| (input.matmul(&w[0].1) * &w[1].1).square().mean(None);

        for _ in 0..3 {
            for (optimizer, weights) in
                [(&mut host, &host_weights), (&mut tensors, &tensor_weights)]
            {
                optimizer.zero_grad();
                loss(weights).backward();
                let _ = optimizer.grad_norm();
            }
            host.step(0.01, 0.5);
            let coefficients = tensors.begin_step(0.01, 0.5);
            tensors.step_on_device(coefficients);

            assert!(host.params_flat.allclose(&tensors.params_flat, 1e-5, 1e-7, false));
            assert!(host.second_moment.allclose(&tensors.second_moment, 1e-5, 1e-9, false));
            let cleared = host.grads_flat.abs().max().double_value(&[]);
            assert_eq!(cleared, 0.0, "the host pass leaves the gradients at zero");
        }
    }
}
