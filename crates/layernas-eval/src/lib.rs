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
//! A non-zero exit (`the command exited with code 127 (command not found); stderr: ...`), no
//! result line, malformed JSON, a missing or non-numeric `reward`, a non-finite reward or a
//! timeout fails the trial with the reason and the end of its standard error.
//!
//! # Guarantees
//!
//! - **A command cannot take layernas down with it.** A command that exits without reading
//!   its input, closes it, or dies, fails its trial (or succeeds, if it printed a result);
//!   writing the input to it never raises SIGPIPE in layernas, whatever SIGPIPE's disposition.
//! - **A trial's processes never outlive the trial.** Each trial's command runs in a process
//!   group of its own. When the command's shell exits, when the trial times out
//!   (`timeout` covers reading the output too) or is cancelled
//!   ([`Evaluator::evaluate_cancellable`](layernas_core::Evaluator::evaluate_cancellable): a
//!   worker that lost its lease), the whole group is killed with SIGKILL, so
//!   background children (`sleep 60 &`) end with it; its output pipes then close. Only a
//!   process that leaves the group on purpose (`setsid`, a daemon) escapes; layernas then
//!   stops reading its output after a short grace instead of waiting for it.
//! - **A trial's processes never outlive layernas.** However layernas ends, even by SIGKILL or
//!   a crash, the group goes with it: a small guard process in the group (`sh`, waiting on a
//!   pipe only layernas holds open) kills the group when that pipe closes, and on Linux the
//!   command's shell also has `PR_SET_PDEATHSIG(SIGKILL)`. (The parent-death signal fires when
//!   the *thread* that started the shell ends; [`CommandEvaluator`] starts it on the thread
//!   that evaluates and waits for it there, so that thread outlives the shell.) With
//!   [`install_signal_forwarding`], SIGINT, SIGTERM and SIGHUP are first forwarded to every
//!   running trial's group, which gets [`SHUTDOWN_GRACE`] to stop cleanly; layernas then
//!   kills what is left and dies of the signal (exit code 130, 143 or 129 in a shell). A
//!   trial interrupted so is recorded neither complete nor failed: it stays `running`, and
//!   resuming the study (after its lease expires, for a worker) runs it again; no second copy
//!   of it can run beside an orphan.
//! - **Output is bounded.** Of the standard output only the last [`STDOUT_KEPT`] bytes are
//!   held (the result line must fit), of the standard error the last [`STDERR_KEPT`]. An
//!   error quotes at most [`LINE_QUOTED`] bytes of the result line and the last
//!   [`STDERR_TAIL`] bytes of the standard error, and says where it cut and how long the
//!   text was: `... [cut: 10485760 bytes in all]`.
#![warn(missing_docs)]

mod command;
mod output;
mod processes;

pub use command::CommandEvaluator;
pub use output::{LINE_QUOTED, STDERR_KEPT, STDERR_TAIL, STDOUT_KEPT};
pub use processes::{
    die_of_sigpipe, die_quietly_on_closed_output, install_signal_forwarding, is_closed_output,
    live_trial_groups, signal_live_trials, SHUTDOWN_GRACE,
};
