//! TEMPORARY stand-in.
pub fn decode_xml(bytes: &[u8], _ct: Option<&str>) -> (String, &'static encoding_rs::Encoding) {
    (
        String::from_utf8_lossy(bytes).into_owned(),
        encoding_rs::UTF_8,
    )
}
pub fn decode_html(bytes: &[u8], _ct: Option<&str>) -> (String, &'static encoding_rs::Encoding) {
    (
        String::from_utf8_lossy(bytes).into_owned(),
        encoding_rs::UTF_8,
    )
}
