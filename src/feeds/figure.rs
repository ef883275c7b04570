//! The lead image at the top of an item's content, as a `<figure>` with its caption, for
//! readers that ignore enclosures and `media:content` (newsboat showed neither image nor
//! caption).

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// The `<figure>` of the lead image `url` (absolute, as feeds carry it; `stored_url` as the
/// article gave it) with its `caption`, or `""` when `content_html` already shows that
/// picture: a reader would see it twice.
///
/// The model knows no pixel size of a lead image, so the `<img>` has no `width`/`height`; the
/// caption is also its `alt`, for readers that show images as their text.
pub fn lead_figure(
    url: &str,
    stored_url: &str,
    caption: Option<&str>,
    content_html: &str,
) -> String {
    if shows(content_html, url) || shows(content_html, stored_url) {
        return String::new();
    }
    let alt = caption.unwrap_or("");
    let mut out = format!("<figure><img src=\"{}\" alt=\"{}\">", attr(url), attr(alt));
    if let Some(c) = caption {
        // Text-mode readers (newsboat) know neither `figure` nor `figcaption` and would run
        // the caption into the image's placeholder; a browser draws no extra line for a `br`
        // that ends the image's line.
        out.push_str("<br><figcaption>");
        out.push_str(&text(c));
        out.push_str("</figcaption>");
    }
    out.push_str("</figure>");
    out
}

/// Whether sanitised HTML has an `<img>` of `url`: the sanitiser writes every attribute
/// double-quoted and escaped, so the attribute's exact text is what to look for.
fn shows(content_html: &str, url: &str) -> bool {
    !url.is_empty() && content_html.contains(&format!("src=\"{}\"", attr(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figure_holds_the_image_and_its_caption_escaped() {
        assert_eq!(
            lead_figure(
                "https://img.example.org/a.jpg?w=1&h=2",
                "https://img.example.org/a.jpg?w=1&h=2",
                Some("职工 <代表> & \"大会\""),
                "<p>正文</p>",
            ),
            "<figure><img src=\"https://img.example.org/a.jpg?w=1&amp;h=2\" \
             alt=\"职工 &lt;代表&gt; &amp; &quot;大会&quot;\"><br>\
             <figcaption>职工 &lt;代表&gt; &amp; \"大会\"</figcaption></figure>"
        );
    }

    #[test]
    fn without_a_caption_the_figure_has_only_the_image() {
        assert_eq!(
            lead_figure("https://x.org/a.png", "https://x.org/a.png", None, ""),
            "<figure><img src=\"https://x.org/a.png\" alt=\"\"></figure>"
        );
    }

    #[test]
    fn a_picture_the_content_already_shows_is_not_repeated() {
        let content = "<p><img src=\"https://x.org/%E5%9B%BE.jpg?a=1&amp;b=2\" alt=\"\"></p>";
        assert_eq!(
            lead_figure(
                "https://x.org/%E5%9B%BE.jpg?a=1&b=2",
                "https://x.org/图.jpg?a=1&b=2",
                Some("说明"),
                content
            ),
            ""
        );
        let raw = "<p><img src=\"https://x.org/图.jpg\"></p>";
        assert_eq!(
            lead_figure(
                "https://x.org/%E5%9B%BE.jpg",
                "https://x.org/图.jpg",
                None,
                raw
            ),
            ""
        );
        assert!(
            !lead_figure("https://x.org/b.jpg", "https://x.org/b.jpg", None, content).is_empty()
        );
    }
}
