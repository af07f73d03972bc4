//! RFC 6455 §5.4, Autobahn section 5: fragmented messages, control frames between fragments, and
//! continuations out of place.

use crate::script::*;

pub fn g5_fragmentation() -> Vec<Case> {
    let two = || vec![text("fragment1").more(), cont("fragment2")];
    let two_ping = || {
        vec![
            text("fragment1").more(),
            ping("ping payload"),
            cont("fragment2"),
        ]
    };
    let whole = "fragment1fragment2";
    // The 5.9–5.11 / 5.12–5.14 preludes: a stray continuation, then a valid message and a ping.
    let stray = |fin: bool| {
        let c = cont("non-continuation payload");
        vec![
            if fin { c } else { c.more() },
            text("Hello, world!").more(),
            cont("Hello, world!"),
            ping(""),
        ]
    };
    let mut cases = vec![
        case(
            "c5_1_ping_in_2_fragments",
            vec![
                send([ping("fragment1").more(), cont("fragment2")]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_2_pong_in_2_fragments",
            vec![
                send([pong("fragment1").more(), cont("fragment2")]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_3_text_in_2_fragments",
            vec![Send(two()), echo_text(whole)],
        ),
        case(
            "c5_4_text_in_2_fragments_octetwise",
            vec![Chop(two(), 1, 0), echo_text(whole)],
        ),
        case(
            "c5_5_text_in_2_fragments_framewise",
            vec![Frames(two(), 20), echo_text(whole)],
        ),
        case(
            "c5_6_text_in_2_fragments_ping_between",
            vec![
                Send(two_ping()),
                expect_pong("ping payload"),
                echo_text(whole),
            ],
        ),
        case(
            "c5_7_text_in_2_fragments_ping_between_octetwise",
            vec![
                Chop(two_ping(), 1, 0),
                expect_pong("ping payload"),
                echo_text(whole),
            ],
        ),
        case(
            "c5_8_text_in_2_fragments_ping_between_framewise",
            vec![
                Frames(two_ping(), 20),
                expect_pong("ping payload"),
                echo_text(whole),
            ],
        ),
        case(
            "c5_9_stray_continuation_fin",
            vec![Send(stray(true)), Fail(&[1002])],
        ),
        case(
            "c5_10_stray_continuation_fin_framewise",
            vec![Frames(stray(true), 5), Fail(&[1002])],
        ),
        case(
            "c5_11_stray_continuation_fin_octetwise",
            vec![Chop(stray(true), 1, 0), Fail(&[1002])],
        ),
        case(
            "c5_12_stray_continuation_nofin",
            vec![Send(stray(false)), Fail(&[1002])],
        ),
        case(
            "c5_13_stray_continuation_nofin_framewise",
            vec![Frames(stray(false), 5), Fail(&[1002])],
        ),
        case(
            "c5_14_stray_continuation_nofin_octetwise",
            vec![Chop(stray(false), 1, 0), Fail(&[1002])],
        ),
        case(
            "c5_15_message_then_stray_continuation",
            vec![
                send([
                    text("fragment1").more(),
                    cont("fragment2"),
                    cont("fragment3").more(),
                    text("fragment4"),
                ]),
                echo_text(whole),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_16_stray_continuation_twice",
            vec![
                send([
                    cont("fragment1").more(),
                    text("fragment2").more(),
                    cont("fragment3"),
                    cont("fragment1").more(),
                    text("fragment2").more(),
                    cont("fragment3"),
                ]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_17_stray_final_continuation_twice",
            vec![
                send([
                    cont("fragment1"),
                    text("fragment2").more(),
                    cont("fragment3"),
                    cont("fragment1"),
                    text("fragment2").more(),
                    cont("fragment3"),
                ]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_18_text_then_new_text_instead_of_continuation",
            vec![
                send([text("fragment1").more(), text("fragment2")]),
                Fail(&[1002]),
            ],
        ),
    ];
    // 5.19/5.20: five fragments with two pings, and a pause in the middle (1 s in Autobahn).
    let five = |framewise: bool| {
        let first = vec![
            text("fragment1").more(),
            cont("fragment2").more(),
            ping("pongme 1!"),
        ];
        let second = vec![
            cont("fragment3").more(),
            cont("fragment4").more(),
            ping("pongme 2!"),
        ];
        let third = vec![cont("fragment5")];
        let s = |v: Vec<F>| if framewise { Frames(v, 10) } else { Send(v) };
        vec![
            s(first),
            expect_pong("pongme 1!"),
            Pause(200),
            s(second),
            expect_pong("pongme 2!"),
            s(third),
            echo_text("fragment1fragment2fragment3fragment4fragment5"),
        ]
    };
    cases.push(case("c5_19_five_fragments_two_pings", five(false)));
    cases.push(case("c5_20_five_fragments_two_pings_framewise", five(true)));
    // Extras.
    let hello = "Hello, fragmented world!";
    cases.extend([
        case(
            "c5_21_text_in_1_byte_fragments",
            vec![Send(fragments(1, hello.as_bytes(), 1)), echo_text(hello)],
        ),
        case(
            "c5_22_binary_in_1_byte_fragments",
            vec![Send(fragments(2, &[0xfe; 40], 1)), echo_bin([0xfe; 40])],
        ),
        case("c5_23_text_in_200_fragments_with_pings", {
            let payload: Vec<u8> = (0..1000).map(|i| b'a' + (i % 26) as u8).collect();
            let mut frames = fragments(1, &payload, 5);
            for k in (10..200).step_by(10).rev() {
                frames.insert(k, ping(format!("p{k}")));
            }
            let mut steps = vec![Send(frames)];
            steps.extend((10..200).step_by(10).map(|k| expect_pong(format!("p{k}"))));
            steps.push(echo_text(payload));
            steps
        }),
        case(
            "c5_24_empty_fragments",
            vec![
                send([
                    text("").more(),
                    cont("").more(),
                    cont("middle").more(),
                    cont("").more(),
                    cont(""),
                ]),
                echo_text("middle"),
            ],
        ),
        case(
            "c5_25_all_fragments_empty",
            vec![
                send([bin("").more(), cont("").more(), cont("")]),
                echo_bin(""),
            ],
        ),
        case(
            "c5_26_close_in_2_fragments",
            vec![
                send([F::new(8, [0x03]).more(), cont([0xe8])]),
                Fail(&[1002]),
            ],
        ),
        case(
            "c5_27_binary_then_new_binary_instead_of_continuation",
            vec![send([bin("a").more(), bin("b")]), Fail(&[1002])],
        ),
        case(
            "c5_28_two_fragmented_messages_back_to_back",
            vec![
                send([
                    text("ab").more(),
                    cont("cd"),
                    bin([1]).more(),
                    cont([2]).more(),
                    cont([3]),
                ]),
                echo_text("abcd"),
                echo_bin([1, 2, 3]),
            ],
        ),
        case(
            "c5_29_close_between_fragments_ends_without_echo",
            vec![
                send([text("frag").more(), close(1000, ""), cont("ment")]),
                Close(Some(1000)),
            ],
        ),
        case(
            "c5_30_stray_continuation_fails_on_the_header",
            vec![Prefix(cont([b'x'; 1000]), 0), Fail(&[1002])],
        ),
        case(
            "c5_31_new_message_during_fragments_fails_on_the_header",
            vec![
                send([text("frag").more()]),
                Prefix(text([b'x'; 1000]), 0),
                Fail(&[1002]),
            ],
        ),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// 6 UTF-8
// ---------------------------------------------------------------------------------------------
