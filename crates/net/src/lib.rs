//! The one outgoing HTTP client of Nightshift: model providers, Prometheus, notification
//! webhooks and the command line's calls to the agent all build their `reqwest` client here,
//! so that every one of them speaks https the same way.
//!
//! # Trust
//! TLS is rustls with the `ring` crypto provider, handed to reqwest as a finished
//! `rustls::ClientConfig`: no process-wide provider has to be installed, and aws-lc-rs is not
//! built. A server is trusted when its chain ends in
//! - one of the system's roots (on Linux the OpenSSL locations, or `SSL_CERT_FILE` and
//!   `SSL_CERT_DIR`), read once per process, or
//! - a certificate of [`TlsSettings::ca_file`], a PEM file of one or more certificates (a
//!   private CA, a corporate proxy's CA).
//!
//! A system store that cannot be read is logged and leaves only the `ca_file` (plain http
//! needs no roots, so it is no reason to stop); a `ca_file` that cannot be read or holds no
//! certificate is an error naming the path.
//!
//! # Use
//! ```no_run
//! # async fn send(tls: &nightshift_net::TlsSettings) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! // Once, when the component starts: a bad ca_file stops it here, naming the path.
//! let http = nightshift_net::client(tls)?
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//! // On every request: explain() puts TLS's reason (unknown issuer, wrong name) in the log.
//! match http.post("https://hooks.example.com/nightshift").body("{}").send().await {
//!     Ok(response) => tracing::debug!(status = %response.status(), "delivered"),
//!     Err(e) => tracing::warn!(error = %nightshift_net::explain(&e), "not delivered"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Configuration sections take a [`TlsSettings`] (`ca_file: PATH`, unknown keys refused) and
//! check it when they load with [`TlsSettings::check`], so that a missing file is reported
//! before anything starts.

#![warn(missing_docs)]

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, RootCertStore};
use serde::{Deserialize, Serialize};

/// Which certificate authorities outgoing https connections trust beyond the system's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// A PEM file of CA certificates trusted in addition to the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl TlsSettings {
    /// Settings trusting the certificates of `path` besides the system's roots.
    pub fn with_ca_file(path: impl Into<PathBuf>) -> Self {
        TlsSettings {
            ca_file: Some(path.into()),
        }
    }

    /// Reads the `ca_file`, if any, and checks that it holds certificates: what a
    /// configuration loader calls to refuse a bad file before anything starts.
    pub fn check(&self) -> Result<(), NetError> {
        match &self.ca_file {
            Some(path) => ca_certificates(path).map(drop),
            None => Ok(()),
        }
    }
}

/// Why an outgoing client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The CA file is missing or unreadable.
    #[error("unable to read the CA file {}: {source}", path.display())]
    ReadCaFile {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The CA file is not PEM.
    #[error("the CA file {} is not PEM: {source}", path.display())]
    ParseCaFile {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The CA file holds no certificate.
    #[error(
        "the CA file {} holds no certificate; expected PEM blocks starting with -----BEGIN CERTIFICATE-----",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A certificate of the CA file cannot be a trust anchor.
    #[error("certificate {index} of the CA file {} is not usable: {source}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Its position in the file, from 1.
        index: usize,
        /// Cause.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("unable to configure TLS: {source}")]
    Tls {
        /// Cause.
        #[source]
        source: rustls::Error,
    },
}

/// A client builder whose https trusts the system's roots and `settings.ca_file`; the caller
/// adds its timeouts and builds it.
pub fn client(settings: &TlsSettings) -> Result<reqwest::ClientBuilder, NetError> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(rustls_config(settings)?))
}

/// The rustls configuration behind [`client`], for clients that are not reqwest (a WebSocket).
pub fn rustls_config(settings: &TlsSettings) -> Result<rustls::ClientConfig, NetError> {
    let mut roots = RootCertStore::empty();
    let system = system_roots();
    let (added, _) = roots.add_parsable_certificates(system.certs.iter().cloned());
    match &settings.ca_file {
        Some(path) => {
            for (i, cert) in ca_certificates(path)?.into_iter().enumerate() {
                roots.add(cert).map_err(|source| NetError::BadCertificate {
                    path: path.clone(),
                    index: i + 1,
                    source,
                })?;
            }
            if added == 0 {
                tracing::info!(
                    problems = %system.problems,
                    ca_file = %path.display(),
                    "no system root certificate was loaded; https trusts the CA file only"
                );
            }
        }
        None if added == 0 => tracing::warn!(
            problems = %system.problems,
            "no system root certificate was loaded: https endpoints will be refused (install \
             the ca-certificates package, set SSL_CERT_FILE, or name a CA file in tls.ca_file)"
        ),
        None => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| NetError::Tls { source })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates of a PEM file, at least one.
fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let bytes = std::fs::read(path).map_err(|source| NetError::ReadCaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| NetError::ParseCaFile {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(NetError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The system's roots, and what went wrong reading them.
struct SystemRoots {
    certs: Vec<CertificateDer<'static>>,
    problems: String,
}

/// Read once per process: the store does not change under a running agent, and every client
/// built at start would otherwise read and log it again.
fn system_roots() -> &'static SystemRoots {
    static ROOTS: OnceLock<SystemRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let problems = found
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        if !found.errors.is_empty() && !found.certs.is_empty() {
            tracing::warn!(%problems, "some system root certificates could not be read");
        }
        SystemRoots {
            certs: found.certs,
            problems: if problems.is_empty() {
                "none found".into()
            } else {
                problems
            },
        }
    })
}

/// A transport error as one line: reqwest's message followed by each cause down to the TLS
/// reason (`invalid peer certificate: UnknownIssuer`, `certificate not valid for name ...`),
/// with a hint of what to check. reqwest's own `Display` stops at "error sending request".
pub fn explain(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut hint = None;
    let mut cause = err.source();
    while let Some(e) = cause {
        let text = e.to_string();
        // Layers that wrap an error often repeat its text.
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        hint = hint.or_else(|| rustls_error(e).and_then(hint_for));
        cause = e.source();
    }
    if let Some(hint) = hint {
        message.push_str(" (");
        message.push_str(hint);
        message.push(')');
    }
    message
}

/// The rustls error in `e`, directly or inside the `io::Error`s the TLS stream and the
/// connector wrap it in (an `io::Error`'s `source` skips its payload, so it is unwrapped here).
fn rustls_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        e = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)?;
    }
}

/// What to check for the TLS failures people meet most.
fn hint_for(e: &rustls::Error) -> Option<&'static str> {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => Some(
            "the server's certificate is signed by a CA that is neither among the system's roots nor in the configured ca_file",
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Some("the server's certificate was issued for another name than the URL's host"),
        rustls::Error::InvalidMessage(_) => {
            Some("the server does not speak TLS on this port; is the URL meant to be http://?")
        }
        _ => None,
    }
}
