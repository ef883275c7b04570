//! Bearer tokens: only the exact token in the Authorization header opens the API.

use crate::common;

use reqwest::StatusCode;

on_both_backends! {
    async fn requests_without_the_right_token_are_401_and_store_nothing(app) {
        let body = common::article("news", "标题");
        let prefix = &common::PUBLISHER_TOKEN[..common::PUBLISHER_TOKEN.len() - 1];
        let longer = format!("{}x", common::PUBLISHER_TOKEN);
        let attempts: Vec<(&str, reqwest::RequestBuilder)> = vec![
            ("no token", app.client.put(app.url("/api/v1/articles/a"))),
            ("wrong token", app.client.put(app.url("/api/v1/articles/a")).bearer_auth("wrong")),
            ("prefix", app.client.put(app.url("/api/v1/articles/a")).bearer_auth(prefix)),
            ("longer", app.client.put(app.url("/api/v1/articles/a")).bearer_auth(&longer)),
            ("empty bearer", app.client.put(app.url("/api/v1/articles/a")).header("authorization", "Bearer ")),
            ("basic scheme", app.client.put(app.url("/api/v1/articles/a")).header("authorization", format!("Basic {}", common::PUBLISHER_TOKEN))),
            ("query string", app.client.put(app.url(&format!("/api/v1/articles/a?token={}&access_token={}", common::PUBLISHER_TOKEN, common::PUBLISHER_TOKEN)))),
        ];
        for (what, req) in attempts {
            let r = req.json(&body).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer", "{what}");
        }
        assert_eq!(app.state.store.count_articles().await.unwrap(), 0);
        for path in ["/api/v1/articles", "/api/v1/articles/a", "/api/v1/sections"] {
            assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{path}");
        }
    }

    async fn admin_token_works_for_ingest_but_publisher_token_cannot_administer(app) {
        let r = app.client.put(app.url("/api/v1/articles/a")).bearer_auth(common::ADMIN_TOKEN)
            .json(&common::article("news", "标题")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = app.client.put(app.url("/api/v1/sections/sports")).bearer_auth(common::PUBLISHER_TOKEN)
            .json(&serde_json::json!({"title": "体育"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "a valid token without the role");
        assert!(app.state.store.get_section("sports").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn unset_admin_token_means_the_admin_api_answers_401() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| c.auth.admin_token = None)
        .await
        .unwrap();
    // Not even an empty bearer or the old token gets in.
    for token in ["", common::ADMIN_TOKEN] {
        let r = app
            .client
            .put(app.url("/api/v1/sections/sports"))
            .bearer_auth(token)
            .json(&serde_json::json!({"title": "体育"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}
