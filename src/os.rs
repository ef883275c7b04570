//! Process limits the server adjusts: the number of open files.

/// Raises the soft limit on open files to the hard one, as servers with many connections do
/// (the usual soft limit, 1024, is far below `server::MAX_CONNECTIONS`). Returns the limit in force.
#[cfg(target_os = "linux")]
pub fn raise_open_files_limit() -> u64 {
    let lim = nofile();
    // An unlimited hard limit still stops at what the kernel allows a process.
    let most = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1 << 20);
    let target = lim.rlim_max.min(most);
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit for setrlimit to read.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    lim.rlim_cur
}

/// The limit on open files in force now (the soft one).
#[cfg(target_os = "linux")]
pub fn open_files_limit() -> u64 {
    nofile().rlim_cur
}

#[cfg(target_os = "linux")]
fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to write; on failure it keeps the guess.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim
}

/// Elsewhere the limit is left as it is.
#[cfg(not(target_os = "linux"))]
pub fn raise_open_files_limit() -> u64 {
    u64::MAX
}
