//! Job lifecycle: decides *when* a job advances (lookback, real time, checkpoints, leases,
//! stats) and hands each chunk through datafeed → [`crate::analysis`] → results. What a
//! bucket's values become is [`crate::analysis`]'s business; this module never reaches into
//! a model.
//!
//! `run --once` looks back over the data present for each job, in time chunks, writing
//! results after each chunk; only buckets that ended at least `query_delay` ago are final,
//! the bucket in progress is written as an interim result. Replays are idempotent: result ids
//! are deterministic and the model is deterministic, so a second lookback over the same data
//! writes identical documents.

mod checkpoint;
mod influencers;
mod lease;
mod lookback;
mod realtime;
mod stats;

pub use checkpoint::{fingerprint, load_checkpoint, load_snapshot};
pub use checkpoint::{Checkpoint, STATE_INDEX};
pub use lookback::{run_lookback, run_lookback_range, JobRunner, LookbackRange, LookbackSummary};
pub use realtime::{Clock, JobProgress, ManualClock, Realtime, RealtimeOptions, SystemClock};
pub use stats::{load as load_stats, record_error, JobStats, ModelStats};
