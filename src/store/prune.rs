//! Retention: `tidewatch store prune --index NAME --older-than 30d` deletes an index's
//! documents older than a cutoff, as the delete phase of an ILM policy would on a cluster.
//! On the embedded store the oldest segments holding only such documents are dropped whole
//! and the one the cutoff falls in is rewritten (`EmbeddedStore::prune_older`), so the disk
//! space comes back without rewriting the rest; a cluster merges by itself.

use super::{parse_spec, EmbeddedStore, StoreError, StoreSpec};
use serde_json::json;
use std::time::Duration;

/// Options of `tidewatch store prune`.
#[derive(Debug)]
pub struct PruneOptions {
    /// The index to prune (one name, no pattern).
    pub index: String,
    /// Documents whose time is before now minus this are deleted (`30d`, `12h`, `2w`).
    pub older_than: Duration,
    /// The documents' time field.
    pub time_field: String,
}

/// What a prune did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneSummary {
    /// Documents deleted.
    pub deleted: u64,
    /// The cutoff: documents before it were deleted (epoch milliseconds).
    pub cutoff_ms: i64,
}

/// Deletes the documents of `args.index` in the store named by `spec` whose time field is
/// before `now_ms` minus `args.older_than`, dropping whole segments on the embedded store
/// (see `EmbeddedStore::prune_older`). Each step is durable on its own: a crash between or
/// during them leaves every document either kept or deleted, and running the prune again
/// finishes it.
pub fn prune(spec: &str, args: &PruneOptions, now_ms: i64) -> Result<PruneSummary, StoreError> {
    if args.index.contains(['*', '?', ',']) || args.index == "_all" {
        return Err(StoreError::NotOneIndex {
            index: args.index.clone(),
            operation: "prune",
        });
    }
    let age = i64::try_from(args.older_than.as_millis()).unwrap_or(i64::MAX);
    let cutoff_ms = now_ms.saturating_sub(age);
    let query = json!({"range": {&args.time_field: {"lt": cutoff_ms, "format": "epoch_millis"}}});
    let deleted = match parse_spec(spec)? {
        StoreSpec::Embedded(dir) => {
            let store = EmbeddedStore::open(dir)?;
            if !store.index_exists(&args.index)? {
                return Err(StoreError::IndexNotFound(args.index.clone()));
            }
            store.prune_older(&args.index, &args.time_field, cutoff_ms)?
        }
        StoreSpec::Cluster(_) => super::open(spec)?.delete_by_query(&args.index, &query)?,
    };
    Ok(PruneSummary { deleted, cutoff_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BulkDoc, Store};
    use serde_json::Value;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_717_200_000_000;

    fn args(index: &str, days: u64) -> PruneOptions {
        PruneOptions {
            index: index.into(),
            older_than: Duration::from_secs(days * 86_400),
            time_field: "@timestamp".into(),
        }
    }

    /// One document a day for 60 days before NOW, `d0` the newest.
    fn fill(dir: &std::path::Path) {
        let store = EmbeddedStore::open(dir).unwrap();
        let docs = (0..60)
            .map(|d| BulkDoc {
                id: Some(format!("d{d}")),
                source: json!({"@timestamp": crate::time::format_millis(NOW - d * DAY - 1), "d": d}),
            })
            .collect();
        store.bulk("logs", docs).unwrap();
    }

    fn ids(dir: &std::path::Path) -> Vec<i64> {
        let store = EmbeddedStore::open(dir).unwrap();
        let r = store
            .search("logs", &json!({"size": 100, "sort": ["d"]}))
            .unwrap();
        r["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["_source"]["d"].as_i64().unwrap())
            .collect()
    }

    fn segments(dir: &std::path::Path) -> Vec<Value> {
        let m = std::fs::read(dir.join("indices/logs/manifest.json")).unwrap();
        serde_json::from_slice::<Value>(&m).unwrap()["segments"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn prune_deletes_what_is_older_and_compacts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        fill(&dir);
        let spec = format!("embedded:{}", dir.display());
        let s = prune(&spec, &args("logs", 30), NOW).unwrap();
        assert_eq!(s.deleted, 30);
        assert_eq!(s.cutoff_ms, NOW - 30 * DAY);
        assert_eq!(ids(&dir), (0..30).collect::<Vec<_>>());
        // Compaction leaves one sealed segment with the 30 newer documents (and an empty log).
        let sealed: Vec<Value> = segments(&dir)
            .into_iter()
            .filter(|s| s.as_str().is_some_and(|n| n.ends_with(".col")))
            .collect();
        assert_eq!(sealed.len(), 1, "{:?}", segments(&dir));
        assert_eq!(prune(&spec, &args("logs", 30), NOW).unwrap().deleted, 0);
        let err = prune(&spec, &args("nope", 30), NOW).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = prune(&spec, &args("lo*", 30), NOW).unwrap_err();
        assert!(err.to_string().contains("one index name"), "{err}");
    }

    /// A kill during the prune's delete records (the file ends inside one) or between the
    /// deletes and the compaction's manifest switch (a new segment left unlisted): on
    /// reopening, every newer document is there exactly once, the older ones are each kept
    /// or deleted, and pruning again finishes the job.
    #[test]
    fn a_prune_killed_part_way_is_consistent_and_can_be_rerun() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        fill(&dir);
        let seg = dir
            .join("indices/logs")
            .join(segments(&dir)[0].as_str().unwrap());
        let before = std::fs::metadata(&seg).unwrap().len();
        {
            let store = EmbeddedStore::open(&dir).unwrap();
            let q =
                json!({"range": {"@timestamp": {"lt": NOW - 30 * DAY, "format": "epoch_millis"}}});
            assert_eq!(store.delete_by_query("logs", &q).unwrap(), 30);
        }
        // Keep the first delete records and half of the next one: a torn tail.
        let grown = std::fs::metadata(&seg).unwrap().len();
        let cut = before + (grown - before) / 3;
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(cut).unwrap();
        // And a compacted segment that was written but never listed.
        std::fs::write(dir.join("indices/logs/seg-00000099.log"), b"garbage").unwrap();
        let kept = ids(&dir);
        assert_eq!(kept[..30], (0..30).collect::<Vec<_>>()[..]);
        assert!(kept.len() > 30 && kept.len() < 60, "{kept:?}");
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "no document doubled");
        let spec = format!("embedded:{}", dir.display());
        let s = prune(&spec, &args("logs", 30), NOW).unwrap();
        assert_eq!(s.deleted as usize, kept.len() - 30);
        assert_eq!(ids(&dir), (0..30).collect::<Vec<_>>());
        assert!(!dir.join("indices/logs/seg-00000099.log").exists());
    }
}
