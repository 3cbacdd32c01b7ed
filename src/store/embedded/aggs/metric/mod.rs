//! Metric aggregations: each computes values from the documents' column values.

mod cardinality;
mod geo_centroid;
mod percentiles;
mod stats;
mod top_hits;
mod value_count;

pub(super) use cardinality::Cardinality;
pub(super) use geo_centroid::GeoCentroid;
pub(super) use percentiles::Percentiles;
pub(super) use stats::{Stats, StatsAcc};
pub(super) use top_hits::TopHits;
pub(super) use value_count::ValueCount;
