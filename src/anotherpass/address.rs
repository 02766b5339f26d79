//! Where the phone is: an IPv4/IPv6 address, a host name, or an ANOTHERpass handle such as
//! `@icpmd` (spec §1.1: `@` + network class + base-26 offset in `a..z`, most significant first).

use std::net::{IpAddr, Ipv4Addr};

/// The app's default port, and the range the extension accepts.
pub const DEFAULT_PORT: u16 = 8787;
pub const MIN_PORT: u16 = 1024;
pub const MAX_PORT: u16 = 49151;

/// Handle classes: (class char, network start, network size).
const CLASSES: &[(char, u32, u32)] = &[
    ('a', 0x0a00_0000, 1 << 24), // 10/8
    ('e', 0xac10_0000, 1 << 20), // 172.16/12
    ('i', 0xc0a8_0000, 1 << 16), // 192.168/16
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error(
        "\"{0}\" is not a phone address. Enter the IP address, host name or @handle that ANOTHERpass shows (e.g. 192.168.1.20 or @icpmd)."
    )]
    Invalid(String),
    #[error(
        "port {0} is outside 1024–49151 (ANOTHERpass uses 8787 unless you changed it in the app)"
    )]
    Port(u32),
}

/// Encodes a private IPv4 address as a handle (`None` outside 10/8, 172.16/12, 192.168/16).
pub fn ip_to_handle(ip: Ipv4Addr) -> Option<String> {
    let ip = u32::from(ip);
    let (class, start, _) = CLASSES
        .iter()
        .find(|(_, start, size)| ip >= *start && ip - start < *size)?;
    let mut value = ip - start;
    let mut digits = Vec::new();
    loop {
        digits.push(b'a' + (value % 26) as u8);
        value /= 26;
        if value == 0 {
            break;
        }
    }
    digits.reverse();
    Some(format!(
        "@{class}{}",
        String::from_utf8(digits).expect("ascii letters")
    ))
}

/// Decodes a handle (`@` + class + 1–6 letters, case-insensitive) to its IPv4 address.
pub fn handle_to_ip(handle: &str) -> Option<Ipv4Addr> {
    let h = handle.strip_prefix('@')?.to_ascii_lowercase();
    let mut chars = h.chars();
    let class = chars.next()?;
    let (_, start, size) = CLASSES.iter().find(|(c, _, _)| *c == class)?;
    let digits = chars.as_str();
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let value = digits
        .bytes()
        .fold(0u64, |acc, b| acc * 26 + u64::from(b - b'a'));
    (value < u64::from(*size)).then(|| Ipv4Addr::from(start + value as u32))
}

/// A validated phone address, kept as the user typed it (a handle stays a handle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    input: String,
    host: Host,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Server {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let s = input.trim();
        let bad = || AddressError::Invalid(s.chars().take(80).collect());
        let host = if s.starts_with('@') {
            Host::Ip(IpAddr::V4(handle_to_ip(s).ok_or_else(bad)?))
        } else if let Ok(ip) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Host::Ip(ip)
        } else if is_host_name(s) {
            Host::Name(s.to_ascii_lowercase())
        } else {
            return Err(bad());
        };
        Ok(Self {
            input: s.to_owned(),
            host,
        })
    }

    /// As the user typed it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.input
    }

    /// The address to connect to (a handle resolved to its IP).
    pub fn host(&self) -> String {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
        }
    }

    /// `http://<host>:<port>/` — the app serves plain HTTP only.
    pub fn base_url(&self, port: u16) -> String {
        format!("http://{}:{port}/", self.host())
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Checks a user-supplied port against the extension's range.
pub fn check_port(port: u64) -> Result<u16, AddressError> {
    if (u64::from(MIN_PORT)..=u64::from(MAX_PORT)).contains(&port) {
        Ok(port as u16)
    } else {
        Err(AddressError::Port(port.min(u64::from(u32::MAX)) as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &[(&str, &str)] = &[
        ("192.168.0.1", "@ib"),
        ("192.168.178.39", "@icpmd"),
        ("172.16.178.39", "@ecpmd"),
        ("10.255.255.255", "@abksojn"),
    ];

    #[test]
    fn spec_handle_vectors_both_ways() {
        for (ip, handle) in VECTORS {
            let ip: Ipv4Addr = ip.parse().unwrap();
            assert_eq!(ip_to_handle(ip).as_deref(), Some(*handle));
            assert_eq!(handle_to_ip(handle), Some(ip));
        }
    }

    #[test]
    fn handles_outside_their_network_or_malformed_are_rejected() {
        for bad in [
            "@",
            "@i",
            "@x12",
            "@ib1",
            "@izzzzzzz",
            "ib",
            "@izzzz",
            "@ezzzzzz",
        ] {
            assert_eq!(handle_to_ip(bad), None, "{bad}");
        }
        assert_eq!(handle_to_ip("@ICPMD"), "192.168.178.39".parse().ok());
        assert_eq!(ip_to_handle("8.8.8.8".parse().unwrap()), None);
        assert_eq!(
            ip_to_handle("192.168.0.0".parse().unwrap()).as_deref(),
            Some("@ia")
        );
    }

    #[test]
    fn round_trip_every_class_edge() {
        for ip in ["10.0.0.0", "10.1.2.3", "172.31.255.255", "192.168.255.255"] {
            let ip: Ipv4Addr = ip.parse().unwrap();
            assert_eq!(handle_to_ip(&ip_to_handle(ip).unwrap()), Some(ip));
        }
    }

    #[test]
    fn server_inputs() {
        let s = Server::parse(" @icpmd ").unwrap();
        assert_eq!(s.as_str(), "@icpmd");
        assert_eq!(s.base_url(8787), "http://192.168.178.39:8787/");
        assert_eq!(
            Server::parse("Phone.local").unwrap().base_url(9000),
            "http://phone.local:9000/"
        );
        assert_eq!(
            Server::parse("::1").unwrap().base_url(8787),
            "http://[::1]:8787/"
        );
        for bad in [
            "",
            "http://1.2.3.4",
            "1.2.3.4:8787",
            "a b",
            "host/path",
            "-x.com",
            "@nope",
            "x..y",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(check_port(8787), Ok(8787));
        assert_eq!(check_port(1024), Ok(1024));
        assert_eq!(check_port(49151), Ok(49151));
        assert!(check_port(1023).is_err());
        assert!(check_port(49152).is_err());
        assert!(check_port(u64::MAX).is_err());
    }
}
