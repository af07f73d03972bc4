//! permessage-deflate (RFC 7692) over real sockets: our client and our server with each other,
//! and with raw peers that check the wire (RSV1, compressed bytes, window sizes, context
//! takeover) or misbehave (RSV1 without negotiation or in the wrong place, corrupt data, invalid
//! UTF-8, answers that were never offered).
//!
//! The decompression bomb has its own file, `deflate_bomb.rs`, so that its memory measurement
//! sees no other test.
//!
//! Layout: `helpers` holds what several files share (configs, sessions, raw compressing peers,
//! the failing-peer checks); each other module is one topic:
//! - `round_trip`: our client with our server;
//! - `client_wire`, `server_wire`: what each of our sides puts on the wire, seen by a raw peer;
//! - `compressed_peer`: what a compressing peer may send (fragments, RFC 7692 example blocks);
//! - `violations`: RSV bits, corrupt data and invalid UTF-8, each failing the connection;
//! - `negotiation`: the client's check of answers, the server's choice among offers.

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod client_wire;
mod compressed_peer;
mod negotiation;
mod round_trip;
mod server_wire;
mod violations;
