//! RFC 6455 §5.2, Autobahn section 3: without an extension, any RSV bit fails the connection.

use crate::script::*;

pub fn g3_reserved_bits() -> Vec<Case> {
    let mut cases = vec![
        case(
            "c3_1_text_rsv1",
            vec![send([text("Hello, world!").rsv(1)]), Fail(&[1002])],
        ),
        case(
            "c3_2_text_rsv2_after_valid_text",
            vec![
                send([
                    text("Hello, world!"),
                    text("Hello, world!").rsv(2),
                    ping(""),
                ]),
                echo_text("Hello, world!"),
                Fail(&[1002]),
            ],
        ),
        case(
            "c3_3_text_rsv3_framewise",
            vec![
                Frames(
                    vec![
                        text("Hello, world!"),
                        text("Hello, world!").rsv(3),
                        ping(""),
                    ],
                    1,
                ),
                echo_text("Hello, world!"),
                Fail(&[1002]),
            ],
        ),
        case(
            "c3_4_text_rsv4_octetwise",
            vec![
                Chop(
                    vec![
                        text("Hello, world!"),
                        text("Hello, world!").rsv(4),
                        ping(""),
                    ],
                    1,
                    0,
                ),
                echo_text("Hello, world!"),
                Fail(&[1002]),
            ],
        ),
        case(
            "c3_5_binary_rsv5",
            vec![send([bin([0xff; 8]).rsv(5)]), Fail(&[1002])],
        ),
        case(
            "c3_6_ping_rsv6",
            vec![send([ping("Hello, world!").rsv(6)]), Fail(&[1002])],
        ),
        case(
            "c3_7_close_rsv7",
            vec![send([close(1000, "").rsv(7)]), Fail(&[1002])],
        ),
    ];
    // Extra: each single RSV bit on each kind of frame, after a valid text that is echoed first.
    let kinds = [
        ("text", vec![text("bad")]),
        ("binary", vec![bin([1, 2, 3])]),
        ("ping", vec![ping("p")]),
        ("pong", vec![pong("p")]),
        ("close", vec![close(1000, "")]),
        ("continuation", vec![text("frag").more(), cont("ment")]),
    ];
    let mut n = 0;
    for (kind, frames) in kinds {
        for (bit, rsv) in [(1, 0b100), (2, 0b010), (3, 0b001)] {
            n += 1;
            let mut frames = frames.clone();
            let last = frames.len() - 1;
            frames[last].rsv = rsv;
            let mut all = vec![text("valid first")];
            all.extend(frames);
            cases.push(case(
                format!("c3_8_{n}_{kind}_rsv{bit}"),
                vec![Send(all), echo_text("valid first"), Fail(&[1002])],
            ));
        }
    }
    // Extra: reserved bits fail a frame on its header, before its payload arrives.
    cases.push(case(
        "c3_9_1_rsv1_fails_on_the_header",
        vec![Prefix(bin([0; 1000]).rsv(4), 0), Fail(&[1002])],
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// 4 Opcodes
// ---------------------------------------------------------------------------------------------
