//! Single values: strings, numbers, fractions, factors, counts and durations, each an error
//! naming the key and the line when it is not what the policy expects.

use std::time::Duration;

use super::{Reader, Result};
use crate::policy::tree::{KeyPath, Node, Value};
use crate::units::parse_duration;

impl Reader<'_> {
    pub(crate) fn string<'n>(&self, node: &'n Node, path: &KeyPath, what: &str) -> Result<&'n str> {
        match &node.value {
            Value::Str(s) => Ok(s),
            other => Err(self.invalid(
                path,
                node.at,
                format!("expected {what}, found {}", other.describe()),
            )),
        }
    }

    fn number(&self, node: &Node, path: &KeyPath, what: &str) -> Result<f64> {
        match node.value {
            Value::Int(i) => Ok(i as f64),
            Value::Float(x) if x.is_finite() => Ok(x),
            ref other => Err(self.invalid(
                path,
                node.at,
                format!("expected {what}, found {}", other.describe()),
            )),
        }
    }

    /// A number from 0 to 1.
    pub(super) fn fraction(&self, node: &Node, path: &KeyPath) -> Result<f64> {
        let x = self.number(node, path, "a number from 0 to 1")?;
        if !(0.0..=1.0).contains(&x) {
            return Err(self.invalid(
                path,
                node.at,
                format!("{x} is out of range; expected a number from 0 to 1, e.g. 0.7"),
            ));
        }
        Ok(x)
    }

    /// A factor above 1.
    pub(super) fn factor(&self, node: &Node, path: &KeyPath) -> Result<f64> {
        let x = self.number(node, path, "a factor above 1, e.g. 2")?;
        if x <= 1.0 {
            return Err(self.invalid(
                path,
                node.at,
                format!("{x} is too small; expected a factor above 1, e.g. 2"),
            ));
        }
        Ok(x)
    }

    /// A whole number, 0 or more.
    pub(super) fn count(&self, node: &Node, path: &KeyPath) -> Result<u32> {
        match node.value {
            Value::Int(i) => u32::try_from(i).map_err(|_| {
                self.invalid(
                    path,
                    node.at,
                    format!("{i} is out of range; expected a whole number, 0 or more"),
                )
            }),
            ref other => Err(self.invalid(
                path,
                node.at,
                format!("expected a whole number, found {}", other.describe()),
            )),
        }
    }

    pub(super) fn duration(&self, node: &Node, path: &KeyPath) -> Result<Duration> {
        match &node.value {
            Value::Str(s) => parse_duration(s).map_err(|e| self.invalid(path, node.at, e)),
            Value::Int(0) => Ok(Duration::ZERO),
            other => Err(self.invalid(
                path,
                node.at,
                format!(
                    "expected a duration with a unit (ms, s, m, h) such as 10m, found {}",
                    other.describe()
                ),
            )),
        }
    }
}
