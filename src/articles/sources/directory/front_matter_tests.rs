//! Front matter: both syntaxes, defaults, and errors that point at the right line.

use super::front_matter::{BodyFormat, FileError, parse};

const SH: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn md(text: &str) -> Result<super::front_matter::FileArticle, FileError> {
    parse("news", "green", BodyFormat::Markdown, text, SH)
}

#[test]
fn toml_front_matter_gives_every_field_and_the_default_id() {
    let text = "+++\ntitle = \"绿色算力\"\nurl = \"https://www.example.org/a.html\"\npublished_at = 2025-02-21T09:00:00+08:00\ntags = [\"算力\"]\n[image]\nurl = \"https://www.example.org/a.jpg\"\ncaption = \"机房\"\n+++\n\n正文**加粗**\n";
    let a = md(text).unwrap();
    assert_eq!(a.id, "news/green");
    assert_eq!(a.input.section.as_deref(), Some("news"));
    assert_eq!(a.input.title.as_deref(), Some("绿色算力"));
    assert_eq!(
        a.input.published_at.as_deref(),
        Some("2025-02-21T09:00:00+08:00")
    );
    assert_eq!(a.input.tags, Some(vec!["算力".to_owned()]));
    assert_eq!(
        a.input.image.as_ref().unwrap().caption.as_deref(),
        Some("机房")
    );
    assert_eq!(
        a.input.content_markdown.as_deref(),
        Some("\n正文**加粗**\n")
    );
    assert_eq!(a.line_of("image.url"), Some(6));
}

#[test]
fn yaml_front_matter_with_an_own_id_and_a_local_date() {
    let text = "---\nid: custom-1\ntitle: 通知\nurl: https://www.example.org/n.html\ndate: 2025-02-21 09:30\n---\n<p>正文</p>";
    let a = parse("notices", "n", BodyFormat::Html, text, SH).unwrap();
    assert_eq!(a.id, "custom-1");
    assert_eq!(
        a.input.published_at.as_deref(),
        Some("2025-02-21T01:30:00+00:00")
    );
    assert_eq!(a.input.content_html.as_deref(), Some("<p>正文</p>"));
}

#[test]
fn control_characters_are_removed_instead_of_failing_the_file() {
    let a = md("+++\ntitle = \"工会\\u0008要闻\"\n+++\n正文\u{0}内容").unwrap();
    assert_eq!(a.input.title.as_deref(), Some("工会要闻"));
    assert_eq!(a.input.content_markdown.as_deref(), Some("正文内容"));
}

#[test]
fn errors_name_the_line_and_what_is_wrong() {
    let cases = [
        ("no front matter\n", Some(1), "missing front matter"),
        ("+++\ntitle = \"a\"\n", Some(1), "never closed"),
        ("+++\ntitle = \"a\"\nurl = \n+++\n", Some(3), "TOML"),
        ("---\ntitle: a\nurl: [unclosed\n---\n", Some(4), "YAML"),
        (
            "+++\ntitle = \"a\"\ntitel = \"b\"\n+++\n",
            Some(3),
            "unknown field `titel`",
        ),
        ("+++\ntitle = \"a\"\ntags = [1]\n+++\n", Some(3), "tags[0]"),
        (
            "+++\nsection = \"notices\"\n+++\n",
            Some(2),
            "differs from the folder",
        ),
    ];
    for (text, line, says) in cases {
        let e = md(text)
            .err()
            .unwrap_or_else(|| panic!("accepted {text:?}"));
        assert_eq!(e.line, line, "{text:?} → {e:?}");
        assert!(e.message.contains(says), "{text:?} → {e:?}");
    }
}
