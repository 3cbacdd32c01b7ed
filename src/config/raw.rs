//! The job file as written: structs that mirror the YAML, field for field.
//!
//! Everything is optional here, even what a job must have, so that one missing or mistyped
//! field does not hide the other problems of the file: [`super::check`] reports what is
//! missing and converts the rest into the validated [`super::Job`]. The doc comments become
//! the descriptions in `jobs/schema.json`, so each states its default.
//!
//! Fields Elastic ML has but tidewatch does not implement are declared too (as free-form
//! values marked deprecated in the schema): they parse, then validation rejects them with a
//! message naming what to use instead, rather than a bare "unknown field".

// The unsupported (deprecated) fields are never read in Rust: the shape check finds them through
// the schema and rejects them before the typed parse. Their declarations exist for that.
#![allow(dead_code)]

use schemars::JsonSchema;
use serde::Deserialize;

/// An anomaly-detection job: what to read, how to bucket it, what to model.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tidewatch job")]
pub(crate) struct JobConfig {
    /// Unique id of the job: lowercase letters, digits, `-` and `_`, starting and ending with a
    /// letter or digit, at most 64 characters (Elastic ML's rule). Required.
    #[schemars(
        required,
        length(min = 1, max = 64),
        regex(pattern = r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")
    )]
    pub job_id: Option<String>,
    /// Free text shown with the results. Default: empty.
    pub description: Option<String>,
    /// What to model: bucket span, detectors, influencers. Required.
    #[schemars(required)]
    pub analysis_config: Option<AnalysisConfig>,
    /// How the source documents carry time. Default: `time_field: "@timestamp"`.
    pub data_description: Option<DataDescription>,
    /// Where the documents come from and how often to fetch them. Required (`indices`).
    #[schemars(required)]
    pub datafeed_config: Option<DatafeedConfig>,
    /// Whether to write model_plot results (the model's bounds per bucket). Default: disabled.
    pub model_plot_config: Option<ModelPlotConfig>,
    /// Resource limits. Default: `model_memory_limit: "1024mb"`.
    pub analysis_limits: Option<AnalysisLimits>,
    /// Free-form mapping, e.g. links for dashboards, kept with the job's definition in the
    /// store (`tidewatch jobs show`), as Elastic ML keeps it. Default: none.
    pub custom_settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// tidewatch: cron expression (5 fields `min hour day month weekday`, or 6 with seconds
    /// first) saying when the datafeed runs in real time, instead of `datafeed_config.frequency`.
    /// Default: none (the frequency applies).
    #[schemars(example = "*/15 * * * *")]
    pub schedule: Option<String>,
    /// tidewatch: IANA time zone the `schedule` is read in, e.g. `Europe/Berlin` (so
    /// `0 9 * * *` means 09:00 there, across daylight-saving changes). Default: `UTC`.
    #[schemars(example = "Europe/Berlin")]
    pub schedule_time_zone: Option<String>,
    /// tidewatch: index the result documents are written to. Default: `tidewatch-results`.
    #[schemars(extend("default" = "tidewatch-results"))]
    pub results_index: Option<String>,
    /// tidewatch: model tuning. Default: `half_life: 14d`.
    pub model: Option<ModelSettings>,

    /// Groups the job belongs to (same rules as a `job_id`), so a calendar can name a group
    /// instead of each job. Default: none.
    pub groups: Option<Vec<String>>,
    /// Not supported: use `results_index`.
    #[deprecated]
    pub results_index_name: Option<serde_json::Value>,
    /// Not supported: tidewatch does not renormalize stored results (`record_score` stays
    /// equal to `initial_record_score`); remove it.
    #[deprecated]
    pub renormalization_window_days: Option<serde_json::Value>,
    /// Not supported: delete old results with an index lifecycle policy on `results_index`.
    #[deprecated]
    pub results_retention_days: Option<serde_json::Value>,
    /// Not supported: tidewatch keeps only the latest model snapshot; remove it.
    #[deprecated]
    pub model_snapshot_retention_days: Option<serde_json::Value>,
    /// Not supported: tidewatch keeps only the latest model snapshot; remove it.
    #[deprecated]
    pub daily_model_snapshot_retention_after_days: Option<serde_json::Value>,
    /// Not supported: tidewatch snapshots models after each batch of results; remove it.
    #[deprecated]
    pub background_persist_interval: Option<serde_json::Value>,
    /// Not supported: tidewatch has no ML nodes to wait for; remove it.
    #[deprecated]
    pub allow_lazy_open: Option<serde_json::Value>,
}

/// `analysis_config`: how to bucket time and what to model.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnalysisConfig {
    /// Width of one bucket, e.g. `15m`, `1h`, `1d` (units ms, s, m, h, d, w). Must divide a day
    /// evenly (or be whole days). Required.
    #[schemars(
        required,
        example = "15m",
        regex(pattern = r"^[0-9]+ *(ms|s|m|h|d|w)$")
    )]
    pub bucket_span: Option<String>,
    /// What to model; at least one. Required.
    #[schemars(required)]
    pub detectors: Option<Vec<DetectorConfig>>,
    /// Fields whose values are blamed for anomalies (influencer results): any field of the
    /// source documents, e.g. `source.address` on a count by status code. Default: none.
    pub influencers: Option<Vec<String>>,

    /// Not supported: tidewatch reads raw documents; point the datafeed at them, not at
    /// pre-aggregated ones.
    #[deprecated]
    pub summary_count_field_name: Option<serde_json::Value>,
    /// Not supported: categorization is not implemented; use `count` with `by_field_name` on a
    /// keyword field.
    #[deprecated]
    pub categorization_field_name: Option<serde_json::Value>,
    /// Not supported: categorization is not implemented; use `count` with `by_field_name` on a
    /// keyword field.
    #[deprecated]
    pub categorization_filters: Option<serde_json::Value>,
    /// Not supported: categorization is not implemented; use `count` with `by_field_name` on a
    /// keyword field.
    #[deprecated]
    pub categorization_analyzer: Option<serde_json::Value>,
    /// Not supported: categorization is not implemented; use `count` with `by_field_name` on a
    /// keyword field.
    #[deprecated]
    pub per_partition_categorization: Option<serde_json::Value>,
    /// Not supported: use `datafeed_config.query_delay` to wait for late data.
    #[deprecated]
    pub latency: Option<serde_json::Value>,
    /// Not supported: each by-field value is modelled on its own; remove it.
    #[deprecated]
    pub multivariate_by_fields: Option<serde_json::Value>,
    /// Not supported: set how fast old behaviour is forgotten with `model.half_life`.
    #[deprecated]
    pub model_prune_window: Option<serde_json::Value>,
}

/// One detector: a function over a field, optionally split.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DetectorConfig {
    /// Analysis function: the count family (`count`, `non_zero_count`, `distinct_count`),
    /// `mean`/`avg`, `sum`, `median`, `varp`, `info_content` (each + high/low), `min`, `max`,
    /// `metric`, `rare`, `freq_rare`, `time_of_day`, `time_of_week`, `lat_long`. Required.
    #[schemars(required, extend("enum" = super::job::Function::NAMES))]
    pub function: Option<String>,
    /// Field the function reads; required by every function except the count family, which
    /// must not have one. Default: none.
    pub field_name: Option<String>,
    /// Split: a separate baseline for each value of this field. Default: none.
    pub by_field_name: Option<String>,
    /// Population analysis: each value of this field is compared with its peers. Default: none.
    pub over_field_name: Option<String>,
    /// Split: a separate model (and normalizer) for each value of this field. Default: none.
    pub partition_field_name: Option<String>,
    /// Human description shown in results. Default: generated, e.g. `count by "status"`.
    pub detector_description: Option<String>,
    /// Whether documents missing a split field are analysed as their own (null) value.
    /// Default: `false`.
    #[schemars(extend("default" = false))]
    pub use_null: Option<bool>,

    /// Not supported: write a `datafeed_config.query` that excludes frequent values instead.
    #[deprecated]
    pub exclude_frequent: Option<serde_json::Value>,
    /// Rules that skip results or model updates for some entities or values, e.g.
    /// `[{actions: [skip_result], scope: {client.ip: {filter_id: scanners}}}]`. Default: none.
    pub custom_rules: Option<Vec<super::rules::RuleConfig>>,
    /// Not supported: this Elasticsearch 5 form is replaced by `custom_rules` (Elastic ML's
    /// current shape, with `actions`, `scope` and `conditions`).
    #[deprecated]
    pub detector_rules: Option<serde_json::Value>,
    /// Not supported: detectors are numbered by their position; remove it.
    #[deprecated]
    pub detector_index: Option<serde_json::Value>,
}

/// `data_description`: how the source documents carry time.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataDescription {
    /// The documents' time field (a `date` field in the index). Default: `@timestamp`.
    #[schemars(extend("default" = "@timestamp"))]
    pub time_field: Option<String>,
    /// How times are written: `epoch`, `epoch_ms`, or a date pattern such as
    /// `yyyy-MM-dd'T'HH:mm:ssX`. tidewatch aggregates on the indexed date field, so this is
    /// informative only. Default: `epoch_ms`.
    #[schemars(extend("default" = "epoch_ms"))]
    pub time_format: Option<String>,

    /// Not supported: tidewatch always reads documents from an index; remove it.
    #[deprecated]
    pub format: Option<serde_json::Value>,
    /// Not supported: tidewatch always reads documents from an index; remove it.
    #[deprecated]
    pub field_delimiter: Option<serde_json::Value>,
    /// Not supported: tidewatch always reads documents from an index; remove it.
    #[deprecated]
    pub quote_character: Option<serde_json::Value>,
}

/// `datafeed_config`: where the documents come from and how often to fetch them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatafeedConfig {
    /// Indices, aliases or patterns (`logs-*`) to read. Required, at least one.
    #[schemars(required)]
    pub indices: Option<Vec<String>>,
    /// Elasticsearch query DSL selecting the documents to analyse. Default: `match_all`.
    pub query: Option<serde_json::Map<String, serde_json::Value>>,
    /// How long to wait after a bucket ends before analysing it, for late documents.
    /// Default: `1m`.
    #[schemars(extend("default" = "1m"), regex(pattern = r"^[0-9]+ *(ms|s|m|h|d|w)$"))]
    pub query_delay: Option<String>,
    /// How often to fetch new data in real time. Default: derived from the bucket span
    /// (as Elastic ML: the bucket span up to 2m, 1m up to 20m, 10m up to 12h, else 1h).
    #[schemars(regex(pattern = r"^[0-9]+ *(ms|s|m|h|d|w)$"))]
    pub frequency: Option<String>,
    /// Page size of each search (composite aggregation page). Default: `1000`.
    #[schemars(extend("default" = 1000), range(min = 1, max = 10000))]
    pub scroll_size: Option<u64>,
    /// How the lookback is cut into searches. Default: `mode: auto`.
    pub chunking_config: Option<ChunkingConfig>,

    /// Not supported: tidewatch builds its aggregations from the detectors; remove it.
    #[deprecated]
    pub aggregations: Option<serde_json::Value>,
    /// Not supported: tidewatch builds its aggregations from the detectors; remove it.
    #[deprecated]
    pub aggs: Option<serde_json::Value>,
    /// Not supported: index the derived field at ingest time instead.
    #[deprecated]
    pub script_fields: Option<serde_json::Value>,
    /// Not supported: index the derived field at ingest time instead.
    #[deprecated]
    pub runtime_mappings: Option<serde_json::Value>,
    /// The delayed-data check: after each run, counts the documents that arrived for
    /// buckets already analysed, annotates those buckets and counts the documents in the
    /// job's `delayed_data_count`. Default: `enabled: true`, window the larger of 2h and 8
    /// buckets.
    pub delayed_data_check_config: Option<DelayedDataCheckConfig>,
    /// Not supported: tidewatch keeps running on empty searches; remove it.
    #[deprecated]
    pub max_empty_searches: Option<serde_json::Value>,
    /// Not supported: missing indices are reported as errors; remove it.
    #[deprecated]
    pub indices_options: Option<serde_json::Value>,
    /// Not supported: Elasticsearch 5 mapping types no longer exist; remove it.
    #[deprecated]
    pub types: Option<serde_json::Value>,
    /// Not supported: the datafeed belongs to the job of the same file; remove it.
    #[deprecated]
    pub job_id: Option<serde_json::Value>,
    /// Not supported: the datafeed belongs to the job of the same file; remove it.
    #[deprecated]
    pub datafeed_id: Option<serde_json::Value>,
}

/// `datafeed_config.delayed_data_check_config`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelayedDataCheckConfig {
    /// Whether to run the check. Default: `true`.
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    /// How far back the check looks, e.g. `1d`: at least the bucket span, at most 10,000
    /// buckets. Default: the larger of `2h` and 8 buckets.
    #[schemars(regex(pattern = r"^[0-9]+ *(ms|s|m|h|d|w)$"))]
    pub check_window: Option<String>,
}

/// `datafeed_config.chunking_config`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChunkingConfig {
    /// `auto` (tidewatch picks the search window), `manual` (use `time_span`) or `off` (one
    /// search for the whole lookback). Default: `auto`.
    #[schemars(extend("enum" = ["auto", "manual", "off"], "default" = "auto"))]
    pub mode: Option<String>,
    /// Width of each search window when `mode: manual`, e.g. `1d`. Default: none.
    #[schemars(regex(pattern = r"^[0-9]+ *(ms|s|m|h|d|w)$"))]
    pub time_span: Option<String>,
}

/// `model_plot_config`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelPlotConfig {
    /// Write a model_plot document (typical value and bounds) per bucket and partition.
    /// Default: `false`.
    #[schemars(extend("default" = false))]
    pub enabled: Option<bool>,

    /// Not supported: model plot covers every partition; filter in the dashboard.
    #[deprecated]
    pub terms: Option<serde_json::Value>,
    /// Not supported: tidewatch writes no model-change annotations (its delayed-data
    /// annotations are always written); remove it.
    #[deprecated]
    pub annotations_enabled: Option<serde_json::Value>,
}

/// `analysis_limits`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnalysisLimits {
    /// Memory budget for the job's models, e.g. `64mb`, `1gb` (units b, kb, mb, gb, tb; a bare
    /// number means megabytes, as in Elastic ML). Default: `1024mb`.
    #[schemars(extend("default" = "1024mb"))]
    pub model_memory_limit: Option<MemoryLimit>,

    /// Not supported: categorization is not implemented; remove it.
    #[deprecated]
    pub categorization_examples_limit: Option<serde_json::Value>,
}

/// A memory size written as text (`64mb`) or as a number of megabytes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum MemoryLimit {
    /// A number of megabytes.
    Megabytes(u64),
    /// Text such as `64mb`.
    Text(String),
}

/// `model`: tidewatch's model tuning.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelSettings {
    /// Half-life of the baseline's memory: how fast old behaviour is forgotten, e.g. `14d`.
    /// Default: `14d`.
    #[schemars(extend("default" = "14d"), regex(pattern = r"^[0-9]+ *(ms|s|m|h|d|w)$"))]
    pub half_life: Option<String>,
}
