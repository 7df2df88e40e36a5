//! The AdamW update as one pass over host memory: for each parameter it reads the
//! gradient, both moments and the weight once, writes them back once, and clears the
//! gradient for the next backward pass. libtorch would take eight whole-buffer passes for
//! the same update, and a ninth to clear the gradients.

/// The scalars of one update, worked out once per step.
#[derive(Debug, Clone, Copy)]
pub struct Coefficients {
    /// Multiplies every gradient first (gradient clipping).
    pub grad_scale: f32,
    /// `1 - beta1`, the first moment's step towards the gradient.
    pub towards_gradient: f32,
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub eps: f32,
    /// The learning rate with both bias corrections folded in.
    pub step_size: f32,
    /// What weight decay keeps of each weight: `1 - lr * weight_decay`, or 1 where
    /// there is no decay.
    pub keep: f32,
}

/// Updates `params` in place from `grads`, which it leaves at zero. The second moment is
/// kept without its `1 - beta2` factor; `eps` and `step_size` carry it instead.
pub fn update(
    params: &mut [f32],
    grads: &mut [f32],
    first: &mut [f32],
    second: &mut [f32],
    c: Coefficients,
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has just been seen to support AVX2.
        return unsafe { update_avx2(params, grads, first, second, c) };
    }
    update_portable(params, grads, first, second, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn update_avx2(
    params: &mut [f32],
    grads: &mut [f32],
    first: &mut [f32],
    second: &mut [f32],
    c: Coefficients,
) {
    update_portable(params, grads, first, second, c)
}

#[inline(always)]
fn update_portable(
    params: &mut [f32],
    grads: &mut [f32],
    first: &mut [f32],
    second: &mut [f32],
    c: Coefficients,
) {
    let elements = params.iter_mut().zip(grads.iter_mut()).zip(first.iter_mut().zip(second));
    for ((p, g), (m, v)) in elements {
        let grad = *g * c.grad_scale;
        *g = 0.0;
        *m += c.towards_gradient * (grad - *m);
        *v = c.beta2 * *v + grad * grad;
        *p = *p * c.keep - c.step_size * *m / (v.sqrt() + c.eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_update_moves_against_the_gradient_and_clears_it() {
        let mut params = vec![1.0, -1.0, 0.5];
        let mut grads = vec![2.0, -4.0, 0.0];
        let mut first = vec![0.0; 3];
        let mut second = vec![0.0; 3];
        let c = Coefficients {
            grad_scale: 0.5,
            towards_gradient: 0.1,
            beta2: 0.99,
            eps: 1e-8,
            step_size: 0.01,
            keep: 1.0,
        };

        update(&mut params, &mut grads, &mut first, &mut second, c);

        assert_eq!(grads, vec![0.0; 3]);
        assert!((first[0] - 0.1).abs() < 1e-7 && (first[1] + 0.2).abs() < 1e-7);
        assert!((second[0] - 1.0).abs() < 1e-7 && (second[1] - 4.0).abs() < 1e-7);
        // m / sqrt(v) is 0.1 and -0.1, so each weight moves 0.001 against its gradient.
        assert!((params[0] - 0.999).abs() < 1e-6, "{}", params[0]);
        assert!((params[1] + 0.999).abs() < 1e-6, "{}", params[1]);
        assert_eq!(params[2], 0.5);
    }
}
