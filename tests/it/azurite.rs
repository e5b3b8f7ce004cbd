//! Azure Blob Storage through Azurite (Microsoft's emulator, the npm package) started on
//! 127.0.0.1, installed into `~/.cache/lifecycle/azurite` on first use (or
//! `$LIFECYCLE_AZURITE_DIR`): the daily job reads and publishes there, and the publish tests
//! (`publish.rs`, the commit race among them) run on it too. Without `node` the tests that need
//! it say so and skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use hmac::{KeyInit, Mac};

/// The pinned emulator release.
const AZURITE: &str = "azurite@3.35.0";
/// Azurite's well-known development account and key (public, in Microsoft's docs).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service, stopped when dropped.
pub struct Azurite {
    child: Child,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl Azurite {
    /// Starts the emulator with a fresh data folder and no telemetry; Err says why it cannot
    /// run here (no `node`/`npm`), for the test to print.
    pub fn start() -> Result<Azurite, String> {
        let bin = installed()?;
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--silent"])
            .args(["--disableTelemetry", "--skipApiVersionCheck", "--location"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start azurite-blob: {e}"))?;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split("listens on http://127.0.0.1:")
                    .nth(1)
                    .map(str::to_string)
            })
            .and_then(|p| p.trim().parse().ok());
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let Some(port) = port else {
            let _ = child.kill();
            panic!("azurite-blob started but never said where it listens");
        };
        Ok(Azurite {
            child,
            port,
            _data: data,
        })
    }

    /// The blob endpoint of the development account (path style).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The store options that reach this emulator.
    pub fn options(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("azure_storage_account_name", ACCOUNT.to_string()),
            ("azure_storage_account_key", KEY.to_string()),
            ("azure_storage_endpoint", self.endpoint()),
            ("allow_http", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The spec's `[storage]` section for this emulator.
    pub fn storage_section(&self) -> String {
        let options: String = self
            .options()
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\"\n"))
            .collect();
        format!("[storage]\nmax_retries = 2\nretry_timeout_secs = 5\n[storage.options]\n{options}")
    }

    /// Creates a container (object_store has no call for it): one Shared Key signed request.
    pub fn create_container(&self, name: &str) {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT{}x-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container",
            "\n".repeat(12)
        );
        let request = format!(
            "PUT /{ACCOUNT}/{name}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             x-ms-date: {date}\r\nx-ms-version: {version}\r\nAuthorization: SharedKey \
             {ACCOUNT}:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port,
            signature(&to_sign)
        );
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        socket.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        socket.read_to_string(&mut response).unwrap();
        let status = response.lines().next().unwrap_or_default();
        assert!(
            status.contains(" 201 "),
            "create container {name}: {response}"
        );
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Base64 of HMAC-SHA256 of `text` under the account key.
fn signature(text: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(KEY).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(text.as_bytes());
    b64.encode(mac.finalize().into_bytes())
}

/// The `azurite-blob` script, installed with npm on first use.
fn installed() -> Result<PathBuf, String> {
    let dir = std::env::var_os("LIFECYCLE_AZURITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/lifecycle/azurite")
        });
    let bin = dir.join("node_modules/.bin/azurite-blob");
    if bin.exists() {
        return Ok(bin);
    }
    let has = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("node") || !has("npm") {
        return Err("node and npm are not installed".into());
    }
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(AZURITE)
        .status()
        .unwrap();
    assert!(status.success(), "npm install {AZURITE} failed");
    Ok(bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_job_reads_from_and_writes_to_azure_blob_storage() {
    let azurite = match Azurite::start() {
        Ok(a) => a,
        Err(why) => return println!("skipped: {why}"),
    };
    azurite.create_container("lake");
    let remote = crate::s3::Remote {
        root: "az://lake",
        storage: azurite.storage_section(),
        stores: lifecycle_storage::Stores::default(),
        options: azurite.options(),
    };
    crate::s3::job_reads_and_writes(&remote).await;
}
