//! Guarding stdout: frames go to a private duplicate of fd 1, and fd 1 itself is pointed at
//! stderr, so a stray print anywhere in the process cannot corrupt the message stream.

use std::io::{self, Write};

/// Returns the writer for protocol frames. Call once, before any thread is started.
#[cfg(unix)]
pub fn take_protocol_stdout() -> io::Result<Box<dyn Write + Send>> {
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
        Ok(Box::new(std::fs::File::from_raw_fd(fd)))
    }
}

/// On Windows std does no newline translation on pipes; we keep the std handle.
#[cfg(not(unix))]
pub fn take_protocol_stdout() -> io::Result<Box<dyn Write + Send>> {
    Ok(Box::new(io::stdout()))
}
