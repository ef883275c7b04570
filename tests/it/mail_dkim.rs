//! DKIM keys as people make them with `openssl` (OpenSSL 3): each signs mail that an
//! independent verifier (Python's dkimpy) accepts with the record `tidings dkim record`
//! prints; `tidings check` refuses an unusable key with the words `serve` refuses it with.

use crate::common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
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

const DOMAIN: &str = "example.org";
const SELECTOR: &str = "tidings2026";

/// Runs `openssl` with `args`; panics with its stderr when it fails.
fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl genrsa` of OpenSSL 3: PKCS#8 PEM, the key of the outside report.
fn genrsa(dir: &Path, name: &str, bits: u32) -> PathBuf {
    let path = dir.join(name);
    openssl(&["genrsa", "-out", path_str(&path), &bits.to_string()]);
    path
}

fn first_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap_or_default().to_owned()
}

/// The four forms of a good key, each made the way its README line says.
fn rsa_pkcs8(dir: &Path) -> PathBuf {
    let path = genrsa(dir, "rsa-pkcs8.pem", 2048);
    assert_eq!(first_line(&path), "-----BEGIN PRIVATE KEY-----");
    path
}

fn rsa_pkcs1(dir: &Path) -> PathBuf {
    let pkcs8 = genrsa(dir, "rsa-genrsa.pem", 2048);
    let path = dir.join("rsa-pkcs1.pem");
    openssl(&[
        "rsa",
        "-traditional",
        "-in",
        path_str(&pkcs8),
        "-out",
        path_str(&path),
    ]);
    assert_eq!(first_line(&path), "-----BEGIN RSA PRIVATE KEY-----");
    path
}

fn ed25519_pkcs8(dir: &Path) -> PathBuf {
    let path = dir.join("ed25519.pem");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", path_str(&path)]);
    path
}

/// The key of `pem` (from [`ed25519_pkcs8`]) as base64 of its 32 bytes: the seed that ends
/// the PKCS#8 DER OpenSSL writes.
fn ed25519_raw(pem: &Path) -> PathBuf {
    let der = openssl(&["pkey", "-in", path_str(pem), "-outform", "DER"]);
    let path = pem.with_extension("b64");
    let seed = &der[der.len() - 32..];
    std::fs::write(
        &path,
        base64::engine::general_purpose::STANDARD.encode(seed) + "\n",
    )
    .unwrap();
    path
}

/// The public key as OpenSSL writes it (SubjectPublicKeyInfo DER).
fn public_der(key: &Path) -> Vec<u8> {
    openssl(&["pkey", "-in", path_str(key), "-pubout", "-outform", "DER"])
}

/// The `tidings` binary with no TIDINGS_ settings but DKIM with `key`.
fn tidings(key: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TIDINGS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TIDINGS_MAIL__FROM", format!("News <news@{DOMAIN}>"))
        .env("TIDINGS_MAIL__DKIM_DOMAIN", DOMAIN)
        .env("TIDINGS_MAIL__DKIM_SELECTOR", SELECTOR)
        .env("TIDINGS_MAIL__DKIM_KEY_FILE", key);
    cmd
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tidings check` with `key`; its output.
fn check(key: &Path) -> Output {
    tidings(key).arg("check").output().unwrap()
}

/// The TXT record of `tidings dkim record`: its name and its strings as a zone file has them.
fn record(key: &Path) -> (String, Vec<String>) {
    let out = tidings(key).args(["dkim", "record"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("; name:  "))
        .unwrap_or_else(|| panic!("no name in {text}"));
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("; value: "))
        .unwrap_or_else(|| panic!("no value in {text}"));
    let entry = &text[text.find(&format!("{name}. IN TXT ( \"")).expect(&text)..];
    let strings: Vec<String> = entry
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(entry.trim_end().ends_with(" )"), "{entry}");
    assert_eq!(strings.concat(), value, "{text}");
    assert!(strings.iter().all(|s| s.len() <= 255), "{strings:?}");
    (name.to_owned(), strings)
}

const VERIFY: &str = r#"
import io, logging, os, sys
try:
    import dkim
except ImportError:
    print("dkimpy is missing: python3 -m pip install dkimpy pynacl (tests/run.sh does)")
    sys.exit(2)
message = sys.stdin.buffer.read()
want = os.environ["DKIM_NAME"].encode() + b"."
record = os.environ["DKIM_RECORD"].encode()
asked = []
def dns(name, timeout=5):
    asked.append(name)
    return record if name == want else None
log = io.StringIO()
logger = logging.getLogger("dkim-test")
logger.addHandler(logging.StreamHandler(log))
logger.setLevel(logging.DEBUG)
ok = dkim.verify(message, logger=logger, dnsfunc=dns)
print("asked", asked)
print(log.getvalue())
sys.exit(0 if ok and asked == [want] else 1)
"#;

/// Whether dkimpy accepts `raw` when DNS answers `name` with the joined `strings`.
fn dkimpy_accepts(raw: &str, name: &str, strings: &[String]) -> (bool, String) {
    let mut child = Command::new("python3")
        .args(["-c", VERIFY])
        .env("DKIM_NAME", name)
        .env("DKIM_RECORD", strings.concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_ne!(out.status.code(), Some(2), "{said}");
    (out.status.success(), said)
}

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

mod record;
mod refusals;
