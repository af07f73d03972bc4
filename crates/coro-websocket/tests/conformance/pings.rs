//! RFC 6455 §5.5.2–5.5.3, Autobahn section 2: pings are answered with pongs of the same payload,
//! unsolicited pongs are ignored, oversize pings fail.

use crate::script::*;

pub fn g2_pings() -> Vec<Case> {
    let binary = [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff];
    let ten: Vec<String> = (0..10).map(|i| format!("payload-{i}")).collect();
    let mut ten_pongs: Vec<Step> = ten.iter().map(expect_pong).collect();
    let mut cases = vec![
        case("c2_1_ping_empty", vec![send([ping("")]), expect_pong("")]),
        case(
            "c2_2_ping_text",
            vec![send([ping("Hello, world!")]), expect_pong("Hello, world!")],
        ),
        case(
            "c2_3_ping_binary",
            vec![send([ping(binary)]), expect_pong(binary)],
        ),
        case(
            "c2_4_ping_125",
            vec![send([ping([0xfe; 125])]), expect_pong([0xfe; 125])],
        ),
        case(
            "c2_5_ping_126_fails",
            vec![send([ping([0xfe; 126])]), Fail(&[1002])],
        ),
        case(
            "c2_6_ping_125_chopped_1",
            vec![
                Chop(vec![ping([0xfe; 125])], 1, 1),
                expect_pong([0xfe; 125]),
            ],
        ),
        case(
            "c2_7_unsolicited_pong_empty",
            vec![send([pong("")]), Quiet(50)],
        ),
        case(
            "c2_8_unsolicited_pong_payload",
            vec![send([pong("unsolicited pong payload")]), Quiet(50)],
        ),
        case(
            "c2_9_unsolicited_pong_then_ping",
            vec![
                send([pong("unsolicited pong payload"), ping("ping payload")]),
                expect_pong("ping payload"),
            ],
        ),
    ];
    let mut steps = vec![send(ten.iter().map(ping))];
    steps.append(&mut ten_pongs.clone());
    cases.push(case("c2_10_ten_pings", steps));
    let mut steps = vec![Chop(ten.iter().map(ping).collect(), 1, 0)];
    steps.append(&mut ten_pongs);
    cases.push(case("c2_11_ten_pings_chopped_1", steps));
    // Extra: pings interleaved with messages are answered in order.
    cases.push(case(
        "c2_12_pings_between_messages",
        vec![
            send([text("a"), ping("1"), bin("b"), ping("2"), text("c")]),
            echo_text("a"),
            expect_pong("1"),
            echo_bin("b"),
            expect_pong("2"),
            echo_text("c"),
        ],
    ));
    // Extra: an oversize ping fails on its header, before its payload arrives.
    cases.push(case(
        "c2_13_ping_126_fails_on_the_header",
        vec![Prefix(ping([0xfe; 126]), 0), Fail(&[1002])],
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// 3 Reserved bits
// ---------------------------------------------------------------------------------------------
