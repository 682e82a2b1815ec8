//! The accept loop and each connection's task: hyper serves the HTTP, and when a handler sets
//! a connection fault the task drops hyper's side and acts on the raw socket itself.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::faults::ConnectionFault;
use crate::state::{AppState, ConnCtl};

/// Serves until `shutdown` resolves, then stops accepting and lets open connections finish
/// (at most 5 s).
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = state.config.limits;
    let router = crate::routes::router(state);
    let drain = Some(Duration::from_secs(5));
    serving::accept_loop(listener, limits, "mock-dataplane", shutdown, drain, {
        move |stream, peer, stop| {
            let router = router.clone();
            async move {
                if let Err(e) = serve_connection(stream, peer, router, limits, stop).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        }
    })
    .await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: serving::Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    // A second descriptor of the same socket: after a fault drops hyper's side, the socket stays
    // open through this one and the fault writes (or resets) it directly.
    let std_stream = stream.into_std()?;
    let spare = std_stream.try_clone()?;
    let stream = TcpStream::from_std(std_stream)?;
    let ctl = Arc::new(ConnCtl::new(peer));
    let svc_ctl = ctl.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(svc_ctl.clone());
            router.clone().oneshot(req.map(Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Every byte read or written counts as activity; none for the idle timeout closes it.
    let idle = serving::IdleWatch::new(limits.idle_timeout);
    // Boxed (not stack-pinned) so that dropping it below really closes hyper's descriptor.
    let mut conn = Box::pin(builder.serve_connection(TokioIo::new(idle.wrap(stream)), service));
    let mut stopping = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                drop(spare);
                return res.map_err(std::io::Error::other);
            }
            _ = ctl.taken_over() => break,
            _ = idle.expired() => {
                tracing::debug!(%peer, "connection closed: idle timeout");
                drop(spare);
                return Ok(());
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    // A connection fault: hyper's half is dropped without writing anything.
    drop(conn);
    let fault = ctl.fault();
    let mut raw = TcpStream::from_std(spare)?;
    match fault {
        Some(ConnectionFault::ConnectionResetByPeer) | None => {
            raw.set_zero_linger()?;
            drop(raw);
        }
        Some(ConnectionFault::EmptyResponse) => {
            raw.shutdown().await?;
        }
        Some(ConnectionFault::RandomDataThenClose) => {
            use rand::RngExt;
            let mut garbage = vec![0u8; 256];
            rand::rng().fill(&mut garbage[..]);
            raw.write_all(&garbage).await?;
            raw.shutdown().await?;
        }
        Some(ConnectionFault::MalformedResponseChunk) => {
            raw.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz-not-a-chunk-size\r\n",
            )
            .await?;
            raw.shutdown().await?;
        }
    }
    Ok(())
}
