//! The console's browser tests share these: a headless Chromium session in one language,
//! screenshots at the two widths people use (1280 and 390 px), and form filling, clicking and
//! bounded waits.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::subscriptions_browser::artifacts;

/// Window height at each width: tall, so that most of a page is in the picture.
const SIZES: [(u32, u32); 2] = [(1280, 1100), (390, 1600)];

/// A Chromium session whose browser language is `locale`, through the chromedriver at
/// `webdriver`. Keep the directory as long as the session: it is the browser's profile.
pub async fn open(webdriver: &str, locale: &str) -> (Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--window-size=1280,1100", "--hide-scrollbars",
            format!("--lang={locale}"),
            format!("--user-data-dir={}", profile.path().display()),
        ] }),
    );
    let client = ClientBuilder::native()
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("open a Chromium session");
    (client, profile)
}

/// Saves the page as `tests/artifacts/admin-{locale}-{name}-{width}.png` at both widths.
pub async fn shoot(client: &Client, locale: &str, name: &str) {
    for (width, height) in SIZES {
        client.set_window_size(width, height).await.unwrap();
        let png = client.screenshot().await.unwrap();
        std::fs::write(
            artifacts().join(format!("admin-{locale}-{name}-{width}.png")),
            png,
        )
        .unwrap();
    }
    let (width, height) = SIZES[0];
    client.set_window_size(width, height).await.unwrap();
}

/// Replaces the text of the field with id `id`.
pub async fn fill(client: &Client, id: &str, text: &str) {
    let field = client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the first element matching `css`.
pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("nothing to click at {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// The text of the first element matching `css`.
pub async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits (at most 20 s) for an element matching `css`.
pub async fn wait_css(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
}

/// Waits (at most 10 s) until the browser is on a page whose path and query start with
/// `prefix`; answers that path and query.
pub async fn wait_path(client: &Client, prefix: &str) -> String {
    for _ in 0..200 {
        let url = client.current_url().await.unwrap();
        let here = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        if here.starts_with(prefix) {
            return here;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = client.current_url().await.unwrap();
    let body = client.source().await.unwrap_or_default();
    let start: String = body.chars().take(3000).collect();
    panic!("still on {url}, not {prefix}:\n{start}");
}
