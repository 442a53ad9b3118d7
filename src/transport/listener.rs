//! The HTTP server's accept loop: hyper's HTTP/1.1 connection with a header
//! read timeout, a cap on open connections below the process's file
//! descriptor limit, and room for new clients when the cap is reached.
//!
//! A client that sends its request head slowly (or nothing at all) is cut
//! off by hyper after `header_read_timeout`; the same timeout closes a kept
//! alive connection that sends no next request. That alone still lets many
//! slow clients hold every descriptor for that long, so the loop also keeps
//! at most `max_connections` open (by default well below `RLIMIT_NOFILE`,
//! leaving descriptors for the store, logs and agent processes). When they
//! are all taken, the oldest *idle* connection — one without a request in
//! flight: still sending its head, or kept alive between requests — is
//! closed for the new one. Connections serving a request or a stream are
//! never dropped for a newcomer; if every one is busy, the loop waits for
//! one to end (new clients wait in the listen backlog). An `accept` that
//! fails for lack of descriptors (EMFILE) does the same, then tries again.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Descriptors left to the rest of the process when the connection cap is
/// derived from `RLIMIT_NOFILE`: the store, log files, agent processes'
/// pipes, outgoing HTTP (D1, R2, model APIs).
pub const RESERVED_FDS: usize = 48;
/// The connection cap when the descriptor limit allows more.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The most connections `--max-connections` may ask for.
const MAX_CONNECTIONS_CAP: usize = 1 << 20;
/// Pause after an `accept` error other than a refused connection.
const ACCEPT_RETRY: Duration = Duration::from_millis(20);

/// How many connections may be open, and how long a request head may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    /// 0: derived from the descriptor limit ([`default_max_connections`]).
    pub max_connections: usize,
}

/// `min(1024, RLIMIT_NOFILE − 48)`, at least 8.
pub fn default_max_connections() -> usize {
    let fds = open_file_limit().unwrap_or(DEFAULT_MAX_CONNECTIONS + RESERVED_FDS);
    fds.saturating_sub(RESERVED_FDS)
        .clamp(8, DEFAULT_MAX_CONNECTIONS)
}

#[cfg(unix)]
fn open_file_limit() -> Option<usize> {
    let (soft, _hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()?;
    usize::try_from(soft).ok()
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<usize> {
    None
}

/// One open connection, as the accept loop sees it.
struct Open {
    /// Requests in flight, including a response body still streaming.
    active: Arc<AtomicUsize>,
    /// Closes the connection at once (to make room).
    close: CancellationToken,
}

#[derive(Default)]
struct Connections {
    next: u64,
    /// By accept order: the first idle one is the oldest.
    open: BTreeMap<u64, Open>,
}

impl Connections {
    /// Adds a connection just accepted; returns its id.
    fn register(&mut self, active: Arc<AtomicUsize>, close: CancellationToken) -> u64 {
        let id = self.next;
        self.next += 1;
        self.open.insert(id, Open { active, close });
        id
    }

    /// Closes the oldest connection without a request in flight.
    fn close_oldest_idle(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, c)| c.active.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.open.remove(&id)) {
            Some(connection) => {
                connection.close.cancel();
                true
            }
            None => false,
        }
    }
}

fn lock(connections: &Mutex<Connections>) -> std::sync::MutexGuard<'_, Connections> {
    connections
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets every connection finish its request in flight and
/// returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max = match limits.max_connections {
        0 => default_max_connections(),
        n => n.min(MAX_CONNECTIONS_CAP),
    };
    tracing::info!(
        max_connections = max,
        header_read_timeout_secs = limits.header_read_timeout.as_secs_f64(),
        "accepting HTTP connections"
    );
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(max));
    let connections = Arc::new(Mutex::new(Connections::default()));
    let stopping = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let Some(slot) = free_slot(&slots, &connections, max, shutdown.as_mut()).await else {
            break;
        };
        let Some((stream, peer)) = accept(&listener, &connections, shutdown.as_mut()).await else {
            break;
        };
        spawn_connection(&http1, &app, stream, peer, &connections, &stopping, slot);
    }

    stopping.cancel();
    // Every connection holds a slot until it has closed.
    let _ = slots.acquire_many(max as u32).await;
}

/// Serves one client until it closes, is closed to make room for another,
/// or (once `stopping`) has finished its request in flight; then frees its
/// slot.
fn spawn_connection(
    http1: &hyper::server::conn::http1::Builder,
    app: &Router,
    stream: TcpStream,
    peer: SocketAddr,
    connections: &Arc<Mutex<Connections>>,
    stopping: &CancellationToken,
    slot: OwnedSemaphorePermit,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let close = CancellationToken::new();
    let id = lock(connections).register(Arc::clone(&active), close.clone());
    let service = ConnectionService {
        app: app.clone(),
        peer,
        active,
    };
    let connection = http1.serve_connection(TokioIo::new(stream), service);
    let stopping = stopping.clone();
    let connections = Arc::clone(connections);
    tokio::spawn(async move {
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            }
            () = close.cancelled() => {
                tracing::debug!(%peer, "closed an idle connection to make room");
            }
            () = stopping.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
        lock(&connections).open.remove(&id);
        drop(slot);
    });
}

/// A slot for the next connection; `None` on shutdown. When all are taken,
/// makes room by closing the oldest idle connection, or waits for a busy
/// one to end.
async fn free_slot(
    slots: &Arc<Semaphore>,
    connections: &Mutex<Connections>,
    max: usize,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        return Some(slot);
    }
    if !lock(connections).close_oldest_idle() {
        tracing::warn!(
            max_connections = max,
            "every connection is serving a request; new clients wait"
        );
    }
    tokio::select! {
        slot = Arc::clone(slots).acquire_owned() => slot.ok(),
        () = shutdown => None,
    }
}

/// The next client; `None` on shutdown. Retries failed accepts.
async fn accept(
    listener: &TcpListener,
    connections: &Mutex<Connections>,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let error = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(error) => error,
            },
            () = shutdown.as_mut() => return None,
        };
        if !is_connection_error(&error) {
            // Most likely out of descriptors (EMFILE): free one.
            let closed = lock(connections).close_oldest_idle();
            tracing::warn!(%error, closed_idle = closed, "accept failed; retrying");
            tokio::select! {
                () = tokio::time::sleep(ACCEPT_RETRY) => {}
                () = shutdown.as_mut() => return None,
            }
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// The app, for one connection: records the peer address and counts the
/// requests in flight until their response bodies end.
#[derive(Clone)]
struct ConnectionService {
    app: Router,
    peer: SocketAddr,
    active: Arc<AtomicUsize>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = hyper::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(Arc::clone(&self.active));
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.oneshot(request.map(Body::new)).await?;
            Ok(response.map(|body| {
                Body::new(TrackedBody {
                    inner: body,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// One request in flight on a connection, until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(active: Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::AcqRel);
        InFlight(active)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until it
/// has been sent (or dropped).
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
