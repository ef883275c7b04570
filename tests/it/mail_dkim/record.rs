//! `tidings dkim record`: the name and value to publish, compared with the public key as
//! OpenSSL writes it.

use base64::Engine;

use super::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn the_record_of_an_rsa_key_is_its_public_key_info_in_two_zone_strings() {
    let dir = tempfile::tempdir().unwrap();
    for key in [rsa_pkcs8(dir.path()), rsa_pkcs1(dir.path())] {
        let (name, strings) = record(&key);
        assert_eq!(name, "tidings2026._domainkey.example.org");
        let expected = format!("v=DKIM1; k=rsa; p={}", b64(&public_der(&key)));
        assert_eq!(strings.concat(), expected);
        // 18 + 392 characters: one full string of 255 and the rest.
        assert_eq!(
            strings.iter().map(String::len).collect::<Vec<_>>(),
            [255, expected.len() - 255]
        );
    }
}

#[test]
fn the_record_of_an_ed25519_key_is_its_32_public_bytes_in_one_string() {
    let dir = tempfile::tempdir().unwrap();
    let pem = ed25519_pkcs8(dir.path());
    let spki = public_der(&pem);
    // The SubjectPublicKeyInfo of Ed25519: a 12-byte prefix, then the 32 bytes.
    assert_eq!(spki.len(), 44);
    let expected = format!("v=DKIM1; k=ed25519; p={}", b64(&spki[12..]));
    for key in [ed25519_raw(&pem), pem] {
        let (name, strings) = record(&key);
        assert_eq!(name, "tidings2026._domainkey.example.org");
        assert_eq!(strings, std::slice::from_ref(&expected));
    }
}

#[test]
fn dkim_record_without_dkim_configured_fails_and_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = tidings(&dir.path().join("unused.pem"))
        .env_remove("TIDINGS_MAIL__DKIM_DOMAIN")
        .env_remove("TIDINGS_MAIL__DKIM_SELECTOR")
        .env_remove("TIDINGS_MAIL__DKIM_KEY_FILE")
        .args(["dkim", "record"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains(
            "error: DKIM is not configured: set mail.dkim_domain, mail.dkim_selector and \
             mail.dkim_key_file"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dkim_record_of_an_unusable_key_fails_as_check_does() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("garbage.pem");
    std::fs::write(&key, "not a key").unwrap();
    let out = tidings(&key).args(["dkim", "record"]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(stderr(&out), stderr(&check(&key)));
}
