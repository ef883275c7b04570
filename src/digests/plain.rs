//! Plain text as people read it: a subject on one line, a text part without stray spaces or
//! runs of blank lines, a name written as a title.

/// A plain-text part as people read it: no trailing spaces (but the "-- " that starts a
/// signature), no runs of blank lines, whatever the templates' whitespace.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = true;
    for line in text.lines() {
        let line = if line == "-- " { line } else { line.trim_end() };
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
        blank = false;
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// `s` on one line, with runs of white space made one space (a subject from an edited
/// strings file or a name with a line break stays a subject).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parts_lose_trailing_spaces_and_blank_runs_but_keep_the_signature_dash() {
        assert_eq!(tidy("\n\na  \n\n\n\nb\n-- \nc\n\n"), "a\n\nb\n-- \nc\n");
        assert_eq!(one_line(" 每日\r\n摘要  (1 Mar) "), "每日 摘要 (1 Mar)");
    }
}
