//! Elastic's analysis functions on a real engine: the constructed series of
//! `function_cases.rs`, indexed with explicit mappings, give the same records as on the
//! embedded store, with the planted anomaly worst.

use crate::support::engine::{engine, http};
use crate::support::function_cases as cases;
use serde_json::json;
use tidewatch::store::{ElasticOptions, ElasticStore, EmbeddedStore};

#[test]
fn each_function_finds_its_planted_anomaly_on_the_engine_as_on_the_embedded_store() {
    skip_if_absent!();
    let url = &engine(super::KIND).url;
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    // Results go to `tidewatch-results-*`, mapped by the results template (as `store::open`).
    store.ensure_templates().expect("templates");
    for case in cases::cases() {
        let index = format!("tw-fn-{}-{}", case.job_id, std::process::id());
        let (status, body) = http(
            "PUT",
            &format!("{url}/{index}"),
            Some(&json!({
                "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
                "mappings": { "properties": cases::mapping() }
            })),
        );
        assert_eq!(status, 200, "create {index}: {body}");
        cases::load(&store, &index, &case);
        let job = cases::job(&case, &index, &format!("tidewatch-results-{index}"));
        let on_engine = cases::records(&store, &job);
        cases::assert_finds_the_anomaly(&case, &on_engine);

        let dir = tempfile::tempdir().expect("tempdir");
        let embedded = EmbeddedStore::open(dir.path()).expect("store");
        cases::load(&embedded, &index, &case);
        assert_eq!(
            on_engine,
            cases::records(&embedded, &job),
            "{}: engine and embedded store disagree",
            case.job_id
        );
    }
}
