//! TEMPORARY stand-in (replaced by the real extractor before landing).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Extracted {
    pub title: Option<String>,
    pub published: Option<chrono::DateTime<chrono::Utc>>,
    pub author: Option<String>,
    pub lang: Option<String>,
    pub canonical_url: Option<String>,
    pub text: String,
}
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    pub host: String,
    pub body: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
}
#[derive(Debug, thiserror::Error)]
#[error("bad selector")]
pub struct ExtractError;
#[derive(Default)]
pub struct Extractor;
impl Extractor {
    pub fn new(_sites: &[SiteSpec]) -> Result<Extractor, ExtractError> {
        Ok(Extractor)
    }
    pub fn extract(&self, html: &str, _page_url: Option<&url::Url>) -> Extracted {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("p").expect("static");
        let text = doc
            .select(&sel)
            .map(|p| p.text().collect::<String>())
            .collect::<Vec<_>>()
            .join("\n\n");
        Extracted {
            text,
            ..Default::default()
        }
    }
}
