//! What a runbook's Job did, as the timeline records it: the Job, its phase, how it ended,
//! its status as the cluster reported it, and the tail of its pod's log, redacted.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which run of a runbook's Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobPhase {
    /// With the dry-run arguments (check mode).
    DryRun,
    /// With the real arguments.
    Run,
}

impl JobPhase {
    /// `dry-run` or `run`, as the Job's label says.
    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::DryRun => "dry-run",
            JobPhase::Run => "run",
        }
    }
}

/// How a runbook's Job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobResult {
    /// Condition `Complete`.
    Succeeded,
    /// Condition `Failed` (other than its deadline).
    Failed,
    /// Past the runbook's timeout: failed with `DeadlineExceeded`, or stopped by the agent.
    TimedOut,
}

/// One condition of the Job's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCondition {
    /// `Complete`, `Failed`, `SuccessCriteriaMet`, `FailureTarget`, `Suspended`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` or `False`.
    pub status: String,
    /// Reason, e.g. `BackoffLimitExceeded`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Message.
    #[serde(default)]
    pub message: Option<String>,
}

/// One run of a runbook's Job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRun {
    /// The runbook.
    pub runbook: String,
    /// Namespace of the Job.
    pub namespace: String,
    /// Name of the Job.
    pub job: String,
    /// Dry run or real run.
    pub phase: JobPhase,
    /// How it ended.
    pub result: JobResult,
    /// Pods that succeeded.
    pub succeeded: i32,
    /// Pods that failed.
    pub failed: i32,
    /// The Job's conditions when the agent stopped waiting.
    pub conditions: Vec<JobCondition>,
    /// The pod whose log is kept (the last one started).
    #[serde(default)]
    pub pod: Option<String>,
    /// The tail of that pod's log, redacted.
    pub logs: String,
    /// Whether the agent found this run already there (after a restart) rather than
    /// starting it.
    #[serde(default)]
    pub attached: bool,
}

impl JobRun {
    /// The reason of the condition that ended it, if any.
    pub fn reason(&self) -> Option<&str> {
        self.conditions
            .iter()
            .filter(|c| c.status == "True" && (c.kind == "Failed" || c.kind == "Complete"))
            .find_map(|c| c.reason.as_deref())
    }
}

impl fmt::Display for JobRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.result {
            JobResult::Succeeded => "succeeded",
            JobResult::Failed => "failed",
            JobResult::TimedOut => "timed out",
        };
        write!(
            f,
            "job {}/{} ({} of runbook {}) {how}",
            self.namespace,
            self.job,
            self.phase.as_str(),
            self.runbook
        )?;
        if let Some(reason) = self.reason() {
            write!(f, ": {reason}")?;
        } else if self.result == JobResult::TimedOut {
            write!(f, ": still running, stopped by the agent")?;
        }
        write!(f, " (succeeded {}, failed {})", self.succeeded, self.failed)?;
        if self.result != JobResult::Succeeded && !self.logs.trim().is_empty() {
            write!(f, "; log tail:\n{}", self.logs.trim_end())?;
        }
        Ok(())
    }
}

/// A runbook that failed: what it was doing and the Jobs it ran, logs included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookFailure {
    /// What failed.
    pub message: String,
    /// The Jobs it ran (the failed one last).
    pub jobs: Vec<JobRun>,
}

impl fmt::Display for RunbookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunbookFailure {}
