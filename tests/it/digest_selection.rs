//! One selection rule: for each subscriber, the preview, `digest run --dry-run` and the mail a
//! run actually sends list the same articles in the same order (or all three skip them).

use crate::common;

use std::collections::BTreeMap;

use common::{TestApp, smtp::SmtpServer};
use reqwest::StatusCode;
use tidings::digests::selection::Decision;

use crate::digest_delivery::{import, publish, run_now, wait_done};

/// Each subscriber's digest as article titles in mail order; `None` = nothing mailed.
type Digests = BTreeMap<String, Option<Vec<String>>>;

const READERS: [&str; 3] = ["pick@example.com", "all@example.com", "about@example.com"];

/// Every title of this test starts so; the rest is ASCII letters and digits.
const MARK: &str = "选稿-";

/// The titles in `html`, in order of appearance.
fn titles(html: &str) -> Vec<String> {
    html.match_indices(MARK)
        .map(|(i, _)| {
            let rest: String = html[i + MARK.len()..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            format!("{MARK}{rest}")
        })
        .collect()
}

async fn previews(app: &TestApp) -> Digests {
    let mut out = Digests::new();
    for email in READERS {
        let r = app
            .client
            .get(app.url(&format!("/api/v1/schedules/daily/preview?email={email}")))
            .bearer_auth(common::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let skipped = r.headers().get("x-tidings-skipped").cloned();
        let html = r.text().await.unwrap();
        let digest = match skipped {
            Some(why) => {
                assert_eq!(why, "nothing_new", "{email}: {html}");
                assert!(titles(&html).is_empty(), "{html}");
                None
            }
            None => Some(titles(&html)),
        };
        out.insert(email.to_owned(), digest);
    }
    out
}

async fn dry_run(app: &TestApp) -> Digests {
    let mut out = Digests::new();
    let report = tidings::digests::cli::dry_run(&app.state, "daily", |r, d| {
        let digest = match d {
            Decision::Send(p) => Some(p.articles().iter().map(|a| a.title.clone()).collect()),
            Decision::Skip(_) => None,
        };
        out.insert(r.email.clone(), digest);
    })
    .await
    .unwrap();
    let sends = out.values().filter(|d| d.is_some()).count() as u64;
    assert_eq!(
        (report.subscribers, report.would_send),
        (READERS.len() as u64, sends)
    );
    out
}

/// Runs the schedule now and reads back what each subscriber was mailed.
async fn run(app: &TestApp, smtp: &SmtpServer) -> Digests {
    let before = smtp.messages().len();
    let run = wait_done(app, run_now(app, "daily").await).await;
    let sent = run["sent"].as_u64().unwrap() as usize;
    assert_eq!(
        sent + run["skipped"].as_u64().unwrap() as usize,
        READERS.len(),
        "{run}"
    );
    let mails = smtp.wait_for(before + sent).await;
    assert_eq!(mails.len(), before + sent, "more mail than the run sent");
    let mut out: Digests = READERS.iter().map(|e| (e.to_string(), None)).collect();
    for m in &mails[before..] {
        let to = m.to.first().unwrap().clone();
        let previous = out.insert(to.clone(), Some(titles(&m.html())));
        assert_eq!(previous, Some(None), "{to} mailed twice by one run");
    }
    out
}

/// Preview, dry run and the run itself, in that order at the same instant; all three agree.
async fn all_three_agree(app: &TestApp, smtp: &SmtpServer) -> Digests {
    let previewed = previews(app).await;
    let dry = dry_run(app).await;
    let mailed = run(app, smtp).await;
    assert_eq!(previewed, mailed, "preview and the mail differ");
    assert_eq!(dry, mailed, "dry run and the mail differ");
    mailed
}

fn digest(titles: &[&str]) -> Option<Vec<String>> {
    Some(titles.iter().map(|t| format!("{MARK}{t}")).collect())
}

with_smtp_on_both_backends! {
    async fn preview_dry_run_and_the_mail_a_run_sends_list_the_same_articles(app, smtp) {
        let r = app.client.put(app.url("/api/v1/schedules/daily")).bearer_auth(common::ADMIN_TOKEN)
            .json(&serde_json::json!({"name": "每日摘要", "cron": "0 8 * * *", "timezone": "Asia/Shanghai",
                "max_articles": 4, "send_when_empty": false}))
            .send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        // Sections chosen in another order than their display order (news, notices, grassroots,
        // about); "about" gets nothing new.
        import(&app, "pick@example.com,notices news,daily\nall@example.com,,daily\nabout@example.com,about,daily\n").await;
        for (id, section) in [("n1", "news"), ("t1", "notices"), ("g1", "grassroots"),
                              ("n2", "news"), ("t2", "notices"), ("n3", "news")] {
            app.clock.advance(chrono::Duration::minutes(1));
            publish(&app, id, section, &format!("{MARK}{id}")).await;
        }
        app.clock.advance(chrono::Duration::minutes(1));

        // The newest four of their sections, grouped by section in display order.
        let first = all_three_agree(&app, &smtp).await;
        assert_eq!(first["pick@example.com"], digest(&["n3", "n2", "t2", "t1"]), "{first:?}");
        assert_eq!(first["all@example.com"], digest(&["n3", "n2", "t2", "g1"]), "{first:?}");
        assert_eq!(first["about@example.com"], None, "{first:?}");

        // The next run starts where the first ended: nothing already mailed (or dropped by
        // max_articles) comes again.
        app.clock.advance(chrono::Duration::minutes(1));
        publish(&app, "t3", "notices", &format!("{MARK}t3")).await;
        app.clock.advance(chrono::Duration::minutes(1));
        let second = all_three_agree(&app, &smtp).await;
        assert_eq!(second["pick@example.com"], digest(&["t3"]), "{second:?}");
        assert_eq!(second["all@example.com"], digest(&["t3"]), "{second:?}");
        assert_eq!(second["about@example.com"], None, "{second:?}");

        // Nothing new for anyone: all three skip everyone.
        app.clock.advance(chrono::Duration::minutes(1));
        let third = all_three_agree(&app, &smtp).await;
        assert!(third.values().all(Option::is_none), "{third:?}");
    }
}
