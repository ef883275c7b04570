//! A real browser (headless Chromium driven through chromedriver) subscribes through the
//! form, opens the confirmation link from the captured mail and presses the button.
//! Screenshots of every page land in `tests/artifacts/`.

use crate::common;

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{ClientBuilder, Locator};
use tidings::domain::SubscriberStatus;

/// chromedriver, killed when the test ends however it ends.
pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub(crate) async fn start_chromedriver() -> (Driver, String) {
    let Some(bin) = find_on_path("chromedriver") else {
        panic!(
            "chromedriver is not installed, so the browser test cannot run. \
             Install it with: apt-get install -y chromium chromium-driver"
        );
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start listening on port {port} within 10 s");
}

pub(crate) fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &fantoccini::Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(artifacts().join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_subscribes_and_confirms_in_a_real_browser() {
    let smtp = common::smtp::SmtpServer::start();
    let app = common::smtp::spawn_app_with_smtp(common::Backend::Sqlite, &smtp, |_| {})
        .await
        .unwrap();
    let (_driver, webdriver) = start_chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--window-size=420,900", "--lang=zh-CN",
            format!("--user-data-dir={}", profile.path().display()),
        ], "prefs": { "intl.accept_languages": "zh-CN,zh" } }),
    );
    let client = ClientBuilder::native()
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .expect("open a Chromium session");

    client.goto(&app.url("/subscribe")).await.unwrap();
    assert_eq!(
        client
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "订阅邮件摘要"
    );
    screenshot(&client, "01-subscribe-form.png").await;
    client
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("li.lei@example.org")
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=sections][value=news]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=schedule][value=weekly]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Wait for the next page's heading: the form page has an h1 too, which goes stale.
    client
        .wait()
        .for_element(Locator::XPath("//h1[text()='请查收确认邮件']"))
        .await
        .unwrap();
    screenshot(&client, "02-check-your-inbox.png").await;

    let mail = smtp.wait_for(1).await.pop().unwrap();
    client
        .goto(&common::smtp::local(
            &app,
            &mail.link_to("/subscriptions/confirm"),
        ))
        .await
        .unwrap();
    assert_eq!(
        client
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "确认订阅"
    );
    screenshot(&client, "03-confirm-button.png").await;
    let pending = app
        .state
        .store
        .subscriber_by_email("li.lei@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pending.status,
        SubscriberStatus::Pending,
        "opening the link changed nothing"
    );

    client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h1[text()='订阅成功']"))
        .await
        .unwrap();
    screenshot(&client, "04-subscribed.png").await;

    client
        .find(Locator::LinkText("修改栏目或频率"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h1[text()='管理订阅']"))
        .await
        .unwrap();
    screenshot(&client, "05-manage.png").await;

    let s = app
        .state
        .store
        .subscriber_by_email("li.lei@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, SubscriberStatus::Active);
    assert_eq!(
        (s.sections, s.schedule.as_str()),
        (vec!["news".to_owned()], "weekly")
    );

    // Leaving, then changing one's mind: one click brings the subscription back.
    client
        .find(Locator::LinkText("退订全部邮件"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//main//button[text()='退订']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h1[text()='已退订']"))
        .await
        .unwrap();
    screenshot(&client, "06-unsubscribed.png").await;
    client
        .find(Locator::XPath("//main//button[text()='恢复订阅']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h1[text()='已恢复订阅']"))
        .await
        .unwrap();
    screenshot(&client, "07-subscribed-again.png").await;
    let s = app
        .state
        .store
        .subscriber_by_email("li.lei@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, SubscriberStatus::Active);
    assert_eq!(
        (s.sections, s.schedule.as_str()),
        (vec!["news".to_owned()], "weekly")
    );
    client.close().await.unwrap();
}
