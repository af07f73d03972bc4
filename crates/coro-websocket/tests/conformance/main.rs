//! Conformance tests after the Autobahn|Testsuite, run in the repository instead of against a
//! fuzzingserver/fuzzingclient.
//!
//! Every case is a script for a raw peer over a real `127.0.0.1:0` socket. It runs twice, as in
//! Autobahn's two modes:
//! - against our **server** running an echo loop (`accept`, then `read_message` + `write`), the
//!   raw peer being a client that masks its frames;
//! - against our **client** running the same echo loop (`connect`, then `read_message` + `write`),
//!   the raw peer being a server that does not mask;
//! - and both again over one HTTP/2 stream (RFC 8441): our server inside a hyper HTTP/2
//!   connection (`upgrade`), our client with `Http::Http2` against a bare h2 server. The frames,
//!   and so the cases, are the same; END_STREAM stands where TCP's close stood.
//!
//! A script sends frames (whole, frame by frame, chopped into pieces, or with part of a frame
//! withheld) and expects exactly what comes back: echoed messages, pongs, then either a clean
//! closing handshake or a failed connection (a close frame with a code from an allowed set, then
//! TCP closed). Expectations are strict: any frame the script does not expect fails the case. A
//! script that does not end in a close or a failure ends with a normal closing handshake started
//! by the raw peer, so every case also checks that the connection ends cleanly.
//!
//! Case ids follow Autobahn's numbering (`c5_19_...` is Autobahn case 5.19), sometimes adapted
//! (a reserved opcode always comes after a valid text, which must be echoed first); numbers
//! Autobahn does not use are extra cases in the spirit of that section. The violation table of
//! `rfc6455.rs` (which also checks the reported `ProtocolError`) is not repeated here.
//!
//! Not covered: Autobahn sections 12 and 13 (permessage-deflate; every case here runs without
//! extensions, so RSV1 is always a violation), the opening handshake (see `server.rs`, `client_handshake.rs`), and section 9's
//! timings (no speed assertions; sizes are scaled down to 1 MiB, with one 16 MiB case).
//!
//! Layout: `script` is the language cases are written in, `runner` plays them against our
//! endpoint; each other module is one section of Autobahn (and so of RFC 6455) and builds that
//! section's cases. A new case goes into its section's function; a new section gets a module, a
//! `use` below and a name in `groups!`.

#[path = "../common/mod.rs"]
mod common;
mod runner;
mod script;

mod close;
mod fragmentation;
mod framing;
mod limits;
mod misc;
mod opcodes;
mod pings;
mod reserved_bits;
mod utf8;

use close::g7_close;
use fragmentation::g5_fragmentation;
use framing::g1_framing;
use limits::g9_limits;
use misc::g10_misc;
use opcodes::g4_opcodes;
use pings::g2_pings;
use reserved_bits::g3_reserved_bits;
use runner::{run_group, Ours};
use utf8::g6_utf8;

macro_rules! groups {
    ($($group:ident),* $(,)?) => {$(
        mod $group {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server() {
                run_group(stringify!($group), super::$group(), Ours::Server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client() {
                run_group(stringify!($group), super::$group(), Ours::Client).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server_over_http2() {
                run_group(stringify!($group), super::$group(), Ours::ServerOverHttp2).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client_over_http2() {
                run_group(stringify!($group), super::$group(), Ours::ClientOverHttp2).await;
            }
        }
    )*

        /// Every id is unique and names its Autobahn section.
        #[test]
        fn case_ids_are_unique_and_numbered() {
            let mut seen = std::collections::HashSet::new();
            for (group, cases) in [$((stringify!($group), $group())),*] {
                let section = group.split('_').next().unwrap().trim_start_matches('g');
                for c in cases {
                    assert!(c.id.starts_with(&format!("c{section}_")), "{group}: {}", c.id);
                    assert!(seen.insert(c.id.clone()), "duplicate case id {}", c.id);
                }
            }
        }
    };
}

groups!(
    g1_framing,
    g2_pings,
    g3_reserved_bits,
    g4_opcodes,
    g5_fragmentation,
    g6_utf8,
    g7_close,
    g9_limits,
    g10_misc,
);
