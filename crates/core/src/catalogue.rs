//! Diagnosis categories and the names of the typed action catalogue, as plans, policies,
//! reports and scenario files write them.

use std::fmt;
use std::str::FromStr;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name as written in files, plans and reports.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{}`; expected one of: {}",
                        stringify!($name),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

named_enum!(
    /// Diagnosis categories.
    Category {
        /// Limit below the working set.
        MemoryLimit => "resource/memory-limit",
        /// Working set grows until OOMKilled.
        MemoryLeak => "resource/memory-leak",
        /// More traffic than the replicas can serve.
        TrafficSurge => "capacity/traffic-surge",
        /// A new revision is broken.
        BadRelease => "deploy/bad-release",
        /// The image cannot be pulled.
        ImagePull => "deploy/image-pull",
        /// A ConfigMap or Secret reference is missing.
        MissingReference => "config/missing-reference",
        /// Probe settings are wrong.
        Probe => "config/probe",
        /// Pods fit on no node.
        Scheduling => "config/scheduling",
        /// The application crashes.
        Crash => "app/crash",
        /// The application hangs.
        Hang => "app/hang",
        /// A dependency is unavailable.
        DependencyUnavailable => "dependency/unavailable",
        /// A node is not ready.
        NodeNotReady => "node/not-ready",
        /// A node has disk pressure.
        NodeDiskPressure => "node/disk-pressure",
        /// Someone scaled the workload to zero.
        ScaledToZero => "operation/scaled-to-zero",
        /// A burst that ends by itself.
        Transient => "transient",
        /// Nothing is wrong.
        None => "none",
    }
);

named_enum!(
    /// The typed action catalogue.
    ActionName {
        /// Delete a controller-owned pod.
        RestartPod => "restart-pod",
        /// Restart every pod of a workload.
        RolloutRestart => "rollout-restart",
        /// Set replicas.
        Scale => "scale",
        /// Roll back to a revision.
        Rollback => "rollback",
        /// Set container requests/limits.
        SetResources => "set-resources",
        /// Mark a node unschedulable.
        CordonNode => "cordon-node",
        /// Mark a node schedulable.
        UncordonNode => "uncordon-node",
        /// Cordon and evict.
        DrainNode => "drain-node",
        /// A named, pre-registered runbook.
        RunRunbook => "run-runbook",
        /// Hand to humans.
        Escalate => "escalate",
        /// Deliberately do nothing.
        None => "none",
    }
);

impl ActionName {
    /// Whether executing this action changes the cluster.
    pub fn changes_infra(&self) -> bool {
        !matches!(self, ActionName::Escalate | ActionName::None)
    }
}
