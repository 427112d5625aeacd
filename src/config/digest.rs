//! A sink's `digest` schedule (`"hourly :15"`, `"daily 07:00"`, `"weekly mon 07:00"`) and
//! its due-time arithmetic, in UTC.
//!
//! Every schedule is a fixed period (an hour, a day, a week) and an offset into it, so due
//! times are plain integer arithmetic on Unix seconds: no calendar, no time zone database,
//! and no daylight-saving jumps that would make a "daily" period 23 or 25 hours long. UTC is
//! the only zone on purpose; an operator who wants 07:00 in Paris writes 06:00 (or 05:00 in
//! summer), as with cron on a UTC server.

use std::fmt;

use serde::Deserialize;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// 1970-01-01 (Unix second 0) was a Thursday: Monday 00:00 UTC is 4 days into a week
/// counted from the epoch.
const MONDAY_OFFSET: i64 = 4 * DAY;

/// What a scheduled digest's body is: the output of `feedwatch digest --format X`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestFormat {
    /// One JSON object (the default: a webhook receiver is usually a program).
    #[default]
    Json,
    /// A self-contained HTML page, to mail.
    Html,
    /// Plain text, for a chat message or a terminal.
    Text,
}

impl DigestFormat {
    /// The `Content-Type` a webhook sends this format with.
    pub fn content_type(self) -> &'static str {
        match self {
            DigestFormat::Json => "application/json",
            DigestFormat::Html => "text/html; charset=utf-8",
            DigestFormat::Text => "text/plain; charset=utf-8",
        }
    }

    /// The name as written in the config (`json`, `html`, `text`).
    pub fn as_str(self) -> &'static str {
        match self {
            DigestFormat::Json => "json",
            DigestFormat::Html => "html",
            DigestFormat::Text => "text",
        }
    }
}

/// When a digest is due: once per `period` seconds, `offset` seconds into each period
/// counted from the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSchedule {
    period: i64,
    offset: i64,
}

/// Why a schedule string was refused, in words for `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError(String);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; write \"hourly :MM\", \"daily HH:MM\" or \"weekly DAY HH:MM\" (UTC, e.g. \"daily 07:00\")",
            self.0
        )
    }
}

impl DigestSchedule {
    /// Parses `"hourly :MM"`, `"daily HH:MM"` or `"weekly DAY HH:MM"` (DAY: `mon` … `sun`,
    /// or the full English name; case does not matter). Times are UTC.
    ///
    /// # Errors
    /// When the text is none of those forms or a number is out of range.
    pub fn parse(text: &str) -> Result<DigestSchedule, ScheduleError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let bad = |why: String| Err(ScheduleError(why));
        match words.as_slice() {
            [kind, at] if kind.eq_ignore_ascii_case("hourly") => {
                let Some(m) = at.strip_prefix(':').and_then(|m| two_digits(m, 59)) else {
                    return bad(format!("`{at}` is not a minute past the hour like `:15`"));
                };
                Ok(DigestSchedule {
                    period: HOUR,
                    offset: m * 60,
                })
            }
            [kind, at] if kind.eq_ignore_ascii_case("daily") => Ok(DigestSchedule {
                period: DAY,
                offset: clock_time(at).map_err(ScheduleError)?,
            }),
            [kind, day, at] if kind.eq_ignore_ascii_case("weekly") => {
                let Some(d) = weekday(day) else {
                    return bad(format!("`{day}` is not a day of the week (mon … sun)"));
                };
                let offset = (MONDAY_OFFSET + d * DAY + clock_time(at).map_err(ScheduleError)?)
                    .rem_euclid(WEEK);
                Ok(DigestSchedule {
                    period: WEEK,
                    offset,
                })
            }
            _ => bad(format!("`{text}` is not a schedule")),
        }
    }

    /// Length of one period in seconds: the window each digest covers.
    pub fn period(&self) -> i64 {
        self.period
    }

    /// The latest due time at or before `now`.
    pub fn last_due(&self, now: i64) -> i64 {
        now - (now - self.offset).rem_euclid(self.period)
    }

    /// The first due time strictly after `now`.
    pub fn next_due(&self, now: i64) -> i64 {
        self.last_due(now) + self.period
    }

    /// The window `[start, due)` of the period that ends at `due`.
    pub fn window(&self, due: i64) -> (i64, i64) {
        (due - self.period, due)
    }
}

/// `HH:MM` as seconds into the day.
fn clock_time(at: &str) -> Result<i64, String> {
    let parsed = at
        .split_once(':')
        .and_then(|(h, m)| Some((two_digits(h, 23)?, two_digits(m, 59)?)));
    match parsed {
        Some((h, m)) => Ok(h * HOUR + m * 60),
        None => Err(format!("`{at}` is not a time of day like `07:00`")),
    }
}

/// One or two ASCII digits, at most `max`.
fn two_digits(s: &str, max: i64) -> Option<i64> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|n| *n <= max)
}

/// Monday = 0 … Sunday = 6.
fn weekday(s: &str) -> Option<i64> {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let s = s.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| s == *d || (s.len() == 3 && d.starts_with(s.as_str())))
        .and_then(|i| i64::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-03T07:00:00Z, a Thursday.
    const THU_0700: i64 = 1_796_281_200;

    #[test]
    fn parses_the_three_forms() {
        let h = DigestSchedule::parse("hourly :15").expect("hourly");
        assert_eq!((h.period(), h.offset), (HOUR, 15 * 60));
        let d = DigestSchedule::parse("Daily 07:00").expect("daily");
        assert_eq!((d.period(), d.offset), (DAY, 7 * HOUR));
        let w = DigestSchedule::parse("weekly mon 07:00").expect("weekly");
        assert_eq!(
            w,
            DigestSchedule::parse("weekly Monday 7:00").expect("long")
        );
        assert_eq!(w.period(), WEEK);
    }

    #[test]
    fn refuses_what_is_not_a_schedule() {
        for bad in [
            "",
            "daily",
            "daily 7",
            "daily 24:00",
            "daily 07:60",
            "daily 07:00 extra",
            "hourly 15",
            "hourly :75",
            "weekly 07:00",
            "weekly mo 07:00",
            "weekly funday 07:00",
            "monthly 1 07:00",
            "daily +7:00",
            "daily 007:00",
        ] {
            let e = DigestSchedule::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("daily HH:MM"), "{bad}: {e}");
        }
    }

    #[test]
    fn due_times_are_utc_and_half_open() {
        let d = DigestSchedule::parse("daily 07:00").expect("daily");
        assert_eq!(d.last_due(THU_0700), THU_0700, "a due time is its own last");
        assert_eq!(d.last_due(THU_0700 - 1), THU_0700 - DAY);
        assert_eq!(d.next_due(THU_0700), THU_0700 + DAY);
        assert_eq!(d.next_due(THU_0700 - 1), THU_0700);
        assert_eq!(d.window(THU_0700), (THU_0700 - DAY, THU_0700));
        let h = DigestSchedule::parse("hourly :15").expect("hourly");
        assert_eq!(h.last_due(THU_0700), THU_0700 - 45 * 60);
        assert_eq!(h.next_due(THU_0700), THU_0700 + 15 * 60);
        assert_eq!(h.last_due(-1), -45 * 60, "before the epoch too");
    }

    #[test]
    fn weekly_falls_on_the_named_day() {
        let mon = DigestSchedule::parse("weekly mon 07:00").expect("mon");
        // Thursday 07:00 → the Monday before, 3 days earlier; the next one 4 days later.
        assert_eq!(mon.last_due(THU_0700), THU_0700 - 3 * DAY);
        assert_eq!(mon.next_due(THU_0700), THU_0700 + 4 * DAY);
        let thu = DigestSchedule::parse("weekly thu 07:00").expect("thu");
        assert_eq!(thu.last_due(THU_0700), THU_0700);
        let sun = DigestSchedule::parse("weekly sun 23:59").expect("sun");
        assert_eq!(
            sun.next_due(THU_0700),
            THU_0700 + 3 * DAY + 16 * HOUR + 59 * 60
        );
    }
}
