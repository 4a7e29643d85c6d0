//! Who may reach a location: the access module's `allow` and `deny` rules, and `internal`
//! (only internal redirects may).
//!
//! The rules are inherited all or nothing and checked in order by the runtime's access phase.

use std::net::IpAddr;
use std::sync::Arc;

use super::{LocBuilder, Rest};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::Loader;
use crate::config::lower::or;
use crate::config::lower::shared::Shared;
use crate::config::value;
use crate::ir::location::{AccessRule, Net};
use crate::syntax::Directive;

/// The part of a [`crate::ir::location::LocConf`] this family fills.
pub(super) struct Conf {
    pub access: Arc<[AccessRule]>,
    pub internal: bool,
}

/// Handles a directive of this family; false if `name` is not one.
pub(super) fn directive(b: &mut LocBuilder, l: &mut Loader, d: &Directive, name: &str) -> bool {
    match name {
        "allow" | "deny" => b.access_rule(l, d, name == "allow"),
        "internal" => {
            if !l.is_dup(&b.rest_mut().internal, d) {
                l.once(&mut b.rest_mut().internal, d, true);
            }
        }
        _ => return false,
    }
    true
}

/// The rules (a level without any shares one empty list) and `internal`.
pub(super) fn finish(r: &Rest, shared: &mut Shared) -> Conf {
    let access: Arc<[AccessRule]> = match &r.access {
        Some(list) => list.clone().into(),
        None => shared
            .no_access
            .get_or_insert_with(|| Arc::from(Vec::new()))
            .clone(),
    };
    Conf {
        access,
        internal: or(&r.internal, false),
    }
}

impl LocBuilder {
    fn access_rule(&mut self, l: &mut Loader, d: &Directive, allow: bool) {
        if let Some(rule) = parse_rule(l, d, allow) {
            self.rest_mut()
                .access
                .get_or_insert_with(Vec::new)
                .push(rule);
        }
    }
}

/// One `allow` or `deny` line (http's and stream's access modules read them alike).
pub fn parse_rule(l: &mut Loader, d: &Directive, allow: bool) -> Option<AccessRule> {
    let a = &d.args[0];
    let net = if a.is("all") {
        Net::All
    } else if a.is("unix:") {
        Net::Unix
    } else {
        match parse_cidr(a.as_bytes()) {
            Some((addr, prefix, exact)) => {
                if !exact {
                    l.error(
                        Diagnostic::warning(
                            code::INVALID_VALUE,
                            format!("low address bits of {} are meaningless", a.show()),
                            a.span,
                        )
                        .place(Place::At(d.end)),
                    );
                }
                Net::Cidr { addr, prefix }
            }
            None => {
                let e = l.arg_error(d, a, format!("invalid parameter \"{}\"", a.show()));
                l.error(
                    e.help("an address, a CIDR range like 192.168.0.0/16, \"unix:\" or \"all\""),
                );
                return None;
            }
        }
    };
    Some(if allow {
        AccessRule::Allow(net)
    } else {
        AccessRule::Deny(net)
    })
}

/// `ngx_ptocidr`: an address or `addr/bits`; the bool says whether the host bits were zero.
pub fn parse_cidr(v: &[u8]) -> Option<(IpAddr, u8, bool)> {
    let s = std::str::from_utf8(v).ok()?;
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match bits {
        Some(b) => {
            let n = value::number(b.as_bytes())?;
            if n > max as i64 {
                return None;
            }
            n as u8
        }
        None => max,
    };
    let exact = match addr {
        IpAddr::V4(a) => {
            let x = u32::from(a);
            prefix == 32 || x & (u32::MAX >> prefix) == 0
        }
        IpAddr::V6(a) => {
            let x = u128::from(a);
            prefix == 128 || x & (u128::MAX >> prefix) == 0
        }
    };
    Some((addr, prefix, exact))
}
