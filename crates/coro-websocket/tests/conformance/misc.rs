//! Autobahn section 10: auto-fragmentation, by the peer and by our application.

use coro_websocket::Message;

use crate::script::*;

pub fn g10_misc() -> Vec<Case> {
    let payload: Vec<u8> = (0..65536).map(|i| b'a' + (i % 26) as u8).collect();
    let frags = fragments(1, &payload, 1300);
    let ours_writes: Vec<Message> = fragments(2, &[7; 65536], 4096)
        .into_iter()
        .map(|f| Message {
            fin: f.fin,
            opcode: if f.op == 0 {
                coro_websocket::Opcode::Continuation
            } else {
                coro_websocket::Opcode::Binary
            },
            payload: f.payload.0.into(),
            ..Message::default()
        })
        .collect();
    vec![
        // Autobahn 10.1.1: 64 KiB, auto-fragmented in 1300-byte frames by the peer.
        case(
            "c10_1_1_text_64k_in_1300_byte_fragments",
            vec![Send(frags.clone()), echo_text(&payload)],
        ),
        // Our writer sends the fragments our application writes (fin = false frames) as they are.
        case(
            "c10_1_2_fragments_echoed_frame_by_frame",
            vec![Send(frags.clone()), EchoFrames(frags)],
        )
        .app(App::FrameEcho),
        case(
            "c10_1_3_our_application_writes_16_fragments",
            vec![
                EchoFrames(fragments(2, &[7; 65536], 4096)),
                send([text("after")]),
                echo_text("after"),
            ],
        )
        .app(App::Push(ours_writes.clone())),
        case(
            "c10_1_4_our_fragments_reassembled",
            vec![echo_bin([7; 65536])],
        )
        .app(App::Push(ours_writes)),
    ]
}
