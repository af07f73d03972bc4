//! `FrameCodec`: the counterpart of luvit's websocket-codec, as a `tokio_util` codec.
//!
//! A thin adapter: decoding is [`proto::FrameDecoder`](crate::proto::FrameDecoder), encoding is
//! [`proto::encode_frame`](crate::proto::encode_frame). It adds only the masking-key source.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::config::Config;
use crate::error::Error;
use crate::proto::{encode_frame, FrameDecoder, Message, Role};

/// A source of masking keys. The default draws each key from a CSPRNG (RFC 6455 §5.3:
/// "derived from a strong source of entropy"); tests may inject a fixed one.
pub type MaskSource = fn() -> [u8; 4];

pub(crate) fn random_mask() -> [u8; 4] {
    rand::random()
}

/// Encodes and decodes WebSocket frames ([`Message`]s) for one end of a connection.
///
/// Use it with `tokio_util::codec::Framed` (or `FramedRead`/`FramedWrite`) to get the frame
/// `Stream` and `Sink` that [`wrap_io`](crate::wrap_io) takes. Outgoing frames are masked when
/// their `mask` field is set, with a fresh key each.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
/// use coro_websocket::{FrameCodec, Message, proto::Role};
/// let mut client = FrameCodec::new(Role::Client, &Default::default());
/// let mut server = FrameCodec::new(Role::Server, &Default::default());
/// let mut wire = BytesMut::new();
/// client.encode(Message { mask: true, ..Message::text("hi") }, &mut wire).unwrap();
/// let got = server.decode(&mut wire).unwrap().unwrap();
/// assert_eq!(got.as_text(), Some("hi"));
/// assert!(got.mask);
/// ```
#[derive(Debug, Clone)]
pub struct FrameCodec {
    decoder: FrameDecoder,
    mask_source: MaskSource,
}

impl FrameCodec {
    /// A codec for the given role, with the frame and message limits of `config`.
    pub fn new(role: Role, config: &Config) -> FrameCodec {
        FrameCodec {
            decoder: FrameDecoder::new(role, config.max_frame_size, config.max_message_size),
            mask_source: random_mask,
        }
    }

    /// Replaces the masking-key source (for byte-exact tests).
    pub fn with_mask_source(mut self, source: MaskSource) -> FrameCodec {
        self.mask_source = source;
        self
    }
}

impl Decoder for FrameCodec {
    type Item = Message;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        Ok(self.decoder.decode(src)?)
    }
}

impl Encoder<Message> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), Error> {
        let mask = msg.mask.then(self.mask_source);
        encode_frame(&msg, mask, dst);
        Ok(())
    }
}
