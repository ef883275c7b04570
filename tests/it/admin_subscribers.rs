//! The console's subscribers pages: list (prefix search, filters, counts, keyset paging),
//! a person's page (history, deliveries, escaping), add (confirmation mail or consent with a
//! reason), CSV import by upload (preview, then commit), export and erasure.

use crate::common::{self, TestApp, admin::Console, admin::signed_in};

use reqwest::StatusCode;
use tidings::{
    clock::to_ms,
    domain::{AuditKind, Preferences, Role, SubscriberStatus},
    store::ImportRow,
};

const ADMIN: &str = "admin@example.org";

/// Adds active subscribers (as an import does) with the given schedule and sections.
async fn add(app: &TestApp, emails: &[&str], schedule: &str, sections: Option<&[&str]>) {
    let rows: Vec<ImportRow> = emails
        .iter()
        .map(|e| ImportRow {
            email: (*e).into(),
            prefs: Preferences {
                sections: sections.map(|s| s.iter().map(|x| (*x).into()).collect()),
                schedule: schedule.into(),
                locale: "zh-CN".into(),
            },
        })
        .collect();
    app.state
        .store
        .import_subscribers(&rows, to_ms(app.clock.now()))
        .await
        .unwrap();
}

/// Runs raw SQL on the app's database (for rows no API makes directly, e.g. deliveries).
async fn exec(app: &TestApp, sql: &str) {
    match app.backend {
        common::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        common::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn person(app: &TestApp, email: &str) -> tidings::domain::Subscriber {
    app.state
        .store
        .subscriber_by_email(email)
        .await
        .unwrap()
        .unwrap()
}

/// Addresses listed in a list page, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("/admin/subscribers/")
        .skip(1)
        .filter_map(|rest| {
            let (id, after) = rest.split_once("\">")?;
            id.parse::<i64>().ok()?;
            Some(after.split('<').next()?.to_owned())
        })
        .collect()
}

/// Uploads `csv` through the import form, as a browser does (multipart, CSRF in the query).
async fn upload(c: &Console<'_>, csv: &str) -> reqwest::Response {
    let csrf = c.csrf("/admin/subscribers/import").await;
    let part = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
        .file_name("members.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    c.client
        .post(c.app.url(&format!("/admin/subscribers/import?csrf={csrf}")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

on_both_backends! {
    async fn prefix_search_ignores_case_and_matches_only_the_start(app) {
        add(&app, &["zhang.wei@example.org", "Zhang.Min@example.org", "li.zhang@example.org", "wang.fang@example.org"], "daily", None).await;
        let c = signed_in(&app, ADMIN, Role::Admin).await;

        let html = c.page("/admin/subscribers?q=ZHANG", StatusCode::OK).await;
        let found = listed(&html);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.contains(&"zhang.wei@example.org".to_owned()) && found.contains(&"Zhang.Min@example.org".to_owned()), "{found:?}");
        assert!(!found.contains(&"li.zhang@example.org".to_owned()), "a substring that is not the start does not match");

        let html = c.page("/admin/subscribers?q=hang", StatusCode::OK).await;
        assert!(listed(&html).is_empty(), "no address starts with hang");
        // Characters LIKE would treat as wildcards mean themselves.
        let html = c.page("/admin/subscribers?q=zhang_", StatusCode::OK).await;
        assert!(listed(&html).is_empty());
        let html = c.page("/admin/subscribers?q=%25", StatusCode::OK).await;
        assert!(listed(&html).is_empty());
    }

    async fn filters_and_counts_per_status(app) {
        add(&app, &["a1@example.org", "a2@example.org"], "daily", None).await;
        add(&app, &["w1@example.org"], "weekly", Some(&["notices"])).await;
        add(&app, &["u1@example.org"], "daily", Some(&["news"])).await;
        let u = person(&app, "u1@example.org").await;
        app.state.store.unsubscribe(u.id, u.generation, to_ms(app.clock.now())).await.unwrap();
        let c = signed_in(&app, ADMIN, Role::Admin).await;

        let html = c.page("/admin/subscribers", StatusCode::OK).await;
        let counts = app.state.store.subscriber_counts().await.unwrap();
        assert_eq!(counts.iter().find(|(s, _)| *s == SubscriberStatus::Active).unwrap().1, 3);
        assert_eq!(counts.iter().find(|(s, _)| *s == SubscriberStatus::Unsubscribed).unwrap().1, 1);
        assert_eq!(counts.iter().find(|(s, _)| *s == SubscriberStatus::Pending).unwrap().1, 0);
        assert!(html.contains("<span class=\"n\">3</span> <span class=\"label\">已订阅</span>"), "{html}");
        assert!(html.contains("<span class=\"n\">1</span> <span class=\"label\">已退订</span>"));
        assert!(html.contains("/admin/subscribers?status=unsubscribed"), "each count is a filter link");

        let only = |html: &str| { let mut v = listed(html); v.sort(); v };
        assert_eq!(only(&c.page("/admin/subscribers?status=unsubscribed", StatusCode::OK).await), ["u1@example.org"]);
        assert_eq!(only(&c.page("/admin/subscribers?schedule=weekly", StatusCode::OK).await), ["w1@example.org"]);
        // Everyone with all sections is in every section.
        assert_eq!(only(&c.page("/admin/subscribers?section=notices", StatusCode::OK).await), ["a1@example.org", "a2@example.org", "w1@example.org"]);
        assert_eq!(only(&c.page("/admin/subscribers?section=news&status=active", StatusCode::OK).await), ["a1@example.org", "a2@example.org"]);
        let html = c.page("/admin/subscribers?status=nonsense", StatusCode::OK).await;
        assert!(html.contains("未知状态"), "an unknown filter value is named, not a 500");
    }

    async fn keyset_paging_walks_every_subscriber_once(app) {
        let emails: Vec<String> = (0..120).map(|i| format!("p{i:03}@example.org")).collect();
        let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
        add(&app, &refs, "daily", None).await;
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        for start in ["/admin/subscribers", "/admin/subscribers?q=P"] {
            let mut seen = Vec::new();
            let mut path = start.to_owned();
            for _ in 0..5 {
                let html = c.page(&path, StatusCode::OK).await;
                seen.extend(listed(&html));
                let Some(at) = html.find("rel=\"next\"") else { break };
                let href = html[..at].rsplit("href=\"").next().unwrap().split('"').next().unwrap();
                path = href.replace("&amp;", "&");
                assert!(!path.contains("offset"), "keyset, not OFFSET");
            }
            assert_eq!(seen.len(), 120, "{start}");
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 120, "no one twice: {start}");
            if start.contains("q=") {
                assert_eq!(seen[0], "p000@example.org", "search results are in address order");
            } else {
                assert_eq!(seen[0], "p119@example.org", "the plain list shows the newest first");
            }
        }
    }

    async fn the_person_page_shows_history_deliveries_and_escapes_outside_text(app) {
        add(&app, &["zhao.lei@example.org"], "daily", Some(&["news"])).await;
        let s = person(&app, "zhao.lei@example.org").await;
        app.clock.advance(chrono::Duration::days(2));
        app.state.store.unsubscribe(s.id, s.generation, to_ms(app.clock.now())).await.unwrap();
        exec(&app, &format!(
            "INSERT INTO runs (id, schedule, status, created_at) VALUES (77, 'daily', 'done', 1772323200000);
             INSERT INTO deliveries (run_id, subscriber_id, status, last_error, last_attempt_at)
             VALUES (77, {}, 'bounced', '550 5.1.1 <script>alert(1)</script> no such user', 1772323260000);",
            s.id
        )).await;
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        c.app.clock.advance(chrono::Duration::seconds(1));

        let html = c.page(&format!("/admin/subscribers/{}", s.id), StatusCode::OK).await;
        assert!(html.contains("通过导入加入"), "{html}");
        assert!(html.contains("已退订"));
        assert!(html.find("通过导入加入").unwrap() < html.rfind("已退订").unwrap(), "oldest first");
        assert!(html.contains("/admin/runs/77"), "the run is linked");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the SMTP reply is escaped");
        assert!(!html.contains("<script>"), "no raw script from outside");
        assert!(c.page("/admin/subscribers/999999", StatusCode::NOT_FOUND).await.contains("找不到"));
        assert_eq!(c.get("/admin/subscribers/abc").await.status(), StatusCode::NOT_FOUND);
    }

    async fn consent_without_a_reason_is_refused_in_place_and_a_reason_is_kept_escaped(app) {
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        let r = c.post("/admin/subscribers/new", "/admin/subscribers/new", &[
            ("email", "Chen.Jing@Example.org"), ("schedule", "weekly"), ("locale", "zh-CN"), ("mode", "consent"), ("reason", "  "),
        ]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("请写明此人是如何同意订阅的"), "{html}");
        assert!(html.contains("value=\"Chen.Jing@Example.org\""), "what was typed stays");
        assert!(app.state.store.subscriber_by_email("Chen.Jing@example.org").await.unwrap().is_none(), "nothing stored");

        let reason = "签了纸质登记表 <script>alert('x')</script>";
        let r = c.post("/admin/subscribers/new", "/admin/subscribers/new", &[
            ("email", "Chen.Jing@Example.org"), ("sections", "news"), ("schedule", "weekly"), ("locale", "en"), ("mode", "consent"), ("reason", reason),
        ]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let s = person(&app, "Chen.Jing@example.org").await;
        assert_eq!((s.status, s.sections.clone(), s.schedule.as_str(), s.locale.as_str()), (SubscriberStatus::Active, vec!["news".to_owned()], "weekly", "en"));
        let html = c.page(r.headers()["location"].to_str().unwrap(), StatusCode::OK).await;
        assert!(html.contains("签了纸质登记表 &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") || html.contains("签了纸质登记表 &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
        let audit = app.state.store.audit_entries(None, Some(AuditKind::SubscriberAdd), None, 10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert!(audit[0].after.as_deref().unwrap().contains("签了纸质登记表"), "the reason is in the audit log");

        let r = c.post("/admin/subscribers/new", "/admin/subscribers/new", &[
            ("email", "Chen.Jing@Example.org"), ("schedule", "weekly"), ("locale", "en"), ("mode", "consent"), ("reason", "again"),
        ]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "a known address is refused in place");
    }

    async fn a_csv_upload_previews_rejected_lines_stores_nothing_then_commits_the_good_rows(app) {
        add(&app, &["left@example.org"], "daily", None).await;
        let left = person(&app, "left@example.org").await;
        app.state.store.unsubscribe(left.id, left.generation, to_ms(app.clock.now())).await.unwrap();
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        let csv = "email,sections,schedule\nzhou.jie@example.org,news,daily\nnot-an-address,,daily\nsun.li@example.org,,weekly\nwu.hao@example.org,nosuch,daily\nleft@example.org,,daily\n";

        let r = upload(&c, csv).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
        let preview_path = r.headers()["location"].to_str().unwrap().to_owned();
        let html = c.page(&preview_path, StatusCode::OK).await;
        assert!(html.contains("zhou.jie@example.org") && html.contains("sun.li@example.org"), "{html}");
        assert!(html.contains("<td class=\"num\" data-label=\"行号\">3</td>"), "the bad address is listed with its line: {html}");
        assert!(html.contains("<td class=\"num\" data-label=\"行号\">5</td>"), "the unknown section is listed with its line");
        assert!(html.contains("unknown section &quot;nosuch&quot;") || html.contains("unknown section &#34;nosuch&#34;"), "with its reason: {html}");
        assert!(html.contains("导入 3 行"), "{html}");
        assert!(app.state.store.subscriber_by_email("zhou.jie@example.org").await.unwrap().is_none(), "nothing stored before the commit");
        assert_eq!(app.state.store.count_uploads().await.unwrap(), 1);

        let commit_csrf = common::admin::field(&html, "csrf").unwrap();
        let r = c.post_raw(&preview_path, &[("csrf", &commit_csrf)]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "the consent box must be ticked");
        assert!(app.state.store.subscriber_by_email("zhou.jie@example.org").await.unwrap().is_none());

        let r = c.post_raw(&preview_path, &[("csrf", &commit_csrf), ("consent", "yes")]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let done = r.text().await.unwrap();
        assert!(done.contains("导入完成"), "{done}");
        for e in ["zhou.jie@example.org", "sun.li@example.org"] {
            assert_eq!(person(&app, e).await.status, SubscriberStatus::Active, "{e}");
        }
        assert_eq!(person(&app, "left@example.org").await.status, SubscriberStatus::Unsubscribed, "an import does not re-subscribe");
        assert!(app.state.store.subscriber_by_email("wu.hao@example.org").await.unwrap().is_none());
        assert_eq!(app.state.store.count_uploads().await.unwrap(), 0, "the upload is gone after the import");
        let r = c.post_raw(&preview_path, &[("csrf", &commit_csrf), ("consent", "yes")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "a second commit imports nothing");
        assert_eq!(app.state.store.audit_entries(None, Some(AuditKind::SubscriberImport), None, 10).await.unwrap().len(), 1);

        let r = upload(&c, "mail,who\nx@example.org,1\n").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("email,sections,schedule"), "a wrong header is said in place");
        let r = upload(&c, "").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn another_admin_cannot_see_or_commit_my_upload(app) {
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        let r = upload(&c, "email,sections,schedule\nqian.yu@example.org,,daily\n").await;
        let path = r.headers()["location"].to_str().unwrap().to_owned();
        let other = signed_in(&app, "other@example.org", Role::Admin).await;
        assert_eq!(other.get(&path).await.status(), StatusCode::NOT_FOUND);
        let csrf = other.csrf("/admin/subscribers").await;
        let r = other.post_raw(&path, &[("csrf", &csrf), ("consent", "yes")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(app.state.store.subscriber_by_email("qian.yu@example.org").await.unwrap().is_none());
    }

    async fn erasing_after_confirmation_removes_the_person_and_their_tokens(app) {
        add(&app, &["he.ping@example.org"], "daily", None).await;
        let s = person(&app, "he.ping@example.org").await;
        app.state.store.insert_manage_tokens(&[(s.id, s.generation, "hash-1".into())], to_ms(app.clock.now())).await.unwrap();
        assert_eq!(app.state.store.count_tokens(s.id).await.unwrap(), 1);
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        let page = format!("/admin/subscribers/{}/erase", s.id);
        let html = c.page(&page, StatusCode::OK).await;
        assert!(html.contains("he.ping@example.org") && html.contains("永久删除"), "{html}");
        assert!(app.state.store.subscriber_by_email("he.ping@example.org").await.unwrap().is_some(), "the GET changes nothing");

        let r = c.post(&page, &page, &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(app.state.store.subscriber_by_email("he.ping@example.org").await.unwrap().is_none());
        assert_eq!(app.state.store.count_tokens(s.id).await.unwrap(), 0);
        let audit = app.state.store.audit_entries(None, Some(AuditKind::SubscriberErase), None, 10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert!(!audit[0].target.contains("he.ping"), "the log does not keep the erased address");
        let html = c.page("/admin/subscribers?done=erased", StatusCode::OK).await;
        assert!(html.contains("已删除此人"));
    }

    async fn the_export_applies_the_filters(app) {
        add(&app, &["d1@example.org"], "daily", None).await;
        add(&app, &["w1@example.org"], "weekly", None).await;
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        let r = c.get("/admin/subscribers/export?schedule=weekly").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let body = r.text().await.unwrap();
        assert!(body.starts_with("email,sections,schedule,"), "{body}");
        assert!(body.contains("w1@example.org") && !body.contains("d1@example.org"), "{body}");
    }

    async fn an_editor_cannot_open_the_subscribers_pages(app) {
        let c = signed_in(&app, "editor@example.org", Role::Editor).await;
        for path in ["/admin/subscribers", "/admin/subscribers/new", "/admin/subscribers/import", "/admin/subscribers/export"] {
            assert_eq!(c.get(path).await.status(), StatusCode::FORBIDDEN, "{path}");
        }
    }
}

with_smtp_on_both_backends! {
    async fn adding_with_a_confirmation_sends_exactly_one_mail(app, smtp) {
        let c = signed_in(&app, ADMIN, Role::Admin).await;
        let r = c.post("/admin/subscribers/new", "/admin/subscribers/new", &[
            ("email", "lin.xia@example.org"), ("sections", "news"), ("schedule", "daily"), ("locale", "zh-CN"), ("mode", "confirm"),
        ]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("确认邮件正在发送"));
        let mails = smtp.wait_for(1).await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, ["lin.xia@example.org"]);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(smtp.messages().len(), 1, "exactly one mail");
        let s = app.state.store.subscriber_by_email("lin.xia@example.org").await.unwrap().unwrap();
        assert_eq!(s.status, SubscriberStatus::Pending);

        // Resending at once is refused by the resend interval; after it, one more mail.
        let page = format!("/admin/subscribers/{}", s.id);
        let r = c.post(&format!("{page}/resend"), &page, &[]).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        app.clock.advance(chrono::Duration::minutes(11));
        let r = c.post(&format!("{page}/resend"), &page, &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        smtp.wait_for(2).await;
        let html = c.page(&page, StatusCode::OK).await;
        assert!(html.contains("管理员重新发送了确认邮件"), "{html}");
    }
}

mod browser {
    //! The subscribers pages in a real browser (headless Chromium), zh-CN and en, with the
    //! CSV chosen through the file input; screenshots at 1280 and 390 px.

    use super::*;
    use crate::common::browser::{click, fill, shoot};
    use crate::subscriptions_browser::start_chromedriver;
    use fantoccini::{Client, Locator};

    async fn wait_h1(client: &Client, text: &str) {
        client
            .wait()
            .for_element(Locator::XPath(&format!("//h1[text()='{text}']")))
            .await
            .unwrap_or_else(|e| panic!("no page titled {text}: {e}"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_admin_finds_adds_imports_by_file_and_erases_subscribers_in_a_real_browser() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
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
        add(
            &app,
            &[
                "zhang.wei@example.org",
                "zhang.min@example.org",
                "li.zhang@example.org",
            ],
            "daily",
            None,
        )
        .await;
        add(
            &app,
            &["wang.fang@example.org"],
            "weekly",
            Some(&["news", "notices"]),
        )
        .await;
        let zhang = person(&app, "zhang.wei@example.org").await;
        exec(&app, &format!(
            "INSERT INTO runs (id, schedule, status, created_at) VALUES (12, 'daily', 'done', 1772323200000);
             INSERT INTO deliveries (run_id, subscriber_id, status, last_error, sent_at, last_attempt_at)
             VALUES (12, {id}, 'sent', '250 2.0.0 Ok: queued as 4F1A2', 1772323260000, 1772323260000);
             INSERT INTO runs (id, schedule, status, created_at) VALUES (13, 'daily', 'done', 1772409600000);
             INSERT INTO deliveries (run_id, subscriber_id, status, last_error, last_attempt_at)
             VALUES (13, {id}, 'bounced', '550 5.1.1 <zhang.wei@example.org>: mailbox unavailable', 1772409660000);",
            id = zhang.id
        )).await;
        let csv_dir = tempfile::tempdir().unwrap();
        let csv_path = csv_dir.path().join("会员名单.csv");
        std::fs::write(&csv_path, "email,sections,schedule\nzhou.jie@example.org,news,daily\nnot-an-address,,daily\nsun.li@example.org,,weekly\nwu.hao@example.org,nosuch,daily\n").unwrap();

        let (_driver, webdriver) = start_chromedriver().await;
        for locale in ["zh-CN", "en"] {
            let zh = locale == "zh-CN";
            let (client, _profile) = crate::common::browser::open(&webdriver, locale).await;
            let email = format!("admin.{}@example.org", locale.to_lowercase());
            let link = common::admin::add_account(&app, &email, Role::Admin).await;
            client
                .goto(&format!("{link}&locale={locale}"))
                .await
                .unwrap();
            fill(&client, "password", common::admin::PASSWORD).await;
            fill(&client, "repeat", common::admin::PASSWORD).await;
            click(&client, "button[type=submit].primary").await;
            client
                .wait()
                .for_element(Locator::Id("email"))
                .await
                .unwrap();
            fill(&client, "email", &email).await;
            fill(&client, "password", common::admin::PASSWORD).await;
            click(&client, "button[type=submit].primary").await;
            client
                .wait()
                .for_element(Locator::Css("nav"))
                .await
                .unwrap();

            // The list, searched by prefix in capitals.
            client
                .goto(&format!("{base}/admin/subscribers"))
                .await
                .unwrap();
            wait_h1(&client, if zh { "订阅者" } else { "Subscribers" }).await;
            fill(&client, "q", "ZHANG").await;
            click(&client, "form.subs-filters button").await;
            for _ in 0..50 {
                if client
                    .current_url()
                    .await
                    .unwrap()
                    .as_str()
                    .contains("q=ZHANG")
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let html = client.source().await.unwrap();
            assert!(
                html.contains("zhang.wei@example.org") && !html.contains("li.zhang@example.org"),
                "prefix search"
            );
            shoot(&client, locale, "subscribers-01-list").await;

            // The person page.
            client
                .find(Locator::LinkText("zhang.wei@example.org"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            wait_h1(&client, "zhang.wei@example.org").await;
            assert!(
                client
                    .source()
                    .await
                    .unwrap()
                    .contains("&lt;zhang.wei@example.org&gt;: mailbox unavailable")
            );
            shoot(&client, locale, "subscribers-02-person").await;

            // Add one, consent without a reason refused in place.
            client
                .goto(&format!("{base}/admin/subscribers/new"))
                .await
                .unwrap();
            wait_h1(
                &client,
                if zh {
                    "添加订阅者"
                } else {
                    "Add a subscriber"
                },
            )
            .await;
            fill(
                &client,
                "email",
                &format!("new.{}@example.org", locale.to_lowercase()),
            )
            .await;
            click(&client, "input[name=mode][value=consent]").await;
            click(&client, "form button.primary").await;
            client
                .wait()
                .for_element(Locator::Id("reason-error"))
                .await
                .unwrap();
            shoot(&client, locale, "subscribers-03-add-refused").await;

            // Import by choosing the file in the file input.
            client
                .goto(&format!("{base}/admin/subscribers/import"))
                .await
                .unwrap();
            wait_h1(
                &client,
                if zh {
                    "从 CSV 文件导入订阅者"
                } else {
                    "Import subscribers from a CSV file"
                },
            )
            .await;
            shoot(&client, locale, "subscribers-04-import").await;
            client
                .find(Locator::Id("file"))
                .await
                .unwrap()
                .send_keys(csv_path.to_str().unwrap())
                .await
                .unwrap();
            click(&client, "form button.primary").await;
            wait_h1(
                &client,
                if zh {
                    "导入前请核对"
                } else {
                    "Check before importing"
                },
            )
            .await;
            let html = client.source().await.unwrap();
            assert!(
                html.contains("not-an-address") || html.contains("会员名单.csv"),
                "{html}"
            );
            assert!(
                html.contains("nosuch"),
                "the rejected line is shown with its reason"
            );
            shoot(&client, locale, "subscribers-05-import-preview").await;
            if zh {
                click(&client, "input[name=consent]").await;
                click(&client, "form button.primary").await;
                wait_h1(&client, "导入完成").await;
                shoot(&client, locale, "subscribers-06-imported").await;
                assert!(
                    app.state
                        .store
                        .subscriber_by_email("zhou.jie@example.org")
                        .await
                        .unwrap()
                        .is_some()
                );
            }

            // Erase, after the confirmation page.
            let target = person(
                &app,
                if zh {
                    "zhang.min@example.org"
                } else {
                    "sun.li@example.org"
                },
            )
            .await;
            client
                .goto(&format!("{base}/admin/subscribers/{}/erase", target.id))
                .await
                .unwrap();
            wait_h1(
                &client,
                if zh {
                    "确定删除这位订阅者？"
                } else {
                    "Erase this subscriber?"
                },
            )
            .await;
            shoot(&client, locale, "subscribers-07-erase").await;
            click(&client, "form button.primary").await;
            client
                .wait()
                .for_element(Locator::Css("p.ok"))
                .await
                .unwrap();
            assert!(
                app.state
                    .store
                    .subscriber_by_email(&target.email)
                    .await
                    .unwrap()
                    .is_none()
            );
            client.close().await.unwrap();
        }
    }
}
