//! A private Dovecot IMAP server per test: its own config, passwd file, maildirs, sockets and
//! logs in a temp dir, on a free port of 127.0.0.1, stopped when dropped. The tests put mail
//! in and look at what is left over IMAP (async-imap, LOGIN, APPEND, FETCH).
//!
//! Dovecot must be installed (`dovecot-imapd`; tests/run.sh installs it): without it the test
//! fails with a message saying so. Run as root, mail belongs to the system user `mail`; run
//! as anyone else, Dovecot runs wholly as that user.

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use async_imap::types::Fetch;
use futures_util::TryStreamExt;
use tokio::net::TcpStream;

/// The mailbox user every server has; the password holds `@`, `%` and `:` on purpose.
pub const USER: &str = "bounces@corp.example";
pub const PASSWORD: &str = "p@ss%w:rd/日";

/// A running Dovecot.
pub struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
    /// The IMAP port (STARTTLS offered when started with TLS).
    pub port: u16,
    /// The IMAPS port, when started with TLS.
    pub tls_port: Option<u16>,
}

/// Who owns the mail: uid, gid, and (unless root) the user and group names that Dovecot's
/// own processes run as.
fn mail_owner() -> (u32, u32, Option<(String, String)>) {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid == 0 {
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        let mail = passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() != Some(&"mail") || f.len() < 4 {
                return None;
            }
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        });
        let (uid, gid) = mail.expect("the system user `mail` (for Dovecot's maildirs)");
        return (uid, gid, None);
    }
    let id = |flag: &str| {
        let out = Command::new("id").arg(flag).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    (uid, gid, Some((id("-un"), id("-gn"))))
}

/// The Dovecot binary, or a failure that says how to get it.
fn binary() -> PathBuf {
    for p in ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "Dovecot is not installed, and the IMAP poller tests need a real IMAP server: run \
         tests/run.sh (it installs dovecot-imapd) or `apt-get install -y dovecot-imapd`"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    /// A server without TLS, with [`USER`] and an empty INBOX.
    pub fn start() -> Self {
        Self::start_inner(false)
    }

    /// A server with a self-signed certificate: STARTTLS on `port`, TLS on `tls_port`.
    pub fn start_with_tls() -> Self {
        Self::start_inner(true)
    }

    fn start_inner(tls: bool) -> Self {
        let binary = binary();
        let mut last_log = String::new();
        // A port picked free can be taken before Dovecot binds it: try again with others.
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let (port, tls_port) = (free_port(), tls.then(free_port));
            write_config(dir.path(), port, tls_port);
            let log = dir.path().join("dovecot.log");
            let child = Command::new(&binary)
                .arg("-F")
                .arg("-c")
                .arg(dir.path().join("dovecot.conf"))
                .stdout(Stdio::null())
                .stderr(fs::File::create(dir.path().join("stderr.log")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            let mut server = Dovecot {
                child,
                dir,
                port,
                tls_port,
            };
            if server.wait_listening() {
                return server;
            }
            last_log = format!(
                "{}{}",
                fs::read_to_string(&log).unwrap_or_default(),
                fs::read_to_string(server.dir.path().join("stderr.log")).unwrap_or_default()
            );
            if !last_log.contains("in use") {
                break;
            }
        }
        panic!("Dovecot did not start:\n{last_log}");
    }

    /// Waits (at most 10 s) until every port accepts; false when Dovecot exited.
    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ports: Vec<u16> = std::iter::once(self.port).chain(self.tls_port).collect();
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if ports
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `imap://` URL for [`USER`] with `password` (percent-encoded) and `query` (`tls=none`…).
    pub fn url_with(&self, password: &str, query: &str) -> String {
        format!(
            "imap://{}:{}@127.0.0.1:{}/?{query}",
            encode(USER),
            encode(password),
            self.port
        )
    }

    /// The URL the poller uses against this server: plain, right password.
    pub fn url(&self) -> String {
        self.url_with(PASSWORD, "tls=none")
    }

    /// `imaps://` URL to the TLS port.
    pub fn imaps_url(&self) -> String {
        let port = self.tls_port.expect("started with TLS");
        format!(
            "imaps://{}:{}@127.0.0.1:{port}",
            encode(USER),
            encode(PASSWORD)
        )
    }

    /// A session as [`USER`] (plain, for putting mail in and looking at it).
    async fn session(&self) -> async_imap::Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        async_imap::Client::new(tcp)
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("the harness logs in to Dovecot")
    }

    /// Creates the folder whose IMAP name (modified UTF-7) is `name`.
    pub async fn create(&self, name: &str) {
        let mut s = self.session().await;
        s.create(name).await.unwrap();
        s.logout().await.unwrap();
    }

    /// Appends `raw` to the folder named `name` (IMAP name), with `flags` like `(\Seen)`.
    pub async fn append_flagged(&self, name: &str, raw: &[u8], flags: Option<&str>) {
        let mut s = self.session().await;
        s.append(name, flags, None, raw).await.unwrap();
        s.logout().await.unwrap();
    }

    /// Appends `raw` to the folder named `name` (IMAP name).
    pub async fn append(&self, name: &str, raw: &[u8]) {
        self.append_flagged(name, raw, None).await;
    }

    /// The messages in folder `name` (IMAP name) with their flags, in UID order.
    pub async fn messages(&self, name: &str) -> Vec<(Vec<u8>, Vec<String>)> {
        let mut s = self.session().await;
        let mailbox = s.examine(name).await.unwrap();
        let mut out = Vec::new();
        if mailbox.exists > 0 {
            let fetches: Vec<Fetch> = s
                .fetch("1:*", "(UID FLAGS BODY.PEEK[])")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            for f in fetches {
                let flags = f.flags().map(|f| format!("{f:?}")).collect();
                out.push((f.body().unwrap_or_default().to_vec(), flags));
            }
        }
        s.logout().await.unwrap();
        out
    }

    /// The number of messages in folder `name` (IMAP name).
    pub async fn count(&self, name: &str) -> usize {
        self.messages(name).await.len()
    }

    /// What Dovecot logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its login and mail processes; SIGKILL would orphan them.
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every byte but letters and digits as `%XX`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Writes dovecot.conf, the passwd file and (with TLS) a self-signed certificate into `dir`.
fn write_config(dir: &Path, port: u16, tls_port: Option<u16>) {
    let (uid, gid, run_as) = mail_owner();
    let d = dir.display();
    for sub in ["base", "state", "mail"] {
        fs::create_dir(dir.join(sub)).unwrap();
    }
    // Dovecot's unprivileged processes must reach into the dir; the mail is the mail user's.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(dir.join("mail"), Some(uid), Some(gid)).unwrap();
    // The passwd file is colon-separated: the password goes in base64.
    use base64::Engine;
    let password = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    fs::write(
        dir.join("users"),
        format!("{USER}:{{PLAIN.B64}}{password}:{uid}:{gid}::{d}/mail/{USER}::\n"),
    )
    .unwrap();
    let users = match &run_as {
        Some((me, group)) => format!(
            "default_login_user = {me}\ndefault_internal_user = {me}\n\
             default_internal_group = {group}\n"
        ),
        None => "default_login_user = dovenull\ndefault_internal_user = dovecot\n".to_owned(),
    };
    let ssl = match tls_port {
        Some(tls_port) => {
            self_signed(dir);
            format!(
                "ssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem\n\
                 ssl_min_protocol = TLSv1.2\n\
                 service imap-login {{\n  inet_listener imaps {{\n    address = 127.0.0.1\n    \
                 port = {tls_port}\n  }}\n}}\n"
            )
        }
        None => "ssl = no\nservice imap-login {\n  inet_listener imaps {\n    port = 0\n  }\n}\n"
            .to_owned(),
    };
    let conf = format!(
        "listen = 127.0.0.1\nprotocols = imap\nbase_dir = {d}/base\nstate_dir = {d}/state\n\
         log_path = {d}/dovecot.log\ninfo_log_path = {d}/dovecot.log\n\
         disable_plaintext_auth = no\nauth_mechanisms = plain login\nauth_failure_delay = 0\n\
         first_valid_uid = {uid}\nmail_location = maildir:~\n{users}\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
         userdb {{\n  driver = passwd-file\n  args = username_format=%u {d}/users\n}}\n\
         service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    \
         port = {port}\n  }}\n}}\nservice anvil {{\n  chroot =\n}}\n{ssl}"
    );
    fs::write(dir.join("dovecot.conf"), conf).unwrap();
}

/// A self-signed certificate for 127.0.0.1 (which no web root authority vouches for).
fn self_signed(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (to make a test certificate)");
    assert!(status.success(), "openssl req failed");
}
