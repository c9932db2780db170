//! The answer's time buckets: hours, days or months that start at local midnight (or on the
//! hour) in the caller's UTC offset (`tz=+08:00`), and which stored rollup rows make them up.
//! Hour rows serve every granularity and offset a whole number of hours; UTC days and months
//! read the day rows, which are 24 times fewer.

use time::{Date, OffsetDateTime, Time, UtcOffset};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
    Month,
}

impl Granularity {
    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "hour" => Some(Granularity::Hour),
            "day" => Some(Granularity::Day),
            "month" => Some(Granularity::Month),
            _ => None,
        }
    }

    /// The span `from` defaults to (before `to`) when the caller names none.
    pub fn default_span_ms(self) -> i64 {
        match self {
            Granularity::Hour => DAY_MS,
            Granularity::Day => 30 * DAY_MS,
            Granularity::Month => 365 * DAY_MS,
        }
    }
}

/// The stored rollup rows: one per UTC hour, and one per UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hour,
    Day,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }

    pub fn floor(self, ms: i64) -> i64 {
        let len = match self {
            Period::Hour => HOUR_MS,
            Period::Day => DAY_MS,
        };
        ms.div_euclid(len) * len
    }
}

/// A fixed UTC offset, as `tz=+08:00` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tz(UtcOffset);

impl Tz {
    pub const UTC: Tz = Tz(UtcOffset::UTC);

    /// `Z`, `UTC`, `+08:00`, `-05:30`, `+0800` or `+08`.
    pub fn parse(s: &str) -> Result<Tz, String> {
        let bad = || format!("`{s}` is not a UTC offset such as +08:00, -05:00 or Z");
        if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
            return Ok(Tz::UTC);
        }
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1i8, &s[1..]),
            Some(b'-') => (-1i8, &s[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) || !(digits.len() == 2 || digits.len() == 4) {
            return Err(bad());
        }
        let hours: i8 = digits[..2].parse().map_err(|_| bad())?;
        let minutes: i8 = if digits.len() == 4 { digits[2..].parse().map_err(|_| bad())? } else { 0 };
        if hours > 14 || minutes > 59 {
            return Err(bad());
        }
        UtcOffset::from_hms(sign * hours, sign * minutes, 0).map(Tz).map_err(|_| bad())
    }

    fn whole_hours(self) -> bool {
        self.0.minutes_past_hour() == 0
    }
}

/// What a stats query covers: buckets of `granularity` in `tz`, made of `period` rows.
#[derive(Debug, Clone, Copy)]
pub struct Buckets {
    pub granularity: Granularity,
    pub tz: Tz,
    pub period: Period,
}

impl Buckets {
    pub fn new(granularity: Granularity, tz: Tz) -> Result<Buckets, String> {
        if granularity != Granularity::Hour && !tz.whole_hours() {
            return Err("day and month buckets need a `tz` of whole hours (the rollups are hourly); \
                        ask for `granularity=hour` with this offset"
                .into());
        }
        let period = if granularity != Granularity::Hour && tz == Tz::UTC { Period::Day } else { Period::Hour };
        Ok(Buckets { granularity, tz, period })
    }

    /// The start of the bucket holding `ms`.
    pub fn floor(&self, ms: i64) -> i64 {
        match self.granularity {
            Granularity::Hour => Period::Hour.floor(ms),
            Granularity::Day => {
                let off = self.tz.0.whole_seconds() as i64 * 1000;
                (ms + off).div_euclid(DAY_MS) * DAY_MS - off
            }
            Granularity::Month => {
                let local = local(ms, self.tz);
                to_ms(Date::from_calendar_date(local.year(), local.month(), 1).expect("day 1 exists"), self.tz)
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(&self, start: i64) -> i64 {
        match self.granularity {
            Granularity::Hour => start + HOUR_MS,
            Granularity::Day => start + DAY_MS,
            Granularity::Month => {
                let d = local(start, self.tz).date();
                let (y, m) = if d.month() == time::Month::December {
                    (d.year() + 1, d.month().next())
                } else {
                    (d.year(), d.month().next())
                };
                to_ms(Date::from_calendar_date(y, m, 1).expect("day 1 exists"), self.tz)
            }
        }
    }

    /// `[from, to)` widened to whole buckets.
    pub fn widen(&self, from: i64, to: i64) -> (i64, i64) {
        let start = self.floor(from);
        let end = if self.floor(to) == to { to } else { self.next(self.floor(to)) };
        (start, end)
    }

    /// A bucket's start as RFC 3339 in the caller's offset.
    pub fn label(&self, start: i64) -> String {
        local(start, self.tz).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    }
}

fn local(ms: i64, tz: Tz) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(tz.0)
}

fn to_ms(date: Date, tz: Tz) -> i64 {
    date.with_time(Time::MIDNIGHT).assume_offset(tz.0).unix_timestamp() * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        crate::clock::parse_timestamp(&serde_json::Value::String(text.into())).unwrap()
    }

    #[test]
    fn offsets_parse_or_say_what_they_want() {
        assert_eq!(Tz::parse("Z").unwrap(), Tz::UTC);
        for ok in ["+08:00", "+0800", "+08", "-05:30"] {
            Tz::parse(ok).unwrap();
        }
        for bad in ["08:00", "+8", "+25:00", "Asia/Shanghai", "+08:60", ""] {
            assert!(Tz::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_days_and_months_start_at_local_midnight() {
        let b = Buckets::new(Granularity::Day, Tz::parse("+08:00").unwrap()).unwrap();
        assert_eq!(b.period, Period::Hour, "a non-UTC day is made of hours");
        let t = at("2026-03-01T15:30:00Z");
        assert_eq!(b.label(b.floor(t)), "2026-03-01T00:00:00+08:00");
        assert_eq!(b.label(b.floor(at("2026-03-01T16:30:00Z"))), "2026-03-02T00:00:00+08:00");
        let m = Buckets::new(Granularity::Month, Tz::parse("-05:00").unwrap()).unwrap();
        assert_eq!(m.label(m.floor(at("2026-03-01T03:00:00Z"))), "2026-02-01T00:00:00-05:00");
        assert_eq!(m.label(m.next(m.floor(at("2026-12-20T00:00:00Z")))), "2027-01-01T00:00:00-05:00");
        let utc = Buckets::new(Granularity::Month, Tz::UTC).unwrap();
        assert_eq!(utc.period, Period::Day);
        assert_eq!(
            utc.widen(at("2026-01-15T00:00:00Z"), at("2026-03-01T00:00:00Z")),
            (at("2026-01-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
        );
        let h = Buckets::new(Granularity::Hour, Tz::parse("+05:30").unwrap()).unwrap();
        assert_eq!(h.label(h.floor(at("2026-03-01T10:20:00Z"))), "2026-03-01T15:30:00+05:30");
        assert!(Buckets::new(Granularity::Day, Tz::parse("+05:30").unwrap()).is_err());
    }
}
