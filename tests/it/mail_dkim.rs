//! DKIM keys as people make them with `openssl` (OpenSSL 3): each signs mail that an
//! independent verifier (Python's dkimpy) accepts with the record `tidings dkim record`
//! prints; `tidings check` refuses an unusable key with the words `serve` refuses it with.

use crate::common;

mod record;
mod refusals;
mod tools;

use std::path::Path;

use common::{
    Backend,
    smtp::{SmtpServer, spawn_app_with_smtp},
    subscriptions::subscribe_json,
};
use tidings::{
    config::{Config, MailTransport},
    domain::Email,
    mail::{Email as Mail, Mailer},
};
use tools::*;

/// A digest-like message: non-ASCII subject and names, both list headers.
fn digest_mail() -> Mail {
    Mail {
        to: Email::parse("wang.fang@example.com").unwrap(),
        to_name: Some("王芳".into()),
        from_name: None,
        subject: "工会要闻每日摘要 2026-03-01".into(),
        text: "今天有 3 篇新文章。\n.a line that starts with a dot\n\n\n".into(),
        html: Some("<p>今天有 <b>3</b> 篇新文章。</p>".into()),
        headers: vec![
            ("List-Id".into(), "工会要闻 <news.example.org>".into()),
            (
                "List-Unsubscribe".into(),
                "<https://feeds.example.org/u/tok-1>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
        message_id: None,
        envelope_from: None,
    }
}

/// Builds the mailer as `serve` does with `key`, sends one digest-like mail through a real
/// SMTP server, and has dkimpy verify it with the record `tidings dkim record` prints; the
/// same mail with its List-Unsubscribe changed must fail.
async fn signs_mail_dkimpy_verifies(key: &Path, kind: &str) {
    let checked = check(key);
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(
        stdout(&checked).contains(&format!("a key of {kind}")),
        "{}",
        stdout(&checked)
    );
    assert!(
        !stderr(&checked).contains("warning"),
        "{}",
        stderr(&checked)
    );

    let smtp = SmtpServer::start();
    let mut config = Config::from_toml_str("").unwrap();
    config.mail.transport = MailTransport::Smtp;
    config.mail.smtp_url = Some(smtp.url());
    config.mail.from = format!("工会要闻 <news@{DOMAIN}>");
    config.mail.dkim_domain = Some(DOMAIN.into());
    config.mail.dkim_selector = Some(SELECTOR.into());
    config.mail.dkim_key_file = Some(key.to_owned());
    let mailer = Mailer::from_config(&config, Default::default()).expect("mailer starts");
    mailer.send(&digest_mail()).await.unwrap();
    mailer.close().await;
    let mail = smtp.wait_for(1).await.pop().unwrap();
    let sig = mail.header("DKIM-Signature").expect("no DKIM-Signature");
    assert!(sig.contains(&format!("s={SELECTOR};")), "{sig}");

    let (name, strings) = record(key);
    assert_eq!(name, format!("{SELECTOR}._domainkey.{DOMAIN}"));
    let (ok, said) = dkimpy_accepts(&mail.raw, &name, &strings);
    assert!(ok, "dkimpy refused the signature:\n{said}\n{}", mail.raw);

    let tampered = mail.raw.replace("/u/tok-1", "/u/tok-2");
    assert_ne!(tampered, mail.raw);
    let (ok, said) = dkimpy_accepts(&tampered, &name, &strings);
    assert!(!ok, "dkimpy accepted a changed List-Unsubscribe:\n{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_pkcs8_key_from_openssl_genrsa_signs_mail_dkimpy_verifies() {
    let dir = tempfile::tempdir().unwrap();
    signs_mail_dkimpy_verifies(&rsa_pkcs8(dir.path()), "RSA, 2048 bits").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_pkcs1_key_from_openssl_rsa_traditional_signs_mail_dkimpy_verifies() {
    let dir = tempfile::tempdir().unwrap();
    signs_mail_dkimpy_verifies(&rsa_pkcs1(dir.path()), "RSA, 2048 bits").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_pkcs8_key_from_openssl_genpkey_signs_mail_dkimpy_verifies() {
    let dir = tempfile::tempdir().unwrap();
    signs_mail_dkimpy_verifies(&ed25519_pkcs8(dir.path()), "Ed25519").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_key_as_base64_of_32_bytes_signs_mail_dkimpy_verifies() {
    let dir = tempfile::tempdir().unwrap();
    signs_mail_dkimpy_verifies(&ed25519_raw(&ed25519_pkcs8(dir.path())), "Ed25519").await;
}

/// The whole app built as `serve` builds it with the key of the outside report: the
/// confirmation mail of a subscription is signed, and dkimpy accepts the signature.
async fn app_with_a_genrsa_key_signs_confirmation_mail(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_pkcs8(dir.path());
    let smtp = SmtpServer::start();
    let Some(app) = spawn_app_with_smtp(backend, &smtp, |c| {
        c.mail.dkim_domain = Some(DOMAIN.into());
        c.mail.dkim_selector = Some(SELECTOR.into());
        c.mail.dkim_key_file = Some(key.clone());
    })
    .await
    else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    let r = subscribe_json(&app, serde_json::json!({ "email": "li.lei@example.com" })).await;
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let mail = smtp.wait_for(1).await.pop().unwrap();
    let (name, strings) = record(&key);
    let (ok, said) = dkimpy_accepts(&mail.raw, &name, &strings);
    assert!(ok, "dkimpy refused the signature:\n{said}\n{}", mail.raw);
    app.stop().await;
}

mod the_app_with_a_genrsa_key_signs_confirmation_mail_dkimpy_verifies {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        app_with_a_genrsa_key_signs_confirmation_mail(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        app_with_a_genrsa_key_signs_confirmation_mail(Backend::Postgres).await;
    }
}

#[test]
fn serve_starts_with_a_pkcs8_key_from_openssl_genrsa() {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_pkcs8(dir.path());
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut command = common::process::serve_command(&db, &dir.path().join("outbox"));
    command
        .env("TIDINGS_MAIL__DKIM_DOMAIN", DOMAIN)
        .env("TIDINGS_MAIL__DKIM_SELECTOR", SELECTOR)
        .env("TIDINGS_MAIL__DKIM_KEY_FILE", &key);
    let (mut child, _, _) = common::process::start(command);
    child.kill().unwrap();
    child.wait().unwrap();
}
