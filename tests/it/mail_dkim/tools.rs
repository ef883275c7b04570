//! What the DKIM tests use: keys made with `openssl`, the `tidings` binary with DKIM set, the
//! record it prints, and the independent verifier (Python's dkimpy).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use base64::Engine;

pub const DOMAIN: &str = "example.org";
pub const SELECTOR: &str = "tidings2026";

/// Runs `openssl` with `args`; panics with its stderr when it fails.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl genrsa` of OpenSSL 3: PKCS#8 PEM, the key of the outside report.
pub fn genrsa(dir: &Path, name: &str, bits: u32) -> PathBuf {
    let path = dir.join(name);
    openssl(&["genrsa", "-out", path_str(&path), &bits.to_string()]);
    path
}

pub fn first_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap_or_default().to_owned()
}

/// The four forms of a good key, each made the way its README line says.
pub fn rsa_pkcs8(dir: &Path) -> PathBuf {
    let path = genrsa(dir, "rsa-pkcs8.pem", 2048);
    assert_eq!(first_line(&path), "-----BEGIN PRIVATE KEY-----");
    path
}

pub fn rsa_pkcs1(dir: &Path) -> PathBuf {
    let pkcs8 = genrsa(dir, "rsa-genrsa.pem", 2048);
    let path = dir.join("rsa-pkcs1.pem");
    openssl(&[
        "rsa",
        "-traditional",
        "-in",
        path_str(&pkcs8),
        "-out",
        path_str(&path),
    ]);
    assert_eq!(first_line(&path), "-----BEGIN RSA PRIVATE KEY-----");
    path
}

pub fn ed25519_pkcs8(dir: &Path) -> PathBuf {
    let path = dir.join("ed25519.pem");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", path_str(&path)]);
    path
}

/// The key of `pem` (from [`ed25519_pkcs8`]) as base64 of its 32 bytes: the seed that ends
/// the PKCS#8 DER OpenSSL writes.
pub fn ed25519_raw(pem: &Path) -> PathBuf {
    let der = openssl(&["pkey", "-in", path_str(pem), "-outform", "DER"]);
    let path = pem.with_extension("b64");
    let seed = &der[der.len() - 32..];
    std::fs::write(
        &path,
        base64::engine::general_purpose::STANDARD.encode(seed) + "\n",
    )
    .unwrap();
    path
}

/// The public key as OpenSSL writes it (SubjectPublicKeyInfo DER).
pub fn public_der(key: &Path) -> Vec<u8> {
    openssl(&["pkey", "-in", path_str(key), "-pubout", "-outform", "DER"])
}

/// The `tidings` binary with no TIDINGS_ settings but DKIM with `key`.
pub fn tidings(key: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TIDINGS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TIDINGS_MAIL__FROM", format!("News <news@{DOMAIN}>"))
        .env("TIDINGS_MAIL__DKIM_DOMAIN", DOMAIN)
        .env("TIDINGS_MAIL__DKIM_SELECTOR", SELECTOR)
        .env("TIDINGS_MAIL__DKIM_KEY_FILE", key);
    cmd
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tidings check` with `key`; its output.
pub fn check(key: &Path) -> Output {
    tidings(key).arg("check").output().unwrap()
}

/// The TXT record of `tidings dkim record`: its name and its strings as a zone file has them.
pub fn record(key: &Path) -> (String, Vec<String>) {
    let out = tidings(key).args(["dkim", "record"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("; name:  "))
        .unwrap_or_else(|| panic!("no name in {text}"));
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("; value: "))
        .unwrap_or_else(|| panic!("no value in {text}"));
    let entry = &text[text.find(&format!("{name}. IN TXT ( \"")).expect(&text)..];
    let strings: Vec<String> = entry
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(entry.trim_end().ends_with(" )"), "{entry}");
    assert_eq!(strings.concat(), value, "{text}");
    assert!(strings.iter().all(|s| s.len() <= 255), "{strings:?}");
    (name.to_owned(), strings)
}

pub const VERIFY: &str = r#"
import io, logging, os, sys
try:
    import dkim
except ImportError:
    print("dkimpy is missing: python3 -m pip install dkimpy pynacl (tests/run.sh does)")
    sys.exit(2)
message = sys.stdin.buffer.read()
want = os.environ["DKIM_NAME"].encode() + b"."
record = os.environ["DKIM_RECORD"].encode()
asked = []
def dns(name, timeout=5):
    asked.append(name)
    return record if name == want else None
log = io.StringIO()
logger = logging.getLogger("dkim-test")
logger.addHandler(logging.StreamHandler(log))
logger.setLevel(logging.DEBUG)
ok = dkim.verify(message, logger=logger, dnsfunc=dns)
print("asked", asked)
print(log.getvalue())
sys.exit(0 if ok and asked == [want] else 1)
"#;

/// Whether dkimpy accepts `raw` when DNS answers `name` with the joined `strings`.
pub fn dkimpy_accepts(raw: &str, name: &str, strings: &[String]) -> (bool, String) {
    let mut child = Command::new("python3")
        .args(["-c", VERIFY])
        .env("DKIM_NAME", name)
        .env("DKIM_RECORD", strings.concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_ne!(out.status.code(), Some(2), "{said}");
    (out.status.success(), said)
}
