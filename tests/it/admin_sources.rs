//! Console: the sources page (health table, errors shown as text, "check now").

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tidings::domain::{AuditKind, Role, SourceType};

use crate::common::{
    self,
    admin::signed_in,
    site::{Site, fixtures::feed_source},
};

/// A one-item RSS feed.
fn rss() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
     <title>合作单位</title><link>http://partner.test/</link><description>d</description>\
     <item><title>合作单位来稿</title><link>http://partner.test/a.html</link>\
     <guid isPermaLink=\"false\">a-1</guid><description>正文</description>\
     <pubDate>Sat, 28 Feb 2026 08:00:00 +0800</pubDate></item></channel></rss>"
        .to_owned()
}

on_both_backends! {
    async fn a_failing_sources_error_shows_as_text_and_check_now_polls_it_at_once(_app) {
        let site = Site::start().await;
        site.page("/feed.xml", "application/rss+xml", rss());
        let app = common::spawn_app_with(_app.backend, |c| {
            c.sources = vec![feed_source("partner", "news", &site.url("/feed.xml"))];
        })
        .await
        .unwrap();
        // The last poll failed with an error text that holds markup.
        let now = tidings::clock::to_ms(app.clock.now());
        app.state
            .store
            .record_source_error("partner", SourceType::Feed, "bad answer: <b>boom</b> & more", Some(0), now)
            .await
            .unwrap();
        let editor = signed_in(&app, "bian.ji@example.org", Role::Editor).await;

        let html = editor.page("/admin/sources", StatusCode::OK).await;
        assert!(html.contains("bad answer: &lt;b&gt;boom&lt;&#x2f;b&gt; &amp; more") || html.contains("bad answer: &lt;b&gt;boom&lt;/b&gt; &amp; more"), "{html}");
        assert!(!html.contains("<b>boom</b>"), "the error was not escaped");
        assert!(html.contains("class=\"source-error failing\""), "a failing source is marked: {html}");
        assert!(html.contains(&site.url("/feed.xml")));

        // The app's clock stands still: the source's loop would not poll before it moves.
        assert!(app.state.store.source_state("partner").await.unwrap().unwrap().last_success_at.is_none());
        let r = editor.post("/admin/sources/check", "/admin/sources", &[("name", "partner")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/sources?checked=partner#sources");

        let deadline = Instant::now() + Duration::from_secs(15);
        let state = loop {
            let s = app.state.store.source_state("partner").await.unwrap().unwrap();
            if s.last_success_at.is_some() {
                break s;
            }
            assert!(Instant::now() < deadline, "check now did not poll the source: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!((state.consecutive_errors, state.items_found), (0, 1));
        let html = editor.page("/admin/sources?checked=partner", StatusCode::OK).await;
        assert!(html.contains("class=\"source-ok\""), "{html}");
        assert!(html.contains("partner"));

        let audit = app.state.store.audit_entries(None, Some(AuditKind::SourceCheck), None, 10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].actor.as_str(), audit[0].target.as_str()), ("bian.ji@example.org", "source partner"));

        // An unknown source is a page that says so, not a 500.
        let r = editor.post("/admin/sources/check", "/admin/sources", &[("name", "nope")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
