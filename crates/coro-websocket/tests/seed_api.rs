//! The seed's API over real sockets: `parse_url`, `connect(options)` and its `Response`,
//! `read`/`write` and `Message`, `wrap_io`, the heartbeat, and Unix sockets.
//!
//! The timeout and heartbeat tests run on tokio's paused clock: time moves only when every task
//! waits, so "wait 300 ms" means "until everything is blocked" and a timeout fires exactly when
//! due. The heartbeat tests run the client's session over an in-memory pipe (see
//! `common::client_over_pipe`), where no byte is ever in flight while the clock jumps.

mod common;

use std::time::Duration;

use common::*;
use coro_websocket::{
    accept, connect,
    error::{TimeoutKind, UrlError},
    parse_url, wrap_io, CloseCode, CloseFrame, Error, FrameCodec, Heartbeat, Message, Opcode,
    Options, ServerOptions, WrapOptions,
};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_util::codec::Framed;

fn to(addr: std::net::SocketAddr) -> Options {
    Options {
        host: Some(addr.ip().to_string()),
        port: Some(addr.port()),
        ..Default::default()
    }
}

#[test]
fn parse_url_cases() {
    let ok: [(&str, &str, u16, &str, bool); 7] = [
        (
            "ws://ex.example.org/path/name",
            "ex.example.org",
            80,
            "/path/name",
            false,
        ),
        ("wss://example.org", "example.org", 443, "/", true),
        ("ws://127.0.0.1:9001", "127.0.0.1", 9001, "/", false),
        ("wss://h:8443/a/b?x=1&y=2", "h", 8443, "/a/b?x=1&y=2", true),
        ("ws://[::1]:9000/chat", "::1", 9000, "/chat", false),
        ("WS://Example.ORG/", "example.org", 80, "/", false),
        ("ws://h:443/", "h", 443, "/", false),
    ];
    for (url, host, port, pathname, tls) in ok {
        let u = parse_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(
            (u.host.as_str(), u.port, u.pathname.as_str(), u.tls),
            (host, port, pathname, tls),
            "{url}"
        );
    }
    assert_eq!(parse_url("http://h/"), Err(UrlError::Scheme("http".into())));
    assert_eq!(parse_url("ws://h/#frag"), Err(UrlError::Fragment));
    assert!(matches!(
        parse_url("ws://h:99999/"),
        Err(UrlError::Invalid(_))
    ));
    assert!(matches!(parse_url("not a url"), Err(UrlError::Invalid(_))));
    assert!(parse_url("ws://").is_err());
    assert!(matches!(
        Options::from_url("ftp://h/"),
        Err(Error::Url(UrlError::Scheme(_)))
    ));
}

#[tokio::test]
async fn connect_by_host_and_port_echoes() {
    let addr = echo_server(ServerOptions::default()).await;
    let (res, mut read, mut write) = connect(to(addr)).await.unwrap();
    assert_eq!(res.code, 101);
    write.write(Message::text("hello")).await.unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!((got.opcode, got.as_text()), (Opcode::Text, Some("hello")));
    write.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
}

#[tokio::test]
async fn port_without_host_connects_to_localhost() {
    let addr = echo_server(ServerOptions::default()).await;
    let (res, _read, _write) = connect(Options {
        port: Some(addr.port()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(res.socket.peer_addr(), Some(addr));
}

#[tokio::test]
async fn from_url_pathname_and_query_arrive_intact() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let url = format!("ws://127.0.0.1:{}/chat/room%201?x=1&y=a+b", addr.port());
    let opts = Options::from_url(&url).unwrap();
    assert_eq!(opts.pathname, "/chat/room%201?x=1&y=a+b");
    let (_res, _read, _write) = connect(opts).await.unwrap();
    let (req, _, _) = soon(accepted).await.unwrap().unwrap();
    assert_eq!(req.path, "/chat/room%201?x=1&y=a+b");
    assert_eq!(
        req.headers.get("host"),
        Some(format!("127.0.0.1:{}", addr.port()).as_str())
    );
}

#[tokio::test]
async fn subprotocol_is_negotiated_from_the_offered_list() {
    let server = ServerOptions {
        subprotocols: vec!["superchat".into(), "other".into()],
        ..Default::default()
    };
    let (addr, accepted) = accept_one(server.clone()).await;
    let (res, _read, _write) = connect(Options {
        subprotocol: Some("chat, superchat".into()),
        ..to(addr)
    })
    .await
    .unwrap();
    assert_eq!(res.subprotocol.as_deref(), Some("superchat"));
    let (req, _, _) = soon(accepted).await.unwrap().unwrap();
    assert_eq!(req.subprotocol.as_deref(), Some("superchat"));
    assert_eq!(req.offered_subprotocols(), ["chat", "superchat"]);

    // Nothing in common: the connection opens without a subprotocol.
    let (addr, _accepted) = accept_one(server).await;
    let (res, _read, _write) = connect(Options {
        subprotocol: Some("chat".into()),
        ..to(addr)
    })
    .await
    .unwrap();
    assert_eq!(res.subprotocol, None);
    assert!(!res.headers.contains("sec-websocket-protocol"));
}

#[tokio::test]
async fn headers_are_sent_in_order() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let headers = [
        ("X-First", "1"),
        ("Origin", "http://example.com"),
        ("x-first", "2"),
        ("User-Agent", "coro-test"),
    ];
    let (_res, _read, _write) = connect(Options {
        headers: headers.into(),
        ..to(addr)
    })
    .await
    .unwrap();
    let (req, _, _) = soon(accepted).await.unwrap().unwrap();
    let names: Vec<&str> = req.headers.iter().map(|(n, _)| n).collect();
    let theirs: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(n, _)| headers.iter().any(|(h, _)| h == n))
        .collect();
    assert_eq!(theirs, headers);
    // The caller's headers follow the handshake's own.
    let version = names.iter().position(|n| *n == "Sec-WebSocket-Version");
    let first = names.iter().position(|n| *n == "X-First");
    assert!(version < first, "{names:?}");
    assert_eq!(
        req.headers.get_all("x-first").collect::<Vec<_>>(),
        ["1", "2"]
    );
}

// On the paused clock over a real socket: the only timer that can fire is the one under test.
#[tokio::test(start_paused = true)]
async fn connect_times_out_when_the_upgrade_is_never_answered() {
    let (l, addr) = listener().await;
    // Accepts TCP connections, then never answers (and keeps them open).
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = l.accept().await {
            held.push(tcp);
        }
    });
    let started = Instant::now();
    let err = connect(Options {
        timeout: Some(Duration::from_millis(300)),
        ..to(addr)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutKind::Connect, d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_timeout());
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}

#[tokio::test]
async fn response_fields() {
    let (l, addr) = listener().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, client_addr) = l.accept().await.unwrap();
        let options = ServerOptions {
            headers: [("X-One", "1"), ("X-Two", "2")].into(),
            ..Default::default()
        };
        let session = accept(tcp, options).await;
        let _ = tx.send((client_addr, session));
    });
    let (res, _read, _write) = connect(to(addr)).await.unwrap();
    let (client_addr, _session) = soon(rx).await.unwrap();
    assert_eq!(res.code, 101);
    assert_eq!(res.reason, "Switching Protocols");
    assert_eq!(res.version, http::Version::HTTP_11);
    assert!(!res.keep_alive);
    let names: Vec<&str> = res.headers.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Accept",
            "X-One",
            "X-Two"
        ]
    );
    assert_eq!(res.headers.get("x-two"), Some("2"));
    assert_eq!(res.subprotocol, None);
    assert_eq!(res.extensions, None);
    assert_eq!(res.socket.peer_addr(), Some(addr));
    assert_eq!(res.socket.local_addr(), Some(client_addr));
    assert_eq!(res.socket.unix_path(), None);
}

#[tokio::test]
async fn socket_shutdown_ends_the_reader_and_the_peer_sees_eof() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (res, mut read, mut write) = connect(to(addr)).await.unwrap();
    let (_req, mut sread, mut swrite) = soon(accepted).await.unwrap().unwrap();
    swrite.write(Message::text("one")).await.unwrap();
    // The seed's example: read in a loop, shut the socket down from inside it.
    let socket = res.socket.clone();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(msg) = read.read().await? {
            seen.push(msg.payload);
            socket.shutdown();
        }
        Ok::<_, Error>(seen)
    });
    let seen = soon(reader).await.unwrap().unwrap();
    assert_eq!(seen, ["one"]);
    // The peer sees the connection end without a close frame.
    let err = soon(sread.read()).await.unwrap_err();
    assert!(matches!(err, Error::AbnormalClosure), "{err:?}");
    assert!(matches!(
        write.write(Message::text("late")).await,
        Err(Error::ConnectionClosed(_))
    ));
}

// On the paused clock, the sleep ends once every task waits: the reader is parked.
#[tokio::test(start_paused = true)]
async fn socket_shutdown_wakes_a_reader_blocked_in_another_task() {
    let addr = echo_server(ServerOptions::default()).await;
    let (res, mut read, _write) = connect(to(addr)).await.unwrap();
    let reader = tokio::spawn(async move { read.read().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    res.socket.shutdown();
    assert!(soon(reader).await.unwrap().unwrap().is_none());
}

// On the paused clock, the sleep ends once every task waits: the writer is blocked.
#[tokio::test(start_paused = true)]
async fn socket_shutdown_unblocks_a_writer_stuck_on_a_peer_that_does_not_read() {
    let (addr, raw) = raw_server().await;
    let (res, _read, mut write) = connect(to(addr)).await.unwrap();
    // The server completed the handshake by hand and never reads again.
    let (_peer, _head) = soon(raw).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![0u8; 1 << 20];
        let mut sent = 0usize;
        loop {
            if let Err(e) = write.write(Message::binary(chunk.clone())).await {
                return (sent, e);
            }
            sent += 1;
        }
    });
    // Let the socket buffers fill up and the writer block.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished());
    res.socket.shutdown();
    let (sent, err) = soon(writer).await.unwrap();
    assert!(
        matches!(err, Error::ConnectionClosed(_) | Error::Io(_)),
        "after {sent} MiB: {err:?}"
    );
}

#[tokio::test]
async fn message_defaults_arrive_as_a_final_binary_frame() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (_res, _read, mut write) = connect(to(addr)).await.unwrap();
    let (_req, mut sread, _) = soon(accepted).await.unwrap().unwrap();
    write
        .write(Message {
            payload: "Hello There!".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let got = soon(sread.read()).await.unwrap().unwrap();
    assert_eq!(got.opcode, Opcode::Binary);
    assert!(got.fin);
    assert!(got.mask, "client frames are masked");
    assert_eq!(got.len(), 12);
    assert_eq!(&got.payload[..], b"Hello There!");
    assert!(!(got.rsv1 || got.rsv2 || got.rsv3));
}

#[tokio::test]
async fn read_returns_fragments_and_read_message_reassembles() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (_res, mut read, _write) = connect(to(addr)).await.unwrap();
    let (_req, _sread, mut swrite) = soon(accepted).await.unwrap().unwrap();
    for _ in 0..2 {
        swrite
            .write(Message {
                fin: false,
                ..Message::text("Hel")
            })
            .await
            .unwrap();
        swrite
            .write(Message::new(Opcode::Continuation, "lo"))
            .await
            .unwrap();
    }
    let a = soon(read.read()).await.unwrap().unwrap();
    let b = soon(read.read()).await.unwrap().unwrap();
    assert_eq!(
        (a.opcode, a.fin, &a.payload[..]),
        (Opcode::Text, false, &b"Hel"[..])
    );
    assert_eq!(
        (b.opcode, b.fin, &b.payload[..]),
        (Opcode::Continuation, true, &b"lo"[..])
    );
    assert!(!a.mask, "server frames are not masked");
    let whole = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(
        (whole.opcode, whole.as_text()),
        (Opcode::Text, Some("Hello"))
    );
    assert!(whole.fin);
}

#[tokio::test]
async fn reader_is_a_stream_and_writer_is_a_sink() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (_res, mut read, mut write) = connect(to(addr)).await.unwrap();
    let (_req, mut sread, mut swrite) = soon(accepted).await.unwrap().unwrap();
    let server = tokio::spawn(async move {
        while let Some(msg) = sread.read_message().await.unwrap() {
            swrite.write(msg).await.unwrap();
        }
        sread.close_frame()
    });
    write.send(Message::text("one")).await.unwrap();
    let mut items =
        futures_util::stream::iter([Message::binary(vec![2u8]), Message::text("3")]).map(Ok);
    write.send_all(&mut items).await.unwrap();
    let got: Vec<Message> = soon((&mut read).take(3).map(Result::unwrap).collect()).await;
    let payloads: Vec<&[u8]> = got.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(payloads, [&b"one"[..], &[2u8][..], &b"3"[..]]);
    assert_eq!(got[1].opcode, Opcode::Binary);
    // Closing the sink sends a normal close.
    SinkExt::close(&mut write).await.unwrap();
    let rest: Vec<_> = soon(read.collect::<Vec<_>>()).await;
    assert_eq!(rest.len(), 1, "only the close echo: {rest:?}");
    assert_eq!(rest[0].as_ref().unwrap().opcode, Opcode::Close);
    let received = soon(server).await.unwrap();
    assert_eq!(
        received,
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_and_writer_in_two_tasks_while_pongs_go_out() {
    const N: usize = 200;
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (_res, mut read, mut write) = connect(to(addr)).await.unwrap();
    let (_req, mut sread, mut swrite) = soon(accepted).await.unwrap().unwrap();
    // The server echoes every message and pings the client every tenth one.
    let server = tokio::spawn(async move {
        let mut pongs = Vec::new();
        let mut echoed = 0;
        while let Some(m) = sread.read().await.unwrap() {
            match m.opcode {
                Opcode::Pong => pongs.push(m.payload),
                Opcode::Text => {
                    swrite.write(m).await.unwrap();
                    echoed += 1;
                    if echoed % 10 == 0 {
                        swrite
                            .write(Message::ping(format!("p{echoed}")))
                            .await
                            .unwrap();
                    }
                }
                _ => {}
            }
        }
        pongs
    });
    let writer = tokio::spawn(async move {
        for i in 0..N {
            write.write(Message::text(format!("m{i}"))).await.unwrap();
        }
        write
    });
    let reader = tokio::spawn(async move {
        let mut texts = Vec::new();
        let mut pings = 0;
        while texts.len() < N {
            let m = read.read().await.unwrap().unwrap();
            match m.opcode {
                Opcode::Text => texts.push(m.as_text().unwrap().to_owned()),
                Opcode::Ping => pings += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        (read, texts, pings)
    });
    let mut write = soon(writer).await.unwrap();
    let (mut read, texts, pings) = soon(reader).await.unwrap();
    assert_eq!(texts, (0..N).map(|i| format!("m{i}")).collect::<Vec<_>>());
    write.close(CloseCode::NORMAL, "").await.unwrap();
    let mut late_pings = 0;
    while let Some(m) = soon(read.read()).await.unwrap() {
        late_pings += usize::from(m.opcode == Opcode::Ping);
    }
    let pongs = soon(server).await.unwrap();
    assert_eq!(pings + late_pings, N / 10);
    // Every ping the reader saw was answered automatically, in order.
    let expected: Vec<String> = (1..=pings).map(|k| format!("p{}", k * 10)).collect();
    let got: Vec<String> = pongs
        .iter()
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .collect();
    assert_eq!(got[..pings], expected[..]);
}

#[tokio::test]
async fn writing_a_close_frame_ends_writing() {
    let addr = echo_server(ServerOptions::default()).await;
    let (_res, _read, mut write) = connect(to(addr)).await.unwrap();
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    write
        .write(Message::new(Opcode::Close, payload))
        .await
        .unwrap();
    assert!(write.is_closed());
    let err = write.write(Message::text("late")).await.unwrap_err();
    let Error::ConnectionClosed(closed) = err else {
        panic!("expected ConnectionClosed, got {err:?}");
    };
    assert_eq!(
        closed.sent,
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into()
        })
    );
}

#[tokio::test]
async fn writer_close_sends_the_code_and_reason() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (_res, mut read, mut write) = connect(to(addr)).await.unwrap();
    let (_req, mut sread, _swrite) = soon(accepted).await.unwrap().unwrap();
    write.close(CloseCode(4001), "see you").await.unwrap();
    assert!(soon(sread.read_message()).await.unwrap().is_none());
    let got = sread.close_frame().unwrap();
    assert_eq!(
        (got.code, got.reason.as_str()),
        (CloseCode(4001), "see you")
    );
    // The client gets the echo and the server's TCP close.
    assert!(soon(read.read_message()).await.unwrap().is_none());
    assert_eq!(read.close_frame().unwrap().code, CloseCode(4001));
}

#[tokio::test]
async fn send_side_misuse_is_refused_before_anything_is_sent() {
    let addr = echo_server(ServerOptions::default()).await;
    let (_res, mut read, mut write) = connect(to(addr)).await.unwrap();
    let err = write
        .write(Message::ping(vec![0u8; 126]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Send(_)), "{err:?}");
    let err = write
        .close(CloseCode::NO_STATUS_RECEIVED, "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Send(_)), "{err:?}");
    // The connection is still usable.
    write.write(Message::text("still here")).await.unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(got.as_text(), Some("still here"));
}

/// Runs a client/server pair made with `wrap_io` over any byte stream pair.
async fn wrap_io_session<S>(a: S, b: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use coro_websocket::proto::Role;
    let (csink, cstream) =
        Framed::new(a, FrameCodec::new(Role::Client, &Default::default())).split();
    let (ssink, sstream) =
        Framed::new(b, FrameCodec::new(Role::Server, &Default::default())).split();
    let (mut cr, mut cw) = wrap_io(
        cstream,
        csink,
        WrapOptions {
            mask: true,
            ..Default::default()
        },
    );
    let (mut sr, mut sw) = wrap_io(sstream, ssink, WrapOptions::default());

    cw.write(Message::text("over wrap_io")).await.unwrap();
    cw.write(Message::ping("x")).await.unwrap();
    let got = soon(sr.read()).await.unwrap().unwrap();
    assert_eq!((got.as_text(), got.mask), (Some("over wrap_io"), true));
    let ping = soon(sr.read()).await.unwrap().unwrap();
    assert_eq!((ping.opcode, &ping.payload[..]), (Opcode::Ping, &b"x"[..]));
    // The server's session answered the ping by itself.
    let pong = soon(cr.read()).await.unwrap().unwrap();
    assert_eq!(
        (pong.opcode, &pong.payload[..], pong.mask),
        (Opcode::Pong, &b"x"[..], false)
    );

    sw.write(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let got = soon(cr.read_message()).await.unwrap().unwrap();
    assert_eq!(
        (got.opcode, &got.payload[..]),
        (Opcode::Binary, &[1u8, 2, 3][..])
    );

    // Close handshake: the server echoes and ends the stream, the client sees both.
    cw.close(CloseCode::NORMAL, "done").await.unwrap();
    let server_end = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(m) = sr.read().await.unwrap() {
            frames.push(m.opcode);
        }
        (frames, sr.close_frame())
    });
    let mut client_frames = Vec::new();
    while let Some(m) = soon(cr.read()).await.unwrap() {
        client_frames.push(m.opcode);
    }
    assert_eq!(client_frames, [Opcode::Close]);
    let (frames, received) = soon(server_end).await.unwrap();
    assert_eq!(frames, [Opcode::Close]);
    assert_eq!(
        received,
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "done".into()
        })
    );
}

#[tokio::test]
async fn wrap_io_over_framed_duplex() {
    let (a, b) = tokio::io::duplex(64 << 10);
    wrap_io_session(a, b).await;
}

#[tokio::test]
async fn wrap_io_over_framed_tcp() {
    let (l, addr) = listener().await;
    let (a, b) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
    wrap_io_session(a.unwrap(), b.unwrap().0).await;
}

/// `connect` runs the heartbeat its options ask for (the timing is the session's, tested below
/// on the paused clock).
#[tokio::test]
async fn connect_runs_the_heartbeat_of_its_options() {
    let (addr, accepted) = accept_one(ServerOptions::default()).await;
    let (_res, _read, _write) = connect(Options {
        heartbeat: Some(Heartbeat::pong(Duration::from_millis(100))),
        ..to(addr)
    })
    .await
    .unwrap();
    let (_req, mut sread, _) = soon(accepted).await.unwrap().unwrap();
    let m = soon(sread.read()).await.unwrap().unwrap();
    assert_eq!((m.opcode, m.payload.len()), (Opcode::Pong, 0));
}

#[tokio::test(start_paused = true)]
async fn heartbeat_pong_sends_unsolicited_pongs() {
    let (mut peer, _read, _write) = client_over_pipe(
        Default::default(),
        Some(Heartbeat::pong(Duration::from_millis(100))),
    );
    let mut pongs = 0;
    let window = tokio::time::sleep(Duration::from_millis(700));
    tokio::pin!(window);
    loop {
        tokio::select! {
            _ = &mut window => break,
            f = peer.next_frame() => {
                let f = f.unwrap();
                assert_eq!((f.opcode, f.payload.len()), (0xA, 0));
                pongs += 1;
            }
        }
    }
    // One every 100 ms, on the paused clock exactly (the one due as the window ends may lose the
    // race with it).
    assert!(
        (6..=7).contains(&pongs),
        "{pongs} heartbeat pongs in 700 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn heartbeat_ping_keeps_a_live_connection_open() {
    let (mut read, mut write) = client_of_pipe_echo(Some(Heartbeat::ping(
        Duration::from_millis(100),
        Duration::from_millis(300),
    )));
    // The heartbeat learns of the server's pongs through the reader, so one must be running
    // (frames are noticed as they are read).
    let reader = tokio::spawn(async move {
        loop {
            let m = read.read().await?.expect("connection ended");
            if m.opcode == Opcode::Text {
                return Ok::<_, Error>(m);
            }
        }
    });
    // Several heartbeat rounds, each answered by the server's automatic pong.
    tokio::time::sleep(Duration::from_millis(600)).await;
    write.write(Message::text("alive")).await.unwrap();
    let got = soon(reader).await.unwrap().unwrap();
    assert_eq!(got.as_text(), Some("alive"));
}

// Regression: the heartbeat counted only frames already read, so a live peer whose pongs sat
// unread in the socket while the application was busy was declared dead.
#[tokio::test(start_paused = true)]
async fn heartbeat_ping_does_not_blame_the_peer_while_the_app_is_not_reading() {
    let (mut read, mut write) = client_of_pipe_echo(Some(Heartbeat::ping(
        Duration::from_millis(100),
        Duration::from_millis(200),
    )));
    // Busy elsewhere for several heartbeat rounds; the server's pongs pile up unread.
    tokio::time::sleep(Duration::from_millis(700)).await;
    write.write(Message::text("still alive")).await.unwrap();
    let got = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(got.as_text(), Some("still alive"));
}

#[tokio::test(start_paused = true)]
async fn heartbeat_ping_detects_a_peer_that_stopped_answering() {
    let started = Instant::now();
    // The server neither reads nor answers.
    let (_peer, mut read, _write) = client_over_pipe(
        Default::default(),
        Some(Heartbeat::ping(
            Duration::from_millis(100),
            Duration::from_millis(200),
        )),
    );
    let err = soon(read.read()).await.unwrap_err();
    assert!(
        matches!(err, Error::PeerNotResponding(d) if d == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(err.is_timeout());
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}

#[tokio::test]
async fn unix_socket_connect() {
    let path = unix_socket_path("seed");
    let l = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        let (req, mut read, mut write) = accept(stream, ServerOptions::default()).await.unwrap();
        write.write(Message::text(req.path.clone())).await.unwrap();
        while let Some(m) = read.read_message().await.unwrap() {
            write.write(m).await.unwrap();
        }
    });
    let (res, mut read, mut write) = connect(Options {
        path: Some(path.clone()),
        pathname: "/over/unix".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(res.socket.unix_path(), Some(path.as_path()));
    assert_eq!(res.socket.peer_addr(), None);
    let first = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(first.as_text(), Some("/over/unix"));
    write.write(Message::binary(vec![9u8; 1000])).await.unwrap();
    let echo = soon(read.read_message()).await.unwrap().unwrap();
    assert_eq!(&echo.payload[..], &[9u8; 1000][..]);
    write.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(soon(read.read_message()).await.unwrap().is_none());
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn options_without_a_destination_are_refused() {
    let err = connect(Options::default()).await.unwrap_err();
    assert!(matches!(err, Error::Options(_)), "{err:?}");
}
