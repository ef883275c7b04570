//! Each phrase shape of [`describe`] in both languages, and the fallback.

use super::*;

const SH: &str = "Asia/Shanghai";

fn both(cron: &str) -> (String, String) {
    let c = CronSpec::parse(cron).unwrap();
    (describe(&c, SH, "zh-CN"), describe(&c, SH, "en"))
}

#[test]
fn every_day_at_a_time() {
    let want = (
        "每天 08:00（Asia/Shanghai）".to_owned(),
        "every day at 08:00 (Asia/Shanghai)".to_owned(),
    );
    assert_eq!(both("0 8 * * *"), want);
    assert_eq!(both("0 0 8 * * *"), want, "six fields with seconds 0");
    assert_eq!(both("0 8 ? * *"), want);
    assert_eq!(both("0 8 * * 0-6"), want, "every weekday is every day");
}

#[test]
fn every_day_at_several_times() {
    assert_eq!(
        both("30 18,8 * * *"),
        (
            "每天 08:30、18:30（Asia/Shanghai）".to_owned(),
            "every day at 08:30 and 18:30 (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(
        both("0 7,12,19 * * *").1,
        "every day at 07:00, 12:00 and 19:00 (Asia/Shanghai)"
    );
}

#[test]
fn every_hour_at_a_minute() {
    assert_eq!(
        both("8 * * * *"),
        (
            "每小时第 08 分（Asia/Shanghai）".to_owned(),
            "every hour at :08 (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(
        both("0 * * * 1-5"),
        (
            "每周一至周五 每小时第 00 分（Asia/Shanghai）".to_owned(),
            "every hour at :00, Monday to Friday (Asia/Shanghai)".to_owned()
        )
    );
}

#[test]
fn every_few_minutes() {
    assert_eq!(
        both("*/15 * * * *"),
        (
            "每 15 分钟（Asia/Shanghai）".to_owned(),
            "every 15 minutes (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(
        both("* * * * *"),
        (
            "每分钟（Asia/Shanghai）".to_owned(),
            "every minute (Asia/Shanghai)".to_owned()
        )
    );
    // Every 7 minutes restarts at each full hour: not "every 7 minutes".
    assert_eq!(both("*/7 * * * *").1, "cron */7 * * * * (Asia/Shanghai)");
}

#[test]
fn a_run_of_weekdays() {
    assert_eq!(
        both("30 7 * * 1-5"),
        (
            "每周一至周五 07:30（Asia/Shanghai）".to_owned(),
            "Monday to Friday at 07:30 (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(
        both("30 7 * * MON-FRI").1,
        "Monday to Friday at 07:30 (Asia/Shanghai)"
    );
    assert_eq!(
        both("0 10 * * 5-7"),
        (
            "每周五至周日 10:00（Asia/Shanghai）".to_owned(),
            "Friday to Sunday at 10:00 (Asia/Shanghai)".to_owned()
        )
    );
}

#[test]
fn one_or_listed_weekdays() {
    assert_eq!(
        both("0 9 * * 1"),
        (
            "每周一 09:00（Asia/Shanghai）".to_owned(),
            "every Monday at 09:00 (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(
        both("0 9 * * mon").1,
        "every Monday at 09:00 (Asia/Shanghai)"
    );
    assert_eq!(
        both("0 9 * * 1,3,5"),
        (
            "每周一、周三、周五 09:00（Asia/Shanghai）".to_owned(),
            "every Monday, Wednesday and Friday at 09:00 (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(
        both("0 20 * * 0,6"),
        (
            "每周六、周日 20:00（Asia/Shanghai）".to_owned(),
            "every Saturday and Sunday at 20:00 (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(both("0 20 * * 7").0, "每周日 20:00（Asia/Shanghai）");
}

#[test]
fn days_of_the_month() {
    assert_eq!(
        both("0 8 1 * *"),
        (
            "每月 1 日 08:00（Asia/Shanghai）".to_owned(),
            "every month on day 1 at 08:00 (Asia/Shanghai)".to_owned()
        )
    );
    assert_eq!(
        both("0 8 15,1 * *"),
        (
            "每月 1 日、15 日 08:00（Asia/Shanghai）".to_owned(),
            "every month on days 1 and 15 at 08:00 (Asia/Shanghai)".to_owned()
        )
    );
}

#[test]
fn other_shapes_read_as_the_cron_itself() {
    for cron in [
        "0 8 1-7 * 1",
        "0 8 1 * 1",
        "0 8 * 1 *",
        "0 8 * * 1#2",
        "0 8 L * *",
        "0 9-17 * * *",
        "0 */2 * * *",
        "0,30 8 * * *",
        "30 0 8 * * *",
        "0 8 * * +1",
    ] {
        let c = CronSpec::parse(cron).unwrap();
        assert_eq!(
            describe(&c, SH, "en"),
            format!("cron {cron} (Asia/Shanghai)")
        );
        assert_eq!(
            describe(&c, SH, "zh-CN"),
            format!("cron {cron}（Asia/Shanghai）")
        );
    }
}

#[test]
fn the_zone_is_the_one_given() {
    let c = CronSpec::parse("0 8 * * *").unwrap();
    assert_eq!(
        describe(&c, "America/New_York", "en"),
        "every day at 08:00 (America/New_York)"
    );
}

#[test]
fn an_instant_window_reads_as_a_delay_after_publication() {
    let w = crate::domain::InstantWindow::parse("10m").unwrap();
    assert_eq!(
        super::describe_window(w, "en"),
        "within 10 minutes of a publication (at most one mail per 10 minutes to each subscriber)"
    );
    assert_eq!(
        super::describe_window(w, "zh-CN"),
        "有新文章发布后 10 分钟内发送（每位订阅者每 10 分钟最多一封）"
    );
    let w = crate::domain::InstantWindow::parse("1h 30m").unwrap();
    assert!(super::describe_window(w, "en").contains("within 1 hour 30 minutes of"));
}
