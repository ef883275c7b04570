//! First mails: the latest articles of the reader's sections besides what is new.

use super::tests::{article, at, ids, moment, reader, schedule, sections};
use super::*;

/// `schedule(max, false)` whose first mails hold `first` latest articles.
fn with_first(max_articles: i64, first: i64) -> Schedule {
    Schedule {
        first_digest_articles: first,
        ..schedule(max_articles, false)
    }
}

#[test]
fn a_first_mail_holds_the_latest_articles_published_before_confirming() {
    // Published at minutes 1..=5; the reader confirmed at minute 50: nothing is new for them.
    let old: Vec<Article> = (1..=5)
        .map(|m| article(&format!("a{m}"), "news", m))
        .collect();
    let r = Reader {
        since: at(50),
        ..reader()
    };

    let first = decide(&r, &with_first(20, 3), moment(), &sections(), &old);
    let none = decide(&r, &with_first(20, 0), moment(), &sections(), &old);

    assert_eq!(ids(&first), ["a5", "a4", "a3"]);
    assert_eq!(none, Decision::Skip(Skip::NothingNew { since: at(50) }));
}

#[test]
fn a_first_mail_adds_the_latest_to_what_is_new_within_max_articles() {
    // a1, a2 before confirming (minute 10); n1, n2 after.
    let candidates = [
        article("a1", "news", 1),
        article("a2", "news", 2),
        article("n1", "news", 20),
        article("n2", "news", 30),
    ];
    let r = Reader {
        since: at(10),
        ..reader()
    };

    // The 3 latest (n2, n1, a2) plus what is new (n1, n2): three articles.
    let d = decide(&r, &with_first(20, 3), moment(), &sections(), &candidates);
    assert_eq!(ids(&d), ["n2", "n1", "a2"]);
    // max_articles still caps the mail.
    let d = decide(&r, &with_first(2, 3), moment(), &sections(), &candidates);
    assert_eq!(ids(&d), ["n2", "n1"]);
}

#[test]
fn only_the_first_mail_holds_the_latest_articles() {
    let old = [article("a1", "news", 1)];
    let r = Reader {
        watermark: Some(at(50)),
        ..reader()
    };

    let d = decide(&r, &with_first(20, 3), moment(), &sections(), &old);

    assert_eq!(d, Decision::Skip(Skip::NothingNew { since: at(50) }));
    assert_eq!(window(&r, &with_first(20, 3), moment()).unwrap().latest, 0);
}

#[test]
fn the_latest_articles_are_of_the_readers_sections_and_visible_by_the_cutoff() {
    let candidates = [
        article("g1", "grassroots", 1),
        article("n1", "news", 2),
        article("late", "news", 200),
    ];
    let chosen = ["news".to_owned()];
    let r = Reader {
        sections: Some(&chosen),
        since: at(50),
        ..reader()
    };

    let d = decide(&r, &with_first(20, 3), moment(), &sections(), &candidates);

    assert_eq!(ids(&d), ["n1"]);
}
