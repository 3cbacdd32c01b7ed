//! Elastic's analysis functions on the embedded store: each constructed series of
//! `tests/support/function_cases.rs` has its planted anomaly as the worst record. The cluster
//! suites run the same cases on a real engine.

use crate::support::function_cases as cases;
use tidewatch::store::EmbeddedStore;

#[test]
fn each_function_finds_its_planted_anomaly_on_the_embedded_store() {
    for case in cases::cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("store");
        cases::load(&store, "events", &case);
        let job = cases::job(&case, "events", "results");
        let records = cases::records(&store, &job);
        eprintln!("{}: {:?}", case.job_id, &records[..records.len().min(3)]);
        cases::assert_finds_the_anomaly(&case, &records);
        if case.job_id == "fn-lat-long" {
            // Five days of logins jittering some 25 km around home score below the record
            // threshold: the far login is the only record.
            assert_eq!(records.len(), 1, "{records:#?}");
        }
    }
}
