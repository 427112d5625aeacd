//! TEMPORARY stand-in.
pub fn fragment_to_text(html: &str) -> String {
    let doc = scraper::Html::parse_fragment(html);
    doc.root_element()
        .text()
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
