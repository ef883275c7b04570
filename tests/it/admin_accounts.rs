//! Console accounts: `tidings admin add|reset|list`, the set-password link, login, the
//! session cookie, logout and "log out everywhere".

use crate::common::{
    self,
    admin::{Console, PASSWORD, add_account, local, signed_in},
};

use reqwest::StatusCode;
use std::process::Command;
use tidings::domain::Role;

fn tidings(app: &common::TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "TIDINGS_CONFIG",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/no-sources.toml"),
        )
        .env("TIDINGS_DATABASE__URL", &app.database_url)
        .env("TIDINGS_SITE__BASE_URL", &app.state.config.site.base_url)
        .output()
        .expect("run tidings")
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "tidings failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

on_both_backends! {
    async fn cli_add_prints_a_one_time_link_that_sets_the_password(app) {
        let out = stdout(&tidings(&app, &["admin", "add", "Wang.Fang@Example.org", "--role", "editor"]));
        let link = out.lines().find(|l| l.starts_with("http://feeds.example.test/admin/password?token=")).unwrap_or_else(|| panic!("no link in {out}"));
        let link = local(&app, link);
        let c = Console::new(&app);

        let first = c.client.get(&link).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let html = first.text().await.unwrap();
        assert!(html.contains("wang.fang@example.org"), "{html}");
        // Opening the link (mail scanners, a second look) changes nothing.
        assert_eq!(c.client.get(&link).send().await.unwrap().status(), StatusCode::OK);
        assert!(!app.state.store.list_accounts().await.unwrap()[0].has_password);

        let r = c.set_password(&link, PASSWORD, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/login?done=password");
        let accounts = app.state.store.list_accounts().await.unwrap();
        assert_eq!((accounts[0].role, accounts[0].has_password), (Role::Editor, true));
        assert_eq!(c.client.get(&link).send().await.unwrap().status(), StatusCode::NOT_FOUND, "the link works once");

        let list = stdout(&tidings(&app, &["admin", "list"]));
        assert!(list.contains("wang.fang@example.org") && list.contains("editor") && list.contains("never"), "{list}");
        let again = tidings(&app, &["admin", "add", "wang.fang@example.org"]);
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("already has an account"));
    }

    async fn a_set_password_link_expires_after_24_hours(app) {
        let link = add_account(&app, "li.lei@example.org", Role::Admin).await;
        app.clock.advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
        let c = Console::new(&app);
        assert_eq!(c.client.get(&link).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }

    async fn short_common_and_mismatched_passwords_are_refused_and_nothing_is_set(app) {
        let link = add_account(&app, "li.lei@example.org", Role::Admin).await;
        let c = Console::new(&app);
        for (password, repeat, says) in [
            ("short", "short", "at least 10"),
            ("1234567890", "1234567890", "most common"),
            ("qwertyuiop", "qwertyuiop", "most common"),
            ("li.lei@example.org", "li.lei@example.org", "email address"),
            ("湟水河畔 spring 2026", "湟水河畔 spring 2025", "not the same"),
        ] {
            let r = c.set_password(&format!("{link}&locale=en"), password, repeat).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{password}");
            let html = r.text().await.unwrap();
            assert!(html.contains(says), "{password}: {html}");
        }
        assert!(!app.state.store.list_accounts().await.unwrap()[0].has_password);
    }

    async fn the_right_password_logs_in_and_a_wrong_one_or_an_unknown_address_does_not(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        let dashboard = c.page("/admin", StatusCode::OK).await;
        assert!(dashboard.contains("li.lei@example.org"));

        let other = Console::new(&app);
        let wrong = other.log_in("li.lei@example.org", "not the password").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let wrong_page = wrong.text().await.unwrap();
        let unknown = other.log_in("nobody@example.org", "not the password").await;
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        let unknown_page = unknown.text().await.unwrap();
        assert_eq!(
            strip_fields(&wrong_page).replace("li.lei@example.org", "X"),
            strip_fields(&unknown_page).replace("nobody@example.org", "X"),
            "the same page for a wrong password and an unknown address"
        );
        let r = other.get("/admin").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/login?next=%2Fadmin");
        let accounts = app.state.store.list_accounts().await.unwrap();
        assert!(accounts[0].last_login_at.is_some());
    }

    async fn the_session_cookie_is_httponly_lax_on_the_console_path_and_rotated_at_login(app) {
        let link = add_account(&app, "li.lei@example.org", Role::Admin).await;
        let c = Console::new(&app);
        c.set_password(&link, PASSWORD, PASSWORD).await;
        let r = c.log_in("li.lei@example.org", PASSWORD).await;
        let cookie = session_cookie(&r);
        assert!(cookie.contains("; Path=/admin") && cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("; Max-Age=604800"), "{cookie}");
        assert!(!cookie.contains("Secure"), "http site: {cookie}");
        let first = cookie_value(&cookie);

        // Logging in again in a browser that holds a session (or one planted by someone
        // else) gives a new id and ends the old session.
        let pre = "tidings_admin_pre=chosen-by-the-browser";
        let form = app.client.get(app.url("/admin/login")).header("cookie", pre).send().await.unwrap();
        let csrf = common::admin::field(&form.text().await.unwrap(), "csrf").unwrap();
        let r = app.client.post(app.url("/admin/login"))
            .header("cookie", format!("{pre}; tidings_admin={first}"))
            .form(&[("csrf", csrf.as_str()), ("email", "li.lei@example.org"), ("password", PASSWORD)])
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let second = cookie_value(&session_cookie(&r));
        assert_ne!(first, second);
        let stale = app.client.get(app.url("/admin")).header("cookie", format!("tidings_admin={first}")).send().await.unwrap();
        assert_eq!(stale.status(), StatusCode::SEE_OTHER, "the old id no longer works");
        let fresh = app.client.get(app.url("/admin")).header("cookie", format!("tidings_admin={second}")).send().await.unwrap();
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()["cache-control"], "no-store");
        let csp = fresh.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    }

    async fn a_session_ends_after_12_idle_hours_and_after_7_days_in_all(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        app.clock.advance(chrono::Duration::hours(11));
        c.page("/admin", StatusCode::OK).await;
        app.clock.advance(chrono::Duration::hours(11));
        c.page("/admin", StatusCode::OK).await;
        app.clock.advance(chrono::Duration::hours(12) + chrono::Duration::minutes(1));
        assert_eq!(c.get("/admin").await.status(), StatusCode::SEE_OTHER, "idle for 12 hours");

        let c = signed_in(&app, "wang.fang@example.org", Role::Admin).await;
        for _ in 0..15 {
            app.clock.advance(chrono::Duration::hours(11));
            c.page("/admin", StatusCode::OK).await;
        }
        app.clock.advance(chrono::Duration::hours(3) + chrono::Duration::minutes(1));
        assert_eq!(c.get("/admin").await.status(), StatusCode::SEE_OTHER, "7 days since login");
    }

    async fn logout_ends_the_session(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        let r = c.post("/admin/logout", "/admin", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/login?done=logout");
        assert!(session_cookie(&r).contains("Max-Age=0"));
        assert_eq!(c.get("/admin").await.status(), StatusCode::SEE_OTHER);
        let id = app.state.store.list_accounts().await.unwrap()[0].id;
        assert_eq!(app.state.store.count_sessions(id).await.unwrap(), 0);
    }

    async fn log_out_everywhere_ends_every_session_of_that_person_only(app) {
        let laptop = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        let phone = Console::new(&app);
        assert_eq!(phone.log_in("li.lei@example.org", PASSWORD).await.status(), StatusCode::SEE_OTHER);
        let colleague = signed_in(&app, "wang.fang@example.org", Role::Editor).await;
        phone.page("/admin", StatusCode::OK).await;

        let r = laptop.post("/admin/logout-everywhere", "/admin", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(laptop.get("/admin").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(phone.get("/admin").await.status(), StatusCode::SEE_OTHER);
        colleague.page("/admin", StatusCode::OK).await;
    }

    async fn reset_ends_the_password_and_the_sessions_and_gives_a_new_link(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        let out = stdout(&tidings(&app, &["admin", "reset", "li.lei@example.org"]));
        let link = local(&app, out.lines().find(|l| l.contains("/admin/password?token=")).unwrap());
        assert_eq!(c.get("/admin").await.status(), StatusCode::SEE_OTHER, "sessions ended");
        let fresh = Console::new(&app);
        assert_eq!(fresh.log_in("li.lei@example.org", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "old password gone");
        assert_eq!(fresh.set_password(&link, "another fine password", "another fine password").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(fresh.log_in("li.lei@example.org", "another fine password").await.status(), StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_site_is_https() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| {
        c.site.base_url = "https://feeds.example.test".into()
    })
    .await
    .unwrap();
    let link = add_account(&app, "li.lei@example.org", Role::Admin).await;
    let html = app.client.get(&link).send().await.unwrap();
    let pre = html.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        pre.contains("; Secure") && pre.contains("SameSite=Strict"),
        "{pre}"
    );
    let csrf = common::admin::field(&html.text().await.unwrap(), "csrf").unwrap();
    let token = common::admin::link_token(&link);
    let pre_cookie = pre.split(';').next().unwrap().to_owned();
    let r = app
        .client
        .post(app.url("/admin/password"))
        .header("cookie", &pre_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", &token),
            ("password", PASSWORD),
            ("repeat", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = app
        .client
        .get(app.url("/admin/login"))
        .header("cookie", &pre_cookie)
        .send()
        .await
        .unwrap();
    let csrf = common::admin::field(&login.text().await.unwrap(), "csrf").unwrap();
    let r = app
        .client
        .post(app.url("/admin/login"))
        .header("cookie", &pre_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "li.lei@example.org"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&r);
    assert!(
        cookie.contains("; Secure") && cookie.contains("; HttpOnly"),
        "{cookie}"
    );
}

/// The page without its per-request hidden fields.
fn strip_fields(html: &str) -> String {
    html.lines()
        .filter(|l| !l.contains("name=\"csrf\""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tidings_admin="))
        .expect("a session cookie")
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("tidings_admin=")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_on_one_replica_works_on_the_other() {
    let Some(a) = common::try_spawn_app(common::Backend::Postgres).await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL test not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_config(dir.path(), &a.database_url);
    let b =
        tidings::App::build_with_clock(config, tidings::clock::Clock::manual(common::test_start()))
            .await
            .expect("build the second replica");
    let b_base = format!("http://{}", b.local_addr());
    let b_state = b.state();
    tokio::spawn(b.run());

    // Logged in through replica A; cookies are per host, so the browser sends it to B too.
    let c = signed_in(&a, "li.lei@example.org", Role::Admin).await;
    let on_b = c
        .client
        .get(format!("{b_base}/admin/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), StatusCode::OK);
    let html = on_b.text().await.unwrap();
    assert!(html.contains("li.lei@example.org"));

    // A logout through B ends the session on A as well.
    let csrf = common::admin::field(&html, "csrf").unwrap();
    let r = c
        .client
        .post(format!("{b_base}/admin/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(c.get("/admin").await.status(), StatusCode::SEE_OTHER);
    b_state.shutdown.cancel();
}
