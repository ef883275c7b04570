//! Subscriber counts per status (the console's figures, kept as deltas by triggers: per
//! statement on PostgreSQL since migration 0214, per row on SQLite), on both backends: after
//! imports in batches, sign-ups, unsubscribes, bounces, activations, erasure and the purge of
//! stale sign-ups, they equal a recount of the subscribers table; and on PostgreSQL a batch of
//! an import adds one delta row, not one per subscriber.

use crate::common;

use std::collections::BTreeMap;

use chrono::Duration;
use serde_json::json;
use tidings::clock::to_ms;

use crate::scale_import_subscribers::{import, sql, stored};

/// Status → count, by the counters and by a recount, for the statuses either has.
async fn counted_and_recounted(
    app: &common::TestApp,
) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let counters: BTreeMap<String, i64> = app
        .state
        .store
        .subscriber_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|(s, n)| (s.as_str().to_owned(), n))
        .collect();
    let mut recount = BTreeMap::new();
    for status in counters.keys() {
        let n = sql(
            app,
            "SELECT COUNT(*) FROM subscribers WHERE status = $1",
            Some(status),
        )
        .await;
        recount.insert(status.clone(), n);
    }
    (counters, recount)
}

async fn assert_counts(app: &common::TestApp, after: &str) -> BTreeMap<String, i64> {
    let (counters, recount) = counted_and_recounted(app).await;
    assert_eq!(counters, recount, "counters and recount after {after}");
    counters
}

fn rows(from: usize, to: usize) -> String {
    let mut csv = String::from("email,sections,schedule\n");
    for i in from..to {
        csv.push_str(&format!("p{i:04}@example.org,news,daily\n"));
    }
    csv
}

on_both_backends! {
    async fn status_counts_equal_a_recount_after_every_kind_of_change(app) {
        let deltas = "SELECT COUNT(*) FROM subscriber_status_deltas";
        let before = sql(&app, deltas, None).await;
        let report = import(&app, &rows(0, 1_200)).await;
        assert_eq!(report["created"], 1_200);
        if app.backend == common::Backend::Postgres {
            // One batch, one statement: one delta row (active +1,200).
            assert_eq!(sql(&app, deltas, None).await - before, 1, "one delta row per batch");
        }
        let counts = assert_counts(&app, "an import of new people").await;
        assert_eq!(counts["active"], 1_200);

        for email in ["new1@example.org", "new2@example.org", "new3@example.org"] {
            common::subscriptions::subscribe_json(&app, json!({"email": email})).await;
        }
        for email in ["new1@example.org", "new2@example.org", "new3@example.org"] {
            stored(&app, email).await;
        }
        assert_counts(&app, "sign-ups").await;
        for email in ["p0001@example.org", "p0002@example.org"] {
            let s = app.state.store.subscriber_by_email(email).await.unwrap().unwrap();
            app.state.store.unsubscribe(s.id, s.generation, 0).await.unwrap();
        }
        assert_counts(&app, "unsubscribes").await;
        sql(&app, "UPDATE subscribers SET status = 'bounced', bounced_at = 1
                   WHERE email LIKE 'p001%'", None).await;
        assert_counts(&app, "bounces of ten people in one statement").await;

        // Again, with the unsubscribed, the bounced and two of the pending: those two
        // activated, the rest updated or skipped.
        let mut again = rows(0, 1_200);
        again.push_str("new1@example.org,,daily\nnew2@example.org,,weekly\n");
        let report = import(&app, &again).await;
        assert_eq!((report["updated"].clone(), report["skipped_total"].clone()), (json!(1_190), json!(12)), "{report}");
        let counts = assert_counts(&app, "an import again").await;
        assert_eq!((counts["active"], counts["pending"], counts["unsubscribed"], counts["bounced"]), (1_190, 1, 2, 10));

        assert!(app.state.store.erase_subscriber("p0100@example.org").await.unwrap());
        assert_counts(&app, "an erasure").await;
        app.clock.advance(Duration::days(30));
        let now = to_ms(app.clock.now());
        let (_, pending) = app.state.store.purge_stale_subscriptions(now, now).await.unwrap();
        assert_eq!(pending, 1, "the pending sign-up never confirmed");
        let counts = assert_counts(&app, "the purge of stale sign-ups").await;
        assert_eq!((counts["active"], counts["pending"]), (1_189, 0));
    }
}
