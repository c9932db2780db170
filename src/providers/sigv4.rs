//! AWS Signature Version 4 for the requests Tollgate sends to Bedrock: a canonical request
//! (method, path encoded again as for every service but S3, sorted query, the signed
//! headers, the body's SHA-256), a string to sign under the scope
//! `DATE/REGION/SERVICE/aws4_request`, and an HMAC-SHA256 chain from the secret key.
//!
//! Checked against AWS's published SigV4 test suite (`tests/fixtures/sigv4/`). HMAC is the
//! `hmac` crate (RustCrypto's, already built for sqlx's PostgreSQL authentication), over the
//! same `sha2`; percent-encoding is the `percent-encoding` crate's, with SigV4's set.

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// What signs a request: the access key pair, and the session token of temporary
/// credentials (sent as `x-amz-security-token` and signed).
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    /// Never prints the secret or the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// The parts of a request the signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// `host[:port]`, exactly as the `Host` header will carry it.
    pub host: &'a str,
    /// The path as it goes on the wire (already percent-encoded once).
    pub path: &'a str,
    /// The query as it goes on the wire, without `?`.
    pub query: &'a str,
    /// Further headers to sign (e.g. `content-type`), names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// What to add to the request: `authorization`, `x-amz-date` and, for temporary
/// credentials, `x-amz-security-token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub headers: Vec<(&'static str, String)>,
    /// The intermediate forms, kept for the test vectors.
    pub canonical_request: String,
    pub string_to_sign: String,
}

/// `YYYYMMDDTHHMMSSZ`, the `x-amz-date` form.
pub fn amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Signs `req` for `service` in `region` at time `now`.
pub fn sign(req: &Request, creds: &AwsCredentials, region: &str, service: &str, now: OffsetDateTime) -> Signature {
    let date_time = amz_date(now);
    let date = &date_time[..8];
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .chain([("host".into(), req.host.into()), ("x-amz-date".into(), date_time.clone())])
        .chain(creds.session_token.iter().map(|t| ("x-amz-security-token".to_string(), t.clone())))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let signed_headers = headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    let canonical_headers: String =
        headers.iter().map(|(n, v)| format!("{n}:{}\n", v.split_whitespace().collect::<Vec<_>>().join(" "))).collect();
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method,
        uri_encode(path, false),
        canonical_query(req.query),
        hex::encode(Sha256::digest(req.body)),
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = [date, region, service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{}", creds.secret_access_key).into_bytes(), |key, part| {
            hmac_sha256(&key, part.as_bytes()).to_vec()
        });
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    let mut out = vec![
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                creds.access_key_id
            ),
        ),
        ("x-amz-date", date_time),
    ];
    if let Some(t) = &creds.session_token {
        out.push(("x-amz-security-token", t.clone()));
    }
    Signature { headers: out, canonical_request, string_to_sign }
}

/// Everything but the unreserved characters `A-Z a-z 0-9 - _ . ~`.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// As [`STRICT`], keeping a path's `/`.
const PATH: &AsciiSet = &STRICT.remove(b'/');

/// Percent-encodes everything but `A-Z a-z 0-9 - _ . ~` (and `/` unless `slash`), with
/// upper-case hex, as SigV4 requires.
fn uri_encode(s: &str, slash: bool) -> String {
    utf8_percent_encode(s, if slash { STRICT } else { PATH }).to_string()
}

/// The canonical query: every name and value normalised to strict encoding, pairs sorted.
fn canonical_query(query: &str) -> String {
    let normal = |s: &str| uri_encode(&percent_decode_str(s).decode_utf8_lossy(), true);
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (normal(n), normal(v))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests;
