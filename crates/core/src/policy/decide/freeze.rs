//! Change freezes: no infra-changing action while a window that reaches it is on, unless the
//! window allows the operation.

use super::{Evaluation, Stop, stop};
use crate::decision::Verdict;

impl Evaluation<'_> {
    pub(super) fn freeze(&mut self) -> Result<(), Stop> {
        let now = self.ctx.now;
        for window in &self.policy.freeze {
            if !window.is_active(now) || self.scope.reached_by(&window.namespaces).is_none() {
                continue;
            }
            if let Some(op) = self.ops.iter().find(|op| window.allow.contains(op)) {
                let text = format!("freeze {} is on but allows {op}", window.name);
                self.note(text);
                continue;
            }
            self.note(format!("freeze {} is on", window.name));
            return stop(Verdict::Escalate, format!("freeze: {}", window.name));
        }
        if !self.policy.freeze.is_empty() {
            self.note("freeze: no window on now");
        }
        Ok(())
    }
}
