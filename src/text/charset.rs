//! Bytes to UTF-8 for feed documents and article pages.
//!
//! Sits between `fetch` (which hands over raw bytes and the `Content-Type` header) and the
//! parsers (`feed`, `extract`), which only ever see UTF-8. feed-rs decodes by the XML declaration
//! alone and ignores the HTTP charset, so every document is decoded here first (`feed::parse`
//! then drops the now-stale declaration before feed-rs sees the text).
//!
//! The order of evidence follows RFC 7303 for XML and the WHATWG encoding sniffing algorithm
//! for HTML, with two checks of a label against the bytes on top (see `prefer_utf8`): a Latin
//! single-byte label on valid UTF-8 with non-ASCII text means UTF-8 (a misconfigured server),
//! and a UTF-8 label on bytes that are mostly not UTF-8 goes to detection (a misconfigured CMS).

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

/// How far into an HTML page `<meta charset>` is looked for (WHATWG says 1024; real pages put
/// long `<title>`s and scripts first, so look a little further).
const META_SCAN_BYTES: usize = 4096;

/// Decodes a feed (XML or JSON) to UTF-8.
///
/// Order: BOM, then the HTTP `Content-Type` charset, then the XML declaration, then detection
/// (valid UTF-8, else chardetng). UTF-16/32 without BOM or declaration is recognised from the
/// `<\0?\0` byte pattern (zero bytes interleaved with markup), which also overrides a label that
/// cannot describe such bytes.
///
/// UTF-32 is decoded by hand (encoding_rs has no UTF-32); it is reported as [`UTF_8`], the
/// encoding of the returned string.
pub fn decode_xml(bytes: &[u8], content_type: Option<&str>) -> (String, &'static Encoding) {
    if let Some(utf32) = sniff_utf32(bytes) {
        return (decode_utf32(bytes, utf32), UTF_8);
    }
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return (decode_with(enc, &bytes[bom_len..]), enc);
    }
    let wide = sniff_utf16(bytes);
    let label = content_type
        .and_then(charset_param)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    let enc = match (label, wide) {
        // A UTF-16 label is only believed with UTF-16-looking bytes, and in the byte order seen.
        (Some(l), Some(w)) if l == UTF_16LE || l == UTF_16BE => w,
        (Some(_), Some(w)) => w,
        (Some(l), None) if l == UTF_16LE || l == UTF_16BE => detect_or(bytes, xml_declared(bytes)),
        (Some(l), None) => prefer_utf8(l, bytes),
        (None, Some(w)) => w,
        (None, None) => detect_or(bytes, xml_declared(bytes)),
    };
    (decode_with(enc, bytes), enc)
}

/// Decodes an HTML page to UTF-8.
///
/// Order: BOM (authoritative, as in WHATWG), HTTP header, `<meta charset>` / `http-equiv` in the
/// first 4096 bytes, then detection (valid UTF-8, else chardetng, which gets
/// windows-1256 Arabic and windows-1251 Cyrillic right on realistic amounts of text).
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> (String, &'static Encoding) {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return (decode_with(enc, &bytes[bom_len..]), enc);
    }
    let from_header = content_type
        .and_then(charset_param)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
        .map(html_label_fixup);
    let enc = match from_header {
        Some(l) => prefer_utf8(l, bytes),
        None => match meta_charset(bytes).map(html_label_fixup) {
            Some(l) => prefer_utf8(l, bytes),
            None => detect(bytes),
        },
    };
    (decode_with(enc, bytes), enc)
}

/// WHATWG: a UTF-16 label in a byte-oriented context means UTF-8; x-user-defined means 1252.
fn html_label_fixup(enc: &'static Encoding) -> &'static Encoding {
    if enc == UTF_16LE || enc == UTF_16BE {
        UTF_8
    } else if enc == encoding_rs::X_USER_DEFINED {
        WINDOWS_1252
    } else {
        enc
    }
}

fn decode_with(enc: &'static Encoding, bytes: &[u8]) -> String {
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// Uses `declared` when there is one (after the UTF-8 override), else detects.
fn detect_or(bytes: &[u8], declared: Option<&'static Encoding>) -> &'static Encoding {
    match declared {
        Some(l) => prefer_utf8(l, bytes),
        None => detect(bytes),
    }
}

/// Checks a label against the bytes, in the two cases where labels are known to lie:
/// - Valid UTF-8 with non-ASCII bytes beats a Latin-1/windows-1252/ASCII label: the odds of
///   Latin-1 text forming valid multi-byte UTF-8 sequences by accident are negligible, while
///   servers that default to ISO-8859-1 in front of UTF-8 content are common.
/// - A UTF-8 label on bytes that are mostly not UTF-8 (a CMS that declares UTF-8 and emits
///   windows-1252) goes to detection; a few bad bytes in real UTF-8 text do not.
fn prefer_utf8(label: &'static Encoding, bytes: &[u8]) -> &'static Encoding {
    if label == WINDOWS_1252 && !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
        UTF_8
    } else if label == UTF_8 && !mostly_utf8(bytes) {
        detect(bytes)
    } else {
        label
    }
}

/// UTF-8 (including pure ASCII, and UTF-8 with a few corrupt or truncated sequences) is UTF-8;
/// anything else goes to chardetng.
fn detect(bytes: &[u8]) -> &'static Encoding {
    if mostly_utf8(bytes) {
        return UTF_8;
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(bytes, true);
    det.guess(None, chardetng::Utf8Detection::Allow)
}

/// Whether the bytes are UTF-8 with at most as many invalid sequences as valid multi-byte
/// characters. An incomplete sequence at the very end (a body cut mid-character) is not held
/// against it.
fn mostly_utf8(bytes: &[u8]) -> bool {
    if std::str::from_utf8(bytes).is_ok() {
        return true; // the common case, checked at SIMD speed without counting
    }
    let (mut multibyte, mut invalid) = (0usize, 0usize);
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                multibyte += s.chars().filter(|c| !c.is_ascii()).count();
                break;
            }
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                multibyte += std::str::from_utf8(good)
                    .map_or(0, |s| s.chars().filter(|c| !c.is_ascii()).count());
                match e.error_len() {
                    Some(n) => {
                        invalid += 1;
                        rest = after.get(n..).unwrap_or_default();
                    }
                    None => break,
                }
            }
        }
    }
    invalid <= multibyte
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("charset") {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            (!v.is_empty()).then_some(v)
        } else {
            None
        }
    })
}

/// The encoding named by an ASCII-compatible XML declaration (`<?xml ... encoding="..."?>`),
/// allowing leading whitespace. A declaration naming UTF-16 on ASCII-compatible bytes is a lie
/// and is ignored.
fn xml_declared(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(512)];
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = &head[..end];
    let enc = attr_value(decl, b"encoding")?;
    let enc = Encoding::for_label(enc)?;
    (enc != UTF_16LE && enc != UTF_16BE).then_some(enc)
}

/// Value of `name="..."` / `name='...'` inside a tag's bytes (ASCII case-insensitive name).
fn attr_value<'a>(tag: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let lower: Vec<u8> = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], name).map(|p| p + from) {
        from = pos + name.len();
        let preceded_ok =
            pos == 0 || !lower[pos - 1].is_ascii_alphanumeric() && lower[pos - 1] != b'-';
        let mut i = from;
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        if !preceded_ok || tag.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        let (q, s) = match tag.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => (Some(q), i + 1),
            Some(_) => (None, i),
            None => return None,
        };
        let e = tag[s..]
            .iter()
            .position(|&b| match q {
                Some(q) => b == q,
                None => b.is_ascii_whitespace() || b == b'>' || b == b';' || b == b'/',
            })
            .map_or(tag.len(), |p| p + s);
        return Some(&tag[s..e]);
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `<meta charset=...>` or `<meta http-equiv="content-type" content="...; charset=...">` in the
/// first [`META_SCAN_BYTES`] bytes. A byte-level scan, not a parse: it must work before we know
/// how to decode.
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(META_SCAN_BYTES)];
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta").map(|p| p + from) {
        let end = lower[pos..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |p| p + pos);
        let tag = &head[pos + 5..end];
        from = end;
        if let Some(cs) = attr_value(tag, b"charset") {
            if let Some(enc) = Encoding::for_label(cs) {
                return Some(enc);
            }
        }
        let is_ct =
            attr_value(tag, b"http-equiv").is_some_and(|v| v.eq_ignore_ascii_case(b"content-type"));
        if is_ct {
            if let Some(content) = attr_value(tag, b"content") {
                let content = String::from_utf8_lossy(content);
                if let Some(enc) =
                    charset_param(&content).and_then(|l| Encoding::for_label(l.as_bytes()))
                {
                    return Some(enc);
                }
            }
        }
    }
    None
}

/// UTF-16 without BOM: markup in UTF-16 puts a zero byte beside nearly every ASCII character.
/// Looks at up to the first 64 bytes: zeros only at odd offsets means little-endian, only at even
/// offsets big-endian. Needs most pairs to follow the pattern so that binary junk does not match.
fn sniff_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    let n = bytes.len().min(64) & !1;
    if n < 4 {
        return None;
    }
    let pairs = n / 2;
    let (mut le, mut be) = (0, 0);
    for p in bytes[..n].chunks_exact(2) {
        match (p[0] == 0, p[1] == 0) {
            (false, true) => le += 1,
            (true, false) => be += 1,
            _ => {}
        }
    }
    let starts_lt = |i: usize| bytes.get(i) == Some(&b'<');
    let first_char_ok_le = bytes[..n].chunks_exact(2).any(|p| p == [b'<', 0]);
    let first_char_ok_be = bytes[..n].chunks_exact(2).any(|p| p == [0, b'<']);
    if le * 10 >= pairs * 9 && first_char_ok_le && (starts_lt(0) || bytes[0].is_ascii_whitespace())
    {
        Some(UTF_16LE)
    } else if be * 10 >= pairs * 9 && first_char_ok_be && bytes[0] == 0 {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// UTF-32 with or without BOM (`00 00 FE FF`, `FF FE 00 00`, or `<` padded with three zeros).
/// Returns `true` for big-endian.
fn sniff_utf32(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [0, 0, 0xFE, 0xFF, ..] | [0, 0, 0, b'<', ..] => Some(true),
        [0xFF, 0xFE, 0, 0, ..] | [b'<', 0, 0, 0, ..] => Some(false),
        _ => None,
    }
}

fn decode_utf32(bytes: &[u8], big_endian: bool) -> String {
    let mut out = String::with_capacity(bytes.len() / 4);
    for (i, c) in bytes.chunks(4).enumerate() {
        let Ok(arr) = <[u8; 4]>::try_from(c) else {
            out.push(char::REPLACEMENT_CHARACTER);
            break;
        };
        let v = if big_endian {
            u32::from_be_bytes(arr)
        } else {
            u32::from_le_bytes(arr)
        };
        if i == 0 && v == 0xFEFF {
            continue;
        }
        out.push(char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }
    fn utf16be(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
    }
    fn enc(e: &'static Encoding, s: &str) -> Vec<u8> {
        e.encode(s).0.into_owned()
    }

    const ARABIC: &str =
        "أعلنت وزارة الخارجية العراقية أن السفارة في المنطقة الخضراء ببغداد تعرضت لهجوم صاروخي";
    const RUSSIAN: &str =
        "В Багдаде ракеты упали в районе зелёной зоны рядом с посольством США, сообщили источники";

    /// (name, input, Content-Type, expected encoding, expected text or "" to skip the check)
    type XmlCase = (
        &'static str,
        Vec<u8>,
        Option<&'static str>,
        &'static Encoding,
        &'static str,
    );

    /// Byte order marks and the byte patterns of UTF-16 and UTF-32, which beat any label.
    fn byte_order_cases() -> Vec<XmlCase> {
        vec![
            (
                "utf8 bom",
                [b"\xEF\xBB\xBF".as_slice(), "<a>é</a>".as_bytes()].concat(),
                Some("text/xml; charset=iso-8859-1"),
                UTF_8,
                "<a>é</a>",
            ),
            (
                "utf16le bom",
                [vec![0xFF, 0xFE], utf16le("<a>é</a>")].concat(),
                None,
                UTF_16LE,
                "<a>é</a>",
            ),
            (
                "utf16le no bom",
                utf16le("<?xml version=\"1.0\"?><a>é</a>"),
                None,
                UTF_16LE,
                "<?xml version=\"1.0\"?><a>é</a>",
            ),
            (
                "utf16be no bom",
                utf16be("<rss><a>é</a></rss>"),
                None,
                UTF_16BE,
                "<rss><a>é</a></rss>",
            ),
            (
                "utf16 pattern beats wrong header",
                utf16be("<rss>x</rss>"),
                Some("text/xml; charset=utf-8"),
                UTF_16BE,
                "<rss>x</rss>",
            ),
            (
                "utf32be no bom",
                "<a>é</a>"
                    .chars()
                    .flat_map(|c| (c as u32).to_be_bytes())
                    .collect(),
                None,
                UTF_8,
                "<a>é</a>",
            ),
            (
                "utf32le bom",
                [
                    vec![0xFF, 0xFE, 0, 0],
                    "<a/>"
                        .chars()
                        .flat_map(|c| (c as u32).to_le_bytes())
                        .collect(),
                ]
                .concat(),
                None,
                UTF_8,
                "<a/>",
            ),
        ]
    }

    /// Labels: the Content-Type header over the XML declaration, unless the bytes say otherwise.
    fn label_cases() -> Vec<XmlCase> {
        vec![
            (
                "header beats declaration",
                enc(
                    encoding_rs::WINDOWS_1251,
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?><a>Привет</a>",
                ),
                Some("application/rss+xml; charset=\"windows-1251\""),
                encoding_rs::WINDOWS_1251,
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><a>Привет</a>",
            ),
            (
                "declaration",
                enc(
                    encoding_rs::WINDOWS_1256,
                    &format!("<?xml version='1.0' encoding='windows-1256'?><a>{ARABIC}</a>"),
                ),
                None,
                encoding_rs::WINDOWS_1256,
                "",
            ),
            (
                "latin1 declaration",
                enc(
                    WINDOWS_1252,
                    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Notícias</a>",
                ),
                None,
                WINDOWS_1252,
                "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Notícias</a>",
            ),
            (
                "utf8 wins over latin1 label",
                "<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>Euro €</a>"
                    .as_bytes()
                    .to_vec(),
                None,
                UTF_8,
                "<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>Euro €</a>",
            ),
            (
                "bogus utf-16 declaration on ascii",
                b"<?xml version=\"1.0\" encoding=\"utf-16\"?><a>x</a>".to_vec(),
                None,
                UTF_8,
                "<?xml version=\"1.0\" encoding=\"utf-16\"?><a>x</a>",
            ),
        ]
    }

    /// No usable label: the encoding is detected from the text.
    fn detection_cases() -> Vec<XmlCase> {
        vec![
            (
                "no declaration, detect 1251",
                enc(
                    encoding_rs::WINDOWS_1251,
                    &format!("<rss><t>{RUSSIAN}</t></rss>"),
                ),
                None,
                encoding_rs::WINDOWS_1251,
                "",
            ),
            (
                "unknown label falls to detection",
                b"<?xml version=\"1.0\" encoding=\"bogus\"?><a>x</a>".to_vec(),
                Some("text/xml; charset=nonsense"),
                UTF_8,
                "<?xml version=\"1.0\" encoding=\"bogus\"?><a>x</a>",
            ),
            ("empty", Vec::new(), None, UTF_8, ""),
        ]
    }

    #[test]
    fn decode_xml_table() {
        let cases = [byte_order_cases(), label_cases(), detection_cases()].concat();
        for (name, bytes, ct, want_enc, want_text) in cases {
            let (text, got) = decode_xml(&bytes, ct);
            assert_eq!(got, want_enc, "{name}");
            if !want_text.is_empty() {
                assert_eq!(text, want_text, "{name}");
            }
        }
    }

    #[test]
    fn decode_xml_arabic_and_cyrillic_round_trip() {
        let doc = format!("<?xml version='1.0' encoding='windows-1256'?><a>{ARABIC}</a>");
        let (text, _) = decode_xml(&enc(encoding_rs::WINDOWS_1256, &doc), None);
        assert_eq!(text, doc);
        let doc = format!("<rss><t>{RUSSIAN}</t></rss>");
        let (text, _) = decode_xml(&enc(encoding_rs::WINDOWS_1251, &doc), None);
        assert_eq!(text, doc);
    }

    #[test]
    fn decode_html_table() {
        let arabic_page = format!("<html><body><p>{ARABIC}</p><p>{ARABIC}</p></body></html>");
        let russian_page = format!("<html><body><p>{RUSSIAN}</p></body></html>");
        let cases: Vec<(&str, Vec<u8>, Option<&str>, &'static Encoding)> = vec![
            ("header", enc(encoding_rs::WINDOWS_1256, &arabic_page), Some("text/html; charset=windows-1256"), encoding_rs::WINDOWS_1256),
            ("detect 1256", enc(encoding_rs::WINDOWS_1256, &arabic_page), None, encoding_rs::WINDOWS_1256),
            ("detect 1251", enc(encoding_rs::WINDOWS_1251, &russian_page), Some("text/html"), encoding_rs::WINDOWS_1251),
            ("meta charset", enc(encoding_rs::WINDOWS_1251, &format!("<html><head><meta charset=\"windows-1251\"></head><body>{RUSSIAN}</body></html>")), None, encoding_rs::WINDOWS_1251),
            ("meta http-equiv", enc(WINDOWS_1252, "<html><head><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=ISO-8859-1\"></head><body>café</body></html>"), None, WINDOWS_1252),
            ("meta utf-16 means utf-8", b"<meta charset=utf-16><p>x</p>".to_vec(), None, UTF_8),
            ("bom beats header", [b"\xEF\xBB\xBF".as_slice(), "<p>é</p>".as_bytes()].concat(), Some("text/html; charset=windows-1251"), UTF_8),
            ("utf8 content behind latin1 header", "<p>Notícias – ok</p>".as_bytes().to_vec(), Some("text/html; charset=ISO-8859-1"), UTF_8),
            ("plain utf8", "<p>بغداد</p>".as_bytes().to_vec(), None, UTF_8),
        ];
        for (name, bytes, ct, want) in cases {
            let (_, got) = decode_html(&bytes, ct);
            assert_eq!(got, want, "{name}");
        }
        let (text, _) = decode_html(&enc(encoding_rs::WINDOWS_1256, &arabic_page), None);
        assert_eq!(text, arabic_page);
    }

    #[test]
    fn charset_param_table() {
        for (ct, want) in [
            ("text/xml; charset=UTF-8", Some("UTF-8")),
            ("text/xml;charset=\"koi8-r\"", Some("koi8-r")),
            ("text/xml; Charset = 'latin1' ; q=1", Some("latin1")),
            ("text/xml", None),
            ("text/xml; charset=", None),
        ] {
            assert_eq!(charset_param(ct), want, "{ct}");
        }
    }
}
