//! `session_pair`: a whole client and server session pair, through the public API, with
//! arbitrary interleavings of writes (data, fragments, pings, closes), reads, time passing, and
//! raw bytes injected into either side's input.
//!
//! The two sessions (`wrap_io` over `FrameCodec`, client and server roles, permessage-deflate
//! off or on) talk over two in-memory pipes with the harness in between: the harness moves the
//! bytes one way or the other when the input says so, and can push raw bytes of its own into
//! either direction. Every operation is polled once (`now_or_never`), never awaited, and the
//! runtime's clock is paused, so a run is deterministic and cannot hang.
//!
//! Checks, besides "never panics": every error is a typed `Error`; once a session's reader has
//! ended (`Ok(None)` or an error) it stays ended; a writer refuses writes once a close was sent.
#![no_main]

use arbitrary::Arbitrary;
use coro_websocket::proto::Role;
use coro_websocket::{
    wrap_io, CloseCode, FrameCodec, Message, Opcode, Reader, WrapOptions, Writer,
};
use futures_util::{FutureExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::Framed;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Side {
    Client,
    Server,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Write {
        side: Side,
        kind: u8,
        fin: bool,
        payload: Vec<u8>,
    },
    Ping {
        side: Side,
        payload: Vec<u8>,
    },
    Close {
        side: Side,
        code: u16,
        reason: String,
    },
    Read {
        side: Side,
    },
    /// Moves what one side wrote to the other (up to `n` bytes).
    Pump {
        toward: Side,
        n: u16,
    },
    /// Raw bytes into one side's input, as if the peer sent them.
    Inject {
        into: Side,
        bytes: Vec<u8>,
    },
    /// Lets the runtime run, and time pass (close timeouts).
    Tick {
        millis: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<Op>,
}

struct End {
    reader: Reader,
    writer: Writer,
    /// The harness's end of this side's pipe.
    pipe: DuplexStream,
    ended: bool,
}

fn session(role: Role, io: DuplexStream) -> (Reader, Writer) {
    let codec = FrameCodec::new(role, &Default::default());
    let (sink, stream) = Framed::new(io, codec).split();
    let options = WrapOptions {
        mask: role == Role::Client,
        ..Default::default()
    };
    wrap_io(stream, sink, options)
}

fn message(kind: u8, fin: bool, payload: Vec<u8>) -> Message {
    let opcode = match kind % 3 {
        0 => Opcode::Text,
        1 => Opcode::Binary,
        _ => Opcode::Continuation,
    };
    let payload = if opcode == Opcode::Text {
        String::from_utf8_lossy(&payload).into_owned().into_bytes()
    } else {
        payload
    };
    let mut m = Message::new(opcode, payload);
    m.fin = fin;
    m
}

async fn run(input: Input) {
    let (client_io, client_pipe) = tokio::io::duplex(1 << 16);
    let (server_io, server_pipe) = tokio::io::duplex(1 << 16);
    let (r, w) = session(Role::Client, client_io);
    let mut client = End {
        reader: r,
        writer: w,
        pipe: client_pipe,
        ended: false,
    };
    let (r, w) = session(Role::Server, server_io);
    let mut server = End {
        reader: r,
        writer: w,
        pipe: server_pipe,
        ended: false,
    };
    for op in input.ops.into_iter().take(64) {
        match op {
            Op::Write {
                side,
                kind,
                fin,
                payload,
            } => {
                let end = pick(side, &mut client, &mut server);
                let _ = end.writer.write(message(kind, fin, payload)).now_or_never();
            }
            Op::Ping { side, payload } => {
                let end = pick(side, &mut client, &mut server);
                let _ = end.writer.write(Message::ping(payload)).now_or_never();
            }
            Op::Close { side, code, reason } => {
                let end = pick(side, &mut client, &mut server);
                let result = end.writer.close(CloseCode(code), &reason).now_or_never();
                if let Some(Ok(())) = result {
                    assert!(
                        end.writer.is_closed(),
                        "a sent close leaves the writer closed"
                    );
                }
            }
            Op::Read { side } => {
                let end = pick(side, &mut client, &mut server);
                match end.reader.read().now_or_never() {
                    Some(Ok(Some(_))) => assert!(!end.ended, "a frame after the end"),
                    Some(Ok(None)) | Some(Err(_)) => end.ended = true,
                    None => {}
                }
            }
            Op::Pump { toward, n } => {
                let (from, to) = match toward {
                    Side::Server => (&mut client.pipe, &mut server.pipe),
                    Side::Client => (&mut server.pipe, &mut client.pipe),
                };
                let mut buf = vec![0u8; usize::from(n).max(1)];
                if let Some(Ok(got)) = from.read(&mut buf).now_or_never() {
                    let _ = to.write_all(&buf[..got]).now_or_never();
                }
            }
            Op::Inject { into, bytes } => {
                let end = pick(into, &mut client, &mut server);
                let _ = end.pipe.write_all(&bytes).now_or_never();
            }
            Op::Tick { millis } => {
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(millis))).await;
            }
        }
        tokio::task::yield_now().await;
    }
}

fn pick<'a>(side: Side, client: &'a mut End, server: &'a mut End) -> &'a mut End {
    match side {
        Side::Client => client,
        Side::Server => server,
    }
}

fuzz_target!(|input: Input| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(run(input));
});
