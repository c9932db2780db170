//! Who the client is: the address of the TCP peer, or — when that peer is a reverse proxy the
//! operator trusts (`[client_address] trusted_proxies`) — the address it names in
//! `X-Forwarded-For`. A header from any other peer is ignored: a client cannot choose its own
//! address, so it cannot dodge a per-address throttle or blame someone else.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

use crate::network::Network;

/// The client's address as the gateway decided it (a request extension, set by
/// `guards::client_addr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key a per-address throttle counts under.
    pub fn key(&self) -> AddrKey {
        AddrKey::of(self.0)
    }
}

/// An address as a throttle counts it: IPv4 addresses one by one, IPv6 by their /64 (one
/// subscriber's network, which its owner can fill with as many addresses as they like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(u128);

impl AddrKey {
    pub fn of(ip: IpAddr) -> AddrKey {
        match ip.to_canonical() {
            // IPv4 in the IPv4-mapped range, so it cannot collide with an IPv6 /64.
            IpAddr::V4(v4) => AddrKey(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => AddrKey(u128::from(v6) & !u128::from(u64::MAX)),
        }
    }

    /// The address (IPv4) or network (IPv6 /64) this key stands for, for log lines.
    pub fn show(&self) -> String {
        let v6 = Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("{v6}/64"),
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// From the settings (each an address or `addr/prefix`).
    pub fn parse(networks: &[String]) -> Result<TrustedProxies, String> {
        networks.iter().map(|n| Network::parse(n)).collect::<Result<_, _>>().map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client of a request from `peer`: walking `X-Forwarded-For` from the right (the
    /// hop nearest to us), each address added by a trusted proxy is believed, and the first
    /// address that is not a trusted proxy is the client. An entry that does not parse stops
    /// the walk at the last address believed.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`1.2.3.4:80`,
/// `[::1]:80`), as some proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let h = forwarded(&["203.0.113.7"]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        assert_eq!(proxies.client(ip("198.51.100.1"), &h), ip("198.51.100.1"), "an untrusted peer's header");
        assert_eq!(TrustedProxies::default().client(ip("127.0.0.1"), &h), ip("127.0.0.1"), "no proxies trusted");
        assert_eq!(proxies.client(ip("127.0.0.1"), &HeaderMap::new()), ip("127.0.0.1"), "no header");
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop() {
        let proxies = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        // The client wrote a fake first entry; the proxies appended the rest.
        let h = forwarded(&["6.6.6.6, 203.0.113.7", "10.0.0.2"]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        // Every hop a trusted proxy: the leftmost.
        assert_eq!(proxies.client(ip("10.0.0.1"), &forwarded(&["10.0.0.3, 10.0.0.2"])), ip("10.0.0.3"));
        // Garbage stops the walk at the last believed address.
        assert_eq!(proxies.client(ip("10.0.0.1"), &forwarded(&["203.0.113.7, junk"])), ip("10.0.0.1"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &forwarded(&["[2001:db8::1]:443"])), ip("2001:db8::1"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &forwarded(&["203.0.113.7:5000"])), ip("203.0.113.7"));
        assert_eq!(proxies.client(ip("::ffff:127.0.0.1"), &forwarded(&["1.2.3.4"])), ip("1.2.3.4"), "mapped peer");
    }

    #[test]
    fn addresses_are_keyed_per_ipv4_address_and_per_ipv6_64() {
        assert_eq!(AddrKey::of(ip("2001:db8:1:2::1")), AddrKey::of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(AddrKey::of(ip("2001:db8:1:2::1")), AddrKey::of(ip("2001:db8:1:3::1")));
        assert_ne!(AddrKey::of(ip("192.0.2.1")), AddrKey::of(ip("192.0.2.2")));
        assert_eq!(AddrKey::of(ip("::ffff:192.0.2.1")), AddrKey::of(ip("192.0.2.1")));
        assert_eq!(AddrKey::of(ip("192.0.2.1")).show(), "192.0.2.1");
        assert_eq!(AddrKey::of(ip("2001:db8:1:2::1")).show(), "2001:db8:1:2::/64");
    }
}
