//! The delivery ledger's leases, driven through the Store on both backends: an expired lease is
//! taken over; the worker that lost it is refused an intent to send and cannot complete the
//! deliveries, except for a "sent" (a fact that keeps the new holder from sending again); a
//! holder that stopped after its intent leaves an uncertain delivery, not a re-send; an
//! unsubscribe after the claim wins; a run is done only when none of its deliveries is pending.
//!
//! The app's own delivery loops run beside these tests; the deliveries planned here fall due a
//! day after the app's (manual, never moved) clock, so only the claims made here can take them.

use crate::common;

use chrono::Duration;
use reqwest::StatusCode;
use tidings::{
    clock::to_ms,
    store::{Claim, Intent, IntentAnswer, Outcome, RetryPolicy},
};

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    uncertain_retry_ms: 600_000,
};

fn intent(owner: &str, c: &Claim) -> Intent {
    Intent {
        delivery: c.id,
        owner: owner.into(),
    }
}

async fn import(app: &common::TestApp, n: usize) {
    let mut csv = String::from("email,sections,schedule\n");
    for i in 0..n {
        csv.push_str(&format!("l{i}@example.com,,daily\n"));
    }
    let r = app.import_subscribers(&csv).await;
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
    async fn an_expired_lease_is_taken_over_and_the_old_holder_cannot_send_or_complete(app) {
        import(&app, 7).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let minute = 60_000;
        let run = store.plan_run("daily", None, t, t).await.unwrap().expect("a new run");

        let first = store.claim_deliveries("worker-a", t, t + minute, 100, &POLICY).await.unwrap().claims;
        assert_eq!(first.len(), 7, "every planned delivery is claimable once due");
        assert!(first.iter().all(|c| c.run_id == run && c.attempts == 0));

        // While the lease runs, nobody else gets those deliveries.
        let during = store.claim_deliveries("worker-b", t + minute / 2, t + 2 * minute, 100, &POLICY).await.unwrap();
        assert!(during.claims.is_empty(), "a held lease was handed out again: {during:?}");

        // A renewal keeps them: still not claimable after the first lease would have ended.
        let held = store.renew_leases("worker-a", &ids(&first), t + 3 * minute).await.unwrap();
        assert_eq!(held.len(), 7);
        let renewed = store.claim_deliveries("worker-b", t + 2 * minute, t + 3 * minute, 100, &POLICY).await.unwrap();
        assert!(renewed.claims.is_empty(), "a renewed lease was handed out: {renewed:?}");

        // Once it has expired, another worker takes every one of them over.
        let later = t + 3 * minute + 1;
        let taken = store.claim_deliveries("worker-b", later, later + minute, 100, &POLICY).await.unwrap().claims;
        assert_eq!(ids(&taken), ids(&first));
        assert!(store.renew_leases("worker-a", &ids(&first), later + minute).await.unwrap().is_empty(), "the old holder renewed a lost lease");

        // The old holder asks to send: refused (lost), while the new holder is granted.
        let intents: Vec<Intent> = first.iter().map(|c| intent("worker-a", c)).collect();
        let w = store.commit_window(later + 5, later + minute, &POLICY, &intents, &[]).await.unwrap();
        assert!(w.answers.iter().all(|a| *a == IntentAnswer::Lost), "{:?}", w.answers);

        // The old holder's other outcomes are refused as stale: nothing is marked.
        let skipped: Vec<Outcome> = first.iter().map(|c| Outcome::Skipped { claim: c.clone(), schedule: "daily".into(), cutoff: 0 }).collect();
        let stale = store.record_outcomes("worker-a", later + 10, &POLICY, &skipped).await.unwrap();
        assert_eq!((stale.skipped, stale.stale), (0, 7), "{stale:?}");
        assert_eq!(store.pending_deliveries().await.unwrap(), 7);
        assert!(store.finish_runs(later + 20).await.unwrap().is_empty(), "a run with pending deliveries was finished");

        // But a "sent" from the old holder is a fact: recorded, and then the new holder's
        // intent for that delivery is refused, so nobody gets it twice.
        let late = store.record_outcomes("worker-a", later + 30, &POLICY, &sent(&first[..1])).await.unwrap();
        assert_eq!(late.sent, 1, "{late:?}");
        let intents: Vec<Intent> = taken.iter().map(|c| intent("worker-b", c)).collect();
        let w = store.commit_window(later + 40, later + minute, &POLICY, &intents, &[]).await.unwrap();
        let go = w.answers.iter().filter(|a| **a == IntentAnswer::Go).count();
        assert_eq!(go, 6, "{:?}", w.answers);
        let refused: Vec<i64> = taken.iter().zip(&w.answers).filter(|(_, a)| **a == IntentAnswer::Lost).map(|(c, _)| c.id).collect();
        assert_eq!(refused, vec![first[0].id]);

        // The holder completes the rest; now the run is done.
        let rest: Vec<Claim> = taken.iter().filter(|c| c.id != first[0].id).cloned().collect();
        let done = store.record_outcomes("worker-b", later + 50, &POLICY, &sent(&rest)).await.unwrap();
        assert_eq!((done.sent, done.stale), (6, 0), "{done:?}");
        // Recording again (a retry of the same window) changes nothing.
        let again = store.record_outcomes("worker-b", later + 60, &POLICY, &sent(&rest)).await.unwrap();
        assert_eq!(again.sent, 0, "{again:?}");
        assert_eq!(store.finish_runs(later + 70).await.unwrap(), vec![(run, tidings::domain::RunStatus::Done)]);
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.status.as_str(), view.sent, view.pending), ("done", 7, 0));
        assert!(store.claim_deliveries("worker-c", later + 10 * minute, later + 11 * minute, 100, &POLICY).await.unwrap().claims.is_empty());
    }

    async fn a_holder_that_stops_after_its_intent_leaves_an_uncertain_delivery_not_a_resend(app) {
        import(&app, 3).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let minute = 60_000;
        let run = store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        let claims = store.claim_deliveries("a", t, t + minute, 100, &POLICY).await.unwrap().claims;
        // Intent granted for the first only; then "a" stops (killed, paused) without an outcome.
        let w = store.commit_window(t + 1, t + minute, &POLICY, &[intent("a", &claims[0])], &[]).await.unwrap();
        assert_eq!(w.answers, vec![IntentAnswer::Go]);

        let later = t + minute + 1;
        let next = store.claim_deliveries("b", later, later + minute, 100, &POLICY).await.unwrap();
        assert_eq!(next.orphans, vec![(claims[0].id, run)], "the delivery in flight is an orphan");
        assert_eq!(ids(&next.claims), ids(&claims[1..]), "only the untouched deliveries are claimed");
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.uncertain, view.pending), (1, 2), "{view:?}");
        store.record_outcomes("b", later + 2, &POLICY, &sent(&next.claims)).await.unwrap();

        // It is retried once, after the configured delay, not before.
        assert!(store.claim_deliveries("b", later + 9 * minute, later + 10 * minute, 100, &POLICY).await.unwrap().claims.is_empty());
        let retry = store.claim_deliveries("b", later + 10 * minute, later + 11 * minute, 100, &POLICY).await.unwrap().claims;
        assert_eq!(ids(&retry), vec![claims[0].id]);
        // A second uncertain outcome is final: the run ends "done_with_failures".
        let u = Outcome::Uncertain { claim: retry[0].clone(), error: "no answer after the final \".\"".into() };
        let r = store.record_outcomes("b", later + 10 * minute + 1, &POLICY, &[u]).await.unwrap();
        assert_eq!(r.uncertain, 1);
        assert_eq!(store.finish_runs(later + 11 * minute).await.unwrap(), vec![(run, tidings::domain::RunStatus::DoneWithFailures)]);
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.sent, view.uncertain, view.pending, view.deferred), (2, 1, 0, 0), "{view:?}");
        let list = store.run_deliveries(run, tidings::domain::RunFigure::parse("uncertain").ok(), 0, 10).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].attempts, 2);
    }

    async fn an_unsubscribe_after_the_claim_wins(app) {
        import(&app, 2).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let minute = 60_000;
        let run = store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        let claims = store.claim_deliveries("a", t, t + minute, 100, &POLICY).await.unwrap().claims;
        // l0 unsubscribes (one-click) after the claim.
        let r = app.client.delete(app.url("/api/v1/subscribers/l0@example.com"))
            .bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert!(r.status().is_success());
        let intents: Vec<Intent> = claims.iter().map(|c| intent("a", c)).collect();
        let w = store.commit_window(t + 1, t + minute, &POLICY, &intents, &[]).await.unwrap();
        let mut answers: Vec<IntentAnswer> = w.answers.clone();
        answers.sort_by_key(|a| format!("{a:?}"));
        assert_eq!(answers, vec![IntentAnswer::Go, IntentAnswer::Inactive]);
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!(view.skipped, 1, "{view:?}");
    }

    async fn a_run_is_done_only_when_its_retried_deliveries_are_settled(app) {
        import(&app, 4).await;
        let store = &app.state.store;
        let policy = RetryPolicy { max_attempts: 2, uncertain_retry_ms: 600_000 };
        let t = to_ms(app.clock.now() + Duration::days(1));
        let minute = 60_000;
        let run = store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        let claims = store.claim_deliveries("w", t, t + minute, 100, &policy).await.unwrap().claims;
        assert_eq!(claims.len(), 4);

        // One sent, one skipped, one temporarily refused, one given back for a relay outage
        // (no attempt spent): the run waits for both.
        let outcomes = vec![
            sent(&claims[..1]).remove(0),
            Outcome::Skipped { claim: claims[1].clone(), schedule: "daily".into(), cutoff: 0 },
            Outcome::Transient { claim: claims[2].clone(), error: "451 try later".into(), retry_at: t + 5 * minute },
            Outcome::GiveBack { claim: claims[3].clone(), error: Some("mail relay unavailable".into()), retry_at: Some(t + 5 * minute) },
        ];
        let r = store.record_outcomes("w", t + 1, &policy, &outcomes).await.unwrap();
        assert_eq!((r.sent, r.skipped, r.retried, r.returned), (1, 1, 1, 1), "{r:?}");
        assert!(store.finish_runs(t + 2).await.unwrap().is_empty());
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.deferred, view.pending), (2, 0), "{view:?}");
        // Not before their retry instant.
        assert!(store.claim_deliveries("w", t + 2 * minute, t + 3 * minute, 100, &policy).await.unwrap().claims.is_empty());
        let retry = store.claim_deliveries("w", t + 5 * minute, t + 6 * minute, 100, &policy).await.unwrap().claims;
        assert_eq!(ids(&retry), ids(&claims[2..]));
        let by_id = |id: i64| retry.iter().find(|c| c.id == id).unwrap().clone();
        assert_eq!(by_id(claims[2].id).attempts, 1);
        assert_eq!(by_id(claims[3].id).attempts, 0, "a relay outage spent an attempt");

        // The second failure uses up max_attempts = 2: failed; the other is sent; the run is
        // done, with failures.
        let failed = Outcome::Transient { claim: by_id(claims[2].id), error: "451 again".into(), retry_at: t + 20 * minute };
        let mut last = sent(&[by_id(claims[3].id)]);
        last.push(failed);
        let r = store.record_outcomes("w", t + 5 * minute + 1, &policy, &last).await.unwrap();
        assert_eq!((r.failed, r.retried, r.sent), (1, 0, 1), "{r:?}");
        assert_eq!(store.finish_runs(t + 6 * minute).await.unwrap(), vec![(run, tidings::domain::RunStatus::DoneWithFailures)]);
        let view = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((view.sent, view.skipped, view.failed, view.pending), (2, 1, 1, 0));
        let failed = store.run_deliveries(run, tidings::domain::RunFigure::parse("failed").ok(), 0, 10).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].last_reply.as_deref(), Some("451 again"));
        assert!(failed[0].email.as_deref().is_some_and(|e| e.ends_with("@example.com")), "{:?}", failed[0]);
    }
}
