//! The local AWS emulator (tests/awsemu: moto plus our extensions) as a child process of the test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const READY_DEADLINE: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(50);

pub fn repo_root() -> PathBuf {
    // controller/ is one level below the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Creates the Python environment once per test process (tests/bin/venv.sh is cached by hash).
fn python() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(|| {
        let root = repo_root();
        let status = Command::new(root.join("tests/bin/venv.sh"))
            .status()
            .map_err(|e| format!("running tests/bin/venv.sh: {e}"))?;
        if !status.success() {
            return Err(format!("tests/bin/venv.sh failed: {status}"));
        }
        Ok(root.join(".venv/bin/python"))
    })
    .clone()
}

pub struct Emulator {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Emulator {
    pub fn start() -> Result<Emulator, String> {
        let python = python()?;
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let port_file = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("awsemu.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let mut child = Command::new(python)
            .args([
                "-m",
                "awsemu",
                "serve",
                "--port",
                "0",
                "--quiet",
                "--port-file",
            ])
            .arg(&port_file)
            .env("PYTHONPATH", repo_root().join("tests"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawning the emulator: {e}"))?;
        let deadline = Instant::now() + READY_DEADLINE;
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse::<u16>()
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(dir.path().join("awsemu.log")).unwrap_or_default();
                return Err(format!(
                    "the emulator exited with {status} before it was ready:\n{log}"
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the emulator did not write {} within {READY_DEADLINE:?}",
                    port_file.display()
                ));
            }
            std::thread::sleep(POLL);
        };
        Ok(Emulator {
            child,
            port,
            _dir: dir,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One HTTP/1.0 request to the emulator's control endpoint; returns (status, body).
    fn http(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| format!("read: {e}"))?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status in {response:?}"))?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Makes every launch in the matching pools fail with `error_code` ("*" matches any value).
    pub fn fault(
        &self,
        instance_type: &str,
        zone: &str,
        capacity_type: &str,
        error_code: &str,
    ) -> Result<(), String> {
        let body = serde_json::json!({
            "instance_type": instance_type, "zone": zone, "capacity_type": capacity_type, "error_code": error_code,
        })
        .to_string();
        match self.http("POST", "/_awsemu/faults", &body)? {
            (201, _) => Ok(()),
            (status, body) => Err(format!("POST /_awsemu/faults: {status} {body}")),
        }
    }

    /// The emulator's own prices for a type, to check ours against.
    pub fn prices(&self, region: &str, instance_type: &str) -> Result<serde_json::Value, String> {
        let (status, body) = self.http(
            "GET",
            &format!("/_awsemu/prices?region={region}&instance_type={instance_type}"),
            "",
        )?;
        if status != 200 {
            return Err(format!("GET /_awsemu/prices: {status} {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("prices body {body:?}: {e}"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
