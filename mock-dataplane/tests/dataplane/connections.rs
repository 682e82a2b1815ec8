//! Connection bounds (#14, finding 7): silent clients, stalled bodies and floods of idle
//! connections no longer hold the mock's sockets and descriptors for good.

use std::time::Duration;

use mock_dataplane::MockDataplane;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start_with(limits: serving::Limits) -> (MockDataplane, String) {
    let dp = MockDataplane::builder()
        .limits(limits)
        .start()
        .await
        .unwrap();
    let addr = dp.url().trim_start_matches("http://").to_owned();
    (dp, addr)
}

/// Reads until the server closes the connection; false if it is still open after `within`.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    let (_dp, addr) = start_with(serving::Limits {
        header_read_timeout: Some(Duration::from_millis(200)),
        ..serving::Limits::default()
    })
    .await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_stalled_body_is_closed_after_the_idle_timeout() {
    let (_dp, addr) = start_with(serving::Limits {
        idle_timeout: Some(Duration::from_millis(300)),
        ..serving::Limits::default()
    })
    .await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"batch\":[")
        .await
        .unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_and_are_served_once_one_closes() {
    let (dp, addr) = start_with(serving::Limits {
        max_connections: 2,
        ..serving::Limits::default()
    })
    .await;
    let idle: Vec<_> = connect_n(&addr, 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = format!("{}/health", dp.url());
    let waiting = tokio::spawn(async move { reqwest::get(health).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served beyond the limit");
    drop(idle);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

async fn connect_n(addr: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    v
}
