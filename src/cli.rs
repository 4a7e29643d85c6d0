//! nginx's command line (`-c -p -g -e -t -T -q -s -v -V -h -?`), parsed with clap, plus
//! rginx's own `--check` and `--format`.

use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// nginx's lines, then a report for people.
    Text,
    /// nginx's lines on stderr, every diagnostic as JSON on stdout.
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "rginx",
    disable_help_flag = true,
    disable_version_flag = true,
    about = "A reverse proxy that runs an existing nginx.conf unchanged"
)]
pub struct Cli {
    /// show this help
    #[arg(short = 'h', short_alias = '?', action = ArgAction::Help)]
    pub help: Option<bool>,
    /// show version and exit
    #[arg(short = 'v', action = ArgAction::SetTrue)]
    pub version: bool,
    /// show version and configure options then exit
    #[arg(short = 'V', action = ArgAction::SetTrue)]
    pub version_full: bool,
    /// test configuration and exit
    #[arg(short = 't', long = "check", action = ArgAction::SetTrue)]
    pub test: bool,
    /// test configuration, dump it and exit
    #[arg(short = 'T', action = ArgAction::SetTrue)]
    pub dump: bool,
    /// suppress non-error messages during configuration testing
    #[arg(short = 'q', action = ArgAction::SetTrue)]
    pub quiet: bool,
    /// send signal to a master process: stop, quit, reopen, reload
    #[arg(short = 's', value_name = "signal")]
    pub signal: Option<String>,
    /// set prefix path
    #[arg(short = 'p', value_name = "prefix")]
    pub prefix: Option<PathBuf>,
    /// set error log file
    #[arg(short = 'e', value_name = "filename")]
    pub error_log: Option<PathBuf>,
    /// set configuration file
    #[arg(short = 'c', value_name = "filename")]
    pub conf: Option<PathBuf>,
    /// set global directives out of configuration file
    #[arg(short = 'g', value_name = "directives")]
    pub global: Option<String>,
    /// how to print diagnostics of -t/-T
    #[arg(long = "format", value_enum, default_value = "text")]
    pub format: Format,
}
