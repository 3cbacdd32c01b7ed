//! The glitch view: one bucket that leaves a smooth series and comes straight back.
//!
//! Many operational series move smoothly from bucket to bucket but wander far over hours (a
//! sawtooth of queue sizes, a memory gauge, a slowly varying rate). Against a level and its
//! spread such a series is wide, so a single bucket that drops 10 % and returns hides inside
//! the bounds, while the normal jumps of the series stand out. Bucket-to-bucket changes tell
//! them apart: a glitch moves away from its neighbour before and back to its neighbour
//! after, both far beyond the usual change; a jump that stays has only one large change.
//!
//! So this view judges the *previous* bucket once the current one is known: it needs one
//! bucket of hindsight, and a record it raises belongs to the bucket after the glitch (its
//! explanation names the glitch's value and its neighbours). Changes are measured against
//! the local drift, in units of a robust, winsorized mean absolute change. Counts are
//! compared on Anscombe's square-root scale, where Poisson noise has unit spread, with that
//! noise as the floor of the spread.

use super::state::{Reader, Writer};
use crate::model::{ValueKind, MAD_TO_SD};

/// Weight of one bucket in the change spread and drift (a few dozen buckets of memory).
const ALPHA: f64 = 0.02;
/// Changes are clipped at this many spreads when learned.
const CLIP: f64 = 3.0;

/// Size of the serialized state in bytes.
pub const GLITCH_BYTES: usize = 8 * 2 + 4 * 4;

/// What the view concluded about the previous bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glitch {
    /// Standardized size of the glitch: the smaller of its two changes, in spreads (0 when
    /// the previous bucket is not a glitch).
    pub z: f64,
    /// Whether the glitch went up (else down).
    pub up: bool,
    /// The previous bucket's value.
    pub value: f64,
    /// The midpoint of its neighbours, what it would have been without the glitch.
    pub typical: f64,
}

impl Glitch {
    /// The size with its direction: positive up, negative down.
    pub fn signed_z(&self) -> f64 {
        if self.up {
            self.z
        } else {
            -self.z
        }
    }
}

/// Last two values, the local drift and the robust spread of bucket-to-bucket changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GlitchView {
    /// The previous bucket's value (as given).
    last: f64,
    /// The bucket before it.
    before: f64,
    /// Consecutive buckets seen without a gap (saturating at 3).
    consecutive: u32,
    /// Local drift per bucket (transformed scale).
    drift: f32,
    /// Mean absolute change beyond the drift (transformed scale).
    scale: f32,
    /// Natural-log probability already reported for the previous bucket: a glitch is only
    /// news when it is more unusual than that (a spike seen at once is not reported twice).
    reported: f32,
}

#[inline]
fn transform(kind: ValueKind, v: f64) -> f64 {
    match kind {
        ValueKind::Count => 2.0 * (v.max(0.0) + 0.375).sqrt(),
        ValueKind::Metric => v,
    }
}

impl GlitchView {
    /// Judges the previous bucket given the current `value`; `adjacent` says whether the
    /// current bucket directly follows the previous one (no gap).
    #[inline]
    pub fn judge(&self, kind: ValueKind, adjacent: bool, value: f64) -> Glitch {
        let none = Glitch {
            z: 0.0,
            up: true,
            value: self.last,
            typical: self.last,
        };
        if !adjacent || self.consecutive < 2 || self.scale <= 0.0 {
            return none;
        }
        let (y0, y1, y2) = (
            transform(kind, value),
            transform(kind, self.last),
            transform(kind, self.before),
        );
        let drift = self.drift as f64;
        let away = y1 - y2 - drift;
        let back = y1 - y0 + drift;
        if away * back <= 0.0 {
            return none;
        }
        let floor = match kind {
            // The change between two Poisson counts has unit spread per bucket, twice over.
            ValueKind::Count => std::f64::consts::SQRT_2 / MAD_TO_SD,
            ValueKind::Metric => 1e-3 * y1.abs(),
        };
        let spread = (self.scale as f64).max(floor).max(1e-12) * MAD_TO_SD;
        Glitch {
            z: away.abs().min(back.abs()) / spread,
            up: away > 0.0,
            value: self.last,
            typical: 0.5 * (self.before + value),
        }
    }

    /// Learns the current `value` (after [`GlitchView::judge`]).
    #[inline]
    pub fn learn(&mut self, kind: ValueKind, adjacent: bool, value: f64) {
        if adjacent && self.consecutive >= 1 {
            let change = transform(kind, value) - transform(kind, self.last);
            let dev = change - self.drift as f64;
            let scale = self.scale as f64;
            if scale <= 0.0 {
                self.scale = dev.abs() as f32;
            } else {
                let limit = CLIP * scale * MAD_TO_SD;
                self.scale += (ALPHA * (dev.abs().min(limit) - scale)) as f32;
                self.drift += (ALPHA * 0.2 * super::clip(dev, limit)) as f32;
            }
            self.consecutive = (self.consecutive + 1).min(3);
        } else {
            self.consecutive = 1;
        }
        self.before = self.last;
        self.last = value;
    }

    /// The probability (natural log) the model reported for the bucket just learned.
    pub fn set_reported(&mut self, ln_p: f64) {
        self.reported = ln_p as f32;
    }

    /// The probability (natural log) already reported for the previous bucket.
    pub fn reported(&self) -> f64 {
        self.reported as f64
    }

    /// Records a bucket without data: the next bucket has no neighbour before it.
    pub fn gap(&mut self) {
        self.consecutive = 0;
    }

    /// Appends the state (little-endian, [`GLITCH_BYTES`]).
    pub(super) fn write(&self, out: &mut Writer) {
        out.f64(self.last);
        out.f64(self.before);
        out.u32(self.consecutive);
        out.f32s([&self.drift, &self.scale, &self.reported]);
    }

    /// Reads a state written by [`GlitchView::write`].
    pub(super) fn read(r: &mut Reader) -> Option<Self> {
        Some(GlitchView {
            last: r.f64()?,
            before: r.f64()?,
            consecutive: r.u32()?,
            drift: r.f32()?,
            scale: r.f32()?,
            reported: r.f32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth wandering series: slow sine plus small noise.
    fn smooth(i: usize) -> f64 {
        1000.0 + 200.0 * (i as f64 / 300.0).sin() + ((i * 7919) % 13) as f64 * 0.3
    }

    fn feed(view: &mut GlitchView, values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .map(|&v| {
                let g = view.judge(ValueKind::Metric, true, v);
                view.learn(ValueKind::Metric, true, v);
                g.z
            })
            .collect()
    }

    #[test]
    fn a_bucket_that_leaves_and_comes_back_is_a_glitch_a_jump_that_stays_is_not() {
        let mut values: Vec<f64> = (0..2000).map(smooth).collect();
        values[1500] -= 60.0; // a 6 % dip for one bucket
        for v in values.iter_mut().skip(1700) {
            *v += 150.0; // a jump that stays
        }
        let mut view = GlitchView::default();
        let z = feed(&mut view, &values);
        assert!(
            z[1501] > 8.0,
            "glitch judged at the next bucket: {}",
            z[1501]
        );
        let worst_elsewhere = z
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1501 && *i > 100)
            .map(|(_, z)| *z)
            .fold(0.0, f64::max);
        assert!(worst_elsewhere < 4.0, "{worst_elsewhere}");
    }

    #[test]
    fn a_gap_is_not_a_glitch() {
        let mut view = GlitchView::default();
        feed(&mut view, &(0..500).map(smooth).collect::<Vec<_>>());
        // After a gap the previous bucket has no neighbour to return to.
        assert_eq!(view.judge(ValueKind::Metric, false, 0.0).z, 0.0);
    }

    #[test]
    fn round_trips_through_bytes() {
        let mut view = GlitchView::default();
        feed(&mut view, &(0..50).map(smooth).collect::<Vec<_>>());
        let mut out = Writer(Vec::new());
        view.write(&mut out);
        assert_eq!(out.0.len(), GLITCH_BYTES);
        assert_eq!(GlitchView::read(&mut Reader(&out.0)), Some(view));
    }
}
