//! Date/time functions: `parse_time` (epoch ms → text with a Joda-Time pattern) and
//! `time_to_epoch` (text → epoch ms with a JDK `DateTimeFormatter` pattern). The pattern engines
//! live in [`joda`] and [`jdk`].

mod jdk;
mod joda;

pub use jdk::parse_to_epoch;
pub use joda::format_joda;

use super::args::{int_floor, text};
use crate::value::{SqlVersion, Value};
use chrono::FixedOffset;
use chrono_tz::Tz;

/// A `parse_time` zone argument: a tz database id, or a Joda fixed-offset id.
enum TimeZoneArg {
    Region(Tz),
    Fixed(FixedOffset, String),
}

/// Resolves a Joda zone id: tz database names (case-sensitive, as in Joda, e.g. "America/Belize",
/// "UTC", "Etc/GMT+5") and offsets `+HH`, `+HH:MM`, `+HHMM` (Joda prints them as `+HH:MM`).
/// Unknown ids → `None` (Undefined).
fn resolve_zone(id: &str) -> Option<TimeZoneArg> {
    if let Ok(tz) = id.parse::<Tz>() {
        return Some(TimeZoneArg::Region(tz));
    }
    let (sign, rest) = match id.as_bytes().first()? {
        b'+' => (1, &id[1..]),
        b'-' => (-1, &id[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let secs = sign * (hours * 3600 + minutes * 60);
    if secs == 0 {
        return Some(TimeZoneArg::Region(Tz::UTC));
    }
    let sign_char = if sign < 0 { '-' } else { '+' };
    let offset = FixedOffset::east_opt(secs)?;
    Some(TimeZoneArg::Fixed(
        offset,
        format!("{sign_char}{hours:02}:{minutes:02}"),
    ))
}

/// `parse_time(pattern, epoch_ms[, zone])`: formats the instant with a Joda-Time pattern in `zone`
/// (default "UTC"). The timestamp is converted to Int (rounded down; numeric Strings accepted).
/// A bad pattern, an unknown zone or a timestamp out of range → Undefined.
pub fn parse_time(args: &[Value], _v: SqlVersion) -> Value {
    let (Some(pattern), Some(ms)) = (args.first().and_then(text), args.get(1).and_then(int_floor))
    else {
        return Value::Undefined;
    };
    let zone = match args.get(2) {
        None => TimeZoneArg::Region(Tz::UTC),
        Some(z) => match text(z).as_deref().and_then(resolve_zone) {
            Some(zone) => zone,
            None => return Value::Undefined,
        },
    };
    let formatted = match zone {
        TimeZoneArg::Region(tz) => {
            joda::from_epoch_millis(ms, &tz).and_then(|dt| format_joda(&pattern, &dt))
        }
        TimeZoneArg::Fixed(offset, id) => joda::from_epoch_millis(ms, &offset)
            .and_then(|dt| joda::format_fixed(&pattern, &dt, &id)),
    };
    formatted.map(Value::String).unwrap_or_default()
}

/// `time_to_epoch(timestamp, pattern)`: parses `timestamp` with a JDK `DateTimeFormatter` pattern;
/// Int epoch milliseconds, or Undefined when it does not parse.
pub fn time_to_epoch(args: &[Value], _v: SqlVersion) -> Value {
    let (Some(input), Some(pattern)) = (args.first().and_then(text), args.get(1).and_then(text))
    else {
        return Value::Undefined;
    };
    parse_to_epoch(&input, &pattern)
        .map(|ms| Value::Int(ms.into()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::SqlVersion::V2016_03_23 as V2;
    use Value::{Bool, Int, Null, Undefined};

    /// The Decimal of a double's shortest spelling (tests spell Decimals as literals).
    #[allow(non_snake_case)]
    fn Decimal(x: f64) -> Value {
        Value::double(x)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn parse_time_doc_example() {
        let args = [
            s("yyyy.MM.dd G 'at' HH:mm:ss z"),
            Int(100000000),
            s("America/Belize"),
        ];
        assert_eq!(parse_time(&args, V2), s("1970.01.01 AD at 21:46:40 CST"));
    }

    #[test]
    fn parse_time_defaults_and_conversions() {
        assert_eq!(parse_time(&[s("yyyy"), Int(1615093443045)], V2), s("2021"));
        assert_eq!(
            parse_time(&[s("yyyy-MM-dd HH:mm:ss.SSS z"), Int(0)], V2),
            s("1970-01-01 00:00:00.000 UTC")
        );
        assert_eq!(
            parse_time(&[s("HH:mm:ss.SSS"), Decimal(1500.9)], V2),
            s("00:00:01.500")
        );
        assert_eq!(parse_time(&[s("HH:mm:ss"), s("1000")], V2), s("00:00:01"));
        assert_eq!(
            parse_time(&[s("HH:mm Z"), Int(0), s("+01:00")], V2),
            s("01:00 +0100")
        );
        assert_eq!(
            parse_time(&[s("HH:mm ZZZ"), Int(0), s("-0530")], V2),
            s("18:30 -05:30")
        );
        assert_eq!(
            parse_time(&[s("HH:mm z"), Int(0), s("+00:00")], V2),
            s("00:00 UTC")
        );
        assert_eq!(parse_time(&[s("yyyy"), Int(-1)], V2), s("1969"));
    }

    #[test]
    fn parse_time_invalid() {
        assert_eq!(
            parse_time(&[s("yyyy"), Int(0), s("Mars/Olympus")], V2),
            Undefined
        );
        assert_eq!(
            parse_time(&[s("yyyy"), Int(0), s("america/belize")], V2),
            Undefined
        );
        assert_eq!(parse_time(&[s("yyyy"), Int(0), s("+25:00")], V2), Undefined);
        assert_eq!(parse_time(&[s("yyyy"), Int(0), Null], V2), Undefined);
        assert_eq!(parse_time(&[s("qqq"), Int(0)], V2), Undefined);
        assert_eq!(parse_time(&[s("yyyy"), Bool(true)], V2), Undefined);
        assert_eq!(parse_time(&[s("yyyy"), s("soon")], V2), Undefined);
        assert_eq!(parse_time(&[Null, Int(0)], V2), Undefined);
        assert_eq!(
            parse_time(&[s("yyyy"), Int(i64::MAX.into())], V2),
            Undefined
        );
    }

    #[test]
    fn time_to_epoch_doc_examples() {
        let cases = [
            (
                "2020-04-03 09:45:18 UTC+01:00",
                "yyyy-MM-dd HH:mm:ss VV",
                1585903518000,
            ),
            ("18 December 2015", "dd MMMM yyyy", 1450396800000),
            (
                "2007-12-03 10:15:30.592 America/Los_Angeles",
                "yyyy-MM-dd HH:mm:ss.SSS z",
                1196705730592,
            ),
        ];
        for (input, pattern, expected) in cases {
            assert_eq!(
                time_to_epoch(&[s(input), s(pattern)], V2),
                Int(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn time_to_epoch_invalid() {
        assert_eq!(time_to_epoch(&[s("nope"), s("yyyy")], V2), Undefined);
        assert_eq!(time_to_epoch(&[Null, s("yyyy")], V2), Undefined);
        assert_eq!(time_to_epoch(&[s("2020"), Undefined], V2), Undefined);
        assert_eq!(
            time_to_epoch(&[s("2020-01-01"), s("yyyy-MM-dd")], V2),
            Int(1577836800000)
        );
    }
}
