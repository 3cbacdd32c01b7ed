//! From a job to bucket values: aggregation requests, paged, answered by the store.
