//! The address policy: which addresses a request may be made to, for every request the
//! daemon makes (see the [module above](super) for who is trusted and why).
//!
//! Hosts the operator did not configure must resolve to public addresses. Literal IP hosts
//! and `localhost` names are judged before any connection ([`literal_ip_refusal`]); names
//! are judged by [`GuardedResolver`] on the very addresses the connection is then made to.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::Url;

/// Decides whether an address may be contacted on a host the operator did not configure
/// ("is this address allowed?"). The default is [`is_public`]; tests substitute one that
/// allows a single loopback address so the guard can be exercised without leaving the
/// machine.
pub type AddressPolicy = fn(IpAddr) -> bool;

/// Names answered without DNS. Empty in production; tests use it to give a made-up name a
/// loopback address (editing /etc/hosts is no option for a test).
pub(super) type StaticHosts = Arc<HashMap<String, Vec<IpAddr>>>;

/// Marker error raised inside reqwest (resolver, redirect policy) for a refused address, so
/// it can be told apart from ordinary connection failures.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Blocked(pub(super) String);

/// Resolves names with the system resolver and, under a policy, drops every address that
/// is not allowed, so a hostname pointing at 127.0.0.1 or 169.254.169.254 is refused at
/// connect time (for every redirect hop, since each hop resolves again). The connection is
/// made to the addresses returned here, so a name cannot answer differently in between.
pub(super) struct GuardedResolver {
    /// None: every address is fine (a trusted client that only needs `hosts`).
    pub(super) policy: Option<AddressPolicy>,
    pub(super) hosts: StaticHosts,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let policy = self.policy;
        let fixed = self.hosts.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match fixed {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let Some(policy) = policy else {
                let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
                return Ok(it);
            };
            let public: Vec<SocketAddr> =
                addrs.iter().copied().filter(|a| policy(a.ip())).collect();
            if public.is_empty() {
                let shown = addrs
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let err: Box<dyn std::error::Error + Send + Sync> = Box::new(Blocked(format!(
                    "{host} resolves to a private or reserved address ({shown}); set [fetch] allow_private_addresses = true to allow"
                )));
                return Err(err);
            }
            let it: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(it)
        })
    }
}

/// Why a URL whose host is an IP literal must not be fetched, if it must not.
pub(super) fn literal_ip_refusal(url: &Url, policy: AddressPolicy) -> Option<String> {
    let ip = match url.host()? {
        url::Host::Ipv4(a) => IpAddr::V4(a),
        url::Host::Ipv6(a) => IpAddr::V6(a),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                return Some(format!(
                    "{d} is a loopback name; set [fetch] allow_private_addresses = true to allow"
                ));
            }
            return None;
        }
    };
    (!policy(ip)).then(|| {
        format!("{ip} is a private or reserved address; set [fetch] allow_private_addresses = true to allow")
    })
}

/// Whether an address is globally routable: not loopback, private, link-local, multicast,
/// unspecified, shared (CGNAT), documentation, benchmarking or reserved. IPv4-mapped and
/// NAT64 IPv6 addresses are judged by the IPv4 address inside.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => is_public_v6(a),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_unspecified()
        || a.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || o[0] >= 240) // 240.0.0.0/4 reserved
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = a.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return is_public_v4(v4);
    }
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0 && s[1..6] == [0, 0, 0, 0, 0])) // ::/96 IPv4-compatible and friends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_reserved_addresses() {
        let cases: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("93.184.216.34", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("198.18.0.1", false),
            ("2606:4700::1111", true),
            ("::1", false),
            ("::", false),
            ("fe80::1", false),
            ("fd00::1", false),
            ("ff02::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::a00:1", false),
            ("2001:db8::1", false),
        ];
        for (ip, want) in cases {
            let ip: IpAddr = ip.parse().expect("test literal");
            assert_eq!(is_public(ip), *want, "{ip}");
        }
    }

    #[test]
    fn literal_hosts() {
        let u = |s: &str| Url::parse(s).expect("test literal");
        assert!(literal_ip_refusal(&u("http://127.0.0.1:8080/"), is_public).is_some());
        assert!(literal_ip_refusal(&u("http://[::1]/"), is_public).is_some());
        assert!(literal_ip_refusal(&u("http://localhost/"), is_public).is_some());
        assert!(literal_ip_refusal(&u("http://example.com/"), is_public).is_none());
        assert!(literal_ip_refusal(&u("http://8.8.8.8/"), is_public).is_none());
    }

    /// A name that resolves only to refused addresses is refused by the resolver itself
    /// (the path every hostname, on every redirect hop, goes through). `localhost` is
    /// answered from /etc/hosts, so no packet leaves the machine.
    #[tokio::test]
    async fn resolver_refuses_names_of_refused_addresses() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().expect("test literal");
        let guarded = GuardedResolver {
            policy: Some(is_public),
            hosts: StaticHosts::default(),
        };
        let err = match guarded.resolve(name).await {
            Ok(addrs) => panic!("resolved: {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(err.downcast_ref::<Blocked>().is_some(), "{msg}");
        assert!(
            msg.contains("localhost") && msg.contains("allow_private_addresses"),
            "{msg}"
        );

        // With a policy allowing 127.0.0.1, only that address is handed to the connector.
        let name: reqwest::dns::Name = "localhost".parse().expect("test literal");
        let allow_one = GuardedResolver {
            policy: Some(|ip| ip == IpAddr::V4(Ipv4Addr::LOCALHOST)),
            hosts: StaticHosts::default(),
        };
        let addrs: Vec<SocketAddr> = match allow_one.resolve(name).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(!addrs.is_empty());
        assert!(addrs
            .iter()
            .all(|a| a.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
