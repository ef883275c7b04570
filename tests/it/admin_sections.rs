//! Console sections: the list with counts, per-locale create and edit (also through the
//! API's `titles`/`descriptions`), delete only when empty, reorder that survives a restart's
//! config seeding, errors in place and CSRF.

use std::time::Duration;

use crate::common::{
    self,
    admin::signed_in,
    feeds::{eventually, get},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tidings::domain::{AuditKind, Role};

const NEW: &str = "/admin/sections/new";

async fn api_section(app: &common::TestApp, slug: &str) -> Value {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/sections/{slug}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn order(app: &common::TestApp) -> Vec<String> {
    (app.state.store.list_sections().await.unwrap())
        .into_iter()
        .map(|s| s.slug)
        .collect()
}

/// Positions of `needles` in `html`, which must all be there.
fn positions(html: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| html.find(n).unwrap_or_else(|| panic!("{n} missing")))
        .collect()
}

on_both_backends! {
    async fn the_list_shows_sections_in_order_with_article_and_subscriber_counts(app) {
        for i in 0..3 {
            app.put_article(&format!("n{i}"), &common::article("news", &format!("要闻 {i}"))).await;
        }
        app.put_article("x", &common::article("notices", "通知")).await;
        let csv = "email,sections,schedule\na@example.org,news,daily\nb@example.org,,daily\nc@example.org,notices,daily\n";
        let r = app.client.post(app.url("/api/v1/subscribers/import")).bearer_auth(common::ADMIN_TOKEN)
            .header("content-type", "text/csv").body(csv).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let html = c.page("/admin/sections", StatusCode::OK).await;
        let p = positions(&html, &["工会要闻", "通知公告", "基层动态", "工会简介"]);
        assert!(p.windows(2).all(|w| w[0] < w[1]), "display order");
        let news = &html[html.find("id=\"section-news\"").unwrap()..html.find("id=\"section-notices\"").unwrap()];
        assert!(news.contains("<dd><a href=\"/admin/articles?section=news\">3</a></dd>"), "{news}");
        assert!(news.contains("<dd>2</dd>"), "a@ chose it, b@ gets every section: {news}");
        let about = &html[html.find("id=\"section-about\"").unwrap()..];
        assert!(about.contains(">0</a></dd>") && about.contains("<dd>1</dd>"), "{about}");
    }

    async fn a_section_made_in_the_form_has_both_languages_and_a_feed(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let r = c.post(NEW, NEW, &[("slug", "culture"), ("title_zh", "文体活动"), ("title_en", "Culture and sport"),
            ("description_zh", "职工文体活动"), ("description_en", "")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/sections?saved=created");
        let api = api_section(&app, "culture").await;
        assert_eq!(api["title"], "文体活动");
        assert_eq!(api["description"], "职工文体活动");
        assert_eq!(api["titles"], json!({"zh-CN": "文体活动", "en": "Culture and sport"}));
        assert_eq!(api["descriptions"], json!({"zh-CN": "职工文体活动"}));
        assert_eq!(order(&app).await.last().unwrap(), "culture", "new sections go last");
        assert!(eventually(Duration::from_secs(5), || async { get(&app, "/feeds/culture.rss", &[]).await.status() == StatusCode::OK }).await);
        let list = c.page("/admin/sections?saved=created&locale=en", StatusCode::OK).await;
        assert!(list.contains("Culture and sport") && list.contains("Section created."));
        let entry = &app.state.store.audit_entries(None, Some(AuditKind::SectionCreate), None, 5).await.unwrap()[0];
        assert_eq!(entry.target, "section culture");
        assert!(entry.after.as_deref().unwrap().contains("en Culture and sport"));
    }

    async fn editing_keeps_the_slug_and_changes_each_language(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let form = c.page("/admin/sections/news", StatusCode::OK).await;
        assert!(form.contains("value=\"工会要闻\"") && !form.contains("name=\"slug\""));
        let r = c.post("/admin/sections/news", "/admin/sections/news", &[("title_zh", "工会新闻"), ("title_en", "Union news"),
            ("description_zh", ""), ("description_en", "What the federation does")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let api = api_section(&app, "news").await;
        assert_eq!(api["title"], "工会新闻");
        assert_eq!(api["titles"], json!({"zh-CN": "工会新闻", "en": "Union news"}));
        assert_eq!(api["descriptions"], json!({"en": "What the federation does"}));
        assert!(eventually(Duration::from_secs(5), || async {
            get(&app, "/feeds/news.rss", &[]).await.text().await.unwrap().contains("工会新闻")
        }).await, "feeds use the site language's title");
        let entry = &app.state.store.audit_entries(None, Some(AuditKind::SectionEdit), None, 5).await.unwrap()[0];
        assert!(entry.before.as_deref().unwrap().contains("工会要闻") && entry.after.as_deref().unwrap().contains("Union news"));
    }

    async fn the_api_takes_titles_per_locale_and_a_plain_title_keeps_the_others(app) {
        let put = |body: Value| app.client.put(app.url("/api/v1/sections/news")).bearer_auth(common::ADMIN_TOKEN).json(&body).send();
        let r = put(json!({"titles": {"zh-CN": "要闻", "en": "News"}, "descriptions": {"en": "Latest"}})).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["title"].clone(), v["titles"]["en"].clone()), (json!("要闻"), json!("News")));
        let r = put(json!({"title": "工会要闻", "description": "全省工会动态"})).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v = api_section(&app, "news").await;
        assert_eq!(v["titles"], json!({"zh-CN": "工会要闻", "en": "News"}));
        assert_eq!(v["descriptions"], json!({"zh-CN": "全省工会动态", "en": "Latest"}));
        let list: Value = app.client.get(app.url("/api/v1/sections")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(list["items"][0]["titles"]["en"], "News");
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        assert!(c.page("/admin/sections/news", StatusCode::OK).await.contains("value=\"News\""));
        for bad in [json!({"titles": {"fr": "Nouvelles"}}), json!({"title": "甲", "titles": {"zh-CN": "乙"}}), json!({"titles": {"en": "News"}})] {
            let r = put(bad.clone()).await.unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        assert_eq!(api_section(&app, "news").await["title"], "工会要闻");
    }

    async fn a_section_with_articles_is_not_deleted_and_the_page_says_why(app) {
        for i in 0..12 {
            app.put_article(&format!("n{i}"), &common::article("news", "要闻")).await;
        }
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        let ask = c.page("/admin/sections/news/delete", StatusCode::CONFLICT).await;
        assert!(ask.contains("还有 12 篇文章"), "{ask}");
        assert!(!ask.contains("action=\"/admin/sections/news/delete\""));
        let r = c.post("/admin/sections/news/delete", "/admin/sections", &[]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("还有 12 篇文章"));
        let en = c.page("/admin/sections/news/delete?locale=en", StatusCode::CONFLICT).await;
        assert!(en.contains("12 articles are still in it"), "{en}");
        assert!(app.state.store.get_section("news").await.unwrap().is_some());

        let ask = c.page("/admin/sections/about/delete", StatusCode::OK).await;
        assert!(ask.contains("action=\"/admin/sections/about/delete\""));
        let r = c.post("/admin/sections/about/delete", "/admin/sections/about/delete", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(app.state.store.get_section("about").await.unwrap().is_none());
        assert!(eventually(Duration::from_secs(5), || async { get(&app, "/feeds/about.rss", &[]).await.status() == StatusCode::NOT_FOUND }).await);
        let entry = &app.state.store.audit_entries(None, Some(AuditKind::SectionDelete), None, 5).await.unwrap()[0];
        assert_eq!(entry.target, "section about");
    }

    async fn move_up_and_down_reorders_and_the_config_does_not_undo_it(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        assert_eq!(order(&app).await, ["news", "notices", "grassroots", "about"]);
        let r = c.post("/admin/sections/grassroots/move", "/admin/sections", &[("direction", "up")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        c.post("/admin/sections/grassroots/move", "/admin/sections", &[("direction", "up")]).await;
        c.post("/admin/sections/news/move", "/admin/sections", &[("direction", "down")]).await;
        assert_eq!(order(&app).await, ["grassroots", "notices", "news", "about"]);
        // Already at an end: nothing moves, nothing is recorded.
        c.post("/admin/sections/about/move", "/admin/sections", &[("direction", "down")]).await;
        assert_eq!(order(&app).await, ["grassroots", "notices", "news", "about"]);
        assert_eq!(app.state.store.audit_entries(None, Some(AuditKind::SectionMove), None, 10).await.unwrap().len(), 3);

        let html = c.page("/admin/sections", StatusCode::OK).await;
        let p = positions(&html, &["基层动态", "通知公告", "工会要闻", "工会简介"]);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        let list: Value = app.client.get(app.url("/api/v1/sections")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        assert_eq!(list["items"][0]["slug"], "grassroots");

        // What a restart does with the configured sections: only missing ones are created.
        app.state.store.ensure_sections(&app.state.config.section_seeds(), 0).await.unwrap();
        assert_eq!(order(&app).await, ["grassroots", "notices", "news", "about"]);
    }

    async fn bad_section_input_is_shown_in_the_form_and_nothing_changes(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        for (fields, says) in [
            (vec![("slug", "Bad Slug"), ("title_zh", "保留的名称")], "标识须为"),
            (vec![("slug", "all"), ("title_zh", "保留的名称")], "标识须为"),
            (vec![("slug", "news"), ("title_zh", "保留的名称")], "已有栏目使用这个标识"),
            (vec![("slug", "ok"), ("title_zh", ""), ("title_en", "保留的名称")], "网站语言的名称不能为空"),
            (vec![("slug", "ok"), ("title_zh", "保留的名称"), ("description_en", "only a description")], "也请填写名称"),
        ] {
            let r = c.post(NEW, NEW, &fields).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            let html = r.text().await.unwrap();
            assert!(html.contains(says) && html.contains("保留的名称"), "{fields:?}: {html}");
        }
        let r = c.post("/admin/sections/news", "/admin/sections/news", &[("title_zh", " ")]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(order(&app).await.len(), 4);
        assert_eq!(app.state.store.get_section("news").await.unwrap().unwrap().title, "工会要闻");
        c.page("/admin/sections/none-such", StatusCode::NOT_FOUND).await;
    }

    async fn section_posts_without_the_csrf_token_are_refused_and_change_nothing(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        assert_eq!(c.post_raw(NEW, &[("slug", "sneaky"), ("title_zh", "偷偷")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(c.post_raw("/admin/sections/news/move", &[("direction", "down")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(c.post_raw("/admin/sections/about/delete", &[]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(c.post_raw("/admin/sections/news", &[("title_zh", "改名")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(order(&app).await, ["news", "notices", "grassroots", "about"]);
        assert_eq!(app.state.store.get_section("news").await.unwrap().unwrap().title, "工会要闻");
    }
}
