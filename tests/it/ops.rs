//! Operations endpoints and HTTP hygiene.

use crate::common;

use reqwest::StatusCode;

on_both_backends! {
    async fn health_readiness_and_metrics_answer(app) {
        let r = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.client.get(app.url("/readyz")).send().await.unwrap();
        let status = r.status();
        assert_eq!(status, StatusCode::OK, "{}", r.text().await.unwrap());

        app.put_article("m1", &common::article("news", "计数")).await;
        let r = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = r.text().await.unwrap();
        for name in ["tidings_http_requests_total", "tidings_http_connections_open", "tidings_feed_renders_total", "tidings_articles_ingested_total",
                     "tidings_source_errors_total", "tidings_deliveries_total", "tidings_delivery_queue_depth",
                     "tidings_smtp_latency_seconds"] {
            assert!(text.contains(name), "{name} missing");
        }
        assert!(text.contains("tidings_articles_ingested_total{result=\"created\"} 1"), "{text}");
    }

    async fn unknown_paths_are_json_404s(app) {
        let r = app.client.get(app.url("/no/such/thing")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].is_string());
    }

    async fn readiness_fails_when_the_database_is_gone(app) {
        app.state.store.close().await;
        let r = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        // Liveness does not depend on the database.
        assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    }
}
