//! Configuration errors name their key; the CLI's `check` and `migrate` behave.

use std::process::Command;

use tidings::config::Config;

fn err(toml: &str) -> String {
    format!("{:#}", Config::from_toml_str(toml).expect_err(toml))
}

#[test]
fn bad_values_are_errors_that_name_the_key() {
    let cases = [
        ("[site]\nbase_url = \"not a url\"", "site.base_url"),
        ("[site]\nbase_url = \"ftp://example.org\"", "site.base_url"),
        ("[site]\ntimezone = \"Asia/Beijing\"", "site.timezone"),
        ("[site]\nlanguage = \"fr\"", "site.language"),
        ("[server]\nbind = \"localhost\"", "server.bind"),
        ("[database]\nurl = \"mysql://x\"", "database.url"),
        ("[mail]\ntransport = \"pigeon\"", "mail.transport"),
        ("[mail]\ntransport = \"smtp\"", "mail.smtp_url"),
        ("[mail]\nfrom = \"no address here\"", "mail.from"),
        ("[feeds]\nitems = 0", "feeds.items"),
        ("[feeds]\nwebsub_hub = \"nope\"", "feeds.websub_hub"),
        (
            "[[schedules]]\nslug = \"d\"\nname = \"D\"\ncron = \"0 25 * * *\"",
            "schedules[0].cron",
        ),
        (
            "[[schedules]]\nslug = \"d\"\nname = \"D\"\ncron = \"0 8 * * *\"\ntimezone = \"Mars/Base\"",
            "schedules[0].timezone",
        ),
        (
            "[[sections]]\nslug = \"a\"\ntitle = \"A\"\n[[sections]]\nslug = \"a\"\ntitle = \"B\"",
            "sections[1].slug",
        ),
        (
            "[[sections]]\nslug = \"Bad Slug\"\ntitle = \"A\"",
            "sections[0].slug",
        ),
        (
            "[[sources]]\nkind = \"web\"\nsection = \"nope\"\nlist_url = \"https://x.org\"\nitem_selector = \"a\"\ntitle_selector = \"h1\"\ndate_selector = \".d\"\ncontent_selector = \".c\"",
            "sources[0].section",
        ),
        (
            "[[sources]]\nkind = \"feed\"\nsection = \"news\"\nurl = \"https://x.org/rss\"\ninterval = \"soon\"",
            "sources[0].interval",
        ),
        ("[[sources]]\nkind = \"carrier-pigeon\"", "sources"),
    ];
    for (toml, key) in cases {
        let e = err(toml);
        assert!(
            e.contains(key),
            "error for {toml:?} does not name {key}: {e}"
        );
    }
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    assert!(err("[site]\ntitel = \"x\"").contains("titel"));
    assert!(err("[sitee]\ntitle = \"x\"").contains("sitee"));
    assert!(err("[[sections]]\nslug = \"a\"\ntitle = \"A\"\ncolour = \"red\"").contains("colour"));
}

#[test]
fn the_shipped_default_config_is_valid_and_matches_the_spec_defaults() {
    let c = Config::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/default.toml"
    )))
    .unwrap();
    assert_eq!(c.site.title, "青海省总工会");
    assert_eq!(c.site.base_url, "http://127.0.0.1:8080");
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database.url, "sqlite://data/tidings.db");
    assert_eq!(c.mail.transport, tidings::config::MailTransport::File);
    assert_eq!((c.mail.rate_per_second, c.mail.concurrency), (50, 4));
    assert_eq!((c.feeds.items, c.feeds.max_age_seconds), (50, 300));
    assert_eq!((c.digests.catch_up_hours, c.digests.max_attempts), (12, 5));
    let slugs: Vec<_> = c.sections.iter().map(|s| s.slug.as_str()).collect();
    assert_eq!(slugs, ["news", "notices", "grassroots", "about"]);
    assert_eq!(c.schedules.len(), 2);
    assert!(c.auth.admin_token.is_none());
    // Secrets never reach logs through Debug.
    let mut c = c;
    c.auth.admin_token = Some("very-secret".into());
    assert!(!format!("{c:?}").contains("very-secret"));
}

fn tidings() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TIDINGS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn check_accepts_the_default_config_and_rejects_a_bad_env_override_by_name() {
    let ok = tidings().arg("check").output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let bad = tidings()
        .arg("check")
        .env("TIDINGS_MAIL__RATE_PER_SECOND", "fast")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("mail.rate_per_second"), "{stderr}");

    let unknown = tidings()
        .arg("check")
        .env("TIDINGS_SERVER__PORT", "80")
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("port"));

    // A numeric token from the environment is still a token.
    let num = tidings()
        .arg("check")
        .env("TIDINGS_AUTH__ADMIN_TOKEN", "1234567890")
        .output()
        .unwrap();
    assert!(
        num.status.success(),
        "{}",
        String::from_utf8_lossy(&num.stderr)
    );
}

#[test]
fn check_with_a_missing_config_file_fails_readably() {
    let out = tidings()
        .args(["--config", "/nonexistent/tidings.toml", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tidings.toml"));
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/dir/t.db");
    let out = tidings()
        .arg("migrate")
        .env(
            "TIDINGS_DATABASE__URL",
            format!("sqlite://{}", db.display()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
    // Running it twice is harmless.
    let again = tidings()
        .arg("migrate")
        .env(
            "TIDINGS_DATABASE__URL",
            format!("sqlite://{}", db.display()),
        )
        .output()
        .unwrap();
    assert!(again.status.success());
}
