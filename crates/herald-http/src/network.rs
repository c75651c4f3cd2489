//! Which addresses belong to this machine or to a private network, for the server-side
//! request forgery (SSRF) guard of everything that sends requests to URLs users give
//! (push subscriptions, webhook channels): a URL that reaches loopback, link-local
//! (cloud metadata at `169.254.169.254`), private, shared or unique-local addresses is
//! refused unless the operator allows private endpoints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is loopback, unspecified, link-local, private (RFC 1918), shared
/// (RFC 6598, carrier-grade NAT), unique-local (fc00::/7), or an IPv4-mapped address of
/// one of these.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [first, second, ..] = ip.octets();
    let shared = first == 100 && (64..128).contains(&second);
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || shared
        || first == 0
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || ip.is_unique_local() || ip.is_unicast_link_local()
}

/// Whether a URL's host (as `url::Url::host_str` gives it: a name, an IPv4 address, or an
/// IPv6 address in brackets) names this machine or a private address without a DNS
/// lookup: `localhost`, `*.localhost`, or an internal address. Other names are checked
/// when they are resolved.
pub fn is_internal_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&host);
    literal.parse::<IpAddr>().is_ok_and(is_internal)
}

/// A DNS resolver for `reqwest` that resolves names as the system does and keeps only
/// public addresses: a name that resolves to internal addresses only cannot be reached.
/// (Literal addresses are not resolved: check them with [`is_internal_host`].)
#[derive(Clone, Copy, Debug, Default)]
pub struct PublicAddressesOnly;

impl Resolve for PublicAddressesOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> =
                found.filter(|address| !is_internal(address.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "`{host}` resolves only to loopback, link-local or private addresses, which may not be reached unless the operator allows them (--allow-private-endpoints)"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "100.128.0.1", "2606:4700::1111"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn hosts_are_checked_without_dns_where_they_can_be() {
        for internal in ["localhost", "LOCALHOST.", "api.localhost", "[::1]", "127.0.0.1"] {
            assert!(is_internal_host(internal), "{internal}");
        }
        for other in ["hooks.example", "localhost.example", "[2606:4700::1111]"] {
            assert!(!is_internal_host(other), "{other}");
        }
    }
}
