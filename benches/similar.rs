//! Similar-shape search at scale: `cargo bench --bench similar`.
//!
//! 100,000 generated partitions × 2 weeks of 15-minute buckets (1,344 each): a daily cycle
//! at one of 24 phases, a per-partition level, Poisson-like noise, a weekend dip, and 5,000
//! incidents (spike, drop, ramp or step) each shared by 20 partitions. Every partition is
//! fingerprinted into a [`ShapeIndex`]; then queries (half at an incident, half at a random
//! partition and time) take the fingerprint's best 300 candidates and rank them by exact
//! distance (values regenerated, as a store would be read for them). Prints, for segments of
//! 1, 2 and 4 buckets: bytes per partition-day and per partition-window (6 h), build time,
//! query time and queries/s, and recall@10 against an exact search over every partition.
//!
//! `TIDEWATCH_BENCH_PARTITIONS` and `TIDEWATCH_BENCH_QUERIES` change the 100,000 and 40.

use std::time::Instant;
use tidewatch::similar::{compare, ShapeIndex, CANDIDATES};

const BUCKETS: usize = 14 * 96;
const DAY_BUCKETS: usize = 96;
/// The query window: 6 hours.
const WINDOW: usize = 24;
const MAX_LAG: usize = 2;
/// Partitions per incident.
const GROUP: u64 = 20;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn gauss(h: u64) -> f64 {
    let (u, v) = (unit(mix(h)).max(1e-12), unit(mix(h ^ 0x5555)));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The incident partition `p` takes part in: (start bucket, length, kind, size).
fn incident(p: u64, partitions: u64) -> (usize, usize, u64, f64) {
    let e = p % (partitions / GROUP).max(1);
    let h = mix(e ^ 0xABCD);
    let start = DAY_BUCKETS + (h % (12 * DAY_BUCKETS) as u64) as usize;
    let kind = (h >> 20) % 4;
    let len = [3, 8, 12, 40][kind as usize];
    (start, len, kind, 2.0 + 4.0 * unit(mix(h)))
}

/// Value of partition `p` at bucket `t`: a pure function, so any window can be regenerated.
fn value(p: u64, t: usize, partitions: u64) -> f64 {
    let h = mix(p);
    let level = (2.0 + 3.0 * unit(h)).exp();
    let phase = (h >> 8) % 24;
    let hour = (t % DAY_BUCKETS) as f64 / 4.0;
    let weekend = if (t / DAY_BUCKETS) % 7 >= 5 { 0.8 } else { 1.0 };
    let mut mean = level
        * weekend
        * (1.0 + 0.6 * ((hour - phase as f64) / 24.0 * std::f64::consts::TAU).sin());
    let (start, len, kind, size) = incident(p, partitions);
    if t >= start && t < start + len {
        let k = (t - start) as f64 / len as f64;
        mean *= match kind {
            0 => size,
            1 => 0.2,
            2 => 1.0 + size * k,
            _ => 1.0 + size / 2.0,
        };
    }
    (mean + mean.sqrt() * gauss(h ^ (t as u64).wrapping_mul(0x1234_5677))).max(0.0)
}

fn window(p: u64, from: usize, len: usize, partitions: u64) -> Vec<f64> {
    (from..from + len)
        .map(|t| value(p, t, partitions))
        .collect()
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The exact top 10 by best-lag distance over every partition.
fn exact_top(q: u64, start: usize, partitions: u64) -> Vec<u64> {
    let query = window(q, start, WINDOW, partitions);
    let mut all: Vec<(f64, u64)> = (0..partitions)
        .filter(|&p| p != q)
        .filter_map(|p| {
            let c = window(p, start - MAX_LAG, WINDOW + 2 * MAX_LAG, partitions);
            compare(&query, &c, MAX_LAG).map(|e| (e.distance, p))
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.iter().take(10).map(|x| x.1).collect()
}

/// Fingerprint candidates, then exact distances on them: the top 10.
fn two_stage(ix: &ShapeIndex, k: usize, q: u64, start: usize, partitions: u64) -> Vec<u64> {
    let query = window(q, start, WINDOW, partitions);
    let cands = ix.candidates(q as u32, start, WINDOW, MAX_LAG, k);
    let mut ranked: Vec<(f64, u64)> = cands
        .iter()
        .filter_map(|c| {
            let p = u64::from(c.id);
            let w = window(p, start - MAX_LAG, WINDOW + 2 * MAX_LAG, partitions);
            compare(&query, &w, MAX_LAG).map(|e| (e.distance, p))
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    ranked.iter().take(10).map(|x| x.1).collect()
}

fn main() {
    let partitions = env("TIDEWATCH_BENCH_PARTITIONS", 100_000);
    let queries = env("TIDEWATCH_BENCH_QUERIES", 40);
    let segments = [1usize, 2, 4];
    let started = Instant::now();
    let mut indexes: Vec<ShapeIndex> = segments
        .iter()
        .map(|&s| ShapeIndex::new(BUCKETS, s))
        .collect();
    let mut series = vec![0.0; BUCKETS];
    for p in 0..partitions {
        for (t, v) in series.iter_mut().enumerate() {
            *v = value(p, t, partitions);
        }
        for ix in &mut indexes {
            ix.push(&series);
        }
    }
    let build = started.elapsed().as_secs_f64();
    println!(
        "similar: {partitions} partitions x {BUCKETS} buckets (2 weeks of 15 min), {queries} queries \
         (half at an incident), window {WINDOW} buckets, lag ±{MAX_LAG}, {CANDIDATES} candidates"
    );
    println!("generated and fingerprinted at 3 segment lengths in {build:.1}s");
    // Queries: (partition, window start); even ones at an incident's start.
    let qs: Vec<(u64, usize)> = (0..queries)
        .map(|i| {
            let h = mix(i ^ 0xFEED);
            let p = h % partitions;
            let start = if i % 2 == 0 {
                let (s, len, _, _) = incident(p, partitions);
                (s + len / 2)
                    .saturating_sub(WINDOW / 2)
                    .clamp(MAX_LAG, BUCKETS - WINDOW - MAX_LAG)
            } else {
                MAX_LAG + (mix(h) % (BUCKETS - WINDOW - 2 * MAX_LAG) as u64) as usize
            };
            (p, start)
        })
        .collect();
    let t = Instant::now();
    let truth: Vec<Vec<u64>> = qs
        .iter()
        .map(|&(p, s)| exact_top(p, s, partitions))
        .collect();
    let exact_ms = t.elapsed().as_secs_f64() * 1e3 / qs.len() as f64;
    println!("exact search over every partition (the reference): {exact_ms:.0} ms per query");
    println!("segment  candidates  bytes/partition-day  bytes/partition-window  query ms (mean, max)  queries/s  recall@10 (incident, random)");
    let runs = [
        (0, CANDIDATES),
        (1, CANDIDATES),
        (1, 1_000),
        (1, 3_000),
        (2, 3_000),
    ];
    for (ix, seg, k) in runs.iter().map(|&(i, k)| (&indexes[i], segments[i], k)) {
        let (mut times, mut hit) = (Vec::new(), [0usize; 2]);
        for (i, (&(p, s), want)) in qs.iter().zip(&truth).enumerate() {
            let t = Instant::now();
            let got = two_stage(ix, k, p, s, partitions);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            hit[i % 2] += got.iter().filter(|g| want.contains(g)).count();
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let max = times.iter().copied().fold(0.0, f64::max);
        let per = |h: usize, n: usize| h as f64 / (10 * n.max(1)) as f64;
        let (n_inc, n_rand) = (qs.len().div_ceil(2), qs.len() / 2);
        println!(
            "{seg:>7}  {k:>10}  {:>19.0}  {:>22.0}  {mean:>10.1}, {max:>7.1}  {:>9.1}  {:.3} ({:.3}, {:.3})",
            ix.bytes_per_series() as f64 / 14.0,
            (WINDOW / seg) as f64 + 8.0 * WINDOW as f64 / (seg * tidewatch::similar::BLOCK) as f64,
            1e3 / mean,
            per(hit[0] + hit[1], qs.len()),
            per(hit[0], n_inc),
            per(hit[1], n_rand),
        );
    }
    if let Some(mb) = peak_rss_mb() {
        println!("peak RSS {mb:.0} MB (all three indexes together)");
    }
}
