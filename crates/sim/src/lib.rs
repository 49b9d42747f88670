//! A simulated Kubernetes cluster that speaks the real API and runs scenario files.
//!
//! The [`store`] holds every object as the API serves it; the [`api`] module serves it over
//! HTTP to kube-rs and kubectl; [`controllers`], a scheduler and a [`kubelet`] per node advance
//! it in simulated time; the application model ([`app`]) decides what containers do, and
//! [`faults`] change that.

#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod bootstrap;
pub mod clock;
pub mod controllers;
pub mod defaults;
pub mod events;
pub mod faults;
pub mod kubelet;
pub mod logs;
pub mod metrics;
pub mod monitoring;
pub mod quantity;
pub mod resources;
pub mod server;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod world;

pub use sim::Simulation;
