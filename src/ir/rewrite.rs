//! The rewrite module's scripts (`ngx_http_rewrite_module`): the `return`, `rewrite`, `set`,
//! `if` and `break` directives of one server or location, in configuration order, run in
//! the server rewrite phase and the location rewrite phase.

use std::sync::Arc;

use super::location::{LocConf, Return};
use super::regex::Regex;
use super::var::Template;

/// The rewrite directives of one block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    pub ops: Box<[Op]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Return(Return),
    Rewrite(Box<Rewrite>),
    /// `set $var value`.
    Set(SetVar, Template),
    If(Box<If>),
    Break,
}

/// A `rewrite` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// No flag: the script goes on with the new URI.
    None,
    /// `last`: stop, and search the location for the new URI.
    Last,
    /// `break`: stop, and stay in this location.
    Break,
    /// `redirect` (302).
    Redirect,
    /// `permanent` (301).
    Permanent,
}

/// `rewrite regex replacement [flag]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub regex: Regex,
    /// The replacement up to its first `?` (the new URI, or the redirect's URL).
    pub uri: Template,
    /// What follows that `?`: the new arguments.
    pub args: Option<Template>,
    /// The request's arguments are appended (unless the replacement ends with `?`).
    pub add_args: bool,
    /// The replacement starts with `http://`, `https://` or `$scheme`: always a redirect.
    pub redirect: bool,
    pub flag: Flag,
}

/// What `set` assigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetVar {
    /// A variable declared by `set`, by index in [`super::Http::set_vars`].
    Var(u32),
    /// `$args` (also `$query_string`), which nginx lets `set` change.
    Args,
    /// `$limit_rate`: changeable in nginx; rginx does not limit rates.
    LimitRate,
    /// A `map` variable: nginx lets `set` store a value that later reads return.
    Map(super::var::MapId),
}

/// `if (condition) { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct If {
    pub cond: Cond,
    /// The block's own configuration (inheriting from the enclosing one): it applies from the
    /// moment the condition holds.
    pub conf: Arc<LocConf>,
    /// The rewrite directives inside the block.
    pub script: Script,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `($var)`: true unless empty or `0`.
    Value(Template),
    /// `($var = value)` / `!=`.
    Compare {
        value: Template,
        with: Template,
        equal: bool,
    },
    /// `($var ~ regex)`, `~*`, `!~`, `!~*`.
    Regex {
        value: Template,
        regex: Regex,
        matches: bool,
    },
    /// `-f`, `-d`, `-e`, `-x` and their `!` forms.
    File {
        path: Template,
        test: FileTest,
        negate: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileTest {
    File,
    Dir,
    Exists,
    Exec,
}
