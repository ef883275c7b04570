//! The PEM blocks of a key file (RFC 7468), read leniently enough for what OpenSSL writes:
//! text around the blocks is ignored (as OpenSSL does), CRLF line ends are fine, and the
//! RFC 1421 headers of a traditional encrypted key are kept so that it can be recognised.

use base64::Engine;

/// One `-----BEGIN <label>----- … -----END <label>-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label, such as `PRIVATE KEY` or `RSA PRIVATE KEY`.
    pub label: String,
    /// `Proc-Type: 4,ENCRYPTED` was among its headers (`openssl rsa -traditional -aes256`).
    pub encrypted: bool,
    /// The base64 lines, joined.
    body: String,
}

impl Block {
    /// The DER bytes the block carries; `None` when its body is not base64.
    pub fn der(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .ok()
    }
}

/// The PEM blocks of `text`, in order; an error names the block that has no END line.
pub fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for line in text.lines().map(str::trim) {
        match open.as_mut() {
            None => {
                if let Some(label) = armor(line, "BEGIN") {
                    open = Some(Block {
                        label: label.to_owned(),
                        encrypted: false,
                        body: String::new(),
                    });
                }
            }
            Some(block) => {
                if let Some(label) = armor(line, "END") {
                    if label != block.label {
                        return Err(format!(
                            "-----BEGIN {}----- ends with -----END {label}-----",
                            block.label
                        ));
                    }
                    out.extend(open.take());
                } else if let Some((name, value)) = line.split_once(':') {
                    block.encrypted |= name.trim().eq_ignore_ascii_case("Proc-Type")
                        && value.to_ascii_uppercase().contains("ENCRYPTED");
                } else {
                    block.body.push_str(line);
                }
            }
        }
    }
    match open {
        Some(block) => Err(format!(
            "-----BEGIN {}----- has no END line (is the file cut short?)",
            block.label
        )),
        None => Ok(out),
    }
}

/// The label of a `-----BEGIN <label>-----` (or END) line.
fn armor<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(word)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_with_crlf_and_text_around_them() {
        let text = "Bag Attributes\r\n-----BEGIN PRIVATE KEY-----\r\nAAEC\r\nAw==\r\n\
                    -----END PRIVATE KEY-----\r\n-----BEGIN CERTIFICATE-----\nBA==\n\
                    -----END CERTIFICATE-----\n";
        let b = blocks(text).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].label, "PRIVATE KEY");
        assert_eq!(b[0].der(), Some(vec![0, 1, 2, 3]));
        assert!(!b[0].encrypted);
        assert_eq!(b[1].label, "CERTIFICATE");
    }

    #[test]
    fn a_traditional_encrypted_key_is_marked_by_its_proc_type_header() {
        let text = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                    DEK-Info: AES-256-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        let b = blocks(text).unwrap();
        assert!(b[0].encrypted);
        assert_eq!(b[0].der(), Some(vec![0, 1, 2]));
    }

    #[test]
    fn a_block_cut_short_or_closed_by_another_label_is_an_error() {
        let cut = blocks("-----BEGIN PRIVATE KEY-----\nAAEC\n").unwrap_err();
        assert!(cut.contains("no END line"), "{cut}");
        let crossed =
            blocks("-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PUBLIC KEY-----\n").unwrap_err();
        assert!(crossed.contains("END PUBLIC KEY"), "{crossed}");
    }

    #[test]
    fn text_without_armor_has_no_blocks_and_bad_base64_has_no_der() {
        assert_eq!(blocks("just words\n").unwrap(), vec![]);
        let b = blocks("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----").unwrap();
        assert_eq!(b[0].der(), None);
    }
}
