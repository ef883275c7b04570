//! Announcements: one article mailed now to every active subscriber of its section, whatever
//! their schedule, through the ledger and the run view; once per article unless forced.

use crate::common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::digest_delivery::{import, publish, run_now, wait_done};
use crate::digest_instant::runs_of;

async fn announce(app: &TestApp, id: &str, body: Option<Value>) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url(&format!(
            "/api/v1/articles/{}/announce",
            common::urlencode(id)
        )))
        .bearer_auth(common::ADMIN_TOKEN);
    if let Some(body) = body {
        r = r.json(&body);
    }
    r.send().await.unwrap()
}

/// Announces `id` and answers the run's id (202 expected).
async fn announced(app: &TestApp, id: &str, body: Option<Value>) -> i64 {
    let r = announce(app, id, body).await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap()
    );
    r.json::<Value>().await.unwrap()["run_id"].as_i64().unwrap()
}

with_smtp_on_both_backends! {
    async fn an_announcement_mails_the_article_to_each_follower_of_its_section_whatever_their_schedule(app, smtp) {
        import(&app, "all@example.com,,daily\nnews@example.com,news,weekly\nnotices@example.com,notices,daily\n").await;
        common::subscriptions::subscribe_json(&app, json!({"email": "pending@example.com"})).await;
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "news/n1", "news", "紧急通知：职工疗休养").await;
        publish(&app, "news/n0", "news", "另一篇要闻").await;
        let confirmations = smtp.wait_for(1).await.len();

        let id = announced(&app, "news/n1", None).await;
        let run = wait_done(&app, id).await;
        assert_eq!(run["schedule"], "announce:news/n1", "{run}");
        assert!(run["fire_at"].is_null());
        assert_eq!((run["total"].as_i64(), run["sent"].as_i64(), run["failed"].as_i64()), (Some(2), Some(2), Some(0)), "{run}");
        let mails = smtp.wait_for(confirmations + 2).await;
        let mut to: Vec<&str> = mails[confirmations..].iter().map(|m| m.to[0].as_str()).collect();
        to.sort();
        assert_eq!(to, ["all@example.com", "news@example.com"]);
        let m = &smtp.to("news@example.com")[0];
        assert!(m.html().contains("紧急通知：职工疗休养"), "{}", m.html());
        assert!(!m.html().contains("另一篇要闻"), "an announcement holds its one article");
        assert!(m.header("Subject").unwrap().contains("通知"), "{:?}", m.header("Subject"));
        assert!(m.header("List-Id").unwrap().contains("<announcements."), "{:?}", m.header("List-Id"));
        assert!(m.header("List-Unsubscribe").is_some());
        // Its web copy is titled as the mail was and holds the one article.
        let link = crate::digest_web_copy::web_link(&app, m);
        let (status, _, page) = crate::digest_web_copy::get(&app, &link).await;
        assert_eq!(status, reqwest::StatusCode::OK);
        assert!(page.contains("紧急通知：职工疗休养") && !page.contains("另一篇要闻"), "{page}");
        assert!(page.contains("通知") && !page.contains("announce:"), "{page}");
        // The announcement's run is listed under its name; it moved no watermark.
        assert_eq!(runs_of(&app, "announce:news/n1").await.len(), 1);
        let subscriber = app.state.store.subscriber_by_email("all@example.com").await.unwrap().unwrap();
        assert!(app.state.store.watermarks("daily", &[subscriber.id]).await.unwrap().is_empty());
        for schedule in ["announce:news/n1", "announcements", ""] {
            assert!(app.state.store.watermarks(schedule, &[subscriber.id]).await.unwrap().is_empty(), "{schedule:?}");
        }

        // Their digest still sums up everything new, the announced article too.
        let digest = wait_done(&app, run_now(&app, "daily").await).await;
        assert_eq!(digest["sent"].as_i64(), Some(1), "{digest}");
        let all = smtp.to("all@example.com");
        assert!(all[1].html().contains("紧急通知：职工疗休养") && all[1].html().contains("另一篇要闻"));
    }

    async fn an_english_reader_gets_the_announcement_under_its_english_name(app, smtp) {
        let r = common::subscriptions::subscribe_json(&app, json!({"email": "en@example.com", "locale": "en"})).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let confirm = smtp.wait_for(1).await.pop().unwrap();
        let token = common::smtp::token_of(&confirm.link_to("/subscriptions/confirm"));
        let r = app.client.post(app.url("/subscriptions/confirm")).form(&[("token", &token)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "n1", "news", "Union news").await;

        let id = announced(&app, "n1", Some(json!({}))).await;
        wait_done(&app, id).await;
        let mails = smtp.wait_for(2).await;
        let subject = mails[1].header("Subject").unwrap();
        assert!(subject.contains("Announcement"), "{subject}");
    }
}

on_both_backends! {
    async fn an_article_is_announced_once_unless_forced(app) {
        import(&app, "a@example.com,,daily\n").await;
        publish(&app, "n1", "news", "要闻").await;
        let first = announced(&app, "n1", None).await;

        let r = announce(&app, "n1", Some(json!({"force": false}))).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["run_id"].as_i64(), Some(first), "{body}");
        assert!(body["error"].as_str().unwrap().contains("force"), "{body}");

        let again = announced(&app, "n1", Some(json!({"force": true}))).await;
        assert_ne!(again, first);
        assert_eq!(runs_of(&app, "announce:n1").await.len(), 2);
        let r = announce(&app, "n1", None).await;
        assert_eq!(r.json::<Value>().await.unwrap()["run_id"].as_i64(), Some(again), "409 names the latest run");
    }

    async fn unknown_retracted_and_unpublished_articles_answer_404_saying_which(app) {
        publish(&app, "gone", "news", "撤回的").await;
        let r = app.client.delete(app.url("/api/v1/articles/gone")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let mut later = common::article("news", "定时的");
        later["published_at"] = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339().into();
        assert!(app.put_article("later", &later).await.status().is_success());

        for (id, says) in [("nope", "no article"), ("gone", "retracted"), ("later", "not published yet")] {
            let r = announce(&app, id, None).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{id}");
            let body: Value = r.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains(says), "{id}: {body}");
        }
        assert!(app.state.store.list_runs(None, None, 10).await.unwrap().is_empty());
    }

    async fn announce_needs_the_admin_role_and_a_well_formed_body(app) {
        publish(&app, "n1", "news", "要闻").await;
        let r = app.client.post(app.url("/api/v1/articles/n1/announce")).bearer_auth(common::PUBLISHER_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = app.client.post(app.url("/api/v1/articles/n1/announce")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = announce(&app, "n1", Some(json!({"force": "yes"}))).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "force");
        let r = announce(&app, "n1", Some(json!({"everyone": true}))).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(app.state.store.list_runs(None, None, 10).await.unwrap().is_empty());
    }

    async fn concurrent_announcements_of_one_article_make_one_run(app) {
        import(&app, "a@example.com,,daily\n").await;
        publish(&app, "n1", "news", "要闻").await;
        let requests: Vec<_> = (0..6)
            .map(|i| {
                let (client, url) = (app.client.clone(), app.url("/api/v1/articles/n1/announce"));
                tokio::spawn(async move {
                    let r = client.post(url).bearer_auth(common::ADMIN_TOKEN)
                        .json(&json!({"force": i % 2 == 1})).send().await.unwrap();
                    (r.status(), r.json::<Value>().await.unwrap()["run_id"].as_i64().unwrap())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for r in requests {
            answers.push(r.await.unwrap());
        }
        let runs = runs_of(&app, "announce:n1").await;
        // Forced requests that came after the first run legitimately make another each; what
        // may not happen is two runs for one announcement number.
        let numbers: Vec<i64> = app.state.store.list_runs(Some("announce:n1"), None, 10).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(runs.len(), numbers.len());
        for (status, run) in &answers {
            assert!(numbers.contains(run), "{answers:?}");
            assert!(matches!(*status, StatusCode::ACCEPTED | StatusCode::CONFLICT));
        }
        let latest = app.state.store.latest_announcement("n1").await.unwrap().unwrap();
        assert_eq!(latest.seq as usize, runs.len(), "an announcement number without its one run");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_announcing_one_article_at_once_make_one_run() {
    let Some(_) = common::postgres_url() else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    let (url, _guard) = common::create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = tidings::clock::Clock::manual(common::test_start());
    let mut states = Vec::new();
    for _ in 0..2 {
        let config = common::test_config(dir.path(), &url);
        let app = tidings::App::build_with_clock(config, clock.clone())
            .await
            .unwrap();
        states.push(app.state());
    }
    let s = &states[0];
    let mut article = common::article("news", "要闻");
    article["published_at"] = clock.now().to_rfc3339().into();
    s.ingest
        .put("n1", serde_json::from_value(article).unwrap(), "api")
        .await
        .unwrap();
    // Not forced, however the two requests interleave: one run, and both answer it.
    for round in 0..5 {
        let got = both(&states, false).await;
        assert_eq!(got[0].1, got[1].1, "round {round}: {got:?}");
        assert_eq!(
            got.iter().filter(|(started, _)| *started).count(),
            usize::from(round == 0)
        );
        let runs = s
            .store
            .list_runs(Some("announce:n1"), None, 100)
            .await
            .unwrap();
        assert_eq!(
            runs.len(),
            1,
            "round {round}: an article announced twice unforced"
        );
    }
    // Forced: each request sends it once more than what it found; two that found the same
    // announcement make one run (whether they overlapped is up to the database's timing).
    for round in 0..5 {
        let got = both(&states, true).await;
        let runs = s
            .store
            .list_runs(Some("announce:n1"), None, 100)
            .await
            .unwrap();
        let latest = s.store.latest_announcement("n1").await.unwrap().unwrap();
        assert_eq!(
            runs.len() as i64,
            latest.seq,
            "round {round}: an announcement with two runs"
        );
        if got[0].1 == got[1].1 {
            assert_eq!(
                got.iter().filter(|(started, _)| *started).count(),
                1,
                "round {round}: {got:?}"
            );
        }
    }
}

/// Both processes announce `n1` at once; each answer as (started by it, run id).
async fn both(states: &[tidings::AppState], force: bool) -> Vec<(bool, i64)> {
    let tasks: Vec<_> = states
        .iter()
        .map(|st| {
            let st = st.clone();
            tokio::spawn(async move { st.digests.announce("n1", force).await.unwrap().unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(match t.await.unwrap() {
            tidings::store::Announced::Started(id) => (true, id),
            tidings::store::Announced::Already(id) => (false, id),
        });
    }
    got
}

/// The console's "announce" button, admins only, asks first and leads to the run.
mod console {
    use super::*;
    use common::admin::signed_in;
    use tidings::domain::Role;

    with_smtp_on_both_backends! {
        async fn an_admin_announces_from_the_article_page_after_a_confirmation(app, smtp) {
            import(&app, "a@example.com,,weekly\n").await;
            publish(&app, "n1", "news", "要闻一").await;
            let editor = signed_in(&app, "editor@example.com", Role::Editor).await;
            let page = editor.page("/admin/articles/n1", StatusCode::OK).await;
            assert!(!page.contains("/announce"), "an editor is offered the announce button");
            assert_eq!(editor.get("/admin/articles/n1/announce").await.status(), StatusCode::FORBIDDEN);

            let admin = signed_in(&app, "admin@example.com", Role::Admin).await;
            let page = admin.page("/admin/articles/n1", StatusCode::OK).await;
            assert!(page.contains("href=\"/admin/articles/n1/announce\""), "{page}");
            let ask = admin.page("/admin/articles/n1/announce", StatusCode::OK).await;
            assert!(ask.contains("1 位有效订阅者"), "{ask}");
            assert!(!ask.contains("name=\"force\""));
            let r = admin.post("/admin/articles/n1/announce", "/admin/articles/n1/announce", &[]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            let to = r.headers()["location"].to_str().unwrap().to_owned();
            let id: i64 = to.rsplit('/').next().unwrap().parse().unwrap();
            assert_eq!(to, format!("/admin/runs/{id}"));
            wait_done(&app, id).await;
            assert!(smtp.wait_for(1).await[0].html().contains("要闻一"));

            // Asked again: the page says when it went out and sends it again only when told.
            let ask = admin.page("/admin/articles/n1/announce", StatusCode::OK).await;
            assert!(ask.contains("已于") && ask.contains("name=\"force\" value=\"1\""), "{ask}");
            let audit = crate::admin_schedules::audits(&app, tidings::domain::AuditKind::ArticleAnnounce).await;
            assert_eq!(audit, vec![("admin@example.com".to_owned(), "article n1".to_owned(), Some(format!("run {id}")))]);
        }
    }
}
