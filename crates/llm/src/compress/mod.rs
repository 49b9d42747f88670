//! Small prompts: the evidence bundle rewritten as short lines before it is sent. Three
//! parts, each in its own module:
//!
//! - `fence`: the security boundary. Text that comes from the cluster (log lines, event and
//!   condition messages, names) is untrusted: [`untrusted`] makes it safe to print inside
//!   `«»` quotes or between [`DATA_OPEN`] and [`DATA_CLOSE`], which the system prompt
//!   declares to be data, never instructions.
//! - `logs`: log lines folded into templates ([`fold_lines`], [`render_templates`]);
//!   variable fields become slots, and a slot with few distinct values stays literal.
//! - `digest`: the whole bundle as a [`Digest`] within [`Limits`]: events deduplicated by
//!   type, reason and message template; container states and logs grouped across pods;
//!   metrics in human units.

mod digest;
mod fence;
mod logs;

pub use digest::{Digest, Limits, digest, past_incident};
pub use fence::{DATA_CLOSE, DATA_OPEN, defuse_markers, untrusted};
pub use logs::{Template, fold_lines, render_templates, skeleton};
