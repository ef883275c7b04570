//! The delivery ledger's leases, driven through the Store on both backends: an expired lease is
//! taken over, the worker that lost it cannot complete those deliveries, and a run is done only
//! when none of its deliveries is pending.
//!
//! The app's own delivery loops run beside these tests; the deliveries planned here fall due a
//! day after the app's (manual, never moved) clock, so only the claims made here can take them.

mod common;

use chrono::Duration;
use reqwest::StatusCode;
use tidings::{
    clock::to_ms,
    store::{Claim, Outcome},
};

async fn import(app: &common::TestApp, n: usize) {
    let mut csv = String::from("email,sections,schedule\n");
    for i in 0..n {
        csv.push_str(&format!("l{i}@example.com,,daily\n"));
    }
    let r = app
        .client
        .post(app.url("/api/v1/subscribers/import"))
        .bearer_auth(common::ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

fn sent(claims: &[Claim]) -> Vec<Outcome> {
    claims
        .iter()
        .map(|c| Outcome::Sent {
            claim: c.clone(),
            message_id: format!("<test.{}@example.org>", c.id),
            schedule: "daily".into(),
            cutoff: 0,
        })
        .collect()
}

fn ids(claims: &[Claim]) -> Vec<i64> {
    let mut v: Vec<i64> = claims.iter().map(|c| c.id).collect();
    v.sort();
    v
}

on_both_backends! {
    async fn an_expired_lease_is_taken_over_and_the_old_holder_cannot_complete(app) {
        import(&app, 7).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let minute = 60_000;
        let run = store.plan_run("daily", None, t, t).await.unwrap().expect("a new run");

        let first = store.claim_deliveries("worker-a", t, t + minute, 100).await.unwrap();
        assert_eq!(first.len(), 7, "every planned delivery is claimable once due");
        assert!(first.iter().all(|c| c.run_id == run && c.attempts == 0));

        // While the lease runs, nobody else gets those deliveries.
        let during = store.claim_deliveries("worker-b", t + minute / 2, t + 2 * minute, 100).await.unwrap();
        assert!(during.is_empty(), "a held lease was handed out again: {during:?}");

        // Once it has expired, another worker takes every one of them over.
        let later = t + minute + 1;
        let taken = store.claim_deliveries("worker-b", later, later + minute, 100).await.unwrap();
        assert_eq!(ids(&taken), ids(&first));

        // The first worker comes back with its results: every one is refused as stale, nothing
        // is marked, and the run is not done.
        let stale = store.record_outcomes("worker-a", later + 10, 5, &sent(&first)).await.unwrap();
        assert_eq!((stale.sent, stale.stale), (0, 7), "{stale:?}");
        assert_eq!(store.pending_deliveries().await.unwrap(), 7);
        assert!(store.finish_runs(later + 20).await.unwrap().is_empty(), "a run with pending deliveries was finished");
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.sent, view.pending), (0, 7));

        // The holder of the lease completes them; now the run is done.
        let done = store.record_outcomes("worker-b", later + 30, 5, &sent(&taken)).await.unwrap();
        assert_eq!((done.sent, done.stale), (7, 0), "{done:?}");
        // Recording again (a retry of the same batch) changes nothing.
        let again = store.record_outcomes("worker-b", later + 40, 5, &sent(&taken)).await.unwrap();
        assert_eq!(again.sent, 0, "{again:?}");
        assert_eq!(store.finish_runs(later + 50).await.unwrap(), vec![run]);
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.status.as_str(), view.sent, view.pending), ("done", 7, 0));
        assert!(store.claim_deliveries("worker-c", later + 10 * minute, later + 11 * minute, 100).await.unwrap().is_empty());
    }

    async fn a_run_is_done_only_when_its_retried_deliveries_are_settled(app) {
        import(&app, 3).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let minute = 60_000;
        let run = store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        let claims = store.claim_deliveries("w", t, t + minute, 100).await.unwrap();
        assert_eq!(claims.len(), 3);

        // One sent, one skipped, one temporarily refused: the run waits for the retry.
        let outcomes = vec![
            sent(&claims[..1]).remove(0),
            Outcome::Skipped { claim: claims[1].clone(), schedule: "daily".into(), cutoff: 0 },
            Outcome::Transient { claim: claims[2].clone(), error: "451 try later".into(), retry_at: t + 5 * minute },
        ];
        let r = store.record_outcomes("w", t + 1, 2, &outcomes).await.unwrap();
        assert_eq!((r.sent, r.skipped, r.retried), (1, 1, 1), "{r:?}");
        assert!(store.finish_runs(t + 2).await.unwrap().is_empty());
        // Not before its retry instant.
        assert!(store.claim_deliveries("w", t + 2 * minute, t + 3 * minute, 100).await.unwrap().is_empty());
        let retry = store.claim_deliveries("w", t + 5 * minute, t + 6 * minute, 100).await.unwrap();
        assert_eq!(ids(&retry), ids(&claims[2..]));
        assert_eq!(retry[0].attempts, 1);

        // The second failure uses up max_attempts = 2: failed, and then the run is done.
        let failed = Outcome::Transient { claim: retry[0].clone(), error: "451 again".into(), retry_at: t + 20 * minute };
        let r = store.record_outcomes("w", t + 5 * minute + 1, 2, &[failed]).await.unwrap();
        assert_eq!((r.failed, r.retried), (1, 0), "{r:?}");
        assert_eq!(store.finish_runs(t + 6 * minute).await.unwrap(), vec![run]);
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.sent, view.skipped, view.failed, view.pending), (1, 1, 1, 0));
    }
}
