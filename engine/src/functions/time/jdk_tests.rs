//! Tests of the JDK `DateTimeFormatter` pattern parser.

use super::parse_to_epoch as p;

#[test]
fn doc_examples() {
    assert_eq!(
        p("2020-04-03 09:45:18 UTC+01:00", "yyyy-MM-dd HH:mm:ss VV"),
        Some(1585903518000)
    );
    assert_eq!(p("18 December 2015", "dd MMMM yyyy"), Some(1450396800000));
    assert_eq!(
        p(
            "2007-12-03 10:15:30.592 America/Los_Angeles",
            "yyyy-MM-dd HH:mm:ss.SSS z"
        ),
        Some(1196705730592)
    );
}

#[test]
fn numeric_fields_and_widths() {
    assert_eq!(
        p("2021-03-07T05:04:03.045Z", "yyyy-MM-dd'T'HH:mm:ss.SSSX"),
        Some(1615093443045)
    );
    assert_eq!(p("20210307050403", "yyyyMMddHHmmss"), Some(1615093443000));
    assert_eq!(p("2021-3-7 5:4:3", "u-M-d H:m:s"), Some(1615093443000));
    assert_eq!(p("21-03-07", "yy-MM-dd"), Some(1615075200000));
    assert_eq!(p("2021-066", "yyyy-DDD"), Some(1615075200000));
    assert_eq!(
        p("2021-03-07 05:04:03.0451", "yyyy-MM-dd HH:mm:ss.SSSS"),
        Some(1615093443045)
    );
    // Two letters need exactly two digits.
    assert_eq!(p("2021-3-07", "yyyy-MM-dd"), None);
    assert_eq!(p("2021-03-7", "yyyy-MM-dd"), None);
}

#[test]
fn text_fields() {
    assert_eq!(
        p(
            "Sun, 07 Mar 2021 05:04:03 GMT",
            "EEE, dd MMM yyyy HH:mm:ss z"
        ),
        Some(1615093443000)
    );
    assert_eq!(
        p("Sunday 7 march 2021", "EEEE d MMMM yyyy"),
        Some(1615075200000)
    );
    assert_eq!(
        p("2021-03-07 05:04 PM", "yyyy-MM-dd hh:mm a"),
        Some(1615136640000)
    );
    assert_eq!(
        p("2021-03-07 12:00 AM", "yyyy-MM-dd hh:mm a"),
        Some(1615075200000)
    );
    assert_eq!(p("2021 AD 03 07", "yyyy G MM dd"), Some(1615075200000));
    assert_eq!(p("7 Foo 2021", "d MMM yyyy"), None);
}

#[test]
fn zones_and_offsets() {
    assert_eq!(
        p(
            "2021-07-01 12:00 America/Los_Angeles",
            "yyyy-MM-dd HH:mm VV"
        ),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 12:00 PDT", "yyyy-MM-dd HH:mm z"),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 12:00 -07:00", "yyyy-MM-dd HH:mm XXX"),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 12:00 -0700", "yyyy-MM-dd HH:mm Z"),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 12:00 -07", "yyyy-MM-dd HH:mm x"),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 12:00 GMT-7", "yyyy-MM-dd HH:mm O"),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 19:00 Z", "yyyy-MM-dd HH:mm X"),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 19:00 UTC", "yyyy-MM-dd HH:mm VV"),
        Some(1625166000000)
    );
    assert_eq!(
        p("2021-07-01 12:00 Mars/Olympus", "yyyy-MM-dd HH:mm VV"),
        None
    );
    // Gap: 02:30 does not exist in New York on 2021-03-14, it becomes 03:30 EDT.
    assert_eq!(
        p("2021-03-14 02:30 America/New_York", "yyyy-MM-dd HH:mm VV"),
        Some(1615707000000)
    );
    // Overlap: 01:30 happens twice on 2021-11-07; the earlier offset (EDT) wins.
    assert_eq!(
        p("2021-11-07 01:30 America/New_York", "yyyy-MM-dd HH:mm VV"),
        Some(1636263000000)
    );
}

#[test]
fn optional_sections_and_literals() {
    let pattern = "yyyy-MM-dd['T'HH:mm[:ss]]";
    assert_eq!(p("2021-03-07", pattern), Some(1615075200000));
    assert_eq!(p("2021-03-07T05:04", pattern), Some(1615093440000));
    assert_eq!(p("2021-03-07T05:04:03", pattern), Some(1615093443000));
    assert_eq!(
        p("It's 2021-03-07", "'It''s' yyyy-MM-dd"),
        Some(1615075200000)
    );
}

#[test]
fn failures() {
    assert_eq!(p("2021-03-07 extra", "yyyy-MM-dd"), None);
    assert_eq!(p("2021-02-30", "yyyy-MM-dd"), None);
    assert_eq!(p("2021-03-07 25:00", "yyyy-MM-dd HH:mm"), None);
    assert_eq!(p("05:04", "HH:mm"), None);
    assert_eq!(p("2021-03", "yyyy-MM"), None);
    assert_eq!(p("2021-03-07", "yyyy-MM-dd qq"), None);
    assert_eq!(p("2021-03-07", "yyyy-MM-dd'unterminated"), None);
    assert_eq!(p("2021-03-07", "[yyyy-MM-dd"), None);
    assert_eq!(p("", ""), None);
    assert_eq!(p("99999999999999999999-01-01", "yyyy-MM-dd"), None);
}
