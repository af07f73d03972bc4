//! The client's check of the server's answer, the server's choice among offers, and settings
//! refused before connecting.

use coro_websocket::{accept, connect, error::HandshakeError, DeflateConfig, Error};

use crate::common::*;
use crate::helpers::*;

/// Connects our client, offering `offered`, to a raw server that answers `answer`.
async fn connect_to_answer(
    offered: Option<DeflateConfig>,
    answer: &'static str,
) -> Result<(), Error> {
    let (addr, _rx) = raw_server_answering(move |_| Some(answer.to_owned())).await;
    soon(connect(compressing_client(addr, offered)))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn client_rejects_answers_it_did_not_offer() {
    let mut narrow = DeflateConfig::default();
    narrow.server_max_window_bits = Some(10);
    narrow.client_max_window_bits = Some(10);
    for answer in [
        // A parameter that does not exist.
        "permessage-deflate; x_custom_param=1",
        "permessage-deflate; server_max_window_bits=10; mystery",
        // A window larger than the client allowed, for either side.
        "permessage-deflate; server_max_window_bits=12",
        "permessage-deflate; client_max_window_bits=11",
        // Broken values and repeats.
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover=yes",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        // Extensions never offered, alone or besides the one that was.
        "x-webkit-deflate-frame",
        "permessage-deflate, x-webkit-deflate-frame",
        "permessage-deflate, permessage-deflate",
    ] {
        let err = connect_to_answer(Some(narrow.clone()), answer)
            .await
            .expect_err(answer);
        assert!(
            matches!(
                err,
                Error::Handshake(
                    HandshakeError::InvalidExtension(_) | HandshakeError::UnexpectedExtension(_)
                )
            ),
            "{answer}: {err}"
        );
    }
    // An answer to an offer that was never made.
    let err = connect_to_answer(None, "permessage-deflate")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::UnexpectedExtension(_))
        ),
        "{err}"
    );
    // What the RFC lets a server add unasked is accepted.
    for answer in [
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=9",
        "permessage-deflate; client_max_window_bits=9",
        "permessage-deflate; server_max_window_bits=\"10\"",
    ] {
        connect_to_answer(Some(narrow.clone()), answer)
            .await
            .unwrap_or_else(|e| panic!("{answer}: {e}"));
    }
}

#[tokio::test]
async fn servers_decline_offers_they_cannot_accept_and_take_the_next() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    for (offer, expected) in [
        ("permessage-deflate; unknown_param", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; client_max_window_bits=7", None),
        ("x-webkit-deflate-frame", None),
        (
            "permessage-deflate; bogus, permessage-deflate; server_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=9",
            Some("permessage-deflate; client_max_window_bits=9"),
        ),
    ] {
        let (mut peer, answer) = raw_client_offering(addr, offer).await;
        assert_eq!(answer.as_deref(), expected, "{offer}");
        // Either way, the connection works.
        peer.send_frame(true, 1, b"still here").await;
        let echo = frame_of(&mut peer).await;
        assert_eq!((echo.rsv, echo.payload.as_slice()), (0, &b"still here"[..]));
    }
}

#[tokio::test]
async fn invalid_settings_are_refused_before_connecting() {
    let mut bad = DeflateConfig::default();
    bad.client_max_window_bits = Some(16);
    let addr = echo_server(compressing_server(None)).await;
    let err = connect(compressing_client(addr, Some(bad.clone())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeflateConfig(_)), "{err}");

    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        accept(tcp, compressing_server(Some(bad))).await.map(|_| ())
    });
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let err = soon(server).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::DeflateConfig(_)), "{err}");
}
