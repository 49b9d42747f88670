//! HTTPS for the API server, with a fixed test certificate authority.
//!
//! kubectl sends bearer tokens only over HTTPS (client-go drops credentials for `http://`
//! servers), so a server that enforces RBAC serves TLS. The certificate authority and the
//! server certificate (for `127.0.0.1`, `::1`, `localhost` and `kubernetes.default.svc`,
//! valid 2020 to 2120) are fixed test material shipped with the simulator: the key is public
//! and protects nothing. Clients trust [`CA_PEM`], as a pod trusts its mounted `ca.crt`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// The certificate authority that signed the server certificate, PEM.
pub const CA_PEM: &str = include_str!("ca.crt");

const CERT_PEM: &str = include_str!("tls.crt");
const KEY_PEM: &str = include_str!("tls.key");

/// How long a client may take over its handshake before the listener moves on.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate authority, DER, as kube-rs takes it (`Config::root_cert`).
pub fn ca_der() -> Vec<u8> {
    CertificateDer::from_pem_slice(CA_PEM.as_bytes())
        .expect("the shipped CA certificate is PEM")
        .to_vec()
}

/// [`CA_PEM`] in base64, as kubeconfigs carry it (`certificate-authority-data`).
pub fn ca_base64() -> String {
    base64(CA_PEM.as_bytes())
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The TLS configuration of the server: its certificate chain and key, HTTP/1.1.
fn server_config() -> Arc<ServerConfig> {
    let chain = vec![
        CertificateDer::from_pem_slice(CERT_PEM.as_bytes()).expect("shipped certificate is PEM"),
        CertificateDer::from_pem_slice(CA_PEM.as_bytes()).expect("shipped CA is PEM"),
    ];
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).expect("shipped key is PEM");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("shipped certificate and key match");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TCP listener whose connections are TLS, for `axum::serve`.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Serves TLS on connections accepted by `tcp`.
    pub fn new(tcp: TcpListener) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(server_config()),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum's own listener does.
                    tracing::debug!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => tracing::debug!(%addr, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_material_loads_and_encodes() {
        assert!(!ca_der().is_empty());
        let _ = server_config();
        let encoded = ca_base64();
        assert!(
            encoded.starts_with("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"),
            "{encoded}"
        );
        assert_eq!(encoded.len() % 4, 0);
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"abcd"), "YWJjZA==");
    }
}
