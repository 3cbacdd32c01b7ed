//! Holdout evaluation of forecasts: train a baseline on all but the last buckets of a series
//! through [`Baseline::observe`] (the runner's code path), forecast the held-out buckets, and
//! compare with what happened and with a seasonal-naive forecast.

use super::fit::{fit, is_origin, Origin, RELEVEL_MS};
use super::project::{project, Projected, Seasonality};
use crate::model::{Baseline, ModelConfig, Reason};
use crate::time::EpochMillis;

/// How a forecast of held-out buckets fared.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestReport {
    /// Buckets forecast and compared.
    pub buckets: usize,
    /// Share of actual values inside the model's own 95 % bounds (`project`).
    pub raw_coverage: f64,
    /// Mean absolute percentage error of the model's own projection.
    pub raw_mape: f64,
    /// Share of actual values inside the fitted forecast's 95 % bounds.
    pub coverage: f64,
    /// Mean absolute percentage error of the fitted forecast (buckets with a zero actual
    /// skipped).
    pub mape: f64,
    /// Mean absolute percentage error of the seasonal-naive forecast (the value one season
    /// earlier).
    pub naive_mape: f64,
    /// Mean width of the fitted bounds relative to the actual value.
    pub relative_width: f64,
    /// The seasonality the fit chose, and each candidate's rolling-origin error.
    pub seasonality: Seasonality,
    /// Each candidate's mean absolute error over the rolling origins.
    pub candidates: Vec<(Seasonality, f64)>,
    /// Rolling origins used.
    pub origins: usize,
    /// The fitted forecast, bucket by bucket.
    pub forecast: Vec<Projected>,
}

/// Trains a baseline on `series[..len - holdout]` through [`Baseline::observe`] (the
/// runner's code path), forecasts the last `holdout` buckets, and scores that forecast.
/// `series` holds consecutive buckets (`bucket_span_ms` apart); `season` is the
/// seasonal-naive lag in buckets (a week is `7 * 96` at 15 minutes).
///
/// The forecast is [`fit`] on the training part only: model states kept at each rolling
/// origin while training decide the seasonality and calibrate the bounds.
/// Returns `None` when the series is too short for the holdout and the seasonal lag.
pub fn backtest(
    series: &[(EpochMillis, f64)],
    cfg: &ModelConfig,
    holdout: usize,
    season: usize,
) -> Option<BacktestReport> {
    let n = series.len();
    if holdout == 0 || season == 0 || n < holdout + season {
        return None;
    }
    let train = n - holdout;
    let start = series[train].0;
    let first = series[0].0;
    let mut model = Baseline::new(cfg);
    let mut origins = Vec::new();
    let mut anomalous = Vec::with_capacity(train);
    for (i, &(t, v)) in series[..train].iter().enumerate() {
        if is_origin(t, first, start, cfg.bucket_span_ms) {
            origins.push(Origin {
                index: i,
                model: model.clone(),
            });
        }
        anomalous.push(model.observe(cfg, t, v).reason != Reason::Normal);
    }
    let fitted = fit(cfg, &series[..train], &anomalous, &origins, holdout);
    let cycle = (RELEVEL_MS / cfg.bucket_span_ms.max(1)).max(1) as usize;
    let recent = &series[train.saturating_sub(cycle)..train];
    let forecast = fitted.forecast(&model, cfg, recent, start, holdout as u32);
    let raw = project(&model, cfg, start, holdout as u32);

    let inside = |p: &Projected, v: f64| p.lower <= v && v <= p.upper;
    let (mut raw_in, mut fit_in) = (0usize, 0usize);
    let (mut ape, mut raw_ape, mut naive_ape, mut width, mut counted) =
        (0.0, 0.0, 0.0, 0.0, 0usize);
    for (k, (&(_, v), (r, f))) in series[train..]
        .iter()
        .zip(raw.iter().zip(&forecast))
        .enumerate()
    {
        raw_in += inside(r, v) as usize;
        fit_in += inside(f, v) as usize;
        if v != 0.0 {
            let naive = series[train + k - season].1;
            ape += ((v - f.typical) / v).abs();
            raw_ape += ((v - r.typical) / v).abs();
            naive_ape += ((v - naive) / v).abs();
            width += (f.upper - f.lower) / v.abs();
            counted += 1;
        }
    }
    let h = holdout as f64;
    let m = counted.max(1) as f64;
    Some(BacktestReport {
        buckets: holdout,
        raw_coverage: raw_in as f64 / h,
        raw_mape: raw_ape / m,
        coverage: fit_in as f64 / h,
        mape: ape / m,
        naive_mape: naive_ape / m,
        relative_width: width / m,
        seasonality: fitted.seasonality,
        candidates: fitted.candidates,
        origins: origins.len(),
        forecast,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Tail, ValueKind};

    const SPAN: i64 = 15 * 60_000;
    const DAY_MS: i64 = 86_400_000;

    /// A noisy daily cycle with quieter weekends; a deterministic generator.
    fn series(days: i64) -> Vec<(EpochMillis, f64)> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..days * 96)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                let t = i * SPAN;
                let hour = (t % DAY_MS) as f64 / 3_600_000.0;
                let dow = (t / DAY_MS + 4) % 7;
                let week = if dow == 0 || dow == 6 { 0.6 } else { 1.0 };
                let mean = 200.0 * week * (1.0 + 0.5 * (hour / 24.0 * std::f64::consts::TAU).sin());
                (t, (mean * (0.85 + 0.3 * u)).round())
            })
            .collect()
    }

    #[test]
    fn a_regular_series_is_forecast_well() {
        let cfg = ModelConfig {
            bucket_span_ms: SPAN,
            kind: ValueKind::Count,
            tail: Tail::Both,
            half_life_ms: 14 * DAY_MS,
        };
        let s = series(28);
        let r = backtest(&s, &cfg, 3 * 96, 7 * 96).expect("long enough");
        assert_eq!(r.buckets, 288);
        assert_eq!(r.forecast.len(), 288);
        assert_eq!(r.origins, 18, "one per day after a week");
        assert!(r.mape < r.naive_mape, "{} vs {}", r.mape, r.naive_mape);
        assert!(r.coverage >= 0.85, "coverage {}", r.coverage);
        assert!(r.mape < 0.15, "mape {}", r.mape);
        assert!(backtest(&s[..100], &cfg, 96, 7 * 96).is_none());
    }
}
