//! Everything the bench tooling reads from Linux's `/proc`: a process's resident set size and
//! CPU time (`bench --hold-pid`, the generator's own CPU use, `examples/compare`'s server CPU,
//! `examples/deflate_memory`), the CPU model and the open-files limit (`examples/compare`).
//!
//! Reading is Linux-only; elsewhere every reader fails with a clear error (or `None`). Parsing is
//! separate and portable, so it is tested everywhere.

use anyhow::{Context, Result};

/// The text of `/proc/{path}`.
#[cfg(target_os = "linux")]
fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(format!("/proc/{path}"))
        .with_context(|| format!("cannot read /proc/{path}"))
}

/// There is no `/proc` to read.
#[cfg(not(target_os = "linux"))]
fn read(path: &str) -> Result<String> {
    anyhow::bail!("cannot read /proc/{path}: process statistics are read from Linux's /proc only")
}

/// The resident set size of process `pid`, in bytes (`VmRSS` in `/proc/PID/status`).
///
/// # Errors
/// No such process, no `/proc` (not Linux), or no `VmRSS` line (e.g. a zombie).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = read(&format!("{pid}/status"))?;
    vm_rss(&status).with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// User+system CPU seconds process `pid` has used so far (`/proc/PID/stat`; USER_HZ is 100).
/// `None` when the process or `/proc` is not there.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_time(&read(&format!("{pid}/stat")).ok()?)
}

/// The CPU model name from `/proc/cpuinfo`.
pub fn cpu_model() -> Option<String> {
    let cpuinfo = read("cpuinfo").ok()?;
    let line = cpuinfo.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split(':').nth(1)?.trim().to_owned())
}

/// This process's hard limit on open files, as `/proc/self/limits` writes it (a number or
/// `unlimited`).
pub fn open_files_hard_limit() -> Option<String> {
    let limits = read("self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(4).map(str::to_owned)
}

/// `VmRSS` from the text of `/proc/PID/status`, in bytes.
fn vm_rss(status: &str) -> Option<u64> {
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `utime + stime` from the text of `/proc/PID/stat`, in seconds. The fields are counted after
/// the command name's closing parenthesis, since the name may hold spaces.
fn cpu_time(stat: &str) -> Option<f64> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tserver\nVmPeak:\t  9000 kB\nVmRSS:\t    5128 kB\nThreads:\t1\n";
        assert_eq!(vm_rss(status), Some(5128 * 1024));
        assert_eq!(vm_rss("Name:\tzombie\n"), None);
    }

    #[test]
    fn parses_cpu_time_after_a_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_time(stat), Some(3.0));
        assert_eq!(cpu_time("42 (x) S 1"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).unwrap() > 0);
        assert!(cpu_seconds(pid).is_some());
    }
}
