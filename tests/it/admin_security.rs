//! Console security: CSRF and origin checks, roles on every admin-only route, login
//! throttling, escaping of outsiders' text, and the audit log.

use crate::common::{
    self,
    admin::{Console, PASSWORD, add_account, signed_in},
};

use reqwest::{Method, StatusCode};
use tidings::domain::{AuditKind, Role};

on_both_backends! {
    async fn a_post_without_its_csrf_token_or_from_another_site_is_refused_and_changes_nothing(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        let csrf = c.csrf("/admin/accounts").await;
        let attempts = [
            ("no token", c.client.post(app.url("/admin/tokens")).form(&[("name", "bot"), ("role", "admin")])),
            ("wrong token", c.client.post(app.url("/admin/tokens")).form(&[("csrf", "forged"), ("name", "bot"), ("role", "admin")])),
            ("another site", c.client.post(app.url("/admin/tokens")).header("origin", "https://evil.example")
                .form(&[("csrf", csrf.as_str()), ("name", "bot"), ("role", "admin")])),
            ("another site's page", c.client.post(app.url("/admin/tokens")).header("referer", "https://evil.example/x")
                .form(&[("csrf", csrf.as_str()), ("name", "bot"), ("role", "admin")])),
            ("as JSON", c.client.post(app.url("/admin/tokens")).json(&serde_json::json!({"csrf": csrf, "name": "bot", "role": "admin"}))),
        ];
        for (what, request) in attempts {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{what}: a page");
        }
        let r = c.post_raw("/admin/logout", &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "logout without the token");
        assert!(app.state.store.list_api_tokens().await.unwrap().is_empty());
        c.page("/admin", StatusCode::OK).await;

        // Another session's token does not fit this session.
        let other = signed_in(&app, "wang.fang@example.org", Role::Admin).await;
        let theirs = other.csrf("/admin/accounts").await;
        let r = c.post_raw("/admin/tokens", &[("csrf", &theirs), ("name", "bot"), ("role", "admin")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(app.state.store.list_api_tokens().await.unwrap().is_empty());

        // The same form with its own token, from this site, goes through.
        let r = c.client.post(app.url("/admin/tokens")).header("origin", "http://feeds.example.test")
            .form(&[("csrf", csrf.as_str()), ("name", "bot"), ("role", "admin")]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(app.state.store.list_api_tokens().await.unwrap().len(), 1);
    }

    async fn every_console_post_without_its_csrf_token_is_refused_and_changes_nothing(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        let r = app.put_article("kept", &common::article("news", "省总工会召开全委会议")).await;
        assert!(r.status().is_success());
        let audit_before = app.state.store.audit_entries(None, None, None, 1000).await.unwrap().len();
        let sections_before = app.state.store.list_sections().await.unwrap().len();
        let posts: Vec<_> = tidings::admin::all_routes()
            .into_iter()
            .filter(|(m, _)| *m == Method::POST)
            .collect();
        assert!(posts.len() >= 25, "{} POST routes", posts.len());
        for (_, path) in posts {
            let path = fill_params(path);
            // Fields a real form would send, except the token.
            let r = c
                .post_raw(&path, &[("name", "x"), ("role", "admin"), ("slug", "x"), ("title_zh", "x"), ("email", "x@example.org")])
                .await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "POST {path}");
            let html = r.text().await.unwrap();
            assert!(html.contains("<h1>"), "POST {path}: a page, not a bare error");
        }
        let audit_after = app.state.store.audit_entries(None, None, None, 1000).await.unwrap().len();
        assert_eq!(audit_after, audit_before, "nothing was changed (nothing audited)");
        assert_eq!(app.state.store.list_sections().await.unwrap().len(), sections_before);
        assert!(app.state.store.list_api_tokens().await.unwrap().is_empty());
        let r = app.client.get(app.url("/api/v1/articles/kept")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the article is still there");
        c.page("/admin", StatusCode::OK).await;
    }

    async fn the_login_form_needs_its_own_token_too(app) {
        let link = add_account(&app, "li.lei@example.org", Role::Admin).await;
        let c = Console::new(&app);
        c.set_password(&link, PASSWORD, PASSWORD).await;
        let r = c.post_raw("/admin/login", &[("email", "li.lei@example.org"), ("password", PASSWORD)]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(app.state.store.list_accounts().await.unwrap()[0].last_login_at.is_none());
    }

    async fn an_editor_gets_403_on_every_admin_only_route(app) {
        let editor = signed_in(&app, "bian.ji@example.org", Role::Editor).await;
        let admin = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        admin.post("/admin/tokens", "/admin/accounts", &[("name", "bot"), ("role", "editor")]).await;
        let csrf = editor.csrf("/admin").await;
        let routes = tidings::admin::admin_only_routes();
        assert!(routes.len() >= 4);
        for (method, path) in routes {
            let path = fill_params(path);
            let r = if method == Method::GET {
                editor.get(&path).await
            } else {
                editor.post_raw(&path, &[("csrf", &csrf), ("name", "x"), ("role", "admin")]).await
            };
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
            let html = r.text().await.unwrap();
            assert!(html.contains("<h1>"), "{method} {path}: a page");
        }
        let tokens = app.state.store.list_api_tokens().await.unwrap();
        assert_eq!(tokens.len(), 1, "the editor made no token");
        assert!(tokens[0].revoked_at.is_none(), "nor revoked one");
        // The editor's own pages still work.
        editor.page("/admin", StatusCode::OK).await;
        let nav = editor.page("/admin", StatusCode::OK).await;
        assert!(!nav.contains("/admin/accounts"), "no link to what is forbidden");
    }

    async fn ten_failures_in_15_minutes_make_the_address_wait_even_with_the_right_password(app) {
        let link = add_account(&app, "li.lei@example.org", Role::Admin).await;
        let c = Console::new(&app);
        c.set_password(&link, PASSWORD, PASSWORD).await;
        for i in 0..10 {
            let r = c.log_in("li.lei@example.org", "guess guess guess").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
            app.clock.advance(chrono::Duration::seconds(30));
        }
        let r = c.log_in("li.lei@example.org", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the right password waits too");
        assert!(r.headers().contains_key("retry-after"));
        let known = r.text().await.unwrap();

        // An unknown address is answered the same way.
        for _ in 0..10 {
            assert_eq!(c.log_in("nobody@example.org", "guess guess guess").await.status(), StatusCode::UNAUTHORIZED);
        }
        let r = c.log_in("nobody@example.org", "guess guess guess").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let unknown = r.text().await.unwrap();
        let norm = |s: &str, e: &str| s.lines().filter(|l| !l.contains("name=\"csrf\"") && !l.contains("分钟") && !l.contains("minutes")).collect::<Vec<_>>().join("\n").replace(e, "X");
        assert_eq!(norm(&known, "li.lei@example.org"), norm(&unknown, "nobody@example.org"));

        // Attempts are recorded for the console.
        let attempts = app.state.store.recent_login_attempts(100).await.unwrap();
        assert!(attempts.iter().filter(|a| a.email == "li.lei@example.org").count() >= 11);
        assert!(attempts.iter().any(|a| a.outcome == tidings::domain::LoginOutcome::Throttled));

        app.clock.advance(chrono::Duration::minutes(15));
        assert_eq!(c.log_in("li.lei@example.org", PASSWORD).await.status(), StatusCode::SEE_OTHER, "the window passed");
    }

    async fn outsiders_text_is_escaped_on_the_dashboard(app) {
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let r = app.put_article("hostile", &common::article("news", hostile)).await;
        assert!(r.status().is_success());
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        // A failed login with a hostile address shows on the accounts page.
        let other = Console::new(&app);
        other.log_in("<b>x</b>@example.org", "guess guess guess").await;
        let html = c.page("/admin", StatusCode::OK).await;
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"), "{html}");
        let accounts = c.page("/admin/accounts", StatusCode::OK).await;
        assert!(!accounts.contains("<b>x</b>"), "{accounts}");
        assert!(accounts.contains("&lt;b&gt;x&lt;/b&gt;"));
    }

    async fn console_changes_logins_and_passwords_are_in_the_audit_log(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        c.post("/admin/tokens", "/admin/accounts", &[("name", "ingest bot"), ("role", "editor")]).await;
        let id = app.state.store.list_api_tokens().await.unwrap()[0].id;
        let r = c.post(&format!("/admin/tokens/{id}/revoke"), "/admin/accounts", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);

        let entries = app.state.store.audit_entries(None, None, None, 100).await.unwrap();
        let kinds: Vec<AuditKind> = entries.iter().rev().map(|e| e.kind).collect();
        assert_eq!(kinds, [AuditKind::AccountAdd, AuditKind::PasswordSet, AuditKind::Login, AuditKind::TokenCreate, AuditKind::TokenRevoke]);
        let add = entries.iter().find(|e| e.kind == AuditKind::AccountAdd).unwrap();
        assert_eq!((add.actor.as_str(), add.target.as_str(), add.client.as_deref()), ("cli", "li.lei@example.org", None));
        let revoke = &entries[0];
        assert_eq!(revoke.actor, "li.lei@example.org");
        assert_eq!(revoke.target, "token ingest bot");
        assert_eq!((revoke.before.as_deref(), revoke.after.as_deref()), (Some("active"), Some("revoked")));
        assert_eq!(revoke.client.as_deref(), Some("127.0.0.1"));

        let page = c.page("/admin/audit?kind=token.create&locale=en", StatusCode::OK).await;
        assert!(page.contains("token ingest bot") && page.contains("role editor"));
        assert!(!page.contains("title=\"token.revoke\""), "filtered by kind");
        let by_cli = c.page("/admin/audit?person=cli", StatusCode::OK).await;
        assert!(by_cli.contains("title=\"account.add\"") && !by_cli.contains("title=\"login\""));
    }
}

#[tokio::test]
async fn the_audit_log_is_paged() {
    let app = common::try_spawn_app(common::Backend::Sqlite)
        .await
        .unwrap();
    let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
    for i in 0..60 {
        let audit = tidings::domain::Audit::new(
            "cli",
            AuditKind::AccountReset,
            &format!("p{i}@example.org"),
            None,
        );
        app.state.store.record_audit(&audit, i).await.unwrap();
    }
    let first = c
        .page("/admin/audit?person=cli&locale=en", StatusCode::OK)
        .await;
    assert!(first.contains("p59@example.org") && !first.contains("p5@example.org<"));
    let older = first
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("before="))
        .expect("an older link")
        .replace("&amp;", "&");
    let second = c.page(&older, StatusCode::OK).await;
    assert!(second.contains("p0@example.org") && !second.contains("p59@example.org"));
}

/// A route path with each `{param}` replaced by `1`.
fn fill_params(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push('1');
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}
