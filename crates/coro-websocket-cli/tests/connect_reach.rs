//! `connect --proxy`, `--no-proxy` and `--reconnect` on the real binary, against servers and a
//! CONNECT proxy run by the test on ephemeral ports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

mod common;
use common::{frame, outcome, read_head, refusing_port, spawn_connect, switching, websocket_key};

/// Answers the upgrade in `head` by hand.
fn upgrade(s: &mut TcpStream, head: &str) {
    let key = websocket_key(head).unwrap();
    s.write_all(&switching(key, "")).unwrap();
}

/// A server whose connection `i` sends "hello i"; the first is then dropped without a close
/// frame, the second is closed normally (1000) after the greeting.
fn dropping_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for (i, tcp) in l.incoming().enumerate() {
            let mut tcp = tcp.unwrap();
            let head = read_head(&mut tcp).unwrap_or_default();
            upgrade(&mut tcp, &head);
            tcp.write_all(&frame(0x1, None, format!("hello {i}").as_bytes()))
                .unwrap();
            if i == 0 {
                drop(tcp);
                continue;
            }
            tcp.write_all(&[0x88, 2, 0x03, 0xe8]).unwrap();
            // Wait for the client's close echo, then end.
            let mut buf = [0u8; 64];
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = tcp.read(&mut buf);
            break;
        }
    });
    addr
}

fn connect(args: &[&str]) -> (i32, String, String) {
    let mut child = spawn_connect(args);
    // stdin stays open (EOF would close the session): the session ends from the server's side.
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    outcome(out)
}

#[test]
fn reconnect_keeps_the_session_alive_across_a_drop() {
    let addr = dropping_server();
    let url = format!("ws://{addr}/");
    let (code, stdout, stderr) = connect(&[&url, "--reconnect", "--no-proxy"]);
    assert_eq!(stdout, "hello 0\nhello 1\n", "{stderr}");
    assert_eq!(code, 0, "{stderr}");
    let reconnects = stderr.lines().filter(|l| l.contains("reconnect")).count();
    assert!(reconnects >= 1, "{stderr}");
}

#[test]
fn without_reconnect_a_drop_ends_the_session() {
    let addr = dropping_server();
    let (code, stdout, stderr) = connect(&[&format!("ws://{addr}/")]);
    assert_eq!(stdout, "hello 0\n");
    assert_eq!(code, 1);
    assert!(!stderr.contains("reconnect"), "{stderr}");
}

/// A one-connection CONNECT proxy; returns its address and the CONNECT line it got.
fn connect_proxy() -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut client, _) = l.accept().unwrap();
        let head = read_head(&mut client).unwrap_or_default();
        let target = head.split(' ').nth(1).unwrap().to_owned();
        tx.send(head.lines().next().unwrap().to_owned()).unwrap();
        let upstream = TcpStream::connect(&target).unwrap();
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut u2, &mut c2);
            // The origin hung up: so does the proxy.
            let _ = c2.shutdown(std::net::Shutdown::Both);
        });
        let (mut c, mut u) = (client, upstream);
        let _ = std::io::copy(&mut c, &mut u);
        let _ = u.shutdown(std::net::Shutdown::Both);
    });
    (addr, rx)
}

#[test]
fn proxy_flag_tunnels_through_a_connect_proxy() {
    let addr = dropping_server();
    let (proxy, seen) = connect_proxy();
    let (_, stdout, stderr) = connect(&[
        &format!("ws://{addr}/"),
        "--proxy",
        &format!("http://{proxy}"),
    ]);
    assert!(stdout.starts_with("hello 0\n"), "{stderr}");
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).unwrap(),
        format!("CONNECT {addr} HTTP/1.1")
    );
}

#[test]
fn an_unreachable_proxy_is_named_on_stderr() {
    let (_dead_origin, origin) = refusing_port();
    let (_dead_proxy, proxy) = refusing_port();
    let (code, _, stderr) = connect(&[
        &format!("ws://{origin}/"),
        "--proxy",
        &format!("http://{proxy}"),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("proxy"), "{stderr}");
    let _ = BufReader::new(stderr.as_bytes()).lines();
}
