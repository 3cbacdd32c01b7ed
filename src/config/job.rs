//! The validated job: what the rest of tidewatch works with.

use super::calendar::{Calendar, ScheduledEvent};
use super::rules::Rule;
use std::path::PathBuf;
use std::time::Duration;

/// A validated anomaly-detection job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Unique id (`job_id`).
    pub job_id: String,
    /// Free text (`description`).
    pub description: String,
    /// The file the job came from.
    pub source_file: PathBuf,
    /// Width of one bucket (`analysis_config.bucket_span`).
    pub bucket_span: Duration,
    /// What to model (`analysis_config.detectors`), in file order.
    pub detectors: Vec<Detector>,
    /// Fields whose values are blamed for anomalies (`analysis_config.influencers`).
    pub influencers: Vec<String>,
    /// Time field of the source documents (`data_description.time_field`, default `@timestamp`).
    pub time_field: String,
    /// How the source writes times (`data_description.time_format`, default `epoch_ms`);
    /// informative, since aggregations run on the indexed date field.
    pub time_format: String,
    /// Source indices or patterns (`datafeed_config.indices`).
    pub indices: Vec<String>,
    /// Query DSL filter applied to source documents (`datafeed_config.query`), `match_all` by default.
    pub query: serde_json::Value,
    /// How long to wait for late data before analysing a bucket (`datafeed_config.query_delay`).
    pub query_delay: Duration,
    /// How often the datafeed runs in real time (`datafeed_config.frequency`); `None` derives it.
    pub frequency: Option<Duration>,
    /// Page size of each search (`datafeed_config.scroll_size`, default 1000).
    pub scroll_size: usize,
    /// Width of each lookback search window when `datafeed_config.chunking_config.mode` is
    /// `manual`; `None` lets the datafeed choose (`auto`, or `off` for one window).
    pub chunking_time_span: Option<Duration>,
    /// `datafeed_config.chunking_config.mode: off`: the whole lookback in one search window.
    pub chunking_off: bool,
    /// Whether the delayed-data check runs (`datafeed_config.delayed_data_check_config.enabled`).
    pub delayed_check_enabled: bool,
    /// How far back it looks (`check_window`); `None`: the larger of 2h and 8 buckets.
    pub delayed_check_window: Option<Duration>,
    /// Cron schedule (`schedule`), 5 or 6 fields, if given instead of a frequency.
    pub schedule: Option<String>,
    /// Time zone the `schedule` is read in (`schedule_time_zone`, default UTC).
    pub schedule_time_zone: Option<chrono_tz::Tz>,
    /// Whether to write model_plot documents (`model_plot_config.enabled`).
    pub model_plot: bool,
    /// Memory budget for the job's models in bytes (`analysis_limits.model_memory_limit`).
    pub model_memory_limit: u64,
    /// Where results go (`results_index`, default `tidewatch-results`).
    pub results_index: String,
    /// Free-form settings kept with the recorded definition (`custom_settings`).
    pub custom_settings: Option<serde_json::Value>,
    /// Model tuning (`model`).
    pub model: ModelOptions,
    /// Groups the job belongs to (`groups`).
    pub groups: Vec<String>,
    /// The calendars of the jobs directory that name this job or one of its groups.
    pub calendars: Vec<Calendar>,
    /// Fields the datafeed aggregates through another field: a `text` field of the job →
    /// its aggregatable `.keyword` sub-field. Empty in a job file; filled from the source
    /// indices' mappings before the job runs (`datafeed::resolve_fields`).
    pub field_sources: std::collections::BTreeMap<String, String>,
}

impl Job {
    /// The field the datafeed aggregates for the job's field `name`: itself, or the
    /// sub-field it is read through (see [`Job::field_sources`]).
    pub fn agg_field<'a>(&'a self, name: &'a str) -> &'a str {
        self.field_sources.get(name).map_or(name, String::as_str)
    }

    /// How often the datafeed runs in real time: `frequency` if set, else derived from the
    /// bucket span as Elastic ML does (the span itself up to 2m, 1m up to 20m, 10m up to 12h,
    /// else 1h). A `schedule`, when set, takes precedence in the runner.
    pub fn effective_frequency(&self) -> Duration {
        if let Some(f) = self.frequency {
            return f;
        }
        let span = self.bucket_span.as_secs();
        Duration::from_secs(match span {
            0..=120 => span.max(1),
            121..=1200 => 60,
            1201..=43_200 => 600,
            _ => 3600,
        })
    }

    /// The calendar event the bucket starting at `start` falls in (overlaps), if any: such a
    /// bucket produces no results and does not teach the model.
    pub fn scheduled_event(&self, start: i64) -> Option<(&Calendar, &ScheduledEvent)> {
        let end = start + self.bucket_span_ms();
        self.calendars
            .iter()
            .find_map(|c| c.event_overlapping(start, end).map(|e| (c, e)))
    }

    /// The filter lists the job's custom rules name, each once, by id.
    pub fn filter_lists(&self) -> Vec<&super::rules::FilterList> {
        let mut out: Vec<&super::rules::FilterList> = Vec::new();
        let scopes = self
            .detectors
            .iter()
            .flat_map(|d| &d.rules)
            .flat_map(|r| &r.scope);
        for scope in scopes {
            if !out.iter().any(|f| f.filter_id == scope.filter.filter_id) {
                out.push(&scope.filter);
            }
        }
        out.sort_by(|a, b| a.filter_id.cmp(&b.filter_id));
        out
    }

    /// The bucket span in milliseconds, as the datafeed and model use it.
    pub fn bucket_span_ms(&self) -> i64 {
        self.bucket_span.as_millis() as i64
    }
}

/// Model options a job may set.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOptions {
    /// Half-life of the baseline's memory (`model.half_life`, default 14 days).
    pub half_life: Duration,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            half_life: Duration::from_secs(14 * 86_400),
        }
    }
}

/// One detector of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Detector {
    /// Position in `detectors`, used in result ids (`detector_index`).
    pub index: usize,
    /// The analysis function.
    pub function: Function,
    /// The field the function reads (`field_name`), for metric functions.
    pub field_name: Option<String>,
    /// Split: one baseline per value (`by_field_name`).
    pub by_field_name: Option<String>,
    /// Population analysis: each value compared with its peers (`over_field_name`).
    pub over_field_name: Option<String>,
    /// Split: a separate model per value (`partition_field_name`).
    pub partition_field_name: Option<String>,
    /// Human description (`detector_description`), generated when absent.
    pub description: String,
    /// Whether documents missing a split field form their own partition (`use_null`).
    pub use_null: bool,
    /// Custom rules (`custom_rules`), their filter lists resolved.
    pub rules: Vec<Rule>,
}

/// The analysis functions tidewatch supports, named as in Elastic ML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `count`, `high_count`, `low_count` by side.
    Count(Side),
    /// `non_zero_count`, `high_non_zero_count`, `low_non_zero_count`: empty buckets are skipped.
    NonZeroCount(Side),
    /// `distinct_count`, `high_distinct_count`, `low_distinct_count`.
    DistinctCount(Side),
    /// `mean`, `high_mean`, `low_mean` (alias `avg`).
    Mean(Side),
    /// `sum`, `high_sum`, `low_sum`.
    Sum(Side),
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `median`, `high_median`, `low_median`.
    Median(Side),
    /// `varp`, `high_varp`, `low_varp`: population variance of the field.
    Varp(Side),
    /// `info_content`, `high_info_content`, `low_info_content`: information in the strings.
    InfoContent(Side),
    /// `metric`: min, max and mean modelled together.
    MinMaxMean,
    /// `rare`: a `by_field_name` value rarely or never seen (in time, or in the population).
    Rare,
    /// `freq_rare`: a member of the population using a rare value many times.
    FreqRare,
    /// `time_of_day`: an event at an unusual time of day.
    TimeOfDay,
    /// `time_of_week`: an event at an unusual time of week.
    TimeOfWeek,
    /// `lat_long`: a location (a geo_point `field_name`) far from where the entity usually is.
    LatLong,
}

/// Which direction of deviation counts as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Both directions.
    Both,
    /// Only values above typical (`high_*`).
    High,
    /// Only values below typical (`low_*`).
    Low,
}

/// What a function measures per bucket, independent of the side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Number of documents.
    Count,
    /// Number of documents; buckets with none are not modelled.
    NonZeroCount,
    /// Number of distinct values of `field_name`.
    DistinctCount,
    /// Mean of `field_name`.
    Mean,
    /// Sum of `field_name`.
    Sum,
    /// Minimum of `field_name`.
    Min,
    /// Maximum of `field_name`.
    Max,
    /// Median of `field_name`.
    Median,
    /// Population variance of `field_name`.
    Varp,
    /// Information content of the distinct strings of `field_name`.
    InfoContent,
    /// Minimum, maximum and mean of `field_name`, each with its own model.
    MinMaxMean,
    /// Which `by_field_name` values occur (rarity).
    Rare,
    /// Which `by_field_name` values occur and how often (rarity and frequency).
    FreqRare,
    /// When in the day events occur.
    TimeOfDay,
    /// When in the week events occur.
    TimeOfWeek,
    /// Where events occur: the centroid of `field_name` (a geo_point) per group.
    LatLong,
}

impl Function {
    /// All function names accepted in job files.
    pub const NAMES: &'static [&'static str] = &[
        "count",
        "high_count",
        "low_count",
        "non_zero_count",
        "high_non_zero_count",
        "low_non_zero_count",
        "distinct_count",
        "high_distinct_count",
        "low_distinct_count",
        "mean",
        "high_mean",
        "low_mean",
        "avg",
        "high_avg",
        "low_avg",
        "sum",
        "high_sum",
        "low_sum",
        "min",
        "max",
        "median",
        "high_median",
        "low_median",
        "varp",
        "high_varp",
        "low_varp",
        "info_content",
        "high_info_content",
        "low_info_content",
        "metric",
        "rare",
        "freq_rare",
        "time_of_day",
        "time_of_week",
        "lat_long",
    ];

    /// Parses an Elastic ML function name.
    pub fn parse(name: &str) -> Option<Function> {
        let (side, base) = if let Some(b) = name.strip_prefix("high_") {
            (Side::High, b)
        } else if let Some(b) = name.strip_prefix("low_") {
            (Side::Low, b)
        } else {
            (Side::Both, name)
        };
        let f = match base {
            "count" => Function::Count(side),
            "non_zero_count" | "nzc" => Function::NonZeroCount(side),
            "distinct_count" | "dc" => Function::DistinctCount(side),
            "mean" | "avg" => Function::Mean(side),
            "sum" => Function::Sum(side),
            "min" if side == Side::Both => Function::Min,
            "max" if side == Side::Both => Function::Max,
            "median" => Function::Median(side),
            "varp" => Function::Varp(side),
            "info_content" => Function::InfoContent(side),
            "metric" if side == Side::Both => Function::MinMaxMean,
            "rare" if side == Side::Both => Function::Rare,
            "freq_rare" if side == Side::Both => Function::FreqRare,
            "time_of_day" if side == Side::Both => Function::TimeOfDay,
            "time_of_week" if side == Side::Both => Function::TimeOfWeek,
            "lat_long" if side == Side::Both => Function::LatLong,
            _ => return None,
        };
        Some(f)
    }

    /// The Elastic ML name, e.g. `high_count`.
    pub fn name(self) -> String {
        let (side, base) = match self {
            Function::Count(s) => (s, "count"),
            Function::NonZeroCount(s) => (s, "non_zero_count"),
            Function::DistinctCount(s) => (s, "distinct_count"),
            Function::Mean(s) => (s, "mean"),
            Function::Sum(s) => (s, "sum"),
            Function::Min => (Side::Both, "min"),
            Function::Max => (Side::Both, "max"),
            Function::Median(s) => (s, "median"),
            Function::Varp(s) => (s, "varp"),
            Function::InfoContent(s) => (s, "info_content"),
            Function::MinMaxMean => (Side::Both, "metric"),
            Function::Rare => (Side::Both, "rare"),
            Function::FreqRare => (Side::Both, "freq_rare"),
            Function::TimeOfDay => (Side::Both, "time_of_day"),
            Function::TimeOfWeek => (Side::Both, "time_of_week"),
            Function::LatLong => (Side::Both, "lat_long"),
        };
        match side {
            Side::Both => base.to_string(),
            Side::High => format!("high_{base}"),
            Side::Low => format!("low_{base}"),
        }
    }

    /// What is measured per bucket.
    pub fn metric(self) -> Metric {
        match self {
            Function::Count(_) => Metric::Count,
            Function::NonZeroCount(_) => Metric::NonZeroCount,
            Function::DistinctCount(_) => Metric::DistinctCount,
            Function::Mean(_) => Metric::Mean,
            Function::Sum(_) => Metric::Sum,
            Function::Min => Metric::Min,
            Function::Max => Metric::Max,
            Function::Median(_) => Metric::Median,
            Function::Varp(_) => Metric::Varp,
            Function::InfoContent(_) => Metric::InfoContent,
            Function::MinMaxMean => Metric::MinMaxMean,
            Function::Rare => Metric::Rare,
            Function::FreqRare => Metric::FreqRare,
            Function::TimeOfDay => Metric::TimeOfDay,
            Function::TimeOfWeek => Metric::TimeOfWeek,
            Function::LatLong => Metric::LatLong,
        }
    }

    /// Which deviations count.
    pub fn side(self) -> Side {
        match self {
            Function::Count(s)
            | Function::NonZeroCount(s)
            | Function::DistinctCount(s)
            | Function::Mean(s)
            | Function::Sum(s)
            | Function::Median(s)
            | Function::Varp(s)
            | Function::InfoContent(s) => s,
            // Rarity and unusual times are one-sided by nature: only the unlikely is flagged.
            Function::Rare
            | Function::FreqRare
            | Function::TimeOfDay
            | Function::TimeOfWeek
            | Function::LatLong => Side::High,
            Function::Min | Function::Max | Function::MinMaxMean => Side::Both,
        }
    }

    /// Whether the function reads `field_name` (count, rare and time functions must not
    /// have one).
    pub fn needs_field(self) -> bool {
        !matches!(
            self,
            Function::Count(_)
                | Function::NonZeroCount(_)
                | Function::Rare
                | Function::FreqRare
                | Function::TimeOfDay
                | Function::TimeOfWeek
        )
    }

    /// Whether the function is modelled by how often values, times or places occur (a
    /// frequency model) rather than by a baseline of a number per bucket.
    pub fn is_frequency(self) -> bool {
        matches!(
            self,
            Function::Rare
                | Function::FreqRare
                | Function::TimeOfDay
                | Function::TimeOfWeek
                | Function::LatLong
        )
    }
}

impl Detector {
    /// The split fields in the order partition, by, over (those that are set).
    pub fn split_fields(&self) -> impl Iterator<Item = &str> {
        [
            &self.partition_field_name,
            &self.by_field_name,
            &self.over_field_name,
        ]
        .into_iter()
        .filter_map(|f| f.as_deref())
    }
}
