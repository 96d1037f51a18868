//! A tiny SMTP server on 127.0.0.1 that accepts mail and records it, for
//! tests of email delivery (engine tests and end-to-end tests alike).
//!
//! It speaks just enough SMTP for a client such as lettre: a `220`
//! greeting, `EHLO`/`HELO` → `250`, `MAIL`/`RCPT` → `250`, `DATA` → `354`
//! then the message up to a line holding a single `.` → `250`, `RSET` and
//! `NOOP` → `250`, `QUIT` → `221`. Every loop is bounded (connections,
//! lines, bytes, and a read timeout), and the server task is aborted when
//! the sink is dropped, so it always stops by itself.
//!
//! ```ignore
//! let sink = SmtpSink::start().await;
//! // point the tenant's SMTP settings at 127.0.0.1:{sink.port()}, tls "none"
//! let mails = sink.wait_for(1, Duration::from_secs(5)).await;
//! assert_eq!(mails[0].header("Subject").as_deref(), Some("Welcome"));
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Connections served before the sink stops accepting.
const MAX_CONNECTIONS: usize = 100;
/// Command lines read per connection.
const MAX_LINES: usize = 1000;
/// Bytes of one message.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// A client silent this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One message as it arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers, blank line, body) with dot-stuffing undone and
    /// CRLF line ends.
    pub data: String,
}

impl Mail {
    /// The first header of that name (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_owned());
            }
        }
        value
    }

    /// The body: everything after the first blank line.
    pub fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

/// How the sink answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkConfig {
    /// Refuse this many messages first (`451` after `DATA`), to test retries.
    pub reject_first: usize,
}

/// A running sink; stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink that accepts everything.
    pub async fn start() -> Self {
        Self::start_with(SinkConfig::default()).await
    }

    /// Starts a sink with `cfg`.
    pub async fn start_with(cfg: SinkConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the smtp sink");
        let addr = listener.local_addr().expect("sink address");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let rejects = Arc::new(Mutex::new(cfg.reject_first));
        let (m, r) = (Arc::clone(&mails), Arc::clone(&rejects));
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every
            // connection task too.
            let mut conns = JoinSet::new();
            for _ in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                conns.spawn(serve(stream, Arc::clone(&m), Arc::clone(&r)));
                while conns.try_join_next().is_some() {}
            }
            while conns.join_next().await.is_some() {}
        });
        Self { addr, mails, task }
    }

    /// The port to configure.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Mail> {
        self.mails.lock().expect("sink lock").clone()
    }

    /// Waits (at most `timeout`, polling every 10 ms) until `n` messages
    /// arrived, and returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let rounds = (timeout.as_millis() / 10).max(1);
        for _ in 0..rounds {
            if self.mails.lock().expect("sink lock").len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.received()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `<a@b> SIZE=…` → `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or_default().to_owned(),
    }
}

async fn serve(stream: TcpStream, mails: Arc<Mutex<Vec<Mail>>>, rejects: Arc<Mutex<usize>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut mail = Mail::default();
    if write.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    for _ in 0..MAX_LINES {
        let Some(line) = read_line(&mut read).await else {
            return;
        };
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 OK\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail = Mail {
                from: address(&line[10..]),
                ..Mail::default()
            };
            b"250 2.1.0 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(address(&line[8..]));
            b"250 2.1.5 OK\r\n"
        } else if upper == "DATA" {
            if write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.is_err() {
                return;
            }
            let Some(data) = read_data(&mut read).await else {
                return;
            };
            let reject = {
                let mut left = rejects.lock().expect("sink lock");
                let reject = *left > 0;
                *left = left.saturating_sub(1);
                reject
            };
            if reject {
                b"451 4.3.0 try again later\r\n"
            } else {
                mail.data = data;
                mails.lock().expect("sink lock").push(std::mem::take(&mut mail));
                b"250 2.0.0 queued\r\n"
            }
        } else if upper == "RSET" {
            mail = Mail::default();
            b"250 OK\r\n"
        } else if upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            b"502 5.5.2 command not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// One line without its CRLF; `None` at the end, on error or timeout.
async fn read_line<R: AsyncBufReadExt + Unpin>(read: &mut R) -> Option<String> {
    let mut buf = Vec::new();
    let n = tokio::time::timeout(READ_TIMEOUT, read.read_until(b'\n', &mut buf))
        .await
        .ok()?
        .ok()?;
    if n == 0 || buf.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    let line = String::from_utf8_lossy(&buf);
    Some(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The message after `DATA`, up to the lone `.`, dot-stuffing undone.
async fn read_data<R: AsyncBufReadExt + Unpin>(read: &mut R) -> Option<String> {
    let mut data = String::new();
    // At most one line per byte allowed: bounded.
    for _ in 0..MAX_MESSAGE_BYTES {
        let line = read_line(read).await?;
        if line == "." {
            return Some(data);
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        if data.len() + line.len() > MAX_MESSAGE_BYTES {
            return None;
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    None
}
