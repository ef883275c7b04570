//! Every bad input a stranger can send to the subscription endpoints gets its 4xx with a
//! message naming the problem, stores nothing and sends no mail; header injection attempts
//! never produce a header.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tidings::domain::SubscriberStatus;

/// POSTs raw `body` with `content_type` to /subscribe; status, Retry-After and JSON answer.
async fn post_raw(
    app: &common::TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url("/subscribe"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Proves nothing was stored and no mail left: a good request afterwards is the only mail.
async fn assert_nothing_happened(app: &common::TestApp, smtp: &common::smtp::SmtpServer) {
    assert_eq!(
        app.state.store.count_subscribers(None).await.unwrap(),
        0,
        "something was stored"
    );
    let r = app
        .client
        .post(app.url("/subscribe"))
        .json(&json!({ "email": "control@example.org" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["control@example.org"]);
}

with_smtp_on_both_backends! {
    async fn bad_json_fields_are_422_naming_the_field_and_store_nothing(app, smtp) {
        let long = format!("{}@example.org", "a".repeat(250));
        let cases = [
            (json!({}), "email"),
            (json!({ "email": "" }), "email"),
            (json!({ "email": "not-an-address" }), "email"),
            (json!({ "email": "a@b.cn\r\nBcc: victim@example.org" }), "email"),
            (json!({ "email": "a@localhost" }), "email"),
            (json!({ "email": long }), "email"),
            (json!({ "email": 42 }), "email"),
            (json!({ "email": "a@b.cn", "sections": ["news", "nope"] }), "sections"),
            (json!({ "email": "a@b.cn", "sections": "news\r\nBcc: x@y.cn" }), "sections"),
            (json!({ "email": "a@b.cn", "sections": [1] }), "sections"),
            (json!({ "email": "a@b.cn", "schedule": "hourly" }), "schedule"),
            (json!({ "email": "a@b.cn", "locale": "fr" }), "locale"),
            (json!({ "email": "a@b.cn", "locale": "en\r\nBcc: victim@example.org" }), "locale"),
        ];
        for (body, field) in cases {
            let (status, answer) = post_raw(&app, "application/json", body.to_string()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} answered {answer}");
            assert_eq!(answer["field"], field, "{body} answered {answer}");
            assert!(!answer["error"].as_str().unwrap_or_default().is_empty());
        }
        assert_nothing_happened(&app, &smtp).await;
    }

    async fn malformed_bodies_are_400_413_or_415_and_store_nothing(app, smtp) {
        let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
            ("application/json", br#"{"email": "a@b.cn""#.to_vec(), StatusCode::BAD_REQUEST),
            ("application/json", b"[\"a@b.cn\"]".to_vec(), StatusCode::BAD_REQUEST),
            ("application/json", br#"{"email": "a@b.cn", "admin": true}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
            ("application/json", br#"{"email": "a@b.cn", "sections": {"news": 1}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
            ("application/json", br#"{"email": "a@b.cn", "name": "x"}"#.to_vec(), StatusCode::BAD_REQUEST),
            ("application/x-www-form-urlencoded", b"email=a%40b.cn&email=c%40d.cn".to_vec(), StatusCode::BAD_REQUEST),
            ("text/plain", b"email=a@b.cn".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ("multipart/form-data; boundary=x", b"--x--".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ("application/x-www-form-urlencoded", vec![b'a'; 100 * 1024], StatusCode::PAYLOAD_TOO_LARGE),
        ];
        for (ctype, body, want) in cases {
            let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
            let (status, _) = post_raw(&app, ctype, body).await;
            assert_eq!(status, want, "{ctype} {shown:?}");
        }
        assert_nothing_happened(&app, &smtp).await;
    }

    async fn a_bad_form_comes_back_with_the_error_in_the_page_language_and_the_typed_value(app, smtp) {
        let r = app.client.post(app.url("/subscribe"))
            .form(&[("email", "li.lei@@example.org"), ("locale", "en"), ("sections", "news")])
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(html.contains("Please check the fields marked below."), "{html}");
        assert!(html.contains("value=\"li.lei@@example.org\""), "{html}");
        assert!(html.contains("value=\"news\" checked"), "{html}");
        let zh = app.client.post(app.url("/subscribe")).form(&[("email", "")]).send().await.unwrap();
        assert_eq!(zh.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(zh.text().await.unwrap().contains("请填写电子邮箱。"));
        assert_nothing_happened(&app, &smtp).await;
    }

    async fn token_links_that_are_missing_malformed_or_unknown_are_400_or_404(app, smtp) {
        let unknown = "A".repeat(43);
        for path in ["/subscriptions/confirm", "/subscriptions/manage", "/unsubscribe"] {
            let cases = [
                (String::new(), StatusCode::BAD_REQUEST),
                ("?token=".to_owned(), StatusCode::BAD_REQUEST),
                ("?token=abc".to_owned(), StatusCode::BAD_REQUEST),
                (format!("?token={unknown}"), StatusCode::NOT_FOUND),
                (format!("?token={unknown}&token={unknown}"), StatusCode::BAD_REQUEST),
                (format!("?token={unknown}&locale=en%0D%0ABcc:%20x@y.cn"), StatusCode::UNPROCESSABLE_ENTITY),
            ];
            for (query, want) in &cases {
                let get = app.client.get(app.url(&format!("{path}{query}"))).send().await.unwrap();
                assert_eq!(get.status(), *want, "GET {path}{query}");
                let post = app.client.post(app.url(&format!("{path}{query}")))
                    .header("content-type", "application/x-www-form-urlencoded").body("").send().await.unwrap();
                assert_eq!(post.status(), *want, "POST {path}{query}");
            }
        }
        let resend = app.client.post(app.url("/subscriptions/resend")).form(&[("token", unknown.as_str())]).send().await.unwrap();
        assert_eq!(resend.status(), StatusCode::NOT_FOUND);
        assert_nothing_happened(&app, &smtp).await;
    }

    async fn a_manage_token_does_not_confirm_and_a_confirm_token_does_not_unsubscribe(app, smtp) {
        app.client.post(app.url("/subscribe")).json(&json!({ "email": "li@example.org" })).send().await.unwrap();
        let mail = smtp.wait_for(1).await.pop().unwrap();
        let confirm = common::smtp::token_of(&mail.link_to("/subscriptions/confirm"));
        for path in ["/unsubscribe", "/subscriptions/manage"] {
            let r = app.client.post(app.url(path)).form(&[("token", confirm.as_str())]).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let s = app.state.store.subscriber_by_email("li@example.org").await.unwrap().unwrap();
        assert_eq!(s.status, SubscriberStatus::Pending);
    }
}

mod header_injection {
    use super::*;
    use tidings::{
        config::{Config, MailTransport},
        domain::Email,
        mail::{Email as Mail, Mailer},
    };

    fn mailer(smtp: &common::smtp::SmtpServer) -> Mailer {
        let mut c: Config = Config::from_toml_str("").unwrap();
        c.mail.transport = MailTransport::Smtp;
        c.mail.smtp_url = Some(smtp.url());
        Mailer::from_config(&c, Default::default()).unwrap()
    }

    #[tokio::test]
    async fn line_breaks_in_the_name_subject_or_a_header_value_add_no_header_and_no_recipient() {
        let smtp = common::smtp::SmtpServer::start();
        let attack = "x\r\nBcc: victim@example.org\r\nX-Injected: yes";
        let mail = Mail {
            to: Email::parse("li@example.org").unwrap(),
            to_name: Some(format!("李雷{attack}")),
            from_name: None,
            subject: format!("订阅{attack}"),
            text: "body".into(),
            html: None,
            headers: vec![("List-Id".into(), format!("news{attack}"))],
            message_id: None,
            envelope_from: None,
        };
        mailer(&smtp).send(&mail).await.unwrap();
        let got = smtp.wait_for(1).await.pop().unwrap();
        assert_eq!(got.to, ["li@example.org"], "no extra envelope recipient");
        let names: Vec<String> = got
            .headers()
            .into_iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        assert!(
            !names.contains(&"bcc".to_owned()) && !names.contains(&"x-injected".to_owned()),
            "{names:?}"
        );
        assert!(
            got.header("Subject").unwrap().starts_with("订阅x"),
            "{:?}",
            got.header("Subject")
        );
        assert!(got.header("To").unwrap().contains("李雷"));
    }
}
