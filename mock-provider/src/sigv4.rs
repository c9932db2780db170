//! Full AWS Signature Version 4 verification, used when the mock is given a secret access
//! key: the canonical request is rebuilt from what arrived (path double-encoded as for every
//! service but S3, sorted query, the signed headers, the body's SHA-256), signed with the key
//! derived from the secret, date, region and service, and compared with the signature sent.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Everything but the unreserved characters `A-Z a-z 0-9 - _ . ~`.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// As [`STRICT`], keeping the path's `/`.
const PATH: &AsciiSet = &STRICT.remove(b'/');

/// What a signature covers, as the request arrived.
pub(crate) struct Signed<'a> {
    pub method: &'a str,
    /// The path as received, percent-encoding included.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The scope and claims of an `Authorization` header.
pub(crate) struct Claim<'a> {
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// HMAC-SHA256 (RFC 2104), the `hmac` crate's.
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The canonical query string: pairs normalized to strict encoding and sorted.
fn canonical_query(query: &str) -> String {
    let normal = |s: &str| utf8_percent_encode(&percent_decode_str(s).decode_utf8_lossy(), STRICT).to_string();
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (normal(name), normal(value))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&")
}

/// The canonical headers block: each signed header's values joined by `,`, trimmed, inner
/// runs of spaces collapsed.
fn canonical_headers(headers: &HeaderMap, signed: &str) -> String {
    let mut out = String::new();
    for name in signed.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// The canonical request of `req` under the claimed signed headers.
fn canonical_request(req: &Signed, claim: &Claim) -> String {
    let path = if req.path.is_empty() { "/" } else { req.path };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        utf8_percent_encode(path, PATH),
        canonical_query(req.query),
        canonical_headers(req.headers, claim.signed_headers),
        claim.signed_headers,
        sha256_hex(req.body),
    )
}

/// The signature `secret` gives `req`.
pub(crate) fn signature(req: &Signed, claim: &Claim, secret: &str) -> String {
    let amz_date = req.headers.get("x-amz-date").and_then(|v| v.to_str().ok()).unwrap_or("");
    let scope = format!("{}/{}/{}/aws4_request", claim.date, claim.region, claim.service);
    let to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request(req, claim).as_bytes()));
    let key = [claim.date, claim.region, claim.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| hmac(&key, part.as_bytes()).to_vec());
    hex::encode(hmac(&key, to_sign.as_bytes()))
}

/// Whether the claimed signature is the one `secret` gives (compared in constant time).
pub(crate) fn verify(req: &Signed, claim: &Claim, secret: &str) -> bool {
    let expected = signature(req, claim, secret);
    expected.len() == claim.signature.len()
        && expected.bytes().zip(claim.signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's SigV4 test suite, `get-vanilla` and `post-vanilla`.
    #[test]
    fn aws_test_vectors() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let claim = |signature| Claim {
            date: "20150830",
            region: "us-east-1",
            service: "service",
            signed_headers: "host;x-amz-date",
            signature,
        };
        let get = Signed { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
        let expected = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert_eq!(signature(&get, &claim(expected), secret), expected);
        assert!(verify(&get, &claim(expected), secret));
        assert!(!verify(&get, &claim(expected), "another secret"));
        let post = Signed { method: "POST", ..get };
        let expected = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
        assert_eq!(signature(&post, &claim(expected), secret), expected);
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
        assert_eq!(utf8_percent_encode("/model/m%3A0/converse", PATH).to_string(), "/model/m%253A0/converse");
    }
}
