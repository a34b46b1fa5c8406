//! A command that exits without reading its input never kills the evaluating process, even
//! where SIGPIPE has its default action (a binary may reset it so as to exit quietly on a
//! closed output). In its own test binary: it changes SIGPIPE's disposition process-wide.

use layernas_core::{EvalError, Evaluator, Fidelity, SearchSpace, TrialRequest};
use layernas_eval::CommandEvaluator;
use layernas_spaces::nats_sss_space;
use serde_json::json;
use std::sync::Arc;

#[test]
fn commands_that_ignore_their_input_fail_their_trials_and_never_kill_the_process() {
    // SAFETY: sets a signal's disposition; this test binary holds this one test.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // A network space makes the input a few kilobytes: more for the command to leave unread.
    let space = Arc::new(nats_sss_space(32, 10));
    let arch = space.parse("64:64:64:64:64").unwrap();
    let evaluator = |command: &str| {
        CommandEvaluator::new(command, space.clone(), Some(space.clone()), json!({}), None)
    };
    let cases = [
        (evaluator("true"), "the command printed no result line"),
        (
            evaluator("/nonexistent/cmd"),
            "the command exited with code 127 (command not found); stderr: sh: 1: /nonexistent/cmd: not found",
        ),
        (evaluator("exec 0<&-; echo '{\"reward\": 2}'"), ""),
    ];
    for round in 0..50 {
        for (e, reason) in &cases {
            let request = TrialRequest {
                id: round,
                arch: &arch,
                seed: 1,
                fidelity: Fidelity::Full,
            };
            match e.evaluate(&request) {
                Err(EvalError::Failed(text)) => assert!(text.contains(reason), "{text}"),
                Ok(eval) => assert!(reason.is_empty() && eval.reward == 2.0),
                Err(other) => panic!("{other}"),
            }
        }
    }
}
