use super::*;

/// Decodes `bytes` fed in the given pieces; the first error ends the run.
fn decode(pieces: &[&[u8]]) -> Result<Vec<Message>, FrameError> {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    for p in pieces {
        d.push(p);
        while let Some(m) = d.next_message()? {
            out.push(m);
        }
    }
    Ok(out)
}

// Vectors from awslabs/aws-c-event-stream, tests/message_deserializer_test.c.
const EMPTY: [u8; 16] =
    [0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff];
const NO_HEADERS: [u8; 29] = [
    0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66, 0x6f, 0x6f, 0x27, 0x3a,
    0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36,
];

fn one_header() -> Vec<u8> {
    let mut v = vec![0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C];
    v.extend_from_slice(b"content-type");
    v.extend([0x07, 0x00, 0x10]);
    v.extend_from_slice(b"application/json");
    v.extend_from_slice(b"{'foo':'bar'}");
    v.extend([0x8D, 0x9C, 0x08, 0xB1]);
    v
}

#[test]
fn aws_vectors_decode_and_encode_byte_exact() {
    let m = decode(&[&EMPTY]).unwrap();
    assert_eq!(m, vec![Message { headers: vec![], payload: Bytes::new() }]);
    assert_eq!(&encode(&[], b"")[..], &EMPTY);

    let m = decode(&[&NO_HEADERS]).unwrap();
    assert_eq!(&m[0].payload[..], b"{'foo':'bar'}");
    assert_eq!(&encode(&[], b"{'foo':'bar'}")[..], &NO_HEADERS);

    let bytes = one_header();
    let m = decode(&[&bytes]).unwrap();
    assert_eq!(m[0].header_str("content-type"), Some("application/json"));
    assert_eq!(&m[0].payload[..], b"{'foo':'bar'}");
    let again = encode(&[("content-type", HeaderValue::String("application/json".into()))], b"{'foo':'bar'}");
    assert_eq!(&again[..], &bytes[..]);
}

#[test]
fn every_header_type_round_trips() {
    let headers = vec![
        ("t".to_string(), HeaderValue::Bool(true)),
        ("f".to_string(), HeaderValue::Bool(false)),
        ("b".to_string(), HeaderValue::Byte(-3)),
        ("s".to_string(), HeaderValue::Short(-300)),
        ("i".to_string(), HeaderValue::Int(70_000)),
        ("l".to_string(), HeaderValue::Long(-5_000_000_000)),
        ("y".to_string(), HeaderValue::Bytes(vec![0, 255, 7])),
        ("str".to_string(), HeaderValue::String("café".into())),
        ("ts".to_string(), HeaderValue::Timestamp(1_700_000_000_000)),
        ("u".to_string(), HeaderValue::Uuid([9; 16])),
    ];
    let borrowed: Vec<(&str, HeaderValue)> = headers.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let bytes = encode(&borrowed, b"payload");
    let m = decode(&[&bytes]).unwrap();
    assert_eq!(m, vec![Message { headers, payload: Bytes::from_static(b"payload") }]);
}

#[test]
fn messages_come_out_whole_at_every_split_and_byte_by_byte() {
    let mut stream = Vec::new();
    stream.extend_from_slice(&encode_event("messageStart", br#"{"role":"assistant"}"#));
    stream.extend_from_slice(&EMPTY);
    stream.extend_from_slice(&encode_exception("throttlingException", br#"{"message":"slow down"}"#));
    let whole = decode(&[&stream]).unwrap();
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0].header_str(":event-type"), Some("messageStart"));
    assert_eq!(whole[2].header_str(":exception-type"), Some("throttlingException"));
    for i in 0..=stream.len() {
        assert_eq!(decode(&[&stream[..i], &stream[i..]]).unwrap(), whole, "split at {i}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(&bytes).unwrap(), whole);
}

#[test]
fn damaged_frames_are_refused() {
    let good = encode_event("messageStart", br#"{"role":"assistant"}"#).to_vec();
    // A flipped bit in the length is caught by the prelude CRC.
    let mut bad = good.clone();
    bad[3] ^= 1;
    assert_eq!(decode(&[&bad]), Err(FrameError::PreludeCrc));
    // A flipped bit in the payload is caught by the message CRC.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 6] ^= 0x20;
    assert_eq!(decode(&[&bad]), Err(FrameError::MessageCrc));
    // A length below the minimum with a valid prelude CRC.
    let mut short = vec![0, 0, 0, 8, 0, 0, 0, 0];
    short.extend(CRC32.checksum(&short).to_be_bytes());
    assert_eq!(decode(&[&short]), Err(FrameError::BadLength(8)));
    // Headers longer than the message.
    let mut over = vec![0, 0, 0, 16, 0, 0, 0, 9];
    over.extend(CRC32.checksum(&over).to_be_bytes());
    assert_eq!(decode(&[&over]), Err(FrameError::BadLength(16)));
    // An unknown header type inside a frame whose CRCs are right.
    let mut frame = vec![0, 0, 0, 19, 0, 0, 0, 3];
    frame.extend(CRC32.checksum(&frame).to_be_bytes());
    frame.extend([1, b'x', 42]);
    frame.extend(CRC32.checksum(&frame).to_be_bytes());
    assert_eq!(decode(&[&frame]), Err(FrameError::BadHeaders("unknown header value type")));
    // After an error nothing more comes out, even a good frame.
    let mut d = Decoder::default();
    d.push(&frame);
    assert!(d.next_message().is_err());
    d.push(&good);
    assert_eq!(d.next_message(), Ok(None));
}

#[test]
fn an_unfinished_message_is_pending() {
    let good = encode_event("messageStop", br#"{"stopReason":"end_turn"}"#);
    let mut d = Decoder::default();
    d.push(&good[..good.len() - 1]);
    assert_eq!(d.next_message(), Ok(None));
    assert_eq!(d.pending(), good.len() - 1);
    d.push(&good[good.len() - 1..]);
    assert!(d.next_message().unwrap().is_some());
    assert_eq!(d.pending(), 0);
}
