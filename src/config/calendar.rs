//! Calendars: known periods (maintenance windows, holidays, the Sunday backup) in which a
//! job's buckets produce no results and do not teach the model, as Elastic ML's scheduled
//! events do.
//!
//! A calendar is its own YAML file in the jobs directory, recognised by its top-level key
//! `calendar_id`. Besides Elastic's one-off events (`start_time`, `end_time`), an event may
//! recur: a cron `schedule` with a `duration`, read in a `time_zone`, so a weekly window does
//! not need one event per week. A bucket is inside an event when the two overlap, as Elastic
//! rounds an event out to whole buckets.

use super::check::{parse_schedule, parse_time_zone};
use super::problems::{Positions, Problems};
use chrono::TimeZone;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A calendar file as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tidewatch calendar")]
pub(crate) struct CalendarConfig {
    /// Id of the calendar; same rules as a `job_id`. Required.
    #[schemars(required)]
    pub calendar_id: Option<String>,
    /// Free text. Default: empty.
    pub description: Option<String>,
    /// Jobs the calendar applies to: job ids or job `groups`. Required.
    #[schemars(required)]
    pub job_ids: Option<Vec<String>>,
    /// The events. Default: none.
    pub events: Option<Vec<EventConfig>>,
}

/// `events[]` as written: either `start_time` and `end_time`, or `schedule` and `duration`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventConfig {
    /// Free text shown for the event. Required.
    #[schemars(required)]
    pub description: Option<String>,
    /// Start of a one-off event: epoch milliseconds or ISO 8601. Default: none.
    pub start_time: Option<TimeValue>,
    /// End of a one-off event (exclusive): epoch milliseconds or ISO 8601. Default: none.
    pub end_time: Option<TimeValue>,
    /// tidewatch: cron expression of a recurring event's starts, e.g. `0 2 * * 0` (Sundays at
    /// 02:00). Default: none.
    pub schedule: Option<String>,
    /// tidewatch: how long each occurrence of a recurring event lasts, e.g. `2h`. Default: none.
    #[schemars(regex(pattern = r"^[0-9]+ *(ms|s|m|h|d|w)$"))]
    pub duration: Option<String>,
    /// tidewatch: IANA time zone the `schedule` is read in. Default: `UTC`.
    pub time_zone: Option<String>,
}

/// A time written as epoch milliseconds or as text.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum TimeValue {
    /// Epoch milliseconds.
    Millis(i64),
    /// ISO 8601 text.
    Text(String),
}

/// A checked calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    /// Its id.
    pub calendar_id: String,
    /// Free text.
    pub description: String,
    /// Job ids or groups it applies to.
    pub job_ids: Vec<String>,
    /// Its events.
    pub events: Vec<ScheduledEvent>,
}

/// One event of a calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    /// Free text.
    pub description: String,
    /// When it happens.
    #[serde(flatten)]
    pub when: EventTime,
}

/// When an event happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventTime {
    /// Once, from `start_time` (inclusive) to `end_time` (exclusive), epoch milliseconds.
    Once {
        /// Start, epoch milliseconds.
        start_time: i64,
        /// End, epoch milliseconds.
        end_time: i64,
    },
    /// At every firing of a cron `schedule` in `time_zone`, for `duration_ms`.
    Recurring {
        /// Cron expression (5 or 6 fields).
        schedule: String,
        /// Length of each occurrence, milliseconds.
        duration_ms: i64,
        /// IANA time zone name.
        time_zone: String,
    },
}

impl ScheduledEvent {
    /// Whether the event overlaps `[start, end)` (epoch milliseconds).
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        match &self.when {
            EventTime::Once {
                start_time,
                end_time,
            } => *start_time < end && *end_time > start,
            EventTime::Recurring {
                schedule,
                duration_ms,
                time_zone,
            } => {
                // An occurrence starting at o overlaps when start - duration < o < end.
                let (Ok(cron), Ok(tz)) = (parse_schedule(schedule), parse_time_zone(time_zone))
                else {
                    return false;
                };
                tz.timestamp_millis_opt(start - duration_ms)
                    .single()
                    .and_then(|from| cron.find_next_occurrence(&from, false).ok())
                    .is_some_and(|o| o.timestamp_millis() < end)
            }
        }
    }
}

impl Calendar {
    /// Whether the calendar applies to a job with this id and groups.
    pub fn applies_to(&self, job_id: &str, groups: &[String]) -> bool {
        self.job_ids
            .iter()
            .any(|j| j == job_id || groups.contains(j))
    }

    /// The first event overlapping `[start, end)`, if any.
    pub fn event_overlapping(&self, start: i64, end: i64) -> Option<&ScheduledEvent> {
        self.events.iter().find(|e| e.overlaps(start, end))
    }
}

/// Converts a shape-checked calendar file; `None` with problems when it is not valid.
pub(crate) fn check_calendar(
    raw: &CalendarConfig,
    pos: &Positions,
    p: &mut Problems,
) -> Option<Calendar> {
    let before = p.list.len();
    let id = raw.calendar_id.clone()?;
    if !super::check::valid_job_id(&id) {
        p.at(pos.of("calendar_id"), "calendar_id", format!("`{id}` is not a valid calendar_id; use lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit, at most 64 characters"));
    }
    let job_ids = raw.job_ids.clone()?;
    if job_ids.is_empty() {
        p.at(
            pos.of("job_ids"),
            "job_ids",
            "no jobs; expected job ids or job groups, e.g. `[nginx-requests]`",
        );
    }
    let events: Vec<ScheduledEvent> = raw
        .events
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, e)| check_event(&format!("events[{i}]"), e, pos, p))
        .collect();
    (p.list.len() == before).then(|| Calendar {
        calendar_id: id,
        description: raw.description.clone().unwrap_or_default(),
        job_ids,
        events,
    })
}

fn check_event(
    path: &str,
    e: &EventConfig,
    pos: &Positions,
    p: &mut Problems,
) -> Option<ScheduledEvent> {
    let description = e.description.clone()?;
    let when = match (&e.start_time, &e.end_time, &e.schedule) {
        (Some(s), Some(t), None) => {
            let start_time = event_time(&format!("{path}.start_time"), s, pos, p)?;
            let end_time = event_time(&format!("{path}.end_time"), t, pos, p)?;
            if end_time <= start_time {
                let epath = format!("{path}.end_time");
                p.at(
                    pos.of(&epath),
                    &epath,
                    "the event ends before it starts; expected an end_time after start_time",
                );
                return None;
            }
            EventTime::Once {
                start_time,
                end_time,
            }
        }
        (None, None, Some(schedule)) => recurring(path, schedule, e, pos, p)?,
        _ => {
            p.at(pos.of(path), path, "an event needs either `start_time` and `end_time` (one-off) or `schedule` and `duration` (recurring)");
            return None;
        }
    };
    if e.schedule.is_none() && (e.duration.is_some() || e.time_zone.is_some()) {
        p.at(
            pos.of(path),
            path,
            "`duration` and `time_zone` belong to recurring events (with `schedule`)",
        );
        return None;
    }
    Some(ScheduledEvent { description, when })
}

fn recurring(
    path: &str,
    schedule: &str,
    e: &EventConfig,
    pos: &Positions,
    p: &mut Problems,
) -> Option<EventTime> {
    let spath = format!("{path}.schedule");
    if let Err(msg) = parse_schedule(schedule) {
        p.at(pos.of(&spath), &spath, msg);
        return None;
    }
    let dpath = format!("{path}.duration");
    let Some(text) = &e.duration else {
        p.at(
            pos.of(path),
            &dpath,
            "a recurring event needs `duration`, e.g. `duration: 2h`",
        );
        return None;
    };
    let duration_ms = match crate::time::parse_duration(text) {
        Ok(d) if !d.is_zero() => d.as_millis() as i64,
        Ok(_) => {
            p.at(
                pos.of(&dpath),
                &dpath,
                format!("`{text}` is zero; expected e.g. `2h`"),
            );
            return None;
        }
        Err(msg) => {
            p.at(pos.of(&dpath), &dpath, msg);
            return None;
        }
    };
    let time_zone = e.time_zone.clone().unwrap_or_else(|| "UTC".to_string());
    if let Err(msg) = parse_time_zone(&time_zone) {
        let tpath = format!("{path}.time_zone");
        p.at(pos.of(&tpath), &tpath, msg);
        return None;
    }
    Some(EventTime::Recurring {
        schedule: schedule.to_string(),
        duration_ms,
        time_zone,
    })
}

fn event_time(path: &str, v: &TimeValue, pos: &Positions, p: &mut Problems) -> Option<i64> {
    match v {
        TimeValue::Millis(ms) => Some(*ms),
        TimeValue::Text(t) => {
            let parsed = crate::time::parse_timestamp(t);
            if parsed.is_none() {
                p.at(pos.of(path), path, format!("`{t}` is not a time; expected epoch milliseconds or ISO 8601, e.g. `2024-05-06T02:00:00Z`"));
            }
            parsed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    // 2024-05-05 was a Sunday.
    const SUNDAY: i64 = 1_714_867_200_000;

    fn weekly_backup(tz: &str) -> ScheduledEvent {
        ScheduledEvent {
            description: "backup".into(),
            when: EventTime::Recurring {
                schedule: "0 2 * * 0".into(),
                duration_ms: 2 * HOUR,
                time_zone: tz.into(),
            },
        }
    }

    #[test]
    fn a_recurring_event_covers_each_occurrence_and_nothing_else() {
        let e = weekly_backup("UTC");
        assert!(!e.overlaps(SUNDAY + HOUR, SUNDAY + 2 * HOUR), "01:00-02:00");
        assert!(
            e.overlaps(SUNDAY + 2 * HOUR, SUNDAY + 3 * HOUR),
            "02:00-03:00"
        );
        assert!(
            e.overlaps(SUNDAY + 3 * HOUR, SUNDAY + 4 * HOUR),
            "03:00-04:00"
        );
        assert!(
            !e.overlaps(SUNDAY + 4 * HOUR, SUNDAY + 5 * HOUR),
            "04:00-05:00"
        );
        let next_week = SUNDAY + 7 * 24 * HOUR;
        assert!(e.overlaps(next_week + 2 * HOUR, next_week + 3 * HOUR));
        assert!(
            !e.overlaps(SUNDAY + 26 * HOUR, SUNDAY + 27 * HOUR),
            "Monday"
        );
        // In Berlin (UTC+2 in May) 02:00 is 00:00 UTC.
        let berlin = weekly_backup("Europe/Berlin");
        assert!(berlin.overlaps(SUNDAY, SUNDAY + HOUR));
        assert!(!berlin.overlaps(SUNDAY + 2 * HOUR, SUNDAY + 3 * HOUR));
    }

    #[test]
    fn a_one_off_event_covers_every_bucket_it_touches() {
        let e = ScheduledEvent {
            description: "upgrade".into(),
            when: EventTime::Once {
                start_time: SUNDAY + HOUR / 2,
                end_time: SUNDAY + 2 * HOUR,
            },
        };
        assert!(
            e.overlaps(SUNDAY, SUNDAY + HOUR),
            "starts inside the bucket"
        );
        assert!(e.overlaps(SUNDAY + HOUR, SUNDAY + 2 * HOUR));
        assert!(
            !e.overlaps(SUNDAY + 2 * HOUR, SUNDAY + 3 * HOUR),
            "end is exclusive"
        );
    }
}
