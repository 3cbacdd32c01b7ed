//! Where each field of a configuration file was written, the problems found in it (each
//! with file, line and column), and the did-you-mean for misspelt names.

use super::yaml::Pos;
use super::ConfigError;
use std::collections::HashMap;
use std::path::Path;

/// Where each field of a file was written, by dotted path (`analysis_config.detectors[0]`).
#[derive(Debug, Default)]
pub(crate) struct Positions {
    pub(super) values: HashMap<String, Pos>,
    pub(super) keys: HashMap<String, Pos>,
}

impl Positions {
    /// Position of a field's value; else of its key; else of the nearest enclosing field.
    pub fn of(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p).or_else(|| self.keys.get(p)) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => {
                    return self
                        .values
                        .get("")
                        .copied()
                        .unwrap_or(Pos { line: 1, column: 1 })
                }
            }
        }
    }

    /// Position of a field's key (for "unknown field" and "missing value" problems).
    pub fn key_of(&self, path: &str) -> Pos {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.of(path))
    }
}

/// Collected problems of one file.
pub(crate) struct Problems<'a> {
    file: &'a Path,
    pub list: Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    pub fn new(file: &'a Path) -> Self {
        Problems {
            file,
            list: Vec::new(),
        }
    }

    pub fn at(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        let field = if field.is_empty() { "(job)" } else { field };
        self.list.push(ConfigError::at(
            self.file,
            pos,
            Some(field.to_string()),
            message.into(),
        ));
    }

    /// A problem with the file as a whole (it is not a job file, or cannot be read), at
    /// `pos` when known.
    pub fn whole_file(&mut self, pos: Pos, message: impl Into<String>) {
        self.list
            .push(ConfigError::at(self.file, pos, None, message.into()));
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let w = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for &c in candidates {
        let d = edit_distance(&w, &c.to_lowercase());
        let close = d <= (w.chars().count().max(c.len()) / 3).max(1)
            || (w.len() >= 4 && (c.starts_with(w.as_str()) || w.starts_with(c)));
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein with adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("bucket_spam", &["bucket_span", "detectors"]),
            Some("bucket_span")
        );
        assert_eq!(
            did_you_mean("infuencers", &["influencers", "detectors"]),
            Some("influencers")
        );
        assert_eq!(
            did_you_mean(
                "partition_field",
                &["partition_field_name", "by_field_name"]
            ),
            Some("partition_field_name")
        );
        assert_eq!(
            did_you_mean("hihg_count", crate::config::Function::NAMES),
            Some("high_count")
        );
        assert_eq!(did_you_mean("zzz", &["bucket_span"]), None);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
