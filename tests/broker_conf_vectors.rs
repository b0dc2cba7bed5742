//! `ringmq broker -c FILE` with the real-world and shipped properties files of
//! `tests/data/conf/` (copied from the steering repo's vectors), pointed at a loopback
//! nameserver with `-n` as an operator would: each must boot, register and stop cleanly.
//!
//! Method: one `ringmq namesrv` on a free port; for each file, a broker process with HOME and
//! ROCKETMQ_HOME inside the scratch directory (so `~/store` and `$ROCKETMQ_HOME/...` store paths
//! land there), waiting for its boot line, then SIGTERM and a clean exit. Files run one after
//! another because most of them use the default port 10911. `seed-full.properties` stores under
//! `/usr/local/rocketmq/store` (an absolute path in the file); the test removes that directory
//! afterwards when it created it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const FILES: &[&str] = &[
    "shipped/broker.properties",
    "shipped/2m-noslave/broker-a.properties",
    "shipped/2m-noslave/broker-trace.properties",
    "shipped/2m-2s-async/broker-a.properties",
    "shipped/2m-2s-sync/broker-b.properties",
    "seed-a.properties",
    "seed-b-s.properties",
    "seed-full.properties",
    "seed-sync-master.properties",
    "seed-2m-noslave-a.properties",
    "seed-oneline.properties",
];

#[test]
fn every_vector_file_that_should_start_boots_registers_and_stops_cleanly() {
    let scratch = Scratch::new("conf-vectors");
    let (namesrv, namesrv_address) = {
        let port = free_port();
        let config = scratch
            .file("namesrv.properties", &format!("listenPort={port}\nkvConfigPath={}/kv.json\n", scratch.0.display()));
        let process = start_ringmq(&["namesrv", "-c", config.to_str().unwrap()], &scratch.0);
        process.wait_for_line("The Name Server boot success", Duration::from_secs(30));
        (process, format!("127.0.0.1:{port}"))
    };
    let usr_local_existed = Path::new("/usr/local/rocketmq").exists();
    for file in FILES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conf").join(file);
        let mut child = std::process::Command::new(ringmq_binary())
            .args(["broker", "-c", path.to_str().unwrap(), "-n", &namesrv_address])
            .env("HOME", &scratch.0)
            .env("ROCKETMQ_HOME", &scratch.0)
            .current_dir(&scratch.0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let booted = loop {
            match receiver.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains("boot success. serializeType=JSON and name server is") => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        if !booted {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("{file} did not boot: {}", String::from_utf8_lossy(&output.stderr));
        }
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert!(status.success(), "{file}: stopped with {status}");
        println!("{file}: booted and stopped cleanly");
    }
    if !usr_local_existed {
        let _ = std::fs::remove_dir_all("/usr/local/rocketmq");
    }
    drop(namesrv);
}
