//! A real two-node OpenSearch 2.19 cluster (issue 16, part 4): two launcher processes joined
//! over the transport module (`--seed-hosts`; node 0 is the one cluster-manager-eligible node,
//! node 1 holds data only), the events, results and state indices with 2 shards and 1
//! replica. Node 1, which does not serve tidewatch's URL, is killed with SIGKILL in the middle
//! of a lookback and started again with its data: the run completes, every bucket is there
//! once, and the result documents are exactly those of an undisturbed run on one node (the
//! suite's single-node OpenSearch 2.19, with the same indices).
//!
//! When the kill and the restart happen is decided by the request count, not by the clock:
//! a proxy between tidewatch and node 0 kills node 1 before forwarding the lookback's
//! [`KILL_AT`]-th bulk request and starts it again at the [`RESTART_AT`]-th.

use crate::support::engine::{engine, http, start_node, Engine, Kind};
use crate::support::proxy::{Fault, Hook, Proxy};
use crate::support::results::{assert_every_bucket_once, assert_same_documents, engine_docs};
use crate::support::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tidewatch::config::Job;
use tidewatch::runner;
use tidewatch::store::{BulkDoc, ElasticOptions, ElasticStore, Store, StoreError};

const MINUTE: i64 = 60_000;
/// The job's bucket span.
const SPAN: i64 = 15 * MINUTE;
/// 2026-01-01T00:00:00Z: the first event.
const START: i64 = 1_767_225_600_000;
/// Days of events: 16 chunks of 6 hours, so the lookback writes results in many bulks.
const DAYS: i64 = 4;
/// The bulk request before which node 1 is killed.
const KILL_AT: usize = 4;
/// The bulk request at which node 1 is started again (it rejoins while the lookback goes on).
const RESTART_AT: usize = 8;
const SOURCE: &str = "twonodes-events";
const RESULTS: &str = "tidewatch-results-twonodes";
const STATE: &str = "tidewatch-state-twonodes";
const NODE1: &str = "tidewatch-test-1";

/// A cluster of two launcher processes.
struct Cluster {
    dir: tempfile::TempDir,
    transport: [u16; 2],
    node0: Engine,
    node1: Arc<Mutex<Engine>>,
}

impl Cluster {
    /// Starts both nodes side by side and waits until both are in the cluster.
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let transport = [free_port(), free_port()];
        let (node0, node1) = std::thread::scope(|s| {
            let one =
                s.spawn(|| start_node(Kind::OpenSearch, &node_args(dir.path(), 1, transport)));
            let zero = start_node(Kind::OpenSearch, &node_args(dir.path(), 0, transport));
            (zero, one.join().expect("node 1 thread"))
        });
        let node0 = node0.unwrap_or_else(|e| panic!("node 0: {e}"));
        let node1 = node1.unwrap_or_else(|e| panic!("node 1: {e}"));
        let cluster = Cluster {
            dir,
            transport,
            node0,
            node1: Arc::new(Mutex::new(node1)),
        };
        cluster.wait_green();
        cluster
    }

    fn args(&self, node: usize) -> Vec<String> {
        node_args(self.dir.path(), node, self.transport)
    }

    /// Waits until both nodes are in the cluster and every shard copy is assigned.
    fn wait_green(&self) {
        let (status, body) = http(
            "GET",
            &format!(
                "{}/_cluster/health?wait_for_nodes=2&wait_for_status=green&wait_for_no_relocating_shards=true&timeout=90s",
                self.node0.url
            ),
            None,
        );
        assert!(
            status == 200 && body["timed_out"] == false,
            "the two-node cluster did not turn green: {body}"
        );
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The launcher arguments of node `node` (its home directory is kept across a restart).
fn node_args(dir: &Path, node: usize, transport: [u16; 2]) -> Vec<String> {
    let seeds = format!("127.0.0.1:{},127.0.0.1:{}", transport[0], transport[1]);
    vec![
        "--node".into(),
        node.to_string(),
        "--transport-port".into(),
        transport[node].to_string(),
        "--seed-hosts".into(),
        seeds,
        "--home".into(),
        dir.join(format!("node-{node}")).display().to_string(),
    ]
}

/// The events, and the results and state indices, with 2 shards and `replicas` replicas each
/// (the templates add the results' and state's mappings); the events stored and refreshed.
fn load(url: &str, replicas: u32, docs: &[BulkDoc]) {
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    store.ensure_templates().expect("templates");
    let events = json!({ "properties": {
        "@timestamp": { "type": "date" }, "region": { "type": "keyword" }, "bytes": { "type": "long" }
    } });
    for (index, mappings) in [(SOURCE, Some(events)), (RESULTS, None), (STATE, None)] {
        http("DELETE", &format!("{url}/{index}"), None);
        let mut body =
            json!({ "settings": { "number_of_shards": 2, "number_of_replicas": replicas } });
        if let Some(m) = mappings {
            body["mappings"] = m;
        }
        let (status, resp) = http("PUT", &format!("{url}/{index}"), Some(&body));
        assert_eq!(status, 200, "create {index}: {resp}");
    }
    let stored = store.bulk(SOURCE, docs.to_vec()).expect("bulk events");
    assert_eq!(stored.stored, docs.len());
    store.refresh(SOURCE).expect("refresh");
}

/// Per minute and region, 0 to 5 events with a byte count, and a burst in one region.
fn events() -> Vec<BulkDoc> {
    let mut rng = Rng::new(16);
    let mut docs = Vec::new();
    for minute in 0..DAYS * 1440 {
        let t = START + minute * MINUTE;
        for region in ["eu", "us", "ap"] {
            let burst = region == "ap" && (3 * 1440 + 600..3 * 1440 + 640).contains(&minute);
            let n = rng.below(6) + if burst { 30 } else { 0 };
            for i in 0..n {
                docs.push(BulkDoc {
                    id: Some(format!("{region}-{minute}-{i}")),
                    source: json!({
                        "@timestamp": tidewatch::time::format_millis(t + i as i64 * 1000),
                        "region": region,
                        "bytes": 200 + rng.below(800),
                    }),
                });
            }
        }
    }
    docs
}

fn job() -> Job {
    let yaml = format!(
        "job_id: twonodes\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      partition_field_name: region\n    - function: mean\n      field_name: bytes\n      partition_field_name: region\n  influencers: [region]\ndatafeed_config:\n  indices: [{SOURCE}]\n  chunking_config:\n    mode: manual\n    time_span: 6h\nresults_index: {RESULTS}\n"
    );
    tidewatch::config::load_job_str("twonodes.yml", &yaml).expect("job")
}

/// The reference: the same events and job on one node, the suite's single-node OpenSearch
/// 2.19 (the same indices, without replicas), looked back without faults.
fn reference(docs: &[BulkDoc], job: &Job) -> BTreeMap<String, Value> {
    let url = &engine(Kind::OpenSearch).url;
    load(url, 0, docs);
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    runner::run_lookback(&store, job, Some(STATE), &AtomicBool::new(false))
        .expect("single-node lookback");
    engine_docs(url, RESULTS)
        .into_iter()
        .map(|(id, doc)| (id, doc.source))
        .collect()
}

/// Node 1's shard copies of `index`, as `_cat/shards` lists them (`p` or `r` each).
fn copies_on_node1(url: &str, index: &str) -> Vec<String> {
    let (status, body) = http(
        "GET",
        &format!("{url}/_cat/shards/{index}?format=json"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["node"] == NODE1)
        .map(|s| {
            format!(
                "{}{}",
                s["shard"].as_str().unwrap_or(""),
                s["prirep"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The proxy hook: kills node 1 at the [`KILL_AT`]-th bulk and starts it again at the
/// [`RESTART_AT`]-th, on a thread of its own (the lookback goes on while it starts).
fn kill_and_restart(cluster: &Cluster) -> (Hook, Arc<Mutex<Option<JoinHandle<Engine>>>>) {
    let restarted: Arc<Mutex<Option<JoinHandle<Engine>>>> = Arc::default();
    let (node1, handle, args) = (
        Arc::clone(&cluster.node1),
        Arc::clone(&restarted),
        cluster.args(1),
    );
    let bulks = AtomicUsize::new(0);
    let hook = move || match bulks.fetch_add(1, Ordering::SeqCst) + 1 {
        KILL_AT => {
            node1.lock().unwrap().kill();
            eprintln!("two nodes: node 1 killed before bulk {KILL_AT}");
        }
        RESTART_AT => {
            let args = args.clone();
            *handle.lock().unwrap() = Some(std::thread::spawn(move || {
                start_node(Kind::OpenSearch, &args)
                    .unwrap_or_else(|e| panic!("restart node 1: {e}"))
            }));
        }
        _ => {}
    };
    (Hook(Arc::new(hook)), restarted)
}

#[test]
fn a_node_killed_mid_lookback_and_restarted_loses_and_repeats_nothing() {
    let cluster = Cluster::start();
    let url = cluster.node0.url.clone();
    let job = job();
    let docs = events();
    let expected = std::thread::scope(|s| {
        let reference = s.spawn(|| reference(&docs, &job));
        load(&url, 1, &docs);
        reference.join().expect("reference lookback")
    });
    cluster.wait_green();
    for index in [SOURCE, RESULTS, STATE] {
        let copies = copies_on_node1(&url, index);
        assert_eq!(
            copies.len(),
            2,
            "{index}: node 1 holds a copy of each shard: {copies:?}"
        );
        eprintln!("two nodes: {index} on node 1: {copies:?}");
    }

    let proxy = Proxy::start(&url);
    let (hook, restarted) = kill_and_restart(&cluster);
    proxy.inject("/_bulk", Fault::Run(hook), 100_000);
    let store = ElasticStore::connect(&proxy.url, ElasticOptions::default()).expect("connect");
    let summary = runner::run_lookback(&store, &job, Some(STATE), &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("lookback across the node's death: {e}"));
    let bulks = proxy
        .seen()
        .iter()
        .filter(|s| s.path.contains("/_bulk"))
        .count();
    assert!(
        bulks >= RESTART_AT,
        "only {bulks} bulk requests: the node was not restarted mid-run"
    );
    let node1 = restarted.lock().unwrap().take().expect("restart started");
    *cluster.node1.lock().unwrap() = node1.join().expect("node 1 restarted");
    cluster.wait_green();
    eprintln!("two nodes: {summary:?}, {:?}, {bulks} bulks", store.stats());

    let got = engine_docs(&url, RESULTS);
    assert_same_documents(
        "lookback across a node's death vs one node",
        &expected,
        &got,
    );
    let end = START + DAYS * 1440 * MINUTE;
    assert_every_bucket_once(&got, "twonodes", (START, end, SPAN), true);
    a_shard_without_copies_fails_the_search(&cluster);
}

/// An index without replicas, one shard on each node: once node 1 is gone, half its data is
/// missing. The engine answers such a search 200 with `_shards.failed: 1` by default; the
/// store asks it not to (`allow_partial_search_results=false`) and never returns a partial
/// answer as if it were the whole data.
fn a_shard_without_copies_fails_the_search(cluster: &Cluster) {
    let url = &cluster.node0.url;
    let index = "twonodes-lone";
    let settings = json!({ "settings": { "number_of_shards": 2, "number_of_replicas": 0,
        "index.routing.allocation.total_shards_per_node": 1 } });
    let (status, body) = http("PUT", &format!("{url}/{index}"), Some(&settings));
    assert_eq!(status, 200, "create {index}: {body}");
    cluster.wait_green();
    let store = ElasticStore::connect(url, ElasticOptions::default()).expect("connect");
    let docs = (0..100)
        .map(|i| BulkDoc {
            id: Some(i.to_string()),
            source: json!({ "n": i }),
        })
        .collect();
    store.bulk(index, docs).expect("bulk");
    store.refresh(index).expect("refresh");
    let query = json!({ "size": 0, "track_total_hits": true });
    let whole = store.search(index, &query).expect("search with both nodes");
    assert_eq!(whole["hits"]["total"]["value"], 100);
    cluster.node1.lock().unwrap().kill();
    let (status, raw) = http("POST", &format!("{url}/{index}/_search"), Some(&query));
    assert_eq!(status, 200, "{raw}");
    assert_eq!(
        raw["_shards"]["failed"], 1,
        "the engine's own default: a partial answer {raw}"
    );
    match store.search(index, &query) {
        Err(StoreError::Unavailable(why)) => {
            eprintln!("two nodes: a search missing a shard fails: {why}")
        }
        other => panic!("a search missing a shard must fail as unavailable, got {other:?}"),
    }
}
