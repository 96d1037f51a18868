//! Media types from content, never from the client's claim.
//!
//! The first bytes of a file decide its type: well-known signatures for
//! images, documents, archives and media; anything that looks like markup a
//! browser would run (HTML, SVG, XML) is `text/html` or `image/svg+xml` so
//! it is never served inline; other valid UTF-8 is `text/plain`; the rest is
//! `application/octet-stream`.

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_LEN: usize = 1024;

/// Raster image types an `image` field accepts (never SVG: it can carry
/// script).
pub const IMAGE_TYPES: [&str; 5] = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"];

/// Whether `mime` is a raster image an `image` field accepts.
#[must_use]
pub fn is_image(mime: &str) -> bool {
    IMAGE_TYPES.contains(&mime)
}

/// The media type of content starting with `head` (up to [`SNIFF_LEN`]
/// bytes), and whether `head` is the whole file (`complete`): a UTF-8 check
/// may not fail on a character cut at the end of a partial head.
#[must_use]
pub fn sniff(head: &[u8], complete: bool) -> &'static str {
    const SIGNATURES: [(&[u8], &str); 12] = [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"BM", "image/bmp"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"PK\x05\x06", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
        (b"Rar!\x1a\x07", "application/vnd.rar"),
        (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    ];
    if head.len() >= 12 && head.starts_with(b"RIFF") {
        match head.get(8..12) {
            Some(b"WEBP") => return "image/webp",
            Some(b"WAVE") => return "audio/wav",
            _ => {}
        }
    }
    if head.get(4..8) == Some(b"ftyp") {
        return "video/mp4";
    }
    if head.starts_with(b"ID3") {
        return "audio/mpeg";
    }
    if let Some((_, mime)) = SIGNATURES.iter().find(|(sig, _)| head.starts_with(sig)) {
        // A BMP signature is two letters: also require its header size field.
        if *mime != "image/bmp" || head.len() >= 26 {
            return mime;
        }
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if !complete && e.error_len().is_none() => {
            // Cut in the middle of a character at the end of the head.
            std::str::from_utf8(head.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
        }
        Err(_) => return "application/octet-stream",
    };
    if text.contains('\0') {
        return "application/octet-stream";
    }
    if looks_like_markup(text) {
        return if text.to_ascii_lowercase().contains("<svg") {
            "image/svg+xml"
        } else {
            "text/html"
        };
    }
    "text/plain"
}

/// Whether text begins (after whitespace and a byte-order mark) with
/// something a browser would take for HTML or XML.
fn looks_like_markup(text: &str) -> bool {
    let t = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    const OPENERS: [&str; 14] = [
        "<!doctype",
        "<html",
        "<head",
        "<body",
        "<script",
        "<iframe",
        "<svg",
        "<?xml",
        "<div",
        "<img",
        "<style",
        "<a ",
        "<!--",
        "<meta",
    ];
    OPENERS.iter().any(|o| t.starts_with(o)) || t.contains("<script")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decide_the_type() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", true), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF", true), "image/jpeg");
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0", true), "image/gif");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ", true), "image/webp");
        assert_eq!(sniff(b"%PDF-1.7\n", true), "application/pdf");
        assert_eq!(sniff(b"PK\x03\x04\x14\0", true), "application/zip");
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42", true), "video/mp4");
        assert_eq!(sniff(b"BM", true), "text/plain", "two letters alone are text");
    }

    #[test]
    fn markup_is_never_an_image_or_plain_text() {
        assert_eq!(sniff(b"<html><script>alert(1)</script>", true), "text/html");
        assert_eq!(sniff(b"\xef\xbb\xbf  <!DOCTYPE html>", true), "text/html");
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><svg onload=x>", true),
            "image/svg+xml"
        );
        assert_eq!(sniff(b"hello <script>x</script>", true), "text/html");
        assert!(!is_image(sniff(b"<svg></svg>", true)));
    }

    #[test]
    fn text_and_binary() {
        assert_eq!(sniff("客户名单\nname,phone\n".as_bytes(), true), "text/plain");
        assert_eq!(sniff(b"\x00\x01\x02\x03", true), "application/octet-stream");
        assert_eq!(sniff(b"\xff\xfe\xfd", true), "application/octet-stream");
        // A head cut inside a three-byte character is still text.
        let cut = "名单".as_bytes().get(..4).unwrap().to_vec();
        assert_eq!(sniff(&cut, false), "text/plain");
        assert_eq!(sniff(&cut, true), "application/octet-stream");
        assert_eq!(sniff(b"", true), "text/plain");
    }
}
