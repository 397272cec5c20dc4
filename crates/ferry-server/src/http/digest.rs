//! `Want-Repr-Digest` and `Repr-Digest` (RFC 9530): a client that asks gets the digest of the
//! whole file (the representation, whatever range it fetches) as `sha-256=:BASE64:` or
//! `sha-512=:BASE64:`. The digest takes a pass over the file before the first byte is sent,
//! bounded by the same server-wide limit as FTP's HASH (`--max-hashing`).
//!
//! This module does NOT compute digests (the file service does) or choose error statuses.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use ferry_proto::digest::Algorithm;

/// `Want-Repr-Digest` (RFC 9530 section 4).
pub(super) const WANT_REPR_DIGEST: HeaderName = HeaderName::from_static("want-repr-digest");
/// `Repr-Digest` (RFC 9530 section 3).
pub(super) const REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");

/// The algorithm the client prefers among those we compute (sha-256, sha-512), from its
/// `Want-Repr-Digest` fields: a dictionary of `name=preference`, 1 (least) to 10 (most), 0
/// meaning "not acceptable"; on a tie, sha-512. `None` when it asks for none we have.
pub(super) fn wanted(headers: &HeaderMap) -> Option<Algorithm> {
    let mut best: Option<(u8, Algorithm)> = None;
    for value in headers.get_all(WANT_REPR_DIGEST) {
        let Ok(text) = value.to_str() else { continue };
        for member in text.split(',') {
            let Some((name, preference)) = member.split_once('=') else {
                continue;
            };
            let algorithm = match name.trim().to_ascii_lowercase().as_str() {
                "sha-256" => Algorithm::Sha256,
                "sha-512" => Algorithm::Sha512,
                _ => continue,
            };
            let Ok(preference) = preference.trim().parse::<u8>() else {
                continue;
            };
            if preference == 0 || preference > 10 {
                continue;
            }
            let better = match best {
                None => true,
                Some((held, held_algorithm)) => {
                    preference > held
                        || (preference == held
                            && algorithm == Algorithm::Sha512
                            && held_algorithm != Algorithm::Sha512)
                }
            };
            if better {
                best = Some((preference, algorithm));
            }
        }
    }
    best.map(|(_, algorithm)| algorithm)
}

/// The `Repr-Digest` value for `digest` made with `algorithm`: `sha-256=:BASE64:`.
pub(super) fn header_value(algorithm: Algorithm, digest: &[u8]) -> Option<HeaderValue> {
    let name = match algorithm {
        Algorithm::Sha256 => "sha-256",
        Algorithm::Sha512 => "sha-512",
        _ => return None,
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
    HeaderValue::from_str(&format!("{name}=:{encoded}:")).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn wants(values: &[&str]) -> Option<Algorithm> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(WANT_REPR_DIGEST, HeaderValue::from_str(value).unwrap());
        }
        wanted(&headers)
    }

    #[test]
    fn preferences() {
        assert_eq!(wants(&[]), None);
        assert_eq!(wants(&["sha-256=1"]), Some(Algorithm::Sha256));
        assert_eq!(wants(&["sha-256=1, sha-512=3"]), Some(Algorithm::Sha512));
        assert_eq!(wants(&["sha-256=5, sha-512=3"]), Some(Algorithm::Sha256));
        assert_eq!(wants(&["sha-256=0"]), None);
        assert_eq!(wants(&["md5=10, unixsum=2"]), None);
        assert_eq!(wants(&["SHA-256=2", "sha-512=2"]), Some(Algorithm::Sha512));
        assert_eq!(wants(&["sha-256=x, sha-512=11"]), None);
    }

    #[test]
    fn value() {
        let value = header_value(Algorithm::Sha256, &[0u8; 32]).unwrap();
        assert_eq!(
            value,
            "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
        );
        assert!(header_value(Algorithm::Md5, &[0u8; 16]).is_none());
    }
}
