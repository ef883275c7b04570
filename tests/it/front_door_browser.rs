//! The front door in a real browser (headless Chromium): in Chinese for a Chinese browser, in
//! English through its switch, at the two widths people use, never wider than a phone's
//! screen; dark in dark mode; its subscribe form works. Screenshots land in
//! `tests/artifacts/front-door-{locale}-{width}.png`.

use crate::common;

use chrono::Duration as Span;
use common::browser::{click, fill, text, wait_css, wait_path};
use fantoccini::{Client, ClientBuilder};
use tidings::domain::SubscriberStatus;

use crate::subscriptions_browser::{artifacts, start_chromedriver};

/// Window sizes: a desktop tall enough for the whole page, and a phone's screen.
const SIZES: [(u32, u32); 2] = [(1280, 1400), (390, 1400)];

/// Saves `front-door-{locale}-{width}.png` at both sizes, and at the phone's size the page
/// scrolled to its subscribe form (`…-390-form.png`), which comes last on a phone.
async fn shoot(client: &Client, locale: &str) {
    let here = client.current_url().await.unwrap();
    for (width, height) in SIZES {
        client.set_window_size(width, height).await.unwrap();
        let png = client.screenshot().await.unwrap();
        std::fs::write(
            artifacts().join(format!("front-door-{locale}-{width}.png")),
            png,
        )
        .unwrap();
    }
    let mut form = here.clone();
    form.set_fragment(Some("subscribe"));
    client.goto(form.as_str()).await.unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(
        artifacts().join(format!("front-door-{locale}-390-form.png")),
        png,
    )
    .unwrap();
    client
        .set_window_size(SIZES[0].0, SIZES[0].1)
        .await
        .unwrap();
    client.goto(here.as_str()).await.unwrap();
}

/// At a phone's width the page is no wider than the window (a reader would scroll sideways);
/// the message names the first elements that stick out past the window's right edge.
async fn assert_fits_a_phone(client: &Client, locale: &str) {
    let (width, height) = SIZES[1];
    client.set_window_size(width, height).await.unwrap();
    let measured = client
        .execute(
            "const view = window.innerWidth;\
             const out = [...document.body.querySelectorAll('*')]\
               .filter(e => e.getBoundingClientRect().right > view + 0.5).slice(0, 5)\
               .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')\
                 + (e.getAttribute('class') ? '.' + e.getAttribute('class') : ''));\
             return { page: document.documentElement.scrollWidth, view, out };",
            vec![],
        )
        .await
        .unwrap();
    client
        .set_window_size(SIZES[0].0, SIZES[0].1)
        .await
        .unwrap();
    let view = measured["view"].as_u64().unwrap();
    assert_eq!(
        view,
        u64::from(width),
        "{locale}: the window is not {width} px wide: {measured}"
    );
    assert!(
        measured["page"].as_u64().unwrap() <= view,
        "{locale}: the front door is wider than a {width} px screen: {measured}"
    );
}

/// The relative luminance (WCAG 2.x) of a computed colour `rgb(r, g, b)`: 0 is black, 1
/// white. A colour that is not opaque fails: a transparent background says nothing of what
/// the reader sees.
fn luminance(css: &str) -> f64 {
    let inner = css
        .strip_prefix("rgb(")
        .or_else(|| css.strip_prefix("rgba("))
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not an rgb() colour: {css}"));
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| p.trim().parse().unwrap())
        .collect();
    assert!(
        parts.len() == 3 || (parts.len() == 4 && parts[3] == 1.0),
        "not an opaque colour: {css}"
    );
    let linear = |c: f64| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(parts[0]) + 0.7152 * linear(parts[1]) + 0.0722 * linear(parts[2])
}

/// Whether the browser asks for dark pages, and the luminances of the body's background and
/// text colours as computed; with what was read, for messages.
async fn scheme_and_colours(client: &Client) -> (bool, f64, f64, serde_json::Value) {
    let read = client
        .execute(
            "const s = getComputedStyle(document.body);\
             return { dark: matchMedia('(prefers-color-scheme: dark)').matches,\
               background: s.backgroundColor, text: s.color };",
            vec![],
        )
        .await
        .unwrap();
    (
        read["dark"].as_bool().unwrap(),
        luminance(read["background"].as_str().unwrap()),
        luminance(read["text"].as_str().unwrap()),
        read,
    )
}

/// A Chromium session whose browser asks for Chinese pages (`Accept-Language`), as a member
/// in Qinghai has it. Keep the directory as long as the session: it is the profile.
async fn chinese_browser(webdriver: &str, dark: bool) -> (Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    // Blink's `PreferredColorScheme`: 0 is dark, 1 light.
    let scheme = format!(
        "--blink-settings=preferredColorScheme={}",
        if dark { 0 } else { 1 }
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--hide-scrollbars", "--lang=zh-CN", scheme,
            format!("--user-data-dir={}", profile.path().display()),
        ], "prefs": { "intl.accept_languages": "zh-CN,zh" } }),
    );
    let client = ClientBuilder::native()
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("open a Chromium session");
    (client, profile)
}

/// What a provincial federation's site holds on an ordinary week.
async fn publish(app: &common::TestApp) {
    let now = app.clock.now();
    let items = [
        (
            "news",
            "省总工会召开十四届五次全委会议，部署2026年重点工作",
            2,
        ),
        ("news", "全省职工职业技能大赛决赛在西宁开幕", 20),
        ("news", "“工会驿站”服务户外劳动者超过十万人次", 44),
        ("news", "省总工会开展春送岗位暨就业援助月活动", 70),
        ("news", "青海绿色算力产业工会联合会成立", 95),
        ("news", "这一条已经是第六条，不在首页显示", 120),
        ("notices", "关于做好2026年春节期间困难职工帮扶工作的通知", 5),
        ("notices", "关于评选表彰全省五一劳动奖章的公告", 50),
        ("grassroots", "海东市：产业工人队伍建设改革见成效", 8),
        ("grassroots", "玉树州职工书屋走进牧区", 30),
        ("grassroots", "格尔木工会为盐湖一线职工送清凉", 61),
    ];
    for (i, (section, title, hours_ago)) in items.iter().enumerate() {
        let mut body = common::article(section, title);
        body["url"] = format!("https://www.example.org/{section}/{i}.html").into();
        body["published_at"] = (now - Span::hours(*hours_ago)).to_rfc3339().into();
        assert!(
            app.put_article(&format!("a{i}"), &body)
                .await
                .status()
                .is_success()
        );
    }
    let shown = common::feeds::eventually(std::time::Duration::from_secs(5), || {
        common::feeds::feed_contains(app, "/", "格尔木工会")
    })
    .await;
    assert!(shown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_door_reads_well_in_both_languages_at_both_widths() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.site.home_url = Some("https://www.example.org/".into());
    })
    .await
    .unwrap();
    publish(&app).await;
    let (_driver, webdriver) = start_chromedriver().await;
    let (client, _profile) = chinese_browser(&webdriver, false).await;
    client
        .set_window_size(SIZES[0].0, SIZES[0].1)
        .await
        .unwrap();

    client.goto(&app.url("/")).await.unwrap();
    wait_css(&client, "section#news ol.articles").await;
    wait_css(&client, "html[lang=zh-CN]").await;
    assert_eq!(text(&client, "h1").await, "青海省总工会");
    assert_eq!(
        text(&client, "section#news li a").await,
        "省总工会召开十四届五次全委会议，部署2026年重点工作"
    );
    shoot(&client, "zh-CN").await;
    assert_fits_a_phone(&client, "zh-CN").await;
    // In light mode: dark text on a light page (so the dark-mode check below is about the
    // mode, not a page that is always dark).
    let (dark, background, text_colour, read) = scheme_and_colours(&client).await;
    assert!(!dark, "the light session asks for dark pages: {read}");
    assert!(
        background > 0.7 && text_colour < 0.1,
        "light mode: background {background:.3}, text {text_colour:.3}: {read}"
    );

    // The switch, as a person clicks it.
    click(&client, "header a[hreflang=en]").await;
    wait_path(&client, "/?locale=en").await;
    wait_css(&client, "html[lang=en]").await;
    assert_eq!(text(&client, "#subscribe-title").await, "Email digest");
    shoot(&client, "en").await;
    assert_fits_a_phone(&client, "en").await;

    // Its form subscribes, in the page's language.
    fill(&client, "email", "zhang.wei@example.org").await;
    click(&client, "#subscribe input[name=sections][value=notices]").await;
    click(&client, "#subscribe input[name=schedule][value=weekly]").await;
    click(&client, "#subscribe button[type=submit]").await;
    wait_path(&client, "/subscribe").await;
    wait_css(&client, "main h1").await;
    assert_eq!(text(&client, "main h1").await, "Check your inbox");
    let recorded = common::feeds::eventually(std::time::Duration::from_secs(5), || async {
        common::subscriptions::status_of(&app, "zhang.wei@example.org").await
            == Some(SubscriberStatus::Pending)
    })
    .await;
    assert!(recorded, "the sign-up was not recorded");
    let s = app
        .state
        .store
        .subscriber_by_email("zhang.wei@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.sections, s.schedule.as_str(), s.locale.as_str()),
        (vec!["notices".to_owned()], "weekly", "en")
    );
    client.close().await.unwrap();

    // At night, with the system in dark mode.
    let (client, _profile) = chinese_browser(&webdriver, true).await;
    client
        .set_window_size(SIZES[0].0, SIZES[0].1)
        .await
        .unwrap();
    client.goto(&app.url("/")).await.unwrap();
    wait_css(&client, "section#news ol.articles").await;
    let png = client.screenshot().await.unwrap();
    std::fs::write(artifacts().join("front-door-zh-CN-1280-dark.png"), png).unwrap();
    // Light text on a dark page, not the light page's colours.
    let (dark, background, text_colour, read) = scheme_and_colours(&client).await;
    assert!(dark, "the dark session does not ask for dark pages: {read}");
    assert!(
        background < 0.05,
        "dark mode: the background is not dark (luminance {background:.3}): {read}"
    );
    assert!(
        text_colour > 0.6,
        "dark mode: the text is not light (luminance {text_colour:.3}): {read}"
    );
    client.close().await.unwrap();
}
