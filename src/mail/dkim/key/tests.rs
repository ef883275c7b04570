use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;

use super::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn block(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn refusal(text: &str) -> KeyError {
    match PrivateKey::parse(text.as_bytes()) {
        Ok(k) => panic!("accepted {text:?} as {}", k.describe()),
        Err(e) => e,
    }
}

#[test]
fn an_ed25519_key_reads_the_same_from_raw_base64_and_from_pkcs8_pem() {
    let seed = [7u8; 32];
    let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    let raw = PrivateKey::parse(format!("{}\n", b64(&seed)).as_bytes()).unwrap();
    let pkcs8 = PrivateKey::parse(pem.as_bytes()).unwrap();
    assert_eq!(raw.describe(), "Ed25519");
    assert_eq!(raw.dns_k(), "ed25519");
    assert_eq!(raw.public_key_base64(), pkcs8.public_key_base64());
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(raw.public_key_base64(), b64(public.as_bytes()));
    assert!(raw.weakness().is_none());
    assert!(raw.to_lettre().is_ok());
}

#[test]
fn empty_binary_and_stray_text_are_refused_for_what_they_are() {
    assert_eq!(refusal(" \n"), KeyError::Empty);
    assert_eq!(
        PrivateKey::parse(&[0x30, 0x82, 0xff, 0xfe]).err(),
        Some(KeyError::Binary)
    );
    let KeyError::NotAKey(why) = refusal("hello, I am a key") else {
        panic!()
    };
    assert!(why.contains("no -----BEGIN line"), "{why}");
    let KeyError::NotAKey(why) = refusal(&b64(&[1u8; 16])) else {
        panic!()
    };
    assert!(why.contains("16 bytes, not 32"), "{why}");
}

#[test]
fn public_keys_certificates_and_encrypted_keys_are_named() {
    assert!(matches!(
        refusal(&block("PUBLIC KEY", "AAAA")),
        KeyError::PublicKey(_)
    ));
    assert!(matches!(
        refusal(&block("RSA PUBLIC KEY", "AAAA")),
        KeyError::PublicKey(_)
    ));
    assert!(matches!(
        refusal("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@host"),
        KeyError::PublicKey(_)
    ));
    assert!(matches!(
        refusal("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
        KeyError::PublicKey(_)
    ));
    assert_eq!(
        refusal(&block("CERTIFICATE", "AAAA")),
        KeyError::Certificate("CERTIFICATE".into())
    );
    assert_eq!(
        refusal(&block("ENCRYPTED PRIVATE KEY", "AAAA")),
        KeyError::Encrypted("ENCRYPTED PRIVATE KEY".into())
    );
    let traditional = block(
        "RSA PRIVATE KEY",
        "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA",
    );
    assert_eq!(
        refusal(&traditional),
        KeyError::Encrypted("RSA PRIVATE KEY".into())
    );
}

#[test]
fn several_blocks_are_refused_but_ec_parameters_before_a_key_are_skipped() {
    let two = format!(
        "{}{}",
        block("CERTIFICATE", "AAAA"),
        block("PRIVATE KEY", "AAAA")
    );
    assert_eq!(
        refusal(&two),
        KeyError::Several("CERTIFICATE, PRIVATE KEY".into())
    );
    // The P-256 OID, as `openssl ecparam -name prime256v1 -genkey` writes it first.
    let params = b64(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
    let ec = format!(
        "{}{}",
        block("EC PARAMETERS", &params),
        block("EC PRIVATE KEY", &params)
    );
    assert_eq!(refusal(&ec), KeyError::Ec("P-256".into()));
}

#[test]
fn damaged_and_unknown_blocks_are_refused() {
    assert!(matches!(
        refusal(&block("PRIVATE KEY", "AAAA")),
        KeyError::Damaged("PKCS#8 private key", _)
    ));
    assert!(matches!(
        refusal(&block("RSA PRIVATE KEY", "!!")),
        KeyError::Damaged("PEM block", _)
    ));
    assert!(matches!(
        refusal(&block("OPENSSH PRIVATE KEY", "AAAA")),
        KeyError::Unsupported(_)
    ));
    let KeyError::NotAKey(why) = refusal("-----BEGIN PRIVATE KEY-----\nAAAA\n") else {
        panic!()
    };
    assert!(why.contains("no END line"), "{why}");
}

#[test]
fn every_refusal_says_how_to_make_a_usable_key_or_what_to_do() {
    for e in [
        KeyError::Empty,
        KeyError::Ec("P-256".into()),
        KeyError::RsaTooShort(512),
        KeyError::Unsupported("an Ed448 key".into()),
    ] {
        assert!(e.to_string().contains("openssl genpkey"), "{e}");
    }
    assert!(
        KeyError::Encrypted("ENCRYPTED PRIVATE KEY".into())
            .to_string()
            .contains("openssl pkey -in")
    );
}
