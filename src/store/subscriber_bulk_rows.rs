//! The Rust half of PostgreSQL's bulk import (`subscriber_bulk`): a batch's rows grouped by
//! address, written in `COPY`'s text format, and the database's answer spread back over the
//! rows. Grouping here rather than in SQL spares the server a sort of every batch.

use std::{collections::HashMap, fmt::Write as _};

use anyhow::Context;

use super::subscriber_import::{ImportOutcome, ImportRow};
use crate::domain::SubscriberStatus;

/// No further row (end of a chain in [`People::next`]).
const NONE: usize = usize::MAX;

/// The addresses of a batch, in the order they first appear.
pub(super) struct People<'a> {
    rows: &'a [ImportRow],
    /// Per address: its first row (which creates the person when they are new) and its last
    /// (whose choices stay).
    first_last: Vec<(usize, usize)>,
    /// Per row: the next row of the same address, or `NONE`.
    next: Vec<usize>,
}

impl<'a> People<'a> {
    /// Groups `rows` by address.
    pub(super) fn group(rows: &'a [ImportRow]) -> Self {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        let mut first_last: Vec<(usize, usize)> = Vec::with_capacity(rows.len());
        let mut next = vec![NONE; rows.len()];
        for (i, row) in rows.iter().enumerate() {
            match index.get(row.email.as_str()) {
                Some(&p) => {
                    let last = &mut first_last[p].1;
                    next[*last] = i;
                    *last = i;
                }
                None => {
                    index.insert(&row.email, first_last.len());
                    first_last.push((i, i));
                }
            }
        }
        Self {
            rows,
            first_last,
            next,
        }
    }

    /// How many addresses.
    pub(super) fn len(&self) -> usize {
        self.first_last.len()
    }

    /// One line per address, in `COPY`'s text format, for the columns
    /// `(person, email, all_sections, schedule, locale, sections)`: the address's number here,
    /// then its last row's choices; `\N` (NULL) for every section, else the slugs separated by
    /// spaces (slugs hold none: the CSV's sections cell is split at them).
    pub(super) fn copy_text(&self) -> Vec<u8> {
        let mut buf = String::with_capacity(self.len() * 72);
        for (person, &(_, last)) in self.first_last.iter().enumerate() {
            let row = &self.rows[last];
            let _ = write!(buf, "{person}\t");
            escape(&mut buf, &row.email);
            buf.push_str(if row.prefs.sections.is_none() {
                "\tt\t"
            } else {
                "\tf\t"
            });
            escape(&mut buf, &row.prefs.schedule);
            buf.push('\t');
            escape(&mut buf, &row.prefs.locale);
            buf.push('\t');
            match &row.prefs.sections {
                None => buf.push_str("\\N"),
                Some(sections) => escape(&mut buf, &sections.join(" ")),
            }
            buf.push('\n');
        }
        buf.into_bytes()
    }

    /// Every row's outcome, from what the merge said of the addresses it did not simply
    /// update: `(person, created, status found)`. A new person's first row created them, the
    /// later ones updated them; every row of a person left alone is skipped; a person neither
    /// created nor found (erased while the batch was on its way) is an error.
    pub(super) fn outcomes(
        &self,
        marked: Vec<(i32, bool, Option<String>)>,
    ) -> anyhow::Result<Vec<ImportOutcome>> {
        let mut out = vec![ImportOutcome::Updated; self.rows.len()];
        for (person, created, status) in marked {
            let &(first, _) = usize::try_from(person)
                .ok()
                .and_then(|p| self.first_last.get(p))
                .context("import outcome for an address not sent")?;
            if created {
                out[first] = ImportOutcome::Created;
                continue;
            }
            let status = status.with_context(|| {
                let email = &self.rows[first].email;
                format!("{email} was erased while the import was writing it")
            })?;
            let skipped = ImportOutcome::Skipped(SubscriberStatus::parse(&status)?);
            let mut row = first;
            while row != NONE {
                out[row] = skipped;
                row = self.next[row];
            }
        }
        Ok(out)
    }
}

/// `value` as one field of `COPY`'s text format: a backslash and the characters that separate
/// fields and lines are escaped, everything else is taken as it is.
fn escape(buf: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Preferences;

    fn row(email: &str, sections: Option<&[&str]>, schedule: &str) -> ImportRow {
        ImportRow {
            email: email.into(),
            prefs: Preferences {
                sections: sections.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
                schedule: schedule.into(),
                locale: "zh-CN".into(),
            },
        }
    }

    #[test]
    fn copy_text_has_one_line_per_address_with_its_last_choices_escaped() {
        let rows = [
            row("a\\b\tc@example.org", None, "daily"),
            row("d@例子.中国", Some(&["news"]), "daily"),
            row("a\\b\tc@example.org", Some(&["news", "notices"]), "weekly"),
        ];
        let text = String::from_utf8(People::group(&rows).copy_text()).unwrap();
        assert_eq!(
            text,
            "0\ta\\\\b\\tc@example.org\tf\tweekly\tzh-CN\tnews notices\n\
             1\td@例子.中国\tf\tdaily\tzh-CN\tnews\n"
        );
        let all = [row("e@example.org", None, "daily")];
        let text = String::from_utf8(People::group(&all).copy_text()).unwrap();
        assert_eq!(text, "0\te@example.org\tt\tdaily\tzh-CN\t\\N\n");
    }

    #[test]
    fn outcomes_spread_over_every_row_of_an_address() {
        let rows = [
            row("new@example.org", None, "daily"),
            row("left@example.org", None, "daily"),
            row("new@example.org", None, "daily"),
            row("same@example.org", None, "daily"),
            row("left@example.org", None, "daily"),
        ];
        let people = People::group(&rows);
        assert_eq!(people.len(), 3);
        let marked = vec![(0, true, None), (1, false, Some("unsubscribed".into()))];
        let left = ImportOutcome::Skipped(SubscriberStatus::Unsubscribed);
        assert_eq!(
            people.outcomes(marked).unwrap(),
            [
                ImportOutcome::Created,
                left,
                ImportOutcome::Updated,
                ImportOutcome::Updated,
                left
            ]
        );
    }

    #[test]
    fn outcomes_refuse_an_address_that_vanished_or_was_never_sent() {
        let rows = [row("a@example.org", None, "daily")];
        let people = People::group(&rows);
        assert!(people.outcomes(vec![(0, false, None)]).is_err());
        assert!(people.outcomes(vec![(1, true, None)]).is_err());
    }
}
