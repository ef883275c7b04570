//! Sections: seeded from config once, then edited through the admin API.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends! {
    async fn configured_sections_are_created_on_first_start(app) {
        let list: Value = app.client.get(app.url("/api/v1/sections")).bearer_auth(common::ADMIN_TOKEN)
            .send().await.unwrap().json().await.unwrap();
        let slugs: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["news", "notices", "grassroots", "about"]);
        assert_eq!(list["items"][0]["title"], "工会要闻");
        assert!(list["next_cursor"].is_null());
    }

    async fn put_creates_then_replaces_a_section(app) {
        let put = |title: &'static str| app.client.put(app.url("/api/v1/sections/culture")).bearer_auth(common::ADMIN_TOKEN)
            .json(&json!({"title": title, "description": "职工文化"})).send();
        let r = put("职工文化").await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = put("文化生活").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let s = app.state.store.get_section("culture").await.unwrap().unwrap();
        assert_eq!(s.title, "文化生活");
        // A section made through the API takes articles at once.
        assert_eq!(app.put_article("c1", &common::article("culture", "书香")).await.status(), StatusCode::CREATED);
    }

    async fn bad_section_input_is_rejected(app) {
        for (slug, body, field) in [
            ("Bad Slug", json!({"title": "x"}), "slug"),
            ("all", json!({"title": "x"}), "slug"),
            ("ok", json!({"title": ""}), "title"),
            ("ok", json!({"title": "x", "colour": "red"}), "colour"),
            ("ok", json!({"title": "x\u{0}"}), "title"),
        ] {
            let r = app.client.put(app.url(&format!("/api/v1/sections/{}", common::urlencode(slug)))).bearer_auth(common::ADMIN_TOKEN)
                .json(&body).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{slug} {body}");
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["field"], field);
        }
        assert_eq!(app.state.store.list_sections().await.unwrap().len(), 4);
    }
}

#[tokio::test]
async fn sections_edited_by_api_survive_a_restart_with_config() {
    let keep = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", keep.path().join("t.db").display());
    let app = common::spawn_app_with(common::Backend::Sqlite, |c| c.database.url = url.clone())
        .await
        .unwrap();
    let r = app
        .client
        .put(app.url("/api/v1/sections/news"))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"title": "要闻"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
    let config = common::test_config(keep.path(), &url);
    let again = tidings::App::build(config).await.unwrap();
    let s = again
        .state()
        .store
        .get_section("news")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.title, "要闻", "config seeding overwrote an admin edit");
}
