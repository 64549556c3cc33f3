//! The metabolism: a token budget whose remaining share sets the alpha that
//! context assembly uses. The fuller the budget, the more room
//! structure, recency and importance get; as it drains, meaning dominates.

use serde::Serialize;

/// Budget bands, from most to least remaining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum MetabolicState {
    /// More than 70 % left: alpha 0.60.
    Healthy,
    /// More than 40 % left: alpha 0.75.
    Stressed,
    /// More than 10 % left: alpha 0.90.
    Critical,
    /// 10 % or less left: alpha 0.95.
    Emergency,
}

impl MetabolicState {
    /// The band for a remaining share in percent.
    pub fn from_remaining_pct(pct: f64) -> MetabolicState {
        if pct > 70.0 {
            MetabolicState::Healthy
        } else if pct > 40.0 {
            MetabolicState::Stressed
        } else if pct > 10.0 {
            MetabolicState::Critical
        } else {
            MetabolicState::Emergency
        }
    }

    /// The alpha context assembly uses in this band.
    pub const fn alpha(self) -> f64 {
        match self {
            MetabolicState::Healthy => 0.60,
            MetabolicState::Stressed => 0.75,
            MetabolicState::Critical => 0.90,
            MetabolicState::Emergency => 0.95,
        }
    }
}

/// The budget and what has been spent of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metabolism {
    budget_tokens: u64,
    used_tokens: u64,
}

/// What the metabolism reports (also part of metrics).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MetabolismReport {
    /// The budget.
    pub budget_tokens: u64,
    /// Tokens charged so far (may exceed the budget; remaining then reads 0 %).
    pub used_tokens: u64,
    /// `100 · (1 − used/budget)`, clamped to [0, 100].
    pub remaining_pct: f64,
    /// The band.
    pub state: MetabolicState,
    /// The band's alpha.
    pub alpha: f64,
}

impl Metabolism {
    /// A full budget of `budget_tokens` (at least 1).
    pub fn new(budget_tokens: u64) -> Metabolism {
        Metabolism { budget_tokens: budget_tokens.max(1), used_tokens: 0 }
    }

    /// A budget with `used_tokens` already spent (used when restoring a snapshot).
    pub fn with_used(budget_tokens: u64, used_tokens: u64) -> Metabolism {
        Metabolism { budget_tokens: budget_tokens.max(1), used_tokens }
    }

    /// Charges tokens.
    pub fn charge(&mut self, tokens: u64) {
        self.used_tokens = self.used_tokens.saturating_add(tokens);
    }

    /// Forgets what was spent.
    pub fn reset(&mut self) {
        self.used_tokens = 0;
    }

    /// Sets a new budget (at least 1), keeping what was spent.
    pub fn resize(&mut self, budget_tokens: u64) {
        self.budget_tokens = budget_tokens.max(1);
    }

    /// Remaining share in percent, clamped to [0, 100].
    pub fn remaining_pct(&self) -> f64 {
        (100.0 * (1.0 - self.used_tokens as f64 / self.budget_tokens as f64)).clamp(0.0, 100.0)
    }

    /// The current band.
    pub fn state(&self) -> MetabolicState {
        MetabolicState::from_remaining_pct(self.remaining_pct())
    }

    /// The alpha of the current band.
    pub fn alpha(&self) -> f64 {
        self.state().alpha()
    }

    /// The full report.
    pub fn report(&self) -> MetabolismReport {
        MetabolismReport {
            budget_tokens: self.budget_tokens,
            used_tokens: self.used_tokens,
            remaining_pct: self.remaining_pct(),
            state: self.state(),
            alpha: self.alpha(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_bands_at_their_boundaries() {
        // budget 100: used u leaves 100 - u percent.
        let cases = [
            (0, MetabolicState::Healthy, 0.60),
            (29, MetabolicState::Healthy, 0.60),
            (30, MetabolicState::Stressed, 0.75), // exactly 70 % is not > 70 %
            (59, MetabolicState::Stressed, 0.75),
            (60, MetabolicState::Critical, 0.90), // exactly 40 %
            (89, MetabolicState::Critical, 0.90),
            (90, MetabolicState::Emergency, 0.95), // exactly 10 %
            (100, MetabolicState::Emergency, 0.95),
            (1000, MetabolicState::Emergency, 0.95),
        ];
        for (used, state, alpha) in cases {
            let m = Metabolism::with_used(100, used);
            assert_eq!(m.state(), state, "used {used}");
            assert_eq!(m.alpha(), alpha, "used {used}");
        }
    }

    #[test]
    fn charge_reset_resize() {
        let mut m = Metabolism::new(1000);
        m.charge(500);
        assert_eq!(m.remaining_pct(), 50.0);
        m.resize(2000);
        assert_eq!(m.remaining_pct(), 75.0);
        m.charge(u64::MAX);
        assert_eq!(m.remaining_pct(), 0.0);
        m.reset();
        assert_eq!(m.report().used_tokens, 0);
        assert_eq!(m.report().state, MetabolicState::Healthy);
        m.resize(0);
        assert_eq!(m.report().budget_tokens, 1);
    }
}
