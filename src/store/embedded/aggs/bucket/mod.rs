//! Bucket aggregations: each splits the documents into buckets and evaluates the
//! sub-aggregations on each.

mod composite;
mod date_histogram;
mod filter;
mod filters;
mod histogram;
mod terms;

pub(super) use composite::Composite;
pub(crate) use composite::CompositeGroups;
pub(super) use filter::Filter;
pub(super) use filters::Filters;
pub(super) use histogram::Histogram;
#[cfg(test)]
pub(crate) use terms::murmur3_x86_32;
pub(super) use terms::Terms;
