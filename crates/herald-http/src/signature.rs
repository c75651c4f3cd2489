//! Signatures by the [Standard Webhooks](https://www.standardwebhooks.com) specification
//! (version 1.0.0), symmetric scheme `v1`.
//!
//! The sender signs `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256 under the
//! subscription's secret and sends three headers:
//!
//! - `webhook-id`: the event id, the same on every attempt (an idempotency key);
//! - `webhook-timestamp`: the attempt's time, in seconds since the Unix epoch;
//! - `webhook-signature`: `v1,<base64 signature>`, several separated by spaces while a
//!   secret is being rotated (one per secret, so either secret verifies).
//!
//! Secrets are shown to people as `whsec_<base64 key>`, with a key of 24 to 64 bytes.
//! The receiver checks that the timestamp is within a tolerance of its clock (five
//! minutes by default), against replays, and compares signatures in constant time.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use rand::RngCore as _;
use sha2::Sha256;

use crate::{HttpError, Result};

/// The header with the webhook's unique id (Herald sends the event id).
pub const WEBHOOK_ID: &str = "webhook-id";
/// The header with the attempt's time, in whole seconds since the Unix epoch.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// The header with the space-separated signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// How far a webhook timestamp may be from the verifier's clock, either way: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The prefix of a serialised symmetric secret.
const SECRET_PREFIX: &str = "whsec_";
/// The identifier of the symmetric signature scheme.
const SCHEME: &str = "v1";
/// The shortest accepted key, in bytes (192 bits).
const MIN_KEY_BYTES: usize = 24;
/// The longest accepted key, in bytes (512 bits).
const MAX_KEY_BYTES: usize = 64;
/// The length of a generated key, in bytes.
const GENERATED_KEY_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// A symmetric signing secret, `whsec_<base64 key>`.
///
/// Its `Debug` output is redacted and it has no `Display`: the text is only available
/// through [`Secret::expose`], which the API calls once, when the secret is created.
#[derive(Clone)]
pub struct Secret {
    text: String,
    key: Vec<u8>,
}

impl Secret {
    /// Generates a new secret with a 32-byte key from the operating system's random
    /// source (through `rand`'s cryptographically secure thread generator).
    pub fn generate() -> Secret {
        let mut key = vec![0_u8; GENERATED_KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        let text = format!("{SECRET_PREFIX}{}", STANDARD.encode(&key));
        Secret { text, key }
    }

    /// Parses `whsec_<base64>` with a key of 24 to 64 bytes.
    ///
    /// The error names the field `secret` and what was expected; it shows only the
    /// length of the text, never the text.
    pub fn parse(text: &str) -> Result<Secret> {
        let invalid = |expected: &str| HttpError::Invalid {
            field: "secret",
            value: format!("<{} characters, not shown>", text.chars().count()),
            expected: expected.to_owned(),
        };
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| invalid("`whsec_` followed by a base64 key"))?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| invalid("`whsec_` followed by standard base64 (with padding)"))?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(invalid("a key of 24 to 64 bytes after `whsec_`"));
        }
        Ok(Secret { text: text.to_owned(), key })
    }

    /// The secret as `whsec_<base64>`. Show it to the subscriber once; never log it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// Signs one request: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let digest = self.mac(id, &timestamp.to_string(), body).finalize().into_bytes();
        format!("{SCHEME},{}", STANDARD.encode(digest))
    }

    /// The HMAC over `{id}.{timestamp}.{body}`, ready to finalise or verify.
    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
            mac.update(part);
        }
        mac
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The `webhook-signature` value for one request: one `v1` signature per secret,
/// separated by spaces (the current secret and, during a rotation, the previous one).
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let signatures: Vec<String> =
        secrets.iter().map(|secret| secret.sign(id, timestamp, body)).collect();
    signatures.join(" ")
}

/// Verifies a received webhook against the current clock and [`DEFAULT_TOLERANCE`].
///
/// `body` must be the raw bytes received, not a re-serialised parse of them.
pub fn verify(secret: &Secret, headers: &HeaderMap, body: &[u8]) -> Result<()> {
    verify_at(secret, headers, body, chrono::Utc::now().timestamp(), DEFAULT_TOLERANCE)
}

/// Verifies a received webhook at time `now` (seconds since the Unix epoch): the three
/// headers are present, the timestamp is within `tolerance` of `now`, and at least one
/// `v1` signature matches, compared in constant time.
pub fn verify_at(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<()> {
    let id = header(headers, WEBHOOK_ID)?;
    let timestamp_text = header(headers, WEBHOOK_TIMESTAMP)?;
    let signatures = header(headers, WEBHOOK_SIGNATURE)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    check_timestamp(timestamp, now, tolerance)?;
    let expected = secret.mac(id, timestamp_text, body);
    let candidates: Vec<Vec<u8>> = v1_signatures(signatures).collect();
    // `verify_slice` compares in constant time.
    if candidates.iter().any(|candidate| expected.clone().verify_slice(candidate).is_ok()) {
        return Ok(());
    }
    Err(HttpError::SignatureMismatch { signatures: candidates.len() })
}

/// The decoded `v1` signatures of a `webhook-signature` value; other schemes (such as
/// the asymmetric `v1a`) and undecodable entries are skipped.
fn v1_signatures(header: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    header
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(scheme, _)| *scheme == SCHEME)
        .filter_map(|(_, signature)| STANDARD.decode(signature).ok())
}

/// The value of a header that verification needs, as text.
fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str> {
    let value = headers.get(name).ok_or(HttpError::MissingHeader { header: name })?;
    value.to_str().map_err(|_| {
        HttpError::invalid(name, &String::from_utf8_lossy(value.as_bytes()), "visible ASCII")
    })
}

/// Parses the decimal seconds of `webhook-timestamp`.
fn parse_timestamp(text: &str) -> Result<i64> {
    let digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    digits.then(|| text.parse::<i64>().ok()).flatten().ok_or_else(|| {
        HttpError::invalid(
            WEBHOOK_TIMESTAMP,
            text,
            "whole seconds since the Unix epoch, in decimal digits",
        )
    })
}

/// Fails unless `timestamp` is within `tolerance` of `now`.
fn check_timestamp(timestamp: i64, now: i64, tolerance: Duration) -> Result<()> {
    if timestamp.abs_diff(now) > tolerance.as_secs() {
        return Err(HttpError::StaleTimestamp { timestamp, now, tolerance });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks reference libraries
    /// (`libraries/rust/src/lib.rs`, `test_sign`, in standard-webhooks/standard-webhooks).
    const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TIMESTAMP: i64 = 1_649_367_553;
    const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(WEBHOOK_ID, id.parse().unwrap());
        headers.insert(WEBHOOK_TIMESTAMP, timestamp.to_string().parse().unwrap());
        headers.insert(WEBHOOK_SIGNATURE, signature.parse().unwrap());
        headers
    }

    fn vector_secret() -> Secret {
        Secret::parse(VECTOR_SECRET).unwrap()
    }

    #[test]
    fn signing_matches_the_reference_test_vector() {
        let signature = vector_secret().sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY);
        assert_eq!(signature, VECTOR_SIGNATURE);
    }

    #[test]
    fn the_reference_test_vector_verifies_at_its_time() {
        let headers = headers(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);
        verify_at(&vector_secret(), &headers, VECTOR_BODY, VECTOR_TIMESTAMP, DEFAULT_TOLERANCE)
            .unwrap();
    }

    #[test]
    fn a_changed_body_id_or_timestamp_fails_verification() {
        let secret = vector_secret();
        let now = VECTOR_TIMESTAMP;
        let tampered_body = headers(VECTOR_ID, now, VECTOR_SIGNATURE);
        let error = verify_at(&secret, &tampered_body, b"{}", now, DEFAULT_TOLERANCE);
        assert!(matches!(error, Err(HttpError::SignatureMismatch { signatures: 1 })));
        let other_id = headers("msg_other", now, VECTOR_SIGNATURE);
        assert!(verify_at(&secret, &other_id, VECTOR_BODY, now, DEFAULT_TOLERANCE).is_err());
        let other_time = headers(VECTOR_ID, now + 1, VECTOR_SIGNATURE);
        assert!(verify_at(&secret, &other_time, VECTOR_BODY, now, DEFAULT_TOLERANCE).is_err());
    }

    #[test]
    fn any_one_of_several_signatures_verifies() {
        let secret = vector_secret();
        let other = Secret::generate();
        let header =
            signature_header(&[other, vector_secret()], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY);
        assert_eq!(header.split(' ').count(), 2);
        let with_asymmetric = format!("v1a,bm90IGEgc2lnbmF0dXJl {header}");
        let headers = headers(VECTOR_ID, VECTOR_TIMESTAMP, &with_asymmetric);
        verify_at(&secret, &headers, VECTOR_BODY, VECTOR_TIMESTAMP, DEFAULT_TOLERANCE).unwrap();
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused_both_ways() {
        let secret = vector_secret();
        for now in [VECTOR_TIMESTAMP - 301, VECTOR_TIMESTAMP + 301] {
            let headers = headers(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);
            let error =
                verify_at(&secret, &headers, VECTOR_BODY, now, DEFAULT_TOLERANCE).unwrap_err();
            assert!(matches!(error, HttpError::StaleTimestamp { .. }), "{error}");
        }
        let headers = headers(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);
        verify_at(&secret, &headers, VECTOR_BODY, VECTOR_TIMESTAMP + 300, DEFAULT_TOLERANCE)
            .unwrap();
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let secret = vector_secret();
        for name in [WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE] {
            let mut headers = headers(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);
            headers.remove(name);
            let error = verify(&secret, &headers, VECTOR_BODY).unwrap_err();
            assert_eq!(error.field(), Some(name));
        }
        let mut headers = headers(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_SIGNATURE);
        headers.insert(WEBHOOK_TIMESTAMP, "-5".parse().unwrap());
        let error = verify(&secret, &headers, VECTOR_BODY).unwrap_err();
        assert_eq!(error.field(), Some(WEBHOOK_TIMESTAMP));
    }

    #[test]
    fn secrets_are_validated_without_showing_them() {
        for bad in ["C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "whsec_!!!", "whsec_c2hvcnQ="] {
            let error = Secret::parse(bad).unwrap_err();
            assert_eq!(error.field(), Some("secret"));
            assert!(!error.to_string().contains(bad), "{error}");
        }
    }

    #[test]
    fn generated_secrets_parse_and_differ() {
        let first = Secret::generate();
        let second = Secret::generate();
        assert!(first.expose().starts_with("whsec_"));
        assert_ne!(first.expose(), second.expose());
        assert_eq!(Secret::parse(first.expose()).unwrap().key.len(), GENERATED_KEY_BYTES);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = vector_secret();
        let shown = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(!shown.contains("C2FVsBQ"), "{shown}");
    }
}
