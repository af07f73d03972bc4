//! The I/O layer: the only place that touches tokio sockets and rustls connections. It opens
//! TCP, TLS or Unix connections (`client`), accepts them (`server`), runs the opening handshake
//! of [`crate::handshake`] over them, and hands the byte stream to the session, whose
//! frame reader and writer read and write it.
//!
//! Everything it decides by policy comes from the layers below it: URLs and redirects
//! (`crate::url`, `crate::redirect`), proxies (`crate::proxy`), TLS settings (`crate::tls`).
//! Nothing outside this module imports from it except the crate root, `reconnect` and
//! `blocking`, which sit on top of it.

mod client;
mod conn;
#[cfg(feature = "http2")]
pub mod h2;
mod response;
mod server;
mod tunnel;
#[cfg(feature = "hyper")]
pub mod upgrade;

pub use client::connect;
pub use response::{Response, Socket};
pub use server::accept;
