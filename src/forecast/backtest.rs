//! Holdout evaluation of forecasts: train a baseline on all but the last buckets of a series
//! through [`Baseline::observe`] (the runner's code path), forecast the held-out buckets, and
//! compare with what happened and with a seasonal-naive forecast.

use super::project::{project, relevel_offset, shift, Calibration, Projected};
use crate::model::{Baseline, ModelConfig};
use crate::time::EpochMillis;

const DAY_MS: i64 = 86_400_000;
/// Rolling origins for the calibration start once the model has seen this much data.
const CALIBRATION_WARMUP_MS: i64 = 7 * DAY_MS;

/// Recent data the projection is re-levelled on: one daily cycle (see
/// [`super::project::relevel_offset`]).
const RELEVEL_WINDOW_MS: i64 = DAY_MS;

/// How a forecast of held-out buckets fared.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestReport {
    /// Buckets forecast and compared.
    pub buckets: usize,
    /// Share of actual values inside the model's own 95 % bounds.
    pub raw_coverage: f64,
    /// Share of actual values inside the calibrated 95 % bounds.
    pub coverage: f64,
    /// Mean absolute percentage error of the forecast (buckets with a zero actual skipped).
    pub mape: f64,
    /// Mean absolute percentage error of the seasonal-naive forecast (the value one season
    /// earlier).
    pub naive_mape: f64,
    /// Mean width of the calibrated bounds relative to the actual value.
    pub relative_width: f64,
    /// Multi-step errors the calibration learned from.
    pub calibration_errors: usize,
    /// The forecast, bucket by bucket (calibrated bounds).
    pub forecast: Vec<Projected>,
}

/// Trains a baseline on `series[..len - holdout]`, forecasts the last `holdout` buckets, and
/// scores that forecast. `series` holds consecutive buckets (`bucket_span_ms` apart);
/// `season` is the seasonal-naive lag in buckets (a week is `7 * 96` at 15 minutes).
///
/// The bounds are calibrated by [`Calibration`] from the model's own forecasts made during
/// training: from every origin at the same time of day as the final one (once the model has
/// seen a week), each forecast is compared with the training data that followed it.
/// Returns `None` when the series is too short for the holdout and the seasonal lag.
pub fn backtest(
    series: &[(EpochMillis, f64)],
    cfg: &ModelConfig,
    holdout: usize,
    season: usize,
) -> Option<BacktestReport> {
    let n = series.len();
    if holdout == 0 || n < holdout + season || season == 0 {
        return None;
    }
    let train = n - holdout;
    let origin = series[train].0;
    let span = cfg.bucket_span_ms;
    let first = series[0].0;
    let mut model = Baseline::new(cfg);
    let mut origins: Vec<(usize, Baseline)> = Vec::new();
    for (i, &(t, v)) in series[..train].iter().enumerate() {
        if t - first >= CALIBRATION_WARMUP_MS && (origin - t).rem_euclid(DAY_MS.max(span)) == 0 {
            origins.push((i, model.clone()));
        }
        model.observe(cfg, t, v);
    }
    let cycle = (RELEVEL_WINDOW_MS / span).max(1) as usize;
    let forecast_from = |past: &Baseline, i: usize, steps: usize| {
        let mut p = project(past, cfg, series[i].0, steps as u32);
        if let Some(off) = relevel_offset(past, cfg, &series[i.saturating_sub(cycle)..i]) {
            shift(&mut p, cfg, off);
        }
        p
    };
    let mut calibration = Calibration::new(cfg.kind);
    for (i, past) in &origins {
        let steps = holdout.min(train - i);
        for (k, p) in forecast_from(past, *i, steps).iter().enumerate() {
            calibration.add(k as u32 + 1, p.typical, series[i + k].1);
        }
    }
    let raw = project(&model, cfg, origin, holdout as u32);
    let mut forecast = forecast_from(&model, train, holdout);
    calibration.calibrate(&mut forecast);

    let inside = |p: &Projected, v: f64| p.lower <= v && v <= p.upper;
    let (mut raw_in, mut cal_in) = (0usize, 0usize);
    let (mut ape, mut naive_ape, mut width, mut counted) = (0.0, 0.0, 0.0, 0usize);
    for (k, (&(t, v), (r, c))) in series[train..]
        .iter()
        .zip(raw.iter().zip(&forecast))
        .enumerate()
    {
        debug_assert_eq!(t, c.timestamp);
        raw_in += inside(r, v) as usize;
        cal_in += inside(c, v) as usize;
        if v != 0.0 {
            let naive = series[train + k - season].1;
            ape += ((v - c.typical) / v).abs();
            naive_ape += ((v - naive) / v).abs();
            width += (c.upper - c.lower) / v.abs();
            counted += 1;
        }
    }
    let h = holdout as f64;
    let m = counted.max(1) as f64;
    Some(BacktestReport {
        buckets: holdout,
        raw_coverage: raw_in as f64 / h,
        coverage: cal_in as f64 / h,
        mape: ape / m,
        naive_mape: naive_ape / m,
        relative_width: width / m,
        calibration_errors: calibration.len(),
        forecast,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Tail, ValueKind};

    const SPAN: i64 = 15 * 60_000;

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
        assert!(r.calibration_errors > 1000, "{}", r.calibration_errors);
        assert!(r.coverage >= 0.85, "coverage {}", r.coverage);
        assert!(r.mape < 0.15, "mape {}", r.mape);
        assert!(backtest(&s[..100], &cfg, 96, 7 * 96).is_none());
    }
}
