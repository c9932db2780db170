//! The AWS event-stream binary framing Bedrock streams in (`application/vnd.amazon.eventstream`):
//! per message a prelude (total length, headers length, both u32 big-endian) and its CRC32,
//! the headers, the payload, and the CRC32 of everything before it.

use bytes::Bytes;

/// Header value type 7: a string with a u16 length.
const STRING_TYPE: u8 = 7;

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32 of `bytes`, as the event-stream framing checks it.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, b| CRC_TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8))
}

/// One message with string `headers` (name, value) and `payload`.
pub(crate) fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut head = Vec::new();
    for (name, value) in headers {
        head.push(name.len() as u8);
        head.extend_from_slice(name.as_bytes());
        head.push(STRING_TYPE);
        head.extend_from_slice(&(value.len() as u16).to_be_bytes());
        head.extend_from_slice(value.as_bytes());
    }
    let total = 12 + head.len() + payload.len() + 4;
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_be_bytes());
    msg.extend_from_slice(&(head.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&msg);
    msg.extend_from_slice(&prelude_crc.to_be_bytes());
    msg.extend_from_slice(&head);
    msg.extend_from_slice(payload);
    let message_crc = crc32(&msg);
    msg.extend_from_slice(&message_crc.to_be_bytes());
    Bytes::from(msg)
}

/// An `event` message of type `event_type` with a JSON payload.
pub(crate) fn event(event_type: &str, payload: &[u8]) -> Bytes {
    encode(&[(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")], payload)
}

/// An `exception` message (a stream that fails after it started).
pub(crate) fn exception(exception_type: &str, payload: &[u8]) -> Bytes {
    encode(
        &[(":exception-type", exception_type), (":content-type", "application/json"), (":message-type", "exception")],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn empty_message_matches_the_aws_test_vector() {
        // awslabs/aws-c-event-stream, test vector "empty_message".
        let expected = [0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff];
        assert_eq!(&encode(&[], b"")[..], &expected);
    }
}
