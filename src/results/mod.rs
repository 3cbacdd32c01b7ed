//! Result documents shaped like Elastic ML's `.ml-anomalies-*` (bucket, record, influencer,
//! model_plot), with deterministic ids, and the writer that stores them.
//!
//! Ids are derived from the job, the bucket time, the detector and the partition, so a replay
//! of the same data overwrites instead of duplicating.

mod check;
pub(crate) mod documents;
mod explain;
mod query;
mod writer;

pub use check::{check_target, Alerting, Target};
pub(crate) use documents::{
    bucket_doc, bucket_id, forecast_request_stats_doc, influencer_doc, model_forecast_doc,
    model_plot_doc, record_doc, record_id, ForecastPoint, ForecastRequestStats,
};
pub use documents::{BucketResult, InfluencerResult, ModelPlotPoint, RecordResult, SeriesPoint};
pub(crate) use explain::{explain, explain_frequency, number_text};
pub(crate) use query::next_page;
pub use query::{fetch, partition_label, severity, table, ResultType, ResultsQuery};
pub(crate) use writer::ResultsWriter;
