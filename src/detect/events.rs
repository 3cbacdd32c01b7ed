//! Alerts as users feel them: episodes, not points.
//!
//! An **alert episode** is a run of consecutive rows scoring at or above the threshold. It is
//! **false** when it starts on an unlabelled row. A labelled segment is **caught** when one of
//! its first `delay` points (the point-adjustment window) reaches the threshold. Event
//! precision is `caught / (caught + false episodes)`: a segment that raises five episodes
//! counts once, a false alarm that flickers counts every time it starts again. Recall is
//! `caught / segments`.

/// Event-level counts of one detector on one or more series at one threshold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventCounts {
    /// Alert episodes (runs of rows at or above the threshold).
    pub episodes: u64,
    /// Episodes that start on an unlabelled row.
    pub false_episodes: u64,
    /// Unlabelled rows.
    pub normal_rows: u64,
    /// Labelled segments.
    pub segments: u64,
    /// Segments caught within their first `delay` points.
    pub caught: u64,
    /// For each caught segment, rows from its start to its first alert.
    pub delays: Vec<u32>,
}

impl EventCounts {
    /// Counts episodes and caught segments of `scores` against `labels` at `threshold`.
    pub fn new(scores: &[f64], labels: &[bool], delay: usize, threshold: f64) -> Self {
        let mut c = EventCounts::default();
        let mut prev_alert = false;
        let mut segment_start: Option<usize> = None;
        let mut segment_delay: Option<u32> = None;
        for (i, (&s, &l)) in scores.iter().zip(labels).enumerate() {
            let alert = s >= threshold;
            if alert && !prev_alert {
                c.episodes += 1;
                if !l {
                    c.false_episodes += 1;
                }
            }
            prev_alert = alert;
            if !l {
                c.normal_rows += 1;
                c.close(&mut segment_start, &mut segment_delay);
                continue;
            }
            let start = *segment_start.get_or_insert(i);
            if alert && segment_delay.is_none() && i - start < delay {
                segment_delay = Some((i - start) as u32);
            }
        }
        c.close(&mut segment_start, &mut segment_delay);
        c
    }

    fn close(&mut self, start: &mut Option<usize>, delay: &mut Option<u32>) {
        if start.take().is_some() {
            self.segments += 1;
            if let Some(d) = delay.take() {
                self.caught += 1;
                self.delays.push(d);
            }
        }
    }

    /// Adds another series' counts.
    pub fn add(&mut self, other: &EventCounts) {
        self.episodes += other.episodes;
        self.false_episodes += other.false_episodes;
        self.normal_rows += other.normal_rows;
        self.segments += other.segments;
        self.caught += other.caught;
        self.delays.extend_from_slice(&other.delays);
    }

    /// False episodes per 10,000 unlabelled rows.
    pub fn false_per_10k(&self) -> f64 {
        if self.normal_rows == 0 {
            0.0
        } else {
            self.false_episodes as f64 * 1e4 / self.normal_rows as f64
        }
    }

    /// Event precision: caught segments against caught segments plus false episodes.
    pub fn precision(&self) -> f64 {
        let d = self.caught + self.false_episodes;
        if d == 0 {
            1.0
        } else {
            self.caught as f64 / d as f64
        }
    }

    /// Share of segments caught.
    pub fn recall(&self) -> f64 {
        if self.segments == 0 {
            1.0
        } else {
            self.caught as f64 / self.segments as f64
        }
    }

    /// Event F1.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Median rows from a caught segment's start to its first alert.
    pub fn median_delay(&self) -> Option<f64> {
        let mut d = self.delays.clone();
        if d.is_empty() {
            return None;
        }
        d.sort_unstable();
        let m = d.len() / 2;
        Some(if d.len() % 2 == 1 {
            d[m] as f64
        } else {
            (d[m - 1] + d[m]) as f64 / 2.0
        })
    }
}

/// Thresholds swept on the 0-100 score: every half point, and the top of the scale finer.
pub(crate) fn score_grid() -> Vec<f64> {
    let mut g: Vec<f64> = (0..200).map(|i| 1.0 + i as f64 * 0.5).collect();
    g.extend([99.8, 99.9, 99.95, 99.99, 99.999]);
    g
}

/// Thresholds swept on |z|.
pub(crate) fn z_grid() -> Vec<f64> {
    (10..300).map(|i| i as f64 / 10.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_false_alerts_and_caught_segments() {
        // rows:   0     1     2     3     4     5     6     7     8     9    10    11
        let scores = [
            80.0, 80.0, 10.0, 90.0, 10.0, 80.0, 10.0, 10.0, 10.0, 80.0, 80.0, 10.0,
        ];
        let labels = [
            false, false, false, true, true, true, false, true, true, true, false, false,
        ];
        let c = EventCounts::new(&scores, &labels, 2, 75.0);
        // Episodes start at 0 (false), 3 (in a segment), 5 (in a segment), 9 (in a segment).
        assert_eq!(c.episodes, 4);
        assert_eq!(c.false_episodes, 1);
        // Segment 3-5 caught at once; segment 7-9 only on its third point: missed.
        assert_eq!((c.segments, c.caught), (2, 1));
        assert_eq!(c.delays, vec![0]);
        assert_eq!(c.normal_rows, 6);
        assert!((c.precision() - 0.5).abs() < 1e-12);
        assert!((c.recall() - 0.5).abs() < 1e-12);
        assert!((c.f1() - 0.5).abs() < 1e-12);
        // With a window of three points the second segment is caught on its third point.
        let c = EventCounts::new(&scores, &labels, 3, 75.0);
        assert_eq!((c.caught, c.median_delay()), (2, Some(1.0)));
    }

    #[test]
    fn a_flickering_false_alarm_counts_every_time_it_starts() {
        let scores = [80.0, 10.0, 80.0, 10.0, 80.0];
        let labels = [false; 5];
        let c = EventCounts::new(&scores, &labels, 3, 75.0);
        assert_eq!((c.episodes, c.false_episodes), (3, 3));
        assert!((c.false_per_10k() - 6000.0).abs() < 1e-9);
        assert_eq!(c.precision(), 0.0);
    }
}
