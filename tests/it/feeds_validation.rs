//! Every feed of a database holding the fixtures plus hostile articles parses cleanly in
//! Python's feedparser and in feed-rs, and follows the W3C Feed Validation Service's rules.

use crate::common;

use std::time::Duration;

use common::{
    feed_checks::{check_atom, check_rss},
    feeds::*,
};
use serde_json::Value;

const FORMATS: [&str; 3] = ["rss", "atom", "json"];

async fn hostile_database(app: &common::TestApp) -> Vec<(&'static str, usize)> {
    let counts = store_fixtures_and_hostile_articles(app).await;
    let ready = eventually(Duration::from_secs(10), || async {
        for (slug, n) in &counts {
            let v: Value = get(app, &format!("/feeds/{slug}.json"), &[])
                .await
                .json()
                .await
                .unwrap();
            if v["items"].as_array().unwrap().len() != *n {
                return false;
            }
        }
        true
    })
    .await;
    assert!(ready, "the cache never showed every article");
    counts
}

on_both_backends! {
    async fn every_feed_parses_without_bozo_in_feedparser_and_in_feed_rs(app) {
        let counts = hostile_database(&app).await;

        for (slug, n) in counts {
            for ext in FORMATS {
                let path = format!("/feeds/{slug}.{ext}");
                let body = get(&app, &path, &[]).await.bytes().await.unwrap();

                // feedparser 6.0 reads XML feeds only; JSON Feed is checked by feed-rs and serde.
                if ext != "json" {
                    let fp = feedparser(&body);
                    assert_eq!(fp["bozo"], 0, "{path}: feedparser says {}", fp["exception"]);
                    assert_eq!(fp["ids"].as_array().unwrap().len(), n, "{path}: feedparser item count");
                }
                let parsed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path}: feed-rs: {e}"));
                assert_eq!(parsed.entries.len(), n, "{path}: feed-rs item count");
                assert!(parsed.entries.iter().all(|e| e.id.starts_with("tag:feeds.example.test,2026-03-01:article/")), "{path}: ids");
            }
        }
    }

    async fn rss_and_atom_feeds_follow_the_w3c_validator_rules(app) {
        let counts = hostile_database(&app).await;
        let now = app.clock.now();

        for (slug, n) in counts {
            let rss_url = format!("http://feeds.example.test/feeds/{slug}.rss");
            let rss = get(&app, &format!("/feeds/{slug}.rss"), &[]).await.text().await.unwrap();
            let rss_ids = check_rss(&rss, &rss_url, n, now);
            let atom_url = format!("http://feeds.example.test/feeds/{slug}.atom");
            let atom = get(&app, &format!("/feeds/{slug}.atom"), &[]).await.text().await.unwrap();
            let atom_ids = check_atom(&atom, &atom_url, n, now);
            let json: Value = get(&app, &format!("/feeds/{slug}.json"), &[]).await.json().await.unwrap();
            assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
            let json_ids: Vec<String> = json["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
            // The same article has the same id in every format.
            assert_eq!(rss_ids, atom_ids, "{slug}");
            assert_eq!(rss_ids, json_ids, "{slug}");
        }
    }
}
