//! RFC 6455 §5.2, Autobahn section 4: reserved opcodes fail the connection.

use crate::script::*;

pub fn g4_opcodes() -> Vec<Case> {
    let mut cases = Vec::new();
    for (sub, ops) in [(1, 3u8..=7), (2, 11u8..=15)] {
        for (i, op) in ops.enumerate() {
            // Autobahn sends x.1 empty and the others with a payload and a ping after.
            let payload: &[u8] = if i == 0 { b"" } else { b"reserved opcode" };
            cases.push(case(
                format!("c4_{sub}_{}_opcode_{op}", i + 1),
                vec![
                    send([text("Hello, world!"), F::new(op, payload), ping("")]),
                    echo_text("Hello, world!"),
                    Fail(&[1002]),
                ],
            ));
        }
    }
    // Extra: a reserved opcode in the middle of a fragmented message.
    cases.push(case(
        "c4_3_1_reserved_opcode_between_fragments",
        vec![
            send([text("frag").more(), F::new(3, "x"), cont("ment")]),
            Fail(&[1002]),
        ],
    ));
    cases.push(case(
        "c4_3_2_reserved_opcode_fails_on_the_header",
        vec![Prefix(F::new(4, [0; 1000]), 0), Fail(&[1002])],
    ));
    cases
}

// ---------------------------------------------------------------------------------------------
// 5 Fragmentation
// ---------------------------------------------------------------------------------------------
