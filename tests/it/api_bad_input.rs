//! Every bad input a stranger can send gets a clear 4xx and leaves nothing stored.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

/// PUTs `body` (raw bytes) and returns status and JSON answer.
async fn put_raw(
    app: &common::TestApp,
    id: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let r = app
        .client
        .put(app.url(&format!("/api/v1/articles/{id}")))
        .bearer_auth(common::PUBLISHER_TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn assert_rejected(app: &common::TestApp, body: Value, status: StatusCode, field: &str) {
    let (got, answer) = put_raw(app, "bad", serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(got, status, "body {body} answered {answer}");
    assert_eq!(answer["field"], field, "wrong field in {answer}");
    assert!(!answer["error"].as_str().unwrap_or("").is_empty());
    assert_eq!(
        app.state.store.count_articles().await.unwrap(),
        0,
        "something was stored"
    );
}

on_both_backends! {
    async fn malformed_json_is_a_400_naming_the_problem(app) {
        let (status, answer) = put_raw(&app, "bad", r#"{"section": "news", "title": "#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer["error"].as_str().unwrap().contains("malformed JSON"), "{answer}");
        let (status, _) = put_raw(&app, "bad", "not json at all").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(app.state.store.count_articles().await.unwrap(), 0);
    }

    async fn wrong_content_type_is_a_400(app) {
        let r = app.client.put(app.url("/api/v1/articles/x")).bearer_auth(common::PUBLISHER_TOKEN)
            .header("content-type", "text/plain").body(common::article("news", "t").to_string()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    async fn missing_or_empty_title_is_rejected(app) {
        let mut body = common::article("news", "x");
        body.as_object_mut().unwrap().remove("title");
        assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "title").await;
        assert_rejected(&app, common::article("news", "   \n "), StatusCode::UNPROCESSABLE_ENTITY, "title").await;
    }

    async fn unknown_section_is_rejected(app) {
        assert_rejected(&app, common::article("sports", "标题"), StatusCode::UNPROCESSABLE_ENTITY, "section").await;
    }

    async fn published_at_must_be_rfc3339(app) {
        for bad in ["2025-02-21", "2025年02月21日", "21/02/2025 09:00", "yesterday", ""] {
            let mut body = common::article("news", "标题");
            body["published_at"] = bad.into();
            assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "published_at").await;
        }
        let mut body = common::article("news", "标题");
        body["published_at"] = 1_700_000_000.into();
        assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "published_at").await;
    }

    async fn urls_must_be_absolute_http(app) {
        for bad in ["javascript:alert(1)", "ftp://example.org/a", "/news/a.html", "data:text/html,hi", "http://"] {
            let mut body = common::article("news", "标题");
            body["url"] = bad.into();
            assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "url").await;
        }
        let mut body = common::article("news", "标题");
        body["image"] = json!({"url": "javascript:alert(1)", "caption": "图"});
        assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "image.url").await;
    }

    async fn a_ten_megabyte_body_is_a_413(app) {
        // A raw client, so that the answer is read even though the server refuses the body
        // before it has all arrived (a real HTTP client may see only the broken pipe).
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let len = 10 * 1024 * 1024;
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "PUT /api/v1/articles/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
            common::PUBLISHER_TOKEN
        );
        s.write_all(head.as_bytes()).await.unwrap();
        // Start the body; the server may stop reading at any moment.
        let _ = s.write_all(&vec![b' '; 64 * 1024]).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        // The same JSON error shape as every other refusal.
        assert!(answer.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
        let json_body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(json_body.trim()).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert!(v["error"].is_string(), "{answer}");
        assert_eq!(app.state.store.count_articles().await.unwrap(), 0);
        // A chunked body that grows past the limit is refused too, and nothing is stored.
        let mut body = common::article("news", "大");
        body["content_html"] = "<p>工</p>".repeat(len / 12).into();
        let stream = futures_util::stream::iter(serde_json::to_vec(&body).unwrap().chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
        let r = app.client.put(app.url("/api/v1/articles/big2")).bearer_auth(common::PUBLISHER_TOKEN)
            .header("content-type", "application/json").body(reqwest::Body::wrap_stream(stream)).send().await;
        if let Ok(r) = r {
            assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        }
        assert_eq!(app.state.store.count_articles().await.unwrap(), 0);
        // The server is still fine afterwards.
        assert_eq!(app.put_article("small", &common::article("news", "小")).await.status(), StatusCode::CREATED);
    }

    async fn control_characters_and_noncharacters_are_rejected(app) {
        for (field, bad) in [("title", "工会\u{0}要闻"), ("title", "退格\u{8}"), ("title", "非字符\u{FFFE}"),
                             ("content_html", "<p>正文\u{0}</p>"), ("summary", "摘要\u{8}"), ("author", "作者\u{FFFE}")] {
            let mut body = common::article("news", "标题");
            body[field] = bad.into();
            assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, field).await;
        }
    }

    async fn a_two_thousand_character_chinese_title_is_rejected(app) {
        let title = "工".repeat(2000);
        assert_rejected(&app, common::article("news", &title), StatusCode::UNPROCESSABLE_ENTITY, "title").await;
        // 500 characters is the limit and is accepted.
        assert_eq!(app.put_article("ok", &common::article("news", &"工".repeat(500))).await.status(), StatusCode::CREATED);
    }

    async fn unknown_fields_and_both_contents_are_rejected(app) {
        let mut body = common::article("news", "标题");
        body["contnet_html"] = "<p>typo</p>".into();
        assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "contnet_html").await;
        let mut body = common::article("news", "标题");
        body["content_markdown"] = "**x**".into();
        assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "content_html").await;
        let mut body = common::article("news", "标题");
        body["tags"] = "not-a-list".into();
        assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "tags").await;
    }

    async fn body_id_must_match_the_path(app) {
        let mut body = common::article("news", "标题");
        body["id"] = "other".into();
        assert_rejected(&app, body, StatusCode::UNPROCESSABLE_ENTITY, "id").await;
    }

    async fn hostile_markup_is_sanitised_not_rejected(app) {
        let mut body = common::article("news", "<script>alert(1)</script>标题");
        body["content_html"] = r#"<p>文</p><script>alert(1)</script><img src="https://x.org/a.png" onerror="alert(1)"><a href="javascript:alert(1)">x</a><svg><script>alert(1)</script></svg>"#.into();
        assert_eq!(app.put_article("hostile", &body).await.status(), StatusCode::CREATED);
        let got: Value = app.get_article("hostile").await.json().await.unwrap();
        let html = got["content_html"].as_str().unwrap();
        assert!(!html.contains("script") && !html.contains("onerror") && !html.contains("javascript:") && !html.contains("svg"), "{html}");
        // A title is plain text: kept as written, escaped wherever it is shown.
        assert_eq!(got["title"], "<script>alert(1)</script>标题");
    }

    async fn the_deliveries_of_a_run_refuse_what_they_do_not_understand(app) {
        let get = |path: String| {
            let app = &app;
            async move {
                app.client.get(app.url(&path)).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap()
            }
        };
        let r = app.client.post(app.url("/api/v1/schedules/daily/run")).bearer_auth(common::ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let id = r.json::<Value>().await.unwrap()["run_id"].as_i64().unwrap();
        let ok = get(format!("/api/v1/runs/{id}/deliveries?status=deferred&limit=5")).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let body: Value = ok.json().await.unwrap();
        assert!(body["items"].as_array().unwrap().is_empty(), "{body}");
        assert!(body["next_cursor"].is_null(), "{body}");
        for (path, status, field) in [
            (format!("/api/v1/runs/{id}/deliveries?status=lost"), StatusCode::BAD_REQUEST, "status"),
            (format!("/api/v1/runs/{id}/deliveries?cursor=abc"), StatusCode::BAD_REQUEST, "cursor"),
            (format!("/api/v1/runs/{id}/deliveries?limit=0"), StatusCode::BAD_REQUEST, "limit"),
            (format!("/api/v1/runs/{id}/deliveries?colour=red"), StatusCode::BAD_REQUEST, "colour"),
            ("/api/v1/runs/999999/deliveries".to_owned(), StatusCode::NOT_FOUND, ""),
            ("/api/v1/runs/x/deliveries".to_owned(), StatusCode::NOT_FOUND, ""),
        ] {
            let r = get(path.clone()).await;
            assert_eq!(r.status(), status, "{path}");
            let v: Value = r.json().await.unwrap();
            assert!(v["error"].is_string(), "{path}: {v}");
            if !field.is_empty() {
                assert_eq!(v["field"], field, "{path}: {v}");
            }
        }
        let r = app.client.get(app.url(&format!("/api/v1/runs/{id}/deliveries"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}
