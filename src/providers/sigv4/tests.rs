use super::*;

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn suite_credentials(session_token: Option<String>) -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token,
    }
}

/// A `.req` file: request line, `Name:value` headers, blank line, body.
struct Parsed {
    method: String,
    path: String,
    query: String,
    host: String,
    date: String,
    token: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_req(text: &str) -> Parsed {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let mut start = lines.next().expect("request line").split(' ');
    let method = start.next().unwrap().to_string();
    let target = start.next().unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut p = Parsed {
        method,
        path: path.into(),
        query: query.into(),
        host: String::new(),
        date: String::new(),
        token: None,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    };
    for line in lines {
        let (name, value) = line.split_once(':').expect("Name:value");
        match name.to_ascii_lowercase().as_str() {
            "host" => p.host = value.into(),
            "x-amz-date" => p.date = value.into(),
            "x-amz-security-token" => p.token = Some(value.into()),
            _ => p.headers.push((name.into(), value.into())),
        }
    }
    p
}

fn fixture(case: &str, ext: &str) -> Option<String> {
    std::fs::read_to_string(format!("{}/tests/fixtures/sigv4/{case}/{case}.{ext}", env!("CARGO_MANIFEST_DIR"))).ok()
}

#[test]
fn aws_test_suite_vectors() {
    let cases =
        ["get-vanilla", "post-vanilla", "post-vanilla-query", "post-x-www-form-urlencoded", "post-sts-header-before"];
    for case in cases {
        let req = parse_req(&fixture(case, "req").expect("every case has a .req"));
        assert_eq!(req.date, "20150830T123600Z", "{case}");
        let headers: Vec<(&str, &str)> = req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let r = Request {
            method: &req.method,
            host: &req.host,
            path: &req.path,
            query: &req.query,
            headers: &headers,
            body: &req.body,
        };
        let sig = sign(&r, &suite_credentials(req.token.clone()), "us-east-1", "service", at(1_440_938_160));
        if let Some(creq) = fixture(case, "creq") {
            assert_eq!(sig.canonical_request, creq, "{case}: canonical request");
        }
        if let Some(sts) = fixture(case, "sts") {
            assert_eq!(sig.string_to_sign, sts, "{case}: string to sign");
        }
        let authz = fixture(case, "authz").expect("every case has an .authz");
        assert_eq!(sig.headers[0], ("authorization", authz), "{case}");
        assert_eq!(sig.headers[1], ("x-amz-date", "20150830T123600Z".to_string()), "{case}");
        assert_eq!(sig.headers.get(2).map(|h| h.1.clone()), req.token, "{case}: the token is sent");
    }
}

#[test]
fn hmac_matches_rfc4231() {
    // Test case 2 (a short key) and test case 6 (a key longer than the block).
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
    assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

#[test]
fn bedrock_paths_are_encoded_again_and_queries_sorted() {
    // A model id with `:` goes on the wire as `%3A`; the canonical URI encodes the `%`.
    assert_eq!(
        uri_encode("/model/anthropic.claude-v2%3A1/converse", false),
        "/model/anthropic.claude-v2%253A1/converse"
    );
    assert_eq!(canonical_query("b=2&a=x%20y&a=1&c"), "a=1&a=x%20y&b=2&c=");
    assert_eq!(amz_date(at(1_767_319_445).to_offset(time::UtcOffset::from_hms(1, 0, 0).unwrap())), "20260102T020405Z");
}

#[test]
fn credentials_never_print_their_secret() {
    let shown = format!("{:?}", suite_credentials(Some("token-value".into())));
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(!shown.contains("wJalr") && !shown.contains("token-value"));
}
