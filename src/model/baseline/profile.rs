//! Cyclic profiles: a cycle (an hour, a day) split into slots, read and learned with linear
//! interpolation between the two slots a time falls between.

/// Fractional slot position of `time` in a cycle of `period` split into `n` slots.
#[inline]
pub(super) fn slot_pos(time: i64, period: i64, n: usize) -> (usize, usize, f64) {
    let within = time.rem_euclid(period) as f64 / period as f64 * n as f64;
    // `within` is never negative, so the cast is the floor (and `floor` is a libm call).
    let i = (within as usize).min(n - 1);
    let frac = within - i as f64;
    (i, (i + 1) % n, frac)
}

/// The profile's value at `time`.
#[inline]
pub(super) fn interp(profile: &[f32], time: i64, period: i64) -> f64 {
    let (i, j, f) = slot_pos(time, period, profile.len());
    profile[i] as f64 * (1.0 - f) + profile[j] as f64 * f
}

/// Sum of the two slots that `time` falls between (what [`nudge`] changes).
#[inline]
pub(super) fn slot_pair_sum(profile: &[f32], time: i64, period: i64) -> f32 {
    let (i, j, _) = slot_pos(time, period, profile.len());
    profile[i] + if j != i { profile[j] } else { 0.0 }
}

/// Moves the two slots around `time` towards `target`, each by its share of `gain`.
#[inline]
pub(super) fn nudge(profile: &mut [f32], time: i64, period: i64, target: f64, gain: f64) {
    let (i, j, f) = slot_pos(time, period, profile.len());
    let gi = gain * (1.0 - f);
    let gj = gain * f;
    profile[i] += (gi * (target - profile[i] as f64)) as f32;
    profile[j] += (gj * (target - profile[j] as f64)) as f32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_between_two_slots_reads_and_learns_both_by_distance() {
        let mut p = [0.0f32; 4];
        // A quarter of the way from slot 1 to slot 2 of a 4-slot cycle of 400.
        nudge(&mut p, 125, 400, 1.0, 1.0);
        assert_eq!(p, [0.0, 0.75, 0.25, 0.0]);
        assert!((interp(&p, 125, 400) - (0.75 * 0.75 + 0.25 * 0.25)).abs() < 1e-6);
        assert_eq!(slot_pair_sum(&p, 125, 400), 1.0);
        // The last slot wraps around to the first.
        assert_eq!(slot_pos(350, 400, 4), (3, 0, 0.5));
    }
}
