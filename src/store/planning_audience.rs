//! Who a run being planned mails (see `planning`), as SQL over the subscribers: kept with the
//! run, so that whoever resumes its planning mails the same people.

/// Who a run mails (each of them active), as its planning reads it back from the run's row,
/// so that whoever resumes a planning mails the same people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The subscribers of a schedule: a digest run, fired or manual.
    Schedule(String),
    /// The subscribers of an instant schedule who follow every section, or a section with an
    /// article that became visible in `(since, until]`.
    Followers {
        schedule: String,
        since: i64,
        until: i64,
    },
    /// Everyone who follows a section (or every section), whatever their schedule: an
    /// announcement.
    Section(String),
}

impl Audience {
    /// The condition on `s` (subscribers), its parameters numbered from `$k`; bound by
    /// `bind_audience!`.
    pub(super) fn filter(&self, k: usize) -> String {
        match self {
            Audience::Schedule(_) => format!("s.status = 'active' AND s.schedule = ${k}"),
            Audience::Followers { .. } => format!(
                "s.status = 'active' AND s.schedule = ${k} AND (s.all_sections = ${} OR EXISTS (
                   SELECT 1 FROM subscriber_sections ss
                   WHERE ss.subscriber_id = s.id AND ss.section IN (
                     SELECT a.section FROM articles a
                     WHERE a.retracted_at IS NULL AND a.visible_at > ${} AND a.visible_at <= ${}
                       AND a.published_at <= ${})))",
                k + 1,
                k + 2,
                k + 3,
                k + 3
            ),
            Audience::Section(_) => format!(
                "s.status = 'active' AND (s.all_sections = ${} OR EXISTS (
                   SELECT 1 FROM subscriber_sections ss
                   WHERE ss.subscriber_id = s.id AND ss.section = ${k}))",
                k + 1
            ),
        }
    }
}

/// Binds the parameters of [`Audience::filter`] in order.
macro_rules! bind_audience {
    ($query:expr, $audience:expr) => {
        match $audience {
            $crate::store::Audience::Schedule(schedule) => $query.bind(schedule.clone()),
            $crate::store::Audience::Followers {
                schedule,
                since,
                until,
            } => $query
                .bind(schedule.clone())
                .bind(true)
                .bind(*since)
                .bind(*until),
            $crate::store::Audience::Section(section) => $query.bind(section.clone()).bind(true),
        }
    };
}
pub(super) use bind_audience;
