use crate::output::{self, quoted, Tail, LINE_QUOTED, STDERR_KEPT, STDERR_TAIL, STDOUT_KEPT};
use crate::processes::{self, TrialGroup};
use layernas_core::{
    Arch, Cancel, EvalError, Evaluation, Evaluator, Fidelity, SearchSpace, TrialRequest,
};
use layernas_spaces::TemplateSpace;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs an external command per trial. See the crate docs for the protocol.
pub struct CommandEvaluator {
    command: String,
    space: Arc<dyn SearchSpace>,
    network: Option<Arc<TemplateSpace>>,
    context: Value,
    timeout: Option<Duration>,
    name: String,
}

impl CommandEvaluator {
    /// Runs `command` with `sh -c`. `network` gives the network description of each trial
    /// where the space has one; `context` (e.g. dataset, epochs) is passed through.
    pub fn new(
        command: impl Into<String>,
        space: Arc<dyn SearchSpace>,
        network: Option<Arc<TemplateSpace>>,
        context: Value,
        timeout: Option<Duration>,
    ) -> Self {
        let command = command.into();
        CommandEvaluator {
            name: format!("command:{command}"),
            command,
            space,
            network,
            context,
            timeout,
        }
    }

    /// The JSON object a trial's command reads (at full fidelity).
    pub fn input(&self, id: u64, seed: u64, arch: &Arch) -> Value {
        self.input_at(id, seed, arch, Fidelity::Full)
    }

    /// The JSON object a trial's command reads, with the fidelity it is asked for (`"low"`:
    /// a cheap evaluation of a multi-fidelity search, `"full"` otherwise).
    pub fn input_at(&self, id: u64, seed: u64, arch: &Arch, fidelity: Fidelity) -> Value {
        json!({
            "trial": id,
            "seed": seed,
            "fidelity": fidelity.name(),
            "arch": self.space.format(arch),
            "key": arch.key(),
            "space": self.space.name(),
            "network": self.network.as_ref().map(|s| {
                let net = s.network(arch);
                let mut v = serde_json::to_value(&net).expect("a network serializes");
                if let Ok(t) = net.totals() {
                    v["madds"] = json!(t.madds);
                    v["params"] = json!(t.params);
                }
                v
            }),
            "context": self.context,
        })
    }
}

fn with_stderr(reason: String, stderr: &Tail) -> EvalError {
    let end = stderr.end(STDERR_TAIL);
    if end.is_empty() {
        EvalError::Failed(reason)
    } else {
        EvalError::Failed(format!("{reason}; stderr: {end}"))
    }
}

/// Parses the result line: the last non-blank line of the standard output.
fn parse_result(stdout: &Tail, stderr: &Tail) -> Result<Evaluation, EvalError> {
    let Some((line, len)) = stdout.last_line() else {
        return Err(with_stderr(
            "the command printed no result line".into(),
            stderr,
        ));
    };
    let shown = || quoted(line.trim(), len, LINE_QUOTED);
    if line.len() as u64 != len {
        return Err(with_stderr(
            format!(
                "the result line is longer than the {STDOUT_KEPT} bytes kept: {}",
                shown()
            ),
            stderr,
        ));
    }
    let line = line.trim();
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            // Python's json.dumps writes NaN and Infinity, which are not JSON.
            if ["NaN", "Infinity"].iter().any(|t| line.contains(t)) {
                return Err(EvalError::NonFinite(f64::NAN));
            }
            return Err(with_stderr(
                format!("malformed result line {}: {e}", shown()),
                stderr,
            ));
        }
    };
    let Some(object) = value.as_object() else {
        return Err(with_stderr(
            format!("the result line {} is not a JSON object", shown()),
            stderr,
        ));
    };
    let reward = match object.get("reward") {
        None => {
            return Err(with_stderr(
                format!("the result {} has no \"reward\"", shown()),
                stderr,
            ))
        }
        Some(r) => r.as_f64().ok_or_else(|| {
            with_stderr(format!("\"reward\" is not a number in {}", shown()), stderr)
        })?,
    };
    if !reward.is_finite() {
        return Err(EvalError::NonFinite(reward));
    }
    let metrics: BTreeMap<String, f64> = object
        .iter()
        .filter(|(k, _)| k.as_str() != "reward")
        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
        .collect();
    Ok(Evaluation { reward, metrics })
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        _ => return None,
    })
}

/// Why a command that did not succeed ended, in words.
fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        let why = match code {
            127 => " (command not found)".to_string(),
            126 => " (command not executable)".to_string(),
            // How a shell reports a child killed by a signal.
            c if c > 128 => signal_name(c - 128)
                .map(|name| format!(" (= 128 + {name}: its program was killed)"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        format!("the command exited with code {code}{why}")
    } else if let Some(signal) = status.signal() {
        match signal_name(signal) {
            Some(name) => format!("the command was killed by signal {signal} ({name})"),
            None => format!("the command was killed by signal {signal}"),
        }
    } else {
        format!("the command ended with {status}")
    }
}

/// How the wait for a command ended.
enum Ending {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

/// How long, after a command's process group was killed, its output is still read: the pipes
/// close at once unless a process that left the group holds them open.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

impl CommandEvaluator {
    /// Runs the trial's command until it ends, times out or `stop()` says to give up.
    fn run(
        &self,
        request: &TrialRequest<'_>,
        stop: &dyn Fn() -> bool,
    ) -> Result<Evaluation, EvalError> {
        let input = self
            .input_at(request.id, request.seed, request.arch, request.fidelity)
            .to_string()
            + "\n";
        let cannot_run = |e: std::io::Error| {
            EvalError::Failed(format!(
                "cannot run {}: {e}",
                quoted(&self.command, self.command.len() as u64, LINE_QUOTED)
            ))
        };
        let Some(group) = TrialGroup::start().map_err(cannot_run)? else {
            processes::park_forever();
        };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LAYERNAS_TRIAL", request.id.to_string())
            .env("LAYERNAS_SEED", request.seed.to_string())
            .env("LAYERNAS_FIDELITY", request.fidelity.name())
            .process_group(group.id());
        processes::die_with_parent(&mut command);
        let mut child = command.spawn().map_err(cannot_run)?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        // Feed and drain on threads so a chatty command never blocks on a full pipe. Neither
        // is joined: a process that left the group could hold a pipe open for ever.
        std::thread::spawn(move || {
            // A command that exits without reading its input is not an error by itself, and
            // must not kill this process with SIGPIPE.
            processes::block_sigpipe_on_this_thread();
            let mut stdin = stdin;
            let _ = stdin.write_all(input.as_bytes());
        });
        let out = Arc::new(Mutex::new(Tail::new(STDOUT_KEPT)));
        let err = Arc::new(Mutex::new(Tail::new(STDERR_KEPT)));
        let out_reader = {
            let out = out.clone();
            std::thread::spawn(move || output::drain(stdout, out))
        };
        let err_reader = {
            let err = err.clone();
            std::thread::spawn(move || output::drain(stderr, err))
        };
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let ending = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ending::Exited(status),
                Ok(None) => {}
                Err(e) => {
                    drop(group);
                    let _ = child.wait();
                    return Err(EvalError::Failed(format!("waiting for the command: {e}")));
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Ending::TimedOut;
            }
            if stop() {
                break Ending::Cancelled;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // Shutting down (SIGINT/SIGTERM/SIGHUP): the shell may exit on the signal before the
        // processes it started have finished handling it (a trap saving a checkpoint), so the
        // group is left to the signal thread, which kills it after the grace period and ends
        // the process; this thread reports nothing.
        if processes::shutting_down() {
            processes::park_forever();
        }
        // The trial is over: whatever it left running in its group goes with it; then its
        // pipes close and the readers finish.
        group.kill();
        let _ = child.wait();
        drop(group);
        let drained = Instant::now() + DRAIN_GRACE;
        while !(out_reader.is_finished() && err_reader.is_finished()) && Instant::now() < drained {
            std::thread::sleep(Duration::from_millis(2));
        }
        let out = out.lock().unwrap_or_else(|p| p.into_inner());
        let err = err.lock().unwrap_or_else(|p| p.into_inner());
        match ending {
            Ending::TimedOut => Err(with_stderr(
                format!(
                    "timed out after {} s",
                    self.timeout.map_or(0.0, |t| t.as_secs_f64())
                ),
                &err,
            )),
            Ending::Cancelled => Err(EvalError::Cancelled),
            Ending::Exited(s) if !s.success() => Err(with_stderr(describe_exit(s), &err)),
            Ending::Exited(_) => parse_result(&out, &err),
        }
    }
}

impl Evaluator for CommandEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        self.run(request, &|| false)
    }

    /// Kills the command's process group as soon as `cancel` is set (a timeout, a lost lease).
    fn evaluate_cancellable(
        &self,
        request: &TrialRequest<'_>,
        cancel: &Cancel,
    ) -> Result<Evaluation, EvalError> {
        self.run(request, &|| cancel.is_cancelled())
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn tail_of(bytes: &[u8], cap: usize) -> Tail {
        let mut tail = Tail::new(cap);
        tail.push(bytes);
        tail
    }

    proptest! {
        /// Whatever a command prints, reading its result never panics, a reward is finite and
        /// an error stays bounded.
        #[test]
        fn the_result_line_parser_never_panics(
            stdout in proptest::collection::vec(any::<u8>(), 0..400),
            stderr in proptest::collection::vec(any::<u8>(), 0..200),
            cap in 1usize..64,
        ) {
            for out in [tail_of(&stdout, cap), tail_of(&stdout, STDOUT_KEPT)] {
                match parse_result(&out, &tail_of(&stderr, cap)) {
                    Ok(e) => prop_assert!(e.reward.is_finite()),
                    Err(e) => prop_assert!(e.to_string().len() < 8_192),
                }
            }
        }

        /// JSON-shaped lines with arbitrary fields and values, the likely hostile case.
        #[test]
        fn json_like_result_lines_never_panic(
            key in "[a-z\"\\\\]{0,8}",
            value in prop_oneof![
                Just("1e999".to_string()),
                Just("-1e999".to_string()),
                Just("NaN".to_string()),
                Just("null".to_string()),
                Just("[1,2]".to_string()),
                Just("{\"a\":{}}".to_string()),
                "[0-9.eE+-]{1,12}",
            ],
        ) {
            let line = format!("{{\"reward\": {value}, \"{key}\": {value}}}\n");
            let _ = parse_result(&tail_of(line.as_bytes(), STDOUT_KEPT), &tail_of(b"", 16));
        }
    }
}
