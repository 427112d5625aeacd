//! TLS for PostgreSQL connections, with rustls (the TLS stack reqwest already brings, and
//! with the same aws-lc-rs provider, so no second crypto library is built).
//!
//! `sslmode` decides what is checked, as in libpq:
//! - `prefer` and `require` encrypt but accept any certificate: they protect against a
//!   passive eavesdropper, not against an impostor. libpq behaves the same way, and
//!   operators who move a libpq URL into feedwatch get what they had.
//! - `verify-full` checks the chain against the system's roots (or the `sslrootcert` file)
//!   and the host name: the mode to use across any network one does not control.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PgError;
use crate::config::SslMode;

/// The connector for `mode` (not [`SslMode::Disable`]).
pub(super) fn connector(mode: SslMode, root: Option<&Path>) -> Result<MakeRustlsConnect, PgError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(e.to_string()))?;
    let config = if mode == SslMode::VerifyFull {
        builder
            .with_root_certificates(roots(root)?)
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly { provider }))
            .with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

/// Trusted roots: the `sslrootcert` PEM file, else the system's store.
fn roots(root: Option<&Path>) -> Result<RootCertStore, PgError> {
    let mut store = RootCertStore::empty();
    match root {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    PgError::Tls(format!("cannot read sslrootcert {}: {e}", path.display()))
                })?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PgError::Tls(format!(
                    "sslrootcert {} holds no usable certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(PgError::Tls(
                    "sslmode=verify-full found no trusted roots in the system store; install ca-certificates or give sslrootcert".into(),
                ));
            }
        }
    }
    Ok(store)
}

/// Accepts any server certificate but still checks the handshake signatures with it:
/// libpq's `require` (see the module doc).
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tls_mode_builds_a_connector() {
        assert!(connector(SslMode::Require, None).is_ok());
        assert!(connector(SslMode::Prefer, None).is_ok());
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("ca.pem");
        std::fs::write(&p, "not a certificate\n").expect("write");
        let e = roots(Some(&p)).expect_err("no certs");
        assert!(e.to_string().contains("ca.pem"), "{e}");
        let e = roots(Some(&d.path().join("missing.pem"))).expect_err("missing");
        assert!(e.to_string().contains("missing.pem"), "{e}");
    }
}
