//! The end-to-end demo's situation: 15-minute request counts over 14 days, split by
//! country, scored through one job normalizer.
use super::tests::*;
use super::*;
use crate::score::Normalizer;

const DAY: i64 = 86_400_000;

/// Runs 14 days for partitions with the given means; `incident(p, bucket, mean)` may
/// change the mean. Returns the record scores per partition.
fn run(means: &[f64], incident: impl Fn(usize, i64, f64) -> f64) -> Vec<Vec<f64>> {
    let cfg = count_cfg(Tail::Both);
    let mut models: Vec<Baseline> = means.iter().map(|_| Baseline::new(&cfg)).collect();
    let mut norm = Normalizer::new();
    let mut rng = Rng::new(99);
    let mut scores = vec![Vec::new(); means.len()];
    for i in 0..14 * 96 {
        let t = 3 * DAY + i * M15; // a Sunday start
        for (p, m) in means.iter().enumerate() {
            let mean = incident(p, i, traffic(t, *m));
            let o = models[p].observe(&cfg, t, rng.poisson(mean));
            scores[p].push(norm.record_score(o.probability));
        }
    }
    scores
}

const MEANS: [f64; 12] = [
    0.3, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

/// Records at or above `score` in the fortnights of every partition.
fn at_least(scores: &[Vec<f64>], score: f64) -> usize {
    scores
        .iter()
        .map(|s| s.iter().filter(|x| **x >= score).count())
        .sum()
}

#[test]
fn normal_fortnights_stay_within_the_scale() {
    // 12 partitions x 1,344 buckets. The scale: 75 about once in 10,000 ordinary
    // buckets of a partition, 50 about once in 1,000.
    let scores = run(&MEANS, |_, _, m| m);
    let buckets: usize = scores.iter().map(Vec::len).sum();
    assert!(at_least(&scores, 75.0) <= 1, "records >= 75 on normal days");
    let high = at_least(&scores, 50.0);
    assert!(
        high <= buckets / 1000,
        "{high} records >= 50 on normal days"
    );
}

#[test]
fn burst_drop_and_ramp_reach_75() {
    let burst = 10 * 96 + 56; // day 10, 14:00, two buckets
    let drop = 11 * 96 + 40; // day 11, 10:00, eight buckets
    let ramp = 12 * 96; // day 12, a whole day
    let scores = run(&MEANS, |p, i, m| match p {
        2 if (burst..burst + 2).contains(&i) => m + 60.0,
        7 if (drop..drop + 8).contains(&i) => m * 0.2,
        4 if (ramp..ramp + 96).contains(&i) => m * (1.0 + 4.0 * (i - ramp) as f64 / 96.0),
        _ => m,
    });
    let max = |p: usize, from: i64, to: i64| {
        scores[p][from as usize..to as usize]
            .iter()
            .copied()
            .fold(0.0, f64::max)
    };
    assert!(
        max(2, burst, burst + 1) >= 75.0,
        "burst {}",
        max(2, burst, burst + 2)
    );
    assert!(
        max(7, drop, drop + 1) >= 75.0,
        "drop {}",
        max(7, drop, drop + 8)
    );
    assert!(
        max(4, ramp, ramp + 96) >= 75.0,
        "ramp {}",
        max(4, ramp, ramp + 96)
    );
    // Outside the incidents (and the bucket after each): within the scale.
    let mut high = 0;
    for (p, s) in scores.iter().enumerate() {
        for (i, x) in s.iter().enumerate() {
            let i = i as i64;
            let inside = (p == 2 && (burst..burst + 3).contains(&i))
                || (p == 7 && (drop..drop + 9).contains(&i))
                || (p == 4 && (ramp..ramp + 97).contains(&i));
            if !inside && *x >= 50.0 {
                high += 1;
                // Nothing outside the incidents reaches an alert.
                assert!(*x < 75.0, "partition {p}, bucket {i}: {x}");
            }
        }
    }
    // 50 is about once in 1,000 ordinary buckets of a partition.
    let buckets: usize = scores.iter().map(Vec::len).sum();
    assert!(
        high <= buckets / 1000,
        "{high} records >= 50 outside the incidents"
    );
}
