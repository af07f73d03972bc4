//! RFC 6455 §5.2, Autobahn section 1: frames of every boundary length, whole and chopped.

use crate::script::*;

pub const LENGTHS: [usize; 7] = [0, 125, 126, 127, 128, 65535, 65536];

pub fn size_name(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}m", n >> 20),
        n if n >= 4096 && n % 1024 == 0 => format!("{}k", n >> 10),
        n => n.to_string(),
    }
}

pub fn g1_framing() -> Vec<Case> {
    let mut cases = Vec::new();
    for (sub, name, op) in [(1, "text", 1u8), (2, "binary", 2)] {
        let fill = if op == 1 { b'*' } else { 0xfe };
        for (i, len) in LENGTHS.into_iter().enumerate() {
            let payload = vec![fill; len];
            cases.push(case(
                format!("c1_{sub}_{}_{name}_{}", i + 1, size_name(len)),
                vec![send([F::new(op, &payload)]), Echo(op, P(payload))],
            ));
        }
        // Autobahn 1.x.8: 64 KiB written in chops of 997 bytes.
        let payload = vec![fill; 65536];
        cases.push(case(
            format!("c1_{sub}_8_{name}_64k_chopped_997"),
            vec![
                Chop(vec![F::new(op, &payload)], 997, 0),
                Echo(op, P(payload)),
            ],
        ));
        // Extra: a short message written one byte at a time.
        cases.push(case(
            format!("c1_{sub}_9_{name}_130_chopped_1"),
            vec![
                Chop(vec![F::new(op, [fill; 130])], 1, 0),
                Echo(op, P(vec![fill; 130])),
            ],
        ));
        // Extra: several messages of the boundary lengths in one write, echoed in order.
        let all: Vec<F> = LENGTHS.iter().map(|&n| F::new(op, vec![fill; n])).collect();
        let mut steps = vec![Send(all)];
        steps.extend(LENGTHS.iter().map(|&n| Echo(op, P(vec![fill; n]))));
        cases.push(case(
            format!("c1_{sub}_10_{name}_all_lengths_in_one_write"),
            steps,
        ));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// 2 Pings and pongs
// ---------------------------------------------------------------------------------------------
