//! `tidewatch evaluate`: detection quality on labelled series, with point adjustment.
//!
//! The protocol (issue 4):
//! - every CSV under the directory (recursively, plain or `.gz`) with a `label` column is run
//!   through `detect` with the defaults (function `mean`, inferred bucket span);
//! - **point adjustment**: a labelled segment (a maximal run of label-1 rows) is detected,
//!   all its points true positives, when any of its first 7 points (at spacings under 5
//!   minutes; 3 at 5 minutes and coarser) scores at or above the threshold; otherwise all its
//!   points are misses. Unlabelled rows at or above the threshold are false positives;
//! - **best F1 per series**, exactly: F1 can only peak at a threshold equal to some
//!   segment's best early score, so those are the thresholds swept;
//! - **one threshold across all series**: the same sweep over the pooled counts of every
//!   series, which is what a user alerting on many partitions at one score gets;
//! - precision, recall and F1 at the default alert threshold 75;
//! - the same figures for a trailing-window z-score baseline (window 1440 points, |z| as the
//!   score, default threshold 3) side by side.

use super::events::{self, EventCounts};
use super::{infer_span, read_series, score_rows, series_config, SeriesFunction};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Window of the z-score baseline, in points.
pub(crate) const ZSCORE_WINDOW: usize = 1440;
/// Default alert threshold on the 0-100 score.
pub(crate) const ALERT_SCORE: f64 = 75.0;
/// Default alert threshold on |z| for the z-score baseline.
pub(crate) const ALERT_Z: f64 = 3.0;
/// A peer alerts where its grade is above 0 (Random Cut Forest's default alert).
pub(crate) const PEER_ALERT_GRADE: f64 = 1e-9;

/// Options of `tidewatch evaluate`.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// Directory searched recursively for CSV files with a label column.
    pub labelled: PathBuf,
    /// Also write the figures as JSON to this file.
    pub json: Option<PathBuf>,
    /// A peer detector's scores to evaluate side by side: a directory holding, for each
    /// labelled file, `<its path relative to --labelled, without .gz>` as CSV with columns
    /// `timestamp,score,grade`, one row per input row (`scripts/peer-rcf.sh` writes them).
    /// The peer alerts where `grade > 0`.
    pub peer_scores: Option<PathBuf>,
}

/// Point-adjusted counts at one threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Counts {
    /// True positives (points).
    pub tp: f64,
    /// False positives (points).
    pub fp: f64,
    /// False negatives (points).
    pub fn_: f64,
}

impl Counts {
    /// Precision (1 when nothing is flagged).
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0.0 {
            1.0
        } else {
            self.tp / (self.tp + self.fp)
        }
    }
    /// Recall (1 when nothing is labelled).
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0.0 {
            1.0
        } else {
            self.tp / (self.tp + self.fn_)
        }
    }
    /// F1 (0 when there is nothing right).
    pub fn f1(&self) -> f64 {
        let d = 2.0 * self.tp + self.fp + self.fn_;
        if d == 0.0 {
            0.0
        } else {
            2.0 * self.tp / d
        }
    }
}

/// A series reduced to what the protocol needs: each segment's best early score and length,
/// and the scores of unlabelled points, sorted descending.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prepared {
    segments: Vec<(f64, usize)>,
    normal: Vec<f64>,
}

impl Prepared {
    pub(crate) fn new(scores: &[f64], labels: &[bool], delay: usize) -> Self {
        let mut p = Prepared::default();
        let mut i = 0;
        while i < scores.len() {
            if labels[i] {
                let start = i;
                while i < scores.len() && labels[i] {
                    i += 1;
                }
                let early = scores[start..i.min(start + delay)]
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max);
                p.segments.push((early, i - start));
            } else {
                p.normal.push(scores[i]);
                i += 1;
            }
        }
        p.normal.sort_unstable_by(|a, b| b.total_cmp(a));
        p
    }

    fn merge(all: &[&Prepared]) -> Prepared {
        let mut p = Prepared::default();
        for q in all {
            p.segments.extend_from_slice(&q.segments);
            p.normal.extend_from_slice(&q.normal);
        }
        p.normal.sort_unstable_by(|a, b| b.total_cmp(a));
        p
    }

    pub(crate) fn counts(&self, threshold: f64) -> Counts {
        let mut c = Counts::default();
        for &(s, len) in &self.segments {
            if s >= threshold {
                c.tp += len as f64;
            } else {
                c.fn_ += len as f64;
            }
        }
        c.fp = self.normal.partition_point(|&s| s >= threshold) as f64;
        c
    }

    /// Best F1 and its threshold, sweeping every segment's best early score.
    pub(crate) fn best(&self) -> Option<(f64, f64)> {
        if self.segments.is_empty() {
            return None;
        }
        let mut order: Vec<(f64, usize)> = self.segments.clone();
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let total: f64 = order.iter().map(|s| s.1 as f64).sum();
        let mut tp = 0.0;
        let mut best = (0.0, f64::INFINITY);
        let mut k = 0;
        while k < order.len() {
            let th = order[k].0;
            while k < order.len() && order[k].0 == th {
                tp += order[k].1 as f64;
                k += 1;
            }
            let fp = self.normal.partition_point(|&s| s >= th) as f64;
            let f1 = 2.0 * tp / (2.0 * tp + fp + (total - tp));
            if f1 > best.0 {
                best = (f1, th);
            }
        }
        Some(best)
    }
}

/// Figures for one detector (the model or the z-score baseline) over a set of series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Mean of the per-series best F1 (series with labelled anomalies only).
    pub mean_best_f1: f64,
    /// Best F1 of one threshold applied to all series.
    pub one_threshold_f1: f64,
    /// That threshold.
    pub one_threshold: f64,
    /// Precision at the default alert threshold.
    pub precision_at_default: f64,
    /// Recall at the default alert threshold.
    pub recall_at_default: f64,
    /// F1 at the default alert threshold.
    pub f1_at_default: f64,
    /// Pooled F1 at thresholds 25, 50, 60, 70, 75, 80, 90 (the model's score scale).
    pub curve: [f64; 7],
}

/// Figures for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesFigures {
    /// File, relative to the evaluated directory.
    pub name: String,
    /// Family: the file's directory relative to the evaluated directory.
    pub family: String,
    /// Rows.
    pub points: usize,
    /// Labelled segments.
    pub segments: usize,
    /// Model: best F1 and its threshold (`None` without labelled anomalies).
    pub best: Option<(f64, f64)>,
    /// Model: F1 at 75.
    pub f1_at_default: f64,
    /// z-score: best F1 and its threshold.
    pub z_best: Option<(f64, f64)>,
    /// z-score: F1 at |z| = 3.
    pub z_f1_at_default: f64,
    /// Peer: best F1 and its grade threshold, when a peer was evaluated.
    pub peer_best: Option<(f64, f64)>,
    /// Model: alert episodes at 75.
    pub events_at_default: EventCounts,
}

/// Event-level figures of one detector over one scope (a family, all series, a fold).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// `ALL`, a family, or `fold A` / `fold B`.
    pub scope: String,
    /// `model`, `z-score` or `peer`.
    pub detector: String,
    /// The default alert threshold.
    pub default: f64,
    /// Counts at the reported thresholds (the default among them).
    pub at: Vec<(f64, EventCounts)>,
    /// The threshold of the best event F1 and its counts.
    pub best: (f64, EventCounts),
}

impl EventRow {
    fn from_sweep(scope: &str, det: &Detector, sums: &[EventCounts]) -> Self {
        let at = det
            .reported
            .iter()
            .filter_map(|&t| {
                let k = det.grid.iter().position(|&g| (g - t).abs() < 1e-12)?;
                Some((t, sums[k].clone()))
            })
            .collect();
        let mut best = (f64::NAN, EventCounts::default());
        for (t, c) in det.grid.iter().zip(sums) {
            if best.0.is_nan() || c.f1() > best.1.f1() {
                best = (*t, c.clone());
            }
        }
        EventRow {
            scope: scope.to_string(),
            detector: det.name.to_string(),
            default: det.default,
            at,
            best,
        }
    }

    /// Counts at the default alert threshold.
    pub fn at_default(&self) -> Option<&EventCounts> {
        self.at
            .iter()
            .find(|(t, _)| (t - self.default).abs() < 1e-12)
            .map(|(_, c)| c)
    }
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Per series, in path order.
    pub series: Vec<SeriesFigures>,
    /// Per family (model, z-score), in name order; the root directory's own files form the
    /// family `.`.
    pub families: Vec<(String, Figures, Figures)>,
    /// All series: the model.
    pub model: Figures,
    /// All series: the z-score baseline.
    pub zscore: Figures,
    /// All series: the peer detector, when one was evaluated.
    pub peer: Option<Figures>,
    /// Alerts as users feel them, per detector and scope.
    pub events: Vec<EventRow>,
}

fn figures(prepared: &[&Prepared], default: f64) -> Figures {
    let bests: Vec<f64> = prepared
        .iter()
        .filter_map(|p| p.best())
        .map(|b| b.0)
        .collect();
    let mean_best_f1 = if bests.is_empty() {
        0.0
    } else {
        bests.iter().sum::<f64>() / bests.len() as f64
    };
    let pooled = Prepared::merge(prepared);
    let (one_threshold_f1, one_threshold) = pooled.best().unwrap_or((0.0, f64::INFINITY));
    let c = pooled.counts(default);
    let curve = [25.0, 50.0, 60.0, 70.0, 75.0, 80.0, 90.0].map(|t| pooled.counts(t).f1());
    Figures {
        curve,
        mean_best_f1,
        one_threshold_f1,
        one_threshold,
        precision_at_default: c.precision(),
        recall_at_default: c.recall(),
        f1_at_default: c.f1(),
    }
}

/// Trailing-window z-score of each value against the previous `window` values.
pub(crate) fn zscores(values: &[Option<f64>], window: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    let mut buf: std::collections::VecDeque<f64> =
        std::collections::VecDeque::with_capacity(window + 1);
    let (mut sum, mut sq) = (0.0f64, 0.0f64);
    for v in values {
        let z = match v {
            Some(x) if buf.len() >= 2 => {
                let n = buf.len() as f64;
                let mean = sum / n;
                let var = (sq / n - mean * mean).max(0.0);
                let sd = var.sqrt();
                if sd > 1e-12 * mean.abs().max(1e-300) {
                    ((x - mean) / sd).abs().min(1e9)
                } else if (x - mean).abs() > 1e-12 * mean.abs() {
                    1e9
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        out.push(z);
        if let Some(x) = v {
            buf.push_back(*x);
            sum += x;
            sq += x * x;
            if buf.len() > window {
                if let Some(old) = buf.pop_front() {
                    sum -= old;
                    sq -= old * old;
                }
            }
        }
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, out)?;
        } else {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if name.ends_with(".csv") || name.ends_with(".csv.gz") {
                out.push(p);
            }
        }
    }
    Ok(())
}

/// One labelled series, scored by each detector.
struct Run {
    figures: SeriesFigures,
    labels: Vec<bool>,
    delay: usize,
    model: Vec<f64>,
    z: Vec<f64>,
    peer: Option<Vec<f64>>,
}

/// Scores one labelled file with the model, the z-score and (if given) the peer's file.
fn run_series(dir: &Path, path: &Path, peer_dir: Option<&Path>) -> Result<Run> {
    let s = read_series(path, "timestamp", "value")?;
    let times: Vec<i64> = s.rows.iter().map(|r| r.time).collect();
    let span = infer_span(&times);
    let cfg = series_config(SeriesFunction::Mean, span);
    let model: Vec<f64> = score_rows(&s.rows, &cfg).iter().map(|x| x.score).collect();
    let labels: Vec<bool> = s.rows.iter().map(|r| r.label.unwrap_or(false)).collect();
    let delay = if span < 5 * 60_000 { 7 } else { 3 };
    let values: Vec<Option<f64>> = s.rows.iter().map(|r| r.value).collect();
    let z = zscores(&values, ZSCORE_WINDOW);
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let peer = match peer_dir {
        Some(p) => Some(super::peer::read_grades(p, rel, s.rows.len())?),
        None => None,
    };
    let pm = Prepared::new(&model, &labels, delay);
    let pz = Prepared::new(&z, &labels, delay);
    let family = rel
        .parent()
        .map(|p| p.display().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| ".".into());
    let figures = SeriesFigures {
        name: rel.display().to_string(),
        family,
        points: s.rows.len(),
        segments: pm.segments.len(),
        best: pm.best(),
        f1_at_default: pm.counts(ALERT_SCORE).f1(),
        z_best: pz.best(),
        z_f1_at_default: pz.counts(ALERT_Z).f1(),
        peer_best: peer
            .as_ref()
            .and_then(|g| Prepared::new(g, &labels, delay).best()),
        events_at_default: EventCounts::new(&model, &labels, delay, ALERT_SCORE),
    };
    Ok(Run {
        figures,
        labels,
        delay,
        model,
        z,
        peer,
    })
}

/// Evaluates the model and the z-score baseline on every labelled CSV under `dir`, and a peer
/// detector's scores read from `peer_dir` when given.
pub(crate) fn evaluate_dir(dir: &Path, peer_dir: Option<&Path>) -> Result<Evaluation> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    let mut runs = Vec::new();
    for path in files {
        if super::has_label_column(&path)? {
            runs.push(run_series(dir, &path, peer_dir)?);
        }
    }
    if runs.is_empty() {
        return Err(Error::Input {
            path: dir.display().to_string(),
            line: None,
            message: "no CSV file with a `label` column found".into(),
        });
    }
    let mut names: Vec<String> = runs.iter().map(|r| r.figures.family.clone()).collect();
    names.sort();
    names.dedup();
    let prepared: Vec<[Prepared; 3]> = runs
        .iter()
        .map(|r| {
            let peer = r.peer.as_deref().unwrap_or(&[]);
            let peer_labels = if peer.is_empty() { &[][..] } else { &r.labels };
            [
                Prepared::new(&r.model, &r.labels, r.delay),
                Prepared::new(&r.z, &r.labels, r.delay),
                Prepared::new(peer, peer_labels, r.delay),
            ]
        })
        .collect();
    let pick = |f: &dyn Fn(&Run) -> bool, k: usize| -> Vec<&Prepared> {
        runs.iter()
            .zip(&prepared)
            .filter(|(r, _)| f(r))
            .map(|(_, p)| &p[k])
            .collect()
    };
    let families = names
        .iter()
        .map(|f| {
            let of = |r: &Run| &r.figures.family == f;
            (
                f.clone(),
                figures(&pick(&of, 0), ALERT_SCORE),
                figures(&pick(&of, 1), ALERT_Z),
            )
        })
        .collect();
    let all = |_: &Run| true;
    let has_peer = runs.iter().all(|r| r.peer.is_some());
    let peer = has_peer.then(|| figures(&pick(&all, 2), PEER_ALERT_GRADE));
    let events = event_rows(&runs, &names, has_peer);
    let model = figures(&pick(&all, 0), ALERT_SCORE);
    let zscore = figures(&pick(&all, 1), ALERT_Z);
    Ok(Evaluation {
        series: runs.into_iter().map(|r| r.figures).collect(),
        families,
        model,
        zscore,
        peer,
        events,
    })
}

/// Which half of the labelled series a series belongs to, for choosing constants on one half
/// and reporting on the other: within each family, series in path order alternate A, B.
fn folds(runs: &[Run]) -> Vec<char> {
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    runs.iter()
        .map(|r| {
            let k = seen.entry(r.figures.family.as_str()).or_insert(0);
            *k += 1;
            if *k % 2 == 1 {
                'A'
            } else {
                'B'
            }
        })
        .collect()
}

/// A detector as the event protocol sweeps it.
struct Detector {
    name: &'static str,
    grid: Vec<f64>,
    reported: &'static [f64],
    default: f64,
    scores: fn(&Run) -> &[f64],
}

fn detectors(has_peer: bool) -> Vec<Detector> {
    let mut d = vec![
        Detector {
            name: "model",
            grid: events::score_grid(),
            reported: &[50.0, 75.0, 90.0],
            default: ALERT_SCORE,
            scores: |r| &r.model,
        },
        Detector {
            name: "z-score",
            grid: events::z_grid(),
            reported: &[2.0, 3.0, 4.0],
            default: ALERT_Z,
            scores: |r| &r.z,
        },
    ];
    if has_peer {
        let mut grid = vec![PEER_ALERT_GRADE];
        grid.extend((1..100).map(|i| i as f64 / 100.0));
        d.push(Detector {
            name: "peer",
            grid,
            reported: &[PEER_ALERT_GRADE],
            default: PEER_ALERT_GRADE,
            scores: |r| r.peer.as_deref().unwrap_or(&[]),
        });
    }
    d
}

/// Event figures of every detector for each family, all series, and each fold.
fn event_rows(runs: &[Run], families: &[String], has_peer: bool) -> Vec<EventRow> {
    let fold = folds(runs);
    let mut scopes: Vec<(String, Vec<bool>)> = families
        .iter()
        .map(|f| {
            (
                f.clone(),
                runs.iter().map(|r| &r.figures.family == f).collect(),
            )
        })
        .collect();
    scopes.push(("ALL".into(), vec![true; runs.len()]));
    for half in ['A', 'B'] {
        scopes.push((
            format!("fold {half}"),
            fold.iter().map(|&f| f == half).collect(),
        ));
    }
    let mut rows = Vec::new();
    for det in detectors(has_peer) {
        // Per series and threshold once; scopes are sums of these.
        let per_series: Vec<Vec<EventCounts>> = runs
            .iter()
            .map(|r| {
                let s = (det.scores)(r);
                det.grid
                    .iter()
                    .map(|&t| EventCounts::new(s, &r.labels, r.delay, t))
                    .collect()
            })
            .collect();
        for (scope, member) in &scopes {
            let sums: Vec<EventCounts> = (0..det.grid.len())
                .map(|k| {
                    let mut c = EventCounts::default();
                    for (i, _) in member.iter().enumerate().filter(|(_, m)| **m) {
                        c.add(&per_series[i][k]);
                    }
                    c
                })
                .collect();
            rows.push(EventRow::from_sweep(scope, &det, &sums));
        }
    }
    rows
}

fn opt(b: Option<(f64, f64)>) -> String {
    b.map(|b| format!("{:.3}", b.0))
        .unwrap_or_else(|| "-".into())
}

impl Evaluation {
    /// A plain-text report: one line per series, then per family and overall.
    pub fn table(&self) -> String {
        let mut t = String::new();
        t.push_str(&format!(
            "{:<48} {:>8} {:>4} | {:>7} {:>6} {:>6} | {:>7} {:>6} | {:>9} {:>8}\n",
            "series",
            "points",
            "segs",
            "best F1",
            "thr",
            "F1@75",
            "z best",
            "F1@3",
            "false@75",
            "caught"
        ));
        for s in &self.series {
            t.push_str(&format!(
                "{:<48} {:>8} {:>4} | {:>7} {:>6} {:>6.3} | {:>7} {:>6.3} | {:>9} {:>8}\n",
                s.name,
                s.points,
                s.segments,
                opt(s.best),
                s.best
                    .map(|b| format!("{:.1}", b.1))
                    .unwrap_or_else(|| "-".into()),
                s.f1_at_default,
                opt(s.z_best),
                s.z_f1_at_default,
                s.events_at_default.false_episodes,
                format!(
                    "{}/{}",
                    s.events_at_default.caught, s.events_at_default.segments
                )
            ));
        }
        let line = |name: &str, m: &Figures, z: &Figures| {
            format!(
                "{name:<22} model: mean best F1 {:.3}, one-threshold F1 {:.3} (at {:.1}), at 75: P {:.3} R {:.3} F1 {:.3} | z-score: mean best F1 {:.3}, one-threshold F1 {:.3} (at |z| {:.2}), at 3: F1 {:.3}\n",
                m.mean_best_f1,
                m.one_threshold_f1,
                m.one_threshold,
                m.precision_at_default,
                m.recall_at_default,
                m.f1_at_default,
                z.mean_best_f1,
                z.one_threshold_f1,
                z.one_threshold,
                z.f1_at_default
            )
        };
        t.push('\n');
        if self.families.len() > 1 {
            for (f, m, z) in &self.families {
                t.push_str(&line(f, m, z));
            }
        }
        t.push_str(&line("ALL", &self.model, &self.zscore));
        let c = self.model.curve;
        t.push_str(&format!(
            "model one-threshold F1 by score: 25 {:.3} | 50 {:.3} | 60 {:.3} | 70 {:.3} | 75 {:.3} | 80 {:.3} | 90 {:.3}\n",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        ));
        if let Some(p) = &self.peer {
            t.push_str(&format!(
                "peer (point-adjusted): mean best F1 {:.3}, one-threshold F1 {:.3} (at grade {:.2}), at grade > 0: P {:.3} R {:.3} F1 {:.3}\n",
                p.mean_best_f1, p.one_threshold_f1, p.one_threshold, p.precision_at_default, p.recall_at_default, p.f1_at_default
            ));
        }
        t.push_str(&self.event_table());
        t
    }

    /// The alert-episode figures, one line per scope, detector and threshold.
    pub fn event_table(&self) -> String {
        let mut t = String::from(
            "\nalerts as episodes (a run of rows at or above the threshold; false when it starts outside a labelled segment)\n",
        );
        t.push_str(&format!(
            "{:<34} {:<8} {:>7} {:>8} {:>6} {:>9} {:>11} {:>6} {:>6} {:>6} {:>6}\n",
            "scope",
            "detector",
            "thr",
            "episodes",
            "false",
            "false/10k",
            "caught",
            "ev.P",
            "ev.R",
            "ev.F1",
            "delay"
        ));
        for r in &self.events {
            let best = std::iter::once(("best", &r.best));
            let rows = r.at.iter().map(|a| ("", a)).chain(best);
            for (tag, (thr, c)) in rows {
                let thr = if r.detector == "peer" && *thr == PEER_ALERT_GRADE {
                    format!("{tag}>0")
                } else {
                    format!("{tag}{thr:.2}")
                };
                t.push_str(&format!(
                    "{:<34} {:<8} {:>7} {:>8} {:>6} {:>9.2} {:>5}/{:<5} {:>6.3} {:>6.3} {:>6.3} {:>6}\n",
                    r.scope,
                    r.detector,
                    thr,
                    c.episodes,
                    c.false_episodes,
                    c.false_per_10k(),
                    c.caught,
                    c.segments,
                    c.precision(),
                    c.recall(),
                    c.f1(),
                    c.median_delay().map(|d| format!("{d:.1}")).unwrap_or_else(|| "-".into())
                ));
            }
        }
        t
    }

    /// The figures as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let fig = |f: &Figures| {
            serde_json::json!({
                "mean_best_f1": f.mean_best_f1,
                "one_threshold_f1": f.one_threshold_f1,
                "one_threshold": f.one_threshold,
                "precision_at_default": f.precision_at_default,
                "recall_at_default": f.recall_at_default,
                "f1_at_default": f.f1_at_default,
            })
        };
        let counts = |thr: f64, c: &EventCounts| {
            serde_json::json!({
                "threshold": thr,
                "episodes": c.episodes,
                "false_episodes": c.false_episodes,
                "normal_rows": c.normal_rows,
                "false_per_10k": c.false_per_10k(),
                "segments": c.segments,
                "caught": c.caught,
                "event_precision": c.precision(),
                "event_recall": c.recall(),
                "event_f1": c.f1(),
                "median_delay_rows": c.median_delay(),
            })
        };
        let events: Vec<serde_json::Value> = self
            .events
            .iter()
            .map(|r| {
                serde_json::json!({
                    "scope": r.scope,
                    "detector": r.detector,
                    "default_threshold": r.default,
                    "at": r.at.iter().map(|(t, c)| counts(*t, c)).collect::<Vec<_>>(),
                    "best": counts(r.best.0, &r.best.1),
                })
            })
            .collect();
        serde_json::json!({
            "protocol": "point-adjusted (first 7 points at <5m spacing, 3 otherwise); default thresholds: score 75, |z| 3, peer grade > 0; z-score window 1440; events: an episode is a run of rows at or above the threshold, false when it starts on an unlabelled row, a segment caught when one of its first 7/3 points alerts, event precision = caught / (caught + false episodes)",
            "model": fig(&self.model),
            "zscore": fig(&self.zscore),
            "peer": self.peer.as_ref().map(fig),
            "events": events,
            "families": self.families.iter().map(|(n, m, z)| serde_json::json!({"family": n, "model": fig(m), "zscore": fig(z)})).collect::<Vec<_>>(),
            "series": self.series.iter().map(|s| serde_json::json!({
                "name": s.name,
                "family": s.family,
                "points": s.points,
                "segments": s.segments,
                "best_f1": s.best.map(|b| b.0),
                "best_threshold": s.best.map(|b| b.1),
                "f1_at_75": s.f1_at_default,
                "zscore_best_f1": s.z_best.map(|b| b.0),
                "zscore_f1_at_3": s.z_f1_at_default,
                "peer_best_f1": s.peer_best.map(|b| b.0),
            })).collect::<Vec<_>>(),
        })
    }
}

/// Runs `tidewatch evaluate`: prints the table to standard output and writes JSON if asked.
pub fn run_evaluate(args: &EvaluateOptions) -> Result<Evaluation> {
    let e = evaluate_dir(&args.labelled, args.peer_scores.as_deref())?;
    crate::output::text(&e.table())?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&e.to_json()).map_err(|err| Error::Input {
            path: path.display().to_string(),
            line: None,
            message: err.to_string(),
        })?;
        std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_adjustment_and_exact_best_f1() {
        // Two segments: the first caught by its 2nd point, the second only after the delay.
        let scores = [
            0.0, 10.0, 80.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 90.0, 60.0, 0.0,
        ];
        let labels = [
            false, true, true, true, true, false, true, true, true, true, true, false, false,
        ];
        let p = Prepared::new(&scores, &labels, 3);
        assert_eq!(p.segments, vec![(80.0, 4), (0.0, 5)]);
        let c = p.counts(75.0);
        assert_eq!(
            c,
            Counts {
                tp: 4.0,
                fp: 0.0,
                fn_: 5.0
            }
        );
        let (f1, th) = p.best().unwrap();
        // At 80: tp 4, fn 5, fp 0 -> 8/13; at 0: tp 9, fp 4 -> 18/22.
        assert!((f1 - 18.0 / 22.0).abs() < 1e-12, "{f1}");
        assert_eq!(th, 0.0);
        // A brute-force sweep over every distinct score never beats it.
        for t in scores {
            assert!(p.counts(t).f1() <= f1 + 1e-12);
        }
    }

    #[test]
    fn zscore_baseline() {
        let mut v: Vec<Option<f64>> = (0..100).map(|i| Some((i % 2) as f64)).collect();
        v.push(Some(10.0));
        v.push(None);
        let z = zscores(&v, 50);
        assert!((z[100] - 19.0).abs() < 1e-9, "{}", z[100]);
        assert_eq!(z[0], 0.0);
        assert_eq!(z[101], 0.0);
    }
}
