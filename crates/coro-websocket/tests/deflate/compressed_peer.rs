//! What a compressing peer may send: compressed fragments with control frames between, the
//! RFC 7692 examples (stored and BFINAL blocks).

use coro_websocket::DeflateConfig;

use crate::common::*;
use crate::helpers::*;

#[tokio::test]
async fn server_inflates_compressed_fragments_with_control_frames_between() {
    let addr = echo_server(compressing_server(Some(DeflateConfig::default()))).await;
    let (mut peer, agreed) = raw_compressing_client(addr, &DeflateConfig::default()).await;
    let mut deflater = agreed.deflater();
    let mut inflater = agreed.inflater(MIB as u64);
    // Multi-byte UTF-8 split anywhere by the compressed stream's fragmentation.
    let text = "héllo wörld, ünïcödé ✓ — ".repeat(400);
    let wire = deflater.compress(text.as_bytes());
    let cuts = [
        0,
        1,
        wire.len() / 3,
        wire.len() / 2,
        wire.len() - 1,
        wire.len(),
    ];
    for (i, pair) in cuts.windows(2).enumerate() {
        let (fin, rsv, opcode) = match i {
            0 => (false, 4, 1),
            4 => (true, 0, 0),
            _ => (false, 0, 0),
        };
        peer.send(&frame(fin, rsv, opcode, Some(KEY), &wire[pair[0]..pair[1]]))
            .await;
        if i == 2 {
            peer.send(&frame(true, 0, 9, Some(KEY), b"ping")).await;
        }
    }
    let pong = frame_of(&mut peer).await;
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"ping"[..]));
    let echo = frame_of(&mut peer).await;
    assert_eq!((echo.rsv, echo.opcode), (4, 1));
    assert_eq!(
        &inflater.inflate(&echo.payload, true).unwrap()[..],
        text.as_bytes()
    );

    // An uncompressed message between compressed ones is taken as is.
    peer.send(&frame(true, 0, 2, Some(KEY), b"plain")).await;
    let echo = frame_of(&mut peer).await;
    assert_eq!((echo.rsv, echo.payload.as_slice()), (0, &b"plain"[..]));
    let wire = deflater.compress(text.as_bytes());
    peer.send(&frame(true, 4, 1, Some(KEY), &wire)).await;
    let echo = frame_of(&mut peer).await;
    assert_eq!(
        &inflater.inflate(&echo.payload, true).unwrap()[..],
        text.as_bytes()
    );
}

#[tokio::test]
async fn client_reads_the_rfc_examples_in_a_row() {
    let (addr, rx) = raw_compressing_server(DeflateConfig::default()).await;
    let (_res, mut read, _write) = connect_offering_default(addr).await;
    let (mut peer, _agreed) = soon(rx).await.unwrap();
    // §7.2.3.1 then §7.2.3.2 (the second "Hello" refers back into the first).
    peer.send(&frame(true, 4, 1, None, &HELLO)).await;
    peer.send(&frame(true, 4, 1, None, &[0xf2, 0x00, 0x11, 0x00, 0x00]))
        .await;
    peer.send(&frame(true, 4, 1, None, &HELLO_STORED)).await;
    // §7.2.3.4: a BFINAL block ends the DEFLATE stream; the next message starts a new one.
    peer.send(&frame(true, 4, 1, None, &HELLO_BFINAL)).await;
    peer.send(&frame(true, 4, 1, None, &HELLO)).await;
    peer.send(&frame(true, 4, 1, None, &HELLO_BFINAL)).await;
    peer.send(&frame(true, 4, 1, None, &HELLO_STORED)).await;
    for i in 0..7 {
        let m = soon(read.read_message())
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"))
            .unwrap();
        assert_eq!(m.as_text(), Some("Hello"), "message {i}");
    }
}
