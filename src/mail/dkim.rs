//! Optional DKIM signing (`mail.dkim_domain`, `mail.dkim_selector`, `mail.dkim_key_file`);
//! the signature covers the list headers so that receivers can trust the one-click
//! unsubscribe (RFC 8058 §4 asks for exactly that). [`load`] reads the key for `serve` (through
//! the mailer) and for `tidings check` alike, so that both refuse a key with the same words;
//! [`Dkim::record`] is the DNS record that publishes its public half.

mod key;
mod pem;
mod record;

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use lettre::message::{
    dkim::{DkimCanonicalization, DkimCanonicalizationType, DkimConfig},
    header::HeaderName,
};

use crate::config::MailConfig;

pub use key::{KeyError, RSA_GOOD_BITS, RSA_MAX_BITS, RSA_MIN_BITS};
pub use record::TxtRecord;

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

/// A key file larger than this is no key (a 4096-bit RSA key in PEM is about 3.3 KB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The DKIM signer of `[mail]`: the key read from `mail.dkim_key_file` and where it signs.
pub struct Dkim {
    domain: String,
    selector: String,
    path: PathBuf,
    from_domain: Option<String>,
    key: key::PrivateKey,
    signing: DkimConfig,
}

/// Reads the DKIM settings and key of `[mail]`; `None` when DKIM is not configured. Each
/// error names the key of the configuration at fault and, for the key file, what it holds.
pub fn load(mail: &MailConfig) -> anyhow::Result<Option<Dkim>> {
    let (Some(domain), Some(selector), Some(path)) =
        (&mail.dkim_domain, &mail.dkim_selector, &mail.dkim_key_file)
    else {
        return Ok(None);
    };
    dns_name("mail.dkim_domain", domain, "example.org")?;
    if !domain.contains('.') {
        bail!("mail.dkim_domain: {domain:?} is not a domain name (e.g. example.org)");
    }
    dns_name("mail.dkim_selector", selector, "tidings")?;
    let key = key::PrivateKey::parse(&read_key_file(path)?)
        .map_err(|e| anyhow::anyhow!("mail.dkim_key_file: {} {e}", path.display()))?;
    let lettre_key = key
        .to_lettre()
        .with_context(|| format!("mail.dkim_key_file: {}", path.display()))?;
    let signing = DkimConfig::new(
        selector.clone(),
        domain.clone(),
        lettre_key,
        SIGNED
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    );
    let from_domain = crate::domain::parse_mailbox(&mail.from)
        .ok()
        .and_then(|(_, addr)| Some(addr.rsplit_once('@')?.1.to_ascii_lowercase()));
    Ok(Some(Dkim {
        domain: domain.clone(),
        selector: selector.clone(),
        path: path.clone(),
        from_domain,
        key,
        signing,
    }))
}

/// The signing configuration the mailer uses; the warnings of [`Dkim::warnings`] are logged.
pub(crate) fn from_config(mail: &MailConfig) -> anyhow::Result<Option<DkimConfig>> {
    let Some(dkim) = load(mail)? else {
        return Ok(None);
    };
    for warning in dkim.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(Some(dkim.signing))
}

impl Dkim {
    /// One line for people: domain, selector, kind of key and its file.
    pub fn describe(&self) -> String {
        format!(
            "DKIM signs for {} with selector {} and a key of {} ({})",
            self.domain,
            self.selector,
            self.key.describe(),
            self.path.display()
        )
    }

    /// What works but had better change: a short RSA key, a domain that does not align with
    /// `mail.from` (DMARC then ignores the signature).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(w) = self.key.weakness() {
            out.push(format!("mail.dkim_key_file: {} {w}", self.path.display()));
        }
        let d = self.domain.to_ascii_lowercase();
        if let Some(from) = &self.from_domain
            && !(from == &d || from.ends_with(&format!(".{d}")) || d.ends_with(&format!(".{from}")))
        {
            out.push(format!(
                "mail.dkim_domain: {} is not the domain of mail.from ({from}) nor related to it: \
                 DMARC will not count the signature",
                self.domain
            ));
        }
        out
    }

    /// The TXT record to publish for this key.
    pub fn record(&self) -> TxtRecord {
        TxtRecord::dkim(
            &self.selector,
            &self.domain,
            self.key.dns_k(),
            &self.key.public_key_base64(),
            self.key.describe(),
        )
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let cannot = || format!("mail.dkim_key_file: cannot read {}", path.display());
    let file = std::fs::File::open(path).with_context(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(cannot)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        bail!(
            "mail.dkim_key_file: {} is over {} KiB, which no key is",
            path.display(),
            MAX_KEY_FILE / 1024
        );
    }
    Ok(bytes)
}

/// Refuses what cannot be a DNS name of ASCII labels (letters, digits, inner hyphens): the
/// selector and domain go into the `DKIM-Signature` header and the name of the DNS record.
fn dns_name(key: &str, value: &str, example: &str) -> anyhow::Result<()> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if value.len() > 253 || !value.split('.').all(label_ok) {
        let hint = if value.is_ascii() {
            ""
        } else {
            "; write an international name in its ASCII form (xn--…)"
        };
        bail!(
            "{key}: {value:?} is not a DNS name (letters, digits and hyphens in labels \
             separated by dots, e.g. {example}){hint}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_domains_must_be_dns_names() {
        for good in ["tidings", "2026-03", "mail.tidings", "a1"] {
            assert!(dns_name("k", good, "x").is_ok(), "{good}");
        }
        for bad in [
            "",
            "two words",
            "semi;colon",
            "-lead",
            "trail-",
            "a..b",
            "end.",
            "工会",
        ] {
            let e = dns_name("mail.dkim_selector", bad, "x")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("mail.dkim_selector: "), "{e}");
        }
        let e = dns_name("k", "工会.cn", "x").unwrap_err().to_string();
        assert!(e.contains("xn--"), "{e}");
    }

    #[test]
    fn without_all_three_settings_there_is_no_dkim() {
        let mail = MailConfig {
            dkim_domain: Some("example.org".into()),
            ..MailConfig::default()
        };
        assert!(load(&mail).unwrap().is_none());
    }

    #[test]
    fn a_missing_key_file_is_an_error_naming_the_setting_and_the_path() {
        let mail = MailConfig {
            dkim_domain: Some("example.org".into()),
            dkim_selector: Some("tidings".into()),
            dkim_key_file: Some("/nonexistent/dkim.pem".into()),
            ..MailConfig::default()
        };
        let e = format!("{:#}", load(&mail).err().unwrap());
        assert!(
            e.starts_with("mail.dkim_key_file: cannot read /nonexistent/dkim.pem"),
            "{e}"
        );
    }
}
