//! Model throughput and memory: `cargo bench --bench model`.
//!
//! Prints, in one run:
//! - model updates per second on one core against a bare read pass over the same values
//!   (count and metric detectors, 10 000 partitions × 2 weeks of 15-minute buckets);
//! - bytes of state per partition;
//! - 1 M partitions × 1 week of hourly buckets (168 M updates): time and peak RSS.
//!
//! Set `TIDEWATCH_BENCH_PARTITIONS` to change the 1 M (e.g. for a quick look).

use std::hint::black_box;
use std::time::Instant;
use tidewatch::model::{Baseline, ModelConfig, Tail, ValueKind, STATE_BYTES};

const DAY: i64 = 86_400_000;

/// Small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A plausible value: daily cycle, per-partition level, noise.
#[inline]
fn value(rng: &mut Rng, partition: usize, t: i64) -> f64 {
    let hour = (t.rem_euclid(DAY)) as f64 / 3_600_000.0;
    let level = 5.0 + (partition % 97) as f64 * 3.0;
    let cycle = 1.0 + 0.5 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
    (level * cycle * (0.8 + 0.4 * rng.next())).round()
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn throughput(kind: ValueKind) -> (f64, f64) {
    let span = 15 * 60_000;
    let cfg = ModelConfig {
        bucket_span_ms: span,
        kind,
        tail: Tail::Both,
        half_life_ms: 14 * DAY,
    };
    let partitions = 10_000;
    let buckets = 14 * 96;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Values laid out bucket-major, as a datafeed delivers them.
    let values: Vec<f64> = (0..buckets)
        .flat_map(|b| (0..partitions).map(move |p| (b, p)))
        .map(|(b, p)| value(&mut rng, p, b as i64 * span))
        .collect();
    let n = values.len() as f64;

    let start = Instant::now();
    let mut sum = 0.0;
    for (i, v) in values.iter().enumerate() {
        sum += black_box(*v) * (i & 1) as f64;
    }
    black_box(sum);
    let read = n / start.elapsed().as_secs_f64();

    let mut models: Vec<Baseline> = (0..partitions).map(|_| Baseline::new(&cfg)).collect();
    let start = Instant::now();
    let mut worst = 1.0f64;
    for b in 0..buckets {
        let t = b as i64 * span;
        let row = &values[b * partitions..(b + 1) * partitions];
        for (m, v) in models.iter_mut().zip(row) {
            worst = worst.min(m.observe(&cfg, t, *v).probability);
        }
    }
    black_box(worst);
    let updates = n / start.elapsed().as_secs_f64();
    (read, updates)
}

fn main() {
    println!("tidewatch model benchmark (one core, release build)");
    println!(
        "state per partition: {} bytes serialized, {} bytes in memory (count and metric alike)",
        STATE_BYTES,
        std::mem::size_of::<Baseline>()
    );
    for (name, kind) in [("count", ValueKind::Count), ("metric", ValueKind::Metric)] {
        let (read, updates) = throughput(kind);
        println!(
            "{name:>6}: model {:>6.2} M updates/s/core | bare read pass {:>8.1} M values/s | model costs {:.1} ns per update",
            updates / 1e6,
            read / 1e6,
            1e9 / updates
        );
    }

    let partitions: usize = std::env::var("TIDEWATCH_BENCH_PARTITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let span = 3_600_000;
    let cfg = ModelConfig {
        bucket_span_ms: span,
        kind: ValueKind::Count,
        tail: Tail::Both,
        half_life_ms: 14 * DAY,
    };
    let start = Instant::now();
    let mut models: Vec<Baseline> = (0..partitions).map(|_| Baseline::new(&cfg)).collect();
    let mut rng = Rng(42);
    let mut alarms = 0u64;
    for b in 0..168 {
        let t = b as i64 * span;
        for (p, m) in models.iter_mut().enumerate() {
            if m.observe(&cfg, t, value(&mut rng, p, t)).probability < 1e-6 {
                alarms += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(alarms);
    println!(
        "{partitions} partitions x 1 week hourly ({} M updates): {:.1} s, {:.2} M updates/s, peak RSS {} MB",
        partitions as u64 * 168 / 1_000_000,
        secs,
        partitions as f64 * 168.0 / secs / 1e6,
        peak_rss_mb().map(|m| format!("{m:.0}")).unwrap_or_else(|| "n/a".into())
    );
    drop(models);
}
