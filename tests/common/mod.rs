//! Helpers shared by the integration tests: free ports, scratch directories, ringmq processes
//! that are killed when the test ends, and the third-party clients installed by
//! `scripts/test.sh` under `target/clients/`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A port nobody listens on right now (the OS picks it; a race with another process is
/// possible but harmless on a test machine).
/// Listener ports for the tests come from below the kernel's ephemeral range (32768 and up),
/// so that an outgoing connection of a test running in parallel cannot take one between this
/// check and the broker's bind (a broker binds listenPort-2, listenPort and listenPort+1). A
/// process-wide counter hands every call its own 4 ports; the start depends on the pid so that
/// test binaries run one after another do not reuse the same ports.
fn next_port_block() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 12_000;
    const SPAN: u32 = 20_000;
    let base = (std::process::id() * 97) % SPAN;
    let block = NEXT.fetch_add(4, Ordering::Relaxed);
    (FIRST + (base + block) % SPAN) as u16 + 2
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = next_port_block();
        if bindable(port) {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
}

/// A fresh scratch directory under target/, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{}", std::process::id(), free_port()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `ringmq` process, killed (SIGKILL) when dropped.
pub struct Process {
    pub child: Child,
    pub stdout_lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Waits until a stdout line contains `needle`; panics after `timeout` with what was seen.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.stdout_lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no line containing {needle:?} within {timeout:?}; stdout was: {seen:#?}");
    }
}

pub fn ringmq_binary() -> &'static str {
    env!("CARGO_BIN_EXE_ringmq")
}

/// Starts `ringmq ARGS...` with stdout captured line by line and stderr inherited.
pub fn start_ringmq(args: &[&str], current_dir: &Path) -> Process {
    let mut child = Command::new(ringmq_binary())
        .args(args)
        .current_dir(current_dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ringmq starts");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[ringmq] {line}");
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    Process { child, stdout_lines: receiver }
}

/// Runs `ringmq ARGS...` to completion.
pub fn run_ringmq(args: &[&str], current_dir: &Path) -> Output {
    Command::new(ringmq_binary()).args(args).current_dir(current_dir).output().expect("ringmq runs")
}

/// Waits until something accepts connections on `address`.
pub fn wait_for_port(address: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {address} after {timeout:?}");
}

/// Where `scripts/test.sh` installs the third-party clients.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/clients")
}

/// The ali-ons install, or a panic that says how to get it.
pub fn node_clients() -> PathBuf {
    let directory = clients_dir().join("node");
    assert!(
        directory.join("node_modules/ali-ons").exists(),
        "ali-ons is not installed in {}: run scripts/test.sh (it installs the real clients the tests drive)",
        directory.display()
    );
    directory
}

/// Runs a node driver script from tests/clients/node with NAMESRV set.
pub fn run_node(script: &str, args: &[&str], namesrv: &str) -> String {
    let directory = node_clients();
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node").join(script);
    let output = Command::new("node")
        .arg(&script_path)
        .args(args)
        .env("NAMESRV", namesrv)
        .env("NODE_PATH", directory.join("node_modules"))
        .current_dir(&directory)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    println!("[node {script}] {stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "node {script} failed: {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// A listen port whose fast port (-2) and HA port (+1) are free too.
pub fn free_broker_port() -> u16 {
    for _ in 0..1000 {
        let port = next_port_block();
        if [port - 2, port, port + 1].into_iter().all(bindable) {
            return port;
        }
    }
    panic!("no free broker port triple found");
}

/// A broker with its embedded nameserver, stopped (SIGKILL) when dropped.
pub struct Broker {
    pub process: Process,
    pub namesrv: String,
    pub address: String,
    pub config: PathBuf,
}

/// Starts `ringmq broker` with `extra` properties on free ports, storing under `scratch`.
pub fn start_broker(scratch: &Scratch, name: &str, extra: &str) -> Broker {
    let namesrv_port = free_port();
    let port = free_broker_port();
    let store = scratch.0.join(format!("store-{name}"));
    // Tests count messages: a debug broker on a loaded CI machine can keep a send queued past
    // waitTimeMillsInSendQueue and answer SYSTEM_BUSY (as Java would; seen at 225 and 352 ms).
    // Only a test that sets the key itself (broker_reply_codes) gets fast failure.
    let fast_failure = if extra.contains("brokerFastFailureEnable") { "" } else { "brokerFastFailureEnable=false\n" };
    let text = format!(
        "brokerClusterName=DefaultCluster\nbrokerName={name}\nbrokerIP1=127.0.0.1\nlistenPort={port}\nnamesrvListenPort={namesrv_port}\nstorePathRootDir={}\n{fast_failure}{extra}\n",
        store.display()
    );
    let config = scratch.file(&format!("{name}.properties"), &text);
    let process = start_ringmq(&["broker", "-c", config.to_str().unwrap()], &scratch.0);
    // The broker's own boot line (the embedded nameserver prints one first).
    process.wait_for_line("boot success. serializeType=JSON and name server is", Duration::from_secs(60));
    Broker { process, namesrv: format!("127.0.0.1:{namesrv_port}"), address: format!("127.0.0.1:{port}"), config }
}

/// `node tests/clients/node/<script>` in the ali-ons install, with NAMESRV and `environment`.
fn node_command(script: &str, namesrv: &str, environment: &[(&str, &str)]) -> Command {
    let directory = node_clients();
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node").join(script);
    let mut command = Command::new("node");
    command
        .arg(&script_path)
        .env("NAMESRV", namesrv)
        .env("NODE_PATH", directory.join("node_modules"))
        .current_dir(&directory);
    for (key, value) in environment {
        command.env(key, value);
    }
    command
}

/// Runs a node driver with extra environment variables.
pub fn run_node_with(script: &str, namesrv: &str, environment: &[(&str, &str)]) -> String {
    let mut command = node_command(script, namesrv, environment);
    let output = command.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    println!("[node {script}] {stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "node {script} failed: {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// The venv of one Python binding installed by `scripts/test.sh`, or a panic saying how.
pub fn python_client(venv: &str) -> PathBuf {
    let python = clients_dir().join("python").join(venv).join("bin/python");
    assert!(python.exists(), "{} is missing: run scripts/test.sh (it installs the real clients)", python.display());
    python
}

/// Runs a Python driver from tests/clients/python; returns stdout whatever the exit status
/// (the cpp 2.1.0 consumer may crash in shutdown after its work is done).
pub fn run_python(venv: &str, script: &str, namesrv: &str, environment: &[(&str, &str)]) -> (String, Option<i32>) {
    let python = python_client(venv);
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python").join(script);
    let home = clients_dir().join("python").join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(python);
    // The C++ library writes its logs under $HOME/logs.
    command.arg(&script_path).env("NAMESRV", namesrv).env("HOME", &home);
    for (key, value) in environment {
        command.env(key, value);
    }
    let output = command.output().expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    println!(
        "[{venv} {script}] status {:?}\n{stdout}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout, output.status.code())
}

/// A node driver running in the background, its stdout collected line by line.
pub struct NodeProcess {
    pub child: Child,
    pub lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    /// Lines starting with `prefix` so far.
    pub fn count(&self, prefix: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|line| line.starts_with(prefix)).count()
    }

    /// Waits until `ready` holds (it may read any process's lines: no lock is held while it
    /// runs); false after `timeout`.
    pub fn wait_until(&self, timeout: Duration, ready: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// Starts a node driver in the background.
pub fn spawn_node(script: &str, namesrv: &str, environment: &[(&str, &str)]) -> NodeProcess {
    let mut command = node_command(script, namesrv, environment);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().expect("node starts");
    let stdout = child.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    NodeProcess { child, lines }
}
