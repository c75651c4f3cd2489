//! A real SMTP server for the email tests: `smtp_server.py` on Python's `aiosmtpd`
//! (from PyPI; `cargo xtask test` installs it), started per test on a free port.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// One message as the SMTP server received and parsed it.
#[derive(Debug, Deserialize)]
pub struct ReceivedEmail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_tos: Vec<String>,
    /// The `From` header.
    pub from: String,
    /// The `To` header.
    pub to: String,
    /// The `Subject` header.
    pub subject: Option<String>,
    /// The `Message-ID` header.
    pub message_id: String,
    /// The text body.
    pub body: String,
    /// Whether the message came over TLS (implicit, or after `STARTTLS`).
    #[serde(default)]
    pub tls: bool,
}

/// How a [`SmtpServer`] started with [`SmtpServer::start_tls`] secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTls {
    /// Offers `STARTTLS`, and refuses mail until the client has used it.
    StartTls,
    /// TLS from the first byte (implicit TLS, as on port 465).
    Implicit,
}

/// A real SMTP server (`herald-testkit/smtp_server.py` on `aiosmtpd`), killed on drop.
pub struct SmtpServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    child: Child,
    directory: tempfile::TempDir,
}

/// How long the SMTP server may take to start listening.
const SMTP_START_TIMEOUT: Duration = Duration::from_secs(30);

impl SmtpServer {
    /// Starts the server on a free port and waits until it accepts connections.
    pub async fn start() -> SmtpServer {
        SmtpServer::spawn(&[]).await
    }

    /// Starts the server with TLS (`tls`), presenting the certificate `cert` (a PEM chain)
    /// with its private key `key`, and waits until it accepts connections.
    pub async fn start_tls(tls: ServerTls, cert: &Path, key: &Path) -> SmtpServer {
        let mode = match tls {
            ServerTls::StartTls => "starttls",
            ServerTls::Implicit => "tls",
        };
        SmtpServer::spawn(&[std::ffi::OsStr::new(mode), cert.as_os_str(), key.as_os_str()]).await
    }

    /// Starts `smtp_server.py` with the port, the directory and `extra` arguments.
    async fn spawn(extra: &[&std::ffi::OsStr]) -> SmtpServer {
        require_aiosmtpd();
        let directory = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp_server.py");
        let log = File::create(directory.path().join("server.log")).unwrap();
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(directory.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 runs");
        let mut server = SmtpServer { port, child, directory };
        server.wait_until_listening().await;
        server
    }

    /// Polls a connection to the port until it is accepted, against a deadline; fails
    /// early, with the server's output, if the server exits.
    async fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + SMTP_START_TIMEOUT;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the SMTP server exited with {status}: {}", self.log());
            }
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP server did not listen on {address} within {SMTP_START_TIMEOUT:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("server.log")).unwrap_or_default()
    }

    /// The messages received so far, in order of arrival. Each is written before the
    /// server's `250` reply, so every accepted send is already here.
    pub fn messages(&self) -> Vec<ReceivedEmail> {
        let directory = self.directory.path().join("messages");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(directory)
            .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
            .unwrap_or_default();
        paths.retain(|path| path.extension().is_some_and(|extension| extension == "json"));
        paths.sort();
        let read = |path: &PathBuf| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        paths.iter().map(read).collect()
    }

    /// How many SMTP sessions (connections greeted with `EHLO`) the server has seen.
    pub fn sessions(&self) -> usize {
        let log = self.directory.path().join("sessions.log");
        std::fs::read_to_string(log).map(|text| text.lines().count()).unwrap_or(0)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails, saying how to install it, unless `python3` can import `aiosmtpd`.
pub fn require_aiosmtpd() {
    let imported = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        imported,
        "the email tests need a real SMTP server: python3 cannot import aiosmtpd; run `pip install aiosmtpd`"
    );
}
