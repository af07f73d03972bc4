//! # coro-websocket
//!
//! A WebSocket (RFC 6455) client and server for async Rust, after luvit's
//! [coro-websocket](https://github.com/luvit/lit) 3.1.0: connect, then `read()` and `write()`
//! frames in straight-line code. Where the seed used Lua coroutines, this crate uses
//! `async`/`await` on tokio.
//!
//! | seed | here |
//! |---|---|
//! | `connect(options)` → `res, read, write` | [`connect`]`(`[`Options`]`)` → `(`[`Response`]`, `[`Reader`]`, `[`Writer`]`)` |
//! | `wrapIo(rawRead, rawWrite, options)` | [`wrap_io`] over a frame `Stream`/`Sink`, e.g. `Framed<_, `[`FrameCodec`]`>` |
//! | `parseUrl(url)` | [`parse_url`] → [`WsUrl`] |
//! | `read()` / `write(msg)` | [`Reader::read`] / [`Writer::write`] (plus [`Reader::read_message`], [`Writer::close`]) |
//! | `Message` | [`Message`] |
//! | Headers | [`Headers`] |
//! | server (websocket-codec `handleHandshake`) | [`accept`] with [`ServerOptions`] |
//!
//! ## Layers
//! - [`proto`] and [`handshake`]: the Sans-I/O core. No tokio, no sockets, no clock.
//! - `session` ([`wrap_io`], [`Reader`], [`Writer`]): carries out the core's write obligations.
//! - `io` ([`connect`], [`accept`]): TCP, TLS, Unix sockets; the only code that does I/O.
//!
//! ## Example
//! ```no_run
//! use coro_websocket::{connect, Message, Options};
//! # #[tokio::main] async fn main() -> Result<(), coro_websocket::Error> {
//! let (_res, mut read, mut write) = connect(Options::from_url("ws://127.0.0.1:9001/")?).await?;
//! write.write(Message::text("hello")).await?;
//! if let Some(reply) = read.read_message().await? {
//!     println!("{}", String::from_utf8_lossy(&reply.payload));
//! }
//! write.close(coro_websocket::CloseCode::NORMAL, "done").await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod blocking;
mod codec;
mod config;
mod error;
pub mod handshake;
mod io;
mod options;
pub mod proto;
mod proxy;
mod reconnect;
mod redirect;
mod session;
mod tls;
mod url;

pub use codec::{FrameCodec, MaskSource};
pub use config::{Config, ConfigError};
pub use error::{Closed, Error, TimeoutKind};
pub use handshake::{HandshakeError, Headers, Refusal, Rejection, Request};
pub use io::{accept, connect, Response, Socket};
pub use options::{Heartbeat, HeartbeatMode, Options, RequestHook, ServerOptions, WrapOptions};
pub use proto::deflate::DeflateConfig;
pub use proto::{CloseCode, CloseFrame, Message, Opcode, ProtocolError, SendError};
pub use proxy::{env_proxy, no_proxy_matches, Proxy, ProxyError};
pub use reconnect::{Backoff, Connection, Reconnect, TrackedReader};
pub use redirect::RedirectError;
pub use session::{wrap_io, Reader, Writer};
pub use tls::{Tls, TlsConfig};
pub use url::{parse_url, UrlError, WsUrl};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
