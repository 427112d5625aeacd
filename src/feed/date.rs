//! Lenient date parsing for feed timestamps (RSS `pubDate`, `dc:date`, Atom and JSON dates).
//!
//! Replaces feed-rs's own lenient parser (its builder takes one parser, not a chain) and reads
//! everything that one does plus what real feeds were seen to carry: a weekday without comma
//! (`Tue 11 Jan 2011 01:30:00 GMT`), month names in Portuguese, Spanish, French, German and
//! Italian (`Seg, 24 Set 2018`), US zone names, `2020/1/10 14:03:00`, and ISO 8601 without zone or
//! with a space. A date without a zone is taken as UTC.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Parses a feed timestamp; `None` when nothing sensible can be read.
pub(crate) fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 100 {
        return None;
    }
    iso8601(s).or_else(|| rfc2822ish(s))
}

fn iso8601(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    let b = s.as_bytes();
    // Must start with YYYY-MM-DD (or YYYY/MM/DD).
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || !matches!(b[4], b'-' | b'/') {
        return None;
    }
    let (date_part, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let date = NaiveDate::parse_from_str(&date_part.replace('/', "-"), "%Y-%m-%d").ok()?;
    if rest.is_empty() {
        return Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    // Split the time from its zone: Z, ±HH:MM, ±HHMM, ±HH, or a name.
    let zone_at = rest
        .find(|c: char| {
            c == 'Z' || c == 'z' || c == '+' || c == '-' || c.is_ascii_alphabetic() || c == ' '
        })
        .unwrap_or(rest.len());
    let (time_part, zone) = (rest[..zone_at].trim(), rest[zone_at..].trim());
    let time = ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(time_part, f).ok())?;
    let offset = if zone.is_empty() {
        Some(0)
    } else {
        zone_offset(zone)
    }?;
    local_to_utc(date.and_time(time), offset)
}

/// `[Weekday[,]] DD Mon YYYY [HH:MM[:SS]] [zone]`, also `Mon DD YYYY` and `DD.MM.YYYY`-free
/// variants; the weekday is ignored (it is often wrong or localised).
fn rfc2822ish(s: &str) -> Option<DateTime<Utc>> {
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let (mut day, mut month, mut year, mut time, mut offset) = (None, None, None, None, None);
    for t in tokens {
        if time.is_none() && t.contains(':') && t.starts_with(|c: char| c.is_ascii_digit()) {
            time = ["%H:%M:%S", "%H:%M"]
                .iter()
                .find_map(|f| NaiveTime::parse_from_str(t, f).ok());
            if time.is_none() && t.starts_with("24:") {
                time = Some(NaiveTime::MIN);
            }
        } else if t.chars().all(|c| c.is_ascii_digit()) {
            let n: u32 = t.parse().ok()?;
            if t.len() == 4 && year.is_none() {
                year = Some(n as i32);
            } else if day.is_none() && (1..=31).contains(&n) && t.len() <= 2 {
                day = Some(n);
            } else if year.is_none() && t.len() == 2 {
                year = Some(if n < 70 {
                    2000 + n as i32
                } else {
                    1900 + n as i32
                });
            }
        } else if let Some(m) = month_number(t).filter(|_| month.is_none()) {
            month = Some(m);
        } else if time.is_some() && offset.is_none() {
            offset = zone_offset(t);
        }
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
    let dt = date.and_time(time.unwrap_or(NaiveTime::MIN));
    local_to_utc(dt, offset.unwrap_or(0))
}

fn local_to_utc(dt: NaiveDateTime, offset_secs: i32) -> Option<DateTime<Utc>> {
    let off = FixedOffset::east_opt(offset_secs)?;
    off.from_local_datetime(&dt)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

/// Offset in seconds east of UTC for `Z`, `GMT`, `±HHMM`, `±HH:MM`, `±HH` and common names.
fn zone_offset(z: &str) -> Option<i32> {
    let z = z.trim().trim_matches(|c| c == '(' || c == ')');
    if let Some(sign) = z.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
        let (h, m) = match digits.len() {
            1 | 2 => (digits.parse::<i32>().ok()?, 0),
            3 | 4 => {
                let (h, m) = digits.split_at(digits.len() - 2);
                (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)
            }
            _ => return None,
        };
        if h > 23 || m > 59 {
            return None;
        }
        let secs = h * 3600 + m * 60;
        return Some(if sign == '-' { -secs } else { secs });
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "Z" | "UT" | "UTC" | "GMT" | "WET" => 0,
        "BST" | "CET" | "WEST" | "MEZ" => 1,
        "CEST" | "EET" | "MESZ" | "SAST" => 2,
        // AST is read as Arabia Standard Time (the region feedwatch watches), not Atlantic.
        "EEST" | "MSK" | "AST" => 3,
        "IST" => return Some(5 * 3600 + 1800),
        "JST" | "KST" => 9,
        "AEST" => 10,
        "EST" => -5,
        "EDT" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        _ => return None,
    };
    Some(hours * 3600)
}

/// Month from its name or abbreviation in English, Portuguese, Spanish, French, German or
/// Italian (the languages seen in the corpus and the region's feeds), by prefix.
fn month_number(t: &str) -> Option<u32> {
    let t = t.trim_end_matches('.').to_lowercase();
    if t.chars().count() < 3 || !t.chars().all(char::is_alphabetic) {
        return None;
    }
    const MONTHS: [&[&str]; 12] = [
        &["jan", "ene", "gen", "janv"],
        &["feb", "fev", "fév", "févr"],
        &["mar", "mär", "mrz"],
        &["apr", "abr", "avr"],
        &["may", "mai", "mag"],
        &["jun", "juin", "giu"],
        &["jul", "juil", "lug"],
        &["aug", "ago", "aoû", "aou"],
        &["sep", "set"],
        &["oct", "out", "okt", "ott"],
        &["nov"],
        &["dec", "dez", "dic", "déc"],
    ];
    let head: String = t.chars().take(3).collect();
    MONTHS
        .iter()
        .position(|names| names.iter().any(|n| *n == head || t.starts_with(n)))
        .and_then(|i| u32::try_from(i + 1).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_table() {
        let cases = [
            (
                "Tue, 10 Jun 2025 04:00:00 GMT",
                Some("2025-06-10T04:00:00Z"),
            ),
            ("Tue 11 Jan 2011 01:30:00 GMT", Some("2011-01-11T01:30:00Z")),
            ("01 Mar 2013 12:00:00 EST", Some("2013-03-01T17:00:00Z")),
            (
                "Mon, 16 Oct 2017 15:10:00 +0000",
                Some("2017-10-16T15:10:00Z"),
            ),
            (
                "Thurs, 13 July 2011 07:38:00 -0700",
                Some("2011-07-13T14:38:00Z"),
            ),
            (
                "Seg, 24 Set 2018 18:10:00 -0300",
                Some("2018-09-24T21:10:00Z"),
            ),
            ("Sat, 5 Jan 2019 9:05:00 UTC", Some("2019-01-05T09:05:00Z")),
            ("Jun 10 2025 04:00:00 +0100", Some("2025-06-10T03:00:00Z")),
            ("2025-06-10T04:00:00Z", Some("2025-06-10T04:00:00Z")),
            ("2025-06-10T06:00:00+02:00", Some("2025-06-10T04:00:00Z")),
            ("2025-06-10T06:00:00+0200", Some("2025-06-10T04:00:00Z")),
            ("2025-06-10 04:00:00", Some("2025-06-10T04:00:00Z")),
            ("2025-06-10T04:00:00.123Z", Some("2025-06-10T04:00:00Z")),
            ("2025-06-10", Some("2025-06-10T00:00:00Z")),
            ("2020/1/10 14:03:00", Some("2020-01-10T14:03:00Z")),
            // Epoch seconds are not a feed date format; feedparser ignores them too.
            ("1518478934", None),
            ("yesterday", None),
            ("", None),
            ("31 Feb 2020 10:00:00 GMT", None),
        ];
        for (raw, want) in cases {
            let got = parse_date(raw).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            assert_eq!(got.as_deref(), want, "{raw}");
        }
    }
}
