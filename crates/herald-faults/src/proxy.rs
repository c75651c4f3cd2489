//! A TCP proxy on loopback that a chaos scenario controls: it forwards to one upstream
//! address until it is cut (every open connection closed, new ones closed at once) or
//! stalled (connections stay open but no byte moves either way; what a cut then closes
//! is lost), then forwards again once restored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running proxy; it stops when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub address: SocketAddr,
    open: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
    stalled: watch::Sender<bool>,
    held: watch::Sender<u64>,
    accepted: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let open = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (stalled, _) = watch::channel(false);
        let (held, _) = watch::channel(0u64);
        let (accepted, _) = watch::channel(0u64);
        let links = Links {
            upstream,
            open: Arc::clone(&open),
            cuts: cuts.clone(),
            stalled: stalled.clone(),
            held: held.clone(),
            accepted: accepted.clone(),
        };
        let task = tokio::spawn(accept(listener, links));
        Ok(Proxy { address, open, cuts, stalled, held, accepted, task })
    }

    /// Closes every connection, and each new one at once, until [`Proxy::restore`].
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|cuts| *cuts += 1);
    }

    /// Holds every byte in both directions, connections left open, until
    /// [`Proxy::restore`].
    pub fn stall(&self) {
        self.held.send_replace(0);
        self.stalled.send_replace(true);
    }

    /// Returns once the stalled proxy holds bytes it read (from either side), so that a
    /// cut now loses them.
    pub async fn holding(&self) {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|bytes| *bytes > 0).await;
    }

    /// Returns once `count` connections have been forwarded since the start (e.g. a
    /// client's reconnection after a cut).
    pub async fn forwarded(&self, count: u64) {
        let mut accepted = self.accepted.subscribe();
        let _ = accepted.wait_for(|accepted| *accepted >= count).await;
    }

    /// Connections forwarded since the start.
    pub fn forwarded_so_far(&self) -> u64 {
        *self.accepted.borrow()
    }

    /// Forwards again: new connections after a cut, held bytes after a stall.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.stalled.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// What every forwarded connection watches.
#[derive(Clone)]
struct Links {
    upstream: String,
    open: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
    stalled: watch::Sender<bool>,
    /// Bytes read and held since the last stall began.
    held: watch::Sender<u64>,
    /// Connections forwarded.
    accepted: watch::Sender<u64>,
}

async fn accept(listener: TcpListener, links: Links) {
    while let Ok((client, _)) = listener.accept().await {
        if !links.open.load(Ordering::SeqCst) {
            drop(client); // refused while cut
            continue;
        }
        links.accepted.send_modify(|accepted| *accepted += 1);
        tokio::spawn(forward(client, links.clone()));
    }
}

/// Forwards one connection both ways until either side closes or the proxy is cut.
async fn forward(client: TcpStream, links: Links) {
    let Ok(server) = TcpStream::connect(&links.upstream).await else { return };
    let mut cut = links.cuts.subscribe();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = pump(client_read, server_write, &links) => {}
        _ = pump(server_read, client_write, &links) => {}
        _ = cut.changed() => {} // both sides dropped: the peers see the connection gone
    }
}

/// Copies `from` to `to`, holding what it read while the proxy is stalled.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    links: &Links,
) -> std::io::Result<()> {
    let mut stalled = links.stalled.subscribe();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        if *stalled.borrow() {
            links.held.send_modify(|held| *held += read as u64);
        }
        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
            return Ok(()); // the proxy is gone
        }
        to.write_all(&buffer[..read]).await?;
    }
}
