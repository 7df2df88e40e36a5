//! The learning-rate schedule: a linear warm-up to the peak, then a cosine down to the floor.

/// Learning rate as a function of the step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub floor: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl Schedule {
    /// The rate for the step numbered `step`, counted from 0.
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.floor + (self.peak - self.floor) * cosine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: Schedule =
        Schedule { peak: 1e-3, floor: 1e-4, warmup_steps: 100, total_steps: 2000 };

    #[test]
    fn warms_up_linearly_to_the_peak() {
        assert!((SCHEDULE.at(0) - 1e-5).abs() < 1e-12);
        assert!((SCHEDULE.at(49) - 5e-4).abs() < 1e-12);
        assert!((SCHEDULE.at(99) - 1e-3).abs() < 1e-12);
    }

    #[test]
    fn decays_along_a_cosine_to_the_floor() {
        assert!((SCHEDULE.at(100) - 1e-3).abs() < 1e-12);
        assert!((SCHEDULE.at(1050) - 5.5e-4).abs() < 1e-9);
        assert!((SCHEDULE.at(2000) - 1e-4).abs() < 1e-12);
        assert!((SCHEDULE.at(5000) - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn no_warmup_starts_at_the_peak() {
        let schedule = Schedule { warmup_steps: 0, ..SCHEDULE };
        assert!((schedule.at(0) - 1e-3).abs() < 1e-12);
    }
}
