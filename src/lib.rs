//! rginx: a reverse proxy that runs an existing `nginx.conf` unchanged.
//!
//! Four layers, data flowing one way: [`syntax`] (bytes to an AST with spans), [`config`]
//! (the directive table, includes, checks and lowering), [`ir`] (the typed, validated
//! configuration) and the runtime that executes it; the [`master`] process runs the runtime
//! as nginx's master runs its workers, and [`app`] is the command line's modes. [`version`] is
//! a leaf every layer may name.

pub mod app;
pub mod cli;
pub mod config;
pub mod ir;
pub mod master;
pub mod runtime;
pub mod source;
pub mod syntax;
pub mod version;
