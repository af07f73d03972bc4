//! Reading pub/sub deliveries from a raw stream of server frames (`examples/pubsub_bench`): like the echo
//! parser of `bench` it skips payloads without copying them, but it keeps
//! the first [`HEAD`] bytes of each data message, where the bench puts a send timestamp and a
//! sequence number.

use anyhow::{anyhow, bail, Result};
use coro_websocket::proto::FrameHeader;

/// How many leading payload bytes of each message are handed over.
pub const HEAD: usize = 16;

/// Finds complete data messages in a stream of unmasked server frames and hands over the first
/// [`HEAD`] bytes of each (zero-padded when the payload is shorter).
///
/// Deliveries are expected whole, one frame per message: a fragmented message is an error, as is
/// a close frame. Pings and pongs are skipped.
#[derive(Default)]
pub struct DeliveryParser {
    /// Inside a frame: its header was consumed, its payload not yet all.
    in_frame: bool,
    /// Payload bytes of the current frame not consumed yet.
    remaining: u64,
    /// Whether the current frame is a data message.
    data: bool,
    /// The head of the current message so far.
    head: [u8; HEAD],
    /// Bytes of `head` filled, and how many the current message has.
    have: usize,
    want: usize,
}

impl DeliveryParser {
    /// Consumes whole frames and payload pieces from `buf`, calling `on_message` with the head of
    /// each data message completed; returns the bytes consumed. What is left is the start of a
    /// frame header, to be fed again with the bytes that follow it.
    ///
    /// # Errors
    /// A malformed header, a fragmented message, or a close frame from the server.
    pub fn feed(&mut self, buf: &[u8], mut on_message: impl FnMut(&[u8; HEAD])) -> Result<usize> {
        let mut pos = 0;
        loop {
            if self.in_frame {
                let avail = buf.len() - pos;
                if self.have < self.want {
                    let take = (self.want - self.have).min(avail);
                    self.head[self.have..self.have + take].copy_from_slice(&buf[pos..pos + take]);
                    self.have += take;
                    self.remaining -= take as u64;
                    pos += take;
                }
                let skip = self.remaining.min((buf.len() - pos) as u64);
                self.remaining -= skip;
                pos += skip as usize;
                if self.remaining > 0 || self.have < self.want {
                    return Ok(pos);
                }
                self.in_frame = false;
                if self.data {
                    on_message(&self.head);
                }
                continue;
            }
            let Some((header, n)) = FrameHeader::parse(&buf[pos..])
                .map_err(|e| anyhow!("bad frame header from the server: {e:?}"))?
            else {
                return Ok(pos);
            };
            match header.opcode {
                0x8 => bail!("the server closed the connection"),
                0x0 => bail!("a fragmented delivery (continuation frame)"),
                0x1 | 0x2 if !header.fin => bail!("a fragmented delivery (first frame)"),
                _ => {}
            }
            pos += n;
            self.in_frame = true;
            self.data = header.opcode <= 0x2;
            self.remaining = header.len;
            self.want = if self.data {
                HEAD.min(header.len as usize)
            } else {
                0
            };
            self.have = 0;
            self.head = [0; HEAD];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n => {
                f.push(126);
                f.extend((n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn heads_of_messages_split_anywhere() {
        let long: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let mut wire = frame(0x2, &long);
        wire.extend(frame(0x9, b"ping"));
        wire.extend(frame(0x1, b"short"));
        wire.extend(frame(0x2, b""));
        let mut expected_short = [0u8; HEAD];
        expected_short[..5].copy_from_slice(b"short");
        for cut in 0..wire.len() {
            let mut p = DeliveryParser::default();
            let mut heads = Vec::new();
            let used = p.feed(&wire[..cut], |h| heads.push(*h)).unwrap();
            let mut rest = wire[used..cut].to_vec();
            rest.extend_from_slice(&wire[cut..]);
            let used2 = p.feed(&rest, |h| heads.push(*h)).unwrap();
            assert_eq!(used2, rest.len(), "cut at {cut}");
            assert_eq!(heads.len(), 3, "cut at {cut}");
            assert_eq!(&heads[0][..], &long[..HEAD]);
            assert_eq!(heads[1], expected_short);
            assert_eq!(heads[2], [0; HEAD]);
        }
    }

    #[test]
    fn fragments_and_close_are_errors() {
        let mut p = DeliveryParser::default();
        assert!(p.feed(&[0x02, 0x01, 7], |_| {}).is_err());
        let mut p = DeliveryParser::default();
        assert!(p.feed(&[0x88, 0x02, 0x03, 0xe8], |_| {}).is_err());
    }
}
