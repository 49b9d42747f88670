//! Integration tests of the simulated monitoring: the shipped rule and Alertmanager files,
//! conformance with promtool's unit-test files, alert lifecycles and Alertmanager timing.

mod alert_lifecycle;
mod alertmanager;
mod conformance;
mod shipped_files;
