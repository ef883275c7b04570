//! The digest mail as members read it (issue 14): each article with its lead image, title
//! link, meta line, excerpt and "read more"; the header and footer from the settings; a
//! layout mail clients show (tables, inline styles, no script); `List-Id` and the mailto on
//! the site's own domain; names in the reader's language. Mails go out over real SMTP on
//! both backends; the pictures come from a real HTTP server of the test.

use crate::common;

use common::{
    TestApp,
    admin::signed_in,
    smtp::{Captured, SmtpServer},
};
use reqwest::StatusCode;
use serde_json::json;
use tidings::domain::Role;

use crate::digest_delivery::{run_now, wait_done};

/// A PNG of `w` × `h` pixels (sky, field, a red-roofed house, a sun) made with the crate's own
/// zlib, so that the test serves a real picture whose size is known.
pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
    use flate2::{Compression, Crc, write::ZlibEncoder};
    use std::io::Write;
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    for y in 0..h {
        raw.push(0);
        for x in 0..w {
            let (fx, fy) = (f64::from(x) / f64::from(w), f64::from(y) / f64::from(h));
            let sun = (fx - 0.8).powi(2) + (fy - 0.2).powi(2) * 2.25 < 0.006;
            let roof = fy > 0.3 && fy < 0.45 && (fx - 0.4).abs() < (fy - 0.3) * 1.2;
            let house = (0.45..0.75).contains(&fy) && (fx - 0.4).abs() < 0.15;
            let rgb = if sun {
                [0xf6, 0xd3, 0x6b]
            } else if roof {
                [0xb7, 0x1c, 0x1c]
            } else if house {
                [0xf3, 0xef, 0xe6]
            } else if fy > 0.7 {
                [0x5b, 0x7f, 0x4a]
            } else {
                [0x7f, (0xa7 + (fy * 40.0) as u32).min(255) as u8, 0xc9]
            };
            raw.extend(rgb);
        }
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    z.write_all(&raw).unwrap();
    let idat = z.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(kind);
        out.extend(data);
        let mut crc = Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    out
}

/// Serves a 1200 × 800 photo at `/photo.png`, a 400 × 300 one at `/small.png` and a
/// 240 × 96 logo at `/logo.png` on a port of its own; returns the server's base URL.
pub(crate) async fn picture_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (photo, small, logo) = (png(1200, 800), png(400, 300), png(240, 96));
    let serve = |bytes: Vec<u8>| {
        axum::routing::get(move || async move { ([("content-type", "image/png")], bytes) })
    };
    let app = axum::Router::new()
        .route("/photo.png", serve(photo))
        .route("/small.png", serve(small))
        .route("/logo.png", serve(logo));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Imports `rows` of `email,sections,schedule,locale` as active subscribers.
pub(crate) async fn import(app: &TestApp, rows: &str) {
    app.import_ok(&format!("email,sections,schedule,locale\n{rows}"))
        .await;
}

/// Publishes article `id` now, with `extra` fields over a plain body.
pub(crate) async fn publish(
    app: &TestApp,
    id: &str,
    section: &str,
    title: &str,
    extra: serde_json::Value,
) {
    let mut body = json!({
        "section": section,
        "title": title,
        "url": format!("https://www.example.org/{section}/{id}.html"),
        "content_html": "<p>正文。</p>",
        "summary": format!("{title}的摘要：全省各级工会组织深入学习贯彻会议精神。"),
        "published_at": app.clock.now().to_rfc3339(),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.put_article(id, &body).await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Runs `daily` now and returns the mail each of `emails` got.
pub(crate) async fn run_daily(app: &TestApp, smtp: &SmtpServer, emails: &[&str]) -> Vec<Captured> {
    let before = smtp.messages().len();
    app.clock.advance(chrono::Duration::minutes(1));
    wait_done(app, run_now(app, "daily").await).await;
    smtp.wait_for(before + emails.len()).await;
    emails
        .iter()
        .map(|e| smtp.to(e).pop().unwrap_or_else(|| panic!("no mail to {e}")))
        .collect()
}

/// The `href` of every `<a>` whose text contains `text`, in order.
pub(crate) fn hrefs_of(html: &str, text: &str) -> Vec<String> {
    html.match_indices("<a ")
        .filter_map(|(i, _)| {
            let rest = &html[i..];
            let end = rest.find("</a>")?;
            let (open, inner) = rest[..end].split_once('>')?;
            let href = open.split("href=\"").nth(1)?.split('"').next()?;
            inner.contains(text).then(|| href.replace("&amp;", "&"))
        })
        .collect()
}

/// The `style` of the innermost `<td>` holding `needle`.
pub(crate) fn td_style<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    let td = html[..at].rfind("<td").unwrap();
    let open = &html[td..td + html[td..].find('>').unwrap()];
    open.split("style=\"")
        .nth(1)
        .map_or("", |s| s.split('"').next().unwrap())
}

/// Every `font-size:Npx` of `html`.
fn font_sizes(html: &str) -> Vec<u32> {
    html.match_indices("font-size:")
        .filter_map(|(i, _)| {
            let n: String = html[i + 10..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            n.parse().ok()
        })
        .collect()
}

with_smtp_on_both_backends! {
    async fn each_article_has_its_lead_image_title_link_meta_line_excerpt_and_read_more(app, smtp) {
        let pictures = picture_server().await;
        import(&app, "zh@example.com,,daily,zh-CN\nen@example.com,,daily,en\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        let photo = format!("{pictures}/photo.png");
        publish(&app, "library", "news", "职工书屋正式开放", json!({
            "author": "王芳", "image": {"url": photo, "caption": "书屋阅览区"}})).await;
        publish(&app, "holiday", "notices", "关于清明节放假的通知", json!({
            "image": {"url": format!("{pictures}/small.png")}})).await;
        let mails = run_daily(&app, &smtp, &["zh@example.com", "en@example.com"]).await;
        let (zh, en) = (mails[0].html(), mails[1].html());
        let library = "https://www.example.org/news/library.html";
        let holiday = "https://www.example.org/notices/holiday.html";

        // The lead image: as wide as the column at most, its proportions kept, the caption as
        // its alt text (the title when it has none), linked to the article.
        let img = format!("<img src=\"{photo}\" alt=\"书屋阅览区\" width=\"552\" height=\"368\" style=\"display:block;width:100%;max-width:100%;height:auto;");
        assert!(zh.contains(&img), "{zh}");
        assert!(zh.contains(&format!("<img src=\"{pictures}/small.png\" alt=\"关于清明节放假的通知\" width=\"400\" height=\"300\" style=\"display:block;width:100%;max-width:400px;height:auto;")), "{zh}");
        assert_eq!(hrefs_of(&zh, &format!("<img src=\"{photo}\"")), [library]);
        // The title as a link, the meta line (date in the site's zone, author, section), the
        // excerpt and a "read more" link to the article's own page.
        assert_eq!(hrefs_of(&zh, "职工书屋正式开放"), [library]);
        assert!(zh.contains("2026年3月1日 08:01 · 王芳 · 工会要闻"), "{zh}");
        assert!(zh.contains("2026年3月1日 08:01 · 通知公告"), "no author, no empty field: {zh}");
        assert!(zh.contains("职工书屋正式开放的摘要：全省各级工会组织深入学习贯彻会议精神。"));
        assert_eq!(hrefs_of(&zh, "阅读全文"), [library, holiday]);
        // Sections keep their headings, in their order.
        let (news, notices) = (zh.find(">工会要闻</h2>").unwrap(), zh.find(">通知公告</h2>").unwrap());
        assert!(news < zh.find("职工书屋正式开放</a>").unwrap() && news < notices);
        // The web copy's link comes before everything else.
        let web = hrefs_of(&zh, "在浏览器中查看");
        assert_eq!(web.len(), 1);
        assert!(web[0].starts_with("http://feeds.example.test/digests/") && web[0].contains("?token="), "{web:?}");
        assert!(zh.find("在浏览器中查看").unwrap() < zh.find("<h1").unwrap());

        // English: the same design in English, dates as English readers write them.
        assert_eq!(hrefs_of(&en, "Read more"), [library, holiday]);
        assert!(en.contains("1 Mar 2026 08:01 · 王芳 · Union news"), "{en}");
        assert_eq!(hrefs_of(&en, "View in browser").len(), 1);
        assert_eq!(mails[1].header("Subject").unwrap(), "青海省总工会: Daily digest (1 Mar 2026)");

        // The text part: the web copy at the top, then each article in a few tidy lines.
        let text = mails[0].text().replace("\r\n", "\n");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "青海省总工会 · 每日摘要 · 2026年3月1日");
        assert_eq!(lines[1], format!("在浏览器中查看：{}", web[0]));
        assert!(text.contains(&format!("【工会要闻】\n\n职工书屋正式开放\n2026年3月1日 08:01 · 王芳 · 工会要闻\n职工书屋正式开放的摘要：全省各级工会组织深入学习贯彻会议精神。\n阅读全文：{library}\n")), "{text}");
        assert!(!text.contains("\n\n\n") && !text.contains('<') && !text.contains("&amp;"), "{text}");
        assert!(mails[1].text().contains(&format!("Read more: {holiday}")));
    }

    async fn the_header_and_footer_show_logo_title_why_manage_unsubscribe_and_the_address(app, smtp) {
        let pictures = picture_server().await;
        let admin = signed_in(&app, "guan.li@example.org", Role::Admin).await;
        let settings = admin.page("/admin/settings", StatusCode::OK).await;
        assert!(settings.contains("name=\"address.zh-CN\"") && settings.contains("name=\"address.en\""), "{settings}");
        // Too long an address is refused in place, naming the field; nothing is saved.
        let long = "路".repeat(201);
        let r = admin.post("/admin/settings", "/admin/settings", &[("address.zh-CN", long.as_str())]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"e-address.zh-CN\"") && page.contains("最多 200 个字符"), "{page}");
        assert!(app.state.store.site_settings().await.unwrap().is_empty());
        let logo = format!("{pictures}/logo.png");
        let r = admin.post("/admin/settings", "/admin/settings", &[
            ("address.zh-CN", "青海省西宁市城西区五四大街 12 号 · 邮编 810001"),
            ("address.en", "12 Wusi Street, Xining, Qinghai 810001"),
            ("footer.zh-CN", "本邮件由青海省总工会宣传部编发。"),
            ("logo_url", &logo),
        ]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        import(&app, "zh@example.com,,daily,zh-CN\nen@example.com,,daily,en\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a1", "news", "职工技能大赛开幕", json!({})).await;
        let mails = run_daily(&app, &smtp, &["zh@example.com", "en@example.com"]).await;
        let (zh, en) = (mails[0].html(), mails[1].html());

        // 240 × 96 drawn 48 px high: Outlook gets both attributes.
        assert!(zh.contains(&format!("<img src=\"{logo}\" alt=\"青海省总工会\" height=\"48\" width=\"120\"")), "{zh}");
        let home = "http://feeds.example.test";
        assert_eq!(hrefs_of(&zh, "青海省总工会"), [home, home], "the logo and the title link to the site");
        // Why you get this, then manage and unsubscribe, in a readable size (not 12 px grey).
        assert!(zh.contains("您收到这封邮件，是因为 zh@example.com 订阅了青海省总工会的每日摘要。"), "{zh}");
        let manage = hrefs_of(&zh, "管理订阅");
        let unsubscribe = hrefs_of(&zh, "退订");
        assert!(manage.len() == 1 && manage[0].starts_with("http://feeds.example.test/subscriptions/manage?token="), "{manage:?}");
        assert!(unsubscribe.len() == 1 && unsubscribe[0].starts_with("http://feeds.example.test/unsubscribe?token="), "{unsubscribe:?}");
        let footer = td_style(&zh, "您收到这封邮件");
        assert!(footer.contains("font-size:14px") && footer.contains("color:#555555"), "{footer}");
        for (i, size) in font_sizes(&zh).into_iter().enumerate() {
            // 0 and 1 px: the hidden preview line and spacer cells.
            assert!(size <= 1 || size >= 13, "font size #{i} of {size} px is too small to read");
        }
        // The settings' footer text and the address line of each language.
        assert!(zh.contains("本邮件由青海省总工会宣传部编发。"));
        assert!(zh.contains("青海省西宁市城西区五四大街 12 号 · 邮编 810001"), "{zh}");
        assert!(en.contains("12 Wusi Street, Xining, Qinghai 810001") && !en.contains("五四大街"), "{en}");
        assert!(en.contains("You are receiving this because en@example.com subscribed to the Daily digest of 青海省总工会."), "{en}");
        let text = mails[0].text().replace("\r\n", "\n");
        assert!(text.trim_end().ends_with("青海省西宁市城西区五四大街 12 号 · 邮编 810001"), "{text}");
        assert!(text.contains("\n-- \n您收到这封邮件"), "a signature separator: {text}");
    }

    async fn the_html_is_tables_and_inline_styles_with_no_script_or_outside_stylesheet(app, smtp) {
        let pictures = picture_server().await;
        import(&app, "zh@example.com,,daily,zh-CN\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a1", "news", "职工技能大赛开幕", json!({"image": {"url": format!("{pictures}/photo.png"), "caption": "开幕式"}})).await;
        publish(&app, "a2", "news", "<script>alert(1)</script> 标题", json!({})).await;
        let html = run_daily(&app, &smtp, &["zh@example.com"]).await[0].html();

        for banned in ["<script", "<link", "@import", "javascript:", "position:", "float:", "display:flex", "display:grid", "<div style=\"max-width"] {
            assert!(!html.contains(banned), "{banned} in {html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; 标题"), "escaped");
        // One <style> block, only media queries (dark scheme, small screens).
        assert_eq!(html.matches("<style").count(), 1);
        let style = &html[html.find("<style>").unwrap() + 7..html.find("</style>").unwrap()];
        let mut depth = 0;
        for (i, c) in style.char_indices() {
            match c {
                '{' => {
                    if depth == 0 {
                        let head = style[..i].rsplit('}').next().unwrap().trim();
                        assert!(head.starts_with("@media"), "a rule outside a media query: {head}");
                    }
                    depth += 1;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        // Layout by tables of presentation, at most 600 px wide.
        assert!(html.matches("<table role=\"presentation\"").count() >= 4);
        assert!(!html.contains("<table>") && html.contains("max-width:600px"));
        // Every picture has its size and alt text and shrinks with the screen.
        for (i, _) in html.match_indices("<img ") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(tag.contains(" alt=\"") && tag.contains("max-width:") && tag.contains("height:"), "{tag}");
            assert!(tag.contains(" width=\"") || tag.contains(" height=\""), "{tag}");
        }
        // Links are absolute, so that they work from any mail client.
        for (i, _) in html.match_indices("href=\"") {
            let href = &html[i + 6..];
            assert!(href.starts_with("http://") || href.starts_with("https://"), "{}", &href[..40.min(href.len())]);
        }
    }

    async fn the_preview_shows_the_new_design_without_a_web_copy_link(app, smtp) {
        import(&app, "zh@example.com,,daily,zh-CN\n").await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "a1", "news", "职工技能大赛开幕", json!({})).await;
        let r = app.client.get(app.url("/api/v1/schedules/daily/preview?email=zh@example.com"))
            .bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert_eq!(hrefs_of(&html, "阅读全文"), ["https://www.example.org/news/a1.html"]);
        assert!(html.contains("<table role=\"presentation\"") && html.contains(">工会要闻</h2>"));
        // A preview is no delivery: there is no web copy to link to.
        assert!(!html.contains("/digests/") && !html.contains("在浏览器中查看"), "{html}");
        assert!(smtp.messages().is_empty());
    }
}
