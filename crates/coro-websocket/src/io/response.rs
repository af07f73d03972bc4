//! What a client gets back from a successful upgrade: the seed's `Response`, and its socket.

use std::net::SocketAddr;
use std::path::Path;

use super::conn::Addrs;
use crate::handshake::Headers;
use crate::session::Handle;

/// The answer to a successful upgrade: the seed's `Response` structure.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status code: 101.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// The HTTP version (the seed's decimal `version`: 1.1 is `HTTP_11`).
    pub version: http::Version,
    /// Whether the response asked to keep the HTTP connection alive; after an upgrade this is
    /// usually `false` (`Connection: Upgrade`).
    pub keep_alive: bool,
    /// The response headers, in order, exactly as received.
    pub headers: Headers,
    /// The subprotocol the server selected, if any.
    pub subprotocol: Option<String>,
    /// The extensions the server selected, if any.
    pub extensions: Option<String>,
    /// The socket the connection runs over.
    pub socket: Socket,
    /// The URLs requested, in order: the first is the one asked for, each next one the target
    /// of a redirect, and the last the one that answered 101. One entry when there was no
    /// redirect.
    pub url_chain: Vec<String>,
}

/// A handle on the connection's socket: addresses and `shutdown()`, as the seed's `res.socket`.
///
/// It does not keep the connection alive: once the reader and writer are dropped, the socket is
/// closed and `shutdown()` does nothing.
#[derive(Debug, Clone)]
pub struct Socket {
    addrs: Addrs,
    session: Handle,
}

impl Socket {
    pub(super) fn new(addrs: Addrs, session: Handle) -> Socket {
        Socket { addrs, session }
    }

    /// The same socket, its session now reached through `session` (after a split).
    pub(super) fn with_session(self, session: Handle) -> Socket {
        Socket { session, ..self }
    }

    /// The local address, for TCP.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addrs.local
    }

    /// The peer's address, for TCP.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.addrs.peer
    }

    /// The socket path, for a Unix socket.
    pub fn unix_path(&self) -> Option<&Path> {
        self.addrs.unix_path.as_deref()
    }

    /// Ends the connection at once, without a close handshake: the socket is shut down both
    /// ways, the reader returns `Ok(None)` and writes fail. This is `res.socket:shutdown()`.
    pub fn shutdown(&self) {
        self.session.shutdown();
    }
}
