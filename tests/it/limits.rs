//! Process limits: `tidings serve` raises its soft limit on open files to the hard one, so
//! that connections and cached feed files are not capped at the usual 1024.

use crate::common;

use std::os::unix::process::CommandExt;

/// The soft and hard "Max open files" of a running process.
fn open_files(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

#[test]
fn serve_raises_the_soft_limit_on_open_files_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut command = common::process::serve_command(&db_url, &dir.path().join("outbox"));
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            lim.rlim_cur = lim.rlim_max.min(256);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (mut child, _, early_log) = common::process::start(command);
    let logged = early_log
        .iter()
        .find(|line| line.contains("limit on open files"))
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["fields"]["open_files"].to_string()
        });
    let (soft, hard) = open_files(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        hard == "unlimited" || hard.parse::<u64>().unwrap() > 256,
        "hard limit {hard}: nothing to raise"
    );
    if hard == "unlimited" {
        // Raised as far as the kernel allows a process (fs.nr_open).
        assert!(soft.parse::<u64>().unwrap() > 256, "soft limit {soft}");
    } else {
        assert_eq!(soft, hard, "the soft limit is raised to the hard one");
    }
    assert_eq!(
        logged.as_deref(),
        Some(soft.as_str()),
        "the limit in force is logged"
    );
}
