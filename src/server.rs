//! The accept loop: every connection goes to hyper (HTTP/1.1, or HTTP/2 with prior knowledge)
//! and every request through the one router of `http::router`, under a connection cap, the
//! timeouts below and graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{Notify, Semaphore},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::AppState;

/// A client must send each request's headers within this time, in all: counted from the
/// connection's start for the first request, and from the end of the previous answer for the
/// next ones (hyper's header timer, which never restarts while a head arrives piecemeal).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections beyond this are closed at once.
pub const MAX_CONNECTIONS: usize = 10_000;
/// How long shutdown waits for open requests.
/// Short enough that the whole exit fits a container runtime's 10 s stop timeout.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(6);

/// Serves `router` on `listener` until `shutdown` fires, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    _state: AppState,
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
        let head_deadline = tokio::time::Instant::now() + HEADER_READ_TIMEOUT;
        let _ = stream.set_nodelay(true);
        // Told when the first request's head has arrived.
        let first_request = Arc::new(Notify::new());
        let service = {
            let (router, first_request) = (router.clone(), first_request.clone());
            TowerToHyperService::new(tower::service_fn(
                move |mut req: hyper::Request<Incoming>| {
                    first_request.notify_one();
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    router.clone().oneshot(req)
                },
            ))
        };
        let io = TokioIo::new(stream);
        let conn = graceful.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            // hyper's header timer starts only once it knows the protocol, which takes the
            // first bytes; until the first request, the deadline counts from the connection's
            // start here.
            let ended = tokio::select! {
                ended = &mut conn => ended,
                _ = first_request.notified() => conn.await,
                _ = tokio::time::sleep_until(head_deadline) => {
                    tracing::debug!(%peer, "no request within the header timeout; closing");
                    return;
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after drain timeout"),
    }
}
