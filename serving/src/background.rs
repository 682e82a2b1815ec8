//! One way to run a server in the background of a test or a tool: bind a loopback port, hand
//! the listener and a stop future to the server's `run`, keep a handle that knows the URL and
//! stops the server when dropped. Each crate's test double (`hub::Hub`, `MockLooker`,
//! `MockDataplane`) and the scenario runner's wiring start this way.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A bound listener whose URL is known before the server is built (a server that puts its
/// own URL in what it serves needs it first).
#[derive(Debug)]
pub struct Binding {
    listener: TcpListener,
    url: String,
}

impl Binding {
    /// Binds `127.0.0.1:0`: a free loopback port.
    pub async fn loopback() -> io::Result<Self> {
        Self::on(TcpListener::bind("127.0.0.1:0").await?)
    }

    /// Binds a free port on `ip` (`127.0.0.2`, `0.0.0.0`, ...): a server that a hub in a
    /// container or on another loopback address must reach.
    pub async fn bind(ip: IpAddr) -> io::Result<Self> {
        Self::on(TcpListener::bind(SocketAddr::new(ip, 0)).await?)
    }

    /// Wraps a listener the caller bound.
    pub fn on(listener: TcpListener) -> io::Result<Self> {
        let url = format!("http://{}", listener.local_addr()?);
        Ok(Self { listener, url })
    }

    /// The URL handed out becomes `http://HOST:PORT` (the bound port): for a server bound to
    /// an address its clients cannot use as such (`0.0.0.0`, or one a container reaches under
    /// another name such as `host.docker.internal`). An IPv6 literal gets its brackets.
    pub fn advertised_as(mut self, host: &str) -> io::Result<Self> {
        let port = self.listener.local_addr()?.port();
        self.url = advertised_url(host, port);
        Ok(self)
    }

    /// `http://IP:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `serve(listener, stop)` on a task of the current runtime. `name` names the server
    /// in the log line written if it ends with an error.
    pub fn spawn<Fut, E>(
        self,
        name: &'static str,
        serve: impl FnOnce(TcpListener, Stop) -> Fut,
    ) -> Background
    where
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let addr = self
            .listener
            .local_addr()
            .expect("a bound listener has an address");
        let (tx, rx) = oneshot::channel();
        let fut = serve(self.listener, Stop(rx));
        let task = tokio::spawn(async move {
            fut.await.map_err(|e| {
                let text = format!("{e:#}");
                tracing::error!(server = name, error = %text, "server stopped with an error");
                text
            })
        });
        Background {
            url: self.url,
            addr,
            name,
            stop: Some(tx),
            task: Some(task),
        }
    }
}

/// `http://HOST:PORT`, with `[…]` around an IPv6 literal: the base URL a server advertised as
/// `host` hands out.
pub fn advertised_url(host: &str, port: u16) -> String {
    let host = host.trim();
    if host.contains(':') && !host.starts_with('[') {
        format!("http://[{host}]:{port}")
    } else {
        format!("http://{host}:{port}")
    }
}

/// Completes when the [`Background`] handle is dropped or shut down: the `shutdown` future a
/// server's `run` takes.
#[derive(Debug)]
pub struct Stop(oneshot::Receiver<()>);

impl Future for Stop {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A dropped sender (the handle went away) stops the server too.
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A server running on a task. Dropping it stops the server (without waiting);
/// [`shutdown`](Self::shutdown) stops it and waits for the requests in flight.
#[derive(Debug)]
pub struct Background {
    url: String,
    addr: SocketAddr,
    name: &'static str,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl Background {
    /// `http://127.0.0.1:PORT` (or the advertised host), no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits until it has finished; its error if it ended with one.
    pub async fn shutdown(mut self) -> Result<(), StopError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(text)) => Err(StopError::Failed {
                server: self.name,
                text,
            }),
            Err(_) => Err(StopError::Panicked { server: self.name }),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// How a background server ended, when not cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopError {
    /// `run` returned this error.
    Failed { server: &'static str, text: String },
    /// The server's task panicked.
    Panicked { server: &'static str },
}

impl fmt::Display for StopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { server, text } => write!(f, "{server} stopped with an error: {text}"),
            Self::Panicked { server } => write!(f, "{server} panicked"),
        }
    }
}

impl std::error::Error for StopError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_stops_the_server_and_reports_its_error() {
        let bg = Binding::loopback()
            .await
            .unwrap()
            .spawn("test", |_listener, stop| async move {
                stop.await;
                Err::<(), _>("disk full")
            });
        assert!(bg.url().starts_with("http://127.0.0.1:"));
        assert_eq!(
            bg.shutdown().await.unwrap_err().to_string(),
            "test stopped with an error: disk full"
        );
    }

    #[tokio::test]
    async fn an_advertised_binding_hands_out_the_name_with_the_bound_port() {
        let b = Binding::bind("127.0.0.1".parse().unwrap()).await.unwrap();
        let port = b.listener.local_addr().unwrap().port();
        let b = b.advertised_as("hub-host.internal").unwrap();
        assert_eq!(b.url(), format!("http://hub-host.internal:{port}"));
        assert_eq!(advertised_url("::1", 8), "http://[::1]:8");
        assert_eq!(advertised_url("[::1]", 8), "http://[::1]:8");
        assert_eq!(advertised_url("127.0.0.3", 8), "http://127.0.0.3:8");
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let (done_tx, done_rx) = oneshot::channel();
        let bg = Binding::loopback()
            .await
            .unwrap()
            .spawn("test", |_listener, stop| async move {
                stop.await;
                let _ = done_tx.send(());
                Ok::<(), std::io::Error>(())
            });
        drop(bg);
        tokio::time::timeout(std::time::Duration::from_secs(5), done_rx)
            .await
            .expect("stopped")
            .unwrap();
    }
}
