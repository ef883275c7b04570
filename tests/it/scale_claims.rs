//! Claims of the delivery ledger, driven through the Store on both backends (issue 15): the
//! order is fair (oldest due first, then id; due retries before fresh deliveries that fell due
//! later; deliveries leased to another worker skipped), a claim that starts after a position
//! takes only what comes after it, and workers claiming at the same time never get the same
//! delivery.
//!
//! The app's own delivery loops run beside these tests; the deliveries planned here fall due a
//! day after the app's (manual, never moved) clock, so only the claims made here take them.

use crate::common;

use std::collections::HashSet;

use chrono::Duration;
use reqwest::StatusCode;
use tidings::{
    clock::to_ms,
    store::{Claim, ClaimKey, Outcome, RetryPolicy},
};

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    uncertain_retry_ms: 600_000,
};
const MINUTE: i64 = 60_000;

/// Imports `n` active subscribers of `daily` (`c0@…`, `c1@…` in id order).
pub async fn import(app: &common::TestApp, n: usize) {
    let mut csv = String::from("email,sections,schedule\n");
    for i in 0..n {
        csv.push_str(&format!("c{i}@example.com,,daily\n"));
    }
    let r = app.import_subscribers(&csv).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

fn ids(claims: &[Claim]) -> Vec<i64> {
    claims.iter().map(|c| c.id).collect()
}

on_both_backends! {
    async fn claims_take_the_oldest_due_first_then_ids_and_skip_what_others_hold(app) {
        import(&app, 4).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        // Run A falls due at t; two of its deliveries are refused (451) and retried at t + 1 min.
        let a = store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        let first = store.claim_deliveries("w", t, t + MINUTE, 2, &POLICY).await.unwrap().claims;
        assert_eq!(first.len(), 2);
        let refused: Vec<Outcome> = first.iter().map(|c| Outcome::Transient {
            claim: c.clone(), error: "451 try later".into(), retry_at: t + MINUTE,
        }).collect();
        store.record_outcomes("w", t + 1, &POLICY, &refused).await.unwrap();
        // Run B is planned later: its deliveries fall due at t + 2 min.
        let b = store.plan_run("daily", None, t + 2 * MINUTE, t + 2 * MINUTE).await.unwrap().unwrap();
        let a_ids: Vec<i64> = {
            let mut v = store.run_deliveries(a, None, 0, 10).await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>();
            v.sort();
            v
        };
        let b_ids: Vec<i64> = store.run_deliveries(b, None, 0, 10).await.unwrap().iter().map(|d| d.id).collect();
        assert_eq!(ids(&first), a_ids[..2], "the first claim takes the lowest ids of one instant");

        // Another worker holds the next delivery of A.
        let held = store.claim_deliveries("other", t + 3 * MINUTE, t + 10 * MINUTE, 1, &POLICY).await.unwrap().claims;
        assert_eq!(ids(&held), vec![a_ids[2]]);

        // Now (t + 3 min) everything is due: A's untried delivery (due t), then A's retries
        // (due t + 1 min), then B's (due t + 2 min) in id order; the held one is skipped.
        let now = t + 3 * MINUTE;
        let mut order = Vec::new();
        loop {
            let batch = store.claim_deliveries("me", now, now + MINUTE, 2, &POLICY).await.unwrap().claims;
            if batch.is_empty() {
                break;
            }
            order.extend(ids(&batch));
        }
        let mut expected = vec![a_ids[3], a_ids[0], a_ids[1]];
        expected.extend(&b_ids);
        assert_eq!(order, expected, "claim order (A = {a_ids:?}, B = {b_ids:?})");

        // Once the other worker's lease has run out, its delivery is taken over.
        let later = t + 11 * MINUTE;
        let taken = store.claim_deliveries("me", later, later + MINUTE, 10, &POLICY).await.unwrap().claims;
        assert!(ids(&taken).contains(&a_ids[2]), "{taken:?}");
    }

    async fn a_claim_from_a_position_takes_only_what_comes_after_it(app) {
        import(&app, 6).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        let first = store.claim_deliveries("w", t, t + MINUTE, 3, &POLICY).await.unwrap();
        let key = first.last_key().expect("three claimed");
        assert_eq!(key, ClaimKey { due: t, id: first.claims[2].id });
        // The first is given back at its old place: a claim after the position does not see
        // it (it waits for the next claim from the beginning), the other three it takes.
        let back = Outcome::GiveBack { claim: first.claims[0].clone(), error: None, retry_at: None };
        store.record_outcomes("w", t + 1, &POLICY, &[back]).await.unwrap();
        let after = store.claim_deliveries_after("w", t + 2, t + MINUTE, 10, &POLICY, Some(key)).await.unwrap();
        assert!(after.claims.iter().all(|c| c.key() > key), "{after:?}");
        assert_eq!(after.claims.len(), 3);
        let full = store.claim_deliveries_after("w", t + 3, t + MINUTE, 10, &POLICY, None).await.unwrap();
        assert_eq!(ids(&full.claims), vec![first.claims[0].id]);
    }

    async fn workers_claiming_at_the_same_time_never_get_the_same_delivery(app) {
        const N: usize = 1200;
        import(&app, N).await;
        let store = app.state.store.clone();
        let t = to_ms(app.clock.now() + Duration::days(1));
        store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        // Eight workers, each claiming 40 at a time until nothing is left; half of them from
        // their own last position, as the delivery loops do.
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..8 {
            let store = store.clone();
            tasks.spawn(async move {
                let owner = format!("worker-{w}");
                let mut got = Vec::new();
                let mut after = None;
                loop {
                    let c = store.claim_deliveries_after(&owner, t, t + 10 * MINUTE, 40, &POLICY, after).await.unwrap();
                    if c.claims.is_empty() {
                        if after.is_none() {
                            return got;
                        }
                        after = None;
                        continue;
                    }
                    if w % 2 == 1 {
                        after = c.last_key();
                    }
                    got.extend(ids(&c.claims));
                }
            });
        }
        let mut all = Vec::new();
        let mut workers_with_claims = 0;
        while let Some(got) = tasks.join_next().await {
            let got = got.unwrap();
            workers_with_claims += usize::from(!got.is_empty());
            all.extend(got);
        }
        let distinct: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len(), "a delivery was claimed twice");
        assert_eq!(all.len(), N, "every delivery claimed once");
        assert!(workers_with_claims > 1, "the workers did not claim side by side");
    }
}
