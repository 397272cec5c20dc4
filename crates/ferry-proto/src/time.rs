//! FTP timestamps: `YYYYMMDDHHMMSS[.sss]` in UTC (RFC 3659 section 2.3), and the calendar
//! arithmetic LIST needs. Pure functions of a count of seconds since the Unix epoch.

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01; the inverse of [`civil_from_days`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Broken-down UTC time of `secs` since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
}

impl UtcTime {
    /// Breaks down seconds since the Unix epoch.
    pub fn from_unix(secs: i64) -> UtcTime {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let in_day = secs.rem_euclid(86_400) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: in_day / 3600,
            minute: in_day / 60 % 60,
            second: in_day % 60,
        }
    }
}

/// `YYYYMMDDHHMMSS` for MDTM, MLSD `modify` and MFMT.
pub fn format_timeval(secs: i64) -> String {
    let t = UtcTime::from_unix(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Parses `YYYYMMDDHHMMSS[.sss]` (fraction ignored) to seconds since the epoch.
pub fn parse_timeval(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Everything after the dot is the fraction: a second dot or anything else is refused.
    if let Some(fraction) = fraction
        && (fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| whole[range].parse::<u32>().ok();
    let year = i64::from(number(0..4)?);
    let (month, day) = (number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(8..10)?, number(10..12)?, number(12..14)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59)))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// English three-letter month names, as `ls -l` prints them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_timeval(0), "19700101000000");
        assert_eq!(format_timeval(951_782_400), "20000229000000");
        assert_eq!(format_timeval(1_795_596_215), "20261125084335");
        assert_eq!(format_timeval(-1), "19691231235959");
    }

    #[test]
    fn parse_round_trip() {
        for secs in [
            0,
            1,
            951_782_400,
            1_795_596_215,
            4_102_444_800,
            253_402_300_799,
        ] {
            assert_eq!(parse_timeval(&format_timeval(secs)), Some(secs));
        }
        assert_eq!(parse_timeval("20261125084335.123"), Some(1_795_596_215));
    }

    #[test]
    fn parse_rejects() {
        for bad in [
            "",
            "2026",
            "20261325000000",
            "20260230000000",
            "20261125246000",
            "2026112508433x",
            "20261125084335.",
            // Found by the timeval fuzz target: only the first dot's fraction was checked.
            "20261125084335.1.2",
            "20261125084335.1.x",
            "11111111111111.1111111111111.111)\n))1=101",
        ] {
            assert_eq!(parse_timeval(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_inverse() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
