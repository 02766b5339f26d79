//! Guarding stdout: frames go to a private duplicate of fd 1, and fd 1 itself is pointed at
//! stderr, so a stray print anywhere in the process cannot corrupt the message stream.

use std::io::{self, Write};

/// The protocol output plus a probe that says when its reader has gone.
pub struct ProtocolOut {
    pub writer: Box<dyn Write + Send>,
    pub peer_gone: Option<crate::nm::host::PeerGone>,
}

/// Returns the writer for protocol frames. Call once, before any thread is started.
#[cfg(unix)]
pub fn take_protocol_stdout() -> io::Result<ProtocolOut> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain fd syscalls on descriptors 1 and 2; the duplicate is owned by the File below.
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::dup2(2, 1) < 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(ProtocolOut {
            writer: Box::new(std::fs::File::from_raw_fd(fd)),
            peer_gone: Some(std::sync::Arc::new(move || reader_gone(fd))),
        })
    }
}

/// A pipe or socket whose reading end was closed reports POLLERR/POLLHUP on our end.
#[cfg(unix)]
fn reader_gone(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
}

/// On Windows std does no newline translation on pipes; we keep the std handle.
#[cfg(not(unix))]
pub fn take_protocol_stdout() -> io::Result<ProtocolOut> {
    Ok(ProtocolOut {
        writer: Box::new(io::stdout()),
        peer_gone: None,
    })
}
