//! The ceiling for `bench/run.sh`: a bare hyper HTTP/1.1 server answering
//! every request with an empty `200 OK` — the most any HTTP server on tokio
//! and hyper can answer on this machine, with no routing, no middleware and
//! no work.
//!
//! ```text
//! ceiling [ADDRESS]        (default 127.0.0.1:18790)
//! ```
//! It runs tokio's multi-threaded runtime with one worker per CPU it may use
//! (as Tessera does), keep-alive on and Nagle off, until killed.

use anyhow::{Context, Result};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;

async fn answer(_request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
    Ok(Response::new(Empty::new()))
}

fn main() -> Result<()> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18790".into())
        .parse()
        .context("ADDRESS must be host:port")?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(address))
}

async fn serve(address: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
