//! The accept loop with its three bounds: how long a client may take to send a request head,
//! how long a connection may sit with no byte moving, and how many connections are served at
//! once.
//!
//! Why each one:
//! - **Header-read timeout.** A client that connects and sends nothing, or trickles its
//!   headers a byte at a time, otherwise holds a socket and a task forever. hyper starts this
//!   timer whenever it waits for a request head, so it also closes keep-alive connections that
//!   sit idle between requests.
//! - **Idle timeout.** Once a request is being served, hyper's head timer is off: a client
//!   that stops sending its body, or stops reading the answer, would hold the connection (and
//!   the memory of the answer it will not read) forever. [`IdleWatch`] closes a connection on
//!   which no byte moved in either direction for this long. Long answers stay alive as long as
//!   they write (the hub's keep-alive newlines, SSE keep-alive comments).
//! - **Connection limit.** Without one, a burst of idle connections exhausts the process's file
//!   descriptors and the server stops accepting anyone. With [`ConnectionGate`] the server stops
//!   *accepting* at the limit: further clients wait in the kernel's listen backlog (they are not
//!   refused) until a connection closes, and a log line says the limit was reached.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The three bounds of a server's connections. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client has to send a whole request head, counted from when the server starts
    /// waiting for it (so also the longest a keep-alive connection sits idle between
    /// requests). `None`: no limit, as rudder-server's gateway (`ReadHeaderTimeout` 0).
    pub header_read_timeout: Option<Duration>,
    /// A connection on which no byte moves in either direction for this long is closed, even
    /// mid-request. `None`: no limit.
    pub idle_timeout: Option<Duration>,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Limits {
    /// 30 s, hyper's own default. The real gateway sets none (`ReadHeaderTimeout` 0); the mocks
    /// deviate on purpose, since no real client takes 30 s to send a request head and a server
    /// that can be held open forever is a denial of service on a developer's laptop.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// 720 s, rudder-server's gateway `IdleTimeout`.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(720);
    /// 1,024 connections, or fewer when the process's file-descriptor limit could not hold
    /// them (see [`Limits::fit_descriptors`]).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

    /// Lowers `max_connections` so that `fds_per_connection` descriptors for each, plus a
    /// reserve of 64 for files, databases and outgoing connections, fit the soft
    /// `RLIMIT_NOFILE` (read from `/proc/self/limits`; unchanged where that cannot be read).
    /// At `ulimit -n 1024` a server with two descriptors per connection gets 480.
    pub fn fit_descriptors(mut self, fds_per_connection: usize) -> Self {
        if let Some(soft) = soft_nofile() {
            let fit = soft.saturating_sub(64) / fds_per_connection.max(1);
            self.max_connections = self.max_connections.min(fit.max(1));
        }
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Some(Self::DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: Some(Self::DEFAULT_IDLE_TIMEOUT),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The soft "Max open files" of this process, from `/proc/self/limits` (Linux).
fn soft_nofile() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Counts the connections being served and makes the accept loop wait at the limit.
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    permits: Arc<Semaphore>,
    limit: usize,
    /// Set while the gate is full, so the warning is logged once per saturation, not per
    /// waiting client.
    full: Arc<AtomicBool>,
    /// Names the server in the log line.
    server: &'static str,
}

impl ConnectionGate {
    pub fn new(limit: usize, server: &'static str) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            full: Arc::new(AtomicBool::new(false)),
            server,
        }
    }

    /// A permit for one connection; hold it for the connection's life. Waits while
    /// `limit` connections are open, logging once that the limit was reached.
    pub async fn admit(&self) -> OwnedSemaphorePermit {
        match self.permits.clone().try_acquire_owned() {
            Ok(p) => {
                self.full.store(false, Ordering::Relaxed);
                p
            }
            Err(_) => {
                if !self.full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        server = self.server,
                        limit = self.limit,
                        "connection limit reached: new connections wait until one closes (raise it with --max-connections)"
                    );
                }
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the gate's semaphore is never closed")
            }
        }
    }

    /// Connections being served now.
    pub fn open(&self) -> usize {
        self.limit - self.permits.available_permits()
    }
}

/// When a connection last moved a byte, shared between its I/O wrapper ([`IdleWatch::wrap`])
/// and the task that closes it ([`IdleWatch::expired`]).
#[derive(Debug, Clone)]
pub struct IdleWatch {
    start: Instant,
    /// Milliseconds after `start` of the last read or write that moved at least one byte.
    last: Arc<AtomicU64>,
    timeout: Option<Duration>,
}

impl IdleWatch {
    pub fn new(timeout: Option<Duration>) -> Self {
        Self {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            timeout,
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// The stream, with every read and write that moves a byte counted as activity.
    pub fn wrap<S>(&self, stream: S) -> Watched<S> {
        Watched {
            inner: stream,
            watch: self.clone(),
        }
    }

    /// Completes once no byte has moved for the timeout; never without one.
    pub async fn expired(&self) {
        let Some(timeout) = self.timeout else {
            return std::future::pending().await;
        };
        loop {
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = self.start + last + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A stream whose reads and writes are reported to an [`IdleWatch`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    watch: IdleWatch,
}

impl<S> Watched<S> {
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` over HTTP/1.1 on `listener` within `limits` until `shutdown` completes,
/// then stops accepting, closes idle connections and waits for the requests in flight (a
/// hub's execute finishes its Look first).
///
/// The peer's address is in each request's extensions as `axum::extract::ConnectInfo`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    server: &'static str,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    accept_loop(
        listener,
        limits,
        server,
        shutdown,
        None,
        move |stream, peer, stop| serve_connection(stream, peer, router.clone(), limits, stop),
    )
    .await;
    Ok(())
}

/// The accept loop under [`serve`], for a server that handles its connections itself
/// (mock-dataplane, whose connection faults need the raw socket): at most
/// `limits.max_connections` connections at once (a [`ConnectionGate`]), accept errors backed
/// off instead of spun on, and on `shutdown` the listener closed and every connection's `stop`
/// receiver told, then their end awaited (for at most `drain`, when given).
pub async fn accept_loop<Fut>(
    listener: TcpListener,
    limits: Limits,
    server: &'static str,
    shutdown: impl Future<Output = ()>,
    drain: Option<Duration>,
    serve_one: impl Fn(tokio::net::TcpStream, std::net::SocketAddr, watch::Receiver<bool>) -> Fut,
) where
    Fut: Future<Output = ()> + Send + 'static,
{
    let gate = ConnectionGate::new(limits.max_connections, server);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(5);
    loop {
        // At the limit, wait here: further clients queue in the listen backlog.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = gate.admit() => p,
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning, as mini-redis does.
                    tracing::warn!(server, error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            }
        };
        backoff = Duration::from_millis(5);
        let connection = serve_one(stream, peer, stop_rx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            connection.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    match drain {
        Some(limit) => {
            let _ = tokio::time::timeout(limit, stop_tx.closed()).await;
        }
        None => stop_tx.closed().await,
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let idle = IdleWatch::new(limits.idle_timeout);
    let io = TokioIo::new(idle.wrap(stream));
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            router.clone().oneshot(req.map(Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = idle.expired() => {
                tracing::debug!(%peer, "connection closed: idle timeout");
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: Limits) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, limits, "test", async {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    /// Reads until the server closes; `Err` if it did not within `within`.
    async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> Result<(), ()> {
        let mut buf = [0u8; 1024];
        tokio::time::timeout(within, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .map_err(|_| ())
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
        let (addr, _stop) = start(Limits {
            header_read_timeout: Some(Duration::from_millis(200)),
            ..Limits::default()
        })
        .await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        closed_within(&mut s, Duration::from_secs(5))
            .await
            .expect("closed");
    }

    #[tokio::test]
    async fn trickled_headers_do_not_keep_a_connection_open() {
        let (addr, _stop) = start(Limits {
            header_read_timeout: Some(Duration::from_millis(300)),
            ..Limits::default()
        })
        .await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();
        // One byte every 50 ms: each byte is progress, but the head never completes in time.
        for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        closed_within(&mut s, Duration::from_secs(5))
            .await
            .expect("closed");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_stalled_body_is_closed_after_the_idle_timeout() {
        let (addr, _stop) = start(Limits {
            idle_timeout: Some(Duration::from_millis(300)),
            ..Limits::default()
        })
        .await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The head is complete (so the head timer is off); the promised body never comes.
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            .await
            .unwrap();
        closed_within(&mut s, Duration::from_secs(5))
            .await
            .expect("closed");
    }

    #[tokio::test]
    async fn at_the_limit_new_connections_wait_and_are_served_when_one_closes() {
        let (addr, _stop) = start(Limits {
            max_connections: 1,
            ..Limits::default()
        })
        .await;
        let first = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Give the accept loop time to admit the first connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        second
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let waited =
            tokio::time::timeout(Duration::from_millis(300), second.read_to_end(&mut buf)).await;
        assert!(waited.is_err(), "served beyond the limit: {buf:?}");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut buf))
            .await
            .expect("served after the first closed")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn fitting_descriptors_never_raises_the_limit() {
        let l = Limits::default().fit_descriptors(2);
        assert!(l.max_connections <= Limits::DEFAULT_MAX_CONNECTIONS);
        assert!(l.max_connections >= 1);
    }
}
