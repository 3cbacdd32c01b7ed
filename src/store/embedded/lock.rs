//! The directory lock: one process at a time writes a store directory.
//!
//! The lock is a file `LOCK` holding `pid=<pid>` and `host=<hostname>`. It is taken per
//! process: opening the same directory again in the same process shares the lock (a counter),
//! which lets tests and the runner hold several handles. Another process gets
//! [`StoreError::Locked`] naming the holder. A lock left by a dead process on this host (its pid
//! no longer in `/proc`) is taken over. A lock from another host is never taken over.

use crate::store::StoreError;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static HELD: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);

pub(crate) const LOCK_FILE: &str = "LOCK";

/// Holds the lock on a directory while alive.
pub(crate) struct DirLock {
    dir: PathBuf,
}

pub(crate) fn hostname() -> String {
    for p in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = fs::read_to_string(p) {
            let s = s.trim();
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown-host".to_string())
}

fn pid_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        // No procfs: cannot tell, so assume the holder is alive.
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

fn parse_lock(text: &str) -> (Option<u32>, Option<String>) {
    let mut pid = None;
    let mut host = None;
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("pid=") {
            pid = p.trim().parse().ok();
        } else if let Some(h) = line.strip_prefix("host=") {
            host = Some(h.trim().to_string());
        }
    }
    (pid, host)
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DirLock {
    /// Takes (or shares, within this process) the lock on `dir`, which must exist.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let canon = dir.canonicalize().map_err(|e| io_err(dir, e))?;
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        let map = held.get_or_insert_with(HashMap::new);
        if let Some(n) = map.get_mut(&canon) {
            *n += 1;
            return Ok(DirLock { dir: canon });
        }
        let path = canon.join(LOCK_FILE);
        let me = std::process::id();
        let host = hostname();
        let content = format!("pid={me}\nhost={host}\n");
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(content.as_bytes())
                    .map_err(|e| io_err(&path, e))?;
                f.sync_all().map_err(|e| io_err(&path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(&path).unwrap_or_default();
                let (pid, holder_host) = parse_lock(&text);
                let same_host = holder_host.as_deref() == Some(host.as_str());
                let stale = same_host && pid.is_some_and(|p| p == me || !pid_alive(p));
                if !stale {
                    return Err(StoreError::Locked(format!(
                        "{} is in use by process {} on host {} (lock file {}); stop that process or use another --store directory; if that process is gone, delete the lock file",
                        canon.display(),
                        pid.map_or_else(|| "?".to_string(), |p| p.to_string()),
                        holder_host.as_deref().unwrap_or("?"),
                        path.display()
                    )));
                }
                tracing::warn!(lock = %path.display(), pid = ?pid, "Taking over a stale store lock left by a process that is gone");
                let tmp = canon.join("LOCK.tmp");
                fs::write(&tmp, content.as_bytes()).map_err(|e| io_err(&tmp, e))?;
                fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
            }
            Err(e) => return Err(io_err(&path, e)),
        }
        map.insert(canon.clone(), 1);
        Ok(DirLock { dir: canon })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        let Some(map) = held.as_mut() else { return };
        let remove = match map.get_mut(&self.dir) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if remove {
            map.remove(&self.dir);
            let path = self.dir.join(LOCK_FILE);
            let ours = fs::read_to_string(&path)
                .map(|t| parse_lock(&t).0 == Some(std::process::id()))
                .unwrap_or(false);
            if ours {
                let _ = fs::remove_file(&path);
            }
        }
    }
}
