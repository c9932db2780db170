//! The SSRF guard: provider `base_url`s must be http(s) and must not reach loopback, private,
//! link-local or cloud-metadata addresses unless the operator allows private upstreams.

use std::net::IpAddr;

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
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Checks a provider base URL's shape, and its host when that is an IP literal. Host names are
/// checked when they are resolved, by the client's resolver (see `http.rs`).
pub fn check_base_url(raw: &str, allow_private: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("base_url is not a valid URL: {e}"))?;
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
    } else if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") || host.ends_with(".internal") {
        return Err(format!(
            "base_url points at a local host name ({host}); set TOLLGATE_ALLOW_PRIVATE_UPSTREAMS=true to allow it"
        ));
    }
    Ok(())
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
        ] {
            assert!(check_base_url(bad, false).is_err(), "{bad}");
            assert!(check_base_url(bad, true).is_ok(), "{bad} allowed when private upstreams are");
        }
        assert!(check_base_url("https://api.openai.com/v1", false).is_ok());
        assert!(check_base_url("ftp://x", true).is_err());
        assert!(check_base_url("https://user:pw@x.com", true).is_err());
        assert!(check_base_url("not a url", true).is_err());
    }
}
