//! # coro-websocket
//!
//! A WebSocket (RFC 6455) client and server for async Rust, after luvit's coro-websocket 3.1.0:
//! [`connect`], then [`Reader::read`] and [`Writer::write`] frames in straight-line code. Where
//! the seed used Lua coroutines, this crate uses `async`/`await` on tokio. The README maps each
//! item of the seed to its counterpart here.
//!
//! ## Layers
//! - [`proto`] and [`handshake`]: the Sans-I/O core. No tokio, no sockets, no clock.
//! - the session ([`wrap_io`], [`Reader`], [`Writer`]): carries out the core's write
//!   obligations over any frame stream and sink (the seed's `wrapIo`).
//! - the I/O layer ([`connect`], [`accept`]): TCP, TLS, Unix sockets, proxies; the only code
//!   that does I/O.
//!
//! The crate root holds the seed's names and what a server needs; errors are in [`error`],
//! proxy settings in [`proxy`], reconnection in [`reconnect`], a blocking client in
//! [`blocking`].
//!
//! ## Example
//! ```no_run
//! use coro_websocket::{connect, CloseCode, Message, Options};
//! # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
//! let (_res, mut read, mut write) = connect(Options::from_url("ws://127.0.0.1:9001/")?).await?;
//! write.write(Message::text("hello")).await?;
//! if let Some(reply) = read.read_message().await? {
//!     println!("{}", String::from_utf8_lossy(&reply.payload));
//! }
//! write.close(CloseCode::NORMAL, "done").await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod blocking;
pub mod codec;
mod config;
pub mod error;
pub mod handshake;
mod io;
mod options;
pub mod proto;
pub mod proxy;
pub mod pubsub;
pub mod reconnect;
mod redirect;
mod session;
mod tls;
mod url;

// The seed's API: connect, wrapIo, parseUrl, read/write, Message, Options, Response.
pub use codec::FrameCodec;
pub use handshake::Headers;
pub use io::{connect, Response, Socket};
pub use options::{Heartbeat, HeartbeatMode, Http, Options, WrapOptions};
pub use proto::{Message, Opcode};
pub use session::{wrap_io, MemoryBudget, Reader, WebSocket, Writer};
pub use tls::{Tls, TlsConfig};
pub use url::{parse_url, WsUrl};

// A server: accept, its options, the request and the refusal.
pub use handshake::{Rejection, Request};
pub use io::accept;
#[cfg(feature = "hyper")]
pub use io::upgrade;

/// WebSockets over HTTP/2 (RFC 8441) on the client side: many over one connection.
#[cfg(feature = "http2")]
pub mod http2 {
    pub use crate::io::h2::{Http2Client, Http2Stream};
}
pub use options::{RequestHook, ServerOptions};

// Closing, roles, limits, compression, proxies, errors.
pub use config::Config;
pub use error::Error;
pub use proto::deflate::DeflateConfig;
pub use proto::{CloseCode, CloseFrame, Role};
pub use proxy::Proxy;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
