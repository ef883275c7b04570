//! Console articles: the list (search, filters, keyset paging), the form that publishes
//! through the API's ingest, the preview, retract and restore, errors in place, CSRF and
//! escaping of what publishers wrote.

use std::time::Duration;

use crate::common::{
    self,
    admin::{Console, signed_in},
    feeds::{eventually, feed_contains},
};

use reqwest::StatusCode;
use tidings::domain::{AuditKind, Role};

const NEW: &str = "/admin/articles/new";

/// A valid form, with `changes` applied.
fn form<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("id", "form-1"),
        ("title", "职工书屋开放"),
        ("section", "news"),
        ("format", "markdown"),
        ("body", "**书屋**今天开放。<script>alert(1)</script>"),
        ("summary", ""),
        ("url", "https://www.example.org/news/shuwu.html"),
        ("image_url", "https://www.example.org/img/shuwu.jpg"),
        ("image_caption", "新书屋一角"),
        ("tags", "书屋，阅读"),
        ("author", "王芳"),
        ("published", "2026-03-01T07:30"),
    ];
    for (k, v) in changes {
        match f.iter_mut().find(|(fk, _)| fk == k) {
            Some(slot) => slot.1 = v,
            None => f.push((k, v)),
        }
    }
    f
}

async fn create(c: &Console<'_>, changes: &[(&str, &str)]) -> reqwest::Response {
    c.post(NEW, NEW, &form(changes)).await
}

/// Rows of the list page.
fn rows(html: &str) -> usize {
    html.matches("<tr class=\"status-").count()
}

async fn audit_kinds(app: &common::TestApp) -> Vec<AuditKind> {
    (app.state
        .store
        .audit_entries(None, None, None, 100)
        .await
        .unwrap())
    .into_iter()
    .map(|e| e.kind)
    .collect()
}

on_both_backends! {
    async fn an_article_made_in_the_form_reaches_the_feed_sanitised_and_is_audited(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let r = create(&c, &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/articles/form-1?saved=created");

        assert!(eventually(Duration::from_secs(5), || feed_contains(&app, "/feeds/news.rss", "职工书屋开放")).await);
        let feed = common::feeds::get(&app, "/feeds/news.rss", &[]).await.text().await.unwrap();
        assert!(!feed.contains("alert(1)") && !feed.contains("<script"), "{feed}");
        assert!(feed.contains("&lt;strong&gt;书屋&lt;/strong&gt;") || feed.contains("<strong>书屋</strong>"), "{feed}");
        assert!(feed.contains("https://www.example.org/img/shuwu.jpg") && feed.contains("新书屋一角"), "{feed}");
        let stored = app.state.store.get_article("form-1").await.unwrap().unwrap();
        assert_eq!(stored.tags, ["书屋", "阅读"]);
        assert_eq!(stored.author.as_deref(), Some("王芳"));
        assert_eq!(stored.published_at, "2026-02-28T23:30:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap(), "07:30 in Asia/Shanghai");
        assert_eq!(stored.image.unwrap().caption.as_deref(), Some("新书屋一角"));

        let page = c.page("/admin/articles/form-1?saved=created", StatusCode::OK).await;
        assert!(page.contains("文章已发布") && page.contains("2026-03-01T07:30"), "{page}");
        assert_eq!(audit_kinds(&app).await[0], AuditKind::ArticleCreate);
    }

    async fn editing_in_the_form_updates_the_feed_and_records_before_and_after(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        create(&c, &[]).await;
        let r = c.post("/admin/articles/form-1", "/admin/articles/form-1", &form(&[("title", "职工书屋扩建"), ("format", "html"), ("body", "<p>扩建完成</p>")])).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/articles/form-1?saved=updated");
        assert!(eventually(Duration::from_secs(5), || feed_contains(&app, "/feeds/news.rss", "职工书屋扩建")).await);
        let entry = &app.state.store.audit_entries(None, Some(AuditKind::ArticleEdit), None, 10).await.unwrap()[0];
        assert!(entry.before.as_deref().unwrap().contains("职工书屋开放"));
        assert!(entry.after.as_deref().unwrap().contains("职工书屋扩建"));
        assert_eq!(entry.actor, "editor@example.org");

        // Saving again without a change is not a change.
        let r = c.post("/admin/articles/form-1", "/admin/articles/form-1", &form(&[("title", "职工书屋扩建"), ("format", "html"), ("body", "<p>扩建完成</p>")])).await;
        assert_eq!(r.headers()["location"], "/admin/articles/form-1?saved=unchanged");
        assert_eq!(app.state.store.audit_entries(None, Some(AuditKind::ArticleEdit), None, 10).await.unwrap().len(), 1);
    }

    async fn a_scheduled_article_shows_as_scheduled_and_stays_out_of_the_feed_until_its_time(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        // The clock reads 2026-03-01 08:00 in Asia/Shanghai.
        assert_eq!(create(&c, &[("id", "later"), ("title", "明天的通知"), ("published", "2026-03-01T11:00")]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(create(&c, &[("id", "now"), ("title", "今天的消息")]).await.status(), StatusCode::SEE_OTHER);
        assert!(eventually(Duration::from_secs(5), || feed_contains(&app, "/feeds/news.rss", "今天的消息")).await);
        assert!(!feed_contains(&app, "/feeds/news.rss", "明天的通知").await);

        let scheduled = c.page("/admin/articles?status=scheduled", StatusCode::OK).await;
        assert_eq!(rows(&scheduled), 1);
        assert!(scheduled.contains("明天的通知") && scheduled.contains("定时发布") && scheduled.contains("2026-03-01 11:00"));
        let published = c.page("/admin/articles?status=published", StatusCode::OK).await;
        assert_eq!(rows(&published), 1);
        assert!(published.contains("今天的消息") && !published.contains("明天的通知"));

        app.clock.advance(chrono::Duration::hours(4));
        assert!(eventually(Duration::from_secs(5), || feed_contains(&app, "/feeds/news.rss", "明天的通知")).await);
        let published = c.page("/admin/articles?status=published", StatusCode::OK).await;
        assert_eq!(rows(&published), 2);
    }

    async fn the_list_searches_titles_filters_and_pages_by_cursor(app) {
        for i in 0..57 {
            let mut a = common::article("news", &format!("Budget report {i:02}"));
            a["published_at"] = format!("2026-02-{:02}T{:02}:00:00+08:00", 1 + i / 24, i % 24).into();
            assert!(app.put_article(&format!("n{i:02}"), &a).await.status().is_success());
        }
        let mut a = common::article("notices", "关于春节放假的通知");
        a["published_at"] = "2026-02-27T09:00:00+08:00".into();
        app.put_article("notice-1", &a).await;
        app.put_article("gone", &common::article("notices", "Withdrawn 100% item")).await;
        app.client.delete(app.url("/api/v1/articles/gone")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;

        // Newest first, 50 a page, then the rest after the cursor, none twice.
        let first = c.page("/admin/articles", StatusCode::OK).await;
        assert_eq!(rows(&first), 50);
        assert!(first.find("关于春节放假的通知").unwrap() < first.find("Budget report 56").unwrap());
        let next = first.split("href=\"").filter_map(|s| s.split('"').next()).find(|h| h.contains("cursor=")).expect("an older-articles link").replace("&amp;", "&");
        let second = c.page(&next, StatusCode::OK).await;
        assert_eq!(rows(&second), 9);
        for i in 0..57 {
            let t = format!("Budget report {i:02}<");
            assert_eq!(first.matches(&t).count() + second.matches(&t).count(), 1, "{t}");
        }
        assert!(!second.contains("rel=\"next\""), "no page after the last");

        // Title search: any case, any part; wildcards are literal.
        let found = c.page("/admin/articles?q=budget+REPORT+0", StatusCode::OK).await;
        assert_eq!(rows(&found), 10);
        assert_eq!(rows(&c.page("/admin/articles?q=%E6%98%A5%E8%8A%82", StatusCode::OK).await), 1);
        assert_eq!(rows(&c.page("/admin/articles?q=100%25", StatusCode::OK).await), 1);
        assert_eq!(rows(&c.page("/admin/articles?q=%25", StatusCode::OK).await), 1);
        // Section and status; the paging link keeps the filters.
        let notices = c.page("/admin/articles?section=notices", StatusCode::OK).await;
        assert_eq!(rows(&notices), 2);
        let retracted = c.page("/admin/articles?status=retracted", StatusCode::OK).await;
        assert_eq!(rows(&retracted), 1);
        assert!(retracted.contains("Withdrawn 100% item") && retracted.contains("已撤回"));
        let news = c.page("/admin/articles?section=news&status=published&q=budget", StatusCode::OK).await;
        assert_eq!(rows(&news), 50);
        assert!(news.contains("section=news&amp;status=published&amp;cursor=") || news.contains("q=budget&amp;section=news&amp;status=published&amp;cursor="), "filters kept in the paging link");
    }

    async fn retract_asks_first_takes_it_out_of_the_feed_and_restore_brings_it_back(app) {
        app.put_article("a1", &common::article("news", "将被撤回的文章")).await;
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        assert!(eventually(Duration::from_secs(5), || feed_contains(&app, "/feeds/news.rss", "将被撤回的文章")).await);

        let ask = c.page("/admin/articles/a1/retract", StatusCode::OK).await;
        assert!(ask.contains("确定撤回这篇文章吗") && ask.contains("method=\"post\""));
        assert!(app.state.store.get_article("a1").await.unwrap().is_some(), "asking changes nothing");

        let r = c.post("/admin/articles/a1/retract", "/admin/articles/a1/retract", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(eventually(Duration::from_secs(5), || async { !feed_contains(&app, "/feeds/news.rss", "将被撤回的文章").await }).await);
        assert!(app.state.store.get_article("a1").await.unwrap().is_none());
        let page = c.page("/admin/articles/a1?saved=retracted", StatusCode::OK).await;
        assert!(page.contains("已撤回") && page.contains("/admin/articles/a1/restore"));

        let r = c.post("/admin/articles/a1/restore", "/admin/articles/a1", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(eventually(Duration::from_secs(5), || feed_contains(&app, "/feeds/news.rss", "将被撤回的文章")).await);
        let back = app.state.store.get_article("a1").await.unwrap().unwrap();
        assert_eq!(back.title, "将被撤回的文章");
        assert_eq!(&audit_kinds(&app).await[..2], [AuditKind::ArticleRestore, AuditKind::ArticleRetract]);
    }

    async fn bad_input_answers_the_form_with_errors_in_place_and_changes_nothing(app) {
        app.put_article("taken", &common::article("news", "已有的文章")).await;
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        for (changes, says) in [
            (vec![("id", "has space")], "编号中不能有空格"),
            (vec![("id", "")], "请填写文章编号"),
            (vec![("id", "taken")], "已有文章使用这个编号"),
            (vec![("section", "nope")], "请选择一个栏目"),
            (vec![("published", "2026-13-01T08:00")], "请按“2026-03-01 08:00”这样的格式"),
            (vec![("published", "")], "请填写发布时间"),
            (vec![("title", "   ")], "标题不能为空"),
            (vec![("url", "javascript:alert(1)")], "不是完整的 http:// 或 https:// 地址"),
            (vec![("image_url", ""), ("image_caption", "只有说明")], "还需要填写题图地址"),
            (vec![("body", "")], "正文不能为空"),
        ] {
            let mut changes = changes.clone();
            changes.push(("author", "保留我输入的作者"));
            let r = create(&c, &changes).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{changes:?}");
            let html = r.text().await.unwrap();
            assert!(html.contains(says), "{changes:?}: {html}");
            assert!(html.contains("保留我输入的作者") && html.contains("aria-invalid=\"true\""), "{changes:?}");
        }
        assert_eq!(app.state.store.count_articles().await.unwrap(), 1);
        assert_eq!(app.state.store.get_article("taken").await.unwrap().unwrap().title, "已有的文章");
        assert!(!audit_kinds(&app).await.contains(&AuditKind::ArticleCreate));
        // English pages say it in English.
        c.page("/admin/articles?locale=en", StatusCode::OK).await;
        let html = create(&c, &[("title", "")]).await.text().await.unwrap();
        assert!(html.contains("The title must not be empty."), "{html}");
        // An unknown article is a 404 page, not an error.
        c.page("/admin/articles/none-such", StatusCode::NOT_FOUND).await;
    }

    async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing(app) {
        app.put_article("a1", &common::article("news", "保持不变")).await;
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let r = c.post_raw(NEW, &form(&[])).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = c.post_raw("/admin/articles/a1/retract", &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = c.post_raw("/admin/articles/a1", &form(&[("title", "被篡改")])).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.state.store.count_articles().await.unwrap(), 1);
        assert_eq!(app.state.store.get_article("a1").await.unwrap().unwrap().title, "保持不变");
    }

    async fn a_hostile_title_is_escaped_in_the_list_and_the_edit_page(app) {
        let evil = "<img src=x onerror=alert(1)>";
        app.put_article("evil/1", &common::article("news", evil)).await;
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let list = c.page("/admin/articles", StatusCode::OK).await;
        assert!(!list.contains(evil) && list.contains("&lt;img src=x onerror=alert(1)&gt;"), "{list}");
        assert!(list.contains("/admin/articles/evil%2F1"));
        let edit = c.page("/admin/articles/evil%2F1", StatusCode::OK).await;
        assert!(!edit.contains(evil) && edit.contains("&lt;img src=x onerror=alert(1)&gt;"), "{edit}");
        let ask = c.page("/admin/articles/evil%2F1/retract", StatusCode::OK).await;
        assert!(!ask.contains(evil));
    }

    async fn the_preview_shows_the_feed_html_and_the_digest_block_without_saving(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let r = c.post("/admin/articles/preview", NEW, &form(&[("mode", "new"), ("body", "第一段<script>alert(1)</script>\n\n<a href=\"javascript:x()\">链接</a>")])).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("img-src 'self' data: https:"));
        let page = r.text().await.unwrap();
        // The form below keeps what was typed (escaped); the preview above shows the result.
        let html = &page[page.find("class=\"card preview\"").expect("a preview")..];
        let html = &html[..html.find("</section>").unwrap()];
        assert!(html.contains("预览（尚未保存）") && html.contains("<p>第一段</p>"), "{html}");
        assert!(!html.contains("alert(1)") && !html.contains("javascript:x()"), "{html}");
        // The digest's own article block: the section heading and the summary.
        assert!(html.contains("border-bottom:2px solid #b71c1c") && html.contains("工会要闻"), "{html}");
        assert!(html.contains("<img src=\"https://www.example.org/img/shuwu.jpg\""));
        assert_eq!(app.state.store.count_articles().await.unwrap(), 0, "a preview stores nothing");
        // A preview with problems shows them in the form.
        let r = c.post("/admin/articles/preview", NEW, &form(&[("mode", "new"), ("title", "")])).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_in_a_dst_gap_is_refused_with_a_clear_error() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.site.timezone = "Europe/Berlin".into();
    })
    .await
    .unwrap();
    let c = signed_in(&app, "editor@example.org", Role::Editor).await;
    c.page("/admin/articles?locale=en", StatusCode::OK).await;
    let r = create(&c, &[("published", "2026-03-29T02:30")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This time does not exist in Europe/Berlin"),
        "{html}"
    );
    assert_eq!(app.state.store.count_articles().await.unwrap(), 0);
    // The hour after the gap is fine, and is read in the site's zone.
    let r = create(&c, &[("published", "2026-03-29T03:30")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let a = app
        .state
        .store
        .get_article("form-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.published_at.to_rfc3339(), "2026-03-29T01:30:00+00:00");
}

mod browser {
    //! The article and section pages in headless Chromium, in zh-CN and en, saved at 1280
    //! and 390 px wide as `tests/artifacts/admin-<locale>-<page>-<width>.png`.

    use std::net::TcpListener;

    use crate::common::browser::{click, fill, shoot};
    use fantoccini::{Client, Locator};

    use crate::{
        common::{self, admin::PASSWORD},
        subscriptions_browser::start_chromedriver,
    };
    use tidings::domain::Role;

    /// A lead image served by the test (the preview shows pictures from other sites).
    const PHOTO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="400" viewBox="0 0 800 400"><rect width="800" height="400" fill="#7fa7c9"/><rect y="260" width="800" height="140" fill="#5b7f4a"/><circle cx="640" cy="90" r="50" fill="#f6d36b"/><rect x="180" y="150" width="300" height="170" fill="#f3efe6"/><polygon points="160,150 330,60 500,150" fill="#b71c1c"/><rect x="300" y="230" width="60" height="90" fill="#6d4c41"/></svg>"##;

    async fn wait_for(client: &Client, css: &str) {
        client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
    }

    /// Serves [`PHOTO`] on a port of its own; returns its URL.
    async fn photo_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/photo.svg",
            axum::routing::get(|| async { ([("content-type", "image/svg+xml")], PHOTO) }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/photo.svg")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn article_and_section_pages_in_a_real_browser() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
            c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
            c.site.base_url = base.clone();
        })
        .await
        .unwrap();
        let photo = photo_server().await;
        let articles = [
            (
                "n1",
                "news",
                "省总工会召开“职工之家”建设推进会",
                "2026-02-28T10:00:00+08:00",
            ),
            (
                "n2",
                "news",
                "<img src=x onerror=alert(1)> 标题里的尖括号",
                "2026-02-27T09:30:00+08:00",
            ),
            (
                "t1",
                "notices",
                "关于 2026 年春季职工疗休养的通知",
                "2026-03-03T09:00:00+08:00",
            ),
            (
                "g1",
                "grassroots",
                "西宁市总工会开展“送温暖”活动，走访慰问一线职工 120 余人",
                "2026-02-26T15:20:00+08:00",
            ),
            (
                "g2",
                "grassroots",
                "海东市职工技能大赛落幕",
                "2026-02-25T11:00:00+08:00",
            ),
        ];
        for (id, section, title, at) in articles {
            let mut a = common::article(section, title);
            a["published_at"] = at.into();
            a["author"] = "省总工会宣传部".into();
            if id == "n1" {
                a["image"] = serde_json::json!({ "url": photo, "caption": "推进会现场" });
            }
            assert!(app.put_article(id, &a).await.status().is_success());
        }
        app.client
            .delete(app.url("/api/v1/articles/g2"))
            .bearer_auth(common::PUBLISHER_TOKEN)
            .send()
            .await
            .unwrap();
        let r = app
            .client
            .put(app.url("/api/v1/sections/news"))
            .bearer_auth(common::ADMIN_TOKEN)
            .json(&serde_json::json!({
                "titles": { "zh-CN": "工会要闻", "en": "Union news" },
                "descriptions": { "zh-CN": "全省工会工作要闻", "en": "What the federation and its unions do" }
            }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let csv = "email,sections,schedule\nli.lei@example.org,news,daily\nwang.fang@example.org,,daily\n";
        app.client
            .post(app.url("/api/v1/subscribers/import"))
            .bearer_auth(common::ADMIN_TOKEN)
            .body(csv)
            .send()
            .await
            .unwrap();

        let (_driver, webdriver) = start_chromedriver().await;
        for locale in ["zh-CN", "en"] {
            let (client, _profile) = crate::common::browser::open(&webdriver, locale).await;
            let email = format!("editor.{}@example.org", locale.to_lowercase());
            let link = common::admin::add_account(&app, &email, Role::Editor).await;
            client
                .goto(&format!("{link}&locale={locale}"))
                .await
                .unwrap();
            fill(&client, "password", PASSWORD).await;
            fill(&client, "repeat", PASSWORD).await;
            click(&client, "button[type=submit].primary").await;
            wait_for(&client, "#email").await;
            fill(&client, "email", &email).await;
            fill(&client, "password", PASSWORD).await;
            click(&client, "button[type=submit].primary").await;
            wait_for(&client, "nav a[aria-current=page]").await;

            client
                .goto(&format!("{base}/admin/articles"))
                .await
                .unwrap();
            wait_for(&client, "table.articles").await;
            let html = client.source().await.unwrap();
            assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
            shoot(&client, locale, "articles-list").await;

            client
                .goto(&format!("{base}/admin/articles/new"))
                .await
                .unwrap();
            wait_for(&client, "#a-title").await;
            fill(&client, "a-id", &format!("browser-{locale}")).await;
            fill(
                &client,
                "a-title",
                "职工书屋正式开放 · Workers' library opens",
            )
            .await;
            fill(
                &client,
                "a-body",
                "省总工会**职工书屋**今天正式开放，藏书 3000 余册。\n\n- 开放时间：每天 9:00–20:00\n- 地点：职工服务中心二楼\n\n<script>alert('不会执行')</script>",
            )
            .await;
            fill(
                &client,
                "a-url",
                "https://www.example.org/news/library.html",
            )
            .await;
            fill(&client, "a-image", &photo).await;
            fill(&client, "a-caption", "书屋阅览区").await;
            fill(&client, "a-tags", "书屋, 阅读").await;
            fill(&client, "a-author", "王芳").await;
            shoot(&client, locale, "article-form").await;

            click(&client, "button.secondary[formaction]").await;
            wait_for(&client, ".preview .feed-item").await;
            let html = client.source().await.unwrap();
            let preview = &html[html.find("feed-item").unwrap()..];
            assert!(!preview[..preview.find("</article>").unwrap()].contains("alert("));
            shoot(&client, locale, "article-preview").await;
            click(&client, "button[type=submit].primary").await;
            wait_for(&client, "p.ok").await;
            shoot(&client, locale, "article-saved").await;

            // An error in place.
            client
                .goto(&format!("{base}/admin/articles/new"))
                .await
                .unwrap();
            wait_for(&client, "#a-title").await;
            fill(&client, "a-title", "缺少正文的文章").await;
            click(&client, "button[type=submit].primary").await;
            wait_for(&client, "p.error-text").await;
            shoot(&client, locale, "article-form-error").await;

            client
                .goto(&format!("{base}/admin/sections"))
                .await
                .unwrap();
            wait_for(&client, "ol.sections").await;
            shoot(&client, locale, "sections-list").await;
            client
                .goto(&format!("{base}/admin/sections/news"))
                .await
                .unwrap();
            wait_for(&client, "#s-title-en").await;
            shoot(&client, locale, "section-form").await;
            client
                .goto(&format!("{base}/admin/sections/news/delete"))
                .await
                .unwrap();
            wait_for(&client, "p.error").await;
            shoot(&client, locale, "section-delete-refused").await;
            client.close().await.unwrap();
        }
        assert!(
            app.state
                .store
                .get_article("browser-en")
                .await
                .unwrap()
                .is_some()
        );
    }
}
