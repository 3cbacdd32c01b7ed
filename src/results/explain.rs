//! Explanations: the one line a record carries (`spike: 17× higher than typical (612 vs 36)`)
//! and the number formatting it shares with the results table. Written when a record is
//! made, read back unchanged by every reader.

use crate::config::Function;
use crate::model::{Observation, Reason};

/// A one-line explanation: `spike: 17× higher than typical (612 vs 36)`.
pub(crate) fn explain(obs: &Observation) -> String {
    let reason = match obs.reason {
        Reason::Normal if obs.actual >= obs.typical => Reason::Spike,
        Reason::Normal => Reason::Dip,
        r => r,
    };
    let (a, t) = (obs.actual, obs.typical);
    let factor = if t.abs() < 1e-9 && a.abs() < 1e-9 {
        "as typical".to_string()
    } else if a >= t {
        if t > 0.0 {
            format!("{} higher than typical", factor_text(a / t))
        } else {
            "above typical".to_string()
        }
    } else if a > 0.0 {
        format!("{} lower than typical", factor_text(t / a))
    } else {
        "dropped to zero".to_string()
    };
    format!(
        "{}: {factor} ({} vs {})",
        reason.phrase(),
        number_text(a),
        number_text(t)
    )
}

/// A one-line explanation for the frequency functions: `rare: never seen before`,
/// `unusual time: 03:00 UTC (typically around 12:30)`.
pub(crate) fn explain_frequency(function: Function, obs: &Observation) -> String {
    match function {
        Function::Rare | Function::FreqRare => {
            let label = if function == Function::Rare {
                "rare"
            } else {
                "frequently rare"
            };
            let history = if obs.typical > 0.0 {
                format!("seen in {:.1}% of documents before", obs.typical * 100.0)
            } else {
                "never seen before".to_string()
            };
            let now = number_text(obs.actual);
            let plural = if obs.actual == 1.0 { "" } else { "s" };
            format!("{label}: {history} ({now} document{plural} now)")
        }
        Function::LatLong => format!(
            "unusual location: {} km from where it usually is (usual radius {} km)",
            number_text(obs.actual.round()),
            number_text(obs.upper.round())
        ),
        _ => format!(
            "unusual time: {} UTC (typically around {})",
            clock_text(obs.actual, function == Function::TimeOfWeek),
            clock_text(obs.typical, function == Function::TimeOfWeek)
        ),
    }
}

/// Seconds since midnight (or, `weekly`, since Monday 00:00) as `03:00` (or `Tue 03:00`).
fn clock_text(seconds: f64, weekly: bool) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let s = seconds.max(0.0) as i64;
    let (day, hm) = (s / 86_400, s % 86_400);
    let time = format!("{:02}:{:02}", hm / 3600, hm % 3600 / 60);
    if !weekly {
        time
    } else {
        format!("{} {time}", DAYS[(day % 7) as usize])
    }
}

fn factor_text(f: f64) -> String {
    if f >= 10.0 {
        format!("{:.0}×", f)
    } else {
        format!("{:.1}×", f)
    }
}

/// A number for people: integers plain, others with up to 3 significant decimals.
pub(crate) fn number_text(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if (x - x.round()).abs() < 1e-9 || x.abs() >= 1000.0 {
        format!("{:.0}", x)
    } else if x.abs() >= 10.0 {
        format!("{:.1}", x)
    } else {
        format!("{:.2}", x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(actual: f64, typical: f64, reason: Reason) -> Observation {
        Observation {
            probability: 1e-6,
            actual,
            typical,
            lower: 0.0,
            upper: 0.0,
            reason,
            multi_bucket_impact: 0.0,
        }
    }

    #[test]
    fn explanations_read_as_sentences() {
        assert_eq!(
            explain(&obs(612.0, 36.0, Reason::Spike)),
            "spike: 17× higher than typical (612 vs 36)"
        );
        assert_eq!(
            explain(&obs(20.0, 100.0, Reason::Dip)),
            "dip: 5.0× lower than typical (20 vs 100)"
        );
        assert_eq!(
            explain(&obs(0.0, 100.0, Reason::SignalLost)),
            "signal lost: dropped to zero (0 vs 100)"
        );
        assert_eq!(
            explain(&obs(3.0, 0.0, Reason::Spike)),
            "spike: above typical (3 vs 0)"
        );
    }
}
