//! The key format from the outside: the published vectors, properties of generated keys,
//! the scanner pattern, typo detection, digit uniformity and masking.
//!
//! `key-vectors.json` is a copy of `docs/key-vectors.json`, the vectors other
//! implementations (scanners, SDKs) check themselves against; if the format changes, both
//! change together.

mod support;

use keyward_core::key::base62;
use keyward_core::key::format::{
    self as key_format, FormatError, BODY_LEN, CHECK_LEN, KEY_PATTERN,
};
use proptest::prelude::*;
use regex::Regex;
use serde::Deserialize;
use support::{OsEntropy, StreamEntropy};

#[derive(Debug, Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    prefix: String,
    body: String,
    crc32: u32,
    check: String,
    key: String,
}

fn vectors() -> Vec<Vector> {
    let v: Vectors = serde_json::from_str(include_str!("key-vectors.json")).unwrap();
    assert!(!v.vectors.is_empty());
    v.vectors
}

/// Where the parts of a well-formed key start: (body, check).
fn parts(key: &str) -> (usize, usize) {
    let check = key.len() - CHECK_LEN;
    (check - 1 - BODY_LEN, check)
}

/// The pattern as a scanner would use it: between non-word boundaries.
fn scanner() -> Regex {
    Regex::new(&format!(r"\b(?:{KEY_PATTERN})\b")).unwrap()
}

fn whole_key() -> Regex {
    Regex::new(&format!(r"^(?:{KEY_PATTERN})$")).unwrap()
}

#[test]
fn every_vector_checks_out() {
    for v in vectors() {
        let prefix_and_body = format!("{}_{}", v.prefix, v.body);
        assert_eq!(
            crc32fast::hash(prefix_and_body.as_bytes()),
            v.crc32,
            "{v:?}"
        );
        assert_eq!(base62::encode_u32(v.crc32, CHECK_LEN), v.check, "{v:?}");
        assert_eq!(key_format::checksum(&prefix_and_body), v.check, "{v:?}");
        assert_eq!(v.key, format!("{prefix_and_body}_{}", v.check));
        let parsed = key_format::parse(&v.key).unwrap_or_else(|e| panic!("{}: {e}", v.key));
        assert_eq!(parsed.prefix(), v.prefix);
        assert_eq!(parsed.as_str(), v.key);
        assert!(whole_key().is_match(&v.key), "{}", v.key);
    }
}

#[test]
fn vectors_with_one_check_digit_off_are_rejected() {
    for v in vectors() {
        let last = v.key.as_bytes()[v.key.len() - 1];
        let other = if last == b'0' { '1' } else { '0' };
        let typo = format!("{}{other}", &v.key[..v.key.len() - 1]);
        assert_eq!(
            key_format::parse(&typo),
            Err(FormatError::Checksum),
            "{typo}"
        );
    }
}

#[test]
fn truncated_padded_and_shifted_keys_are_rejected() {
    let key = &vectors()[0].key;
    assert_eq!(
        key_format::parse(&key[..key.len() - 1]),
        Err(FormatError::Shape)
    );
    // "w_…" is shaped like a key of prefix "w"; the checksum catches it.
    assert_eq!(key_format::parse(&key[1..]), Err(FormatError::Checksum));
    assert_eq!(
        key_format::parse(&format!("{key}0")),
        Err(FormatError::Shape)
    );
    assert_eq!(
        key_format::parse(&format!(" {key}")),
        Err(FormatError::Prefix)
    );
    assert_eq!(
        key_format::parse(&format!("{key}\n")),
        Err(FormatError::Shape)
    );
    let too_long_prefix = format!("{}_{}", "a".repeat(21), &key[3..]);
    assert_eq!(key_format::parse(&too_long_prefix), Err(FormatError::Shape));
}

#[test]
fn mask_shows_only_the_prefix_and_the_last_six() {
    for v in vectors() {
        let masked = key_format::mask(&v.key);
        assert_eq!(masked, format!("{}_****{}", v.prefix, v.check));
        assert!(!masked.contains(&v.body[..8]), "{masked}");
    }
    expect_test::expect!["acme_live_****3Dz7BZ"].assert_eq(&key_format::mask(&vectors()[3].key));
}

/// Prefixes from the grammar `^[a-z][a-z0-9]*(_[a-z0-9]+)*$`, at most 20 characters.
fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9]{0,19}",
        "[a-z][a-z0-9]{0,4}(_[a-z0-9]{1,4}){1,4}",
        "[a-z](_[a-z0-9]){1,9}",
    ]
    .prop_filter("at most 20 characters", |p| p.len() <= 20)
}

/// A byte stream for [`StreamEntropy`]: anything, as long as sampling can make progress.
fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..200)
        .prop_filter("needs a byte below 248", |b| b.iter().any(|&x| x < 248))
}

/// Characters a typo or a paste accident could put into a key.
fn replacements() -> Vec<char> {
    let mut out: Vec<char> = base62::ALPHABET.iter().map(|&b| b as char).collect();
    out.extend(['_', '-', '.', ' ', '+', '/', '=', '\0', 'é', 'Ω']);
    out
}

fn generated(prefix: &str, bytes: Vec<u8>) -> String {
    key_format::generate(prefix, &StreamEntropy::new(bytes)).unwrap()
}

proptest! {
    #[test]
    fn generated_keys_parse_and_match_the_pattern(
        prefix in prefix(),
        bytes in random_bytes(),
        before in "[ =:;,\"'(\\[{<]{1,3}",
        after in "[ =:;,\"')\\]}>.\n]{0,3}",
    ) {
        let grammar = Regex::new("^[a-z][a-z0-9]*(_[a-z0-9]+)*$").unwrap();
        prop_assert!(grammar.is_match(&prefix));
        prop_assert!(key_format::is_valid_prefix(&prefix));

        let key = generated(&prefix, bytes);
        let parsed = key_format::parse(&key);
        prop_assert!(parsed.is_ok(), "{}: {:?}", key, parsed);
        prop_assert_eq!(parsed.unwrap().prefix(), prefix.as_str());
        prop_assert_eq!(key.len(), prefix.len() + 2 + BODY_LEN + CHECK_LEN);
        prop_assert!(whole_key().is_match(&key), "{}", key);

        for text in [
            format!("token={key};"),
            format!("{before}{key}{after}"),
            format!("Authorization: Bearer {key}\r\n"),
            key.clone(),
        ] {
            let found: Vec<&str> = scanner().find_iter(&text).map(|m| m.as_str()).collect();
            prop_assert_eq!(found, vec![key.as_str()], "in {:?}", text);
        }
    }

    #[test]
    fn is_valid_prefix_is_the_grammar_up_to_20(candidate in "[a-z0-9_A-]{0,23}") {
        let grammar = Regex::new("^[a-z][a-z0-9]*(_[a-z0-9]+)*$").unwrap();
        prop_assert_eq!(
            key_format::is_valid_prefix(&candidate),
            grammar.is_match(&candidate) && candidate.len() <= 20,
            "{}", candidate
        );
    }

    #[test]
    fn mask_hides_the_body(prefix in prefix(), bytes in random_bytes()) {
        let key = generated(&prefix, bytes);
        let (body, check) = parts(&key);
        let masked = key_format::mask(&key);
        prop_assert_eq!(&masked, &format!("{prefix}_****{}", &key[check..]));
        prop_assert!(!masked.contains(&key[body..body + 8]));
    }
}

proptest! {
    // Each case parses ~3,000 variants; fewer cases keep the debug build quick.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_single_character_change_is_rejected(prefix in prefix(), bytes in random_bytes()) {
        let key = generated(&prefix, bytes);
        let (body, check) = parts(&key);
        let body_sep = body - 1;
        let check_sep = check - 1;
        for (i, original) in key.char_indices() {
            for c in replacements() {
                if c == original {
                    continue;
                }
                let mut typo = String::with_capacity(key.len() + 2);
                typo.push_str(&key[..i]);
                typo.push(c);
                typo.push_str(&key[i + 1..]);
                let got = key_format::parse(&typo);
                prop_assert!(got.is_err(), "{:?} parsed", typo);
                if !c.is_ascii() {
                    continue;
                }
                let expected = if i == body_sep || i == check_sep {
                    FormatError::Shape
                } else if i < body_sep {
                    if key_format::is_valid_prefix(&typo[..body_sep]) {
                        FormatError::Checksum
                    } else {
                        FormatError::Prefix
                    }
                } else if base62::digit_value(c as u8).is_some() {
                    FormatError::Checksum
                } else {
                    FormatError::Alphabet
                };
                prop_assert_eq!(got, Err(expected), "{:?} at {}", typo, i);
            }
        }
    }
}

/// Pearson's statistic of `counts` against a uniform distribution.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn body_digits_are_uniform() {
    // 20,000 keys from the OS generator: 640,000 digits, ~10,300 expected per digit.
    // With 61 degrees of freedom P(χ² > 150) ≈ 1.9e-9 and P(χ² < 15) ≈ 2.4e-10; for
    // each of the 32 positions (20,000 digits) P(χ² > 180) ≈ 1.1e-13. All told a correct
    // generator fails this test with probability < 1e-8. A modulo bias (byte % 62 without
    // rejection) scores ~3,700 overall; a generator that cycles through digits scores ~0.
    const KEYS: usize = 20_000;
    let mut overall = [0u64; 62];
    let mut by_position = vec![[0u64; 62]; BODY_LEN];
    for _ in 0..KEYS {
        let key = key_format::generate("kw", &OsEntropy).unwrap();
        let (body, check) = parts(&key);
        for (pos, b) in key[body..check - 1].bytes().enumerate() {
            let d = base62::digit_value(b).expect("base62 digit") as usize;
            overall[d] += 1;
            by_position[pos][d] += 1;
        }
    }
    assert_eq!(overall.iter().sum::<u64>(), (KEYS * BODY_LEN) as u64);
    let x = chi_square(&overall);
    assert!(
        (15.0..150.0).contains(&x),
        "χ² = {x:.1} over all digits; counts {overall:?}"
    );
    for (pos, counts) in by_position.iter().enumerate() {
        let x = chi_square(counts);
        assert!(x < 180.0, "χ² = {x:.1} at body position {pos}; {counts:?}");
    }
}
