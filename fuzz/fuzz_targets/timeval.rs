//! `time::parse_timeval` on any text and `time::format_timeval` on any second of years 0-9999.
//!
//! Asserts: only `YYYYMMDDHHMMSS` with an optional `.digits` fraction is accepted; what is
//! accepted formats back to the same fourteen digits (a leap second `60` reads as `59`); and
//! parse(format(t)) == t for every t from 0000-01-01 to 9999-12-31 23:59:59 UTC.
#![no_main]

use arbitrary::Arbitrary;
use ferry_proto::time;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    text: String,
    secs: i64,
}

/// 0000-01-01 00:00:00 and 9999-12-31 23:59:59 UTC.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;

fn grammar(text: &str) -> bool {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    whole.len() == 14
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

fuzz_target!(|input: Input| {
    if let Some(secs) = time::parse_timeval(&input.text) {
        assert!(grammar(&input.text), "accepted {:?}", input.text);
        assert!((FIRST..=LAST).contains(&secs));
        let mut expected = input.text.as_bytes()[..14].to_vec();
        if &expected[12..] == b"60" {
            expected[12..].copy_from_slice(b"59");
        }
        assert_eq!(time::format_timeval(secs).as_bytes(), expected.as_slice());
    }
    let secs = FIRST + input.secs.rem_euclid(LAST - FIRST + 1);
    let text = time::format_timeval(secs);
    assert_eq!(time::parse_timeval(&text), Some(secs), "{text}");
    assert_eq!(time::parse_timeval(&format!("{text}.999")), Some(secs));
});
