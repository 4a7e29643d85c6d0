//! `access_log` and `error_log` at one level: the lists, inherited all or nothing.
//!
//! Parsing a log's arguments, `log_format` and opening the files are `lower::log`'s; this file
//! only keeps the lists of a level and finishes them.

use std::sync::Arc;

use super::LocBuilder;
use crate::config::load::Loader;
use crate::config::lower::log::{self, LogCx};
use crate::config::lower::shared::Shared;
use crate::config::template::Scope;
use crate::ir::log::AccessLog;
use crate::ir::ErrorLog;
use crate::syntax::Directive;

/// The part of a [`crate::ir::location::LocConf`] this family fills.
pub(super) struct Conf {
    pub access_log: Arc<[AccessLog]>,
    pub error_log: Arc<[ErrorLog]>,
}

/// Handles a directive of this family; false if `name` is not one.
pub(super) fn directive(b: &mut LocBuilder, l: &mut Loader, d: &Directive, name: &str) -> bool {
    match name {
        "access_log" => {
            if let Some(v) = log::parse_access_log(l, d) {
                match v {
                    None => {
                        // `access_log off`: nginx errors on other access_logs beside it
                        // only through its own handler; an empty list means off.
                        b.rest_mut().access_log.get_or_insert_with(Vec::new);
                    }
                    Some(raw) => b
                        .rest_mut()
                        .access_log
                        .get_or_insert_with(Vec::new)
                        .push(raw),
                }
            }
        }
        "error_log" => {
            if let Some(v) = log::parse_error_log(l, d) {
                b.rest_mut().error_log.get_or_insert_with(Vec::new).push(v);
            }
        }
        _ => return false,
    }
    true
}

/// The access logs (nginx's default one when none is set) and error logs of a level.
pub(super) fn finish(
    b: &LocBuilder,
    l: &mut Loader,
    scope: &mut Scope,
    logs: &mut LogCx,
    shared: &mut Shared,
) -> Conf {
    let r = b.rest();
    let access_log = match &r.access_log {
        Some(list) => logs.access_logs(l, scope, list),
        None => logs.default_access_log(l),
    };
    let error_log: Arc<[ErrorLog]> = match &r.error_log {
        Some(list) => list.clone().into(),
        None => shared
            .no_error_log
            .get_or_insert_with(|| Arc::from(Vec::new()))
            .clone(),
    };
    Conf {
        access_log,
        error_log,
    }
}
