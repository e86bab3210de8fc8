//! A parser for JDK `DateTimeFormatter` patterns (used by `time_to_epoch`).
//!
//! Supported letters: G (era), u/y (year; `yy` is 2000-2099), D (day of year), M/L (month, `MMM`
//! and `MMMM` as English text), d, E (day name, checked for syntax only), a (AM/PM), h K k H m s,
//! S (fraction, as many digits as letters), n (nano), VV (zone id), z (zone name or id),
//! O X x Z (offsets). `'text'` is literal, `''` a quote, `[...]` an optional section; other
//! non-letters are literal. Numeric fields follow the JDK widths: one letter is 1..19 digits
//! (giving way to fixed-width fields that follow directly, as in `yyyyMMdd`), two letters exactly
//! two digits. The whole input must be consumed.
//!
//! Resolution: a date needs a year plus month and day (or day of year); missing time fields are 0;
//! no zone means UTC. Zone abbreviations (`z`: PST, CET, ...) map to fixed offsets. In a gap of a
//! region zone the local time moves forward; in an overlap the earlier offset wins (JDK rules).
//! Leniencies (a choice): month and day names are case-insensitive and `MMM`/`MMMM` accept both
//! forms; `h` without `a` is read as a 24-hour value.

use super::joda::{DAYS, MONTHS};
use chrono::{Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;

/// A pattern element.
#[derive(Debug)]
enum Tok {
    Lit(String),
    Field(char, usize),
    Optional(Vec<Tok>),
}

/// A parsed zone.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Fixed(i32),
    Region(Tz),
}

/// Field values collected while parsing.
#[derive(Debug, Clone, Default)]
struct Fields {
    year: Option<i64>,
    year_of_era: Option<i64>,
    bc: bool,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<i64>,
    hour12: Option<i64>,
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    nano: Option<i64>,
    zone: Option<Zone>,
}

/// Parses `input` with a JDK pattern to epoch milliseconds; `None` when the pattern is invalid or
/// the text does not match it.
pub fn parse_to_epoch(input: &str, pattern: &str) -> Option<i64> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut pos = 0;
    let toks = compile(&chars, &mut pos, false)?;
    let text: Vec<char> = input.chars().collect();
    let mut fields = Fields::default();
    let end = parse_seq(&toks, &text, 0, &mut fields)?;
    if end != text.len() {
        return None;
    }
    resolve(&fields)
}

/// Compiles pattern characters from `*pos` up to the end (or the `]` closing an optional section).
fn compile(chars: &[char], pos: &mut usize, nested: bool) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    while *pos < chars.len() {
        let c = chars[*pos];
        match c {
            '\'' => {
                let mut lit = String::new();
                let mut i = *pos + 1;
                if chars.get(i) == Some(&'\'') {
                    lit.push('\'');
                    i += 1;
                } else {
                    loop {
                        match chars.get(i) {
                            None => return None,
                            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                                lit.push('\'');
                                i += 2;
                            }
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(&ch) => {
                                lit.push(ch);
                                i += 1;
                            }
                        }
                    }
                }
                toks.push(Tok::Lit(lit));
                *pos = i;
            }
            '[' => {
                *pos += 1;
                toks.push(Tok::Optional(compile(chars, pos, true)?));
            }
            ']' => {
                *pos += 1;
                return if nested { Some(toks) } else { None };
            }
            '{' | '}' | '#' => return None,
            c if c.is_ascii_alphabetic() => {
                let mut count = 1;
                while chars.get(*pos + count) == Some(&c) {
                    count += 1;
                }
                if !valid_field(c, count) {
                    return None;
                }
                toks.push(Tok::Field(c, count));
                *pos += count;
            }
            c => {
                toks.push(Tok::Lit(c.to_string()));
                *pos += 1;
            }
        }
    }
    if nested { None } else { Some(toks) }
}

fn valid_field(c: char, n: usize) -> bool {
    match c {
        'G' => n <= 5,
        'u' | 'y' => true,
        'D' => n <= 3,
        'M' | 'L' => n <= 4,
        'd' | 'h' | 'K' | 'k' | 'H' | 'm' | 's' => n <= 2,
        'E' => n <= 4,
        'a' => n == 1,
        'S' => n <= 9,
        'n' => true,
        'V' => n == 2,
        'z' => n <= 4,
        'O' => n == 1 || n == 4,
        'X' | 'x' | 'Z' => n <= 5,
        _ => false,
    }
}

/// (min, max) digits of a numeric field, or `None` for text/zone fields.
fn widths(c: char, n: usize) -> Option<(usize, usize)> {
    match c {
        'u' | 'y' if n == 2 => Some((2, 2)),
        'u' | 'y' => Some((n, 19)),
        'M' | 'L' if n >= 3 => None,
        'D' if n == 2 => Some((2, 3)),
        'D' if n == 3 => Some((3, 3)),
        'S' => Some((n, n)),
        'M' | 'L' | 'd' | 'h' | 'K' | 'k' | 'H' | 'm' | 's' | 'D' | 'n' if n == 1 => Some((1, 19)),
        'M' | 'L' | 'd' | 'h' | 'K' | 'k' | 'H' | 'm' | 's' => Some((2, 2)),
        'n' => Some((n, 19)),
        _ => None,
    }
}

/// Parses a token sequence from `pos`; returns the position after it.
fn parse_seq(toks: &[Tok], text: &[char], mut pos: usize, f: &mut Fields) -> Option<usize> {
    for (i, tok) in toks.iter().enumerate() {
        pos = match tok {
            Tok::Lit(lit) => {
                let n = lit.chars().count();
                if text.get(pos..pos + n)?.iter().copied().ne(lit.chars()) {
                    return None;
                }
                pos + n
            }
            Tok::Optional(inner) => {
                let mut attempt = f.clone();
                match parse_seq(inner, text, pos, &mut attempt) {
                    Some(next) => {
                        *f = attempt;
                        next
                    }
                    None => pos,
                }
            }
            Tok::Field(c, n) => match widths(*c, *n) {
                Some((min, max)) => {
                    // Adjacent value parsing: leave room for fixed-width numbers that follow.
                    let reserved: usize = toks[i + 1..]
                        .iter()
                        .map_while(|t| match t {
                            Tok::Field(c2, n2) => {
                                widths(*c2, *n2).filter(|(a, b)| a == b).map(|(a, _)| a)
                            }
                            _ => None,
                        })
                        .sum();
                    let run = text[pos..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    let take = run.saturating_sub(reserved).min(max);
                    if take < min {
                        return None;
                    }
                    let digits: String = text[pos..pos + take].iter().collect();
                    store_number(*c, *n, &digits, f)?;
                    pos + take
                }
                None => parse_text_field(*c, *n, text, pos, f)?,
            },
        };
    }
    Some(pos)
}

fn store_number(c: char, n: usize, digits: &str, f: &mut Fields) -> Option<()> {
    let value: i64 = digits.parse().ok()?;
    let slot = match c {
        'u' | 'y' => {
            let v = if n == 2 { 2000 + value } else { value };
            if c == 'u' {
                f.year = Some(v);
            } else {
                f.year_of_era = Some(v);
            }
            return Some(());
        }
        'M' | 'L' => &mut f.month,
        'd' => &mut f.day,
        'D' => &mut f.day_of_year,
        'H' => &mut f.hour,
        'k' => {
            f.hour = Some(if value == 24 { 0 } else { value });
            return (1..=24).contains(&value).then_some(());
        }
        'h' | 'K' => &mut f.hour12,
        'm' => &mut f.minute,
        's' => &mut f.second,
        'S' => {
            f.nano = Some(value * 10i64.pow(9 - n as u32));
            return Some(());
        }
        'n' => &mut f.nano,
        _ => return None,
    };
    *slot = Some(value);
    Some(())
}

/// Case-insensitive match of one of `names` at `pos` (first listed wins); returns (index, length).
fn match_name(text: &[char], pos: usize, names: &[&str]) -> Option<(usize, usize)> {
    names.iter().enumerate().find_map(|(i, name)| {
        let n = name.chars().count();
        let candidate = text.get(pos..pos + n)?;
        candidate
            .iter()
            .copied()
            .map(|c| c.to_ascii_lowercase())
            .eq(name.chars().map(|c| c.to_ascii_lowercase()))
            .then_some((i, n))
    })
}

fn parse_text_field(
    c: char,
    _n: usize,
    text: &[char],
    pos: usize,
    f: &mut Fields,
) -> Option<usize> {
    match c {
        'M' | 'L' => {
            let shorts: Vec<&str> = MONTHS.iter().map(|m| &m[..3]).collect();
            let (i, len) =
                match_name(text, pos, &MONTHS).or_else(|| match_name(text, pos, &shorts))?;
            f.month = Some(i as i64 + 1);
            Some(pos + len)
        }
        'E' => {
            let shorts: Vec<&str> = DAYS.iter().map(|d| &d[..3]).collect();
            let (_, len) =
                match_name(text, pos, &DAYS).or_else(|| match_name(text, pos, &shorts))?;
            Some(pos + len)
        }
        'a' => {
            let (i, len) = match_name(text, pos, &["AM", "PM"])?;
            f.pm = Some(i == 1);
            Some(pos + len)
        }
        'G' => {
            let names = ["Anno Domini", "Before Christ", "AD", "BC", "A", "B"];
            let (i, len) = match_name(text, pos, &names)?;
            f.bc = i % 2 == 1;
            Some(pos + len)
        }
        'V' => zone_id(text, pos, f),
        'z' => prefixed_offset(text, pos, f)
            .or_else(|| zone_abbreviation(text, pos, f))
            .or_else(|| zone_id(text, pos, f)),
        'O' => {
            let (_, len) = match_name(text, pos, &["GMT"])?;
            let (secs, olen) = offset(text, pos + len).unwrap_or((0, 0));
            f.zone = Some(Zone::Fixed(secs));
            Some(pos + len + olen)
        }
        'X' | 'x' | 'Z' => {
            if c != 'x' && text.get(pos) == Some(&'Z') {
                f.zone = Some(Zone::Fixed(0));
                return Some(pos + 1);
            }
            let (secs, len) = offset(text, pos)?;
            f.zone = Some(Zone::Fixed(secs));
            Some(pos + len)
        }
        _ => None,
    }
}

/// An offset `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS`, `+H`; returns (seconds, length).
fn offset(text: &[char], pos: usize) -> Option<(i32, usize)> {
    let sign = match text.get(pos)? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let mut i = pos + 1;
    let mut parts = Vec::new();
    while parts.len() < 3 {
        if !parts.is_empty()
            && text.get(i) == Some(&':')
            && text.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            i += 1;
        }
        let run = text[i.min(text.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let take = if parts.is_empty() && run % 2 == 1 {
            1
        } else {
            run.min(2)
        };
        if take == 0 {
            break;
        }
        let digits: String = text[i..i + take].iter().collect();
        parts.push(digits.parse::<i32>().ok()?);
        i += take;
    }
    let (h, m, s) = (
        *parts.first()?,
        *parts.get(1).unwrap_or(&0),
        *parts.get(2).unwrap_or(&0),
    );
    if h > 18 || m > 59 || s > 59 {
        return None;
    }
    Some((sign * (h * 3600 + m * 60 + s), i - pos))
}

/// A zone id: `Z`, `UTC`/`GMT`/`UT` with an optional offset, an offset, or a tz database region.
fn zone_id(text: &[char], pos: usize, f: &mut Fields) -> Option<usize> {
    if let Some(next) = prefixed_offset(text, pos, f) {
        return Some(next);
    }
    if let Some((secs, len)) = offset(text, pos) {
        f.zone = Some(Zone::Fixed(secs));
        return Some(pos + len);
    }
    let run = text[pos..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+' | '.' | '~'))
        .count();
    for len in (1..=run).rev() {
        let name: String = text[pos..pos + len].iter().collect();
        if let Ok(tz) = name.parse::<Tz>() {
            f.zone = Some(Zone::Region(tz));
            return Some(pos + len);
        }
    }
    if text.get(pos) == Some(&'Z') {
        f.zone = Some(Zone::Fixed(0));
        return Some(pos + 1);
    }
    None
}

/// `UTC`, `GMT` or `UT` directly followed by an offset (`UTC+01:00`).
fn prefixed_offset(text: &[char], pos: usize, f: &mut Fields) -> Option<usize> {
    let (_, len) = match_name(text, pos, &["UTC", "GMT", "UT"])?;
    let (secs, olen) = offset(text, pos + len)?;
    f.zone = Some(Zone::Fixed(secs));
    Some(pos + len + olen)
}

/// A zone abbreviation from a fixed table (a choice: abbreviations are fixed offsets).
fn zone_abbreviation(text: &[char], pos: usize, f: &mut Fields) -> Option<usize> {
    const TABLE: &[(&str, i32)] = &[
        ("UTC", 0),
        ("GMT", 0),
        ("UT", 0),
        ("Z", 0),
        ("WET", 0),
        ("WEST", 60),
        ("BST", 60),
        ("CET", 60),
        ("CEST", 120),
        ("EET", 120),
        ("EEST", 180),
        ("MSK", 180),
        ("IST", 330),
        ("SGT", 480),
        ("HKT", 480),
        ("AWST", 480),
        ("JST", 540),
        ("KST", 540),
        ("ACST", 570),
        ("AEST", 600),
        ("AEDT", 660),
        ("NZST", 720),
        ("NZDT", 780),
        ("HST", -600),
        ("AKST", -540),
        ("AKDT", -480),
        ("PST", -480),
        ("PDT", -420),
        ("MST", -420),
        ("MDT", -360),
        ("CST", -360),
        ("CDT", -300),
        ("EST", -300),
        ("EDT", -240),
    ];
    let run = text[pos..]
        .iter()
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    let word: String = text[pos..pos + run].iter().collect();
    let (_, minutes) = TABLE.iter().find(|(name, _)| *name == word)?;
    f.zone = Some(Zone::Fixed(minutes * 60));
    Some(pos + run)
}

/// Turns parsed fields into epoch milliseconds.
fn resolve(f: &Fields) -> Option<i64> {
    let year = match (f.year, f.year_of_era) {
        (Some(y), _) => y,
        (None, Some(yoe)) if f.bc => 1 - yoe,
        (None, Some(yoe)) => yoe,
        (None, None) => return None,
    };
    // Far beyond any real timestamp, and keeps chrono's arithmetic away from its range limits.
    if !(-200_000..=200_000).contains(&year) {
        return None;
    }
    let year = year as i32;
    let date = match (f.month, f.day, f.day_of_year) {
        (Some(m), Some(d), _) => {
            NaiveDate::from_ymd_opt(year, u32::try_from(m).ok()?, u32::try_from(d).ok()?)?
        }
        (None, None, Some(doy)) => NaiveDate::from_yo_opt(year, u32::try_from(doy).ok()?)?,
        _ => return None,
    };
    let hour = match (f.hour, f.hour12, f.pm) {
        (Some(h), _, _) => h,
        (None, Some(h), Some(pm)) if (0..=12).contains(&h) => h % 12 + if pm { 12 } else { 0 },
        (None, Some(h), None) => h,
        (None, None, _) => 0,
        _ => return None,
    };
    let nano = f.nano.unwrap_or(0);
    let time = NaiveTime::from_hms_nano_opt(
        u32::try_from(hour).ok()?,
        u32::try_from(f.minute.unwrap_or(0)).ok()?,
        u32::try_from(f.second.unwrap_or(0)).ok()?,
        u32::try_from(nano).ok().filter(|n| *n < 1_000_000_000)?,
    )?;
    let local = NaiveDateTime::new(date, time);
    let utc = match f.zone.unwrap_or(Zone::Fixed(0)) {
        Zone::Fixed(secs) => local.checked_sub_signed(Duration::seconds(secs as i64))?,
        Zone::Region(tz) => match tz.from_local_datetime(&local) {
            LocalResult::Single(dt) => dt.naive_utc(),
            LocalResult::Ambiguous(earlier, _) => earlier.naive_utc(),
            LocalResult::None => {
                // In a gap: use the offset in force just before it, which moves the time forward.
                let day_before = local.checked_sub_signed(Duration::days(1))?;
                let before = tz.offset_from_utc_datetime(&day_before).fix();
                local.checked_sub_signed(Duration::seconds(before.local_minus_utc() as i64))?
            }
        },
    };
    Some(utc.and_utc().timestamp_millis())
}

#[cfg(test)]
#[path = "jdk_tests.rs"]
mod tests;
