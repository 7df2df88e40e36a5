//! The arithmetic of a host step: matrix-vector products and one head's attention, with
//! AVX2 and FMA where the processor has them (checked at run time) and plain loops where
//! it does not.

/// `out = matrix · x` for a row-major `[out.len(), x.len()]` matrix (a `linear` weight).
pub fn matvec(matrix: &[f32], x: &[f32], out: &mut [f32]) {
    rows(matrix, x, out, false)
}

/// `out += matrix · x`: a residual projection.
pub fn matvec_add(matrix: &[f32], x: &[f32], out: &mut [f32]) {
    rows(matrix, x, out, true)
}

/// One head's attention of query `q` over `keys` and `values`, `[positions, q.len()]`:
/// the softmax of the scaled scores weighs the values into `out`. `scores` holds one
/// value a position.
pub fn attend(q: &[f32], keys: &[f32], values: &[f32], scores: &mut [f32], out: &mut [f32]) {
    let scale = 1.0 / (q.len() as f32).sqrt();
    for (score, key) in scores.iter_mut().zip(keys.chunks_exact(q.len())) {
        *score = dot(q, key) * scale;
    }
    let highest = scores.iter().fold(f32::NEG_INFINITY, |m, s| m.max(*s));
    let mut total = 0.0;
    for score in scores.iter_mut() {
        *score = (*score - highest).exp();
        total += *score;
    }
    out.fill(0.0);
    for (score, value) in scores.iter().zip(values.chunks_exact(q.len())) {
        let weight = score / total;
        for (out, v) in out.iter_mut().zip(value) {
            *out += weight * v;
        }
    }
}

/// LayerNorm without a bias (epsilon 1e-5, biased variance), as the GPT's norms are.
pub fn layer_norm(x: &[f32], weight: &[f32], out: &mut [f32]) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let scale = 1.0 / (variance + 1e-5).sqrt();
    for ((out, x), w) in out.iter_mut().zip(x).zip(weight) {
        *out = (x - mean) * scale * w;
    }
}

/// Exact GELU, `x · Φ(x)`, in place.
pub fn gelu(values: &mut [f32]) {
    for v in values {
        *v = 0.5 * *v * (1.0 + libm::erff(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

fn rows(matrix: &[f32], x: &[f32], out: &mut [f32], add: bool) {
    assert_eq!(matrix.len(), out.len() * x.len());
    #[cfg(target_arch = "x86_64")]
    if fma() {
        // SAFETY: the processor has just been seen to support AVX2 and FMA.
        return unsafe { rows_fma(matrix, x, out, add) };
    }
    rows_portable(matrix, x, out, add)
}

fn rows_portable(matrix: &[f32], x: &[f32], out: &mut [f32], add: bool) {
    for (out, row) in out.iter_mut().zip(matrix.chunks_exact(x.len())) {
        *out = dot_portable(row, x) + if add { *out } else { 0.0 };
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if fma() {
        // SAFETY: as in `rows`.
        return unsafe { dot_fma(a, b) };
    }
    dot_portable(a, b)
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

#[cfg(target_arch = "x86_64")]
fn fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_fma(matrix: &[f32], x: &[f32], out: &mut [f32], add: bool) {
    for (out, row) in out.iter_mut().zip(matrix.chunks_exact(x.len())) {
        *out = dot_fma(row, x) + if add { *out } else { 0.0 };
    }
}

/// The sum of products in four 8-lane accumulators, so consecutive multiply-adds do not
/// wait on each other.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;

    let n = a.len().min(b.len());
    let (a, b) = (a.as_ptr(), b.as_ptr());
    let mut sums = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads 8 values at `i + 8 * lane`, and the loops keep that under `n`.
    unsafe {
        while i + 32 <= n {
            for (lane, sum) in sums.iter_mut().enumerate() {
                let at = i + 8 * lane;
                *sum =
                    _mm256_fmadd_ps(_mm256_loadu_ps(a.add(at)), _mm256_loadu_ps(b.add(at)), *sum);
            }
            i += 32;
        }
        while i + 8 <= n {
            sums[0] =
                _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), sums[0]);
            i += 8;
        }
    }
    let sum = _mm256_add_ps(_mm256_add_ps(sums[0], sums[1]), _mm256_add_ps(sums[2], sums[3]));
    let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    let mut total = _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
    while i < n {
        // SAFETY: `i < n`, within both slices.
        total += unsafe { *a.add(i) * *b.add(i) };
        i += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_of_every_length_match_the_plain_sum() {
        for n in [0, 1, 7, 8, 31, 32, 33, 128, 517] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let expected: f64 = a.iter().zip(&b).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!((dot(&a, &b) as f64 - expected).abs() < 1e-4, "length {n}");
        }
    }

    #[test]
    fn the_portable_products_agree_with_the_vector_ones() {
        let (rows, columns) = (37, 133);
        let matrix: Vec<f32> = (0..rows * columns).map(|i| (i as f32 * 0.013).sin()).collect();
        let x: Vec<f32> = (0..columns).map(|i| (i as f32 * 0.7).cos()).collect();
        let (mut vector, mut portable) = (vec![1.0; rows], vec![1.0; rows]);
        matvec_add(&matrix, &x, &mut vector);
        rows_portable(&matrix, &x, &mut portable, true);
        for (v, p) in vector.iter().zip(&portable) {
            assert!((v - p).abs() < 1e-4, "{v} against {p}");
        }
        assert!((dot(&x, &x) - dot_portable(&x, &x)).abs() < 1e-4);
    }

    #[test]
    fn a_residual_projection_adds_to_what_is_there() {
        let matrix = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [10.0, 20.0];
        matvec_add(&matrix, &[1.0, 0.0, -1.0], &mut out);
        assert_eq!(out, [8.0, 18.0]);
        matvec(&matrix, &[1.0, 1.0, 1.0], &mut out);
        assert_eq!(out, [6.0, 15.0]);
    }

    #[test]
    fn attention_weighs_the_values_by_the_softmax_of_the_scores() {
        // Two positions, width 4: scores 2/2 = 1 and 0, so weights e/(1+e) and 1/(1+e).
        let q = [2.0, 0.0, 0.0, 0.0];
        let keys = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let values = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let (mut scores, mut out) = ([0.0; 2], [0.0; 4]);
        attend(&q, &keys, &values, &mut scores, &mut out);
        let e = std::f32::consts::E;
        assert!((out[0] - e / (1.0 + e)).abs() < 1e-6 && (out[1] - 1.0 / (1.0 + e)).abs() < 1e-6);
    }
}
