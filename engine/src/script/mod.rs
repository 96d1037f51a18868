//! The rhai sandbox: every user script (formulas, default expressions, rule
//! conditions) runs here and nowhere else.
//!
//! Invariants: one [`Sandbox`] holds one `rhai::Engine` built once with every
//! limit of [`ScriptLimits`] (operations, call depth, expression depth,
//! string/array/map sizes, wall-clock time), strict variables, no module
//! loading, no `eval`. Scripts see their inputs as constants and cannot
//! reach files, the network or the database. Compiled ASTs are cached by
//! source text. Callers: `meta::check` (compile formulas and default
//! expressions), the record writer (evaluate them on save), automation.

pub mod convert;
pub mod effect;
pub mod host;
pub mod sandbox;

pub use effect::Effect;
pub use host::{Host, RunState};
pub use sandbox::{Sandbox, ScriptLimits};

use crate::error::{ErrorCode, FieldError, HasCode};

/// A script failure. Positions are 1-based and `None` when rhai gives none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script does not compile.
    #[error("the script does not compile: {message}{}", at(*line, *col))]
    Compile {
        /// What is wrong.
        message: String,
        /// Line of the error.
        line: Option<usize>,
        /// Column of the error.
        col: Option<usize>,
    },
    /// The script failed while running.
    #[error("the script failed: {message}{}", at(*line, *col))]
    Runtime {
        /// What went wrong.
        message: String,
        /// Line of the error.
        line: Option<usize>,
        /// Column of the error.
        col: Option<usize>,
    },
    /// The script hit an operation, depth, size or time limit.
    #[error("the script was stopped: {message}")]
    Limit {
        /// Which limit.
        message: String,
    },
}

fn at(line: Option<usize>, col: Option<usize>) -> String {
    match (line, col) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

impl HasCode for ScriptError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Compile { .. } => ErrorCode::ScriptCompile,
            Self::Runtime { .. } => ErrorCode::ScriptRuntime,
            Self::Limit { .. } => ErrorCode::ScriptLimit,
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Compile { message, line, col } | Self::Runtime { message, line, col } => {
                vec![FieldError::new("script", message.clone()).at(*line, *col)]
            }
            Self::Limit { message } => vec![FieldError::new("script", message.clone())],
        }
    }
}
