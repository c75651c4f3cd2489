//! Certificates for the TLS tests, made by the test with `openssl` in a directory of its
//! own: a certificate authority, a server certificate it signs for `127.0.0.1` and
//! `localhost`, and a client certificate it signs (for mutual TLS). No system store
//! trusts the authority, so a client trusts the server only when given the CA's file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether `program` runs (it is started with `args`, which should be cheap, such as
/// `--version`). A missing program fails the test under `CI=true`; elsewhere it prints a
/// note saying what is skipped and returns `false`.
pub fn require_tool(program: &str, args: &[&str], needed_for: &str) -> bool {
    let runs = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if runs {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "`{program}` does not run, and {needed_for} needs it (on Debian: apt-get install it)"
    );
    eprintln!("note: skipping, `{program}` does not run and {needed_for} needs it");
    false
}

/// The files of a test's certificates (PEM), all in the directory given to
/// [`TestCertificates::make`].
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The certificate authority's certificate: the file a client trusts.
    pub ca: PathBuf,
    /// The server's certificate, for `127.0.0.1` and `localhost`, signed by the CA.
    pub server_cert: PathBuf,
    /// The server certificate's private key.
    pub server_key: PathBuf,
    /// A client certificate (`CN=herald-test-client`), signed by the CA.
    pub client_cert: PathBuf,
    /// The client certificate's private key.
    pub client_key: PathBuf,
}

impl TestCertificates {
    /// Makes the CA and the certificates it signs (P-256 keys, valid one day) in `dir`.
    /// `None`, after a note, when `openssl` is missing outside CI (see [`require_tool`]).
    pub fn make(dir: &Path) -> Option<TestCertificates> {
        if !require_tool("openssl", &["version"], "making the test's certificates") {
            return None;
        }
        let path = |file: &str| dir.join(file);
        let certificates = TestCertificates {
            ca: path("ca.pem"),
            server_cert: path("server.pem"),
            server_key: path("server.key"),
            client_cert: path("client.pem"),
            client_key: path("client.key"),
        };
        let ca_key = path("ca.key");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(&[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", text(&ca_key), "-out", text(&certificates.ca)],
            &["-days", "1", "-subj", "/CN=herald-test-ca"],
        ]);
        let server = "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
                      keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n";
        let client = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
                      extendedKeyUsage=clientAuth\n";
        for (name, cert, key, subject, extensions) in [
            ("server", &certificates.server_cert, &certificates.server_key, "localhost", server),
            (
                "client",
                &certificates.client_cert,
                &certificates.client_key,
                "herald-test-client",
                client,
            ),
        ] {
            let (request, extension_file) =
                (path(&format!("{name}.csr")), path(&format!("{name}.ext")));
            std::fs::write(&extension_file, extensions).expect("write the extensions");
            let subject = format!("/CN={subject}");
            openssl(&[
                &["req"][..],
                &ec,
                &["-keyout", text(key), "-out", text(&request), "-subj", &subject],
            ]);
            openssl(&[
                &["x509", "-req", "-in", text(&request)][..],
                &["-CA", text(&certificates.ca), "-CAkey", text(&ca_key), "-CAcreateserial"],
                &["-out", text(cert), "-days", "1", "-extfile", text(&extension_file)],
            ]);
        }
        Some(certificates)
    }
}

/// A path as an argument (the test's temporary directories are UTF-8).
fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Runs `openssl` with the concatenated `args`, which must succeed.
fn openssl(args: &[&[&str]]) {
    let args = args.concat();
    let output = Command::new("openssl").args(&args).output().expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
