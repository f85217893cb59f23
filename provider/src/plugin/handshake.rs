//! The go-plugin handshake: how Terraform starts us and learns where to connect.

use std::fmt::Write as _;
use std::net::SocketAddr;

use base64::Engine as _;
use tokio::net::TcpListener;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own protocol version, first field of the handshake line.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
pub const PROTOCOL_VERSION: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("this binary is a Terraform plugin and is not meant to be run directly")]
    NotLaunchedByTerraform,
    #[error(
        "Terraform offered plugin protocol versions {0:?}; this provider speaks only version 6 (Terraform 1.0 or newer, or OpenTofu)"
    )]
    UnsupportedProtocol(String),
    #[error("no free loopback port between {0} and {1}")]
    NoPort(u16, u16),
    #[error("invalid PLUGIN_MIN_PORT/PLUGIN_MAX_PORT: {0}")]
    BadPortRange(String),
    #[error("binding the loopback listener: {0}")]
    Io(#[from] std::io::Error),
}

/// The environment Terraform (go-plugin) sets for a plugin process.
#[derive(Debug, Default, Clone)]
pub struct PluginEnv {
    pub cookie: Option<String>,
    pub protocol_versions: Option<String>,
    pub min_port: Option<String>,
    pub max_port: Option<String>,
    pub client_cert: Option<String>,
    pub disable_tls: bool,
}

impl PluginEnv {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        PluginEnv {
            cookie: var(MAGIC_COOKIE_KEY),
            protocol_versions: var("PLUGIN_PROTOCOL_VERSIONS"),
            min_port: var("PLUGIN_MIN_PORT"),
            max_port: var("PLUGIN_MAX_PORT"),
            client_cert: var("PLUGIN_CLIENT_CERT"),
            disable_tls: var("TF_DISABLE_PLUGIN_TLS").is_some(),
        }
    }

    pub fn check_cookie(&self) -> Result<(), HandshakeError> {
        if self.cookie.as_deref() == Some(MAGIC_COOKIE_VALUE) {
            Ok(())
        } else {
            Err(HandshakeError::NotLaunchedByTerraform)
        }
    }

    /// PLUGIN_PROTOCOL_VERSIONS is a set ("5,6" or "6,5"); absent means the caller predates
    /// negotiation and expects our one version.
    pub fn negotiate(&self) -> Result<u32, HandshakeError> {
        let Some(list) = &self.protocol_versions else {
            return Ok(PROTOCOL_VERSION);
        };
        let offered = list.split(',').filter_map(|v| v.trim().parse::<u32>().ok());
        if offered.into_iter().any(|v| v == PROTOCOL_VERSION) {
            Ok(PROTOCOL_VERSION)
        } else {
            Err(HandshakeError::UnsupportedProtocol(list.clone()))
        }
    }

    pub fn port_range(&self) -> Result<Option<(u16, u16)>, HandshakeError> {
        match (&self.min_port, &self.max_port) {
            (Some(lo), Some(hi)) => {
                let p = |s: &str| {
                    s.trim()
                        .parse::<u16>()
                        .map_err(|_| HandshakeError::BadPortRange(format!("{lo}..{hi}")))
                };
                let (lo_n, hi_n) = (p(lo)?, p(hi)?);
                if lo_n > hi_n {
                    return Err(HandshakeError::BadPortRange(format!("{lo}..{hi}")));
                }
                Ok(Some((lo_n, hi_n)))
            }
            _ => Ok(None),
        }
    }

    /// TLS unless Terraform asked for plaintext or gave us no client certificate to pin.
    pub fn client_cert_for_tls(&self) -> Option<&str> {
        if self.disable_tls {
            None
        } else {
            self.client_cert.as_deref()
        }
    }
}

/// Binds loopback, within Terraform's port range when it gave one.
pub async fn bind(range: Option<(u16, u16)>) -> Result<TcpListener, HandshakeError> {
    let Some((lo, hi)) = range else {
        return Ok(TcpListener::bind(("127.0.0.1", 0)).await?);
    };
    for port in lo..=hi {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
            return Ok(l);
        }
    }
    Err(HandshakeError::NoPort(lo, hi))
}

/// `1|6|tcp|127.0.0.1:PORT|grpc|CERT`, the certificate being DER in unpadded standard base64.
pub fn handshake_line(addr: SocketAddr, cert_der: Option<&[u8]>) -> String {
    let mut s = format!("{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|tcp|{addr}|grpc");
    if let Some(der) = cert_der {
        let _ = write!(
            s,
            "|{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(der)
        );
    }
    s
}

/// What a person running the binary by hand is told.
pub fn not_a_plugin_message(binary: &str, source: &str) -> String {
    format!(
        "{binary} is a Terraform plugin (provider {source}, plugin protocol 6).\n\
         It is started by Terraform or OpenTofu, not run directly. To use it:\n\
         \x20 1. declare it:  terraform {{ required_providers {{ karpenter = {{ source = \"{source}\" }} }} }}\n\
         \x20 2. install it into a filesystem mirror (make install) and run `terraform init`, or\n\
         \x20    point a CLI config at it: provider_installation {{ dev_overrides {{ \"{source}\" = \"<dir of this binary>\" }} direct {{}} }}\n\
         \x20    with TF_CLI_CONFIG_FILE=<that file>, then run terraform plan/apply (no init needed).\n\
         To write the registry docs instead: {binary} docs --out docs/\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(versions: Option<&str>) -> PluginEnv {
        PluginEnv {
            cookie: Some(MAGIC_COOKIE_VALUE.into()),
            protocol_versions: versions.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn version_negotiation_treats_the_list_as_a_set() {
        assert_eq!(env(Some("5,6")).negotiate().unwrap(), 6);
        assert_eq!(env(Some("6,5")).negotiate().unwrap(), 6);
        assert_eq!(env(None).negotiate().unwrap(), 6);
        assert!(env(Some("5")).negotiate().is_err());
    }

    #[test]
    fn cookie_must_match_exactly() {
        assert!(env(None).check_cookie().is_ok());
        let mut e = env(None);
        e.cookie = Some("nope".into());
        assert!(e.check_cookie().is_err());
        e.cookie = None;
        assert!(e.check_cookie().is_err());
    }

    #[test]
    fn handshake_line_has_unpadded_base64_cert() {
        let addr: SocketAddr = "127.0.0.1:1234".parse().unwrap();
        assert_eq!(
            handshake_line(addr, Some(&[1, 2, 3, 4])),
            "1|6|tcp|127.0.0.1:1234|grpc|AQIDBA"
        );
        assert_eq!(handshake_line(addr, None), "1|6|tcp|127.0.0.1:1234|grpc");
    }

    #[test]
    fn tls_is_off_when_disabled() {
        let mut e = env(None);
        e.client_cert = Some("pem".into());
        assert_eq!(e.client_cert_for_tls(), Some("pem"));
        e.disable_tls = true;
        assert_eq!(e.client_cert_for_tls(), None);
    }

    #[tokio::test]
    async fn binds_within_the_port_range() {
        let probe = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let l = bind(Some((port, port))).await.unwrap();
        assert_eq!(l.local_addr().unwrap().port(), port);
    }
}
