//! How a published message travels between nodes through the broker: one byte string holding
//! the publishing node's id (so that a node can drop its own messages when the broker echoes
//! them), the topic, the message type and the payload.
//!
//! Layout: `b'W'`, version 1, 16 bytes of node id, opcode (1 text, 2 binary), topic length (u16,
//! big-endian), topic (UTF-8), payload.

use bytes::{BufMut, Bytes, BytesMut};

use crate::proto::{Message, Opcode};

const MAGIC: u8 = b'W';
const VERSION: u8 = 1;
const HEAD: usize = 2 + 16 + 1 + 2;

/// Encodes a message for the broker.
pub(super) fn encode(node: &[u8; 16], topic: &str, message: &Message) -> Bytes {
    let topic = &topic.as_bytes()[..topic.len().min(u16::MAX as usize)];
    let mut out = BytesMut::with_capacity(HEAD + topic.len() + message.payload.len());
    out.put_u8(MAGIC);
    out.put_u8(VERSION);
    out.put_slice(node);
    out.put_u8(message.opcode as u8);
    out.put_u16(topic.len() as u16);
    out.put_slice(topic);
    out.put_slice(&message.payload);
    out.freeze()
}

/// Decodes an envelope from the broker: `None` if it is not one of ours (or is damaged).
pub(super) fn decode(envelope: &[u8]) -> Option<([u8; 16], &str, Message)> {
    if envelope.len() < HEAD || envelope[0] != MAGIC || envelope[1] != VERSION {
        return None;
    }
    let node: [u8; 16] = envelope[2..18].try_into().ok()?;
    let opcode = match Opcode::from_u8(envelope[18])? {
        op @ (Opcode::Text | Opcode::Binary) => op,
        _ => return None,
    };
    let topic_len = u16::from_be_bytes([envelope[19], envelope[20]]) as usize;
    let rest = &envelope[HEAD..];
    let topic = std::str::from_utf8(rest.get(..topic_len)?).ok()?;
    let payload = &rest[topic_len..];
    if opcode == Opcode::Text && std::str::from_utf8(payload).is_err() {
        return None;
    }
    Some((
        node,
        topic,
        Message::new(opcode, Bytes::copy_from_slice(payload)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let node = [7u8; 16];
        let e = encode(&node, "/rooms/lobby", &Message::text("héllo"));
        let (n, topic, m) = decode(&e).unwrap();
        assert_eq!(
            (n, topic, m.as_text()),
            (node, "/rooms/lobby", Some("héllo"))
        );
        let b = encode(&node, "", &Message::binary(vec![0xff, 0]));
        assert_eq!(decode(&b).unwrap().2, Message::binary(vec![0xff, 0]));
        assert!(decode(&e[..HEAD - 1]).is_none());
        let mut bad = e.to_vec();
        bad[18] = 9;
        assert!(decode(&bad).is_none());
        let mut text = encode(&node, "t", &Message::text("x")).to_vec();
        *text.last_mut().unwrap() = 0xff;
        assert!(decode(&text).is_none(), "invalid UTF-8 in a text message");
    }
}
