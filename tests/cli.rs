//! The command line as operators use it: `-p`, `-m`, a bad value stopping start-up with exit
//! status 2 and `FILE:LINE`, and `ringmq broker` with no name server running the embedded
//! nameserver. Method: run the real binary as a process and read its output.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_bad_value_stops_start_up_with_exit_2_naming_file_line_key_and_expectation() {
    let scratch = Scratch::new("cli-bad");
    let file = scratch.file("broker.properties", "brokerName=broker-a\n# comment\nlistenPort=abc\n");
    let output = run_ringmq(&["broker", "-c", file.to_str().unwrap()], &scratch.0);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:3", file.display())), "{stderr}");
    assert!(stderr.contains("listenPort"), "{stderr}");
    assert!(stderr.contains("abc"), "{stderr}");
}

#[test]
fn print_flags_show_effective_keys_and_n_overrides_the_file() {
    let scratch = Scratch::new("cli-print");
    let file =
        scratch.file("broker.properties", "brokerName=broker-z\nnamesrvAddr=10.0.0.1:9876\nflushDiskTyp=SYNC_FLUSH\n");
    let output = run_ringmq(&["broker", "-c", file.to_str().unwrap(), "-n", "127.0.0.1:19876", "-p"], &scratch.0);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().any(|line| line == "brokerName=broker-z"), "{stdout}");
    assert!(stdout.lines().any(|line| line == "namesrvAddr=127.0.0.1:19876"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("flushDiskTyp") && stderr.contains("flushDiskType"),
        "unknown key warned with the nearest: {stderr}"
    );
    let important = run_ringmq(&["broker", "-c", file.to_str().unwrap(), "-m"], &scratch.0);
    let important = String::from_utf8_lossy(&important.stdout);
    assert!(important.lines().any(|line| line.starts_with("brokerName=")), "{important}");
    assert!(important.lines().count() < stdout.lines().count());
}

#[test]
fn broker_without_a_name_server_serves_the_embedded_nameserver() {
    let scratch = Scratch::new("cli-embedded");
    let port = free_port();
    let file = scratch.file(
        "broker.properties",
        &format!(
            "namesrvListenPort={port}\nlistenPort={}\nbrokerIP1=127.0.0.1\nstorePathRootDir={}\n",
            free_broker_port(),
            scratch.0.join("store").display()
        ),
    );
    let broker = start_ringmq(&["broker", "-c", file.to_str().unwrap()], &scratch.0);
    broker.wait_for_line("The Name Server boot success", Duration::from_secs(30));
    broker.wait_for_line("boot success. serializeType=JSON and name server is", Duration::from_secs(30));
    let address = format!("127.0.0.1:{port}");
    wait_for_port(address.parse().unwrap(), Duration::from_secs(10));
    let listed = run_ringmq(&["admin", "clusterList", "-n", &address], &scratch.0);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
}
