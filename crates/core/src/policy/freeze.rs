//! Change freezes: fixed windows (a sales weekend) and weekly ones (Friday evenings).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc, Weekday};

use super::operation::Operation;

/// A time of day, `HH:MM`, from `00:00` to `24:00` (the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    /// Minutes since midnight, 0..=1440.
    pub minutes: u32,
}

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid time {s:?}; expected HH:MM from 00:00 to 24:00, e.g. 16:00");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u32 = h.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(TimeOfDay {
            minutes: h * 60 + m,
        })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// A fixed offset from UTC: `UTC`, `Z`, or `+HH:MM` / `-HH:MM`. Named zones with daylight
/// saving are not supported, so a window never shifts by an hour unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UtcOffset {
    /// Seconds east of UTC.
    pub seconds: i32,
}

impl FromStr for UtcOffset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid timezone {s:?}; expected UTC or a fixed offset such as +01:00 or -05:00 \
                 (named zones are not supported)"
            )
        };
        if s == "UTC" || s == "Z" || s == "utc" {
            return Ok(UtcOffset { seconds: 0 });
        }
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1, &s[1..]),
            Some(b'-') => (-1, &s[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: i32 = h.parse().map_err(|_| bad())?;
        let m: i32 = m.parse().map_err(|_| bad())?;
        if h > 14 || m > 59 {
            return Err(bad());
        }
        Ok(UtcOffset {
            seconds: sign * (h * 3600 + m * 60),
        })
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("UTC");
        }
        let sign = if self.seconds < 0 { '-' } else { '+' };
        let abs = self.seconds.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60)
    }
}

/// When a freeze holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FreezeSchedule {
    /// From `start` (included) to `end` (excluded).
    Fixed {
        /// Start, included.
        start: DateTime<Utc>,
        /// End, excluded.
        end: DateTime<Utc>,
    },
    /// Every week on `days`, from `from` (included) to `to` (excluded), local to `timezone`.
    /// When `to` is not after `from` the window runs past midnight into the next day.
    Weekly {
        /// Days on which the window starts.
        days: Vec<Weekday>,
        /// Start time, included.
        from: TimeOfDay,
        /// End time, excluded.
        to: TimeOfDay,
        /// Offset the times are written in.
        timezone: UtcOffset,
    },
}

/// A named change freeze.
#[derive(Debug, Clone, PartialEq)]
pub struct FreezeWindow {
    /// Name, reported in the decision rule (`freeze: black-friday`).
    pub name: String,
    /// When it holds.
    pub schedule: FreezeSchedule,
    /// Only for these namespaces; empty means the whole cluster.
    pub namespaces: Vec<String>,
    /// Operations still allowed during the freeze (e.g. `restart-pod`).
    pub allow: Vec<Operation>,
}

impl FreezeWindow {
    /// Whether the freeze holds at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        match &self.schedule {
            FreezeSchedule::Fixed { start, end } => *start <= now && now < *end,
            FreezeSchedule::Weekly {
                days,
                from,
                to,
                timezone,
            } => {
                let Some(offset) = FixedOffset::east_opt(timezone.seconds) else {
                    return false;
                };
                let local = now.with_timezone(&offset);
                let second = local.num_seconds_from_midnight();
                let (from_s, to_s) = (from.minutes * 60, to.minutes * 60);
                let today = local.weekday();
                if from_s < to_s {
                    days.contains(&today) && from_s <= second && second < to_s
                } else {
                    // Past midnight: the evening part belongs to today, the morning part to
                    // a window that started yesterday.
                    let yesterday = today.pred();
                    (days.contains(&today) && second >= from_s)
                        || (days.contains(&yesterday) && second < to_s)
                }
            }
        }
    }

    /// Whether the freeze covers an action touching `namespaces` (empty: cluster-scoped).
    pub fn covers(&self, namespaces: &[String]) -> bool {
        self.namespaces.is_empty() || namespaces.iter().any(|ns| self.namespaces.contains(ns))
    }

    /// One line for reports: `black-friday: 2026-11-27T00:00:00Z to 2026-11-30T00:00:00Z`.
    pub fn describe(&self) -> String {
        let when = match &self.schedule {
            FreezeSchedule::Fixed { start, end } => format!(
                "{} to {}",
                start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            FreezeSchedule::Weekly {
                days,
                from,
                to,
                timezone,
            } => {
                let days: Vec<String> = days.iter().map(|d| weekday_name(*d).to_string()).collect();
                format!("every {} {from} to {to} {timezone}", days.join(", "))
            }
        };
        let mut line = format!("{}: {when}", self.name);
        if !self.namespaces.is_empty() {
            line.push_str(&format!(" (namespaces {})", self.namespaces.join(", ")));
        }
        if !self.allow.is_empty() {
            let allow: Vec<&str> = self.allow.iter().map(|op| op.as_str()).collect();
            line.push_str(&format!("; still allowed: {}", allow.join(", ")));
        }
        line
    }
}

/// Reads a day name: `mon` … `sun` or the full English name, any case.
pub(crate) fn parse_weekday(s: &str) -> Result<Weekday, String> {
    let lower = s.to_ascii_lowercase();
    let day = match lower.as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => {
            return Err(format!(
                "unknown day {s:?}; expected mon, tue, wed, thu, fri, sat or sun"
            ));
        }
    };
    Ok(day)
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}
