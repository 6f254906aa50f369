//! A TCP proxy between one replica and PostgreSQL whose link can be slowed
//! or cut while connections are open: the network faults of the cluster run.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the link does to the bytes crossing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Passed on at once.
    Up,
    /// Each chunk held back this long, in each direction.
    Slow(Duration),
    /// Nothing crosses, as when a network partition drops every packet:
    /// open connections stay open but silent and new ones are accepted and
    /// left waiting. When the link comes back, what was held goes through.
    Cut,
}

/// A running proxy; it stops with the runtime.
pub struct LinkProxy {
    addr: SocketAddr,
    state: watch::Sender<Link>,
}

impl LinkProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (state, _) = watch::channel(Link::Up);
        let watcher = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let link = watcher.subscribe();
                tokio::spawn(async move {
                    let _ = forward(client, upstream, link).await;
                });
            }
        });
        Ok(LinkProxy { addr, state })
    }

    /// The address replicas connect to instead of PostgreSQL's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes what the link does, for open connections too.
    pub fn set(&self, link: Link) {
        self.state.send_replace(link);
    }
}

/// Waits while the link is cut; the delay to apply to the next chunk.
async fn passage(link: &mut watch::Receiver<Link>) -> Option<Duration> {
    loop {
        let now = *link.borrow_and_update();
        match now {
            Link::Up => return Some(Duration::ZERO),
            Link::Slow(delay) => return Some(delay),
            Link::Cut => {
                if link.changed().await.is_err() {
                    return None;
                }
            }
        }
    }
}

async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    mut link: watch::Receiver<Link>,
) -> std::io::Result<()> {
    passage(&mut link).await;
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, link.clone());
    let down = pump(server_read, client_write, link);
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
    Ok(())
}

/// Copies one direction chunk by chunk, each chunk waiting for the link.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let Some(delay) = passage(&mut link).await else {
            return Ok(());
        };
        // A slow link may be cut while a chunk waits on it.
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
            if passage(&mut link).await.is_none() {
                return Ok(());
            }
        }
        to.write_all(&buf[..n]).await?;
    }
}
