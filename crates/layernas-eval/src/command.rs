use layernas_core::{Arch, EvalError, Evaluation, Evaluator, SearchSpace, TrialRequest};
use layernas_spaces::TemplateSpace;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Characters of standard error kept with a failed trial.
pub const STDERR_TAIL: usize = 2000;

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

    /// The JSON object a trial's command reads.
    pub fn input(&self, id: u64, seed: u64, arch: &Arch) -> Value {
        json!({
            "trial": id,
            "seed": seed,
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

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    let start = text
        .char_indices()
        .rev()
        .nth(STDERR_TAIL)
        .map_or(0, |(i, _)| i);
    text[start..].to_string()
}

fn with_stderr(reason: String, stderr: &[u8]) -> EvalError {
    let t = tail(stderr);
    if t.is_empty() {
        EvalError::Failed(reason)
    } else {
        EvalError::Failed(format!("{reason}; stderr: {t}"))
    }
}

/// Parses the result line.
fn parse_result(stdout: &[u8], stderr: &[u8]) -> Result<Evaluation, EvalError> {
    let text = String::from_utf8_lossy(stdout);
    let Some(line) = text.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(with_stderr(
            "the command printed no result line".into(),
            stderr,
        ));
    };
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            // Python's json.dumps writes NaN and Infinity, which are not JSON.
            if ["NaN", "Infinity"].iter().any(|t| line.contains(t)) {
                return Err(EvalError::NonFinite(f64::NAN));
            }
            return Err(with_stderr(
                format!("malformed result line {line:?}: {e}"),
                stderr,
            ));
        }
    };
    let Some(object) = value.as_object() else {
        return Err(with_stderr(
            format!("the result line {line:?} is not a JSON object"),
            stderr,
        ));
    };
    let reward = match object.get("reward") {
        None => {
            return Err(with_stderr(
                format!("the result {line:?} has no \"reward\""),
                stderr,
            ))
        }
        Some(r) => r.as_f64().ok_or_else(|| {
            with_stderr(format!("\"reward\" is not a number in {line:?}"), stderr)
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

impl Evaluator for CommandEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        let input = self
            .input(request.id, request.seed, request.arch)
            .to_string()
            + "\n";
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LAYERNAS_TRIAL", request.id.to_string())
            .env("LAYERNAS_SEED", request.seed.to_string())
            .process_group(0)
            .spawn()
            .map_err(|e| EvalError::Failed(format!("cannot run {:?}: {e}", self.command)))?;
        let pid = child.id() as i32;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        // Feed and drain on threads so a chatty command never blocks on a full pipe.
        let writer = std::thread::spawn(move || {
            // A command that exits without reading its input is not an error by itself.
            let _ = stdin.write_all(input.as_bytes());
        });
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| EvalError::Failed(format!("waiting for the command: {e}")))?
            {
                break Some(status);
            }
            if self.timeout.is_some_and(|t| start.elapsed() >= t) {
                // Kill the whole process group: the shell and whatever it started.
                // SAFETY: kill(2) with a negative pid signals the group we created above.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = writer.join();
        let out = out_reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        match status {
            None => Err(with_stderr(
                format!(
                    "timed out after {} s",
                    self.timeout.map_or(0.0, |t| t.as_secs_f64())
                ),
                &err,
            )),
            Some(s) if !s.success() => {
                Err(with_stderr(format!("the command exited with {s}"), &err))
            }
            Some(_) => parse_result(&out, &err),
        }
    }
}
