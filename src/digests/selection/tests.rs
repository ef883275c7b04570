//! Each rule of the selection on plain values.

use chrono::{DateTime, Duration, Utc};

use super::*;

pub(super) fn t0() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

/// Milliseconds `m` minutes after `t0`.
pub(super) fn at(m: i64) -> i64 {
    to_ms(t0() + Duration::minutes(m))
}

/// An article of `section` published (and visible) `m` minutes after `t0`.
pub(super) fn article(id: &str, section: &str, m: i64) -> Article {
    let t = t0() + Duration::minutes(m);
    Article {
        id: id.into(),
        section: section.into(),
        title: format!("title {id}"),
        url: format!("https://example.org/{id}"),
        content_html: String::new(),
        summary: String::new(),
        author: None,
        image: None,
        tags: Vec::new(),
        published_at: t,
        updated_at: None,
        content_hash: String::new(),
        source: "api".into(),
        visible_at: t,
        created_at: t,
        modified_at: t,
    }
}

pub(super) fn schedule(max_articles: i64, send_when_empty: bool) -> Schedule {
    Schedule {
        slug: "daily".into(),
        name: "Daily".into(),
        cron: "0 8 * * *".into(),
        timezone: "Asia/Shanghai".into(),
        enabled: true,
        send_when_empty,
        max_articles,
        kind: crate::domain::ScheduleKind::Digest,
        window_seconds: None,
        // The rules below are about new articles; first mails have their own tests.
        first_digest_articles: 0,
        created_at: 0,
        checked_until: None,
    }
}

/// The display order: news, notices, grassroots.
pub(super) fn sections() -> Vec<Section> {
    ["news", "notices", "grassroots"]
        .iter()
        .enumerate()
        .map(|(i, s)| Section {
            slug: (*s).into(),
            title: s.to_uppercase(),
            description: String::new(),
            position: i as i64,
        })
        .collect()
}

/// An active reader of every section who confirmed at `t0` and never got a digest.
pub(super) fn reader() -> Reader<'static> {
    Reader {
        status: SubscriberStatus::Active,
        sections: None,
        since: at(0),
        watermark: None,
    }
}

/// A run at minute 100 (cutoff and now).
pub(super) fn moment() -> Moment {
    Moment {
        cutoff: at(100),
        now: at(100),
    }
}

/// The ids `decision` sends, in mail order; panics on a skip.
pub(super) fn ids(decision: &Decision) -> Vec<String> {
    match decision {
        Decision::Send(p) => p.articles().iter().map(|a| a.id.clone()).collect(),
        Decision::Skip(s) => panic!("skipped: {s}"),
    }
}

#[test]
fn only_articles_visible_since_the_watermark_and_by_the_cutoff_are_picked() {
    let candidates = [
        article("before-watermark", "news", 10),
        article("at-watermark", "news", 20),
        article("after", "news", 30),
        article("at-cutoff", "news", 100),
        article("after-cutoff", "news", 101),
    ];
    let r = Reader {
        watermark: Some(at(20)),
        ..reader()
    };

    let d = decide(&r, &schedule(20, false), moment(), &sections(), &candidates);

    assert_eq!(ids(&d), ["at-cutoff", "after"]);
}

#[test]
fn without_a_previous_digest_the_window_starts_at_confirmation() {
    let candidates = [
        article("before-confirming", "news", 4),
        article("after-confirming", "news", 6),
    ];
    let r = Reader {
        since: at(5),
        ..reader()
    };

    let d = decide(&r, &schedule(20, false), moment(), &sections(), &candidates);
    let w = window(&r, &schedule(20, false), moment()).unwrap();

    assert_eq!(ids(&d), ["after-confirming"]);
    assert_eq!(w.after, at(5));
}

#[test]
fn successive_runs_never_pick_the_same_article_twice() {
    let candidates: Vec<Article> = (1..=9)
        .map(|m| article(&format!("a{m}"), "news", m * 10))
        .collect();
    let mut seen = Vec::new();
    let mut watermark = None;
    for cutoff in [25, 25, 60, 90] {
        let r = Reader {
            watermark,
            ..reader()
        };
        let at_cutoff = Moment {
            cutoff: at(cutoff),
            now: at(cutoff),
        };
        if let Decision::Send(p) = decide(
            &r,
            &schedule(20, false),
            at_cutoff,
            &sections(),
            &candidates,
        ) {
            seen.extend(p.articles().iter().map(|a| a.id.clone()));
        }
        // A run moves the watermark to its cutoff whether it sent or skipped.
        watermark = Some(at(cutoff));
    }

    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "{seen:?}");
    assert_eq!(seen.len(), 9);
}

#[test]
fn an_article_rescheduled_into_the_future_is_not_picked() {
    let mut later = article("rescheduled", "news", 50);
    later.published_at = t0() + Duration::minutes(500);
    let candidates = [later, article("published", "news", 40)];

    let d = decide(
        &reader(),
        &schedule(20, false),
        moment(),
        &sections(),
        &candidates,
    );

    assert_eq!(ids(&d), ["published"]);
}

#[test]
fn at_most_max_articles_keeping_the_newest() {
    let candidates: Vec<Article> = (1..=5)
        .map(|m| article(&format!("a{m}"), "news", m))
        .collect();

    let d = decide(
        &reader(),
        &schedule(3, false),
        moment(),
        &sections(),
        &candidates,
    );

    assert_eq!(ids(&d), ["a5", "a4", "a3"]);
    assert_eq!(
        window(&reader(), &schedule(3, false), moment())
            .unwrap()
            .limit,
        3
    );
}

#[test]
fn newest_first_whatever_order_the_candidates_come_in_with_ties_by_id() {
    let candidates = [
        article("b", "news", 2),
        article("c", "news", 3),
        article("a", "news", 1),
        article("tie-a", "news", 4),
        article("tie-b", "news", 4),
        article("c", "news", 3),
    ];

    let d = decide(
        &reader(),
        &schedule(20, false),
        moment(),
        &sections(),
        &candidates,
    );

    assert_eq!(ids(&d), ["tie-b", "tie-a", "c", "b", "a"]);
}

#[test]
fn only_the_chosen_sections_and_all_of_them_when_none_were_chosen() {
    let candidates = [
        article("n", "news", 1),
        article("t", "notices", 2),
        article("g", "grassroots", 3),
    ];
    let chosen = ["notices".to_owned()];
    let some = Reader {
        sections: Some(&chosen),
        ..reader()
    };
    let none_chosen = Reader {
        sections: Some(&[]),
        ..reader()
    };

    let s = schedule(20, false);
    let d_some = decide(&some, &s, moment(), &sections(), &candidates);
    let d_all = decide(&reader(), &s, moment(), &sections(), &candidates);
    let d_none = decide(&none_chosen, &s, moment(), &sections(), &candidates);

    assert_eq!(ids(&d_some), ["t"]);
    assert_eq!(ids(&d_all).len(), 3);
    assert_eq!(d_none, Decision::Skip(Skip::NoSections));
}

#[test]
fn the_newest_overall_are_grouped_by_section_in_display_order() {
    let candidates = [
        article("n1", "news", 1),
        article("g1", "grassroots", 2),
        article("t1", "notices", 3),
        article("n2", "news", 4),
        article("g2", "grassroots", 5),
        article("t2", "notices", 6),
    ];
    // Chosen in another order than the display order: the display order wins.
    let chosen = ["grassroots".to_owned(), "news".to_owned()];
    let r = Reader {
        sections: Some(&chosen),
        ..reader()
    };

    let d = decide(&r, &schedule(3, false), moment(), &sections(), &candidates);

    assert_eq!(ids(&d), ["n2", "g2", "g1"]);
    let Decision::Send(p) = d else { unreachable!() };
    let groups: Vec<(&str, usize)> = p.by_section().map(|(s, a)| (s, a.len())).collect();
    assert_eq!(groups, [("news", 1), ("grassroots", 2)]);
}

#[test]
fn an_article_of_an_unlisted_section_comes_last_instead_of_vanishing() {
    let candidates = [article("x", "elsewhere", 5), article("n", "news", 1)];

    let d = decide(
        &reader(),
        &schedule(20, false),
        moment(),
        &sections(),
        &candidates,
    );

    assert_eq!(ids(&d), ["n", "x"]);
}

#[test]
fn nothing_new_is_skipped_unless_the_schedule_sends_empty_digests() {
    let old = [article("old", "news", 1)];
    let r = Reader {
        watermark: Some(at(50)),
        ..reader()
    };

    let quiet = decide(&r, &schedule(20, false), moment(), &sections(), &old);
    let empty = decide(&r, &schedule(20, true), moment(), &sections(), &old);

    assert_eq!(quiet, Decision::Skip(Skip::NothingNew { since: at(50) }));
    assert_eq!(empty, Decision::Send(Picked::default()));
}

#[test]
fn a_subscriber_who_is_not_active_is_skipped_with_their_status_even_with_news() {
    let news = [article("n", "news", 1)];
    for status in [
        SubscriberStatus::Pending,
        SubscriberStatus::Unsubscribed,
        SubscriberStatus::Bounced,
    ] {
        let r = Reader { status, ..reader() };

        let d = decide(&r, &schedule(20, true), moment(), &sections(), &news);

        assert_eq!(d, Decision::Skip(Skip::NotActive(status)));
        assert_eq!(window(&r, &schedule(20, true), moment()), None);
    }
}

#[test]
fn skip_reasons_have_stable_codes_and_say_why() {
    assert_eq!(Skip::NothingNew { since: 0 }.code(), "nothing_new");
    assert_eq!(Skip::NoSections.code(), "no_sections");
    assert_eq!(Skip::Erased.code(), "erased");
    let bounced = Skip::NotActive(SubscriberStatus::Bounced);
    assert_eq!(bounced.code(), "not_active");
    assert!(bounced.to_string().contains("bounced"), "{bounced}");
}
