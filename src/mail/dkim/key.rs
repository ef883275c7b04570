//! The private key of `mail.dkim_key_file` in the forms people make it: RSA as PKCS#8 PEM
//! (`openssl genrsa` on OpenSSL 3) or PKCS#1 PEM (`-traditional`, OpenSSL 1.x), Ed25519
//! (RFC 8463) as PKCS#8 PEM (`openssl genpkey -algorithm ed25519`) or as base64 of its 32
//! bytes. Anything else is refused with what the file holds instead.

use base64::Engine;
use lettre::message::dkim::{DkimSigningAlgorithm, DkimSigningKey};
use rsa::{
    RsaPrivateKey,
    pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey},
    pkcs8::{EncodePublicKey, LineEnding, ObjectIdentifier, PrivateKeyInfo},
    traits::PublicKeyParts,
};

use super::pem;

/// How to make a key DKIM can use; ends most refusals.
const MAKE: &str = "make a key with `openssl genrsa -out dkim.pem 2048` or `openssl genpkey -algorithm ed25519 \
     -out dkim.pem`";

/// Shortest RSA key accepted; RFC 8301 §3.2 has verifiers refuse shorter ones.
pub const RSA_MIN_BITS: usize = 1024;
/// RSA keys under this many bits are accepted with a warning.
pub const RSA_GOOD_BITS: usize = 2048;
/// Longest RSA key accepted: RFC 8301 §3.2 asks verifiers to handle keys up to 4096 bits only.
pub const RSA_MAX_BITS: usize = 4096;

const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// Algorithms DKIM does not sign with, by the name people know them by.
const OTHER_ALGORITHMS: [(&str, &str); 6] = [
    ("1.2.840.113549.1.1.10", "an RSA-PSS key"),
    ("1.3.101.113", "an Ed448 key"),
    ("1.3.101.110", "an X25519 key (for key agreement)"),
    ("1.3.101.111", "an X448 key (for key agreement)"),
    ("1.2.840.10040.4.1", "a DSA key"),
    ("1.2.840.113549.1.3.1", "Diffie-Hellman parameters"),
];
/// Named curves of EC keys, to say which one a refused key is on.
const CURVES: [(&str, &str); 5] = [
    ("1.2.840.10045.3.1.7", "P-256"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
    ("1.3.132.0.10", "secp256k1"),
    ("1.2.156.10197.1.301", "SM2"),
];

/// What the key file holds when it is not a key DKIM can sign with. Each message follows the
/// file's name ("<path> holds …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is empty; {MAKE}")]
    Empty,
    #[error(
        "is not text (a DER file?); the key must be PEM: convert it with \
         `openssl pkey -inform DER -in <file> -out dkim.pem`"
    )]
    Binary,
    #[error(
        "holds an encrypted private key ({0}); tidings cannot ask for its passphrase: write it \
         out decrypted with `openssl pkey -in <file> -out dkim.pem` and let only tidings read it"
    )]
    Encrypted(String),
    #[error(
        "holds {0}, not the private key: the private key signs, the public key goes in DNS \
         (`tidings dkim record` prints it)"
    )]
    PublicKey(String),
    #[error("holds a certificate ({0}), not a private key; {MAKE}")]
    Certificate(String),
    #[error(
        "holds an EC key on {0}; DKIM defines only RSA (rsa-sha256) and Ed25519 \
         (ed25519-sha256) keys; {MAKE}"
    )]
    Ec(String),
    #[error(
        "holds a {0}-bit RSA key; DKIM verifiers refuse keys under {RSA_MIN_BITS} bits \
         (RFC 8301); {MAKE}"
    )]
    RsaTooShort(usize),
    #[error(
        "holds a {0}-bit RSA key; verifiers need not check keys over {RSA_MAX_BITS} bits \
         (RFC 8301); {MAKE}"
    )]
    RsaTooLong(usize),
    #[error("holds {0}, which DKIM does not sign with; {MAKE}")]
    Unsupported(String),
    #[error("holds several PEM blocks ({0}); leave only the private key in it")]
    Several(String),
    #[error("holds a damaged {0}: {1}")]
    Damaged(&'static str, String),
    #[error(
        "is neither a PEM private key (-----BEGIN PRIVATE KEY-----) nor an Ed25519 key as \
         base64 of its 32 bytes: {0}; {MAKE}"
    )]
    NotAKey(String),
}

/// A private key DKIM can sign with.
pub enum PrivateKey {
    Rsa(RsaPrivateKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl PrivateKey {
    /// Reads the contents of a key file.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| KeyError::Binary)?;
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if text.contains('\0') {
            return Err(KeyError::Binary);
        }
        let blocks = pem::blocks(text).map_err(KeyError::NotAKey)?;
        if blocks.is_empty() {
            return raw_ed25519(text);
        }
        // `openssl ecparam -genkey` writes the curve before the key: the key tells more.
        let keys: Vec<&pem::Block> = blocks
            .iter()
            .filter(|b| b.label != "EC PARAMETERS")
            .collect();
        match keys.as_slice() {
            [] => from_block(&blocks[0]),
            [one] => from_block(one),
            several => Err(KeyError::Several(
                several
                    .iter()
                    .map(|b| b.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// "RSA, 2048 bits" or "Ed25519".
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa(k) => format!("RSA, {} bits", k.n().bits()),
            Self::Ed25519(_) => "Ed25519".into(),
        }
    }

    /// Why the key, though usable, had better be replaced (an RSA key under 2048 bits).
    pub fn weakness(&self) -> Option<String> {
        match self {
            Self::Rsa(k) if k.n().bits() < RSA_GOOD_BITS => Some(format!(
                "holds a {}-bit RSA key; receivers may count signatures by keys under \
                 {RSA_GOOD_BITS} bits as weak: make a new one with `openssl genrsa -out dkim.pem \
                 2048` and publish its record",
                k.n().bits()
            )),
            _ => None,
        }
    }

    /// The `k=` tag of the DNS record.
    pub fn dns_k(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "rsa",
            Self::Ed25519(_) => "ed25519",
        }
    }

    /// The `p=` tag of the DNS record: base64 of the SubjectPublicKeyInfo DER for RSA (RFC
    /// 6376 §3.6.1), of the 32-byte public key for Ed25519 (RFC 8463 §4).
    pub fn public_key_base64(&self) -> String {
        let b64 = &base64::engine::general_purpose::STANDARD;
        match self {
            Self::Rsa(k) => {
                let der = k
                    .to_public_key()
                    .to_public_key_der()
                    .expect("an RSA public key always encodes as DER");
                b64.encode(der.as_bytes())
            }
            Self::Ed25519(k) => b64.encode(k.verifying_key().to_bytes()),
        }
    }

    /// The key as lettre takes it: PKCS#1 PEM for RSA, base64 of the 32 bytes for Ed25519.
    pub fn to_lettre(&self) -> anyhow::Result<DkimSigningKey> {
        let (text, algorithm) = match self {
            Self::Rsa(k) => (
                k.to_pkcs1_pem(LineEnding::LF)
                    .map_err(|e| anyhow::anyhow!("encode the RSA key as PKCS#1: {e}"))?,
                DkimSigningAlgorithm::Rsa,
            ),
            Self::Ed25519(k) => (
                base64::engine::general_purpose::STANDARD
                    .encode(k.to_bytes())
                    .into(),
                DkimSigningAlgorithm::Ed25519,
            ),
        };
        DkimSigningKey::new(&text, algorithm)
            .map_err(|e| anyhow::anyhow!("lettre refused the {algorithm} key: {e}"))
    }
}

fn from_block(block: &pem::Block) -> Result<PrivateKey, KeyError> {
    let label = block.label.as_str();
    if block.encrypted || label == "ENCRYPTED PRIVATE KEY" {
        return Err(KeyError::Encrypted(label.into()));
    }
    let der = || {
        block
            .der()
            .ok_or_else(|| KeyError::Damaged("PEM block", format!("{label}: bad base64")))
    };
    match label {
        "PRIVATE KEY" => pkcs8(&der()?),
        "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der()?)
            .map_err(|e| KeyError::Damaged("RSA private key (PKCS#1)", e.to_string()))
            .and_then(rsa),
        "EC PRIVATE KEY" | "EC PARAMETERS" => Err(KeyError::Ec(curve_in(&der()?))),
        l if l.ends_with("PUBLIC KEY") => Err(KeyError::PublicKey(format!("a public key ({l})"))),
        l if l.contains("CERTIFICATE") => Err(KeyError::Certificate(l.into())),
        "DSA PRIVATE KEY" => Err(KeyError::Unsupported("a DSA key".into())),
        "OPENSSH PRIVATE KEY" => Err(KeyError::Unsupported(
            "an OpenSSH key (from ssh-keygen), which tidings does not read".into(),
        )),
        l => Err(KeyError::Unsupported(format!("a PEM block labelled {l:?}"))),
    }
}

fn pkcs8(der: &[u8]) -> Result<PrivateKey, KeyError> {
    let damaged = |e: rsa::pkcs8::Error| KeyError::Damaged("PKCS#8 private key", e.to_string());
    let info = PrivateKeyInfo::try_from(der).map_err(damaged)?;
    let oid = info.algorithm.oid;
    if oid == RSA {
        RsaPrivateKey::try_from(info).map_err(damaged).and_then(rsa)
    } else if oid == ED25519 {
        ed25519_dalek::SigningKey::try_from(info)
            .map(PrivateKey::Ed25519)
            .map_err(damaged)
    } else if oid == EC {
        let curve = info.algorithm.parameters_oid().ok();
        Err(KeyError::Ec(match curve {
            Some(c) => curve_name(c),
            None => "an unnamed curve".into(),
        }))
    } else {
        let known = OTHER_ALGORITHMS
            .iter()
            .find(|(o, _)| ObjectIdentifier::new(o).is_ok_and(|o| o == oid));
        Err(KeyError::Unsupported(match known {
            Some((_, name)) => (*name).into(),
            None => format!("a key of algorithm {oid}"),
        }))
    }
}

fn rsa(key: RsaPrivateKey) -> Result<PrivateKey, KeyError> {
    match key.n().bits() {
        b if b < RSA_MIN_BITS => Err(KeyError::RsaTooShort(b)),
        b if b > RSA_MAX_BITS => Err(KeyError::RsaTooLong(b)),
        _ => Ok(PrivateKey::Rsa(key)),
    }
}

/// The curve of a SEC1 key (`EC PRIVATE KEY`), found by its OID among the DER bytes.
fn curve_in(der: &[u8]) -> String {
    CURVES
        .iter()
        .filter_map(|(oid, name)| Some((ObjectIdentifier::new(oid).ok()?, name)))
        .find(|(oid, _)| {
            let body = oid.as_bytes();
            let mut tlv = vec![0x06, body.len() as u8];
            tlv.extend_from_slice(body);
            der.windows(tlv.len()).any(|w| w == tlv.as_slice())
        })
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| "an unnamed curve".into())
}

fn curve_name(oid: ObjectIdentifier) -> String {
    CURVES
        .iter()
        .find(|(o, _)| ObjectIdentifier::new(o).is_ok_and(|o| o == oid))
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| format!("curve {oid}"))
}

/// A file without PEM armor: an Ed25519 key as base64 of its 32 bytes, or a recognisable
/// mistake.
fn raw_ed25519(text: &str) -> Result<PrivateKey, KeyError> {
    if text.starts_with("ssh-") || text.starts_with("ecdsa-sha2-") {
        return Err(KeyError::PublicKey("an OpenSSH public key".into()));
    }
    if text.contains("v=DKIM1") || text.starts_with("p=") || text.contains("; p=") {
        return Err(KeyError::PublicKey(
            "a DKIM DNS record (the public key)".into(),
        ));
    }
    let compact: String = text.split_whitespace().collect();
    match base64::engine::general_purpose::STANDARD.decode(&compact) {
        Ok(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(seed) => Ok(PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                &seed,
            ))),
            Err(_) => Err(KeyError::NotAKey(format!(
                "its base64 decodes to {} bytes, not 32",
                bytes.len()
            ))),
        },
        Err(_) => Err(KeyError::NotAKey(
            "it has no -----BEGIN line and is not base64".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
