//! An image's type from its first bytes (what a server's `Content-Type` says is not trusted:
//! the bytes go to the provider, so the bytes decide).

/// Bytes needed to tell every type apart (WebP's `RIFF....WEBP`).
pub const SNIFF_LEN: usize = 12;

/// The media type of an image in one of the formats both inline-image providers know, or
/// `None` (HTML, JSON, SVG, an unfinished prefix, anything else).
pub fn image_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= SNIFF_LEN && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_known_by_its_magic_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F']), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(image_type(b"GIF87a"), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
    }

    #[test]
    fn other_bytes_are_not_images() {
        for bytes in [
            &b"<!doctype html><html>"[..],
            b"{\"error\": \"not found\"}",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"\x89PN",
            b"RIFF\x24\0\0\0WEB",
            b"",
            b"%PDF-1.7",
        ] {
            assert_eq!(image_type(bytes), None, "{bytes:?}");
        }
    }
}
