//! Defaults that depend on the host: CPU count, home directory, host name, local address.
//!
//! Java computes these when the config objects are built (`Runtime.availableProcessors()`,
//! `System.getProperty("user.home")`, `RemotingUtil.getLocalAddress()`); so do we, once per load.

use std::net::{IpAddr, UdpSocket};
use std::path::PathBuf;

/// Usable CPUs: the affinity mask and cgroup quota count, as Java's `availableProcessors()`.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub fn cpus() -> String {
    cpu_count().to_string()
}

pub fn cpus_min_4() -> String {
    cpu_count().min(4).to_string()
}

pub fn cpus_min_32() -> String {
    cpu_count().min(32).to_string()
}

pub fn cpus_plus_8() -> String {
    (8 + cpu_count()).to_string()
}

pub fn cpus_times_2_plus_16() -> String {
    (16 + 2 * cpu_count()).to_string()
}

/// Java: `max(8 + 2·nCPU, 4·sendMessageThreadPoolNums)` with the field's default, evaluated
/// when the object is built (before the file is read).
pub fn end_transaction_threads() -> String {
    let cpus = cpu_count();
    (8 + 2 * cpus).max(4 * cpus.min(4)).to_string()
}

/// Java's `user.home`: `$HOME`, else the passwd entry of the process's user, else `/`.
pub fn home_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        return PathBuf::from(home);
    }
    home_dir_from_passwd().unwrap_or_else(|| PathBuf::from("/"))
}

fn home_dir_from_passwd() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2] == uid).then(|| PathBuf::from(fields[5]))
    })
}

fn home_join(relative: &str) -> String {
    home_dir().join(relative).to_string_lossy().into_owned()
}

pub fn home_store() -> String {
    home_join("store")
}

pub fn home_kv_config() -> String {
    home_join("namesrv/kvConfig.json")
}

pub fn home_namesrv_properties() -> String {
    home_join("namesrv/namesrv.properties")
}

pub fn rocketmq_home() -> String {
    std::env::var("ROCKETMQ_HOME").unwrap_or_default()
}

/// The kernel's host name; Java falls back to `DEFAULT_BROKER` when it cannot resolve one.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "DEFAULT_BROKER".to_owned())
}

/// The address other hosts most likely reach us at: the source address of the default route.
/// Connecting a UDP socket sends nothing; it only asks the kernel for a route. Java enumerates
/// the interfaces instead (preferring addresses outside 127.0/8 and 192.168/16); on a host with
/// one outward interface both pick the same address. Without a route we fall back to loopback,
/// and the operator sets `brokerIP1`, as Java's docs advise for multi-NIC and container hosts.
pub fn local_ip() -> String {
    local_ip_by_route().map_or_else(|| "127.0.0.1".to_owned(), |ip| ip.to_string())
}

fn local_ip_by_route() -> Option<IpAddr> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    // TEST-NET-1 (RFC 5737): never a real peer, but routed by the default route.
    socket.connect(("192.0.2.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}
