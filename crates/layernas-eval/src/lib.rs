//! Evaluators that train candidates outside layernas.
//!
//! [`CommandEvaluator`] runs a user command once per trial (`sh -c COMMAND`), writes the trial
//! as one JSON object on its standard input and reads the result from the last line of its
//! standard output:
//!
//! - input: `{"trial": id, "seed": seed, "arch": "<as the CLI prints it>", "key": "3-0-1",
//!   "space": "mobilenetv2", "network": {...} | null, "context": {...}}`; `network` is the
//!   network description (`layernas show --json`) where the space has one;
//! - output, last non-empty line: `{"reward": 91.2, "test": 90.8, ...}`; `reward` is required,
//!   every other numeric field is kept as a metric.
//!
//! A non-zero exit, no result line, malformed JSON, a missing or non-numeric `reward`, a
//! non-finite reward or a timeout (the command's process group is killed) fails the trial with
//! the reason and the tail of its standard error.
#![warn(missing_docs)]

mod command;

pub use command::{CommandEvaluator, STDERR_TAIL};
