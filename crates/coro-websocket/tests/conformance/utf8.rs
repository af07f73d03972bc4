//! RFC 6455 §5.6 and §8.1, Autobahn section 6: text must be valid UTF-8, checked as it arrives
//! (fail fast) across fragments and frames.

use crate::script::*;

/// "κόσμε" as in Autobahn and Markus Kuhn's test file, with U+1F79 (three bytes) for the ό.
pub const KOSME: &str = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}";

/// Valid UTF-8 (Markus Kuhn's test, Autobahn 6.2–6.23): `(case number, name, bytes)`.
pub fn valid_utf8() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("6_2_1", "hello", "Hello-µ@ßöäüàá-UTF-8!!".into()),
        ("6_5_1", "kosme", KOSME.into()),
        ("6_7_1", "u0000", vec![0x00]),
        ("6_7_2", "u0080", vec![0xc2, 0x80]),
        ("6_7_3", "u0800", vec![0xe0, 0xa0, 0x80]),
        ("6_7_4", "u10000", vec![0xf0, 0x90, 0x80, 0x80]),
        ("6_9_1", "u007f", vec![0x7f]),
        ("6_9_2", "u07ff", vec![0xdf, 0xbf]),
        ("6_9_3", "uffff", vec![0xef, 0xbf, 0xbf]),
        ("6_9_4", "u10ffff", vec![0xf4, 0x8f, 0xbf, 0xbf]),
        ("6_11_1", "ud7ff", vec![0xed, 0x9f, 0xbf]),
        ("6_11_2", "ue000", vec![0xee, 0x80, 0x80]),
        ("6_11_3", "ufffd", vec![0xef, 0xbf, 0xbd]),
        ("6_22_1", "ufffe_nonchar", vec![0xef, 0xbf, 0xbe]),
        ("6_22_2", "ufdd0_nonchar", vec![0xef, 0xb7, 0x90]),
        ("6_22_3", "u1fffe_nonchar", vec![0xf0, 0x9f, 0xbf, 0xbe]),
        ("6_22_4", "u10fffe_nonchar", vec![0xf4, 0x8f, 0xbf, 0xbe]),
        (
            "6_23_1",
            "mixed",
            "a\u{7f}\u{80}é\u{7ff}\u{800}€\u{ffff}\u{10000}😀\u{10ffff}z".into(),
        ),
    ]
}

/// Invalid UTF-8 (Autobahn 6.3–6.21): `(case number, name, bytes)`.
pub fn invalid_utf8() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let kosme = |bad: &[u8]| [KOSME.as_bytes(), bad, b"edited"].concat();
    vec![
        ("6_3_1", "surrogate_in_text", kosme(&[0xed, 0xa0, 0x80])),
        (
            "6_6_1",
            "kosme_prefix_cut",
            KOSME.as_bytes()[..KOSME.len() - 1].to_vec(),
        ),
        (
            "6_8_1",
            "five_byte_form",
            vec![0xf8, 0x88, 0x80, 0x80, 0x80],
        ),
        (
            "6_8_2",
            "six_byte_form",
            vec![0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
        ),
        ("6_10_1", "u1fffff_4_bytes", vec![0xf7, 0xbf, 0xbf, 0xbf]),
        (
            "6_10_2",
            "five_byte_max",
            vec![0xfb, 0xbf, 0xbf, 0xbf, 0xbf],
        ),
        (
            "6_10_3",
            "six_byte_max",
            vec![0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf],
        ),
        ("6_11_5", "u110000", vec![0xf4, 0x90, 0x80, 0x80]),
        ("6_12_1", "lone_continuation_80", vec![0x80]),
        ("6_12_2", "lone_continuation_bf", vec![0xbf]),
        ("6_12_3", "continuations_80_bf", vec![0x80, 0xbf]),
        ("6_12_8", "all_continuations", (0x80..=0xbf).collect()),
        ("6_13_1", "lonely_start_c0", vec![0xc0, 0x20]),
        ("6_13_2", "lonely_start_e0", vec![0xe0, 0x20]),
        ("6_13_3", "lonely_start_f0", vec![0xf0, 0x20]),
        ("6_14_1", "truncated_c2_at_end", vec![b'a', 0xc2]),
        ("6_14_2", "truncated_e0a0_at_end", vec![b'a', 0xe0, 0xa0]),
        (
            "6_14_3",
            "truncated_f09080_at_end",
            vec![b'a', 0xf0, 0x90, 0x80],
        ),
        ("6_14_4", "truncated_df_at_end", vec![0xdf]),
        ("6_14_5", "truncated_efbf_at_end", vec![0xef, 0xbf]),
        ("6_14_6", "truncated_f48fbf_at_end", vec![0xf4, 0x8f, 0xbf]),
        (
            "6_14_7",
            "truncated_euro_at_end",
            vec![b'a', b'b', 0xe2, 0x82],
        ),
        (
            "6_15_1",
            "concatenated_truncated",
            vec![
                0xc0, 0xe0, 0x80, 0xf0, 0x80, 0x80, 0xf8, 0x80, 0x80, 0x80, 0xfc, 0x80, 0x80, 0x80,
                0x80, 0xdf, 0xef, 0xbf, 0xf7, 0xbf, 0xbf,
            ],
        ),
        ("6_16_1", "byte_fe", vec![0xfe]),
        ("6_16_2", "byte_ff", vec![0xff]),
        ("6_16_3", "bytes_fefeffff", vec![0xfe, 0xfe, 0xff, 0xff]),
        ("6_17_1", "overlong_slash_2", vec![0xc0, 0xaf]),
        ("6_17_2", "overlong_slash_3", vec![0xe0, 0x80, 0xaf]),
        ("6_17_3", "overlong_slash_4", vec![0xf0, 0x80, 0x80, 0xaf]),
        (
            "6_17_4",
            "overlong_slash_5",
            vec![0xf8, 0x80, 0x80, 0x80, 0xaf],
        ),
        ("6_18_1", "max_overlong_2", vec![0xc1, 0xbf]),
        ("6_18_2", "max_overlong_3", vec![0xe0, 0x9f, 0xbf]),
        ("6_18_3", "max_overlong_4", vec![0xf0, 0x8f, 0xbf, 0xbf]),
        ("6_19_1", "overlong_nul_2", vec![0xc0, 0x80]),
        ("6_19_2", "overlong_nul_3", vec![0xe0, 0x80, 0x80]),
        ("6_19_3", "overlong_nul_4", vec![0xf0, 0x80, 0x80, 0x80]),
        (
            "6_19_4",
            "overlong_nul_5",
            vec![0xf8, 0x80, 0x80, 0x80, 0x80],
        ),
        (
            "6_19_5",
            "overlong_nul_6",
            vec![0xfc, 0x80, 0x80, 0x80, 0x80, 0x80],
        ),
        ("6_20_1", "surrogate_d800", vec![0xed, 0xa0, 0x80]),
        ("6_20_2", "surrogate_db7f", vec![0xed, 0xad, 0xbf]),
        ("6_20_3", "surrogate_db80", vec![0xed, 0xae, 0x80]),
        ("6_20_4", "surrogate_dbff", vec![0xed, 0xaf, 0xbf]),
        ("6_20_5", "surrogate_dc00", vec![0xed, 0xb0, 0x80]),
        ("6_20_6", "surrogate_df80", vec![0xed, 0xbe, 0x80]),
        ("6_20_7", "surrogate_dfff", vec![0xed, 0xbf, 0xbf]),
        (
            "6_21_1",
            "surrogate_pair_first",
            vec![0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
        ),
        (
            "6_21_8",
            "surrogate_pair_last",
            vec![0xed, 0xaf, 0xbf, 0xed, 0xbf, 0xbf],
        ),
    ]
}

pub fn g6_utf8() -> Vec<Case> {
    let mut cases = vec![
        case("c6_1_1_empty_text", vec![send([text("")]), echo_text("")]),
        case(
            "c6_1_2_empty_text_in_3_fragments",
            vec![
                send([text("").more(), cont("").more(), cont("")]),
                echo_text(""),
            ],
        ),
        case(
            "c6_1_3_text_with_empty_first_and_last_fragments",
            vec![
                send([
                    text("").more(),
                    cont("middle frame payload").more(),
                    cont(""),
                ]),
                echo_text("middle frame payload"),
            ],
        ),
        // 6.2.2: split at code point boundaries; 6.2.3/6.2.4: split inside code points.
        case(
            "c6_2_2_hello_in_2_fragments_at_a_boundary",
            vec![
                send([text("Hello-µ@ßöä").more(), cont("üàá-UTF-8!!")]),
                echo_text("Hello-µ@ßöäüàá-UTF-8!!"),
            ],
        ),
        case(
            "c6_2_4_kosme_fragments_inside_code_points",
            vec![
                send([
                    text([0xce]).more(),
                    cont([0xba, 0xe1]).more(),
                    cont([0xbd]).more(),
                    cont(&KOSME.as_bytes()[4..]),
                ]),
                echo_text(KOSME),
            ],
        ),
    ];
    for (n, name, bytes) in valid_utf8() {
        cases.push(case(
            format!("c{n}_{name}_whole"),
            vec![send([text(&bytes)]), echo_text(&bytes)],
        ));
        cases.push(case(
            format!("c{n}_{name}_1_byte_fragments"),
            vec![Send(fragments(1, &bytes, 1)), echo_text(&bytes)],
        ));
        cases.push(case(
            format!("c{n}_{name}_chopped_1"),
            vec![Chop(vec![text(&bytes)], 1, 0), echo_text(&bytes)],
        ));
    }
    for (n, name, bytes) in invalid_utf8() {
        cases.push(case(
            format!("c{n}_{name}_whole"),
            vec![send([text(&bytes)]), Fail(&[1007])],
        ));
        cases.push(case(
            format!("c{n}_{name}_1_byte_fragments"),
            vec![Send(fragments(1, &bytes, 1)), Fail(&[1007])],
        ));
        // After a valid text, which must be echoed first.
        cases.push(case(
            format!("c{n}_{name}_after_valid_text"),
            vec![
                send([text(KOSME), text(&bytes)]),
                echo_text(KOSME),
                Fail(&[1007]),
            ],
        ));
    }
    // 6.4: fail fast. The invalid sequence arrives while the rest of the message is withheld;
    // our side must close with 1007 without waiting for it.
    let kosme = KOSME.as_bytes();
    let frame = [kosme, &[0xf4, 0x90, 0x80, 0x80], b"edited"].concat();
    cases.extend([
        case(
            "c6_4_1_fail_fast_on_fragment_with_u110000",
            vec![
                send([text(kosme).more()]),
                Pause(50),
                send([cont([0xf4, 0x90, 0x80, 0x80]).more()]),
                // The final fragment (`cont("edited")`) is never sent.
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_2_fail_fast_on_fragment_after_f4",
            vec![
                send([text(kosme).more()]),
                Pause(50),
                send([cont([0xf4]).more()]),
                Pause(50),
                send([cont([0x90, 0x80, 0x80]).more()]),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_3_fail_fast_mid_frame",
            vec![
                Prefix(text(&frame), kosme.len()),
                Pause(50),
                More(4),
                // The last 6 bytes of the frame are withheld.
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_4_fail_fast_mid_frame_one_byte_past",
            vec![
                Prefix(text(&frame), kosme.len()),
                Pause(50),
                More(1),
                Pause(50),
                More(1),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_5_fail_fast_mid_frame_ff",
            vec![
                Prefix(text([b"ab".as_slice(), &[0xff], &[b'c'; 200]].concat()), 3),
                Fail(&[1007]),
            ],
        ),
        // A code point split around a ping: the ping's payload is not text.
        case(
            "c6_4_6_ping_payload_does_not_complete_a_split_code_point",
            vec![
                send([text([0xce]).more(), ping([0xba]), cont("x")]),
                expect_pong([0xba]),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_7_code_point_split_around_a_ping",
            vec![
                send([text([0xce]).more(), ping([0xff]), cont([0xba])]),
                expect_pong([0xff]),
                echo_text("\u{3ba}"),
            ],
        ),
        case(
            "c6_4_8_invalid_utf8_in_the_third_fragment_with_the_rest_withheld",
            vec![
                send([text("ab").more(), cont([0xe2, 0x82]).more()]),
                Prefix(
                    cont([[0xac, b'c', 0xc0].as_slice(), &[b'd'; 100]].concat()),
                    3,
                ),
                Fail(&[1007]),
            ],
        ),
        case(
            "c6_4_9_binary_is_not_utf8_checked",
            vec![
                send([bin([0xc0, 0x80, 0xff, 0xed, 0xa0, 0x80])]),
                echo_bin([0xc0, 0x80, 0xff, 0xed, 0xa0, 0x80]),
            ],
        ),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// 7 Close
// ---------------------------------------------------------------------------------------------
