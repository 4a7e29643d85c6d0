//! nginx's access rules (`allow`/`deny`, http's and stream's access modules alike) over a
//! client's address: checked in order, the first rule that matches decides.

use std::net::IpAddr;

use crate::ir::location::{AccessRule, Net};

/// `allow`/`deny` in order; the first rule that matches decides. `ip` is `None` for a
/// client on a unix socket.
pub fn allowed(rules: &[AccessRule], ip: Option<IpAddr>) -> bool {
    for rule in rules {
        let (allow, net) = match rule {
            AccessRule::Allow(n) => (true, n),
            AccessRule::Deny(n) => (false, n),
        };
        let hit = match (net, ip) {
            (Net::All, _) => true,
            (Net::Unix, None) => true,
            (Net::Cidr { addr, prefix }, Some(ip)) => in_net(ip, *addr, *prefix),
            _ => false,
        };
        if hit {
            return allow;
        }
    }
    true
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix.min(32))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix.min(128) as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let ip = |s: &str| s.parse().unwrap();
        assert!(in_net(ip("10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(!in_net(ip("11.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_net(ip("::ffff:10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_net(ip("::1"), ip("::1"), 128));
        assert!(in_net(ip("1.2.3.4"), ip("0.0.0.0"), 0));
    }
}
