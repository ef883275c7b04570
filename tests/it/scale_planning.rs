//! Planning in chunks that commit as they go (issue 15), on both backends, through the store
//! API a planner uses: a run is planned a chunk of subscribers at a time, the deliveries of a
//! chunk are claimable before the last chunk, a run still planning is never finished, a
//! planner whose lease was taken over writes nothing, and a run of nobody is done at once.
//!
//! The runs here fall due a day ahead of the app's clock, so that the app's own delivery loops
//! and scheduler leave them to the test.

use crate::common;

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::Value;
use tidings::{
    clock::to_ms,
    domain::{Role, RunStatus},
    store::{Claim, Outcome, PlanLease, PlanStep, RetryPolicy},
};

use crate::scale_claims::import;

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    uncertain_retry_ms: 600_000,
};
const MINUTE: i64 = 60_000;

/// What the database says of a run's planning.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    /// Deliveries of the run.
    pub deliveries: i64,
    /// Subscribers with more than one delivery of the run.
    pub doubled: i64,
    /// Active subscribers of the schedule without a delivery of the run.
    pub missing: i64,
    /// `(total, queued)` of the run's counters, then the same recounted from its deliveries.
    pub counters: (i64, i64),
    pub recount: (i64, i64),
}

/// Reads [`Planned`] of run `run` of `schedule` straight from the database at `url`.
pub(crate) async fn planned(url: &str, run: i64, schedule: &str) -> Planned {
    with_pool!(url, |pool| {
        let (deliveries, doubled): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(*) - COUNT(DISTINCT subscriber_id) FROM deliveries
             WHERE run_id = $1",
        )
        .bind(run)
        .fetch_one(&pool)
        .await
        .unwrap();
        let missing: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscribers s WHERE s.schedule = $2 AND s.status = 'active'
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.run_id = $1 AND d.subscriber_id = s.id)",
        )
        .bind(run)
        .bind(schedule)
        .fetch_one(&pool)
        .await
        .unwrap();
        let counters: (i64, i64) =
            sqlx::query_as("SELECT total, queued FROM run_figures WHERE run_id = $1")
                .bind(run)
                .fetch_one(&pool)
                .await
                .unwrap();
        let recount: (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*),
                    CAST(COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM deliveries WHERE run_id = $1",
        )
        .bind(run)
        .fetch_one(&pool)
        .await
        .unwrap();
        Planned {
            deliveries,
            doubled,
            missing,
            counters,
            recount,
        }
    })
}

/// The run as `GET /api/v1/runs/{id}` shows it.
async fn shown(app: &common::TestApp, run: i64) -> Value {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/runs/{run}")))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn lease(owner: &str) -> PlanLease {
    PlanLease {
        owner: owner.to_owned(),
        millis: MINUTE,
    }
}

fn sent(c: &Claim, t: i64) -> Outcome {
    Outcome::Sent {
        claim: c.clone(),
        message_id: format!("<{}@planning.test>", c.id),
        schedule: "daily".into(),
        cutoff: t,
    }
}

on_both_backends! {
    async fn a_run_is_planned_in_chunks_and_the_first_is_claimable_before_the_last(app) {
        import(&app, 5).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let p = lease("planner-a");
        let run = store.start_run("daily", None, t, t, &p).await.unwrap().unwrap();
        let v = shown(&app, run).await;
        assert_eq!((v["status"].as_str(), v["planning"].as_bool(), v["total"].as_i64()), (Some("running"), Some(true), Some(0)), "{v}");

        assert_eq!(store.plan_chunk(run, &p, t, 2).await.unwrap(), PlanStep::Chunk { planned: 2 });
        // The first chunk is committed: its deliveries go out while the rest is planned.
        let first = store.claim_deliveries("w", t, t + MINUTE, 100, &POLICY).await.unwrap().claims;
        assert_eq!(first.len(), 2, "{first:?}");
        let v = shown(&app, run).await;
        assert_eq!((v["status"].as_str(), v["planning"].as_bool(), v["total"].as_i64()), (Some("running"), Some(true), Some(2)), "{v}");
        let admin = common::admin::signed_in(&app, "planner@example.org", Role::Admin).await;
        let page = admin.page(&format!("/admin/runs/{run}?locale=en"), StatusCode::OK).await;
        assert!(page.contains("sending · planning…"), "{page}");

        assert_eq!(store.plan_chunk(run, &p, t, 2).await.unwrap(), PlanStep::Chunk { planned: 2 });
        assert_eq!(store.plan_chunk(run, &p, t, 2).await.unwrap(), PlanStep::Finished { planned: 1, empty: false });
        let rest = store.claim_deliveries("w", t, t + MINUTE, 100, &POLICY).await.unwrap().claims;
        assert_eq!(rest.len(), 3, "the later chunks: {rest:?}");
        let mut subscribers: Vec<i64> = first.iter().chain(&rest).map(|c| c.subscriber_id).collect();
        let firsts: Vec<i64> = first.iter().map(|c| c.subscriber_id).collect();
        subscribers.sort();
        assert_eq!(&subscribers[..2], &firsts[..], "chunks go in subscriber id order");
        let v = shown(&app, run).await;
        assert_eq!((v["status"].as_str(), v["planning"].as_bool(), v["total"].as_i64()), (Some("running"), Some(false), Some(5)), "{v}");
        let d = planned(&app.database_url, run, "daily").await;
        assert_eq!((d.deliveries, d.doubled, d.missing), (5, 0, 0), "{d:?}");
        assert_eq!(d.counters, d.recount, "{d:?}");
        // The planner has nothing more to do with it.
        assert_eq!(store.plan_chunk(run, &p, t, 2).await.unwrap(), PlanStep::Lost);
    }

    async fn finish_runs_leaves_a_run_alone_while_it_is_planning(app) {
        import(&app, 4).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let p = lease("planner-a");
        let run = store.start_run("daily", None, t, t, &p).await.unwrap().unwrap();
        store.plan_chunk(run, &p, t, 2).await.unwrap();
        let claims = store.claim_deliveries("w", t, t + MINUTE, 100, &POLICY).await.unwrap().claims;
        let outcomes: Vec<Outcome> = claims.iter().map(|c| sent(c, t)).collect();
        store.record_outcomes("w", t + 1, &POLICY, &outcomes).await.unwrap();
        store.fold_run_figures().await.unwrap();
        // Nothing is queued between two chunks, and the run is not finished for that.
        let d = planned(&app.database_url, run, "daily").await;
        assert_eq!(d.recount, (2, 0), "{d:?}");
        assert_eq!(d.counters, d.recount);
        assert!(store.finish_runs(t + 2).await.unwrap().is_empty(), "a planning run was finished");
        let v = store.get_run(run).await.unwrap().unwrap();
        assert_eq!((v.status, v.planning), (RunStatus::Running, true));

        assert!(matches!(store.plan_to_end(run, &p, t + 3, 2).await.unwrap(), PlanStep::Finished { empty: false, .. }));
        let claims = store.claim_deliveries("w", t + 4, t + MINUTE, 100, &POLICY).await.unwrap().claims;
        assert_eq!(claims.len(), 2);
        assert!(store.finish_runs(t + 5).await.unwrap().is_empty(), "finished with deliveries queued");
        let outcomes: Vec<Outcome> = claims.iter().map(|c| sent(c, t)).collect();
        store.record_outcomes("w", t + 6, &POLICY, &outcomes).await.unwrap();
        assert_eq!(store.finish_runs(t + 7).await.unwrap(), vec![(run, RunStatus::Done)]);
        let d = planned(&app.database_url, run, "daily").await;
        assert_eq!((d.deliveries, d.doubled, d.missing, d.recount), (4, 0, 0, (4, 0)), "{d:?}");
        assert_eq!(d.counters, d.recount);
    }

    async fn a_planner_whose_lease_was_taken_over_writes_nothing(app) {
        import(&app, 5).await;
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let (a, b) = (lease("planner-a"), lease("planner-b"));
        let run = store.start_run("daily", None, t, t, &a).await.unwrap().unwrap();
        store.plan_chunk(run, &a, t, 2).await.unwrap();
        // A stalls. Its lease holds for a minute after its last chunk: nobody takes the run.
        assert!(!store.planning_abandoned(t + MINUTE - 1).await.unwrap());
        assert_eq!(store.take_over_planning(&b, t + MINUTE - 1).await.unwrap(), None);
        assert!(store.planning_abandoned(t + MINUTE + 1).await.unwrap());
        assert_eq!(store.take_over_planning(&b, t + MINUTE + 1).await.unwrap(), Some(run));
        assert_eq!(store.take_over_planning(&a, t + MINUTE + 2).await.unwrap(), None, "taken twice");

        // A wakes up: fenced off.
        assert_eq!(store.plan_chunk(run, &a, t + MINUTE + 3, 2).await.unwrap(), PlanStep::Lost);
        assert_eq!(planned(&app.database_url, run, "daily").await.deliveries, 2);
        // B goes on from A's cursor.
        assert_eq!(store.plan_chunk(run, &b, t + MINUTE + 4, 2).await.unwrap(), PlanStep::Chunk { planned: 2 });
        assert_eq!(store.plan_chunk(run, &a, t + MINUTE + 5, 2).await.unwrap(), PlanStep::Lost);
        assert_eq!(store.plan_chunk(run, &b, t + MINUTE + 6, 2).await.unwrap(), PlanStep::Finished { planned: 1, empty: false });
        let d = planned(&app.database_url, run, "daily").await;
        assert_eq!((d.deliveries, d.doubled, d.missing), (5, 0, 0), "{d:?}");
        assert_eq!(d.counters, d.recount, "{d:?}");
    }

    async fn a_run_that_mails_nobody_is_done_as_soon_as_it_is_planned(app) {
        let store = &app.state.store;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let p = lease("planner-a");
        let run = store.start_run("weekly", None, t, t, &p).await.unwrap().unwrap();
        assert_eq!(store.plan_chunk(run, &p, t, 2).await.unwrap(), PlanStep::Finished { planned: 0, empty: true });
        let v = shown(&app, run).await;
        assert_eq!((v["status"].as_str(), v["planning"].as_bool(), v["total"].as_i64()), (Some("done"), Some(false), Some(0)), "{v}");
        assert!(!v["finished_at"].is_null(), "{v}");
    }
}
