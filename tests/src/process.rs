//! A child process owned by a guard: killed by its pid when the guard drops.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

/// Polls `cond` every 20 ms until it holds (true) or `timeout` passes (false): the
/// bounded-but-generous wait of every fixture (a failure guard, never a timing
/// requirement).
pub fn wait_until(timeout: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs `command` to its end with `input` on its standard input (an nsupdate or
/// knsupdate script, say); its output. Panics, naming the program, when it cannot run.
pub fn run_with_input(command: &mut Command, input: &str) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits early closes the pipe: its output says why.
        let _ = stdin.write_all(input.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// A running child process; dropping the guard kills it (by pid) and reaps it.
pub struct ProcessGuard {
    child: Option<Child>,
    name: String,
}

impl ProcessGuard {
    /// Starts `command`, naming it `name` in panics and logs.
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            child: Some(child),
            name: name.to_string(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `signal` (e.g. `libc::SIGHUP`) to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid we own; no memory is shared.
        unsafe { libc::kill(self.pid() as i32, signal) };
    }

    /// Whether the process has exited (reaping it if so), with its exit status.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `timeout` for the process to exit (killing it after that) and
    /// returns what it wrote to its stdout, which must have been `Stdio::piped()`.
    pub fn wait_output(&mut self, timeout: std::time::Duration) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let reader = child.stdout.take().map(|mut out| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut out, &mut text);
                text
            })
        });
        let deadline = std::time::Instant::now() + timeout;
        while child.try_wait().ok().flatten().is_none() {
            if std::time::Instant::now() >= deadline {
                eprintln!("{} did not exit, killing it", self.name);
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        reader.and_then(|r| r.join().ok()).unwrap_or_default()
    }

    /// Kills the process now (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process with SIGTERM and waits up to `timeout` before SIGKILL.
    pub fn terminate(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: as in `signal`.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM, killing it", self.name);
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
