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
