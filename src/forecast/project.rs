//! Projecting one baseline forward: the model's seasonal typical value with 95 % bounds that
//! widen with the horizon, and an optional empirical calibration of those bounds from the
//! model's own past multi-step errors.

use crate::model::{Baseline, ModelConfig, ValueKind};
use crate::time::EpochMillis;

/// The forecast of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projected {
    /// Start of the bucket.
    pub timestamp: EpochMillis,
    /// Predicted value.
    pub typical: f64,
    /// Lower bound of the 95 % interval.
    pub lower: f64,
    /// Upper bound of the 95 % interval.
    pub upper: f64,
}

/// Which of the model's seasonal profiles a projection keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seasonality {
    /// Everything the model scores with: level, daily and weekly profiles.
    Full,
    /// The weekly profile averaged out: at each time, the mean of the model's expected
    /// values at the same time of day on the seven days of the week. A weekly profile
    /// learned from two or three weeks can carry one unusual week for a long time; when
    /// it does, this projects better.
    WithoutWeekly,
}

/// The model's typical value at `time` under `seasonality` (its current level).
pub(crate) fn typical_at(
    baseline: &Baseline,
    cfg: &ModelConfig,
    time: EpochMillis,
    seasonality: Seasonality,
) -> f64 {
    match seasonality {
        Seasonality::Full => baseline.expected(cfg, time).typical,
        Seasonality::WithoutWeekly => {
            (0..7)
                .map(|d| baseline.expected(cfg, time + d * DAY_MS).typical)
                .sum::<f64>()
                / 7.0
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Forecasts `buckets` buckets starting at `start` (the first bucket the model has not
/// seen), straight from [`Baseline::forecast`]: the bucket at `start + k·span` is `k + 1`
/// buckets ahead of the last one learned.
pub(crate) fn project(
    baseline: &Baseline,
    cfg: &ModelConfig,
    start: EpochMillis,
    buckets: u32,
) -> Vec<Projected> {
    project_with(baseline, cfg, start, buckets, Seasonality::Full)
}

/// [`project`] keeping only the seasonal profiles `seasonality` names; the bounds keep the
/// model's width around the typical value.
pub(crate) fn project_with(
    baseline: &Baseline,
    cfg: &ModelConfig,
    start: EpochMillis,
    buckets: u32,
    seasonality: Seasonality,
) -> Vec<Projected> {
    let last = start - cfg.bucket_span_ms;
    (0..buckets)
        .map(|k| {
            let timestamp = start + cfg.bucket_span_ms * k as i64;
            let e = baseline.forecast(cfg, last, k + 1);
            let shift = match seasonality {
                Seasonality::Full => 0.0,
                Seasonality::WithoutWeekly => {
                    typical_at(baseline, cfg, timestamp, seasonality) - e.typical
                }
            };
            let mut p = Projected {
                timestamp,
                typical: e.typical + shift,
                lower: e.lower + shift,
                upper: e.upper + shift,
            };
            if cfg.kind == ValueKind::Count {
                p.typical = p.typical.max(0.0);
                p.lower = p.lower.max(0.0);
            }
            p
        })
        .collect()
}

/// The offset that re-levels a model's projection on recent data: the median, over the
/// given recent buckets, of `actual - typical` under the model as it is now (see
/// [`typical_at`]). The model's
/// point level is a one-step nowcast that follows the last few buckets (it absorbs whatever
/// of the intraday shape its profiles miss); over a whole daily cycle those deviations
/// average out, so the median residual over the last cycle is the level to project for
/// horizons of hours and days. The median keeps an anomaly in that cycle from moving it.
/// `None` without recent values.
pub(crate) fn relevel_offset(
    baseline: &Baseline,
    cfg: &ModelConfig,
    recent: &[(EpochMillis, f64)],
    seasonality: Seasonality,
) -> Option<f64> {
    let mut r: Vec<f64> = recent
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|&(t, v)| v - typical_at(baseline, cfg, t, seasonality))
        .collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let m = r.len() / 2;
    Some(if r.len() % 2 == 1 {
        r[m]
    } else {
        0.5 * (r[m - 1] + r[m])
    })
}

/// Shifts a projection by `offset` (from [`relevel_offset`]), keeping counts non-negative.
pub(crate) fn shift(projected: &mut [Projected], cfg: &ModelConfig, offset: f64) {
    for p in projected.iter_mut() {
        p.typical += offset;
        p.lower += offset;
        p.upper += offset;
        if cfg.kind == ValueKind::Count {
            p.typical = p.typical.max(0.0);
            p.lower = p.lower.max(0.0);
            p.upper = p.upper.max(p.typical);
        }
    }
}

/// Empirical forecast errors of a model, by horizon: what its forecasts from earlier origins
/// missed by, measured on data it had not yet seen when each forecast was made (the
/// "empirical prediction interval" method). Errors are log ratios `ln((actual+1)/(typical+1))`
/// for counts (multiplicative: traffic errs in proportion to its level) and plain
/// differences for metrics.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// `errors[h]`: errors of forecasts `h + 1` buckets ahead.
    errors: Vec<Vec<f64>>,
    kind: Option<ValueKind>,
}

/// Errors pooled for one horizon must number at least this before they replace the model's
/// own bounds; the pool takes in longer horizons until it does.
const MIN_POOL: usize = 40;

impl Calibration {
    /// An empty calibration for a model of `kind`.
    pub fn new(kind: ValueKind) -> Self {
        Calibration {
            errors: Vec::new(),
            kind: Some(kind),
        }
    }

    fn err(&self, actual: f64, typical: f64) -> f64 {
        match self.kind {
            Some(ValueKind::Count) => ((actual.max(0.0) + 1.0) / (typical.max(0.0) + 1.0)).ln(),
            _ => actual - typical,
        }
    }

    fn apply(&self, typical: f64, err: f64) -> f64 {
        match self.kind {
            Some(ValueKind::Count) => ((typical.max(0.0) + 1.0) * err.exp() - 1.0).max(0.0),
            _ => typical + err,
        }
    }

    /// Adds what the forecast `horizon` buckets ahead (1-based) said, against what came.
    pub fn add(&mut self, horizon: u32, typical: f64, actual: f64) {
        let h = horizon.max(1) as usize - 1;
        if self.errors.len() <= h {
            self.errors.resize(h + 1, Vec::new());
        }
        let e = self.err(actual, typical);
        if e.is_finite() {
            self.errors[h].push(e);
        }
    }

    /// Number of errors recorded.
    pub fn len(&self) -> usize {
        self.errors.iter().map(Vec::len).sum()
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The 2.5 % and 97.5 % quantiles of the errors at horizons up to `horizon` (1-based):
    /// errors grow with the horizon, so the pool widens the bounds as the horizon grows,
    /// and an unusual stretch of history (an incident at one time of day) is weighed against
    /// everything else the model missed rather than dominating one horizon. A pool smaller
    /// than [`MIN_POOL`] takes in the next horizons; `None` when all of them are too few.
    fn bounds(&self, horizon: u32) -> Option<(f64, f64)> {
        let h = horizon.max(1) as usize;
        let mut pool: Vec<f64> = Vec::new();
        for (i, errs) in self.errors.iter().enumerate() {
            if i >= h && pool.len() >= MIN_POOL {
                break;
            }
            pool.extend_from_slice(errs);
        }
        if pool.len() < MIN_POOL {
            return None;
        }
        pool.sort_by(f64::total_cmp);
        let q = |p: f64| pool[((pool.len() - 1) as f64 * p).round() as usize];
        Some((q(0.025), q(0.975)))
    }

    /// Mean absolute error over all horizons, in the calibration's units (log ratio for
    /// counts).
    pub fn mean_abs_error(&self) -> Option<f64> {
        let n = self.len();
        (n > 0).then(|| self.errors.iter().flatten().map(|e| e.abs()).sum::<f64>() / n as f64)
    }

    /// Replaces a projection's bounds by the empirical ones where there are enough errors
    /// for the horizon; the prediction stays the model's. Bounds never get narrower than
    /// the model's own (the calibration only corrects an over-confident model).
    pub fn calibrate(&self, projected: &mut [Projected]) {
        for (k, p) in projected.iter_mut().enumerate() {
            if let Some((lo, hi)) = self.bounds(k as u32 + 1) {
                p.lower = p.lower.min(self.apply(p.typical, lo));
                p.upper = p.upper.max(self.apply(p.typical, hi));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tail;

    const SPAN: i64 = 15 * 60_000;
    const DAY: i64 = 86_400_000;

    fn cfg() -> ModelConfig {
        ModelConfig {
            bucket_span_ms: SPAN,
            kind: ValueKind::Count,
            tail: Tail::Both,
            half_life_ms: 14 * DAY,
        }
    }

    fn trained() -> Baseline {
        let cfg = cfg();
        let mut b = Baseline::new(&cfg);
        for i in 0..7 * 96 {
            let t = i * SPAN;
            let hour = (t % DAY) as f64 / 3_600_000.0;
            let v = 100.0 + 50.0 * (hour / 24.0 * std::f64::consts::TAU).sin();
            b.observe(&cfg, t, v.round());
        }
        b
    }

    #[test]
    fn projection_starts_at_the_next_bucket_and_widens() {
        let b = trained();
        let start = 7 * DAY;
        let p = project(&b, &cfg(), start, 96);
        assert_eq!(p.len(), 96);
        assert_eq!(p[0].timestamp, start);
        assert_eq!(p[95].timestamp, start + 95 * SPAN);
        for x in &p {
            assert!(x.lower <= x.typical && x.typical <= x.upper, "{x:?}");
        }
        // Same time of day, a day apart in the horizon: wider later.
        let near = project(&b, &cfg(), start, 1)[0];
        let far = project(&b, &cfg(), start - DAY + SPAN, 96)[95];
        assert_eq!(near.timestamp, start);
        assert_eq!(far.timestamp, start);
        assert!(far.upper - far.lower > near.upper - near.lower);
    }

    #[test]
    fn calibration_widens_an_overconfident_projection_only() {
        let mut p = vec![
            Projected {
                timestamp: 0,
                typical: 100.0,
                lower: 95.0,
                upper: 105.0,
            };
            10
        ];
        let mut c = Calibration::new(ValueKind::Count);
        assert!(c.is_empty());
        c.calibrate(&mut p);
        assert_eq!(p[0].upper, 105.0, "no errors, no change");
        // Errors of about ±30 %.
        for i in 0..200 {
            let ratio = 0.7 + 0.6 * (i as f64 / 199.0);
            c.add(1 + (i % 10) as u32, 100.0, 101.0 * ratio - 1.0);
        }
        let mae = c.mean_abs_error().expect("errors");
        assert!(mae > 0.1 && mae < 0.2, "{mae}");
        assert_eq!(c.len(), 200);
        c.calibrate(&mut p);
        assert!(p[0].upper > 120.0 && p[0].upper < 135.0, "{:?}", p[0]);
        assert!(p[0].lower < 80.0 && p[0].lower > 65.0, "{:?}", p[0]);
        // Tiny errors never narrow the model's own bounds.
        let mut tight = Calibration::new(ValueKind::Count);
        for i in 0..100 {
            tight.add(1, 100.0, 100.0 + (i % 2) as f64);
        }
        let mut q = vec![Projected {
            timestamp: 0,
            typical: 100.0,
            lower: 80.0,
            upper: 120.0,
        }];
        tight.calibrate(&mut q);
        assert_eq!((q[0].lower, q[0].upper), (80.0, 120.0));
    }
}
