//! Syntax: nginx configuration bytes to an AST with spans.
//!
//! This layer does no IO and knows no directive. [`parse`] reads one file exactly as nginx's
//! tokenizer does (`lexer`) and builds its block structure (`parser`); `include`, contexts and
//! arguments are the config layer's business.

pub mod ast;
pub mod error;
pub mod lexer;
pub mod parser;

pub use ast::{Block, Directive, ParsedFile, Terminator, Word};
pub use error::{SyntaxError, SyntaxErrorKind};
pub use parser::{parse, parse_bytes, parse_param};
