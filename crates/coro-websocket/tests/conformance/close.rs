//! RFC 6455 §5.5.1 and §7, Autobahn section 7: the closing handshake, close payloads, status
//! codes and reasons.

use crate::script::*;
use crate::utf8::KOSME;

pub fn g7_close() -> Vec<Case> {
    let reason = "Hello World!";
    let mut cases = vec![
        case(
            "c7_1_1_text_then_close",
            vec![
                send([text("Hello World!"), close(1000, "")]),
                echo_text("Hello World!"),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_2_two_closes",
            vec![send([close(1000, ""), close(1000, "")]), Close(Some(1000))],
        ),
        case(
            "c7_1_3_ping_after_close_not_answered",
            vec![
                send([close(1000, ""), ping("Hello World!")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_4_text_after_close_ignored",
            vec![
                send([close(1000, ""), text("Hello World!")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_5_close_between_fragments",
            vec![
                send([text("fragment1").more(), close(1000, ""), cont("fragment2")]),
                Close(Some(1000)),
            ],
        ),
        case("c7_1_6_256k_text_then_close_then_ping", {
            let big = vec![b'B'; 256 << 10];
            vec![
                send([text(&big), close(1000, ""), ping("Hello World!")]),
                echo_text(big),
                Close(Some(1000)),
            ]
        }),
        case(
            "c7_3_1_close_empty",
            vec![send([F::new(8, [])]), Close(None)],
        ),
        case(
            "c7_3_2_close_1_byte",
            vec![send([F::new(8, [b'a'])]), Fail(&[1002])],
        ),
        case(
            "c7_3_3_close_1000_no_reason",
            vec![send([close(1000, "")]), Close(Some(1000))],
        ),
        case(
            "c7_3_4_close_1000_reason",
            vec![send([close(1000, reason)]), Close(Some(1000))],
        ),
        case(
            "c7_3_5_close_1000_reason_123",
            vec![send([close(1000, [b'*'; 123])]), Close(Some(1000))],
        ),
        case(
            "c7_3_6_close_1000_reason_124",
            vec![send([close(1000, [b'*'; 124])]), Fail(&[1002])],
        ),
        case(
            "c7_5_1_close_reason_invalid_utf8",
            vec![
                send([close(
                    1000,
                    [KOSME.as_bytes(), &[0xed, 0xa0, 0x80], b"edited"].concat(),
                )]),
                Fail(&[1007]),
            ],
        ),
        case(
            "c7_5_2_close_reason_truncated_utf8",
            vec![send([close(1000, [b'a', 0xe2, 0x82])]), Fail(&[1007])],
        ),
        case(
            "c7_5_3_close_reason_multibyte_utf8_valid",
            vec![send([close(1001, "κόσμε 😀")]), Close(Some(1001))],
        ),
        // The close reason is checked on its own, not as part of an unfinished text message.
        case(
            "c7_5_4_close_reason_checked_apart_from_a_split_code_point",
            vec![
                send([text([0xce]).more(), close(1000, "\u{e9}")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c7_1_7_close_chopped_1",
            vec![Chop(vec![close(1000, reason)], 1, 1), Close(Some(1000))],
        ),
        case(
            "c7_1_8_close_after_ping_and_message",
            vec![
                send([ping("p"), text("m"), close(3000, "bye")]),
                expect_pong("p"),
                echo_text("m"),
                Close(Some(3000)),
            ],
        ),
    ];
    let valid = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ];
    for (i, code) in valid.into_iter().enumerate() {
        cases.push(case(
            format!("c7_7_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Close(Some(code))],
        ));
    }
    // Extra: registered after RFC 6455 (IANA), valid on the wire.
    for (i, code) in [1012, 1013, 1014].into_iter().enumerate() {
        cases.push(case(
            format!("c7_8_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Close(Some(code))],
        ));
    }
    let invalid = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];
    for (i, code) in invalid.into_iter().enumerate() {
        cases.push(case(
            format!("c7_9_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Fail(&[1002])],
        ));
    }
    for (i, code) in [5000, 65535, 1015].into_iter().enumerate() {
        cases.push(case(
            format!("c7_13_{}_close_code_{code}", i + 1),
            vec![send([close(code, reason)]), Fail(&[1002])],
        ));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// 9 Limits and performance (scaled down; no timing assertions)
// ---------------------------------------------------------------------------------------------
