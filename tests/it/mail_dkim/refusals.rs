//! Keys DKIM cannot use: `tidings check` names `mail.dkim_key_file` and what the file holds,
//! and `serve` refuses to start with the same words.

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::{Duration, Instant},
};

use super::*;

/// A file for each kind of unusable key, made as people make them by mistake, with the words
/// the refusal must say.
fn unusable_keys(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let rsa = rsa_pkcs8(dir);
    let file = |name: &str| dir.join(name);
    let p = |path: &PathBuf| path.to_str().unwrap().to_owned();

    let encrypted = file("encrypted.pem");
    openssl(&[
        "genrsa",
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        &p(&encrypted),
        "2048",
    ]);
    let traditional = file("traditional-encrypted.pem");
    openssl(&[
        "rsa",
        "-traditional",
        "-aes256",
        "-passout",
        "pass:secret",
        "-in",
        &p(&rsa),
        "-out",
        &p(&traditional),
    ]);
    let public = file("public.pem");
    openssl(&["pkey", "-in", &p(&rsa), "-pubout", "-out", &p(&public)]);
    let cert = file("cert.pem");
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &p(&rsa),
        "-subj",
        "/CN=example.org",
        "-days",
        "1",
        "-out",
        &p(&cert),
    ]);
    let ec = file("ec.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &p(&ec),
    ]);
    let ec_sec1 = file("ec-sec1.pem");
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-out",
        &p(&ec_sec1),
    ]);
    let short = genrsa(dir, "rsa512.pem", 512);
    let ed448 = file("ed448.pem");
    openssl(&["genpkey", "-algorithm", "ed448", "-out", &p(&ed448)]);
    let der = file("rsa.der");
    openssl(&["pkey", "-in", &p(&rsa), "-outform", "DER", "-out", &p(&der)]);
    let garbage = file("garbage.pem");
    std::fs::write(&garbage, "this is where the key goes\n").unwrap();
    let empty = file("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let short_base64 = file("short.b64");
    std::fs::write(&short_base64, "AAECAwQFBgcICQoLDA0ODw==\n").unwrap();

    vec![
        (
            encrypted,
            "holds an encrypted private key (ENCRYPTED PRIVATE KEY)",
        ),
        (
            traditional,
            "holds an encrypted private key (RSA PRIVATE KEY)",
        ),
        (
            public,
            "holds a public key (PUBLIC KEY), not the private key",
        ),
        (cert, "holds a certificate (CERTIFICATE), not a private key"),
        (ec, "holds an EC key on P-256; DKIM defines only RSA"),
        (ec_sec1, "holds an EC key on P-256; DKIM defines only RSA"),
        (
            short,
            "holds a 512-bit RSA key; DKIM verifiers refuse keys under 1024 bits",
        ),
        (ed448, "holds an Ed448 key, which DKIM does not sign with"),
        (der, "is not text (a DER file?)"),
        (garbage, "is neither a PEM private key"),
        (empty, "is empty"),
        (short_base64, "its base64 decodes to 16 bytes, not 32"),
        (file("missing.pem"), "cannot read"),
    ]
}

#[test]
fn check_refuses_each_unusable_key_naming_the_setting_and_what_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    for (key, words) in unusable_keys(dir.path()) {
        let out = check(&key);
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{} passed: {}",
            key.display(),
            stdout(&out)
        );
        assert!(err.contains("error: mail.dkim_key_file: "), "{err}");
        assert!(err.contains(key.to_str().unwrap()), "{err}");
        assert!(
            err.contains(words),
            "{} does not say {words:?}: {err}",
            key.display()
        );
        assert!(!stdout(&out).contains("configuration is valid"));
    }
}

/// `tidings serve` with `key` on a fresh SQLite database; its output once it has exited.
fn serve(dir: &Path, key: &Path) -> Output {
    let db = format!("sqlite://{}", dir.join("serve.db").display());
    let mut command = common::process::serve_command(&db, &dir.join("outbox"));
    command
        .env("TIDINGS_MAIL__FROM", format!("News <news@{DOMAIN}>"))
        .env("TIDINGS_MAIL__DKIM_DOMAIN", DOMAIN)
        .env("TIDINGS_MAIL__DKIM_SELECTOR", SELECTOR)
        .env("TIDINGS_MAIL__DKIM_KEY_FILE", key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    // A serve that accepted the key would run for ever: give up after a minute.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve started with {}", key.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn serve_refuses_an_unusable_key_with_the_message_check_gives() {
    let dir = tempfile::tempdir().unwrap();
    let keys = unusable_keys(dir.path());
    for (key, _) in keys.iter().filter(|(k, _)| {
        ["encrypted.pem", "ec.pem", "rsa512.pem"]
            .contains(&k.file_name().unwrap().to_str().unwrap())
    }) {
        let served = serve(dir.path(), key);
        assert!(!served.status.success());
        let checked = check(key);
        let error = |o: &Output| {
            stderr(o)
                .lines()
                .find(|l| l.starts_with("error: "))
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("no error line in {}", stderr(o)))
        };
        assert_eq!(error(&served), error(&checked));
    }
}

#[test]
fn check_warns_about_a_1024_bit_rsa_key_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let key = genrsa(dir.path(), "rsa1024.pem", 1024);
    let out = check(&key);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: mail.dkim_key_file: {} holds a 1024-bit RSA key",
            key.display()
        )),
        "{err}"
    );
    assert!(stdout(&out).contains("configuration is valid"));
}

#[test]
fn check_warns_when_the_signing_domain_is_not_the_sender_domain() {
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_pkcs8(dir.path());
    let out = tidings(&key)
        .arg("check")
        .env("TIDINGS_MAIL__FROM", "News <news@other.example>")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "warning: mail.dkim_domain: example.org is not the domain of mail.from (other.example)"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_refuses_a_selector_or_domain_that_is_not_a_dns_name() {
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_pkcs8(dir.path());
    for (var, value, key_name) in [
        (
            "TIDINGS_MAIL__DKIM_SELECTOR",
            "my selector",
            "mail.dkim_selector",
        ),
        ("TIDINGS_MAIL__DKIM_SELECTOR", "s;x=1", "mail.dkim_selector"),
        ("TIDINGS_MAIL__DKIM_DOMAIN", "localhost", "mail.dkim_domain"),
        (
            "TIDINGS_MAIL__DKIM_DOMAIN",
            "example.org.",
            "mail.dkim_domain",
        ),
    ] {
        let out = tidings(&key).arg("check").env(var, value).output().unwrap();
        assert!(!out.status.success(), "{value:?} passed");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("error: {key_name}: \"{value}\" is not a")),
            "{err}"
        );
    }
}
