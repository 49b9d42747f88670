//! Prometheus alerting rules: the rule file, the template language of labels and annotations,
//! and the evaluator that runs them in simulated time.

mod evaluator;
mod file;
mod template;

pub use evaluator::{Alert, AlertState, Evaluation, RuleEvalError, RuleEvaluator, RuleOptions};
pub use file::{AlertingRule, RuleError, RuleFile, RuleGroup};
pub use template::{Template, TemplateData, TemplateError};
