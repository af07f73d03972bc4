//! The blocking API, from plain threads, against an async echo server running on its own
//! runtime thread.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::refusing_port;
use coro_websocket::{
    accept, blocking, CloseCode, Error, Message, Options, Proxy, Rejection, ServerOptions,
};

/// An echo server on a runtime in a background thread.
fn echo_server(options: ServerOptions) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            while let Ok((tcp, _)) = l.accept().await {
                let options = options.clone();
                tokio::spawn(async move {
                    let Ok((_, mut read, mut write)) = accept(tcp, options).await else {
                        return;
                    };
                    while let Ok(Some(m)) = read.read_message().await {
                        if write.write(m).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn options(addr: SocketAddr) -> Options {
    Options {
        proxy: Proxy::None,
        ..Options::from_url(&format!("ws://{addr}/")).unwrap()
    }
}

#[test]
fn connect_write_read_close_without_async() {
    let addr = echo_server(ServerOptions::default());
    let (res, mut read, mut write) = blocking::connect(options(addr)).unwrap();
    assert_eq!(res.code, 101);
    write.write(Message::text("hello")).unwrap();
    let reply = read.read_message().unwrap().unwrap();
    assert_eq!(reply.as_text(), Some("hello"));
    write.write(Message::binary(vec![1u8; 300_000])).unwrap();
    assert_eq!(read.read().unwrap().unwrap().payload.len(), 300_000);
    write.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(read.read_message().unwrap().is_none());
    assert_eq!(read.close_frame().unwrap().code, CloseCode::NORMAL);
    assert!(write.is_closed());
}

#[test]
fn reader_and_writer_in_different_threads() {
    let addr = echo_server(ServerOptions::default());
    let (_res, mut read, mut write) = blocking::connect(options(addr)).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(m) = read.read_message().unwrap() {
            got.push(m.as_text().unwrap().to_owned());
        }
        got
    });
    for i in 0..100 {
        write.write(Message::text(format!("m{i}"))).unwrap();
    }
    // The server echoes in order, so every echo arrives before its answer to the close.
    write.close(CloseCode::NORMAL, "").unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 100);
    assert_eq!(got[99], "m99");
}

#[test]
fn a_refused_upgrade_is_an_error() {
    let addr = echo_server(ServerOptions {
        on_request: Some(std::sync::Arc::new(|_| Err(Rejection::new(401, "no")))),
        ..Default::default()
    });
    let err = blocking::connect(options(addr)).unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    let (_refusing, addr) = refusing_port();
    assert!(matches!(
        blocking::connect(options(addr)),
        Err(Error::Io(_))
    ));
}
