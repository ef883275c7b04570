//! The admin console from a test: accounts made through the library (as `tidings admin add`
//! does), a browser-like client that keeps cookies, and the CSRF token of its pages.

use reqwest::{Response, StatusCode};
use tidings::domain::Role;

use super::TestApp;

/// A password that passes every rule.
pub const PASSWORD: &str = "湟水河畔 spring 2026";

/// Adds an account and returns its set-password link, made local to the test app.
pub async fn add_account(app: &TestApp, email: &str, role: Role) -> String {
    let link = tidings::admin::cli::add(
        &app.state.store,
        &app.state.config,
        email,
        role,
        app.clock.now(),
    )
    .await
    .expect("add account");
    local(app, &link)
}

/// `link` (on `site.base_url`) as a URL of the test app.
pub fn local(app: &TestApp, link: &str) -> String {
    let base = app.state.config.site.base_url.trim_end_matches('/');
    let rest = link.strip_prefix(base).expect("a link on the site");
    app.url(rest)
}

/// A client that keeps cookies like a browser and does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of hidden field `name` in `html`.
pub fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The `token` query parameter of a set-password link.
pub fn link_token(link: &str) -> String {
    url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

/// One person's browser on the console.
pub struct Console<'a> {
    pub app: &'a TestApp,
    pub client: reqwest::Client,
}

impl<'a> Console<'a> {
    /// A fresh browser, not logged in.
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: browser(),
        }
    }

    /// GET `path` of the app.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.app.url(path)).send().await.unwrap()
    }

    /// GET `path` and its body, asserting the status.
    pub async fn page(&self, path: &str, status: StatusCode) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), status, "GET {path}");
        r.text().await.unwrap()
    }

    /// The CSRF token of the forms of `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let html = self.get(path).await.text().await.unwrap();
        field(&html, "csrf").unwrap_or_else(|| panic!("no CSRF field on {path}: {html}"))
    }

    /// POSTs `fields` to `path` as a form, with the CSRF token of the page `from`.
    pub async fn post(&self, path: &str, from: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf(from).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// POSTs exactly `fields` (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.app.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Sets the password through the link (a local URL).
    pub async fn set_password(&self, link: &str, password: &str, repeat: &str) -> Response {
        let html = self
            .client
            .get(link)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = field(&html, "csrf").expect("CSRF field on the password page");
        let token = link_token(link);
        self.post_raw(
            "/admin/password",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", password),
                ("repeat", repeat),
            ],
        )
        .await
    }

    /// Submits the login form.
    pub async fn log_in(&self, email: &str, password: &str) -> Response {
        self.post(
            "/admin/login",
            "/admin/login",
            &[("email", email), ("password", password), ("next", "/admin")],
        )
        .await
    }
}

/// A person of `role` with a password, logged in in a fresh browser.
pub async fn signed_in<'a>(app: &'a TestApp, email: &str, role: Role) -> Console<'a> {
    let link = add_account(app, email, role).await;
    let c = Console::new(app);
    let r = c.set_password(&link, PASSWORD, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password set");
    let r = c.log_in(email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "logged in");
    c
}
