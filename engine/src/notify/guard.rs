//! Where webhooks may go: by default only to public addresses, so a tenant
//! cannot aim a webhook at the server's own loopback, the private network
//! around it, or a cloud metadata address. The check runs twice: when a
//! webhook is saved (a literal address or `localhost` is refused with a
//! field error) and when it is delivered, on every address its host
//! resolves to (a name that resolves to a private address, now or after a
//! DNS change, reaches nothing). An operator who runs receivers on the
//! private network sets `EngineConfig::webhook_private` (the server's
//! `--webhook-allow-private`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is one webhooks must not reach: loopback, private,
/// shared (carrier-grade NAT), link-local (cloud metadata), unspecified,
/// multicast, broadcast, documentation, benchmarking or reserved ranges,
/// and their IPv6 counterparts, IPv4-mapped and NAT64 forms included.
#[must_use]
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = s;
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        return private_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8)
}

/// Why `url` may not be a webhook target when private addresses are not
/// allowed: its host is a literal private address or `localhost`. `None`
/// when it may be (names are checked again, resolved, at delivery).
#[must_use]
pub fn refused_target(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return is_private(ip)
            .then(|| format!("{ip} is a private or loopback address; webhooks reach public addresses only"));
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost"))
        .then(|| format!("`{name}` is this server; webhooks reach public addresses only"))
}

/// A resolver that drops private addresses from every answer, and fails a
/// name that has no public one.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.iter().copied().filter(|a| !is_private(a.ip())).collect();
            if public.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = if found.is_empty() {
                    format!("`{host}` resolves to no address").into()
                } else {
                    format!(
                        "`{host}` resolves only to private addresses; webhooks reach public addresses only"
                    )
                    .into()
                };
                return Err(err);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_ranges_are_refused() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_private(ip(s)), "{s}");
        }
        for s in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(ip(s)), "{s}");
        }
    }

    #[test]
    fn literal_targets_are_checked_when_saved() {
        let refused = |u: &str| refused_target(&reqwest::Url::parse(u).unwrap());
        assert!(refused("http://127.0.0.1:9000/x").is_some());
        assert!(refused("http://[::1]/x").is_some());
        assert!(refused("http://localhost:8080/").is_some());
        assert!(refused("http://api.localhost/").is_some());
        assert!(refused("http://169.254.169.254/latest/meta-data").is_some());
        assert!(refused("https://hooks.example.com/x").is_none());
        assert!(refused("https://93.184.216.34/x").is_none());
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_reach_nothing() {
        let err = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("private"), "{err}");
    }
}
