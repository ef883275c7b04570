//! `Name <addr>` sender mailboxes from configuration.

/// Splits `Name <addr@host>` (or a bare address) into an optional name and the address.
pub fn parse_mailbox(s: &str) -> Result<(Option<String>, String), String> {
    if s.contains(['\r', '\n']) {
        return Err("must not contain line breaks".into());
    }
    let s = s.trim();
    let (name, addr) = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => {
            let name = s[..i].trim().trim_matches('"').trim();
            (
                (!name.is_empty()).then(|| name.to_owned()),
                s[i + 1..s.len() - 1].trim(),
            )
        }
        (None, false) => (None, s),
        _ => return Err(format!("{s:?} is not of the form Name <address>")),
    };
    let at = addr
        .rfind('@')
        .ok_or_else(|| format!("{addr:?} has no '@'"))?;
    if at == 0 || at == addr.len() - 1 || addr.contains(char::is_whitespace) {
        return Err(format!("{addr:?} is not an email address"));
    }
    Ok((name, addr.to_owned()))
}
