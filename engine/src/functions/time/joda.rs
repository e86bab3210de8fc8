//! A Joda-Time `DateTimeFormat` pattern printer (used by `parse_time`).
//!
//! Supported letters: G (era), C (century), Y (year of era), x (weekyear), w (week of weekyear),
//! e (day of week number), E (day of week text), y (year), D (day of year), M (month), d (day),
//! a (AM/PM), K h H k (hours), m, s, S (fraction of second), z (zone name), Z (offset / id).
//! Text in single quotes is literal, `''` is a quote; other non-letters are literal. Any other
//! ASCII letter is an error, as in Joda (→ `None`). Names are English (Joda's default locale).
//!
//! Zone names come from the tz database abbreviations (chrono-tz), which match Joda's JDK names
//! for the common zones (UTC, CST, PST, CET, GMT...) but not everywhere (tzdb writes "+04" where
//! the JDK says "GST"). Long names (`zzzz`) are known for a handful of abbreviations; other zones
//! print their id.

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::OffsetName;

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Day names, Monday first (ISO order).
pub const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A local date-time with everything the zone letters need.
pub struct ZonedTime {
    pub local: NaiveDateTime,
    pub offset_secs: i32,
    /// Short name for `z` (e.g. "CST"; a fixed-offset zone uses its id).
    pub short_name: String,
    /// Zone id for `ZZZ` (e.g. "America/Belize", "UTC", "+01:00").
    pub id: String,
}

/// Formats a date-time in a chrono-tz zone with a Joda-Time pattern; `None` on a bad pattern.
pub fn format_joda(pattern: &str, dt: &DateTime<chrono_tz::Tz>) -> Option<String> {
    let offset = dt.offset();
    let zoned = ZonedTime {
        local: dt.naive_local(),
        offset_secs: offset.fix().local_minus_utc(),
        short_name: offset.abbreviation().unwrap_or(offset.tz_id()).to_owned(),
        id: offset.tz_id().to_owned(),
    };
    format_zoned(pattern, &zoned)
}

/// Formats a fixed-offset date-time; the zone id is `id` (e.g. "+01:00").
pub fn format_fixed(pattern: &str, dt: &DateTime<chrono::FixedOffset>, id: &str) -> Option<String> {
    let zoned = ZonedTime {
        local: dt.naive_local(),
        offset_secs: dt.offset().local_minus_utc(),
        short_name: id.to_owned(),
        id: id.to_owned(),
    };
    format_zoned(pattern, &zoned)
}

/// Formats `t` with a Joda pattern.
pub fn format_zoned(pattern: &str, t: &ZonedTime) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i = quoted_literal(&chars, i, &mut out);
        } else if c.is_ascii_alphabetic() {
            let mut count = 1;
            while i + count < chars.len() && chars[i + count] == c {
                count += 1;
            }
            print_field(c, count, t, &mut out)?;
            i += count;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

/// Copies a quoted literal starting at `chars[start]` (a quote); returns the index after it.
/// `''` is one quote, inside or outside quotes; an unterminated quote runs to the end.
fn quoted_literal(chars: &[char], start: usize, out: &mut String) -> usize {
    if chars.get(start + 1) == Some(&'\'') {
        out.push('\'');
        return start + 2;
    }
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            return i + 1;
        }
        out.push(chars[i]);
        i += 1;
    }
    i
}

/// Appends `value` zero-padded to `width` digits (the sign is not counted).
fn pad(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let digits = value.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Appends a text field: the full name when `count >= 4`, else the 3-letter short form.
fn text(out: &mut String, name: &str, count: usize) {
    if count >= 4 {
        out.push_str(name);
    } else {
        out.extend(name.chars().take(3));
    }
}

fn print_field(c: char, count: usize, t: &ZonedTime, out: &mut String) -> Option<()> {
    let date = t.local.date();
    let time = t.local.time();
    let year = date.year() as i64;
    let year_of_era = if year <= 0 { 1 - year } else { year };
    match c {
        'G' => out.push_str(if year <= 0 { "BC" } else { "AD" }),
        'C' => pad(out, year_of_era / 100, count),
        'y' | 'Y' | 'x' => {
            let value = match c {
                'y' => year,
                'Y' => year_of_era,
                _ => date.iso_week().year() as i64,
            };
            if count == 2 {
                pad(out, value.rem_euclid(100), 2);
            } else {
                pad(out, value, count);
            }
        }
        'w' => pad(out, date.iso_week().week() as i64, count),
        'e' => pad(out, date.weekday().number_from_monday() as i64, count),
        'E' => text(
            out,
            DAYS[date.weekday().num_days_from_monday() as usize],
            count,
        ),
        'D' => pad(out, date.ordinal() as i64, count),
        'M' if count >= 3 => text(out, MONTHS[date.month0() as usize], count),
        'M' => pad(out, date.month() as i64, count),
        'd' => pad(out, date.day() as i64, count),
        'a' => out.push_str(if time.hour() < 12 { "AM" } else { "PM" }),
        'K' => pad(out, (time.hour() % 12) as i64, count),
        'h' => pad(
            out,
            match time.hour() % 12 {
                0 => 12,
                h => h as i64,
            },
            count,
        ),
        'H' => pad(out, time.hour() as i64, count),
        'k' => pad(
            out,
            match time.hour() {
                0 => 24,
                h => h as i64,
            },
            count,
        ),
        'm' => pad(out, time.minute() as i64, count),
        's' => pad(out, time.second() as i64, count),
        'S' => fraction(out, (time.nanosecond() % 1_000_000_000) / 1_000_000, count),
        'z' if count >= 4 => out.push_str(long_zone_name(&t.short_name).unwrap_or(&t.id)),
        'z' => out.push_str(&t.short_name),
        'Z' if count >= 3 => out.push_str(&t.id),
        'Z' => offset(out, t.offset_secs, count == 2),
        _ => return None,
    }
    Some(())
}

/// Fraction of second from milliseconds, `count` digits, truncated (Joda has ms precision).
fn fraction(out: &mut String, millis: u32, count: usize) {
    let three = format!("{millis:03}");
    if count <= 3 {
        out.push_str(&three[..count]);
    } else {
        out.push_str(&three);
        out.push_str(&"0".repeat(count - 3));
    }
}

/// `+HHMM` or, with `colon`, `+HH:MM`; seconds are appended when non-zero.
fn offset(out: &mut String, secs: i32, colon: bool) {
    out.push(if secs < 0 { '-' } else { '+' });
    let abs = secs.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    let sep = if colon { ":" } else { "" };
    out.push_str(&format!("{h:02}{sep}{m:02}"));
    if s != 0 {
        out.push_str(&format!("{sep}{s:02}"));
    }
}

/// Long names of common zone abbreviations (the JDK's English names).
fn long_zone_name(short: &str) -> Option<&'static str> {
    Some(match short {
        "UTC" => "Coordinated Universal Time",
        "GMT" => "Greenwich Mean Time",
        "EST" => "Eastern Standard Time",
        "EDT" => "Eastern Daylight Time",
        "CST" => "Central Standard Time",
        "CDT" => "Central Daylight Time",
        "MST" => "Mountain Standard Time",
        "MDT" => "Mountain Daylight Time",
        "PST" => "Pacific Standard Time",
        "PDT" => "Pacific Daylight Time",
        "CET" => "Central European Time",
        "CEST" => "Central European Summer Time",
        "BST" => "British Summer Time",
        "JST" => "Japan Standard Time",
        _ => return None,
    })
}

/// A zoned date-time from epoch milliseconds.
/// Instants beyond ±200,000 years are refused (chrono's range ends near ±262,000 years).
pub fn from_epoch_millis<Tz: TimeZone>(ms: i64, tz: &Tz) -> Option<DateTime<Tz>> {
    const LIMIT: i64 = 6_300_000_000_000_000;
    if !(-LIMIT..=LIMIT).contains(&ms) {
        return None;
    }
    DateTime::from_timestamp_millis(ms).map(|utc| utc.with_timezone(tz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn fmt(pattern: &str, ms: i64, zone: &str) -> Option<String> {
        let tz: Tz = zone.parse().unwrap();
        format_joda(pattern, &from_epoch_millis(ms, &tz).unwrap())
    }

    #[test]
    fn doc_example() {
        let got = fmt("yyyy.MM.dd G 'at' HH:mm:ss z", 100000000, "America/Belize");
        assert_eq!(got.as_deref(), Some("1970.01.01 AD at 21:46:40 CST"));
    }

    #[test]
    fn letters() {
        // 2021-03-07T05:04:03.045Z is a Sunday, day 66, ISO week 9.
        let ms = 1615093443045;
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SSSZ", ms, "UTC").unwrap(),
            "2021-03-07T05:04:03.045+0000"
        );
        assert_eq!(fmt("yy M d H m s S", ms, "UTC").unwrap(), "21 3 7 5 4 3 0");
        assert_eq!(
            fmt("MMM MMMM E EEEE", ms, "UTC").unwrap(),
            "Mar March Sun Sunday"
        );
        assert_eq!(fmt("D DDD w e x", ms, "UTC").unwrap(), "66 066 9 7 2021");
        assert_eq!(fmt("h:mm a K k", ms, "UTC").unwrap(), "5:04 AM 5 5");
        assert_eq!(
            fmt("hh a kk", 1615093443045 + 12 * 3600 * 1000, "UTC").unwrap(),
            "05 PM 17"
        );
        assert_eq!(fmt("k h", 1615075200000, "UTC").unwrap(), "24 12");
        assert_eq!(
            fmt("Z ZZ ZZZ", ms, "America/New_York").unwrap(),
            "-0500 -05:00 America/New_York"
        );
        assert_eq!(
            fmt("z zzzz", ms, "America/New_York").unwrap(),
            "EST Eastern Standard Time"
        );
        assert_eq!(
            fmt("z zzzz", ms, "UTC").unwrap(),
            "UTC Coordinated Universal Time"
        );
        assert_eq!(fmt("Z", ms, "Asia/Kolkata").unwrap(), "+0530");
        assert_eq!(fmt("SSSSS S", ms, "UTC").unwrap(), "04500 0");
        assert_eq!(fmt("y C Y G", ms, "UTC").unwrap(), "2021 20 2021 AD");
    }

    #[test]
    fn quotes_and_errors() {
        assert_eq!(fmt("'o''clock' ''", 0, "UTC").unwrap(), "o'clock '");
        assert_eq!(fmt("'unterminated", 0, "UTC").unwrap(), "unterminated");
        assert_eq!(fmt("yyyy/MM-dd, HH", 0, "UTC").unwrap(), "1970/01-01, 00");
        assert_eq!(fmt("yyyy q", 0, "UTC"), None);
        assert_eq!(fmt("T", 0, "UTC"), None);
        assert_eq!(fmt("", 0, "UTC").unwrap(), "");
    }

    #[test]
    fn negative_years_and_fixed_offsets() {
        // -62198755200000 ms is year -1 (2 BC) in the proleptic ISO calendar.
        assert_eq!(
            fmt("yyyy G Y", -62198755200000, "UTC").unwrap(),
            "-0001 BC 2"
        );
        let fixed = chrono::FixedOffset::east_opt(3600).unwrap();
        let dt = from_epoch_millis(0, &fixed).unwrap();
        assert_eq!(
            format_fixed("HH:mm z ZZ ZZZ", &dt, "+01:00").unwrap(),
            "01:00 +01:00 +01:00 +01:00"
        );
    }
}
