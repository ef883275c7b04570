//! Optional DKIM signing; the signature covers the list headers so that receivers can trust
//! the one-click unsubscribe (RFC 8058 §4 asks for exactly that).

use anyhow::Context;
use lettre::message::{
    dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    },
    header::HeaderName,
};

use crate::config::MailConfig;

/// Headers covered by the signature.
pub const SIGNED: [&str; 9] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// The signing configuration of `[mail]`, if DKIM is configured.
pub fn from_config(mail: &MailConfig) -> anyhow::Result<Option<DkimConfig>> {
    let (Some(domain), Some(selector), Some(path)) =
        (&mail.dkim_domain, &mail.dkim_selector, &mail.dkim_key_file)
    else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("mail.dkim_key_file: cannot read {}", path.display()))?;
    let algorithm = if pem.contains("-----BEGIN") {
        DkimSigningAlgorithm::Rsa
    } else {
        DkimSigningAlgorithm::Ed25519
    };
    let key = DkimSigningKey::new(pem.trim(), algorithm)
        .map_err(|e| anyhow::anyhow!("mail.dkim_key_file: not a usable key: {e:?}"))?;
    Ok(Some(DkimConfig::new(
        selector.clone(),
        domain.clone(),
        key,
        SIGNED
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    )))
}
