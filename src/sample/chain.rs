//! The sampler chain: pure functions from a model's logits and the text so far to the
//! distribution the next token is drawn from. In order: logit bias; repetition, presence
//! and frequency penalties over the recent window; DRY; then top-k, typical-p, top-p and
//! min-p on the model's own distribution; and temperature last, on what is left.

use std::collections::HashMap;

use rand::Rng;

use super::settings::Resolved;

/// Below this temperature sampling is greedy.
const GREEDY_BELOW: f64 = 1e-4;

/// The logits after the bias, the penalties and DRY, before any token is cut.
pub fn penalised(logits: &[f32], history: &[u32], resolved: &Resolved) -> Vec<f32> {
    let settings = &resolved.settings;
    let mut logits = logits.to_vec();
    for (id, bias) in &resolved.bias {
        if let Some(logit) = logits.get_mut(*id as usize) {
            *logit += bias;
        }
    }

    let window = &history[history.len().saturating_sub(settings.penalty_window)..];
    let penalising = settings.repetition_penalty != 1.0
        || settings.presence_penalty != 0.0
        || settings.frequency_penalty != 0.0;
    if penalising {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for id in window {
            *counts.entry(*id).or_insert(0) += 1;
        }
        for (id, count) in counts {
            let Some(logit) = logits.get_mut(id as usize) else { continue };
            let r = settings.repetition_penalty as f32;
            *logit = if *logit > 0.0 { *logit / r } else { *logit * r };
            *logit -= settings.presence_penalty as f32;
            *logit -= settings.frequency_penalty as f32 * count as f32;
        }
    }

    if settings.dry_multiplier > 0.0 {
        for (id, length) in repeat_lengths(window, resolved) {
            if length >= settings.dry_allowed_length {
                let exponent = (length - settings.dry_allowed_length) as i32;
                let penalty = settings.dry_multiplier * settings.dry_base.powi(exponent);
                if let Some(logit) = logits.get_mut(id as usize) {
                    *logit -= penalty as f32;
                }
            }
        }
    }
    logits
}

/// DRY's view of the history: for each token that has followed an earlier occurrence of
/// the text's current ending, the length of the longest such repeat it would extend.
/// Repeats never reach back across a sequence breaker.
pub fn repeat_lengths(history: &[u32], resolved: &Resolved) -> HashMap<u32, usize> {
    let mut longest: HashMap<u32, usize> = HashMap::new();
    let n = history.len();
    if n == 0 || resolved.is_breaker(history[n - 1]) {
        return longest;
    }
    for end in 0..n - 1 {
        // How far history[..=end] and history[..n] agree, counted back from their ends.
        let mut length = 0;
        while length <= end
            && history[end - length] == history[n - 1 - length]
            && !resolved.is_breaker(history[end - length])
        {
            length += 1;
        }
        if length > 0 {
            let next = history[end + 1];
            let entry = longest.entry(next).or_insert(0);
            *entry = (*entry).max(length);
        }
    }
    longest
}

/// The probability of every token after the chain, from logits already penalised;
/// tokens the chain cuts get 0.
pub fn distribution(logits: &[f32], resolved: &Resolved) -> Vec<f32> {
    let settings = &resolved.settings;
    let mut kept: Vec<usize> = (0..logits.len()).filter(|i| logits[*i].is_finite()).collect();
    kept.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b)));

    if settings.top_k > 0 && settings.top_k < kept.len() {
        kept.truncate(settings.top_k);
    }
    if settings.typical_p < 1.0 && kept.len() > 1 {
        kept = typical(logits, kept, settings.typical_p);
    }
    if settings.top_p < 1.0 && kept.len() > 1 {
        let probabilities = softmax(kept.iter().map(|i| logits[*i] as f64));
        kept.truncate(prefix_reaching(&probabilities, settings.top_p));
    }
    if settings.min_p > 0.0 && kept.len() > 1 {
        let probabilities = softmax(kept.iter().map(|i| logits[*i] as f64));
        let floor = settings.min_p * probabilities[0];
        let keep = probabilities.iter().take_while(|p| **p >= floor).count().max(1);
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

/// Locally typical sampling: the tokens whose surprise is nearest the distribution's
/// entropy, up to `mass` probability, back in order of likelihood.
fn typical(logits: &[f32], kept: Vec<usize>, mass: f64) -> Vec<usize> {
    let probabilities = softmax(kept.iter().map(|i| logits[*i] as f64));
    let entropy: f64 = probabilities.iter().filter(|p| **p > 0.0).map(|p| -p * p.ln()).sum();
    let mut order: Vec<usize> = (0..kept.len()).collect();
    order.sort_by(|a, b| {
        let distance = |i: usize| (-probabilities[i].ln() - entropy).abs();
        distance(*a).total_cmp(&distance(*b)).then(a.cmp(b))
    });
    let by_typicality: Vec<f64> = order.iter().map(|i| probabilities[*i]).collect();
    let mut chosen: Vec<usize> = order[..prefix_reaching(&by_typicality, mass)].to_vec();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| kept[i]).collect()
}

/// The length of the shortest prefix whose probabilities reach `mass` (at least 1).
fn prefix_reaching(probabilities: &[f64], mass: f64) -> usize {
    let mut total = 0.0;
    probabilities
        .iter()
        .position(|p| {
            total += p;
            total >= mass - 1e-12
        })
        .map_or(probabilities.len(), |last| last + 1)
}

/// The model's own distribution, with nothing cut: softmax of the logits.
pub fn softmax_of(logits: &[f32]) -> Vec<f32> {
    let probabilities = softmax(logits.iter().map(|l| *l as f64));
    probabilities.into_iter().map(|p| p as f32).collect()
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

/// The `count` likeliest tokens of a distribution, likeliest first.
pub fn top(probabilities: &[f32], count: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<u32> =
        (0..probabilities.len() as u32).filter(|i| probabilities[*i as usize] > 0.0).collect();
    order.sort_by(|a, b| {
        probabilities[*b as usize].total_cmp(&probabilities[*a as usize]).then(a.cmp(b))
    });
    order.into_iter().take(count).map(|i| (i, probabilities[i as usize])).collect()
}

fn softmax(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let values: Vec<f64> = values.collect();
    let max = values.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> =
        values.iter().map(|v| if v.is_finite() { (v - max).exp() } else { 0.0 }).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Settings;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn with(change: impl FnOnce(&mut Settings)) -> Resolved {
        let mut settings = Settings::off();
        change(&mut settings);
        Resolved::plain(settings)
    }

    fn kept(probabilities: &[f32]) -> Vec<usize> {
        (0..probabilities.len()).filter(|i| probabilities[*i] > 0.0).collect()
    }

    fn logits_of(probabilities: &[f64]) -> Vec<f32> {
        probabilities.iter().map(|p| p.ln() as f32).collect()
    }

    #[test]
    fn nothing_cut_at_temperature_one_is_the_softmax() {
        let logits = [1.0f32, 2.0, 3.0];
        let p = distribution(&logits, &with(|_| {}));
        let z: f64 = logits.iter().map(|l| (*l as f64).exp()).sum();
        for (i, l) in logits.iter().enumerate() {
            assert!((p[i] as f64 - (*l as f64).exp() / z).abs() < 1e-6);
        }
    }

    #[test]
    fn temperature_near_zero_and_top_k_one_take_the_argmax() {
        let logits = [0.5f32, 3.0, 2.9, -1.0];
        assert_eq!(distribution(&logits, &with(|s| s.temperature = 1e-6)), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(distribution(&logits, &with(|s| s.top_k = 1)), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn top_k_keeps_the_k_likeliest() {
        let logits = [0.1f32, 5.0, 3.0, 4.0, -2.0];
        assert_eq!(kept(&distribution(&logits, &with(|s| s.top_k = 3))), [1, 2, 3]);
    }

    #[test]
    fn top_p_keeps_exactly_the_smallest_set_reaching_p() {
        let logits = logits_of(&[0.5, 0.3, 0.15, 0.05]);
        assert_eq!(kept(&distribution(&logits, &with(|s| s.top_p = 0.5))), [0]);
        assert_eq!(kept(&distribution(&logits, &with(|s| s.top_p = 0.79))), [0, 1]);
        assert_eq!(kept(&distribution(&logits, &with(|s| s.top_p = 0.81))), [0, 1, 2]);
        let p = distribution(&logits, &with(|s| s.top_p = 0.81));
        assert!((p[0] - 0.5 / 0.95).abs() < 1e-6);
    }

    #[test]
    fn min_p_keeps_exactly_the_tokens_above_its_share_of_the_likeliest() {
        let logits = logits_of(&[0.4, 0.3, 0.2, 0.08, 0.02]);
        assert_eq!(kept(&distribution(&logits, &with(|s| s.min_p = 0.45))), [0, 1, 2]);
        assert_eq!(kept(&distribution(&logits, &with(|s| s.min_p = 0.55))), [0, 1]);
        assert_eq!(kept(&distribution(&logits, &with(|s| s.min_p = 0.19))), [0, 1, 2, 3]);
        assert_eq!(kept(&distribution(&logits, &with(|s| s.min_p = 0.76))), [0]);
    }

    #[test]
    fn typical_p_keeps_the_tokens_nearest_the_entropy() {
        // Entropy of (0.4, 0.3, 0.3) is 1.089 nats; the surprises are 0.916 and 1.204, so
        // the two less likely tokens are the more typical ones.
        let logits = logits_of(&[0.4, 0.3, 0.3]);
        let p = distribution(&logits, &with(|s| s.typical_p = 0.5));
        assert_eq!(kept(&p), [1, 2], "the likeliest token is the least typical");
        assert!((p[1] - 0.5).abs() < 1e-6);
        let p = distribution(&logits, &with(|s| s.typical_p = 0.65));
        assert_eq!(kept(&p), [0, 1, 2]);
    }

    #[test]
    fn penalties_lower_what_the_window_holds() {
        let logits = [2.0f32, -1.0, 1.0, 0.5];
        let history = [0, 0, 1, 3, 3, 3];
        let repetition = penalised(&logits, &history, &with(|s| s.repetition_penalty = 2.0));
        assert_eq!(repetition, [1.0, -2.0, 1.0, 0.25]);
        let presence = penalised(&logits, &history, &with(|s| s.presence_penalty = 0.5));
        assert_eq!(presence, [1.5, -1.5, 1.0, 0.0]);
        let frequency = penalised(&logits, &history, &with(|s| s.frequency_penalty = 0.5));
        assert_eq!(frequency, [1.0, -1.5, 1.0, -1.0]);
        let windowed = penalised(
            &logits,
            &history,
            &with(|s| {
                s.presence_penalty = 1.0;
                s.penalty_window = 3;
            }),
        );
        assert_eq!(windowed, [2.0, -1.0, 1.0, -0.5], "only the last three tokens count");
    }

    #[test]
    fn dry_penalises_the_token_that_would_extend_a_repeat() {
        // "a b c d ... a b c" → d would repeat "a b c d".
        let history = [0, 1, 2, 3, 4, 5, 0, 1, 2];
        let resolved = with(|s| {
            s.dry_multiplier = 1.0;
            s.dry_base = 2.0;
            s.dry_allowed_length = 2;
        });
        let lengths = repeat_lengths(&history, &resolved);
        assert_eq!(lengths.get(&3), Some(&3));
        let logits = penalised(&[0.0; 6], &history, &resolved);
        assert_eq!(logits[3], -2.0, "multiplier times base to the power of 3 - 2");
        assert_eq!(logits[4], 0.0);
    }

    #[test]
    fn dry_repeats_stop_at_breakers() {
        let history = [0, 1, 2, 3, 0, 1, 2];
        let mut resolved = with(|s| {
            s.dry_multiplier = 1.0;
            s.dry_allowed_length = 0;
        });
        resolved.breaker = vec![false, true, false, false];
        let lengths = repeat_lengths(&history, &resolved);
        assert_eq!(lengths.get(&3), Some(&1), "the repeat reaches back only to the breaker");
    }

    #[test]
    fn logit_bias_shifts_the_named_tokens() {
        let mut resolved = with(|_| {});
        resolved.bias = vec![(1, -100.0)];
        let logits = penalised(&[1.0, 2.0], &[], &resolved);
        assert_eq!(logits, [1.0, -98.0]);
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

    /// The 0.999 quantile of chi-square with 7 degrees of freedom.
    const CHI_SQUARE_7_0999: f64 = 24.32;

    #[test]
    fn ten_thousand_draws_at_a_temperature_match_the_tempered_softmax() {
        let logits = [2.0f32, 1.0, 0.5, 0.0, -0.5, -1.0, 1.5, 0.2];
        for temperature in [0.5, 1.0, 1.7] {
            let p = distribution(&logits, &with(|s| s.temperature = temperature));
            let scaled: Vec<f64> = logits.iter().map(|l| (*l as f64 / temperature).exp()).collect();
            let z: f64 = scaled.iter().sum();
            let mut rng = ChaCha8Rng::seed_from_u64(temperature.to_bits());
            let mut counts = [0f64; 8];
            for _ in 0..10_000 {
                counts[draw(&p, &mut rng)] += 1.0;
            }
            let chi: f64 = counts
                .iter()
                .zip(&scaled)
                .map(|(o, s)| (o - 10_000.0 * s / z).powi(2) / (10_000.0 * s / z))
                .sum();
            assert!(chi < CHI_SQUARE_7_0999, "temperature {temperature}: chi-square {chi:.2}");
        }
    }

    #[test]
    fn top_lists_the_likeliest_first() {
        assert_eq!(top(&[0.1, 0.5, 0.0, 0.4], 2), [(1, 0.5), (3, 0.4)]);
    }
}
