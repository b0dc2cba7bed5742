//! Retention, as RocketMQ's `CleanCommitLogService`: commit-log segments older than
//! `fileReservedTime` hours are deleted at the hours listed in `deleteWhen`, or at any hour
//! when the disk is fuller than `diskMaxUsedSpaceRatio`; past the clean-forcibly ratio even
//! unexpired segments go. The segment being written is never deleted. Past the disk-full ratio
//! the store refuses sends (SERVICE_NOT_AVAILABLE) but keeps everything it has.

use std::cell::RefCell;

use super::commit_log::{CommitLog, Position};
use crate::runtime::Storage;

#[derive(Clone, Debug)]
pub struct RetentionPolicy {
    /// `deleteWhen`: hours of the (local) day when expired segments are deleted.
    pub delete_when_hours: Vec<u8>,
    /// `fileReservedTime`.
    pub file_reserved_hours: u64,
    /// `diskMaxUsedSpaceRatio` as a fraction: above it, delete at any hour.
    pub disk_max_used_ratio: f64,
    /// Java's `diskSpaceCleanForciblyRatio` (0.85): above it, delete even unexpired segments.
    pub clean_forcibly_ratio: f64,
    /// Java's `diskSpaceWarningLevelRatio` (0.90): above it, refuse writes.
    pub disk_full_ratio: f64,
    /// Segments deleted per run at most (Java: 10), so a backlog is deleted gradually rather
    /// than in one latency step.
    pub segments_per_run_max: usize,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            delete_when_hours: vec![4],
            file_reserved_hours: 72,
            disk_max_used_ratio: 0.75,
            clean_forcibly_ratio: 0.85,
            disk_full_ratio: 0.90,
            segments_per_run_max: 10,
        }
    }
}

/// The local hour of the day (RocketMQ's `deleteWhen` is local time).
pub fn local_hour(now_ms: i64) -> u8 {
    let seconds = (now_ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut parts: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&seconds, &mut parts) }.is_null() {
        return ((now_ms / 3_600_000) % 24) as u8;
    }
    parts.tm_hour as u8
}

/// Deletes what the policy allows; returns the start positions of the deleted segments.
pub async fn delete_expired_segments<S: Storage>(
    log: &RefCell<CommitLog<S>>,
    policy: &RetentionPolicy,
    now_ms: i64,
    hour: u8,
    used_ratio: f64,
) -> std::io::Result<Vec<Position>> {
    let time_up = policy.delete_when_hours.contains(&hour);
    let space_full = used_ratio > policy.disk_max_used_ratio;
    if !time_up && !space_full {
        return Ok(Vec::new());
    }
    let forcibly = used_ratio > policy.clean_forcibly_ratio;
    let reserved_ms = policy.file_reserved_hours as i64 * 3_600_000;
    let candidates: Vec<(Position, std::path::PathBuf)> = {
        let log = log.borrow();
        let current = log.segment_start_of(log.written());
        log.segment_starts
            .iter()
            .filter(|start| **start < current)
            .map(|start| (*start, log.segment_path(*start)))
            .collect()
    };
    let storage = log.borrow().storage.clone();
    let mut deleted = Vec::new();
    for (start, path) in candidates {
        if deleted.len() >= policy.segments_per_run_max {
            break;
        }
        let expired = storage.modified_ms(&path).map(|modified| modified + reserved_ms <= now_ms).unwrap_or(false);
        if !expired && !forcibly {
            break; // segments are in age order: the rest are younger
        }
        {
            let mut log = log.borrow_mut();
            log.files.remove(&start);
            log.segment_starts.remove(&start);
            let end = start + log.options.segment_size_bytes;
            log.evict_hot_before(end);
        }
        storage.remove(&path).await?;
        tracing::info!(
            "deleted commit log segment {} (reserved {}h, disk used {:.2})",
            path.display(),
            policy.file_reserved_hours,
            used_ratio
        );
        deleted.push(start);
    }
    Ok(deleted)
}
