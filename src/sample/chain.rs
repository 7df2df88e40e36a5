//! The sampler chain: pure functions from a model's logits to the distribution a token is
//! drawn from. Top-k and top-p look at the model's own distribution; temperature applies
//! last, to what is left.

use rand::Rng;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// 0 always takes the likeliest token.
    pub temperature: f64,
    /// Keep only the k likeliest tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the likeliest tokens whose probabilities reach p; 1 keeps all.
    pub top_p: f64,
}

impl Settings {
    pub fn from_config(config: &crate::config::SampleConfig) -> Settings {
        Settings {
            temperature: config.temperature,
            top_k: config.top_k as usize,
            top_p: config.top_p,
        }
    }
}

/// Below this temperature sampling is greedy.
const GREEDY_BELOW: f64 = 1e-4;

/// The probability of every token after the chain; tokens the chain removes get 0.
pub fn distribution(logits: &[f32], settings: &Settings) -> Vec<f32> {
    let mut kept: Vec<usize> = (0..logits.len()).filter(|i| logits[*i].is_finite()).collect();
    kept.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b)));

    if settings.top_k > 0 && settings.top_k < kept.len() {
        kept.truncate(settings.top_k);
    }
    if settings.top_p < 1.0 && kept.len() > 1 {
        let probabilities = softmax(kept.iter().map(|i| logits[*i] as f64));
        let mut total = 0.0;
        let keep = probabilities
            .iter()
            .position(|p| {
                total += p;
                total >= settings.top_p
            })
            .map_or(kept.len(), |last| last + 1);
        kept.truncate(keep);
    }

    let mut out = vec![0.0f32; logits.len()];
    if kept.is_empty() {
        return out;
    }
    if settings.temperature < GREEDY_BELOW {
        out[kept[0]] = 1.0;
        return out;
    }
    let probabilities = softmax(kept.iter().map(|i| logits[*i] as f64 / settings.temperature));
    for (index, p) in kept.iter().zip(probabilities) {
        out[*index] = p as f32;
    }
    out
}

/// Draws an index with the given probabilities (which need not sum to exactly 1).
pub fn draw(probabilities: &[f32], rng: &mut impl Rng) -> usize {
    let total: f64 = probabilities.iter().map(|p| *p as f64).sum();
    let mut target = rng.random::<f64>() * total;
    let mut last_possible = 0;
    for (index, p) in probabilities.iter().enumerate() {
        if *p <= 0.0 {
            continue;
        }
        last_possible = index;
        target -= *p as f64;
        if target < 0.0 {
            return index;
        }
    }
    last_possible
}

fn softmax(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let values: Vec<f64> = values.collect();
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = values.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const ALL: Settings = Settings { temperature: 1.0, top_k: 0, top_p: 1.0 };

    fn kept(probabilities: &[f32]) -> Vec<usize> {
        (0..probabilities.len()).filter(|i| probabilities[*i] > 0.0).collect()
    }

    #[test]
    fn temperature_one_with_nothing_cut_is_the_softmax() {
        let logits = [1.0f32, 2.0, 3.0];
        let p = distribution(&logits, &ALL);
        let z: f64 = logits.iter().map(|l| (*l as f64).exp()).sum();
        for (i, l) in logits.iter().enumerate() {
            assert!((p[i] as f64 - (*l as f64).exp() / z).abs() < 1e-6);
        }
    }

    #[test]
    fn temperature_zero_and_top_k_one_take_the_argmax() {
        let logits = [0.5f32, 3.0, 2.9, -1.0];
        assert_eq!(
            distribution(&logits, &Settings { temperature: 0.0, ..ALL }),
            [0.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(distribution(&logits, &Settings { top_k: 1, ..ALL }), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn top_k_keeps_the_k_likeliest() {
        let logits = [0.1f32, 5.0, 3.0, 4.0, -2.0];
        assert_eq!(kept(&distribution(&logits, &Settings { top_k: 3, ..ALL })), [1, 2, 3]);
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 as logits.
        let logits: Vec<f32> = [0.5f64, 0.3, 0.15, 0.05].iter().map(|p| p.ln() as f32).collect();
        assert_eq!(kept(&distribution(&logits, &Settings { top_p: 0.5, ..ALL })), [0]);
        assert_eq!(kept(&distribution(&logits, &Settings { top_p: 0.79, ..ALL })), [0, 1]);
        assert_eq!(kept(&distribution(&logits, &Settings { top_p: 0.81, ..ALL })), [0, 1, 2]);
        let p = distribution(&logits, &Settings { top_p: 0.81, ..ALL });
        assert!((p[0] - 0.5 / 0.95).abs() < 1e-6);
    }

    #[test]
    fn draws_follow_the_distribution() {
        let probabilities = [0.1f32, 0.0, 0.6, 0.3];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            counts[draw(&probabilities, &mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (i, p) in probabilities.iter().enumerate() {
            let share = counts[i] as f32 / 20_000.0;
            assert!((share - p).abs() < 0.015, "token {i}: {share} vs {p}");
        }
    }
}
