//! The SSRF guard: provider `base_url`s (and image URLs the gateway fetches, see
//! `image_fetch`) must be http(s) and must not reach loopback, private, link-local or
//! cloud-metadata addresses unless the operator allows them.

use std::net::{IpAddr, Ipv4Addr};

use crate::config::AllowPrivate;

/// True for addresses an admin-supplied URL must not reach by default.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
                || v4.is_multicast()
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // Forms that carry an IPv4 address a router may reach: IPv4-compatible
            // (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
            let o = v6.octets();
            let embedded = if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
            } else if s[0] == 0x2002 {
                Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
            } else {
                None
            };
            if embedded.is_some_and(|v4| is_forbidden_ip(IpAddr::V4(v4))) {
                return true;
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Link-local addresses and the known cloud metadata services (AWS, GCP and Azure at
/// 169.254.169.254, AWS over IPv6 at fd00:ec2::254, Alibaba at 100.100.100.200): never an
/// image host, and where instance credentials live.
pub fn is_metadata_ip(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_link_local() || v4.octets() == [100, 100, 100, 200],
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.segments() == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254]
        }
    }
}

pub use crate::network::Network;

/// Which non-public addresses a fetched URL may reach (`image_fetch.allow_private`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateAccess {
    None,
    /// Every private address except link-local and metadata ([`is_metadata_ip`]).
    AllButMetadata,
    Networks(Vec<Network>),
}

impl PrivateAccess {
    /// From the validated setting (`Config::validate` has parsed every network).
    pub fn from_config(setting: &AllowPrivate) -> PrivateAccess {
        match setting {
            AllowPrivate::Switch(false) => PrivateAccess::None,
            AllowPrivate::Switch(true) => PrivateAccess::AllButMetadata,
            AllowPrivate::Networks(n) => {
                PrivateAccess::Networks(n.iter().filter_map(|n| Network::parse(n).ok()).collect())
            }
        }
    }

    /// True when `ip` may be reached: a public address, or a private one this allows.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if !is_forbidden_ip(ip) && !is_metadata_ip(ip) {
            return true;
        }
        match self {
            PrivateAccess::None => false,
            PrivateAccess::AllButMetadata => !is_metadata_ip(ip),
            PrivateAccess::Networks(networks) => networks.iter().any(|n| n.contains(ip)),
        }
    }
}

/// Checks a provider base URL's shape, and its host when that is an IP literal. Host names are
/// checked when they are resolved, by the client's resolver (see `http.rs`).
pub fn check_base_url(raw: &str, allow_private: bool) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("base_url is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("base_url must use http or https".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("base_url must not contain credentials; add them as a provider credential".into());
    }
    let host = url.host_str().ok_or("base_url has no host")?;
    if allow_private {
        return Ok(());
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if is_forbidden_ip(ip) {
            return Err(format!(
                "base_url points at a private or local address ({ip}); set TOLLGATE_ALLOW_PRIVATE_UPSTREAMS=true to allow it"
            ));
        }
    } else if is_local_name(host) {
        return Err(format!(
            "base_url points at a local host name ({host}); set TOLLGATE_ALLOW_PRIVATE_UPSTREAMS=true to allow it"
        ));
    }
    Ok(())
}

/// Names that are this host or a cloud's internal network whatever DNS says: `localhost`,
/// `*.localhost` (RFC 6761) and `*.internal` (GCP's metadata server), in any case and fully
/// qualified or not (`localhost.` is the same name).
fn is_local_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_private_and_metadata_addresses() {
        for bad in [
            "http://127.0.0.1:8000/v1",
            "http://169.254.169.254/",
            "http://10.0.0.1",
            "http://[::1]/",
            "http://192.168.1.1",
            "http://localhost:11434/v1",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost.:8080/v1",
            "http://API.LOCALHOST./v1",
            "http://metadata.google.internal./",
        ] {
            assert!(check_base_url(bad, false).is_err(), "{bad}");
            assert!(check_base_url(bad, true).is_ok(), "{bad} allowed when private upstreams are");
        }
        assert!(check_base_url("https://api.openai.com/v1", false).is_ok());
        assert!(check_base_url("ftp://x", true).is_err());
        assert!(check_base_url("https://user:pw@x.com", true).is_err());
        assert!(check_base_url("not a url", true).is_err());
    }

    #[test]
    fn addresses_that_embed_or_reach_private_ones_are_forbidden() {
        for bad in
            ["::127.0.0.1", "64:ff9b::a00:1", "2002:c0a8:101::1", "ff02::1", "224.0.0.1", "240.0.0.1", "fd00:ec2::254"]
        {
            assert!(is_forbidden_ip(bad.parse().unwrap()), "{bad}");
        }
        for good in ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(!is_forbidden_ip(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn private_access_by_setting() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = PrivateAccess::from_config(&AllowPrivate::Switch(false));
        assert!(none.permits(ip("93.184.215.14")));
        for bad in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:192.168.0.1", "100.100.100.200"] {
            assert!(!none.permits(ip(bad)), "{bad}");
        }
        let all = PrivateAccess::from_config(&AllowPrivate::Switch(true));
        assert!(all.permits(ip("127.0.0.1")) && all.permits(ip("10.0.0.1")));
        for metadata in ["169.254.169.254", "fe80::1", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254"] {
            assert!(!all.permits(ip(metadata)), "{metadata} stays refused");
        }
        let some = PrivateAccess::from_config(&AllowPrivate::Networks(vec!["127.0.0.1".into(), "10.1.0.0/16".into()]));
        assert!(
            some.permits(ip("127.0.0.1")) && some.permits(ip("::ffff:127.0.0.1")) && some.permits(ip("10.1.200.3"))
        );
        assert!(
            !some.permits(ip("127.0.0.2")) && !some.permits(ip("10.2.0.1")) && !some.permits(ip("169.254.169.254"))
        );
        let meta = PrivateAccess::from_config(&AllowPrivate::Networks(vec!["169.254.0.0/16".into()]));
        assert!(meta.permits(ip("169.254.169.254")), "named explicitly");
    }
}
