//! Finding an installed browser and running it in its own process group, so the whole tree
//! (Chromium's zygote and renderers, Firefox's content processes) goes away with it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chromium,
    Firefox,
}

impl Kind {
    /// Also the name `passbridge install --browser` knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chromium => "chromium",
            Kind::Firefox => "firefox",
        }
    }

    /// The Debian 12 package.
    pub fn package(self) -> &'static str {
        match self {
            Kind::Chromium => "chromium",
            Kind::Firefox => "firefox-esr",
        }
    }

    fn executables(self) -> &'static [&'static str] {
        match self {
            Kind::Chromium => &["chromium", "chromium-browser"],
            Kind::Firefox => &["firefox-esr", "firefox"],
        }
    }

    /// The first of this browser's executables on PATH.
    pub fn find(self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        self.executables().iter().find_map(|exe| {
            std::env::split_paths(&path)
                .map(|d| d.join(exe))
                .find(|p| is_executable(p))
        })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A browser process group, killed (all of it) on drop.
pub struct Running {
    child: Child,
}

impl Running {
    pub fn spawn(cmd: &mut Command) -> Self {
        let child = cmd
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Self { child }
    }

    /// The exit status if the browser's launcher has already ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The group id is the leader's pid (process_group(0)); a negative pid signals the group.
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a process-group id we created; no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
