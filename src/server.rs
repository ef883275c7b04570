//! The accept loop: every connection goes to hyper (HTTP/1.1, or HTTP/2 with prior knowledge)
//! and every request through the one router of `http::router`, under a connection cap, the
//! timeouts below and graceful shutdown.

mod write_timeout;

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::{AppState, metrics::Metrics};
use write_timeout::WriteTimeout;

/// A client must send each request's headers within this time, in all: counted from the
/// connection's start for the first request, and from the end of the previous answer for the
/// next ones (hyper's header timer, which never restarts while a head arrives piecemeal).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest an idle keep-alive HTTP/1.1 connection stays open: the wait for the next
/// request's headers, which hyper bounds by [`HEADER_READ_TIMEOUT`] from the previous answer.
pub const KEEP_ALIVE_IDLE_TIMEOUT: Duration = HEADER_READ_TIMEOUT;
/// A connection whose client reads nothing of an answer for this long is closed, so that
/// clients that stopped reading cannot hold places under [`MAX_CONNECTIONS`]. Slow readers
/// are not affected: every write that gets through starts the count again.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// Open connections beyond this are closed at once.
pub const MAX_CONNECTIONS: usize = 10_000;
/// How long shutdown waits for open requests.
/// Short enough that the whole exit fits a container runtime's 10 s stop timeout.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(6);

/// Serves `router` on `listener` until `shutdown` fires, then drains open connections.
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
        .keep_alive(true)
        // A client may send its request and then close its side (shutdown(SHUT_WR)); without
        // this, hyper takes the end of input for an abandoned request and drops the answer.
        .half_close(true);
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing");
            continue;
        };
        let open = OpenConnection::new(slot, state.metrics.clone());
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
        let io = TokioIo::new(WriteTimeout::new(stream, WRITE_TIMEOUT));
        let conn = graceful.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        tokio::spawn(async move {
            let _open = open;
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

/// An open connection: its place under [`MAX_CONNECTIONS`] and in the connections gauge,
/// both given back when it is dropped.
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl OpenConnection {
    fn new(slot: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        metrics.http_connections_open.fetch_add(1, Relaxed);
        Self {
            _slot: slot,
            metrics,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics.http_connections_open.fetch_sub(1, Relaxed);
    }
}
