//! A digest's web copy (issue 14, "view in browser"): each mail links to
//! `/digests/{delivery}?token=…`, which shows what that subscriber got and nothing of anyone
//! else, leaves out articles retracted since, still opens after they unsubscribe and is gone
//! once they are erased; every link that leads nowhere gets the same 404. The copy outlives
//! the delivery row (retention, `digests.keep_days`) until `digests.copy_keep_days`.

use crate::common;

use common::{TestApp, smtp::SmtpServer};
use reqwest::StatusCode;
use serde_json::json;

use crate::digest_design::{hrefs_of, import, publish, run_daily};

/// The mail's "view in browser" link, on the test app's own address.
pub(crate) fn web_link(app: &TestApp, mail: &common::smtp::Captured) -> String {
    let html = mail.html();
    let links = hrefs_of(&html, "在浏览器中查看");
    let links = if links.is_empty() {
        hrefs_of(&html, "View in browser")
    } else {
        links
    };
    assert_eq!(links.len(), 1, "{html}");
    assert!(
        mail.text().contains(&links[0]),
        "the text part links to it too"
    );
    common::smtp::local(app, &links[0])
}

pub(crate) async fn get(
    app: &TestApp,
    url: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = app.client.get(url).send().await.unwrap();
    (r.status(), r.headers().clone(), r.text().await.unwrap())
}

/// Two readers of different sections and languages, one digest each.
async fn two_digests(app: &TestApp, smtp: &SmtpServer) -> (String, String) {
    import(
        app,
        "news@example.com,news,daily,zh-CN\nnotices@example.com,notices,daily,en\n",
    )
    .await;
    app.clock.advance(chrono::Duration::minutes(1));
    publish(
        app,
        "n1",
        "news",
        "职工书屋正式开放",
        json!({"author": "王芳"}),
    )
    .await;
    publish(app, "n2", "news", "技能大赛开幕", json!({})).await;
    publish(app, "t1", "notices", "关于清明节放假的通知", json!({})).await;
    let mails = run_daily(app, smtp, &["news@example.com", "notices@example.com"]).await;
    (web_link(app, &mails[0]), web_link(app, &mails[1]))
}

with_smtp_on_both_backends! {
    async fn each_link_shows_what_that_subscriber_got_and_nothing_of_anyone(app, smtp) {
        let (news, notices) = two_digests(&app, &smtp).await;
        let (status, headers, page) = get(&app, &news).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(hrefs_of(&page, "职工书屋正式开放"), ["https://www.example.org/news/n1.html"]);
        assert!(page.contains("技能大赛开幕") && page.contains(">工会要闻</h2>"), "{page}");
        assert!(page.contains("2026年3月1日 08:01 · 王芳 · 工会要闻"));
        assert!(!page.contains("关于清明节放假的通知"), "another reader's article");
        // Nobody's address, manage or unsubscribe link, nor any token.
        for personal in ["@example.com", "/subscriptions/manage", "/unsubscribe", "token=", "在浏览器中查看"] {
            assert!(!page.contains(personal), "{personal} in the web copy: {page}");
        }
        assert_eq!(hrefs_of(&page, "订阅邮件摘要"), ["http://feeds.example.test/subscribe?locale=zh-CN"]);
        // Never indexed, no Referer leaks the secret URL, only the reader's browser keeps it.
        assert!(page.contains("<meta name=\"robots\" content=\"noindex, nofollow\">"));
        assert_eq!(headers["x-robots-tag"], "noindex, nofollow");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "private, no-cache");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert!(headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
        assert_eq!(headers["content-language"], "zh-CN");

        // The other reader's copy: their one article, in their language.
        let (status, headers, page) = get(&app, &notices).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-language"], "en");
        assert_eq!(hrefs_of(&page, "Read more"), ["https://www.example.org/notices/t1.html"]);
        assert!(!page.contains("职工书屋正式开放") && page.contains(">Notices</h2>"), "{page}");
        // Opening it changes nothing: the reader is still subscribed.
        let s = app.state.store.subscriber_by_email("notices@example.com").await.unwrap().unwrap();
        assert_eq!(s.status.as_str(), "active");
    }

    async fn a_wrong_missing_or_foreign_token_gets_the_same_404_as_an_unknown_digest(app, smtp) {
        let (news, notices) = two_digests(&app, &smtp).await;
        let (path, token) = news.split_once("?token=").unwrap();
        let (other_path, other_token) = notices.split_once("?token=").unwrap();
        let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
        let mut bad = token.to_owned();
        bad.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
        let tries = [
            format!("{path}?token={other_token}"),
            format!("{other_path}?token={token}"),
            format!("{path}?token={bad}"),
            format!("{path}?token={}", &token[..token.len() - 1]),
            format!("{path}?token="),
            path.to_owned(),
            app.url(&format!("/digests/{}?token={token}", id + 1000)),
            app.url(&format!("/digests/-{id}?token={token}")),
            app.url("/digests/abc?token=x"),
        ];
        let (_, _, first) = get(&app, &tries[0]).await;
        assert!(first.contains("无法显示这期摘要"), "{first}");
        for url in &tries {
            let (status, headers, page) = get(&app, url).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
            assert_eq!(page, first, "{url} answers differently");
            assert_eq!(headers["referrer-policy"], "no-referrer");
        }
        let (status, _, english) = {
            let r = app.client.get(&tries[0]).header("accept-language", "en").send().await.unwrap();
            (r.status(), (), r.text().await.unwrap())
        };
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(english.contains("This digest cannot be shown"), "{english}");
        // The real links still work.
        assert_eq!(get(&app, &news).await.0, StatusCode::OK);
    }

    async fn articles_retracted_since_are_left_out_and_edits_show(app, smtp) {
        let (news, _) = two_digests(&app, &smtp).await;
        let r = app.client.delete(app.url("/api/v1/articles/n2")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        publish(&app, "n1", "news", "职工书屋正式开放（更正）", json!({"author": "王芳"})).await;
        let (status, _, page) = get(&app, &news).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains("技能大赛开幕"), "a retracted article: {page}");
        assert!(page.contains("职工书屋正式开放（更正）"), "{page}");
    }

    async fn the_copy_opens_after_unsubscribing_and_is_gone_after_erasure(app, smtp) {
        let (news, _) = two_digests(&app, &smtp).await;
        let mail = &smtp.to("news@example.com")[0];
        let unsubscribe = common::smtp::local(&app, &mail.link_to("/unsubscribe"));
        let r = app.client.post(&unsubscribe).form(&[("List-Unsubscribe", "One-Click")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let (status, _, page) = get(&app, &news).await;
        assert_eq!(status, StatusCode::OK, "the copy of a mail they got stays theirs");
        assert!(page.contains("职工书屋正式开放"));

        let r = app.client.delete(app.url("/api/v1/subscribers/news@example.com")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let (status, _, page) = get(&app, &news).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!page.contains("职工书屋正式开放"));
    }

    async fn the_copy_outlives_its_delivery_and_goes_after_copy_keep_days(app, smtp) {
        let (news, notices) = two_digests(&app, &smtp).await;
        let run = app.state.store.list_runs(None, None, 1).await.unwrap()[0].id;
        let deliveries = || async {
            app.state.store.run_deliveries(run, None, 0, 10).await.unwrap().len()
        };
        assert_eq!(deliveries().await, 2);

        // 100 days later retention (keep_days 90) has deleted the deliveries: both copies open.
        app.clock.advance(chrono::Duration::days(100));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while deliveries().await > 0 {
            assert!(std::time::Instant::now() < deadline, "the run's deliveries were never purged");
            tidings::digests::retention::pass(&app.state).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        for (url, title) in [(&news, "职工书屋正式开放"), (&notices, "关于清明节放假的通知")] {
            let (status, _, page) = get(&app, url).await;
            assert_eq!(status, StatusCode::OK, "{url}: the copy went with its delivery");
            assert!(page.contains(title), "{page}");
        }

        // 366 days after the run finished (copy_keep_days 365) the copies go too.
        app.clock.advance(chrono::Duration::days(266));
        tidings::digests::retention::pass(&app.state).await.unwrap();
        for url in [&news, &notices] {
            let (status, _, page) = get(&app, url).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{url}: kept past copy_keep_days");
            assert!(!page.contains("职工书屋正式开放"));
        }
    }
}
