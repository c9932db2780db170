//! IP networks as settings name them (`10.1.0.0/16`, `127.0.0.1`, `fd00::/8`): the private
//! ranges fetched URLs may reach (`image_fetch.allow_private`) and the trusted proxies whose
//! `X-Forwarded-For` names the client (`client_address.trusted_proxies`).

use std::net::IpAddr;

/// A network: an address and a prefix length (a bare address is its own /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("`{s}` is not an address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{s}`: bad prefix"))?,
        };
        Ok(Network { addr: addr.to_canonical(), prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse() {
        assert_eq!(Network::parse("10.0.0.0/8").unwrap().prefix, 8);
        assert_eq!(Network::parse("::1").unwrap().prefix, 128);
        assert!(Network::parse("0.0.0.0/0").unwrap().contains("1.2.3.4".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x", "10.0.0.0/", "fe80::/129"] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }
}
