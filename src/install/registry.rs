//! Windows registry registrations: a pure description (tested everywhere) and, on Windows only,
//! the `winreg` calls that write, read and delete them.
//!
//! Browsers query the 32-bit view first, then the 64-bit one (spec §1.1, §1.2), so a stale
//! `WOW6432Node` entry would shadow ours: under HKLM (redirected) we write both views. HKCU
//! `Software` is shared between the views, so one key serves both there.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Hive {
    #[serde(rename = "HKCU")]
    CurrentUser,
    #[serde(rename = "HKLM")]
    LocalMachine,
}

impl Hive {
    pub fn short(self) -> &'static str {
        match self {
            Hive::CurrentUser => "HKCU",
            Hive::LocalMachine => "HKLM",
        }
    }
}

/// Which registry view a key is written through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum View {
    /// Not redirected (HKCU\Software): the same key in both views.
    #[serde(rename = "shared")]
    Shared,
    #[serde(rename = "64")]
    Bits64,
    #[serde(rename = "32")]
    Bits32,
}

impl View {
    /// The views to write under a hive.
    pub fn for_hive(hive: Hive) -> &'static [View] {
        match hive {
            Hive::CurrentUser => &[View::Shared],
            Hive::LocalMachine => &[View::Bits64, View::Bits32],
        }
    }
}

/// One registry key whose (Default) value is the path of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RegistryEntry {
    pub hive: Hive,
    pub view: View,
    /// Under the hive, e.g. `Software\Google\Chrome\NativeMessagingHosts\org.passbridge.host`.
    pub key: String,
    /// The manifest path stored as the (Default) value.
    pub value: String,
}

impl RegistryEntry {
    /// The key as `regedit` on 64-bit Windows shows it.
    pub fn display_key(&self) -> String {
        let key = match self.view {
            View::Bits32 => match self.key.split_once('\\') {
                Some((software, rest)) => format!("{software}\\WOW6432Node\\{rest}"),
                None => self.key.clone(),
            },
            _ => self.key.clone(),
        };
        let view = match self.view {
            View::Shared => "",
            View::Bits64 => " (64-bit view)",
            View::Bits32 => " (32-bit view)",
        };
        format!("{}\\{key}{view}", self.hive.short())
    }
}

#[cfg(windows)]
mod ops {
    use super::*;
    use std::io;
    use winreg::RegKey;
    use winreg::enums::*;

    fn root(hive: Hive) -> RegKey {
        RegKey::predef(match hive {
            Hive::CurrentUser => HKEY_CURRENT_USER,
            Hive::LocalMachine => HKEY_LOCAL_MACHINE,
        })
    }

    fn view_flag(view: View) -> u32 {
        match view {
            View::Shared => 0,
            View::Bits64 => KEY_WOW64_64KEY,
            View::Bits32 => KEY_WOW64_32KEY,
        }
    }

    /// Creates the key (and missing parents) and sets its (Default) value (REG_SZ).
    pub fn write(e: &RegistryEntry) -> io::Result<()> {
        let (key, _) =
            root(e.hive).create_subkey_with_flags(&e.key, KEY_WRITE | view_flag(e.view))?;
        key.set_value("", &e.value)
    }

    /// The (Default) value, or `None` when the key does not exist.
    pub fn read(e: &RegistryEntry) -> io::Result<Option<String>> {
        match root(e.hive).open_subkey_with_flags(&e.key, KEY_READ | view_flag(e.view)) {
            Ok(key) => match key.get_value::<String, _>("") {
                Ok(v) => Ok(Some(v)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Some(String::new())),
                Err(err) => Err(err),
            },
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Deletes the key; a missing key is not an error.
    pub fn delete(e: &RegistryEntry) -> io::Result<()> {
        match root(e.hive).delete_subkey_with_flags(&e.key, view_flag(e.view)) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

#[cfg(not(windows))]
mod ops {
    use super::*;
    use std::io;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "the Windows registry exists only on Windows",
        )
    }
    pub fn write(_: &RegistryEntry) -> io::Result<()> {
        Err(unsupported())
    }
    pub fn read(_: &RegistryEntry) -> io::Result<Option<String>> {
        Err(unsupported())
    }
    pub fn delete(_: &RegistryEntry) -> io::Result<()> {
        Err(unsupported())
    }
}

pub use ops::{delete, read, write};

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hive: Hive, view: View) -> RegistryEntry {
        RegistryEntry {
            hive,
            view,
            key: r"Software\Google\Chrome\NativeMessagingHosts\org.passbridge.host".into(),
            value: r"C:\m.json".into(),
        }
    }

    #[test]
    fn display_names_the_view() {
        assert_eq!(
            entry(Hive::CurrentUser, View::Shared).display_key(),
            r"HKCU\Software\Google\Chrome\NativeMessagingHosts\org.passbridge.host"
        );
        assert_eq!(
            entry(Hive::LocalMachine, View::Bits64).display_key(),
            r"HKLM\Software\Google\Chrome\NativeMessagingHosts\org.passbridge.host (64-bit view)"
        );
        assert_eq!(
            entry(Hive::LocalMachine, View::Bits32).display_key(),
            r"HKLM\Software\WOW6432Node\Google\Chrome\NativeMessagingHosts\org.passbridge.host (32-bit view)"
        );
    }

    #[test]
    fn hklm_gets_both_views_hkcu_one() {
        assert_eq!(View::for_hive(Hive::CurrentUser), &[View::Shared]);
        assert_eq!(
            View::for_hive(Hive::LocalMachine),
            &[View::Bits64, View::Bits32]
        );
    }

    #[test]
    fn serializes_compactly() {
        let v = serde_json::to_value(entry(Hive::LocalMachine, View::Bits32)).unwrap();
        assert_eq!(v["hive"], "HKLM");
        assert_eq!(v["view"], "32");
    }

    #[cfg(not(windows))]
    #[test]
    fn operations_refuse_off_windows() {
        let e = entry(Hive::CurrentUser, View::Shared);
        assert_eq!(
            write(&e).unwrap_err().kind(),
            std::io::ErrorKind::Unsupported
        );
        assert!(read(&e).is_err() && delete(&e).is_err());
    }
}
