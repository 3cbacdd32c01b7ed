//! A peer detector's scores, written by a harness outside tidewatch (the test tree's
//! Random Cut Forest runner, `scripts/peer-rcf.sh`), read back for `evaluate --peer-scores`.
//!
//! The contract: for a labelled file `REL` (relative to the evaluated directory), the peer's
//! file is `PEER_DIR/REL` without a `.gz` ending, a CSV with a header naming at least a
//! `grade` column, and exactly one row per row of the labelled file, in the same order.

use super::series::split_csv;
use crate::{Error, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The `grade` column of the peer's file for the labelled file `rel`, checked to have `rows`
/// rows.
pub(crate) fn read_grades(peer_dir: &Path, rel: &Path, rows: usize) -> Result<Vec<f64>> {
    let name = rel.display().to_string();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let path = peer_dir.join(name);
    let shown = path.display().to_string();
    let file = std::fs::File::open(&path).map_err(|source| Error::Io {
        path: shown.clone(),
        source,
    })?;
    let mut lines = BufReader::new(file).lines();
    let mut fields = Vec::new();
    let header = lines.next().transpose().map_err(|source| Error::Io {
        path: shown.clone(),
        source,
    })?;
    split_csv(header.as_deref().unwrap_or(""), &mut fields);
    let column = fields
        .iter()
        .position(|f| f.trim().eq_ignore_ascii_case("grade"))
        .ok_or_else(|| Error::Input {
            path: shown.clone(),
            line: Some(1),
            message: "no `grade` column in the header".into(),
        })?;
    let mut grades = Vec::with_capacity(rows);
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|source| Error::Io {
            path: shown.clone(),
            source,
        })?;
        split_csv(&line, &mut fields);
        let text = fields.get(column).map(|f| f.trim()).unwrap_or("");
        let grade: f64 = text.parse().map_err(|_| Error::Input {
            path: shown.clone(),
            line: Some(i + 2),
            message: format!("grade `{text}` is not a number"),
        })?;
        grades.push(grade);
    }
    if grades.len() != rows {
        return Err(Error::Input {
            path: shown,
            line: None,
            message: format!(
                "{} rows, but the labelled file has {rows}: the peer must score every row",
                grades.len()
            ),
        });
    }
    Ok(grades)
}
