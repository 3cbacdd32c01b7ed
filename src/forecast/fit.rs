//! A forecast fitted on a series' own history: which of the model's seasonal profiles to
//! project, and how wide its bounds really need to be, both decided by how the model's
//! forecasts from earlier origins fared on the data that followed them (rolling-origin
//! evaluation, the time-series form of cross-validation). Nothing here is tuned to a data
//! set: the choices are made per series, from that series' past.

use super::project::{project_with, relevel_offset, shift, Calibration, Projected, Seasonality};
use crate::model::{Baseline, ModelConfig, ValueKind};
use crate::time::EpochMillis;

const DAY_MS: i64 = 86_400_000;
/// Rolling origins start once the model has seen this much data (a weekly cycle).
pub(crate) const WARMUP_MS: i64 = 7 * DAY_MS;
/// Recent data the projection is re-levelled on: one daily cycle (see
/// [`relevel_offset`]).
pub(crate) const RELEVEL_MS: i64 = DAY_MS;

/// A model state taken just before `series[index]` was learned.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Position in the series of the first bucket the state has not seen.
    pub index: usize,
    /// The model at that point.
    pub model: Baseline,
}

/// Whether a state taken before the bucket at `time` serves as a rolling origin for a
/// forecast that will start at `start`: same time of day (same phase of the daily cycle,
/// whose intraday misfit the level carries), and after a week of learning since `first`.
pub(crate) fn is_origin(
    time: EpochMillis,
    first: EpochMillis,
    start: EpochMillis,
    span_ms: i64,
) -> bool {
    time - first >= WARMUP_MS && (start - time).rem_euclid(DAY_MS.max(span_ms)) == 0
}

/// The model's projection from `start` under `seasonality`, re-levelled on `recent` (the
/// buckets of the last cycle before `start`).
pub(crate) fn forecast_from(
    model: &Baseline,
    cfg: &ModelConfig,
    recent: &[(EpochMillis, f64)],
    start: EpochMillis,
    buckets: u32,
    seasonality: Seasonality,
) -> Vec<Projected> {
    let mut p = project_with(model, cfg, start, buckets, seasonality);
    if let Some(off) = relevel_offset(model, cfg, recent, seasonality) {
        shift(&mut p, cfg, off);
    }
    p
}

/// How far a forecast was off, scale-free, for choosing between methods: for counts the
/// absolute log accuracy ratio `|ln((actual + 1) / (typical + 1))|` (being off by half or
/// by double counts the same at every level, as people read forecasts); for metrics, which
/// may be negative or near zero, the absolute error.
pub(crate) fn relative_error(cfg: &ModelConfig, actual: f64, typical: f64) -> f64 {
    match cfg.kind {
        ValueKind::Count => ((actual.max(0.0) + 1.0) / (typical.max(0.0) + 1.0))
            .ln()
            .abs(),
        ValueKind::Metric => (actual - typical).abs(),
    }
}

/// The forecast method chosen for one series.
#[derive(Debug, Clone)]
pub struct FittedForecast {
    /// The seasonal profiles projected.
    pub seasonality: Seasonality,
    /// The chosen method's past errors, which set its bounds.
    pub calibration: Calibration,
    /// Mean `relative_error` of each candidate over the rolling origins.
    pub candidates: Vec<(Seasonality, f64)>,
}

/// Fits the forecast of a series: for each candidate seasonality, forecasts `horizon`
/// buckets from every origin (as far as `series` reaches), compares with what followed
/// (except the buckets the model itself found anomalous, `anomalous[i]`: the bounds are
/// those of normal behaviour, as the model's are, and an incident is not an error of the
/// forecast method; an empty slice marks none),
/// keeps the candidate with the smaller mean `relative_error` (the model's full
/// seasonality on a tie or without origins), and calibrates its bounds on its errors.
pub fn fit(
    cfg: &ModelConfig,
    series: &[(EpochMillis, f64)],
    anomalous: &[bool],
    origins: &[Origin],
    horizon: usize,
) -> FittedForecast {
    let cycle = (RELEVEL_MS / cfg.bucket_span_ms.max(1)).max(1) as usize;
    let mut best: Option<(Seasonality, Calibration, f64)> = None;
    let mut candidates = Vec::new();
    for seasonality in [Seasonality::Full, Seasonality::WithoutWeekly] {
        let mut calibration = Calibration::new(cfg.kind);
        let (mut total, mut compared) = (0.0, 0usize);
        for o in origins.iter().filter(|o| o.index < series.len()) {
            let steps = horizon.min(series.len() - o.index);
            let recent = &series[o.index.saturating_sub(cycle)..o.index];
            let start = series[o.index].0;
            let p = forecast_from(&o.model, cfg, recent, start, steps as u32, seasonality);
            for (k, p) in p.iter().enumerate() {
                let actual = series[o.index + k].1;
                if anomalous.get(o.index + k) != Some(&true) && actual.is_finite() {
                    calibration.add(k as u32 + 1, p.typical, actual);
                    total += relative_error(cfg, actual, p.typical);
                    compared += 1;
                }
            }
        }
        if compared == 0 {
            continue;
        }
        let err = total / compared as f64;
        candidates.push((seasonality, err));
        if best.as_ref().is_none_or(|b| err < b.2) {
            best = Some((seasonality, calibration, err));
        }
    }
    match best {
        Some((seasonality, calibration, _)) => FittedForecast {
            seasonality,
            calibration,
            candidates,
        },
        None => FittedForecast {
            seasonality: Seasonality::Full,
            calibration: Calibration::new(cfg.kind),
            candidates,
        },
    }
}

impl FittedForecast {
    /// Forecasts `buckets` buckets from `start` with the fitted method: the projection,
    /// re-levelled on `recent` (the last cycle before `start`), bounds calibrated.
    pub fn forecast(
        &self,
        model: &Baseline,
        cfg: &ModelConfig,
        recent: &[(EpochMillis, f64)],
        start: EpochMillis,
        buckets: u32,
    ) -> Vec<Projected> {
        let mut p = forecast_from(model, cfg, recent, start, buckets, self.seasonality);
        self.calibration.calibrate(&mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tail;

    const SPAN: i64 = 15 * 60_000;

    fn cfg() -> ModelConfig {
        ModelConfig {
            bucket_span_ms: SPAN,
            kind: ValueKind::Count,
            tail: Tail::Both,
            half_life_ms: 14 * DAY_MS,
        }
    }

    /// Daily cycle; weekends at `weekend` times the weekday level.
    fn series(days: i64, weekend: f64) -> Vec<(EpochMillis, f64)> {
        (0..days * 96)
            .map(|i| {
                let t = i * SPAN;
                let hour = (t % DAY_MS) as f64 / 3_600_000.0;
                let dow = (t / DAY_MS + 4) % 7;
                let w = if dow == 0 || dow == 6 { weekend } else { 1.0 };
                let jitter = ((i * 7919) % 13) as f64 - 6.0;
                (
                    t,
                    (w * 300.0 * (1.0 + 0.5 * (hour / 24.0 * std::f64::consts::TAU).sin())
                        + jitter)
                        .round(),
                )
            })
            .collect()
    }

    fn origins(s: &[(EpochMillis, f64)], start: EpochMillis) -> Vec<Origin> {
        let mut m = Baseline::new(&cfg());
        let mut out = Vec::new();
        for (i, &(t, v)) in s.iter().enumerate() {
            if is_origin(t, s[0].0, start, SPAN) {
                out.push(Origin {
                    index: i,
                    model: m.clone(),
                });
            }
            m.observe(&cfg(), t, v);
        }
        out
    }

    #[test]
    fn a_strong_weekly_cycle_keeps_the_weekly_profile() {
        let s = series(28, 0.3);
        let start = s[s.len() - 1].0 + SPAN;
        let f = fit(&cfg(), &s, &[], &origins(&s, start), 3 * 96);
        assert_eq!(f.seasonality, Seasonality::Full, "{:?}", f.candidates);
        assert_eq!(f.candidates.len(), 2);
        assert!(!f.calibration.is_empty());
    }

    #[test]
    fn without_origins_the_model_is_projected_as_it_is() {
        let s = series(5, 1.0);
        let start = s[s.len() - 1].0 + SPAN;
        let o = origins(&s, start);
        assert!(o.is_empty(), "a week of warm-up first");
        let f = fit(&cfg(), &s, &[], &o, 96);
        assert_eq!(f.seasonality, Seasonality::Full);
        assert!(f.calibration.is_empty() && f.candidates.is_empty());
    }
}
