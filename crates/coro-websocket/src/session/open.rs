//! Starting a session: over our own frame stream and sink ([`open_owned`], [`open`]) or over
//! the caller's ([`wrap_io`]).

use std::sync::Arc;

use futures_core::Stream;
use futures_sink::Sink;

use super::owned::{Control, Owned};
use super::read::ReadCore;
use super::{Account, FrameSink, FrameStream, Reader, ShutdownHook, WebSocket, Writer};
use crate::error::Error;
use crate::options::{Heartbeat, WrapOptions};
use crate::proto::deflate::{Deflate, MessageInflater};
use crate::proto::{Connection, Message, Role};

/// Wraps a frame stream and a frame sink into a WebSocket session: the seed's `wrapIo`.
///
/// `raw_read` and `raw_write` carry whole frames, typically the two halves of a
/// `tokio_util::codec::Framed` over [`FrameCodec`](crate::FrameCodec). The returned pair behaves
/// like the one [`connect`](crate::connect) returns (which is built on this function): pings are
/// answered, closes echoed, the close handshake is bounded by `config.close_timeout`, and the
/// heartbeat runs if asked for. `options.mask` selects the role: `true` for a client.
///
/// # Panics
/// With a heartbeat, this must be called inside a tokio runtime (it spawns the heartbeat task).
///
/// ```
/// use coro_websocket::{wrap_io, FrameCodec, Message, WrapOptions, proto::Role};
/// use futures_util::StreamExt;
/// use tokio_util::codec::Framed;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), coro_websocket::Error> {
/// let (a, b) = tokio::io::duplex(4096);
/// let (client_sink, client_stream) = Framed::new(a, FrameCodec::new(Role::Client, &Default::default())).split();
/// let (server_sink, server_stream) = Framed::new(b, FrameCodec::new(Role::Server, &Default::default())).split();
/// let (_cr, mut cw) = wrap_io(client_stream, client_sink, WrapOptions { mask: true, ..Default::default() });
/// let (mut sr, _sw) = wrap_io(server_stream, server_sink, WrapOptions::default());
/// cw.write(Message::text("over a pipe")).await?;
/// let got = sr.read().await?.unwrap();
/// assert_eq!(got.as_text(), Some("over a pipe"));
/// assert!(got.mask);
/// # Ok(()) }
/// ```
pub fn wrap_io<R, W>(raw_read: R, raw_write: W, options: WrapOptions) -> (Reader, Writer)
where
    R: Stream<Item = Result<Message, Error>> + Send + 'static,
    W: Sink<Message, Error = Error> + Send + 'static,
{
    WebSocket::wrap_io(raw_read, raw_write, options).split()
}

/// What lies under a session besides its frame stream and sink.
#[derive(Default)]
pub(crate) struct Under {
    /// Ends the transport at once on abort (an OS socket's shutdown).
    pub(crate) shutdown: Option<ShutdownHook>,
    /// The stream comes from our own decoder (text already UTF-8-checked, sizes bounded).
    pub(crate) validated: bool,
    /// The negotiated permessage-deflate parameters, seen from this end.
    pub(crate) deflate: Option<Deflate>,
}

/// Builds an unsplit session; `under.validated` says the stream comes from our own decoder (so
/// text is already UTF-8-checked and sizes bounded).
pub(crate) fn open_owned(
    stream: FrameStream,
    sink: FrameSink,
    role: Role,
    config: &crate::Config,
    heartbeat: Option<Heartbeat>,
    under: Under,
) -> WebSocket {
    let Under {
        shutdown,
        validated,
        deflate,
    } = under;
    let conn = Connection::new(role).with_close_timeout(config.close_timeout);
    // Boxed, like the inflater: ~170 bytes each that connections without compression should
    // not carry.
    let deflater = deflate.map(|d| Box::new(d.deflater()));
    let control = shutdown.map(|hook| Arc::new(Control::new(hook)));
    let owned = Owned::new(conn, sink, deflater, config, control, heartbeat);
    let inflater =
        deflate.map(|d| Box::new(MessageInflater::new(d.inflater(config.max_message_size))));
    let account = Account::new(config.memory_budget.clone());
    WebSocket::new(ReadCore::new(stream, owned, validated, inflater, account))
}
