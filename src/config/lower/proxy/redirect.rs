//! `proxy_redirect`: the rules that rewrite an upstream's `Location` and `Refresh`, with
//! nginx's `default` (made from `proxy_pass` once it is known) and `off`.
//!
//! Applying the rules to a response is the runtime's.

use super::{ProxyBuilder, RawPass};
use crate::config::diagnostic::{code, Diagnostic, Place};
use crate::config::load::{duplicate, Loader};
use crate::config::template::{self, Raw, Scope};
use crate::ir::proxy::{RedirectFrom, RedirectRule};
use crate::ir::Template;
use crate::source::Span;
use crate::syntax::Directive;

#[derive(Clone, Debug)]
pub enum RawRedirectFrom {
    Prefix(Raw),
    Regex(crate::ir::regex::Regex),
}

#[derive(Clone, Debug)]
pub enum RawRedirects {
    Off,
    /// `default` entries are kept unresolved until the merge knows the proxy_pass.
    Rules(Vec<RawRedirectRule>),
}

#[derive(Clone, Debug)]
pub enum RawRedirectRule {
    Default(Span),
    Rule(RawRedirectFrom, Raw),
}

impl ProxyBuilder {
    pub(super) fn redirect(&mut self, l: &mut Loader, d: &Directive) {
        if matches!(self.redirects, Some(RawRedirects::Off)) {
            l.error(duplicate(
                d,
                "proxy_redirect",
                self.redirect_span.unwrap_or(d.head_span()),
            ));
            return;
        }
        if d.args.len() == 1 {
            let a = &d.args[0];
            if a.is("off") {
                if self.redirects.is_some() {
                    l.error(duplicate(
                        d,
                        "proxy_redirect",
                        self.redirect_span.unwrap_or(d.head_span()),
                    ));
                    return;
                }
                self.redirects = Some(RawRedirects::Off);
                self.redirect_span = Some(d.head_span());
                return;
            }
            if !a.is("default") {
                let e = l.arg_error(d, a, format!("invalid parameter \"{}\"", a.show()));
                l.error(e.help("\"proxy_redirect default;\", \"proxy_redirect off;\" or \"proxy_redirect from to;\""));
                return;
            }
            match &self.pass {
                Some(p) if matches!(p.value, RawPass::Dynamic { .. }) => {
                    l.error(
                        Diagnostic::error(
                            code::PROXY,
                            "\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with variables",
                            d.head_span(),
                        )
                        .place(Place::At(d.end))
                        .also(p.span, "proxy_pass with variables")
                        .help("write the rule explicitly: proxy_redirect http://backend/ /;"),
                    );
                    return;
                }
                None => {
                    l.error(
                        Diagnostic::error(
                            code::PROXY,
                            "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive",
                            d.head_span(),
                        )
                        .place(Place::At(d.end))
                        .help("move this line below proxy_pass in the same location"),
                    );
                    return;
                }
                _ => {}
            }
            self.push_rule(d, RawRedirectRule::Default(d.head_span()));
            return;
        }
        let from = &d.args[0];
        let fv = from.as_bytes();
        let rule_from = if fv.first() == Some(&b'~') {
            let (caseless, pat) = if fv.get(1) == Some(&b'*') {
                (true, &fv[2..])
            } else {
                (false, &fv[1..])
            };
            match l.regex(pat, caseless, from.span, d.end) {
                Ok(re) => RawRedirectFrom::Regex(re),
                Err(e) => {
                    l.error(*e);
                    return;
                }
            }
        } else {
            match template::parse(l, from, d.end) {
                Some(r) => RawRedirectFrom::Prefix(r),
                None => return,
            }
        };
        let Some(to) = template::parse(l, &d.args[1], d.end) else {
            return;
        };
        self.push_rule(d, RawRedirectRule::Rule(rule_from, to));
    }

    fn push_rule(&mut self, d: &Directive, rule: RawRedirectRule) {
        self.redirect_span.get_or_insert(d.head_span());
        match &mut self.redirects {
            Some(RawRedirects::Rules(v)) => v.push(rule),
            _ => self.redirects = Some(RawRedirects::Rules(vec![rule])),
        }
    }
}

/// The rules of a level: `default` entries become `default_rule` (the one nginx makes from
/// `proxy_pass`), and a level that sets none gets that rule alone.
pub(super) fn finish(
    l: &mut Loader,
    scope: &mut Scope,
    redirects: &Option<RawRedirects>,
    default_rule: Option<(Template, Template)>,
) -> Vec<RedirectRule> {
    match redirects {
        Some(RawRedirects::Off) => Vec::new(),
        None => default_rule
            .map(|(from, to)| {
                vec![RedirectRule {
                    from: RedirectFrom::Prefix(from),
                    to,
                }]
            })
            .unwrap_or_default(),
        Some(RawRedirects::Rules(rules)) => rules
            .iter()
            .filter_map(|r| match r {
                RawRedirectRule::Default(_) => {
                    default_rule.clone().map(|(from, to)| RedirectRule {
                        from: RedirectFrom::Prefix(from),
                        to,
                    })
                }
                RawRedirectRule::Rule(from, to) => Some(RedirectRule {
                    from: match from {
                        RawRedirectFrom::Prefix(r) => RedirectFrom::Prefix(scope.resolve(l, r)),
                        RawRedirectFrom::Regex(re) => RedirectFrom::Regex(re.clone()),
                    },
                    to: scope.resolve(l, to),
                }),
            })
            .collect(),
    }
}
