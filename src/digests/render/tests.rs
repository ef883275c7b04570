use super::*;
use crate::branding::Brand;
use crate::domain::Image;
use chrono::{DateTime, Utc};

fn brand() -> Brand {
    Brand {
        title: "青海省总工会".into(),
        footer: None,
        sender_name: None,
        logo_url: None,
        accent: None,
        address: None,
    }
}

fn article(id: &str, section: &str, title: &str) -> Article {
    let at: DateTime<Utc> = "2026-03-01T01:00:00Z".parse().unwrap();
    Article {
        id: id.into(),
        section: section.into(),
        title: title.into(),
        url: format!("https://www.example.org/{id}.html"),
        content_html: String::new(),
        summary: "全省职工技能大赛开幕。".into(),
        author: Some("张鹏".into()),
        image: None,
        tags: Vec::new(),
        published_at: at,
        updated_at: None,
        content_hash: String::new(),
        source: "api".into(),
        visible_at: at,
        created_at: at,
        modified_at: at,
    }
}

fn section(slug: &str, title: &str) -> Section {
    Section {
        slug: slug.into(),
        title: title.into(),
        description: String::new(),
        position: 0,
    }
}

fn renderer(dir: &Path) -> DigestRenderer {
    DigestRenderer::load(dir, chrono_tz::Asia::Shanghai, ImageSizes::offline()).unwrap()
}

fn letter<'a>(
    locale: &'a str,
    brand: &'a Brand,
    sections: &'a [Section],
    names: &'a DisplayNames,
    articles: &'a [&'a Article],
    reader: Reader<'a>,
) -> Letter<'a> {
    Letter {
        locale,
        brand,
        schedule: ("daily", "每日摘要"),
        when: "2026-03-01T00:00:00Z".parse().unwrap(),
        sections,
        names,
        articles,
        home_url: "https://www.example.org",
        reader,
    }
}

const MAIL: Reader<'static> = Reader::Mail {
    email: "li@example.org",
    manage_url: "https://m.example/manage?token=m",
    unsubscribe_url: "https://m.example/unsubscribe?token=u",
    web_url: Some("https://m.example/digests/7?token=w"),
};

#[test]
fn missing_files_fall_back_to_the_built_in_templates_present_ones_win_broken_ones_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("digest.txt"),
        "Edited: {{ schedule_name }} {{ unsubscribe_url }}",
    )
    .unwrap();
    let r = renderer(dir.path());
    let (b, names) = (brand(), DisplayNames::default());
    let d = r.render(&letter("en", &b, &[], &names, &[], MAIL)).unwrap();
    assert_eq!(
        d.text,
        "Edited: daily digest https://m.example/unsubscribe?token=u\n"
    );
    assert_eq!(d.subject, "青海省总工会: Daily digest (1 Mar 2026)");
    assert!(
        d.html.contains("Nothing new in your sections"),
        "{}",
        d.html
    );

    std::fs::write(dir.path().join("digest.html"), "{% if %}").unwrap();
    let Err(err) =
        DigestRenderer::load(dir.path(), chrono_tz::Asia::Shanghai, ImageSizes::offline())
    else {
        panic!("a broken template was accepted");
    };
    assert!(format!("{err:#}").contains("digest.html"), "{err:#}");
}

#[test]
fn each_article_has_its_image_title_link_meta_line_excerpt_and_read_more() {
    let dir = tempfile::tempdir().unwrap();
    let r = renderer(dir.path());
    let mut a = article("a1", "news", "技能大赛<开幕>");
    a.image = Some(Image {
        url: "https://img.example.org/a.jpg".into(),
        caption: Some("比赛现场 \"一角\"".into()),
    });
    let b = article("b1", "notices", "放假通知");
    let sections = [section("news", "工会要闻"), section("notices", "通知公告")];
    let (brand, names) = (brand(), DisplayNames::default());
    let picked = [&a, &b];
    let d = r
        .render(&letter("zh-CN", &brand, &sections, &names, &picked, MAIL))
        .unwrap();
    let html = &d.html;
    assert!(
        html.contains("技能大赛&lt;开幕&gt;") && !html.contains("<开幕>"),
        "{html}"
    );
    assert!(
        html.contains(
            "<img src=\"https://img.example.org/a.jpg\" alt=\"比赛现场 &quot;一角&quot;\" width=\"552\" style=\"display:block;width:100%;max-width:100%;height:auto;"
        ),
        "{html}"
    );
    assert!(
        html.contains("2026年3月1日 09:00 · 张鹏 · 工会要闻"),
        "{html}"
    );
    assert_eq!(html.matches(">阅读全文&nbsp;→</a>").count(), 2);
    assert_eq!(
        html.matches("href=\"https://www.example.org/a1.html\"")
            .count(),
        3,
        "image, title and read more link to the article"
    );
    assert!(html.find("工会要闻") < html.find("通知公告"));
    assert!(
        html.contains("本期 2 篇新文章：工会要闻、通知公告"),
        "preheader"
    );
    assert!(
        html.contains("li@example.org") && html.contains("https://m.example/digests/7?token=w")
    );
    let text = &d.text;
    assert!(text.starts_with("青海省总工会 · 每日摘要 · 2026年3月1日\n在浏览器中查看：https://m.example/digests/7?token=w\n\n【工会要闻】\n\n技能大赛<开幕>\n2026年3月1日 09:00 · 张鹏 · 工会要闻\n全省职工技能大赛开幕。\n阅读全文：https://www.example.org/a1.html\n"), "{text}");
    assert!(!text.contains("\n\n\n"), "no runs of blank lines: {text}");
    assert!(text.contains("\n-- \n您收到这封邮件，是因为 li@example.org 订阅了青海省总工会的每日摘要。\n管理订阅：https://m.example/manage?token=m\n退订：https://m.example/unsubscribe?token=u"), "{text}");
}

#[test]
fn the_web_copy_carries_no_address_and_no_personal_link() {
    let dir = tempfile::tempdir().unwrap();
    let r = renderer(dir.path());
    let a = article("a1", "news", "技能大赛");
    let sections = [section("news", "工会要闻")];
    let mut brand = brand();
    brand.address = Some("西宁市五四大街 12 号".into());
    let names = DisplayNames::default();
    let picked = [&a];
    let reader = Reader::WebCopy {
        subscribe_url: "https://m.example/subscribe?locale=en",
    };
    let d = r
        .render(&letter("en", &brand, &sections, &names, &picked, reader))
        .unwrap();
    for personal in ["@example", "manage", "unsubscribe", "token="] {
        assert!(!d.html.contains(personal), "{personal} in {}", d.html);
    }
    assert!(d.html.contains("noindex") && d.html.contains("西宁市五四大街 12 号"));
    assert!(
        d.html.contains("Read more") && d.html.contains("https://m.example/subscribe?locale=en")
    );
}

#[test]
fn english_mail_uses_the_english_names_of_schedules_and_sections() {
    let dir = tempfile::tempdir().unwrap();
    let r = renderer(dir.path());
    let a = article("a1", "news", "Skills contest");
    let sections = [section("news", "工会要闻")];
    let mut names = DisplayNames {
        default_locale: "zh-CN".into(),
        ..Default::default()
    };
    names
        .schedules
        .entry("daily".into())
        .or_default()
        .insert("en".into(), "Morning briefing".into());
    let b = brand();
    let picked = [&a];
    let d = r
        .render(&letter("en", &b, &sections, &names, &picked, MAIL))
        .unwrap();
    assert_eq!(d.subject, "青海省总工会: Morning briefing (1 Mar 2026)");
    assert!(
        d.html.contains("Morning briefing · 1 Mar 2026"),
        "{}",
        d.html
    );
    // No English title stored for the section: the strings file's.
    assert!(
        d.html.contains(">Union news</h2>") && !d.html.contains("工会要闻"),
        "{}",
        d.html
    );
    assert!(d.text.contains("== Union news =="), "{}", d.text);
}

#[test]
fn the_logo_is_48_px_high_and_never_wider_than_the_column() {
    use super::logo_size;
    assert_eq!(logo_size(Some((240, 96))), Some((120, 48)));
    assert_eq!(logo_size(Some((48, 48))), Some((48, 48)));
    // A very wide banner: as wide as the column, lower than 48 px.
    assert_eq!(logo_size(Some((2000, 100))), Some((552, 27)));
    assert_eq!(logo_size(Some((0, 10))), None);
    assert_eq!(logo_size(None), None);
}
