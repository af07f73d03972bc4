//! Autobahn section 9 (scaled down; no timing assertions) and `max_message_size` (RFC 6455
//! §10.4): large messages, many messages, fragments, and the message limit.

use coro_websocket::Config;

use crate::script::*;

pub fn g9_limits() -> Vec<Case> {
    let mib = 1 << 20;
    let text_1m: Vec<u8> = (0..mib).map(|i| b'a' + (i % 26) as u8).collect();
    let bin_1m: Vec<u8> = (0..mib).map(|i| (i * 7 % 251) as u8).collect();
    let mut cases = vec![
        case(
            "c9_1_3_text_1m",
            vec![send([text(&text_1m)]), echo_text(&text_1m)],
        ),
        case(
            "c9_2_3_binary_1m",
            vec![send([bin(&bin_1m)]), echo_bin(&bin_1m)],
        ),
        // Autobahn 9.2.6: the largest message its defaults (and ours) allow in one frame.
        case(
            "c9_2_6_binary_16m",
            vec![
                send([bin(vec![0xfe; 16 * mib])]),
                echo_bin(vec![0xfe; 16 * mib]),
            ],
        ),
        case(
            "c9_3_1_text_1m_in_64_byte_fragments",
            vec![Send(fragments(1, &text_1m, 64)), echo_text(&text_1m)],
        ),
        case(
            "c9_3_4_text_1m_in_4k_fragments",
            vec![Send(fragments(1, &text_1m, 4096)), echo_text(&text_1m)],
        ),
        case(
            "c9_4_1_binary_1m_in_64_byte_fragments",
            vec![Send(fragments(2, &bin_1m, 64)), echo_bin(&bin_1m)],
        ),
        case(
            "c9_4_4_binary_1m_in_4k_fragments",
            vec![Send(fragments(2, &bin_1m, 4096)), echo_bin(&bin_1m)],
        ),
        case(
            "c9_5_1_text_1m_chopped_64",
            vec![Chop(vec![text(&text_1m)], 64, 0), echo_text(&text_1m)],
        ),
        case(
            "c9_6_4_binary_1m_chopped_4k",
            vec![Chop(vec![bin(&bin_1m)], 4096, 0), echo_bin(&bin_1m)],
        ),
    ];
    // 9.7/9.8: 1000 messages, here pipelined in one write; all echoed in order.
    for (id, op, size) in [
        ("c9_7_2_1000_texts_of_16", 1u8, 16usize),
        ("c9_8_3_1000_binaries_of_64", 2, 64),
    ] {
        let msgs: Vec<Vec<u8>> = (0..1000)
            .map(|i| {
                let mut m = format!("{i:06}").into_bytes();
                m.resize(size, b'.');
                m
            })
            .collect();
        let mut steps = vec![Send(msgs.iter().map(|m| F::new(op, m)).collect())];
        steps.extend(msgs.into_iter().map(|m| Echo(op, P(m))));
        cases.push(case(id, steps));
    }
    // Extra: max_message_size on the endpoint under test.
    let small = || {
        let mut c = Config::default();
        c.max_message_size = 1000;
        c
    };
    cases.extend([
        case(
            "c9_9_1_message_at_max_message_size",
            vec![send([bin([1; 1000])]), echo_bin([1; 1000])],
        )
        .config(small()),
        case(
            "c9_9_2_message_over_max_message_size",
            vec![send([bin([1; 1001])]), Fail(&[1009])],
        )
        .config(small()),
        case(
            "c9_9_3_text_over_max_message_size",
            vec![
                send([text("ok"), text([b'x'; 1001])]),
                echo_text("ok"),
                Fail(&[1009]),
            ],
        )
        .config(small()),
        case(
            "c9_9_4_fragmented_message_over_max_message_size",
            vec![send([bin([1; 600]).more(), cont([2; 401])]), Fail(&[1009])],
        )
        .config(small()),
        case(
            "c9_9_5_fragments_at_max_message_size",
            vec![
                send([bin([1; 600]).more(), cont([2; 400])]),
                echo_bin([[1; 600].as_slice(), &[2; 400]].concat()),
            ],
        )
        .config(small()),
        // The limit is enforced on a frame header, before its payload arrives.
        case(
            "c9_9_6_over_max_message_size_fails_on_the_header",
            vec![Prefix(bin([1; 1001]), 0), Fail(&[1009])],
        )
        .config(small()),
        case(
            "c9_9_7_fragment_over_max_message_size_fails_on_its_header",
            vec![
                send([bin([1; 600]).more()]),
                Prefix(cont([2; 401]), 0),
                Fail(&[1009]),
            ],
        )
        .config(small()),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// 10 Miscellaneous: auto-fragmentation
// ---------------------------------------------------------------------------------------------
