//! Named API tokens made in the console: shown once, stored hashed, with a role, revocable.

use crate::common::{self, admin::signed_in};

use reqwest::StatusCode;
use tidings::domain::Role;

async fn create(c: &common::admin::Console<'_>, name: &str, role: &str) -> String {
    let r = c
        .post(
            "/admin/tokens",
            "/admin/accounts",
            &[("name", name), ("role", role)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let at = html.find("value=\"tid_").expect("the token is shown");
    html[at + 7..].split('"').next().unwrap().to_owned()
}

on_both_backends! {
    async fn an_editor_token_may_publish_but_not_administer_and_a_revoked_token_is_401(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        let editor = create(&c, "newsroom script", "editor").await;
        let admin = create(&c, "ops script", "admin").await;
        let stored = app.state.store.list_api_tokens().await.unwrap();
        assert_eq!(stored.len(), 2);
        let page = c.page("/admin/accounts", StatusCode::OK).await;
        assert!(page.contains("newsroom script") && !page.contains(&editor), "shown once, never again");

        let put = |token: &str| app.client.put(app.url("/api/v1/articles/a1")).bearer_auth(token).json(&common::article("news", "标题")).send();
        assert_eq!(put(&editor).await.unwrap().status(), StatusCode::CREATED);
        let r = app.client.get(app.url("/api/v1/articles")).bearer_auth(&editor).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.client.get(app.url("/api/v1/schedules")).bearer_auth(&editor).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "a valid token without the role");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
        let r = app.client.get(app.url("/api/v1/subscribers")).bearer_auth(&editor).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = app.client.get(app.url("/api/v1/schedules")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(app.state.store.list_api_tokens().await.unwrap().iter().all(|t| t.last_used_at.is_some()), "last use recorded");

        let id = stored.iter().find(|t| t.name == "newsroom script").unwrap().id;
        let r = c.post(&format!("/admin/tokens/{id}/revoke"), "/admin/accounts", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = put(&editor).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "revoked");
        let r = app.client.get(app.url("/api/v1/articles")).bearer_auth("tid_not-a-token").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_token_needs_a_name_and_a_role(app) {
        let c = signed_in(&app, "li.lei@example.org", Role::Admin).await;
        for (name, role) in [("", "editor"), ("   ", "admin"), ("bot", "owner"), (&*"x".repeat(101), "admin")] {
            let r = c.post("/admin/tokens", "/admin/accounts", &[("name", name), ("role", role)]).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?} {role:?}");
        }
        assert!(app.state.store.list_api_tokens().await.unwrap().is_empty());
    }
}
