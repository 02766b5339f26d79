//! Strict RFC 3339 timestamps as Unix seconds. Clarion writes Ruby's `Time#xmlschema`
//! (`2026-11-22T07:00:00+09:00` or `…Z`); fractions of a second are accepted and dropped.
//! Hand-written (about 60 lines) rather than a date crate: we need exactly this one format.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown:?} is not an RFC 3339 timestamp (like 2026-11-22T07:00:00+00:00)")]
pub struct TimestampError {
    shown: String,
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into seconds since 1970-01-01T00:00:00Z.
pub fn parse(s: &str) -> Result<i64, TimestampError> {
    let err = || TimestampError {
        shown: s.chars().take(40).collect(),
    };
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return Err(err());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
        let part = &b[range];
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(err());
        }
        Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |i: usize, allowed: &[u8]| allowed.contains(&b[i]).then_some(()).ok_or_else(err);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt")?;
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    sep(13, b":")?;
    sep(16, b":")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(err());
    }
    // Second 60 is a leap second: RFC 3339 allows it.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(err());
    }
    let mut i = 19;
    if b[i] == b'.' {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err());
        }
        i += 1 + digits;
    }
    let offset = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return Err(err());
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return Err(err()),
    };
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (years 0000–9999).
pub fn format_utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The current time as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vectors() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("1970-01-01T00:00:00+00:00"), Ok(0));
        // `date -d 2026-11-22T07:00:00Z +%s`
        assert_eq!(parse("2026-11-22T07:00:00+00:00"), Ok(1_795_330_800));
        assert_eq!(parse("2026-11-22T16:00:00+09:00"), Ok(1_795_330_800));
        assert_eq!(parse("2026-11-21T21:30:00-09:30"), Ok(1_795_330_800));
        assert_eq!(parse("2026-11-22t07:00:00.123456z"), Ok(1_795_330_800));
        assert_eq!(parse("2000-02-29T00:00:00Z"), Ok(951_782_400));
        assert_eq!(parse("1969-12-31T23:59:59Z"), Ok(-1));
    }

    #[test]
    fn rejects_near_misses() {
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T07:00:00",
            "2026-11-22 07:00:00Z",
            "2026-11-22T07:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T07:60:00Z",
            "2026-11-22T07:00:61Z",
            "2026-11-22T07:00:00.Z",
            "2026-11-22T07:00:00+0900",
            "2026-11-22T07:00:00+24:00",
            "2026-11-22T07:00:00+09:60",
            "2026-11-22T07:00:00ZZ",
            "+026-11-22T07:00:00Z",
            "2026-11-22T07:00:00Z\n",
            "２026-11-22T07:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn error_names_the_value_briefly() {
        let e = parse(&"9".repeat(1000)).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(t in -62_135_596_800i64..253_402_300_799) {
            prop_assert_eq!(parse(&format_utc(t)), Ok(t));
        }

        #[test]
        fn never_panics(s in "\\PC{0,45}") {
            let _ = parse(&s);
        }
    }
}
