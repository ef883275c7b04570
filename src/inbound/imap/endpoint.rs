//! Where the poller logs in: the `[inbound] imap_url` read once into host, port, protection
//! and credentials, and the way from a TCP connection to a logged-in IMAP session (greeting,
//! STARTTLS, LOGIN), each step under the caller's [`Guard`].

use std::{fmt, net::IpAddr, sync::Arc};

use anyhow::{Context, bail};
use async_imap::{Client, imap_proto};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_rustls::{
    TlsConnector,
    rustls::{self, RootCertStore, pki_types::ServerName},
};

use super::{
    Guard,
    stream::{Stream, Transport},
};

/// A logged-in IMAP session over our stream.
pub(super) type Session = async_imap::Session<Stream>;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Security {
    /// TLS from the first byte (`imaps://`).
    Implicit,
    /// STARTTLS, refusing to send the password without it (`imap://`).
    Required,
    /// STARTTLS when the server offers it, else plain (`imap://…?tls=opportunistic`).
    Opportunistic,
    /// Never TLS (`imap://…?tls=none`): local test servers.
    None,
}

/// A parsed `imap_url`. `Debug` and `Display` never show the password.
#[derive(Clone)]
pub(super) struct Endpoint {
    host: Host,
    port: u16,
    pub(super) security: Security,
    user: String,
    password: String,
}

/// The server's name as the URL gave it (a TLS certificate is checked against it).
#[derive(Debug, Clone)]
enum Host {
    Domain(String),
    Ip(IpAddr),
}

impl Endpoint {
    /// Reads `imaps://user:password@host[:993]` or `imap://user:password@host[:143][?tls=…]`;
    /// user and password are percent-decoded. Errors name what is wrong, never the password.
    pub(super) fn parse(url: &str) -> anyhow::Result<Self> {
        let u = url::Url::parse(url).map_err(|e| anyhow::anyhow!("imap_url: {e}"))?;
        let mut tls = None;
        for (key, value) in u.query_pairs() {
            match key.as_ref() {
                "tls" if tls.is_none() => tls = Some(value.into_owned()),
                other => {
                    bail!("imap_url: unknown or repeated query parameter {other:?} (only tls=)")
                }
            }
        }
        let (security, default_port) = match (u.scheme(), tls.as_deref()) {
            ("imaps", None) => (Security::Implicit, 993),
            ("imap", None | Some("required")) => (Security::Required, 143),
            ("imap", Some("opportunistic")) => (Security::Opportunistic, 143),
            ("imap", Some("none")) => (Security::None, 143),
            ("imap" | "imaps", Some(other)) => bail!(
                "imap_url: tls={other:?} is not one of required, opportunistic, none (imap:// only)"
            ),
            (scheme, _) => bail!("imap_url: scheme must be imap or imaps, not {scheme:?}"),
        };
        let host = match u.host() {
            Some(url::Host::Domain(d)) => Host::Domain(d.to_owned()),
            Some(url::Host::Ipv4(ip)) => Host::Ip(ip.into()),
            Some(url::Host::Ipv6(ip)) => Host::Ip(ip.into()),
            None => bail!("imap_url: no host"),
        };
        if !matches!(u.path(), "" | "/") {
            bail!("imap_url: no path expected (the folder is inbound.folder)");
        }
        let user = percent_decode(u.username()).context("imap_url: user name")?;
        if user.is_empty() {
            bail!("imap_url: needs a user name (imaps://user:password@host)");
        }
        let password =
            percent_decode(u.password().unwrap_or_default()).context("imap_url: password")?;
        Ok(Self {
            port: u.port().unwrap_or(default_port),
            host,
            security,
            user,
            password,
        })
    }

    /// Connects, reads the greeting, secures the connection as asked and logs in.
    pub(super) async fn connect(&self, guard: &Guard<'_>) -> anyhow::Result<Session> {
        let address = match &self.host {
            Host::Domain(d) => d.clone(),
            Host::Ip(ip) => ip.to_string(),
        };
        let tcp = guard
            .run("connect", TcpStream::connect((address.as_str(), self.port)))
            .await
            .with_context(|| format!("connect to {self}"))?;
        let stream = match self.security {
            Security::Implicit => self.tls(Stream::plain(tcp), guard).await?,
            _ => Stream::plain(tcp),
        };
        let mut client = Client::new(stream);
        greeting(&mut client, guard)
            .await
            .with_context(|| format!("greeting of {self}"))?;
        if matches!(self.security, Security::Required | Security::Opportunistic) {
            let offered = offers_starttls(&mut client, guard).await?;
            if offered {
                guard
                    .run(
                        "STARTTLS",
                        client.run_command_and_check_ok("STARTTLS", None),
                    )
                    .await?;
                // Anything the server sent after its OK stays behind with the old client: a
                // reply injected before the handshake must not be read as a protected one.
                client = Client::new(self.tls(client.into_inner(), guard).await?);
            } else if self.security == Security::Required {
                bail!(
                    "{self} does not offer STARTTLS: use imaps://, or add ?tls=opportunistic or \
                     ?tls=none to send the password unprotected"
                );
            }
        }
        let login = guard.run_raw("LOGIN", client.login(&self.user, &self.password));
        match login.await? {
            Ok(session) => Ok(session),
            Err((e, _)) => Err(anyhow::Error::new(e))
                .with_context(|| format!("IMAP login as {:?} at {self} failed", self.user)),
        }
    }

    /// Wraps `stream` in TLS, checking the certificate against the web's root authorities.
    async fn tls(&self, stream: Stream, guard: &Guard<'_>) -> anyhow::Result<Stream> {
        let Transport::Plain(tcp) = stream.into_transport() else {
            bail!("TLS over TLS");
        };
        let name = match &self.host {
            Host::Domain(d) => ServerName::try_from(d.clone()).context("TLS server name")?,
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        };
        let tls = guard
            .run("TLS handshake", connector()?.connect(name, tcp))
            .await
            .with_context(|| format!("TLS with {self}"))?;
        Ok(Stream::tls(tls))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Domain(d) => write!(f, "{d}:{}", self.port),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{ip}:{}", self.port),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("server", &self.to_string())
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// A TLS client over the `ring` provider that trusts the web's root authorities.
fn connector() -> anyhow::Result<TlsConnector> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Reads the server's greeting; a `BYE` (or a closed connection) is an error.
async fn greeting(client: &mut Client<Stream>, guard: &Guard<'_>) -> anyhow::Result<()> {
    let Some(greeting) = guard.run("greeting", client.read_response()).await? else {
        bail!("the server closed the connection before greeting");
    };
    if let imap_proto::Response::Data {
        status: imap_proto::Status::Bye,
        outcome,
    } = greeting.parsed()
    {
        bail!(
            "the server said BYE: {}",
            outcome.information.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// Asks CAPABILITY before login and answers whether STARTTLS is among them. (async-imap's
/// `Client` has no CAPABILITY command, so it is written with a tag of our own.)
async fn offers_starttls(client: &mut Client<Stream>, guard: &Guard<'_>) -> anyhow::Result<bool> {
    const TAG: &str = "T0";
    let write = async {
        let stream = client.get_mut();
        stream
            .write_all(format!("{TAG} CAPABILITY\r\n").as_bytes())
            .await?;
        stream.flush().await
    };
    guard.run("CAPABILITY", write).await?;
    let mut starttls = false;
    for _ in 0..64 {
        let Some(reply) = guard.run("CAPABILITY", client.read_response()).await? else {
            bail!("the server closed the connection after CAPABILITY");
        };
        match reply.parsed() {
            imap_proto::Response::Capabilities(caps) => {
                starttls |= caps.iter().any(|c| {
                    matches!(c, imap_proto::Capability::Atom(a) if a.eq_ignore_ascii_case("STARTTLS"))
                });
            }
            imap_proto::Response::Done { tag, status, .. } if tag.0 == TAG => {
                if *status != imap_proto::Status::Ok {
                    bail!("CAPABILITY refused: {status:?}");
                }
                return Ok(starttls);
            }
            _ => {}
        }
    }
    bail!("no end to the server's answer to CAPABILITY")
}

/// `%XX` escapes to bytes, then UTF-8 (user names and passwords may hold `@`, `:` and `%`).
fn percent_decode(s: &str) -> anyhow::Result<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: Vec<u8> = bytes.by_ref().take(2).collect();
            let byte = std::str::from_utf8(&hex)
                .ok()
                .filter(|h| h.len() == 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .context("a % not followed by two hex digits")?;
            out.push(byte);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).context("not UTF-8 once percent-decoded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_password_are_percent_decoded() {
        let e = Endpoint::parse("imaps://bounces%40example.com:p%40ss%25w%3Ard@mail.example.com")
            .unwrap();
        assert_eq!(e.user, "bounces@example.com");
        assert_eq!(e.password, "p@ss%w:rd");
        assert_eq!(e.port, 993);
        assert_eq!(e.security, Security::Implicit);
    }

    #[test]
    fn imap_requires_starttls_unless_told_otherwise() {
        let parse = |u: &str| Endpoint::parse(u).unwrap().security;
        assert_eq!(parse("imap://u:p@h"), Security::Required);
        assert_eq!(parse("imap://u:p@h?tls=required"), Security::Required);
        assert_eq!(
            parse("imap://u:p@h?tls=opportunistic"),
            Security::Opportunistic
        );
        assert_eq!(parse("imap://u:p@h:1143?tls=none"), Security::None);
        assert_eq!(Endpoint::parse("imap://u:p@h").unwrap().port, 143);
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        for (url, says) in [
            ("pop3://u:secret@h", "scheme"),
            ("imaps://u:secret@h?tls=none", "tls="),
            ("imap://u:secret@h?tls=maybe", "tls="),
            ("imap://u:secret@h?folder=x", "query parameter"),
            ("imap://u:secret@h/INBOX", "inbound.folder"),
            ("imap://:secret@h", "user name"),
            ("imap://u:secret%zz@h", "password"),
            ("imap://u:secret%ff@h", "password"),
        ] {
            let e = format!("{:#}", Endpoint::parse(url).unwrap_err());
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("secret"), "{url}: {e}");
        }
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let e = Endpoint::parse("imaps://u:secret@[::1]:9993").unwrap();
        assert_eq!(e.to_string(), "[::1]:9993");
        assert!(!format!("{e:?}").contains("secret"));
    }
}
