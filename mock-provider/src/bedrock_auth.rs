//! The checks Bedrock makes of a request's AWS Signature Version 4 before anything else: an
//! `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/bedrock/aws4_request,
//! SignedHeaders=..., Signature=...` header and a matching `x-amz-date`, every header the
//! signature claims to cover present; and, when the mock is configured with a secret access
//! key, the signature itself ([`crate::sigv4`]).

use axum::response::Response;

use crate::errors;
use crate::sigv4::{self, Claim, Signed};

/// The parts of a SigV4 `Authorization` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    // Split at the commas that begin a parameter: a scenario access key id
    // (`mock:status=429,times=1`) has commas of its own.
    let starts = ["Credential=", "SignedHeaders=", "Signature="];
    let mut cuts: Vec<usize> = rest
        .match_indices(',')
        .map(|(i, _)| i)
        .filter(|i| starts.iter().any(|s| rest[i + 1..].trim_start().starts_with(s)))
        .collect();
    cuts.push(rest.len());
    let mut from = 0;
    for to in cuts {
        let (name, value) = rest[from..to].trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return None,
        }
        from = to + 1;
    }
    let mut scope = credential?.splitn(5, '/');
    Some(Authorization {
        access_key_id: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        terminator: scope.next()?,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

/// The access key id of a SigV4 `Authorization` value (the credential it is counted under).
pub(crate) fn access_key_id(authorization: &str) -> Option<&str> {
    let credential = authorization.strip_prefix("AWS4-HMAC-SHA256 Credential=")?;
    credential.split_once('/').map(|(id, _)| id)
}

fn denied(exception: &str, message: &str) -> Option<Response> {
    Some(errors::bedrock(403, exception, message, None))
}

/// Refuses a request whose signature is missing, malformed or (given `secret`) wrong, as
/// Bedrock does (403).
pub(crate) fn refusal(req: &Signed, secret: Option<&str>) -> Option<Response> {
    let headers = req.headers;
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return denied("MissingAuthenticationTokenException", "Missing Authentication Token");
    };
    let Some(auth) = parse(value) else {
        return denied(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters of an AWS4-HMAC-SHA256 signature.",
        );
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if auth.access_key_id.is_empty()
        || !digits(auth.date, 8)
        || auth.region.is_empty()
        || auth.terminator != "aws4_request"
    {
        return denied("IncompleteSignatureException", "Credential must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request.");
    }
    if auth.service != "bedrock" {
        return denied("InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'.");
    }
    if auth.signature.len() != 64 || !auth.signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return denied("IncompleteSignatureException", "Signature must be 64 lower-case hexadecimal digits.");
    }
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !signed.contains(&"host") || !signed.contains(&"x-amz-date") {
        return denied("InvalidSignatureException", "SignedHeaders must include host and x-amz-date.");
    }
    if let Some(missing) = signed.iter().find(|name| !headers.contains_key(**name)) {
        return denied("InvalidSignatureException", &format!("Signed header {missing} is not in the request."));
    }
    let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).unwrap_or("");
    let well_formed = amz_date.len() == 16
        && digits(&amz_date[..8], 8)
        && amz_date.as_bytes()[8] == b'T'
        && digits(&amz_date[9..15], 6)
        && amz_date.ends_with('Z');
    if !well_formed || !amz_date.starts_with(auth.date) {
        return denied(
            "IncompleteSignatureException",
            "x-amz-date must be YYYYMMDD'T'HHMMSS'Z' on the credential's date.",
        );
    }
    let claim = Claim {
        date: auth.date,
        region: auth.region,
        service: auth.service,
        signed_headers: auth.signed_headers,
        signature: auth.signature,
    };
    if secret.is_some_and(|secret| !sigv4::verify(req, &claim, secret)) {
        return denied(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
             Access Key and signing method. Consult the service documentation for details.",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn refusal(headers: &HeaderMap) -> Option<Response> {
        super::refusal(&Signed { method: "POST", path: "/model/m/converse", query: "", headers, body: b"{}" }, None)
    }

    fn headers(auth: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", auth.parse().unwrap());
        h.insert("x-amz-date", date.parse().unwrap());
        h.insert("host", "localhost".parse().unwrap());
        h
    }

    #[test]
    fn accepts_a_well_formed_signature_and_refuses_others() {
        let sig = "a".repeat(64);
        let good = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        assert!(refusal(&headers(&good, "20250102T030405Z")).is_none());
        assert_eq!(access_key_id(&good), Some("AKID"));
        assert!(refusal(&headers(&good, "20250103T030405Z")).is_some(), "date mismatch");
        assert!(refusal(&headers(&good.replace("bedrock/", "s3/"), "20250102T030405Z")).is_some());
        assert!(refusal(&headers(&good.replace(";x-amz-date", ""), "20250102T030405Z")).is_some());
        assert!(refusal(&headers(&good.replace("host;", "host;x-amz-content-sha256;"), "20250102T030405Z")).is_some());
        assert!(refusal(&headers(&good.replace(&sig, "xyz"), "20250102T030405Z")).is_some());
        assert!(refusal(&HeaderMap::new()).is_some());
        let scenario = good.replace("AKID", "mock:status=429,times=1");
        assert!(refusal(&headers(&scenario, "20250102T030405Z")).is_none());
        assert_eq!(access_key_id(&scenario), Some("mock:status=429,times=1"));
        assert!(refusal(&headers(&format!("{good}, Extra=1"), "20250102T030405Z")).is_some());
    }
}
