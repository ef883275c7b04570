//! `tidings digest run SCHEDULE [--dry-run]` and `tidings schedules list`.

use std::process::Command;

fn tidings(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TIDINGS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(
        "TIDINGS_CONFIG",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/no-sources.toml"),
    )
    .env(
        "TIDINGS_DATABASE__URL",
        format!("sqlite://{}", dir.join("cli.db").display()),
    )
    .env("TIDINGS_MAIL__OUTBOX_DIR", dir.join("outbox"));
    cmd
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn digest_run_dry_run_counts_then_run_delivers_to_the_outbox_once() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("members.csv");
    std::fs::write(
        &csv,
        "email,sections,schedule\na@example.com,news,daily\nb@example.com,notices,daily\n",
    )
    .unwrap();
    ok(tidings(dir.path())
        .args(["subscribers", "import"])
        .arg(&csv));
    std::thread::sleep(std::time::Duration::from_millis(5));
    ok(tidings(dir.path())
        .arg("import")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/content")));

    let dry = ok(tidings(dir.path()).args(["digest", "run", "daily", "--dry-run"]));
    assert!(
        dry.contains("2 active subscribers; 1 would get a digest, 1 would be skipped"),
        "{dry}"
    );
    assert!(
        !dir.path().join("outbox").exists()
            || std::fs::read_dir(dir.path().join("outbox"))
                .unwrap()
                .count()
                == 0
    );

    let run = ok(tidings(dir.path()).args(["digest", "run", "daily"]));
    assert!(run.contains("1 sent, 1 skipped, 0 failed"), "{run}");
    let eml: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(eml.len(), 1);

    let again = ok(tidings(dir.path()).args(["digest", "run", "daily"]));
    assert!(
        again.contains("0 sent, 2 skipped"),
        "the same articles went out twice: {again}"
    );

    let missing = tidings(dir.path())
        .args(["digest", "run", "nope"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope"));

    let list = ok(tidings(dir.path()).args(["schedules", "list"]));
    assert!(
        list.contains("daily") && list.contains("0 8 * * *") && list.contains("Asia/Shanghai"),
        "{list}"
    );
}
