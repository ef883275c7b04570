//! The accept loop: the short path for cached feed documents (`feeds::fast`), then hyper with
//! a header-read timeout, a connection cap and graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::{AppState, feeds::fast};

/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections beyond this are closed at once.
pub const MAX_CONNECTIONS: usize = 10_000;
/// How long shutdown waits for open requests.
/// Short enough that the whole exit fits a container runtime's 10 s stop timeout.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(6);

/// Raises the soft limit on open files to the hard one, as servers with many connections do
/// (the usual soft limit, 1024, is far below `MAX_CONNECTIONS`). Returns the limit in force.
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

/// Serves `router` on `listener` until `shutdown` fires, then drains open connections. Each
/// connection starts on the short path for `state`'s cached feed documents.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    state: AppState,
    shutdown: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                router.clone().oneshot(req)
            },
        ));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let state = state.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let io = match fast::serve(stream, &state, &shutdown, HEADER_READ_TIMEOUT).await {
                fast::Next::Closed => return,
                fast::Next::HandOff(io) => io,
            };
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after drain timeout"),
    }
}
