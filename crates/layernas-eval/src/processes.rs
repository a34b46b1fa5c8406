//! The processes of running trials: a process-wide registry of their process groups, the
//! guard that takes a group down when its layernas process dies, and the forwarding of
//! SIGINT, SIGTERM and SIGHUP to the groups before layernas exits.

use std::collections::BTreeSet;
use std::io;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long, after SIGINT, SIGTERM or SIGHUP, layernas waits for running trial commands to end
/// on the forwarded signal before it kills their process groups and exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Process groups of the trial commands running now.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Set once a termination signal arrived: no new trial starts, and no result is reported.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

fn live() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    // The registry stays consistent whatever panicked while holding it: it is a set of ids.
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The process groups of the trial commands running in this process now.
pub fn live_trial_groups() -> Vec<i32> {
    live().iter().copied().collect()
}

/// Sends `signal` to the process group of every trial command running in this process.
pub fn signal_live_trials(signal: i32) {
    for &group in live().iter() {
        // SAFETY: kill(2) with a negative id signals a process group that a CommandEvaluator
        // created and has not yet reaped the leader of (so the id cannot have been reused).
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// Whether this process is shutting down on a termination signal.
pub(crate) fn shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::SeqCst)
}

/// Blocks the calling thread for good: used by an evaluation that ends while the process is
/// shutting down, so that its trial is neither recorded complete nor failed (it stays running
/// in the store, and a resume runs it again), while the signal thread exits the process.
pub(crate) fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Installs the forwarding of SIGINT, SIGTERM and SIGHUP: on the first such signal, no new
/// trial command starts, the signal is sent to the process group of every running trial
/// command, layernas waits up to [`SHUTDOWN_GRACE`] for them to end (a second signal stops the
/// wait), kills what is left of the groups with SIGKILL, and then dies of the signal it
/// received, as if it had not handled it (a shell shows exit code 130, 143 or 129).
///
/// Call it once, early in `main`, from a binary that runs [`crate::CommandEvaluator`]s; a
/// process without trials just dies of the signal as before. Without it, a trial command
/// still dies with its layernas process (see the crate docs), but by SIGKILL, without the
/// chance to stop cleanly.
pub fn install_signal_forwarding() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("layernas-signals".into())
        .spawn(move || {
            let Some(signal) = signals.forever().next() else {
                return;
            };
            {
                // Under the registry's lock, so that a trial starting now either sees the
                // flag and does not start, or is in the registry and gets the signal.
                let _live = live();
                SHUTTING_DOWN.store(true, Ordering::SeqCst);
            }
            signal_live_trials(signal);
            let deadline = Instant::now() + SHUTDOWN_GRACE;
            while !live().is_empty() && Instant::now() < deadline {
                if signals.pending().next().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            signal_live_trials(libc::SIGKILL);
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            // Not reached for these signals (their default action ends the process).
            std::process::exit(128 + signal);
        })?;
    Ok(())
}

/// Makes printing to a closed standard output or error (`layernas export | head`) end the
/// process as a Unix tool ends, by SIGPIPE, quietly (after killing the running trial
/// commands), instead of with the panic of `println!`. SIGPIPE itself stays ignored, as Rust
/// sets it up, so that a trial command closing its input can never kill the process. Call it
/// once, early in `main`.
pub fn die_quietly_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        // The panic message of `print!`, `println!` and `eprintln!` on a failed write.
        let epipe = format!("(os error {})", libc::EPIPE);
        if text.starts_with("failed printing to std") && text.contains(&epipe) {
            die_of_sigpipe();
        }
        default(info);
    }));
}

/// Whether `err` (or a cause of it) is a broken pipe on this process's own standard output or
/// error, which is then the process's to end on quietly ([`die_of_sigpipe`]); a broken pipe of,
/// say, a database connection is not.
pub fn is_closed_output(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            return output_is_closed();
        }
        cause = e.source();
    }
    false
}

/// Whether the reader of our standard output or error has gone away.
fn output_is_closed() -> bool {
    [libc::STDOUT_FILENO, libc::STDERR_FILENO]
        .iter()
        .any(|&fd| {
            let mut poll = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: poll(2) on one valid, initialized pollfd, without waiting.
            let ready = unsafe { libc::poll(&mut poll, 1, 0) };
            ready == 1 && poll.revents & libc::POLLERR != 0
        })
}

/// Ends the process by SIGPIPE, after killing the running trial commands.
pub fn die_of_sigpipe() -> ! {
    signal_live_trials(libc::SIGKILL);
    // SAFETY: restores SIGPIPE's default action and raises it on this thread, unblocked, which
    // ends the process; nothing here touches memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

/// A trial's process group, registered while it lives: the guard process leads it, the
/// trial's shell joins it. Dropping it kills the whole group and reaps the guard.
pub(crate) struct TrialGroup {
    id: i32,
    guard: Child,
    /// The write end of the guard's standard input, held only here: it closes when this
    /// process dies, however it dies, and the guard then kills the group.
    lifeline: Option<ChildStdin>,
}

/// The guard's program: wait for end of input, which only this process's death (or the
/// end of the trial) brings, then kill the whole process group, the guard included.
const GUARD: &str = "read _ ; kill -s KILL 0";

impl TrialGroup {
    /// Starts the guard in a new process group and registers the group; `None` when the
    /// process is shutting down (no trial may start then).
    pub(crate) fn start() -> io::Result<Option<TrialGroup>> {
        let mut live = live();
        if shutting_down() {
            return Ok(None);
        }
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(GUARD)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let lifeline = guard.stdin.take();
        let id = guard.id() as i32;
        live.insert(id);
        Ok(Some(TrialGroup {
            id,
            guard,
            lifeline,
        }))
    }

    /// The process group's id, to start the trial's shell in.
    pub(crate) fn id(&self) -> i32 {
        self.id
    }

    /// Kills every process of the group now (the guard included).
    pub(crate) fn kill(&self) {
        // SAFETY: kill(2) on our own process group; its leader (the guard) is not reaped
        // before `drop`, so the id still names this group.
        unsafe {
            libc::kill(-self.id, libc::SIGKILL);
        }
    }
}

use std::os::unix::process::CommandExt;

impl Drop for TrialGroup {
    fn drop(&mut self) {
        self.kill();
        self.lifeline.take();
        let _ = self.guard.wait();
        live().remove(&self.id);
    }
}

/// Makes the trial's shell die with the thread that starts it (Linux: `PR_SET_PDEATHSIG`),
/// a second line of defence beside the guard. The parent-death signal is sent when the
/// *thread* that forked the child exits, not the process: [`crate::CommandEvaluator`] forks
/// on the thread that calls `evaluate` and waits there until the command has ended, so the
/// thread outlives the child; a caller that would spawn from a short-lived thread must not
/// rely on it.
pub(crate) fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as i32;
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe system calls (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl: then nobody would send the signal.
                if libc::getppid() != parent {
                    return Err(io::Error::other("layernas exited"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// Blocks SIGPIPE on the calling thread, so that writing to a pipe whose reader has gone
/// fails with `EPIPE` instead of killing the process, whatever SIGPIPE's disposition (a
/// binary may reset it to the default to exit quietly on a closed standard output). Linux
/// sends the SIGPIPE of a write to the writing thread, where it stays pending, blocked, and is
/// discarded when the thread ends; so call it only on a thread of its own that ends.
pub(crate) fn block_sigpipe_on_this_thread() {
    // SAFETY: plain signal-mask calls on a local, initialized set, for this thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
