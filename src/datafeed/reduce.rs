//! Numbers of one group read from composite keys (each distinct value with its document
//! count), reduced to the statistics of `median`, `varp` and `metric`.

use serde_json::Value;

/// A group's numeric values, ascending, each with its document count.
pub(super) struct Numbers {
    values: Vec<(f64, u64)>,
    count: u64,
}

impl Numbers {
    /// The numeric values of `keys` (others, e.g. strings in a numeric detector, are left
    /// out); `None` when there are none.
    pub(super) fn of(keys: &[(Value, u64)]) -> Option<Numbers> {
        let mut values: Vec<(f64, u64)> = keys
            .iter()
            .filter_map(|(v, c)| Some((v.as_f64().filter(|x| x.is_finite())?, *c)))
            .filter(|(_, c)| *c > 0)
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let count = values.iter().map(|(_, c)| c).sum();
        Some(Numbers { values, count })
    }

    /// The `rank`-th value (0-based) of the documents' values in order.
    fn at(&self, rank: u64) -> f64 {
        let mut seen = 0;
        for (v, c) in &self.values {
            seen += c;
            if rank < seen {
                return *v;
            }
        }
        self.max()
    }

    /// The median of the documents' values: the middle one, or the mean of the two middle
    /// ones for an even count.
    pub(super) fn median(&self) -> f64 {
        let n = self.count;
        if n % 2 == 1 {
            self.at(n / 2)
        } else {
            (self.at(n / 2 - 1) + self.at(n / 2)) / 2.0
        }
    }

    /// The mean of the documents' values.
    pub(super) fn mean(&self) -> f64 {
        let sum: f64 = self.values.iter().map(|(v, c)| v * *c as f64).sum();
        sum / self.count as f64
    }

    /// The population variance of the documents' values (Elastic's `varp`).
    pub(super) fn variance(&self) -> f64 {
        let mean = self.mean();
        let sum: f64 = self
            .values
            .iter()
            .map(|(v, c)| (v - mean).powi(2) * *c as f64)
            .sum();
        sum / self.count as f64
    }

    pub(super) fn min(&self) -> f64 {
        self.values[0].0
    }

    pub(super) fn max(&self) -> f64 {
        self.values[self.values.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statistics_weigh_each_value_by_its_documents() {
        let keys = [
            (json!(4), 1),
            (json!(1), 2),
            (json!("x"), 5),
            (Value::Null, 3),
        ];
        let n = Numbers::of(&keys).expect("numbers");
        // Documents: 1, 1, 4.
        assert_eq!(
            (n.min(), n.max(), n.median(), n.mean()),
            (1.0, 4.0, 1.0, 2.0)
        );
        assert_eq!(n.variance(), 2.0);
        let even = Numbers::of(&[(json!(1), 1), (json!(2), 1), (json!(10), 2)]).expect("numbers");
        assert_eq!(even.median(), 6.0);
        assert!(Numbers::of(&[(json!("a"), 1)]).is_none());
    }
}
