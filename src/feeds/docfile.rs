//! Cached documents in unnamed files, sent with `sendfile(2)` on Linux.
//!
//! Written from a buffer, a 60 KB feed is copied into fresh socket buffers for every request,
//! which both costs the server a copy and hands the reader cold memory to copy out again.
//! From a file the kernel sends the same pages each time, as nginx does with a static file.
//!
//! The file is made with `O_TMPFILE` in the temporary directory (`$TMPDIR`, else `/tmp`): it
//! has no name, so nothing is left behind by a crash, and it lives in the page cache like any
//! file. On a disk file system that cache holds large folios, so a 60 KB answer leaves in a few
//! large pieces; a memory file (`memfd_create`, the fallback when the directory refuses
//! `O_TMPFILE`, as on tmpfs without huge pages) is made of 4 KB pages, and every reader then
//! copies the answer out in 4 KB steps: measured with `wrk` on loopback, that costs the reader
//! about 6 % more CPU per answer. Elsewhere (or if neither can be made) the short path writes
//! from the buffer.

#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;

/// A document's bytes in an unnamed file.
#[derive(Debug)]
pub struct DocFile {
    #[cfg(target_os = "linux")]
    file: std::fs::File,
}

/// Document files open now.
#[cfg(target_os = "linux")]
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many document files may be open at once: a quarter of the process's limit on open
/// files, so that connections and the database always have the rest. Beyond it, documents
/// are written from memory (the answers are the same).
#[cfg(target_os = "linux")]
fn budget() -> usize {
    static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| budget_for(crate::os::open_files_limit()))
}

#[cfg(target_os = "linux")]
fn budget_for(open_files_limit: u64) -> usize {
    usize::try_from(open_files_limit / 4).unwrap_or(usize::MAX)
}

#[cfg(target_os = "linux")]
impl Drop for DocFile {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(target_os = "linux")]
impl DocFile {
    /// An unnamed file holding `bytes`; `None` if the system refuses one.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        use std::io::Write;
        // Reserve a place first, so that concurrent builds cannot overshoot the budget.
        if LIVE.fetch_add(1, Ordering::AcqRel) >= budget() {
            LIVE.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let Some(file) = Self::unnamed(&std::env::temp_dir()).or_else(Self::memory) else {
            LIVE.fetch_sub(1, Ordering::AcqRel);
            return None;
        };
        // From here on, dropping `doc` gives the place back.
        let doc = Self { file };
        (&doc.file).write_all(bytes).ok()?;
        Some(doc)
    }

    /// A file without a name in `dir` (`O_TMPFILE`), if its file system allows one.
    fn unnamed(dir: &std::path::Path) -> Option<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
            .ok()
    }

    /// An anonymous memory file.
    fn memory() -> Option<std::fs::File> {
        use std::os::fd::FromRawFd;
        // SAFETY: the name is a valid C string; on success the descriptor is ours alone and
        // `File` takes ownership of it (closing it on drop).
        unsafe {
            let fd = libc::memfd_create(c"tidings-feed".as_ptr(), libc::MFD_CLOEXEC);
            (fd >= 0).then(|| std::fs::File::from_raw_fd(fd))
        }
    }

    /// `len` bytes from `offset`, as sendfile would send them.
    #[cfg(test)]
    pub fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let mut out = vec![0; len];
        self.file.read_exact_at(&mut out, offset).unwrap();
        out
    }

    /// Writes `bytes` at `offset` (appending a further encoding of the document).
    pub fn write_at(&self, bytes: &[u8], offset: u64) -> bool {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(bytes, offset).is_ok()
    }

    /// Sends `head`, then `len` bytes of the file from `offset`, on `stream`.
    pub async fn send(
        &self,
        stream: &TcpStream,
        head: &[u8],
        offset: u64,
        len: usize,
    ) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        use tokio::io::Interest;
        let socket = stream.as_raw_fd();
        // The head goes with MSG_MORE, so that it leaves in one segment with the body.
        let mut sent = 0;
        while sent < head.len() {
            stream.writable().await?;
            let rest = &head[sent..];
            match stream.try_io(Interest::WRITABLE, || {
                // SAFETY: `rest` is valid for reads of its length for the whole call.
                let n = unsafe {
                    libc::send(
                        socket,
                        rest.as_ptr().cast(),
                        rest.len(),
                        libc::MSG_MORE | libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        let mut position = offset as libc::off_t;
        let end = position + len as libc::off_t;
        while position < end {
            stream.writable().await?;
            let file = self.file.as_raw_fd();
            match stream.try_io(Interest::WRITABLE, || {
                // SAFETY: both descriptors are open for the whole call and `position` is a
                // valid offset that sendfile advances by what it sent.
                let n = unsafe {
                    libc::sendfile(socket, file, &mut position, (end - position) as usize)
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
impl DocFile {
    /// Not on this system: documents are written from memory.
    pub fn new(_bytes: &[u8]) -> Option<Self> {
        None
    }

    pub fn write_at(&self, _bytes: &[u8], _offset: u64) -> bool {
        false
    }

    pub async fn send(
        &self,
        _stream: &TcpStream,
        _head: &[u8],
        _offset: u64,
        _len: usize,
    ) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;

    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn the_head_then_the_chosen_range_arrives_intact() {
        // Whichever kind of file the temporary directory gives, and the memory fallback.
        for file in [DocFile::unnamed(&std::env::temp_dir()), DocFile::memory()] {
            LIVE.fetch_add(1, Ordering::AcqRel); // given back when `file` drops
            let file = DocFile {
                file: file.expect("this system makes the file"),
            };
            sends_intact(file).await;
        }
    }

    #[test]
    fn documents_take_at_most_a_quarter_of_the_open_files() {
        assert_eq!(budget_for(1024), 256);
        assert_eq!(budget_for(20_000), 5_000);
        assert_eq!(budget_for(0), 0);
        assert!(budget() > 0);
    }

    #[test]
    fn the_file_has_no_name_in_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = DocFile::unnamed(dir.path()).expect("O_TMPFILE on this file system");
        (&file).write_all(b"feed").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    async fn sends_intact(file: DocFile) {
        let body = "工会要闻 ".repeat(30_000).into_bytes();
        (&file.file).write_all(&body).unwrap();
        assert!(file.write_at(b"-tail-", body.len() as u64));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.unwrap();
            all
        });
        let (server, _) = listener.accept().await.unwrap();
        file.send(&server, b"HEAD\r\n", 0, body.len())
            .await
            .unwrap();
        file.send(&server, b"", body.len() as u64, 6).await.unwrap();
        drop(server);
        let got = reader.await.unwrap();
        assert_eq!(&got[..6], b"HEAD\r\n");
        assert_eq!(&got[6..6 + body.len()], &body[..]);
        assert_eq!(&got[6 + body.len()..], b"-tail-");
    }
}
