//! The SSRF corpus: URLs an attacker (or a careless operator) hands the gateway to make it
//! reach what it must not — loopback in every spelling, private and link-local ranges, cloud
//! metadata services, credentials and parser tricks, other schemes, overlong and Unicode forms.
//! One shared list for every place a URL enters: provider `base_url`s and image URLs today
//! (`ssrf.rs`); Tollgate has no webhooks yet, and when it has, their URLs go through this
//! same corpus.

/// One hostile URL.
pub struct Payload {
    pub url: String,
    /// What it tries.
    pub tries: &'static str,
    /// Only DNS can tell where it goes (no IP literal, no name the gateway knows is local):
    /// refused when resolved, not when stored.
    pub resolved: bool,
    /// It reaches 127.0.0.1 exactly, as an address or by a name that resolves to it (a network
    /// an operator may allow on purpose).
    pub loopback_v4: bool,
}

/// The corpus; `port` is where a listener on loopback counts any connection that gets through.
pub fn corpus(port: u16) -> Vec<Payload> {
    let p = |url: String, tries: &'static str| Payload { url, tries, resolved: false, loopback_v4: false };
    let lo = |url: String, tries: &'static str| Payload { url, tries, resolved: false, loopback_v4: true };
    let dns = |url: String, tries: &'static str| Payload { url, tries, resolved: true, loopback_v4: false };
    vec![
        // Loopback, every spelling the URL parser turns into 127.0.0.1.
        lo(format!("http://127.0.0.1:{port}/v1"), "loopback"),
        lo(format!("http://127.1:{port}/v1"), "short dotted form"),
        lo(format!("http://2130706433:{port}/v1"), "decimal IPv4"),
        lo(format!("http://0x7f000001:{port}/v1"), "hex IPv4"),
        lo(format!("http://0x7f.0x0.0x0.0x1:{port}/v1"), "hex dotted IPv4"),
        lo(format!("http://0177.0.0.1:{port}/v1"), "octal IPv4"),
        lo(format!("http://017700000001:{port}/v1"), "octal whole IPv4"),
        lo(format!("http://127.000.000.001:{port}/v1"), "zero-padded IPv4"),
        lo(format!("http://127%2E0%2E0%2E1:{port}/v1"), "percent-encoded dots"),
        lo(format!("http://127\u{3002}0\u{3002}0\u{3002}1:{port}/v1"), "ideographic full stops"),
        lo(format!("http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}:{port}/v1"), "full-width digits"),
        p(format!("http://127.0.0.2:{port}/v1"), "another loopback address"),
        // IPv6 forms of loopback and of IPv4 addresses.
        p(format!("http://[::1]:{port}/v1"), "IPv6 loopback"),
        p(format!("http://[0:0:0:0:0:0:0:1]:{port}/v1"), "IPv6 loopback, long form"),
        lo(format!("http://[::ffff:127.0.0.1]:{port}/v1"), "IPv4-mapped IPv6"),
        lo(format!("http://[::ffff:7f00:1]:{port}/v1"), "IPv4-mapped IPv6, hex"),
        p(format!("http://[::127.0.0.1]:{port}/v1"), "IPv4-compatible IPv6"),
        p(format!("http://[64:ff9b::7f00:1]:{port}/v1"), "NAT64 of loopback"),
        p(format!("http://[2002:7f00:1::]:{port}/v1"), "6to4 of loopback"),
        // The unspecified address, which connects to this host.
        p(format!("http://0.0.0.0:{port}/v1"), "unspecified IPv4"),
        p(format!("http://0:{port}/v1"), "unspecified IPv4, decimal"),
        p(format!("http://[::]:{port}/v1"), "unspecified IPv6"),
        // Names of this host.
        lo(format!("http://localhost:{port}/v1"), "localhost"),
        lo(format!("http://LOCALHOST:{port}/v1"), "localhost, upper case"),
        lo(format!("http://localhost.:{port}/v1"), "localhost, fully qualified"),
        p(format!("http://api.localhost:{port}/v1"), "a *.localhost name"),
        p(format!("http://api.localhost.:{port}/v1"), "a *.localhost name, fully qualified"),
        p(
            format!("http://\u{24db}\u{24de}\u{24d2}\u{24d0}\u{24db}\u{24d7}\u{24de}\u{24e2}\u{24e3}:{port}/v1"),
            "IDN that maps to localhost",
        ),
        // Credentials and parser confusion.
        lo(format!("http://good.example@127.0.0.1:{port}/v1"), "userinfo naming a good host"),
        lo(format!("http://good.example:443@127.0.0.1:{port}/v1"), "userinfo with a port"),
        lo(format!("http://127.0.0.1:{port}\\@good.example/v1"), "backslash before @"),
        lo(format!("http://127.0.0.1:{port}#@good.example/v1"), "fragment before @"),
        // Private, shared and reserved ranges.
        p("http://10.0.0.1/v1".into(), "private 10/8"),
        p("http://172.16.0.1/v1".into(), "private 172.16/12"),
        p("http://192.168.1.1/v1".into(), "private 192.168/16"),
        p("http://100.64.0.1/v1".into(), "carrier-grade NAT"),
        p("http://198.18.0.1/v1".into(), "benchmarking range"),
        p("http://224.0.0.1/v1".into(), "multicast"),
        p("http://255.255.255.255/v1".into(), "broadcast"),
        p("http://[fc00::1]/v1".into(), "IPv6 unique local"),
        p("http://[fe80::1]/v1".into(), "IPv6 link local"),
        // Cloud metadata services.
        p("http://169.254.169.254/latest/meta-data/".into(), "AWS/GCP/Azure metadata"),
        p("http://0xa9fea9fe/latest/meta-data/".into(), "metadata, hex"),
        p("http://2852039166/latest/meta-data/".into(), "metadata, decimal"),
        p("http://[::ffff:a9fe:a9fe]/latest/meta-data/".into(), "metadata, IPv4-mapped"),
        p("http://[fd00:ec2::254]/latest/meta-data/".into(), "AWS metadata over IPv6"),
        p("http://100.100.100.200/latest/meta-data/".into(), "Alibaba metadata"),
        p("http://metadata.google.internal/computeMetadata/v1/".into(), "GCP metadata name"),
        p("http://metadata.google.internal./computeMetadata/v1/".into(), "GCP metadata name, fully qualified"),
        dns("http://169.254.169.254.nip.io/latest/meta-data/".into(), "a public name resolving to metadata"),
        dns(format!("http://127.0.0.1.nip.io:{port}/v1"), "a public name resolving to loopback"),
        // Other schemes.
        p("file:///etc/passwd".into(), "file scheme"),
        p(format!("gopher://127.0.0.1:{port}/_GET%20/"), "gopher scheme"),
        p(format!("ftp://127.0.0.1:{port}/"), "ftp scheme"),
        p(format!("dict://127.0.0.1:{port}/info"), "dict scheme"),
        p("javascript:alert(1)".into(), "javascript scheme"),
        p("//127.0.0.1/v1".into(), "scheme-relative"),
        // Overlong.
        lo(format!("http://127.0.0.1:{port}/{}", "a".repeat(1 << 20)), "a 1 MB URL"),
        p(format!("http://{}.example/v1", "a".repeat(5000)), "a 5000-byte host"),
    ]
}
