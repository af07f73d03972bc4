//! RFC 6455 protocol rules, in both roles, over real sockets: a raw peer writes hand-crafted frame
//! bytes and checks what our side answers on the wire. The close-timeout tests run on tokio's
//! paused clock over in-memory pipes instead (see [`setup_over_pipe`]).

mod common;

use std::time::Duration;

use common::*;
use coro_websocket::{
    connect,
    error::{ProtocolError, TimeoutKind},
    CloseCode, Config, Error, Message, Opcode, Options, Reader, ServerOptions, Writer,
};
use tokio::io::DuplexStream;
use tokio::time::Instant;

/// Which end of the connection is ours (the other end is a [`RawPeer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ours {
    Client,
    Server,
}

const BOTH: [Ours; 2] = [Ours::Client, Ours::Server];

fn limits() -> Config {
    let mut c = Config::default();
    c.max_frame_size = 1000;
    c.max_message_size = 1500;
    c
}

/// Opens a connection between our endpoint (in role `ours`, with `config`) and a raw peer.
async fn setup(ours: Ours, config: Config) -> (RawPeer, Reader, Writer) {
    match ours {
        Ours::Server => {
            let (addr, accepted) = accept_one(ServerOptions {
                config,
                ..Default::default()
            })
            .await;
            let peer = raw_client(addr).await;
            let (_req, reader, writer) = soon(accepted).await.unwrap().unwrap();
            (peer, reader, writer)
        }
        Ours::Client => {
            let (addr, raw) = raw_server().await;
            let (_res, reader, writer) = connect(Options {
                host: Some("127.0.0.1".into()),
                port: Some(addr.port()),
                config,
                ..Default::default()
            })
            .await
            .unwrap();
            let (peer, _head) = soon(raw).await.unwrap();
            (peer, reader, writer)
        }
    }
}

/// Like [`setup`], over an in-memory pipe, for the tests on tokio's paused clock (which jumps
/// whenever every task waits, and so could fire a timeout while a real socket's bytes are still on
/// their way). In the client role, our side is the session `connect` builds after its handshake.
async fn setup_over_pipe(ours: Ours, config: Config) -> (RawPeer<DuplexStream>, Reader, Writer) {
    match ours {
        Ours::Server => {
            server_over_pipe(ServerOptions {
                config,
                ..Default::default()
            })
            .await
        }
        Ours::Client => client_over_pipe(config, None),
    }
}

/// Reads until the first error, skipping frames that arrive before it.
async fn first_error(reader: &mut Reader) -> Error {
    loop {
        match soon(reader.read()).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("connection ended cleanly instead of failing"),
            Err(e) => return e,
        }
    }
}

/// A violation: the bytes the peer sends (given the masking key of a well-formed frame from it),
/// the error our side must report, and the close code it must send.
struct Case {
    name: &'static str,
    only: Option<Ours>,
    bytes: fn(Option<[u8; 4]>) -> Vec<u8>,
    error: ProtocolError,
    code: u16,
}

fn cases() -> Vec<Case> {
    let case = |name, bytes, error, code| Case {
        name,
        only: None,
        bytes,
        error,
        code,
    };
    vec![
        Case {
            name: "unmasked client frame",
            only: Some(Ours::Server),
            bytes: |_| frame(true, 0, 2, None, b"x"),
            error: ProtocolError::UnmaskedFrame,
            code: 1002,
        },
        Case {
            name: "masked server frame",
            only: Some(Ours::Client),
            bytes: |_| frame(true, 0, 2, Some(KEY), b"x"),
            error: ProtocolError::MaskedFrame,
            code: 1002,
        },
        case(
            "RSV1 set",
            |m| frame(true, 0b100, 2, m, b"x"),
            ProtocolError::ReservedBits,
            1002,
        ),
        case(
            "RSV3 set",
            |m| frame(true, 0b001, 1, m, b"x"),
            ProtocolError::ReservedBits,
            1002,
        ),
        case(
            "reserved data opcode 3",
            |m| frame(true, 0, 3, m, b"x"),
            ProtocolError::ReservedOpcode(3),
            1002,
        ),
        case(
            "reserved control opcode 0xB",
            |m| frame(true, 0, 0xB, m, b""),
            ProtocolError::ReservedOpcode(0xB),
            1002,
        ),
        case(
            "control frame with a 126-byte payload",
            |m| frame(true, 0, 9, m, &[b'p'; 126]),
            ProtocolError::ControlFrameTooLong(126),
            1002,
        ),
        case(
            "fragmented ping",
            |m| frame(false, 0, 9, m, b"p"),
            ProtocolError::FragmentedControlFrame,
            1002,
        ),
        case(
            "continuation without a start",
            |m| frame(true, 0, 0, m, b"x"),
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        case(
            "new text frame during a fragmented message",
            |m| [frame(false, 0, 1, m, b"a"), frame(true, 0, 1, m, b"b")].concat(),
            ProtocolError::ExpectedContinuation,
            1002,
        ),
        case(
            "invalid UTF-8 in a single text frame",
            |m| frame(true, 0, 1, m, b"ok \xff\xfe"),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        case(
            "invalid UTF-8 split across fragments",
            // Each fragment alone is a valid prefix; together 0xCE 0x41 is not UTF-8.
            |m| [frame(false, 0, 1, m, b"a\xce"), frame(true, 0, 0, m, b"A")].concat(),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        case(
            "text message ending inside a code point",
            |m| {
                [
                    frame(false, 0, 1, m, b"\xf0\x9f"),
                    frame(true, 0, 0, m, b"\x98"),
                ]
                .concat()
            },
            ProtocolError::InvalidUtf8,
            1007,
        ),
        case(
            "close frame with a 1-byte payload",
            |m| frame(true, 0, 8, m, b"\x03"),
            ProtocolError::InvalidCloseLength,
            1002,
        ),
        case(
            "close code 1005",
            |m| frame(true, 0, 8, m, &close_payload(1005, b"")),
            ProtocolError::InvalidCloseCode(1005),
            1002,
        ),
        case(
            "close code 999",
            |m| frame(true, 0, 8, m, &close_payload(999, b"")),
            ProtocolError::InvalidCloseCode(999),
            1002,
        ),
        case(
            "close code 1016",
            |m| frame(true, 0, 8, m, &close_payload(1016, b"")),
            ProtocolError::InvalidCloseCode(1016),
            1002,
        ),
        case(
            "close code 5000",
            |m| frame(true, 0, 8, m, &close_payload(5000, b"")),
            ProtocolError::InvalidCloseCode(5000),
            1002,
        ),
        case(
            "close reason not UTF-8",
            |m| frame(true, 0, 8, m, &close_payload(1000, b"bad \xc3\x28")),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        case(
            "frame over max_frame_size",
            |m| frame(true, 0, 2, m, &[0; 1001]),
            ProtocolError::FrameTooBig {
                len: 1001,
                max: 1000,
            },
            1009,
        ),
        case(
            "fragmented message over max_message_size",
            |m| {
                [
                    frame(false, 0, 2, m, &[1; 600]),
                    frame(false, 0, 0, m, &[2; 600]),
                    frame(true, 0, 0, m, &[3; 600]),
                ]
                .concat()
            },
            ProtocolError::MessageTooBig {
                len: 1800,
                max: 1500,
            },
            1009,
        ),
        case(
            "header announcing 1 GiB, no payload sent",
            |m| header(true, 0, 2, m, 1 << 30),
            ProtocolError::FrameTooBig {
                len: 1 << 30,
                max: 1000,
            },
            1009,
        ),
        case(
            "64-bit length with the top bit set",
            |m| header(true, 0, 2, m, 1 << 63),
            ProtocolError::LengthTopBit,
            1002,
        ),
        case(
            "16-bit length that fits in 7 bits",
            |m| {
                let mut h = header(true, 0, 2, m, 200);
                h[2..4].copy_from_slice(&5u16.to_be_bytes());
                [h, mask_from(b"12345", m.unwrap_or([0; 4]), 0)].concat()
            },
            ProtocolError::NonMinimalLength,
            1002,
        ),
    ]
}

/// Runs every violation against our endpoint in role `ours`; collects all failures.
async fn violations(ours: Ours) {
    let mut failures = Vec::new();
    for case in cases()
        .into_iter()
        .filter(|c| c.only.is_none_or(|o| o == ours))
    {
        let (mut peer, mut reader, _writer) = setup(ours, limits()).await;
        peer.send(&(case.bytes)(peer.mask())).await;
        let err = first_error(&mut reader).await;
        if !matches!(&err, Error::Protocol(p) if *p == case.error) {
            failures.push(format!(
                "{}: error {err:?}, expected {:?}",
                case.name, case.error
            ));
        }
        let close = peer.expect_close().await;
        if close.close_code() != Some(case.code) {
            failures.push(format!(
                "{}: close {:?}, expected {}",
                case.name,
                close.close_code(),
                case.code
            ));
        }
        if close.masked != (ours == Ours::Client) {
            failures.push(format!("{}: close frame masking is wrong", case.name));
        }
        // RFC 6455 §7.1.7: after failing, the endpoint closes the connection.
        peer.expect_eof().await;
    }
    assert!(failures.is_empty(), "{ours:?}:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn violations_fail_the_server_with_the_right_close_code() {
    violations(Ours::Server).await;
}

#[tokio::test]
async fn violations_fail_the_client_with_the_right_close_code() {
    violations(Ours::Client).await;
}

// RFC 6455 §8.1: invalid UTF-8 fails the connection as soon as it arrives, mid-frame.
#[tokio::test]
async fn invalid_utf8_fails_before_the_frame_is_complete() {
    for ours in BOTH {
        let (mut peer, mut reader, _writer) = setup(ours, Config::default()).await;
        let m = peer.mask();
        let first = b"ab\xff\xfecd";
        let mut bytes = header(true, 0, 1, m, 20);
        bytes.extend(mask_from(first, m.unwrap_or([0; 4]), 0));
        peer.send(&bytes).await;
        // The remaining 14 bytes are never sent: the error must come without them.
        let err = first_error(&mut reader).await;
        assert!(
            matches!(err, Error::Protocol(ProtocolError::InvalidUtf8)),
            "{ours:?}: {err:?}"
        );
        assert_eq!(
            peer.expect_close().await.close_code(),
            Some(1007),
            "{ours:?}"
        );
    }
}

// RFC 6455 §5.5.2: a ping is answered by a pong with the same payload.
#[tokio::test]
async fn ping_is_answered_with_the_same_payload() {
    for ours in BOTH {
        let (mut peer, mut reader, _writer) = setup(ours, Config::default()).await;
        peer.send_frame(true, 9, b"are you there").await;
        let got = soon(reader.read()).await.unwrap().unwrap();
        assert_eq!(
            (got.opcode, &got.payload[..]),
            (Opcode::Ping, &b"are you there"[..])
        );
        let pong = peer.next_frame().await.unwrap();
        assert_eq!(pong.opcode, 0xA, "{ours:?}");
        assert_eq!(pong.payload, b"are you there", "{ours:?}");
        assert_eq!(pong.masked, ours == Ours::Client);
    }
}

// RFC 6455 §5.4: control frames may be injected between fragments.
#[tokio::test]
async fn ping_between_fragments_is_answered_and_the_message_reassembles() {
    for ours in BOTH {
        let (mut peer, mut reader, _writer) = setup(ours, Config::default()).await;
        peer.send_frame(false, 1, b"Hel").await;
        peer.send_frame(true, 9, b"mid").await;
        peer.send_frame(true, 0, b"lo").await;
        let msg = soon(reader.read_message()).await.unwrap().unwrap();
        assert_eq!(msg.as_text(), Some("Hello"), "{ours:?}");
        let pong = peer.next_frame().await.unwrap();
        assert_eq!(
            (pong.opcode, &pong.payload[..]),
            (0xA, &b"mid"[..]),
            "{ours:?}"
        );
    }
}

// RFC 6455 §5.5.1 and §7.1.1: the server echoes the close, then closes TCP first.
#[tokio::test]
async fn server_echoes_close_then_closes_tcp() {
    let (mut peer, mut reader, _writer) = setup(Ours::Server, Config::default()).await;
    peer.send_frame(true, 8, &close_payload(1000, b"bye")).await;
    let got = soon(reader.read()).await.unwrap().unwrap();
    assert_eq!(got.opcode, Opcode::Close);
    assert!(soon(reader.read()).await.unwrap().is_none());
    let echo = peer.expect_close().await;
    assert_eq!((echo.close_code(), echo.masked), (Some(1000), false));
    peer.expect_eof().await;
    let received = reader.close_frame().unwrap();
    assert_eq!(
        (received.code, received.reason.as_str()),
        (CloseCode::NORMAL, "bye")
    );
}

// RFC 6455 §7.1.1: the client echoes, then waits for the server to close TCP. (On the paused clock,
// the 300 ms of silence end once every task waits: the client has done all it would do.)
#[tokio::test(start_paused = true)]
async fn client_echoes_close_then_waits_for_the_server_to_close_tcp() {
    let (mut peer, mut reader, _writer) = setup_over_pipe(Ours::Client, Config::default()).await;
    peer.send_frame(true, 8, &close_payload(1000, b"")).await;
    let got = soon(reader.read()).await.unwrap().unwrap();
    assert_eq!(got.opcode, Opcode::Close);
    let rest = tokio::spawn(async move { reader.read().await.map(|m| m.is_none()) });
    let echo = peer.expect_close().await;
    assert_eq!((echo.close_code(), echo.masked), (Some(1000), true));
    assert!(
        peer.silent_for(Duration::from_millis(300)).await,
        "the client closed TCP before the server did"
    );
    assert!(!rest.is_finished());
    drop(peer);
    assert!(soon(rest).await.unwrap().unwrap(), "reader ends cleanly");
}

// RFC 6455 §7.1.1: a client whose server never closes TCP gives up after close_timeout.
#[tokio::test(start_paused = true)]
async fn client_gives_up_on_a_server_that_never_closes_tcp() {
    let mut config = Config::default();
    config.close_timeout = Duration::from_millis(300);
    let (mut peer, mut reader, _writer) = setup_over_pipe(Ours::Client, config).await;
    peer.send_frame(true, 8, &close_payload(1001, b"")).await;
    assert_eq!(
        soon(reader.read()).await.unwrap().unwrap().opcode,
        Opcode::Close
    );
    let started = Instant::now();
    assert!(soon(reader.read()).await.unwrap().is_none());
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(peer.expect_close().await.close_code(), Some(1001));
    peer.expect_eof().await;
}

// RFC 6455 §7.1.2: our close, echoed by the peer, completes the handshake in both roles.
#[tokio::test]
async fn our_close_is_echoed_and_the_connection_ends() {
    for ours in BOTH {
        let (mut peer, mut reader, mut writer) = setup(ours, Config::default()).await;
        soon(writer.close(CloseCode(4000), "done")).await.unwrap();
        let close = peer.expect_close().await;
        assert_eq!(close.payload, close_payload(4000, b"done"), "{ours:?}");
        peer.send_frame(true, 8, &close_payload(4000, b"")).await;
        // In the client role the server (the raw peer) closes TCP first.
        let server_peer = (ours == Ours::Server).then_some(peer);
        // The reader hands out the echo, then sees the connection end.
        let mut frames = Vec::new();
        while let Some(f) = soon(reader.read()).await.unwrap() {
            frames.push(f.opcode);
        }
        assert_eq!(frames, [Opcode::Close], "{ours:?}");
        if let Some(mut peer) = server_peer {
            // Our server closed TCP after the handshake.
            peer.expect_eof().await;
        }
        assert!(matches!(
            writer.write(Message::text("late")).await,
            Err(Error::ConnectionClosed(_))
        ));
    }
}

// RFC 6455 §7.1.1: a peer that never answers our close does not hold the connection forever.
// Regression: in the server role (no OS socket handle) the timeout ended the reader but left TCP
// open for as long as the application held the writer.
#[tokio::test(start_paused = true)]
async fn unanswered_close_times_out_and_drops_tcp_while_the_writer_is_held() {
    for ours in BOTH {
        let mut config = Config::default();
        config.close_timeout = Duration::from_millis(300);
        let (mut peer, mut reader, mut writer) = setup_over_pipe(ours, config).await;
        soon(writer.close(CloseCode::NORMAL, "")).await.unwrap();
        let started = Instant::now();
        let err = soon(reader.read()).await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Close, d) if d == Duration::from_millis(300)),
            "{ours:?}: {err:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_millis(300), "{ours:?}");
        assert_eq!(peer.expect_close().await.close_code(), Some(1000));
        peer.expect_eof().await;
    }
}

// The reader may be parked in another task when the writer sends the close: it must still
// arm the close timeout.
// On the paused clock, the 50 ms sleep ends once every task waits: the reader is parked.
#[tokio::test(start_paused = true)]
async fn close_timeout_applies_to_a_reader_already_waiting_in_another_task() {
    for ours in BOTH {
        let mut config = Config::default();
        config.close_timeout = Duration::from_millis(300);
        let (mut peer, mut reader, mut writer) = setup_over_pipe(ours, config).await;
        let parked = tokio::spawn(async move { reader.read().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        soon(writer.close(CloseCode::NORMAL, "")).await.unwrap();
        let err = soon(parked).await.unwrap().unwrap_err();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Close, _)),
            "{ours:?}: {err:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_millis(300), "{ours:?}");
        assert_eq!(peer.expect_close().await.close_code(), Some(1000));
    }
}

// RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
// response, unless it already received a Close frame" -- having sent one is no excuse.
#[tokio::test]
async fn ping_after_our_close_is_still_answered() {
    for ours in BOTH {
        let (mut peer, mut reader, mut writer) = setup(ours, Config::default()).await;
        soon(writer.close(CloseCode::NORMAL, "")).await.unwrap();
        assert_eq!(peer.expect_close().await.close_code(), Some(1000));
        peer.send_frame(true, 9, b"still there?").await;
        let got = soon(reader.read()).await.unwrap().unwrap();
        assert_eq!(got.opcode, Opcode::Ping);
        let pong = peer.next_frame().await.expect("a pong, not EOF");
        assert_eq!(
            (pong.opcode, &pong.payload[..]),
            (0xA, &b"still there?"[..]),
            "{ours:?}"
        );
    }
}

// Valid edge cases must not be mistaken for violations: code points split across fragments,
// empty frames, and sizes exactly at the limits.
#[tokio::test]
async fn valid_edge_cases_are_accepted_in_both_roles() {
    type Valid = (&'static str, Vec<(bool, u8, Vec<u8>)>, Opcode, Vec<u8>);
    let cases: Vec<Valid> = vec![
        (
            "code point split across fragments",
            vec![
                (false, 1, b"caf\xc3".to_vec()),
                (false, 0, b"\xa9 \xf0\x9f".to_vec()),
                (true, 0, b"\x98\x80".to_vec()),
            ],
            Opcode::Text,
            "café 😀".as_bytes().to_vec(),
        ),
        ("empty text", vec![(true, 1, vec![])], Opcode::Text, vec![]),
        (
            "empty fragments",
            vec![(false, 2, vec![]), (false, 0, vec![]), (true, 0, vec![])],
            Opcode::Binary,
            vec![],
        ),
        (
            "frame of exactly max_frame_size",
            vec![(true, 2, vec![7; 1000])],
            Opcode::Binary,
            vec![7; 1000],
        ),
        (
            "message of exactly max_message_size",
            vec![(false, 2, vec![1; 1000]), (true, 0, vec![2; 500])],
            Opcode::Binary,
            [vec![1; 1000], vec![2; 500]].concat(),
        ),
    ];
    for ours in BOTH {
        for (name, frames, opcode, whole) in &cases {
            let (mut peer, mut reader, _writer) = setup(ours, limits()).await;
            for (fin, op, payload) in frames {
                peer.send_frame(*fin, *op, payload).await;
            }
            let got = soon(reader.read_message()).await;
            let got = got.unwrap_or_else(|e| panic!("{ours:?} {name}: {e:?}"));
            let got = got.unwrap_or_else(|| panic!("{ours:?} {name}: ended"));
            assert_eq!(
                (got.opcode, &got.payload[..]),
                (*opcode, &whole[..]),
                "{ours:?} {name}"
            );
        }
    }
}
