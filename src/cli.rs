//! nginx's command line (`-?hvVtTq -s signal -p prefix -e filename -c filename -g
//! directives`), read as `ngx_get_options` reads it, plus rginx's own `--check` and `--format`.
//!
//! This is a hand-written loop rather than clap on purpose: nginx's option grammar is its own
//! and scripts rely on it. Flags combine (`-tq`), a value may be attached (`-cfile`) or be the
//! next word, a lone `-` is accepted and does nothing, `-s` takes only four words, and every
//! mistake is one line (`nginx: invalid option: "x"`) with exit code 1. The output and the
//! usage text (see [`usage`]) follow nginx 1.22.1 with `rginx` for `nginx`.

use std::ffi::OsString;
use std::path::PathBuf;

/// How `-t` prints its diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// nginx's lines, then a report for people.
    #[default]
    Text,
    /// nginx's lines on stderr, every diagnostic as JSON on stdout.
    Json,
}

/// `-s`: what to tell the running process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `TERM`: fast shutdown.
    Stop,
    /// `QUIT`: graceful shutdown.
    Quit,
    /// `USR1`: reopen the log files.
    Reopen,
    /// `HUP`: reload the configuration.
    Reload,
}

impl Signal {
    pub fn from_name(name: &[u8]) -> Option<Signal> {
        match name {
            b"stop" => Some(Signal::Stop),
            b"quit" => Some(Signal::Quit),
            b"reopen" => Some(Signal::Reopen),
            b"reload" => Some(Signal::Reload),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Stop => "stop",
            Signal::Quit => "quit",
            Signal::Reopen => "reopen",
            Signal::Reload => "reload",
        }
    }
}

/// The parsed command line.
#[derive(Clone, Debug, Default)]
pub struct Cli {
    /// `-?`, `-h`.
    pub help: bool,
    /// `-v` (also set by `-V` and `-h`, as in nginx).
    pub version: bool,
    /// `-V`.
    pub version_full: bool,
    /// `-t` (also set by `-T`).
    pub test: bool,
    /// `-T`.
    pub dump: bool,
    /// `-q`.
    pub quiet: bool,
    /// `-s`.
    pub signal: Option<Signal>,
    /// `-p`.
    pub prefix: Option<PathBuf>,
    /// `-e`; `stderr` is kept as the word, as nginx keeps it as an empty name.
    pub error_log: Option<PathBuf>,
    /// `-c`.
    pub conf: Option<PathBuf>,
    /// `-g`.
    pub global: Option<String>,
    /// `--format`.
    pub format: Format,
}

/// A command line nginx would refuse: the message (without the program name) to print on
/// stderr; the exit code is 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Cli {
    /// Parses the arguments after the program name.
    pub fn parse<I>(args: I) -> Result<Cli, Invalid>
    where
        I: IntoIterator<Item = OsString>,
    {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let args: Vec<Vec<u8>> = args.into_iter().map(|a| a.into_vec()).collect();
        let mut cli = Cli::default();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            // rginx's own long options; nginx would call any of them `invalid option: "-"`.
            if let Some(long) = arg.strip_prefix(b"--") {
                match long {
                    b"check" => {
                        cli.test = true;
                        i += 1;
                        continue;
                    }
                    b"format" | b"format=json" | b"format=text" => {
                        let value = match long.strip_prefix(b"format=") {
                            Some(v) => v.to_vec(),
                            None => {
                                i += 1;
                                match args.get(i) {
                                    Some(v) => v.clone(),
                                    None => {
                                        return Err(Invalid(
                                            "option \"--format\" requires parameter".into(),
                                        ))
                                    }
                                }
                            }
                        };
                        cli.format = match &value[..] {
                            b"json" => Format::Json,
                            b"text" => Format::Text,
                            other => {
                                return Err(Invalid(format!(
                                    "invalid option: \"--format {}\"",
                                    String::from_utf8_lossy(other)
                                )))
                            }
                        };
                        i += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            let Some(flags) = arg.strip_prefix(b"-") else {
                return Err(Invalid(format!(
                    "invalid option: \"{}\"",
                    String::from_utf8_lossy(arg)
                )));
            };
            let mut j = 0;
            while j < flags.len() {
                let flag = flags[j];
                j += 1;
                match flag {
                    b'?' | b'h' => {
                        cli.version = true;
                        cli.help = true;
                    }
                    b'v' => cli.version = true,
                    b'V' => {
                        cli.version = true;
                        cli.version_full = true;
                    }
                    b't' => cli.test = true,
                    b'T' => {
                        cli.test = true;
                        cli.dump = true;
                    }
                    b'q' => cli.quiet = true,
                    b'p' | b'e' | b'c' | b'g' | b's' => {
                        // The rest of this word, or else the next word, is the value.
                        let value = if j < flags.len() {
                            flags[j..].to_vec()
                        } else {
                            i += 1;
                            match args.get(i) {
                                Some(v) => v.clone(),
                                None => {
                                    let what = match flag {
                                        b'p' => "requires directory name",
                                        b'e' | b'c' => "requires file name",
                                        _ => "requires parameter",
                                    };
                                    return Err(Invalid(format!(
                                        "option \"-{}\" {what}",
                                        flag as char
                                    )));
                                }
                            }
                        };
                        let os = || PathBuf::from(std::ffi::OsStr::from_bytes(&value));
                        match flag {
                            b'p' => cli.prefix = Some(os()),
                            b'e' => cli.error_log = Some(os()),
                            b'c' => cli.conf = Some(os()),
                            b'g' => cli.global = Some(String::from_utf8_lossy(&value).into()),
                            _ => match Signal::from_name(&value) {
                                Some(s) => cli.signal = Some(s),
                                None => {
                                    return Err(Invalid(format!(
                                        "invalid option: \"-s {}\"",
                                        String::from_utf8_lossy(&value)
                                    )))
                                }
                            },
                        }
                        break;
                    }
                    other => {
                        return Err(Invalid(format!(
                            "invalid option: \"{}\"",
                            String::from_utf8_lossy(&[other])
                        )))
                    }
                }
            }
            i += 1;
        }
        Ok(cli)
    }

    /// The `-e` log, if it names a file (`stderr` and no `-e` mean the standard error).
    pub fn error_log_file(&self) -> Option<&std::path::Path> {
        self.error_log
            .as_deref()
            .filter(|p| p.as_os_str() != "stderr" && !p.as_os_str().is_empty())
    }
}

/// nginx's usage text (`ngx_show_version_info` with `-h`), with rginx's build defaults and
/// its own option after nginx's.
pub fn usage(program: &str, prefix: &str, error_log: &str, conf: &str) -> String {
    format!(
        "Usage: {program} [-?hvVtTq] [-s signal] [-p prefix]\n\
         \x20            [-e filename] [-c filename] [-g directives]\n\
         \n\
         Options:\n\
         \x20 -?,-h         : this help\n\
         \x20 -v            : show version and exit\n\
         \x20 -V            : show version and configure options then exit\n\
         \x20 -t            : test configuration and exit\n\
         \x20 -T            : test configuration, dump it and exit\n\
         \x20 -q            : suppress non-error messages during configuration testing\n\
         \x20 -s signal     : send signal to a master process: stop, quit, reopen, reload\n\
         \x20 -p prefix     : set prefix path (default: {prefix})\n\
         \x20 -e filename   : set error log file (default: {error_log})\n\
         \x20 -c filename   : set configuration file (default: {conf})\n\
         \x20 -g directives : set global directives out of configuration file\n\
         \x20 --format json : with -t, print every diagnostic as JSON on stdout\n\
         \n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, Invalid> {
        Cli::parse(args.iter().map(OsString::from))
    }

    fn err(args: &[&str]) -> String {
        parse(args).expect_err("must be refused").0
    }

    #[test]
    fn flags_combine_and_values_attach_as_in_ngx_get_options() {
        let c = parse(&[
            "-tq",
            "-cfile.conf",
            "-p",
            "/x",
            "-gdaemon off;",
            "-s",
            "reload",
        ])
        .unwrap();
        assert!(c.test && c.quiet && !c.dump);
        assert_eq!(c.conf, Some(PathBuf::from("file.conf")));
        assert_eq!(c.prefix, Some(PathBuf::from("/x")));
        assert_eq!(c.global.as_deref(), Some("daemon off;"));
        assert_eq!(c.signal, Some(Signal::Reload));
        // A value ends its word: `-tc x` is -t then -c x.
        let c = parse(&["-tc", "x"]).unwrap();
        assert!(c.test);
        assert_eq!(c.conf, Some(PathBuf::from("x")));
        let c = parse(&["-T"]).unwrap();
        assert!(c.test && c.dump);
        let c = parse(&["-h"]).unwrap();
        assert!(c.help && c.version);
        let c = parse(&["-V"]).unwrap();
        assert!(c.version && c.version_full);
        // nginx accepts a lone "-".
        assert!(parse(&["-"]).is_ok());
        let c = parse(&["-e", "stderr"]).unwrap();
        assert_eq!(c.error_log_file(), None);
        let c = parse(&["-e", "/tmp/e.log"]).unwrap();
        assert_eq!(c.error_log_file(), Some(std::path::Path::new("/tmp/e.log")));
    }

    #[test]
    fn refusals_are_nginx_messages() {
        assert_eq!(err(&["-x"]), "invalid option: \"x\"");
        assert_eq!(err(&["-tx"]), "invalid option: \"x\"");
        assert_eq!(err(&["foo"]), "invalid option: \"foo\"");
        assert_eq!(err(&["--help"]), "invalid option: \"-\"");
        assert_eq!(err(&["-s", "bogus"]), "invalid option: \"-s bogus\"");
        assert_eq!(err(&["-s"]), "option \"-s\" requires parameter");
        assert_eq!(err(&["-g"]), "option \"-g\" requires parameter");
        assert_eq!(err(&["-c"]), "option \"-c\" requires file name");
        assert_eq!(err(&["-e"]), "option \"-e\" requires file name");
        assert_eq!(err(&["-p"]), "option \"-p\" requires directory name");
    }

    #[test]
    fn rginx_long_options() {
        let c = parse(&["--check", "--format", "json"]).unwrap();
        assert!(c.test);
        assert_eq!(c.format, Format::Json);
        assert_eq!(parse(&["--format=text"]).unwrap().format, Format::Text);
        assert_eq!(
            err(&["--format", "xml"]),
            "invalid option: \"--format xml\""
        );
    }
}
